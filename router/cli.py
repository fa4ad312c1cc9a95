"""`postroom thresholds …`: show, set, suggest, history, rollback, and the feedback monitor."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from postroom.clikit import (
    CliRoots,
    err,
    friendly_errors,
    load_settings,
    load_taxonomy_from,
    named_actor,
    open_sessions,
    out,
    printable,
)
from router.errors import ThresholdError
from router.thresholds import Values, parse_threshold

MAX_HISTORY = 1_000_000  # more than any store holds; keeps the number within what SQL's LIMIT takes

thresholds_app = typer.Typer(
    no_args_is_help=True, help="Per-class confidence thresholds (versioned, audited)."
)


def _parse_assignments(assignments: list[str], off: list[str]) -> Values:
    """`--set` and `--off` as updates; a class named twice is refused (which one was meant?)."""
    updates: Values = {}

    def put(set_name: str, class_name: str, value: float | None) -> None:
        if class_name in updates.setdefault(set_name, {}):
            raise ThresholdError(f"{set_name}.{class_name} is given more than once: give each class once")
        updates[set_name][class_name] = value

    for item in assignments:
        key, sep, value = item.partition("=")
        set_name, dot, class_name = key.partition(".")
        if not sep or not dot:
            raise ThresholdError(f"--set takes SET.CLASS=VALUE, got {item!r}")
        put(set_name, class_name, parse_threshold(value, f"--set {item!r}"))
    for item in off:
        set_name, dot, class_name = item.partition(".")
        if not dot:
            raise ThresholdError(f"--off takes SET.CLASS, got {item!r}")
        put(set_name, class_name, None)
    return updates


def _warn_outside_the_promise(session: Any, taxonomy: Any, settings: Any, version: Any) -> None:
    """After a change: each reply class it turned on or changed that the feedback monitor had switched off,
    and each that the calibration does not certify at its new value (router.backing). The change is stored
    by now: a check that fails says so as a warning, never as the command's failure."""
    from sqlalchemy.exc import SQLAlchemyError

    from postroom.errors import PostroomError

    try:
        _outside_the_promise(session, taxonomy, settings, version)
    except (PostroomError, SQLAlchemyError) as exc:
        reason = str(exc) if isinstance(exc, PostroomError) else type(exc).__name__
        _warn(f"the change is stored, but could not be checked against the calibration: {reason}")


def _warn(line: str) -> None:
    err.print(f"warning: {line}", markup=False, highlight=False)


def _outside_the_promise(session: Any, taxonomy: Any, settings: Any, version: Any) -> None:
    from router.backing import (
        calibration_models,
        certifying_report,
        curve_reports,
        intact_history,
        monitor_suspended,
        unbacked_replies,
    )

    reply_set = taxonomy.routing.reply_set
    changed = sorted(
        c["class_name"]
        for c in (version.details or {}).get("changes", [])
        if c["label_set"] == reply_set and c["new"] is not None
    )
    if not changed:
        return
    versions = intact_history(session)
    suspended = monitor_suspended([v for v in versions if v.id != version.id])
    for name in changed:
        if (off := suspended.get((reply_set, name))) is not None:
            _warn(
                f"{reply_set}.{name} was switched off by the feedback monitor (thresholds version {off.id}, "
                "too many wrong replies): this turns its automated replies back on"
            )
    model = version.model_version or next(iter(calibration_models(session, 1)), None)
    certifying, note = certifying_report(versions, model, reply_set, None), None
    if certifying is None:  # no suggestion stored for the model: its curves from the calibration predictions
        reports, _, note = curve_reports(
            session, taxonomy, versions, model, settings.target_precision, settings.confidence
        )
        certifying = reports.get(reply_set)
    values = {name: version.values.get(reply_set, {}).get(name) for name in changed}
    for unbacked in unbacked_replies(values, certifying):
        basis = (
            unbacked.why()
            if certifying is not None
            else f"{unbacked.class_name} at {unbacked.threshold:g} ({note})"
        )
        _warn(
            f"{reply_set}.{basis}: outside the promise; its automated replies rest on this choice, not on "
            "measured precision (`thresholds suggest` shows what is certified)"
        )


