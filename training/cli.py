"""`postroom train`, `postroom models …`, `postroom bench fewshot` and `bench traintime`. Thin: each calls
one function.

Registered through the `postroom.cli` entry point (`training = "training.cli:register"`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from postroom.clikit import (
    SHARED_DATA,
    CliRoots,
    err,
    friendly_errors,
    load_settings,
    load_taxonomy_from,
    named_actor,
    open_sessions,
    out,
    record_event,
    required_reason,
)
from postroom.errors import PostroomError
from postroom.ingest.fields import loads_json  # strict JSON: a key given twice is an error
from postroom.offline import force_offline
from postroom.taxonomy import Taxonomy
from training.compare import BOOTSTRAP_MAX, BOOTSTRAP_SAMPLES, FEW_MESSAGES, Comparison
from training.config import TrainConfig
from training.errors import RegistryError, TrainingError
from training.model_card import WEAK_RULE, review_version, step_lines
from training.registry import ModelVersion, Registry
from training.split import split_line

REASON_EXAMPLE = '--reason "card read, complaints recall ok"'

models_app = typer.Typer(
    no_args_is_help=True, help="The model registry: list, inspect, approve, promote, roll back."
)


def _load_config(path: Path | None) -> TrainConfig:
    """TrainConfig from a TOML (a [train] table or top-level keys) or JSON file; defaults without one."""
    if path is None:
        return TrainConfig()
    kind = "JSON" if path.suffix == ".json" else "TOML"
    try:
        text = path.read_text(encoding="utf-8")
        data = loads_json(text) if kind == "JSON" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise TrainingError(
            f"cannot read training config {path} as {kind} (a .json file is JSON, any other TOML): {exc}"
        ) from None
    if isinstance(data, dict) and "train" in data:
        extra = sorted(set(data) - {"train"})
        if extra:
            raise TrainingError(f"{path}: keys beside the [train] table: {', '.join(extra)}")
        data = data["train"]
    if not isinstance(data, dict):
        found = type(data).__name__
        raise TrainingError(f"{path}: a training config is a table of TrainConfig fields, not {found}")
    try:
        return TrainConfig.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"{path}: {exc}") from None


def _config(base: TrainConfig, **overrides: Any) -> TrainConfig:
    try:
        return base.with_overrides(**overrides)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None


def _bench_config(config_file: Path | None, full: bool, **overrides: Any) -> TrainConfig:
    """A benchmark's TrainConfig: the file's or the defaults, the options given, full schedule if asked."""
    config = _config(_load_config(config_file), **overrides)
    return config.full_schedule() if full else config


@contextlib.contextmanager
def _sigterm_exits() -> Iterator[None]:
    """SIGTERM (`timeout`, a job scheduler's stop) ends the run as Ctrl-C does: its scratch is cleaned up."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _command_line() -> str:
    return "postroom " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _unmeasured(metrics: Any) -> list[str]:
    """The classes a label set's held-out evaluation had no message of (its metrics' list)."""
    missing = metrics.get("classes_without_eval_examples") if isinstance(metrics, dict) else None
    return [str(c) for c in missing] if isinstance(missing, list) else []


def unmeasured_warning(label_set: str, metrics: Any) -> str | None:
    """The warning `train` prints when a class of the set had no held-out message (None when all had)."""
    missing = _unmeasured(metrics)
    if not missing:
        return None
    them = "them" if len(missing) > 1 else "it"
    return (
        f"warning: {label_set}: no held-out message of {', '.join(missing)}, so its macro-F1 leaves {them} "
        f"out (label more of {them}; `postroom models show` has the per-class figures)"
    )


def below_target_warnings(dataset_file: Path, target: int) -> list[str]:
    """One warning per label set with classes labeled fewer times than the labeling target N: `train` needs
    only `min_examples_per_class` training messages, `label status` calls such classes "below target"."""
    try:
        sets = json.loads(dataset_file.read_text(encoding="utf-8"))["label_sets"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    lines = []
    for name, entry in sets.items():
        counts = entry.get("counts", {}) if isinstance(entry, dict) else {}
        short = sorted(c for c, n in counts.items() if n.get("train", 0) + n.get("eval", 0) < target)
        if short:
            shown = ", ".join(short[:5]) + (f" and {len(short) - 5} more" if len(short) > 5 else "")
            one = len(short) == 1
            lines.append(
                f"warning: {name}: {len(short)} {'class has' if one else 'classes have'} fewer than the "
                f"labeling target N = {target} labeled messages ({shown}): the model learned "
                f"{'it' if one else 'them'} from few examples and its held-out figures rest on few "
                "(`postroom label status`)"
            )
    return lines


def _f1_with_coverage(metrics: Any, classes: int) -> str:
    """macro-F1, and over how many classes when some had no held-out message (a 1.000 over one class of
    two is not a perfect model)."""
    f1 = _fmt(metrics.get("macro_f1") if isinstance(metrics, dict) else None)
    missing = _unmeasured(metrics)
    return f"{f1} (over {classes - len(missing)} of {classes} classes)" if missing and classes else f1


def train(
    config_file: Annotated[
        Path | None, typer.Option("--config", help="TOML/JSON with TrainConfig fields.")
    ] = None,
    variant: Annotated[
        str | None, typer.Option(help="separate | shared (default: separate, see docs/training.md).")
    ] = None,
    loss: Annotated[
        str | None,
        typer.Option(
            help="cosine | batch_all_triplet | batch_hard_triplet | batch_semi_hard_triplet | supcon"
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for sampling and training.")] = None,
    split_seed: Annotated[
        int | None,
        typer.Option(help="Seed of the held-out split (default 0: versions share one; see models compare)."),
    ] = None,
    shots: Annotated[int | None, typer.Option(help="Use at most N training examples per class.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Contrastive epochs.")] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Cap on contrastive steps per label set (any device).")
    ] = None,
    cpu_max_steps: Annotated[
        int | None, typer.Option(help="Cap on contrastive steps per label set on CPU.")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="No CPU step cap: the full schedule.")] = False,
    max_seq_length: Annotated[
        int | None, typer.Option(help="Tokens per text (default: the model's max).")
    ] = None,
    min_examples: Annotated[int | None, typer.Option(help="Minimum training examples per class.")] = None,
    eval_fraction: Annotated[
        float | None, typer.Option(help="Held-out share of the labeled messages.")
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda.")] = None,
    head_jobs: Annotated[
        int | None, typer.Option(help="Processes fitting each head's regressions (default: every core).")
    ] = None,
    label_set: Annotated[
        list[str] | None, typer.Option("--label-set", help="Train only these label sets.")
    ] = None,
    ignore_unknown_labels: Annotated[bool, typer.Option(help="Skip labels not in the taxonomy.")] = False,
    by: Annotated[
        str | None, typer.Option(help="Who trains (recorded in the history).", envvar="POSTROOM_USER")
    ] = None,
) -> None:
    """Train SetFit models for every label set from the labeled messages in the store.

    Evaluates on a held-out split, prints macro-F1 per label set, and registers a candidate version.
    On CPU the contrastive phase is capped (say --full to lift the cap).
    Example: postroom train --seed 1
    """
    force_offline()
    from training.pipeline import train_from_store
    from training.progress import RichReporter

    settings = load_settings()
    taxonomy = load_taxonomy_from(settings)
    config = _config(
        _load_config(config_file),
        variant=variant,
        loss=loss,
        seed=seed,
        split_seed=split_seed,
        shots_per_class=shots,
        epochs=epochs,
        max_steps=max_steps,
        cpu_max_steps=cpu_max_steps,
        max_seq_length=max_seq_length,
        min_examples_per_class=min_examples,
        eval_fraction=eval_fraction,
        device=device,
        head_jobs=head_jobs,
    )
    if full:
        config = config.full_schedule()
    with _sigterm_exits():
        outcome = train_from_store(
            open_sessions(settings),
            taxonomy,
            settings,
            config,
            RichReporter(err),
            label_sets=label_set or None,
            ignore_unknown=ignore_unknown_labels,
            actor=named_actor(by, "--by"),
        )
    version = outcome.version
    table = Table(title=f"held-out evaluation — {version.version} ({version.manifest['variant']} body)")
    for column in ("label set", "classes", "eval msgs", "macro-F1", "accuracy", "ECE", "truncated"):
        table.add_column(column, justify="left" if column == "label set" else "right")
    for name, metrics in outcome.metrics.items():
        trunc = version.manifest["truncation"][name]
        table.add_row(
            name,
            str(len(version.manifest["label_sets"][name]["classes"])),
            str(metrics["n_eval"]),
            _f1_with_coverage(metrics, len(version.manifest["label_sets"][name]["classes"])),
            _fmt(metrics["accuracy"]),
            _fmt(metrics["ece"]),
            f"{100 * trunc['rate']:.0f}%",
        )
    out.print(table)
    for name, metrics in outcome.metrics.items():
        out.print(f"macro-F1 {name}: {_fmt(metrics['macro_f1'])}", highlight=False)
    for name, metrics in outcome.metrics.items():
        if line := unmeasured_warning(name, metrics):
            err.print(line, highlight=False, markup=False)
    for line in below_target_warnings(version.path / "dataset.json", settings.labeling_target_per_class):
        err.print(line, highlight=False, markup=False)
    note = " (contrastive phase capped for CPU; --full for the full schedule)" if outcome.capped else ""
    out.print(f"trained in {outcome.seconds:.0f} s on {outcome.device}{note}", highlight=False)
    out.print(f"registered {version.version} as candidate at {version.path}", highlight=False, markup=False)


def _registry() -> Registry:
    return Registry(load_settings().registry_dir)


def _routes_with(version: ModelVersion, taxonomy: Taxonomy) -> None:
    """Refuse a version that cannot route with the configured taxonomy: trained on another one (its classes
    may not be the taxonomy's), or without the label set routing reads (queue, automated replies)."""
    trained = version.manifest["taxonomy"]
    if trained["fingerprint"] != taxonomy.fingerprint():
        raise RegistryError(
            f"version {version.version} was trained on another taxonomy ({trained['name']}, fingerprint "
            f"{trained['fingerprint']}; the configured one is {taxonomy.name}, {taxonomy.fingerprint()}): "
            "train a version on this one"
        )
    routing = taxonomy.routing
    for set_name, consequence in (
        (routing.queue_set, "every message would go to triage"),
        (routing.reply_set, "no message would get an automated reply"),
    ):
        if set_name not in version.label_sets:
            raise RegistryError(
                f"version {version.version} has no {set_name} model, which routing reads: {consequence}; "
                "train every label set (`postroom train`)"
            )


def _taxonomy_drift(version: ModelVersion, taxonomy: Taxonomy) -> str | None:
    """A one-line warning when `version` was trained on another taxonomy than `taxonomy`: which label sets
    and classes differ. None when it was trained on this one."""
    trained = version.manifest["taxonomy"]
    if trained["fingerprint"] == taxonomy.fingerprint():
        return None
    configured = {s.name: s.class_names for s in taxonomy.label_sets}
    ours = {name: list(entry["classes"]) for name, entry in version.manifest["label_sets"].items()}
    differences = []
    for name in sorted(set(configured) | set(ours)):
        if name not in ours:
            differences.append(f"{name}: not trained in this version")
        elif name not in configured:
            differences.append(f"{name}: not in the configured taxonomy")
        else:
            new = [c for c in configured[name] if c not in ours[name]]
            gone = [c for c in ours[name] if c not in configured[name]]
            parts = [f"new {', '.join(new)}"] * bool(new) + [f"gone {', '.join(gone)}"] * bool(gone)
            if not parts and configured[name] != ours[name]:
                parts = ["same classes in another order"]
            if parts:
                differences.append(f"{name}: {'; '.join(parts)}")
    return (
        f"{version.version} was trained on taxonomy {trained['name']} ({trained['fingerprint']}), not the "
        f"configured {taxonomy.name} ({taxonomy.fingerprint()}): "
        + (" | ".join(differences) or "the label sets differ")
        + "; `models promote` will refuse it"
    )


def _warn_taxonomy_drift(version: ModelVersion) -> None:
    """Print `_taxonomy_drift`'s warning to stderr; a note when the configured taxonomy cannot be read."""
    try:
        warning = _taxonomy_drift(version, load_taxonomy_from(load_settings()))
    except PostroomError as exc:
        err.print(f"note: taxonomy not checked ({exc})", markup=False, highlight=False, soft_wrap=True)
        return
    if warning:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)


def _require_export(registry: Registry) -> Callable[[ModelVersion], None]:
    """A stage check: the version routes with the configured taxonomy, and has an intact ONNX export (every
    file its manifest lists, with its SHA-256), so the service can load it once in production."""
    from training.export.layout import EXPORT_MANIFEST
    from training.export.source import export_dir
    from training.registry import file_sha256

    taxonomy = load_taxonomy_from(load_settings())

    def check(version: ModelVersion) -> None:
        root = export_dir(registry, version.version)
        again = f"run `postroom export {version.version}` again"
        if not (root / EXPORT_MANIFEST).is_file():
            raise RegistryError(
                f"version {version.version} has no ONNX export, so the service could not load it: run "
                f"`postroom export {version.version}` first"
            )
        _routes_with(version, taxonomy)
        try:
            files = json.loads((root / EXPORT_MANIFEST).read_text(encoding="utf-8"))["files"]
            listed = {str(name): str(digest) for name, digest in files.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise RegistryError(
                f"the ONNX export of {version.version} is unreadable ({EXPORT_MANIFEST}): {again}"
            ) from None
        for name, digest in sorted(listed.items()):
            path = root / name
            if not path.is_file() or file_sha256(path) != digest:
                problem = "is missing" if not path.is_file() else "does not match its checksum"
                raise RegistryError(
                    f"the ONNX export of {version.version} is corrupt: {name} {problem}, so the service "
                    f"could not load it: {again}"
                )

    return check


def _audit(kind: str, version: ModelVersion, actor: str, reason: str, replaced: str | None = None) -> None:
    """Record the stage change in the store's audit log too, when the store is there. For a promotion or a
    rollback `replaced` is the version that left production (archived), `version` the one now in it."""
    payload: dict[str, Any] = {"stage": version.stage, "reason": reason}
    if kind != "model.approved":  # both versions: the one now in production, the one it archived
        payload.update(production=version.version, archived=replaced)
    record_event(kind, version.version, actor, payload, "the registry history has it")


@models_app.command("list")
@friendly_errors
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the registry's versions with stage and macro-F1 per label set. Example: postroom models list"""
    entries = _registry().entries()
    if as_json:
        out.print_json(
            json.dumps(
                [
                    {
                        "version": e.name,
                        "stage": e.version.stage,
                        "macro_f1": e.version.macro_f1(),
                        "created_at": e.version.manifest["created_at"],
                    }
                    if e.version
                    else {"version": e.name, "stage": "corrupt", "problem": e.problem}
                    for e in entries
                ]
            )
        )
        return
    if not entries:
        out.print("no model versions yet; run `postroom train`")
        return
    table = Table(title=f"model registry {_registry().root}")
    for column in ("version", "stage", "created", "variant", "macro-F1 per label set"):
        table.add_column(column)
    for e in entries:
        if e.version is None:
            table.add_row(e.name, "[red]corrupt[/red]", "", "", escape(e.problem or ""))
            continue
        m = e.version.manifest
        classes = {k: len(entry.get("classes", [])) for k, entry in m["label_sets"].items()}
        f1 = ", ".join(f"{k} {_f1_with_coverage(m['metrics'][k], classes.get(k, 0))}" for k in m["metrics"])
        table.add_row(e.name, e.version.stage, m["created_at"][:19], m["variant"], f1)
    out.print(table)


def _print_per_class(model: ModelVersion) -> None:
    """Each label set's per-class table, its most confused pairs, and the classes without held-out data."""
    plain = {"markup": False, "highlight": False, "soft_wrap": True}  # class names are taxonomy text
    weak: list[str] = []
    for review in review_version(model.path, model.manifest):
        if review.problem:
            out.print(f"{review.name}: {review.problem}", **plain)
            continue
        table = Table(title=f"{review.name}: per class (macro-F1 {_fmt(review.macro_f1)})")
        for column in ("class", "train", "held-out", "precision", "recall", "F1", ""):
            table.add_column(column, justify="left" if column in ("class", "") else "right")
        for c in review.classes:
            table.add_row(
                escape(c.name),
                "?" if c.train is None else str(c.train),
                str(c.support),
                _fmt(c.precision),
                _fmt(c.recall),
                _fmt(c.f1),
                "[bold red]WEAK[/bold red]" if c.weak else "",
                style="red" if c.weak else None,
            )
        out.print(table)
        pairs = "; ".join(str(c) for c in review.confusions) or "none"
        out.print(f"  most confused (true → predicted): {pairs}", **plain)
        if note := review.coverage_note():
            out.print(f"  {note}", **plain)
        weak += [f"{review.name} {c.name} (F1 {_fmt(c.f1)})" for c in review.weak]
    if weak:
        out.print(f"weak classes ({WEAK_RULE}): {', '.join(weak)}", **plain)


@models_app.command("show")
@friendly_errors
def models_show(
    version: Annotated[str, typer.Argument(help="Version (v0003, 3 or latest).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Show one version: metrics, per-class figures, training run, files check and stage history.

    Per label set: each class's training examples, held-out support, precision, recall and F1, weak classes
    flagged (F1 below 0.70, or more than 0.10 below the set's macro-F1), and the most confused pairs. Warns
    when the version was trained on another taxonomy than the configured one. Exit 1 when files are damaged.
    Example: postroom models show v0001
    """
    model = _registry().get(version)
    if as_json:
        out.print_json(json.dumps(model.manifest))
        return
    _warn_taxonomy_drift(model)
    m = model.manifest
    out.print(
        f"[bold]{model.version}[/bold] — {model.stage}; created {m['created_at']}; {escape(m['variant'])} "
        f"body; base {escape(m['base_model'])}; taxonomy {escape(m['taxonomy']['name'])} "
        f"({escape(m['taxonomy']['fingerprint'])})"
    )
    table = Table(title="held-out evaluation")
    for column in ("label set", "eval msgs", "macro-F1", "accuracy", "ECE"):
        table.add_column(column)
    for name, metrics in m["metrics"].items():
        table.add_row(
            name,
            str(metrics.get("n_eval")),
            _fmt(metrics.get("macro_f1")),
            _fmt(metrics.get("accuracy")),
            _fmt(metrics.get("ece")),
        )
    out.print(table)
    if split := m.get("dataset", {}).get("split"):
        out.print(f"  held-out split: {split_line(split)}", markup=False, highlight=False, soft_wrap=True)
    _print_per_class(model)
    training = m.get("training", {})
    out.print(
        f"trained on {training.get('device')} ({training.get('precision')}) in {training.get('seconds')} s",
        markup=False,
    )
    for line in step_lines(m):
        out.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    problems = model.verify()
    out.print("files: intact" if not problems else f"[red]files: {escape('; '.join(problems))}[/red]")
    for h in model.history:
        account = h.get("os_user")
        as_user = f" (OS user {account})" if isinstance(account, str) and account != h["by"] else ""
        out.print(
            f"  {h['at'][:19]}  {h.get('from') or '-'} -> {h['stage']}  by {h['by']}{as_user}: {h['reason']}",
            highlight=False,
            markup=False,  # who and why are free text: "[/red]" in a reason must not break the command
        )
    out.print(f"model card: {model.path / m.get('model_card', 'model_card.md')}", markup=False)
    if problems:
        raise typer.Exit(1)  # the report is complete; the exit status says the files are not


def _writable_file(path: Path) -> None:
    """Refuse, before any work, an output path that cannot be written: a directory, or a missing folder."""
    if path.is_dir():
        raise PostroomError(f"--json {path} is a directory: name a file")
    if not path.parent.is_dir():
        raise PostroomError(f"--json {path}: folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise PostroomError(f"--json {path}: not writable by this user")


def _print_comparison(result: Comparison, a: ModelVersion, b: ModelVersion) -> None:
    """The comparison table, the classes that moved most, and what the figures can and cannot say."""
    plain = {"markup": False, "highlight": False, "soft_wrap": True}
    left_out = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in result.excluded.items() if v) or "none"
    out.print(
        f"candidate {a.version} [{a.stage}] vs reference {b.version} [{b.stage}] on {result.messages} "
        f"labeled messages neither learned from (left out: {left_out})",
        **plain,
    )
    table = Table(title=f"the same messages, {result.bootstrap} bootstrap resamples")
    for column in (
        "label set",
        "msgs",
        f"macro-F1 {a.version}",
        f"macro-F1 {b.version}",
        "difference [95 % interval]",
        f"accuracy {a.version} / {b.version}",
        f"only right: {a.version} / {b.version}",
        "verdict",
    ):
        table.add_column(column)
    for r in result.sets:
        low, high = r.interval
        table.add_row(
            r.label_set,
            str(r.n),
            f"{r.candidate_macro_f1:.3f}",
            f"{r.reference_macro_f1:.3f}",
            f"{r.delta_macro_f1:+.3f} [{low:+.3f}, {high:+.3f}]",
            f"{r.candidate_accuracy:.3f} / {r.reference_accuracy:.3f}",
            f"{r.only_candidate_right} / {r.only_reference_right}",
            r.verdict,
        )
    out.print(table)
    for r in result.sets:
        moved = "; ".join(
            f"{c.name} {c.reference_f1:.3f} -> {c.candidate_f1:.3f} ({c.delta:+.3f}, {c.support} msgs)"
            for c in r.largest_changes()
        )
        out.print(f"{r.label_set}: F1 moved most (reference -> candidate): {moved or 'no class'}", **plain)
        if r.n < FEW_MESSAGES:
            out.print(f"note: {r.label_set} has only {r.n} common messages: too few to tell much", **plain)
        for version, labels in r.unknown_to.items():
            out.print(f"note: {version} cannot predict {r.label_set} {', '.join(labels)}", **plain)
    for version, sets in result.only_in.items():
        if sets:
            out.print(f"note: only {version} has {', '.join(sets)} (not compared)", **plain)
    if any(r.verdict == "no clear difference" for r in result.sets):
        out.print(
            "no clear difference: the interval holds 0, so these messages cannot tell the versions apart; "
            "more labeled messages narrow it. Each interval is for its label set alone (not corrected for "
            "looking at several).",
            **plain,
        )


@models_app.command("compare")
@friendly_errors
def models_compare(
    candidate: Annotated[str, typer.Argument(help="The version to judge (v0003, 3 or latest).")],
    reference: Annotated[
        str | None, typer.Option("--with", help="Compare with this version (default: production).")
    ] = None,
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap resamples for the interval.", min=100, max=BOOTSTRAP_MAX)
    ] = BOOTSTRAP_SAMPLES,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the comparison here.")] = None,
) -> None:
    """Compare a version with production (or --with) on labeled messages neither learned from.

    Both versions classify the same messages: every labeled message in the store that neither trained on
    nor pseudo-labeled in self-training, and no near-copy of a training message, with its current label.
    Per label set: macro-F1 and accuracy of each, the difference with a 95 % paired bootstrap interval, the
    messages only one of them gets right, and the classes whose F1 moved most; --json adds every message
    the two classify differently. Read it before approving.
    Example: postroom models compare v0004
    """
    from training.compare import TorchPredict, compare_versions
    from training.dataset import load_labeled_messages

    force_offline()
    if json_out is not None:
        _writable_file(json_out)
    registry = _registry()
    a = registry.get(candidate)
    if reference is None:
        b = registry.production()
        if b is None:
            raise PostroomError("no version is in production: name the version to compare with (--with)")
        if b.version == a.version:
            raise PostroomError(f"{a.version} is the version in production: name another one with --with")
    else:
        b = registry.get(reference)
    for version in (a, b):
        _warn_taxonomy_drift(version)
    settings = load_settings()
    taxonomy = load_taxonomy_from(settings)
    with open_sessions(settings)() as session:
        messages, _, unknown = load_labeled_messages(session, taxonomy, ignore_unknown=True)
    if unknown:
        listed = ", ".join(f"{k} ({n})" for k, n in sorted(unknown.items()))
        err.print(
            f"note: labels not in the configured taxonomy are left out: {listed}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    result = compare_versions(a, b, messages, TorchPredict(), bootstrap, seed)
    _print_comparison(result, a, b)
    if json_out is not None:
        json_out.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
        out.print(f"wrote {json_out}", markup=False, highlight=False, soft_wrap=True)


@models_app.command("approve")
@friendly_errors
def models_approve(
    version: Annotated[str, typer.Argument(help="A candidate version.")],
    by: Annotated[str | None, typer.Option(help="Who approves.", envvar="POSTROOM_USER")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (required; recorded).")] = None,
) -> None:
    """Approve a candidate version; read `postroom models show VERSION` first (warns on another taxonomy).

    Example: postroom models approve v0003 --reason "card read, complaints recall 0.59 accepted"
    """
    actor = named_actor(by, "--by")
    why = required_reason(reason, REASON_EXAMPLE)
    registry = _registry()
    _warn_taxonomy_drift(registry.get(version))
    model = registry.approve(version, actor, why)
    out.print(f"{model.version} is approved")
    _audit("model.approved", model, actor, why)


@models_app.command("promote")
@friendly_errors
def models_promote(
    version: Annotated[str, typer.Argument(help="An approved version.")],
    by: Annotated[str | None, typer.Option(help="Who promotes.", envvar="POSTROOM_USER")] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "",
) -> None:
    """Put an approved, exported version in production; the one there until now is archived.

    Example: postroom models promote v0003
    """
    actor = named_actor(by, "--by")
    registry = _registry()
    model = registry.promote(version, actor, reason, check=_require_export(registry))
    archived = f"; {model.replaced} is archived" if model.replaced else "; no version was there before"
    out.print(f"{model.version} is in production{archived}", highlight=False)
    _audit("model.promoted", model, actor, reason.strip(), model.replaced)


@models_app.command("rollback")
@friendly_errors
def models_rollback(
    to: Annotated[
        str | None, typer.Option(help="Version to restore (default: the previous production).")
    ] = None,
    by: Annotated[str | None, typer.Option(help="Who rolls back.", envvar="POSTROOM_USER")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (required; recorded).")] = None,
) -> None:
    """Archive the production version and restore the one in production before it.

    Example: postroom models rollback --reason "macro-F1 dropped on live traffic"
    """
    actor = named_actor(by, "--by")
    why = required_reason(reason, REASON_EXAMPLE)
    registry = _registry()
    model = registry.rollback(to, actor, why, check=_require_export(registry))
    out.print(f"rolled back: {model.version} is in production; {model.replaced} is archived", highlight=False)
    _audit("model.rolled_back", model, actor, why, model.replaced)


def _csv_ints(value: str, name: str) -> list[int]:
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"{name} must be comma-separated integers, got {value!r}") from None


def bench_fewshot(
    datasets: Annotated[
        str, typer.Option(help="Comma-separated: banking77, massive-en, massive-de.")
    ] = "banking77,massive-en,massive-de",
    shots: Annotated[str, typer.Option(help="Examples per class, comma-separated.")] = "8,16",
    seeds: Annotated[int, typer.Option(help="Seeds 0..n-1 for the baselines.")] = 5,
    setfit_seeds: Annotated[str, typer.Option(help="Seeds for SetFit, comma-separated ('' for none).")] = "0",
    setfit_shots: Annotated[str, typer.Option(help="N for SetFit runs ('' = every N in --shots).")] = "",
    methods: Annotated[str, typer.Option(help="Comma-separated methods (default: all).")] = "",
    config_file: Annotated[
        Path | None, typer.Option("--config", help="TOML/JSON TrainConfig for SetFit.")
    ] = None,
    loss: Annotated[str | None, typer.Option(help="SetFit contrastive loss.")] = None,
    cpu_max_steps: Annotated[int | None, typer.Option(help="SetFit step cap per label set on CPU.")] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Full SetFit schedule (no CPU cap): for a GPU run.")
    ] = False,
    data_root: Annotated[Path, typer.Option(help="Folder with banking77/ and massive/.")] = SHARED_DATA,
    out_dir: Annotated[Path, typer.Option(help="Where fewshot.json and fewshot.md go.")] = Path(
        "docs/benchmarks"
    ),
) -> None:
    """SetFit (separate and shared body) against TF-IDF, BM25 and frozen embeddings, same few-shot samples.

    Results merge into docs/benchmarks/fewshot.json and fewshot.md, each run with its device and command.
    Example (CPU): postroom bench fewshot --datasets banking77 --setfit-seeds 0,1 --setfit-shots 8
    Example (GPU): postroom bench fewshot --full --setfit-seeds 0,1,2,3,4
    """
    force_offline()
    from training.fewshot_bench import METHODS, FewShotOptions, run_fewshot_benchmark
    from training.progress import RichReporter

    settings = load_settings()
    config = _bench_config(config_file, full, loss=loss, cpu_max_steps=cpu_max_steps)
    options = FewShotOptions(
        datasets=[d.strip() for d in datasets.split(",") if d.strip()],
        shots=_csv_ints(shots, "--shots"),
        seeds=list(range(seeds)),
        setfit_seeds=_csv_ints(setfit_seeds, "--setfit-seeds"),
        setfit_shots=_csv_ints(setfit_shots, "--setfit-shots"),
        methods=[m.strip() for m in methods.split(",") if m.strip()] or list(METHODS),
        config=config,
        base_model=settings.resolved_base_model(),
        data_root=data_root,
        out_dir=out_dir,
        command=_command_line(),
    )
    data = run_fewshot_benchmark(options, RichReporter(err))
    out.print(f"wrote {out_dir / 'fewshot.json'} and {out_dir / 'fewshot.md'} ({len(data['runs'])} runs)")


def bench_traintime(
    dataset: Annotated[str, typer.Option(help="banking77, massive-en or massive-de.")] = "banking77",
    shots: Annotated[int, typer.Option(help="Examples per class.")] = 8,
    label_sets: Annotated[int, typer.Option(help="Label sets, each a copy of the dataset's first.")] = 3,
    variants: Annotated[str, typer.Option(help="Comma-separated: separate, shared.")] = "separate",
    seeds: Annotated[str, typer.Option(help="Seeds, comma-separated; one run each.")] = "0",
    unlabeled: Annotated[
        str, typer.Option(help="on (the rest of the train split as unlabeled pool; default), off, on,off.")
    ] = "on",
    config_file: Annotated[
        Path | None, typer.Option("--config", help="TOML/JSON TrainConfig.")
    ] = None,
    cpu_max_steps: Annotated[int | None, typer.Option(help="Step cap per label set on CPU.")] = None,
    pool_max: Annotated[int | None, typer.Option(help="At most this many unlabeled texts.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Full schedule (no CPU cap): for a GPU run.")] = False,
    data_root: Annotated[Path, typer.Option(help="Folder with banking77/ and massive/.")] = SHARED_DATA,
    out_dir: Annotated[Path, typer.Option(help="Where traintime.json and traintime.md go.")] = Path(
        "docs/benchmarks"
    ),
) -> None:
    """Time `postroom train`'s training of several label sets of a few-shot problem, and score it.

    The goal: three label sets of a 77-class 8-shot problem (BANKING77) in <= 60 s on one H100.
    Results merge into docs/benchmarks/traintime.json and traintime.md, each run with its device.
    Example (GPU): postroom bench traintime --full --variants separate,shared --seeds 0,1,2
    """
    force_offline()
    from training.progress import RichReporter
    from training.traintime_bench import TrainTimeOptions, run_traintime_benchmark

    choices = {"on": True, "off": False}
    pools = [c.strip() for c in unlabeled.split(",") if c.strip()]
    if not pools or any(c not in choices for c in pools):
        raise typer.BadParameter(f"--unlabeled takes on, off or on,off; got {unlabeled!r}")
    settings = load_settings()
    config = _bench_config(config_file, full, cpu_max_steps=cpu_max_steps, self_train_pool_max=pool_max)
    options = TrainTimeOptions(
        dataset=dataset,
        shots=shots,
        label_sets=label_sets,
        variants=[v.strip() for v in variants.split(",") if v.strip()],
        seeds=_csv_ints(seeds, "--seeds"),
        unlabeled=[choices[c] for c in pools],
        config=config,
        base_model=settings.resolved_base_model(),
        data_root=data_root,
        out_dir=out_dir,
        command=_command_line(),
    )
    data = run_traintime_benchmark(options, RichReporter(err))
    out.print(f"wrote {out_dir / 'traintime.json'} and {out_dir / 'traintime.md'} ({len(data['runs'])} runs)")


def register(roots: CliRoots) -> None:
    """Add `train`, the `models` group, `bench fewshot` and `bench traintime` to the postroom command."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    roots.app.command("train")(friendly_errors(train))
    roots.app.add_typer(models_app, name="models")
    roots.bench.command("fewshot")(friendly_errors(bench_fewshot))
    roots.bench.command("traintime")(friendly_errors(bench_traintime))
