"""The `postroom` command. Thin: each subcommand calls one function of its component.

The core's own commands live here. Components (labeling, training, serving, router) add theirs through the
`postroom.cli` entry-point group: each names a `register(roots: CliRoots)` function, so the core never
imports a component. Errors a user can act on (`PostroomError`) print as one line on stderr, exit code 1.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from postroom.clikit import (
    SHARED_DATA,
    CliRoots,
    checked_name,
    err,
    friendly_errors,
    load_settings,
    load_taxonomy_from,
    open_sessions,
    out,
    printable,
)
from postroom.errors import PostroomError
from postroom.settings import Settings, describe
from postroom.taxonomy import load_taxonomy

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Postroom: few-shot routing of client email."
)
bench_app = typer.Typer(
    no_args_is_help=True, help="Benchmarks; results go to docs/benchmarks/ as JSON + Markdown."
)
taxonomy_app = typer.Typer(no_args_is_help=True, help="Inspect and check the taxonomy.")
app.add_typer(bench_app, name="bench")
app.add_typer(taxonomy_app, name="taxonomy")
ENTRY_POINT_GROUP = "postroom.cli"
DOCTOR_GROUP = "postroom.doctor"  # components' `checks(settings)` for `postroom doctor`


@app.command()
@friendly_errors
def init() -> None:
    """Create or upgrade the message store's schema. Example: postroom init"""
    from postroom.store import get_engine, migrate

    settings = load_settings()
    load_taxonomy_from(settings)  # fail early on a bad taxonomy
    revision = migrate(get_engine(settings.database_url))
    out.print(f"store ready at schema {revision}: {describe(settings)['database_url']}", markup=False)


def _label_source(given: str) -> str:
    """`--source` as labels record it: not blank, at most `LABEL_SOURCE_MAX` characters, printable."""
    from postroom.store.models import LABEL_SOURCE_MAX

    source = given.strip()
    if not source:
        raise PostroomError("--source is empty: name where the labels come from (default: import)")
    if len(source) > LABEL_SOURCE_MAX:
        raise PostroomError(f"--source is longer than {LABEL_SOURCE_MAX} characters")
    return checked_name(source, "--source")


@app.command()
@friendly_errors
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="JSONL, CSV, .eml or mbox files, or folders of them.")],
    source: Annotated[
        str, typer.Option(help="Label source recorded for labels found in the input.")
    ] = "import",
) -> None:
    """Read messages, clean and store them; idempotent by message ID.

    Exits 1 when any record was rejected or differs from the stored message with its ID.
    Example: postroom ingest examples/demo/corpus.jsonl
    """
    from postroom.ingest.readers import read_path
    from postroom.ingest.service import ingest_messages

    source = _label_source(source)
    settings = load_settings()
    taxonomy = load_taxonomy_from(settings)
    sessions = open_sessions(settings)
    with err.status("ingesting…"):
        items = (item for path in paths for item in read_path(path, taxonomy, settings.max_message_bytes))
        report = ingest_messages(sessions, items, source=source)
    table = Table(title="ingest", show_header=False)
    for name, value in [
        ("read", report.read),
        ("stored (new)", report.inserted),
        ("already stored, unchanged", report.unchanged),
        ("not stored: content changed under a known ID", len(report.changed)),
        ("rejected", len(report.rejected)),
        ("labels imported", report.labels_added),
        ("label conflicts (kept stored label)", len(report.label_conflicts)),
    ]:
        table.add_row(name, str(value))
    out.print(table)
    if report.cleaning_flags:
        out.print(
            "cleaning flags: " + ", ".join(f"{k}={v}" for k, v in sorted(report.cleaning_flags.items()))
        )
    if report.ignored_fields:
        err.print(
            "[yellow]note[/yellow] already stored messages keep their stored "
            + ", ".join(f"{k} ({v})" for k, v in sorted(report.ignored_fields.items()))
            + ": the input gives others, which were not applied (a known message is never changed)",
            highlight=False,
            soft_wrap=True,
        )
    problems = [*report.rejected, *report.changed]
    for problem in problems[:50]:
        err.print(f"[yellow]rejected[/yellow] {printable(str(problem))}", highlight=False, soft_wrap=True)
    if len(problems) > 50:
        err.print(f"… and {len(problems) - 50} more")
    for conflict in report.label_conflicts[:20]:
        err.print(f"[yellow]label conflict[/yellow] {printable(conflict)}", highlight=False, soft_wrap=True)
    if report.labels_added and source not in settings.labeling_sources:
        err.print(
            f"[yellow]note[/yellow] {report.labels_added} labels imported with source {escape(source)!r}: "
            "`postroom label status` and push do not count them (POSTROOM_LABELING_SOURCES is "
            f"{', '.join(settings.labeling_sources)})",
            highlight=False,
            soft_wrap=True,
        )
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@friendly_errors
def clean(
    all_messages: Annotated[
        bool, typer.Option("--all", help="Re-clean every stored message from its raw input.")
    ] = False,
) -> None:
    """Re-run the cleaner on stored messages (after the cleaner improved). Example: postroom clean --all"""
    from postroom.ingest.service import reclean_all

    if not all_messages:
        raise typer.BadParameter("say --all to re-clean every stored message")
    count = reclean_all(open_sessions(load_settings()))
    out.print(f"re-cleaned {count} messages")