def _share(value: float | None, option: str) -> float | None:
    """An option that must be a share strictly between 0 and 1 when given (0 is refused, not the default)."""
    if value is not None and not 0.0 < value < 1.0:
        raise ThresholdError(f"{option} must be between 0 and 1 (exclusive), got {value}")
    return value


def _threshold_text(value: float | None) -> str:
    """Three decimals as on the lead's page: a value above 0 but below 0.001 reads < 0.001, never 0.000."""
    if value is None:
        return "off"
    return "< 0.001" if 0.0 < value < 0.001 else f"{value:.3f}"


def _change_text(change: dict) -> str:
    """`0.900 -> off`: a recorded change as `show` writes thresholds."""
    return f"{_threshold_text(change['old'])} -> {_threshold_text(change['new'])}"


@thresholds_app.command("show")
@friendly_errors
def show() -> None:
    """The active thresholds per label set and class. Example: postroom thresholds show"""
    from router.thresholds import active_values, active_version

    settings = load_settings()
    taxonomy = load_taxonomy_from(settings)
    with open_sessions(settings)() as session:
        version, values = active_values(session, taxonomy)
        calibrated_for = getattr(active_version(session), "model_version", None)
    out.print(f"active thresholds version: {version if version is not None else 'none (defaults)'}")
    if calibrated_for is not None:  # automated replies wait while another model serves (docs/router.md)
        out.print(f"calibrated for model {calibrated_for}", markup=False, highlight=False)
    for set_name in (taxonomy.routing.reply_set, taxonomy.routing.queue_set):
        table = Table(title=set_name)
        table.add_column("class")
        table.add_column("threshold", justify="right")
        for class_name, value in values[set_name].items():
            table.add_row(class_name, _threshold_text(value))
        out.print(table)


@thresholds_app.command("set")
@friendly_errors
def set_command(
    reason: Annotated[str, typer.Option(help="Why: recorded with the change.")],
    assign: Annotated[list[str], typer.Option("--set", help="SET.CLASS=VALUE, repeatable.")] = [],  # noqa: B006
    off: Annotated[list[str], typer.Option("--off", help="SET.CLASS: no automated reply.")] = [],  # noqa: B006
    actor: Annotated[str | None, typer.Option(help="Who makes the change (default: your user name).")] = None,
    allow_zero: Annotated[
        bool,
        typer.Option(
            "--allow-zero",
            help="Allow 0 on an automated-reply class: every prediction of it is answered, however unsure.",
        ),
    ] = False,
) -> None:
    """Change thresholds; writes a new version.

    Example: postroom thresholds set --set topic.card_replacement=0.93 --reason "fewer wrong replies"
    """
    from router.thresholds import refuse_zero_replies, set_thresholds

    settings = load_settings()
    taxonomy = load_taxonomy_from(settings)
    updates = _parse_assignments(assign, off)
    if not updates:
        raise ThresholdError("nothing to change: give --set SET.CLASS=VALUE or --off SET.CLASS")
    if not allow_zero:
        refuse_zero_replies(updates, taxonomy, "`--off {name}`", "add --allow-zero")
    with open_sessions(settings)() as session:
        version = set_thresholds(session, taxonomy, updates, named_actor(actor, "--actor"), reason)
        session.commit()
        for change in version.details["changes"]:
            out.print(f"{change['label_set']}.{change['class_name']}: {_change_text(change)}")
        out.print(f"thresholds version {version.id} is active")
        _warn_outside_the_promise(session, taxonomy, settings, version)


@thresholds_app.command("history")
@friendly_errors
def history_command(
    limit: Annotated[int, typer.Option(min=1, max=MAX_HISTORY, help="How many versions.")] = 20,
) -> None:
    """Every threshold version, newest first: who, when, why, what. Example: postroom thresholds history"""
    from router.thresholds import damage, history

    settings = load_settings()
    with open_sessions(settings)() as session:
        versions = history(session, limit)
        if not versions:
            out.print("no threshold versions yet: the defaults are active (no automated replies)")
        for version in versions:
            when = f"{version.created_at:%Y-%m-%d %H:%M} UTC"
            details = version.details if isinstance(version.details, dict) else {}  # damaged: any JSON
            target = details.get("rollback_to")
            kind = f" (rollback to version {target})" if isinstance(target, int) else ""
            out.print(
                f"[bold]v{version.id}[/bold] {when} by {printable(version.created_by)}{kind}: "
                f"{printable(version.reason)}"
            )
            if (problem := damage(version)) is not None:
                out.print(f"    [red]damaged[/red]: {escape(problem)} (changed outside Postroom; kept as is)")
                continue
            for change in (version.details or {}).get("changes", []):
                out.print(
                    f"    {change['label_set']}.{change['class_name']}: {_change_text(change)}",
                    markup=False,
                )


