"""The `postroom` command. Thin: each subcommand calls one function of its component.

Errors a user can act on (`PostroomError`) print as one line on stderr and exit with code 1.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from postroom.errors import PostroomError
from postroom.settings import Settings, describe, get_settings
from postroom.taxonomy import Taxonomy, load_taxonomy

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Postroom: few-shot routing of client email."
)
bench_app = typer.Typer(
    no_args_is_help=True, help="Benchmarks; results go to docs/benchmarks/ as JSON + Markdown."
)
taxonomy_app = typer.Typer(no_args_is_help=True, help="Inspect and check the taxonomy.")
app.add_typer(bench_app, name="bench")
app.add_typer(taxonomy_app, name="taxonomy")

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
SHARED_DATA = Path("../shared/data")


def friendly_errors(func: F) -> F:
    """Turn a `PostroomError` into one line on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PostroomError as exc:
            err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _settings() -> Settings:
    return get_settings()


def _taxonomy(settings: Settings) -> Taxonomy:
    return load_taxonomy(settings.taxonomy_path)


def _sessions(settings: Settings, *, must_exist: bool = True):  # type: ignore[no-untyped-def]
    from postroom.store import check_store, get_engine, session_factory

    engine = get_engine(settings.database_url)
    if must_exist:
        check_store(engine)
    return session_factory(engine)


@app.command()
@friendly_errors
def init() -> None:
    """Create or upgrade the message store's schema. Example: postroom init"""
    from postroom.store import get_engine, migrate

    settings = _settings()
    _taxonomy(settings)  # fail early on a bad taxonomy
    revision = migrate(get_engine(settings.database_url))
    out.print(f"store ready at schema {revision}: {describe(settings)['database_url']}")


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

    settings = _settings()
    taxonomy = _taxonomy(settings)
    sessions = _sessions(settings)
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
    problems = [*report.rejected, *report.changed]
    for problem in problems[:50]:
        err.print(f"[yellow]rejected[/yellow] {problem}", highlight=False, soft_wrap=True)
    if len(problems) > 50:
        err.print(f"… and {len(problems) - 50} more")
    for conflict in report.label_conflicts[:20]:
        err.print(f"[yellow]label conflict[/yellow] {conflict}", highlight=False, soft_wrap=True)
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
    count = reclean_all(_sessions(_settings()))
    out.print(f"re-cleaned {count} messages")


@app.command()
@friendly_errors
def summary(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Counts per label set and class, and languages, of the stored messages. Example: postroom summary"""
    from dataclasses import asdict

    from postroom.summary import summarize

    settings = _settings()
    taxonomy = _taxonomy(settings)
    with _sessions(settings)() as session:
        result = summarize(session, taxonomy)
    if as_json:
        out.print_json(json.dumps(asdict(result)))
        return
    out.print(
        f"[bold]{result.messages}[/bold] messages; languages: "
        + ", ".join(f"{lang} {n}" for lang, n in result.languages.items())
    )
    for set_name, per_class in result.classes.items():
        table = Table(title=f"{set_name} ({result.labeled[set_name]} labeled)")
        table.add_column("class")
        table.add_column("messages", justify="right")
        for class_name, n in sorted(per_class.items(), key=lambda kv: (-kv[1], kv[0])):
            table.add_row(class_name, str(n))
        out.print(table)
    for set_name, per_class in result.unknown_classes.items():
        err.print(f"[yellow]labels not in the taxonomy[/yellow] {set_name}: {per_class}")


@app.command()
@friendly_errors
def doctor() -> None:
    """Show the settings and check the store, the taxonomy and ONNX Runtime. Example: postroom doctor"""
    from postroom.runtime import check_onnxruntime
    from postroom.store import check_store, get_engine

    settings = _settings()
    for key, value in describe(settings).items():
        out.print(f"{key}: {value}", highlight=False)
    checks: list[tuple[str, Callable[[], object]]] = [
        ("taxonomy", lambda: f"{len(_taxonomy(settings).label_sets)} label sets"),
        ("store", lambda: check_store(get_engine(settings.database_url)) or "reachable, schema current"),
        ("onnxruntime", lambda: check_onnxruntime()),
    ]
    failed = False
    for name, check in checks:
        try:
            out.print(f"[green]ok[/green]   {name}: {check()}")
        except PostroomError as exc:
            failed = True
            out.print(f"[red]fail[/red] {name}: {exc}", highlight=False)
    if failed:
        raise typer.Exit(1)


@taxonomy_app.command("check")
@friendly_errors
def taxonomy_check(
    path: Annotated[Path | None, typer.Argument(help="Taxonomy YAML; default: the configured one.")] = None,
) -> None:
    """Validate a taxonomy file and list its label sets. Example: postroom taxonomy check my.yaml"""
    taxonomy = load_taxonomy(path or _settings().taxonomy_path)
    for label_set in taxonomy.label_sets:
        replies = sum(1 for c in label_set.classes if c.auto_reply)
        out.print(
            f"{label_set.name}: {len(label_set.classes)} classes"
            + (f", {replies} with auto-reply templates" if replies else "")
        )
    out.print(f"fingerprint {taxonomy.fingerprint()}")


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


def main() -> None:
    app()