@app.command()
@friendly_errors
def summary(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Counts per label set and class, and languages, of the stored messages. Example: postroom summary"""
    from dataclasses import asdict

    from postroom.summary import summarize

    settings = load_settings()
    taxonomy = load_taxonomy_from(settings)
    with open_sessions(settings)() as session:
        result = summarize(session, taxonomy)
    if as_json:
        out.print_json(json.dumps(asdict(result)))
        return
    out.print(
        f"[bold]{result.messages}[/bold] messages; languages: "
        + ", ".join(f"{lang} {n}" for lang, n in result.languages.items())
    )
    for set_name, per_class in result.classes.items():
        out.print(f"\n[bold]{set_name}[/bold] ({result.labeled[set_name]} labeled)")
        table = Table()
        table.add_column("class")
        table.add_column("messages", justify="right")
        for class_name, n in sorted(per_class.items(), key=lambda kv: (-kv[1], kv[0])):
            table.add_row(class_name, str(n))
        out.print(table)
    for set_name, per_class in result.unknown_classes.items():
        counts = ", ".join(f"{name} ({n})" for name, n in sorted(per_class.items()))
        err.print(f"[yellow]labels not in the taxonomy[/yellow] {printable(set_name)}: {printable(counts)}")


@app.command()
@friendly_errors
def show(
    message_id: Annotated[str, typer.Argument(help="The message's ID (`<…>` around it is ignored).")],
    lines: Annotated[
        bool,
        typer.Option("--lines", help="Each line of the raw input, kept or removed and why (today's cleaner)"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One stored message: its fields and labels, what the models read, what the cleaner removed, its latest
    classification. Shows client text: for your terminal, not for logs.

    Example: postroom show "<a1@mail.example>" --lines
    """
    from postroom.show import message_view

    settings = load_settings()
    with open_sessions(settings)() as session:
        view = message_view(session, message_id, lines=lines)
    if as_json:
        out.print_json(json.dumps(view.as_dict()))
        return
    table = Table(show_header=False, box=None)
    for name in ("message_id", "subject", "sender", "received_at", "language", "source", "ingested_at"):
        table.add_row(name, printable(str(view.fields[name] or "–")))
    labels = ", ".join(
        f"{x['label_set']}={x['class']} ({x['source']}{', ' + x['annotator'] if x['annotator'] else ''})"
        for x in view.labels
    )
    table.add_row("labels", printable(labels or "none"))
    removed = ", ".join(f"{n} {kind}" for kind, n in view.cleaning["removed_lines"].items())
    flags = ", ".join(view.cleaning["flags"])
    removed = f"removed lines: {removed}" if removed else "removed nothing"
    table.add_row("cleaner", f"{removed}{'; flags: ' + flags if flags else ''}")
    if (latest := view.latest) is not None:
        classes = ", ".join(
            f"{name} {r['class']} {r['probability']:.2f}" if isinstance(r["probability"], float) else
            f"{name} {r['class']}"
            for name, r in latest["predictions"].items()
        )
        decision = latest["decision"]
        routed = (
            f"; {decision['decision']} ({decision['reply_class'] or decision['queue']})" if decision else ""
        )
        when = f"{latest['model_version']} {latest['created_at']}"
        table.add_row("latest", escape(f"{when}: {classes}{routed}"))
    out.print(table, highlight=False)
    out.print("\n[bold]what the models read[/bold]")
    # a client's text: its control characters (an ANSI or OSC escape) are shown, never sent to the terminal
    text = printable(view.model_text, keep="\n\t")
    out.print(text or "(nothing: the cleaner left no text)", highlight=False)
    if lines:
        out.print("\n[bold]the raw input, line by line[/bold] (+ kept, - removed; today's cleaner)")
        for line in view.lines:
            kept = "+" if line.kind in ("body", "closing") else "-"
            out.print(f"{kept} {line.kind:<10} {printable(line.text)}", highlight=False)


def _details(payload: object, width: int = 90) -> str:
    """An event's payload in one line: its reason first, then its other scalar fields and those of its
    `criteria` (an erasure's: leftovers, a cut-off), and the length of its lists (`doccano_left_in: 1`)."""
    if not isinstance(payload, dict):
        return ""
    parts = [str(payload["reason"])] if payload.get("reason") else []
    fields = {k: v for k, v in payload.items() if k not in ("reason", "criteria")}
    if isinstance(payload.get("criteria"), dict):
        fields.update(payload["criteria"])
    for key, value in fields.items():
        if isinstance(value, str | int | float | bool):
            parts.append(f"{key}={value}")
        elif isinstance(value, list) and value:
            parts.append(f"{key}: {len(value)}")
    text = "; ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command()
@friendly_errors
def audit(
    kind: Annotated[
        str | None, typer.Option(help="Only this kind (model.promoted, messages.erased, labeling.* …).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only events from this date on (YYYY-MM-DD, UTC).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many, newest first.")] = 50,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON with each event's whole payload.")
    ] = False,
) -> None:
    """The audit log, newest first: models approved, promoted and reloaded, thresholds changed and
    suspended, labels changed in Doccano, messages erased, API keys added and revoked: who, when, what,
    why. Never message text.

    Example: postroom audit --kind messages.erased --since 2026-12-01
    """
    from datetime import UTC, date, datetime

    from postroom.store.audit import event_kinds, list_events
    from postroom.store.models import iso_utc

    start = None
    if since is not None:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", since):
            raise PostroomError(f"--since takes a date YYYY-MM-DD, got {printable(since[:40])!r}")
        try:
            start = datetime.combine(date.fromisoformat(since), datetime.min.time(), UTC)
        except ValueError:
            raise PostroomError(f"--since takes a date YYYY-MM-DD, got {since!r}") from None
    prefix = kind[:-1] if kind and kind.endswith("*") else None
    settings = load_settings()
    with open_sessions(settings)() as session:
        events = list_events(session, None if prefix is not None else kind, limit, start, prefix)
        known = event_kinds(session) if kind and not events else []
        rows = [
            {
                "id": e.id,
                "created_at": iso_utc(e.created_at),
                "kind": e.kind,
                "subject": e.subject,
                "actor": e.actor,
                "payload": e.payload,
            }
            for e in events
        ]
    if as_json:
        out.print_json(json.dumps({"events": rows}))
        return
    if not rows:
        which = (f" of kind {kind}" if kind else "") + (f" since {since}" if since else "")
        kinds = f" (kinds in the log: {', '.join(known)})" if known else ""
        out.print(f"no audit event{which}{kinds}", markup=False)
        return
    table = Table("id", "when (UTC)", "kind", "subject", "by", "details")
    for row in rows:
        cells = (row["kind"], row["subject"] or "", row["actor"], _details(row["payload"]))
        when = row["created_at"][:19].replace("T", " ")
        table.add_row(str(row["id"]), when, *(printable(c) for c in cells))
    out.print(table, highlight=False)