@thresholds_app.command("rollback")
@friendly_errors
def rollback_command(
    version: Annotated[int, typer.Argument(help="The version whose values become active again.")],
    reason: Annotated[str, typer.Option(help="Why: recorded with the change.")],
    actor: Annotated[str | None, typer.Option(help="Who (default: your user name).")] = None,
) -> None:
    """Make an earlier version's values active again, as a new version.

    Example: postroom thresholds rollback 3 --reason "v4 answered too many fee questions"
    """
    from router.thresholds import rollback

    settings = load_settings()
    taxonomy = load_taxonomy_from(settings)
    with open_sessions(settings)() as session:
        new = rollback(session, taxonomy, version, named_actor(actor, "--actor"), reason)
        session.commit()
        for change in new.details["changes"]:
            out.print(f"{change['label_set']}.{change['class_name']}: {_change_text(change)}", markup=False)
        out.print(f"thresholds version {new.id} is active (values of version {version})")
        _warn_outside_the_promise(session, taxonomy, settings, new)


@thresholds_app.command("suggest")
@friendly_errors
def suggest_command(
    model_version: Annotated[
        str | None,
        typer.Option(help="Model version whose calibration data to use (default: the newest calibrated)."),
    ] = None,
    target_precision: Annotated[
        float | None, typer.Option(help="Precision to promise (default: setting).")
    ] = None,
    confidence: Annotated[
        float | None, typer.Option(help="Confidence of the promise (default: setting).")
    ] = None,
    guarantee: Annotated[
        str,
        typer.Option(
            help="per-class: every class certified; pooled: all automated replies together; learned: all "
            "together, on the learned confidence (router/confidence.py, needs an export with evidence)."
        ),
    ] = "per-class",
    queue_precision: Annotated[float | None, typer.Option(help="Also set queue thresholds (triage).")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Store the suggestion as a new version.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
    actor: Annotated[str | None, typer.Option(help="Who applies it (default: your user name).")] = None,
) -> None:
    """Suggest per-class thresholds that keep the target precision with the given confidence.

    Example: postroom thresholds suggest --model-version v0001 --target-precision 0.95 --confidence 0.9
    """
    from router.suggest import GUARANTEES, apply_suggestion, suggest_from_store

    if guarantee not in GUARANTEES:
        raise ThresholdError(f"--guarantee must be one of {', '.join(GUARANTEES)}, got {guarantee!r}")
    settings = load_settings()
    taxonomy = load_taxonomy_from(settings)
    target = _share(target_precision, "--target-precision") or settings.target_precision
    conf = _share(confidence, "--confidence") or settings.confidence
    queue_precision = _share(queue_precision, "--queue-precision")
    with open_sessions(settings)() as session:
        if model_version is None:
            from router.calibration_data import newest_calibrated_version

            model_version = newest_calibrated_version(session)
            err.print(f"calibration predictions of model version {model_version}", highlight=False)
        suggestion = suggest_from_store(
            session,
            taxonomy,
            model_version,
            target,
            conf,
            guarantee,
            queue_precision,  # type: ignore[arg-type]
        )
        if as_json:
            out.print_json(json.dumps(suggestion.report))
        else:
            _print_report(suggestion.report)
        if apply:
            from router.errors import NoThresholdChange
            from router.thresholds import active_version

            try:
                version = apply_suggestion(session, taxonomy, suggestion, named_actor(actor, "--actor"))
            except NoThresholdChange:  # equal values for the same model (set_thresholds decides)
                session.rollback()
                current = active_version(session)
                which = "the defaults" if current is None else f"version {current.id}"
                out.print(f"the suggestion equals the active thresholds ({which}): nothing stored")
                return
            session.commit()
            out.print(f"thresholds version {version.id} is active")


def _print_report(report: dict[str, Any]) -> None:
    for name, part in report.items():
        title = (
            f"{name}: target {part['target_precision']:.2f} at confidence {part['confidence']:.2f} "
            f"({part['guarantee']} guarantee), {part['calibration_size']} calibration messages"
        )
        if part.get("role") == "queue":
            _print_queue_report(title, part)
            continue
        table = Table(title=title)
        for column in ("class", "threshold", "predicted", "exp. precision", "exp. coverage", "note"):
            table.add_column(column)
        for class_name, c in part["classes"].items():
            needed = f" (needs ~{c['examples_needed']})" if c.get("examples_needed") else ""
            table.add_row(
                class_name,
                _threshold_text(c["threshold"]),
                str(c["predicted"]),
                "" if c["expected_precision"] is None else f"{c['expected_precision']:.3f}",
                f"{c['expected_coverage']:.1%}",
                c["reason"] + needed,
            )
        out.print(table)
        precision = part["expected_precision"]
        out.print(
            f"expected: {part['expected_auto_share']:.1%} of messages automated at precision "
            f"{'n/a' if precision is None else f'{precision:.3f}'}"
        )


def _print_queue_report(title: str, part: dict[str, Any]) -> None:
    """Queue thresholds are triage, not automated replies (`router.report.queue_to_json`): per queue what
    applying the suggestion sends straight to it and the precision measured there; the rest goes to triage.
    An uncertified queue is applied as 0: every prediction trusted."""
    table = Table(title=f"{title}; queue thresholds: a prediction below its queue's threshold goes to triage")
    for column in ("queue", "threshold", "predicted", "straight to queue", "precision there", "note"):
        table.add_column(column)
    for class_name, c in part["classes"].items():
        needed = f" (needs ~{c['examples_needed']})" if c.get("examples_needed") else ""
        certified = c["threshold"] is not None
        note = "" if certified else f"not certified, so trusted (no triage): {c['reason']}{needed}"
        table.add_row(
            class_name,
            _threshold_text(c["threshold"] if certified else 0.0),
            str(c["predicted"]),
            f"{c['straight_share']:.1%}",
            "" if c["straight_precision"] is None else f"{c['straight_precision']:.3f}",
            note,
        )
    out.print(table)
    precision = part["expected_straight_precision"]
    out.print(
        f"expected: {part['expected_straight_share']:.1%} of messages straight to their predicted queue at "
        f"precision {'n/a' if precision is None else f'{precision:.3f}'}, "
        f"{part['expected_triage_share']:.1%} to triage ({part['triage_queue']})"
    )


@thresholds_app.command("monitor")
@friendly_errors
def monitor_command() -> None:
    """Suspend auto-replies whose realized precision (from feedback) fell below target.

    Example: postroom thresholds monitor
    """
    from router.feedback import realized_precision, suspend_failing_classes
    from router.thresholds import active_values, active_version, promised

    settings = load_settings()
    taxonomy = load_taxonomy_from(settings)
    days = settings.feedback_window_days
    with open_sessions(settings)() as session:
        target = promised(active_version(session), "target_precision", settings.target_precision)
        values = active_values(session, taxonomy)[1][taxonomy.routing.reply_set]
        realized = realized_precision(session, taxonomy, days)
        out.print(
            f"realized precision of automated replies over the last {days} days (target {target:.2f}, "
            f"alpha {settings.feedback_alpha}){':' if realized else ': no automated reply has feedback'}",
            markup=False,
        )
        for stats in realized.values():
            state = "" if values.get(stats.class_name) is not None else ", auto-reply off"
            since = f", replies since thresholds version {stats.counted_since}" if stats.counted_since else ""
            out.print(
                f"{stats.class_name}: {stats.correct}/{stats.auto_replies} right ({stats.precision:.1%}), "
                f"{stats.resolved} resolved{since}{state}",
                markup=False,
            )
        events = suspend_failing_classes(
            session,
            taxonomy,
            settings.target_precision,
            settings.feedback_alpha,
            days,
            realized,
        )
        session.commit()
    for event in events:
        payload = event.payload
        out.print(
            f"[red]suspended[/red] {event.subject}: {payload['correct']}/{payload['auto_replies']} right"
        )
    if not events:
        out.print("no class needs suspending")


def register(roots: CliRoots) -> None:
    roots.app.add_typer(thresholds_app, name="thresholds")