@app.command()
@friendly_errors
def doctor() -> None:
    """Show the settings and check the store, the taxonomy, ONNX Runtime and the model the service would
    serve. Example: postroom doctor"""
    from postroom.runtime import check_onnxruntime
    from postroom.store import check_integrity, check_store, get_engine
    from postroom.workdirs import DoctorWarning, check_leftovers

    settings = load_settings()
    for key, value in describe(settings).items():
        out.print(f"{key}: {value}", highlight=False, markup=False)
    checks: list[tuple[str, Callable[[], object]]] = [
        ("taxonomy", lambda: f"{len(load_taxonomy_from(settings).label_sets)} label sets"),
        ("store", lambda: check_store(get_engine(settings.database_url)) or "reachable, schema current"),
        ("store pages", lambda: check_integrity(get_engine(settings.database_url))),
        ("onnxruntime", lambda: check_onnxruntime()),
        ("leftovers", lambda: check_leftovers(settings)),
        ("environment", _environment_check),
        ("api keys", lambda: _keys_check(settings.keys_path)),
        *_component_checks(settings),
    ]
    failed = False
    for name, check in checks:
        try:
            out.print(f"[green]ok[/green]   {name}: {escape(str(check()))}", soft_wrap=True)
        except DoctorWarning as exc:
            out.print(f"[yellow]warn[/yellow] {name}: {escape(str(exc))}", highlight=False, soft_wrap=True)
        except PostroomError as exc:
            failed = True
            out.print(f"[red]fail[/red] {name}: {escape(str(exc))}", highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


def _component_checks(settings: Settings) -> list[tuple[str, Callable[[], object]]]:
    """The checks installed components add (entry-point group `postroom.doctor`, a `checks(settings)` each);
    one whose dependencies are missing is a failing check that says so."""
    found: list[tuple[str, Callable[[], object]]] = []
    for entry in sorted(entry_points(group=DOCTOR_GROUP), key=lambda e: e.name):
        try:
            found += entry.load()(settings)
        except ImportError as exc:
            found.append((entry.name, _raiser(PostroomError(f"its checks cannot load here: {exc}"))))
    return found


def _raiser(exc: Exception) -> Callable[[], object]:
    def check() -> object:
        raise exc

    return check


def _keys_check(path: Path) -> str:
    """`doctor`'s look at the service's API keys file: without one every request is refused (401)."""
    from postroom.workdirs import DoctorWarning

    if not path.exists():
        raise DoctorWarning(
            f"no API keys file at {path}: the service refuses every request (401) until "
            "`postroom keys add NAME --role router` (and lead, admin) makes one"
        )
    return f"{path}"


def _environment_check() -> str:
    """`doctor`'s look at the POSTROOM_ variables: a misspelt one would be silently ignored."""
    from postroom.settings import unknown_variables
    from postroom.workdirs import DoctorWarning

    if unknown := unknown_variables(os.environ):
        raise DoctorWarning("; ".join(unknown))
    return "every POSTROOM_ variable is a setting"


@taxonomy_app.command("check")
@friendly_errors
def taxonomy_check(
    path: Annotated[Path | None, typer.Argument(help="Taxonomy YAML; default: the configured one.")] = None,
) -> None:
    """Validate a taxonomy file and list its label sets. Example: postroom taxonomy check my.yaml"""
    taxonomy = load_taxonomy(path or load_settings().taxonomy_path)
    for label_set in taxonomy.label_sets:
        replies = sum(1 for c in label_set.classes if c.auto_reply)
        out.print(
            f"{label_set.name}: {len(label_set.classes)} classes"
            + (f", {replies} with auto-reply templates" if replies else "")
        )
    out.print(f"fingerprint {taxonomy.fingerprint()}")
    for warning in taxonomy.coverage_warnings():
        err.print(f"warning: {warning}", markup=False, highlight=False)


@bench_app.command("clean")
@friendly_errors
def bench_clean(
    fixtures: Annotated[Path, typer.Option(help="Email cleaning fixtures (JSONL).")] = (
        SHARED_DATA / "email_cleaning" / "email_cleaning_fixtures.jsonl"
    ),
    out_dir: Annotated[Path, typer.Option(help="Where clean.json and clean.md go.")] = Path(
        "docs/benchmarks"
    ),
) -> None:
    """Measure the cleaner on real emails nobody here wrote. Example: postroom bench clean"""
    from postroom.cleaning.benchmark import run_clean_benchmark

    if not fixtures.is_file():
        raise PostroomError(f"fixtures not found: {fixtures} (see ../shared/data/README.md)")
    run_clean_benchmark(fixtures, out_dir, command="postroom bench clean")
    out.print(f"wrote {out_dir / 'clean.json'} and {out_dir / 'clean.md'}")


_registered: set[str] = set()  # components whose commands are in `app` (typer keeps every registration)


def register_components() -> None:
    """Let every installed component add its commands (entry-point group `postroom.cli`), once per process:
    typer keeps every registration and rebuilds all of them on each invocation, so a second call would
    double every command and slow each invocation down."""
    roots = CliRoots(app=app, bench=bench_app)
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if entry.name in _registered:
            continue
        try:
            register = entry.load()
        except ImportError as exc:  # a component whose optional dependencies are not installed
            reason = escape(str(exc))
            err.print(f"[yellow]warning:[/yellow] `{entry.name}` commands unavailable: {reason}")
            continue
        register(roots)
        _registered.add(entry.name)


def main() -> None:
    register_components()
    app()
