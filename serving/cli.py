"""`postroom serve`, `postroom keys …`, `postroom classify-heldout`, `postroom outcomes`,
`postroom bench serve`. No torch here.

Registered through the `postroom.cli` entry point (`serving = "serving.cli:register"`).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

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
    printable,
    record_event,
)
from postroom.errors import PostroomError
from postroom.settings import MAX_WINDOW_DAYS

keys_app = typer.Typer(no_args_is_help=True, help="API keys of the HTTP service (stored hashed).")


def _keys_file(path: Path | None) -> Path:
    return path or load_settings().keys_path


@friendly_errors
def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address (POSTROOM_SERVE_HOST, default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (POSTROOM_SERVE_PORT, default 8000).")] = None,
    workers: Annotated[int | None, typer.Option(help="uvicorn worker processes (one model each).")] = None,
    model: Annotated[str | None, typer.Option(help="production, a version, or an export directory.")] = None,
    variant: Annotated[str | None, typer.Option(help="auto | fp32 | optimized | int8.")] = None,
    provider: Annotated[str | None, typer.Option(help="auto | cpu | cuda.")] = None,
    streams: Annotated[
        int | None, typer.Option(help="Model runs at once (0: one per core on the CPU, one on CUDA).")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="ONNX Runtime intra-op threads per run (0: cores / streams).")
    ] = None,
    access_log: Annotated[
        bool, typer.Option(help="uvicorn's access log (it shows message IDs in paths).")
    ] = False,
) -> None:
    """Start the HTTP service (FastAPI on uvicorn); loads the production model.

    Options override the POSTROOM_SERVE_* environment variables. Example: postroom serve --port 8000
    """
    import uvicorn

    from postroom.settings import get_settings

    overrides = {
        "HOST": host,
        "PORT": port,
        "WORKERS": workers,
        "MODEL": model,
        "VARIANT": variant,
        "PROVIDER": provider,
        "STREAMS": streams,
        "THREADS": threads,
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"POSTROOM_SERVE_{name}"] = str(value)  # workers are new processes: they read the env
    get_settings.cache_clear()
    settings = load_settings()  # fails early on bad settings
    _refuse_a_taken_port(settings.serve_host, settings.serve_port)  # before minutes of model loading
    err.print(f"serving on http://{settings.serve_host}:{settings.serve_port} (docs at /docs)")
    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=settings.serve_host,
        port=settings.serve_port,
        workers=settings.serve_workers,
        access_log=access_log,
        log_level=settings.log_level.lower(),
    )


def _refuse_a_taken_port(host: str, port: int) -> None:
    """Fail in one line when something already listens on `host:port` (another `postroom serve`), as uvicorn
    would only after loading the model."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no owner
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PostroomError(
                    f"port {port} on {host} is in use (another `postroom serve`?): stop it or choose --port"
                ) from None
            raise PostroomError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@keys_app.command("add")
@friendly_errors
def keys_add(
    name: Annotated[
        str,
        typer.Argument(
            help="Who uses the key, e.g. crm-router: 1-64 characters, letters a-z A-Z, digits and "
            ". _ @ -, starting with a letter or digit."
        ),
    ],
    role: Annotated[str, typer.Option(help="router | lead | admin.")] = "router",
    file: Annotated[Path | None, typer.Option(help="Keys file (POSTROOM_API_KEYS_FILE).")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who adds it (default: your user name).")] = None,
) -> None:
    """Create an API key; prints it once (only its salted hash is stored). The audit log records who added
    which key with which role (`keys.added`).

    The name identifies the key in `keys list`, `keys remove` and the audit log.
    Example: postroom keys add crm-router --role router
    """
    from serving.auth import add_key

    actor = named_actor(by, "--by")
    path = _keys_file(file)
    key = add_key(path, name, role)
    err.print(
        f"added key {name!r} with role {role} to {path}; it is shown only now:", markup=False, highlight=False
    )
    out.print(key, markup=False, highlight=False)
    _audit_key(KEY_ADDED_EVENT, name, role, path, actor)


@keys_app.command("list")
@friendly_errors
def keys_list(file: Annotated[Path | None, typer.Option(help="Keys file.")] = None) -> None:
    """List the keys (names, roles, creation dates; never the keys). Example: postroom keys list"""
    from serving.auth import list_keys

    path = _keys_file(file)
    table = Table(title=printable(str(path)))
    for column in ("name", "role", "created"):
        table.add_column(column)
    for key in list_keys(path):
        table.add_row(printable(key.name), printable(key.role), printable(key.created_at))
    out.print(table)


@keys_app.command("remove")
@friendly_errors
def keys_remove(
    name: Annotated[str, typer.Argument(help="The key's name.")],
    file: Annotated[Path | None, typer.Option(help="Keys file.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who revokes it (default: your user name).")] = None,
) -> None:
    """Revoke a key; a running service stops accepting it at once. The audit log records who revoked it
    (`keys.removed`). Example: postroom keys remove crm-router"""
    from serving.auth import list_keys, remove_key

    actor = named_actor(by, "--by")
    path = _keys_file(file)
    role = next((k.role for k in list_keys(path) if k.name == name), None)
    remove_key(path, name)
    out.print(f"removed key {name!r}", markup=False, highlight=False)
    _audit_key(KEY_REMOVED_EVENT, name, role, path, actor)


KEY_ADDED_EVENT, KEY_REMOVED_EVENT = "keys.added", "keys.removed"


def _audit_key(kind: str, name: str, role: str | None, path: Path, actor: str) -> None:
    """Record a key's creation or revocation in the store's audit log (never the key): who, which key, which
    role. The keys file is changed first: a store that cannot take the event leaves a note, not a failure."""
    record_event(kind, name, actor, {"role": role, "keys_file": str(path)}, "record it by hand")


@friendly_errors
def calibrate(
    model: Annotated[str, typer.Option(help="production, a version, or latest.")] = "production",
    fraction: Annotated[
        float, typer.Option(help="Share of the held-out messages used to calibrate (stratified by topic).")
    ] = 0.5,
    variant: Annotated[
        str | None, typer.Option(help="auto | fp32 | optimized | int8 (default: what the service serves).")
    ] = None,
) -> None:
    """Classify part of the model's held-out messages with the served ONNX variant, for the thresholds.

    The predictions are stored with purpose `calibration`; then run
    `postroom thresholds suggest --model-version V --apply`. A group of near-copies counts once: its first
    message calibrates, the others are left out. `classify-heldout` leaves all of them out.
    Example: postroom calibrate --model latest --fraction 0.5
    """
    from serving.calibrate import calibrate as run

    settings = load_settings()
    if variant is not None:
        settings = settings.model_copy(update={"serve_variant": variant})
    report = run(
        settings,
        load_taxonomy_from(settings),
        model,
        fraction,
        log=lambda m: err.print(m, highlight=False),
    ).to_dict()
    accuracy = ", ".join(
        f"{name} {100 * a['accuracy']:.1f}% ({a['correct']}/{a['n']})"
        for name, a in report["accuracy"].items()
    )
    out.print(
        f"stored {report['stored']} calibration predictions of {report['version']} "
        f"({report['variant']} on {report['provider']})"
        + (f", {report['copies_left_out']} near-copies of them left out" if report["copies_left_out"] else "")
        + f"; accuracy {accuracy}. Next: postroom thresholds "
        f"suggest --model-version {report['version']} --apply",
        highlight=False,
    )


@friendly_errors
def classify_heldout(
    model: Annotated[str, typer.Option(help="production, a version, or latest.")] = "production",
    url: Annotated[
        str | None, typer.Option(help="A running service; default: start one on loopback.")
    ] = None,
    key: Annotated[str | None, typer.Option(envvar="POSTROOM_API_KEY", help="Router key for --url.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Classify at most N messages.")] = None,
) -> None:
    """Classify the model's held-out messages over HTTP by ID; print accuracy, routing outcome and latency.

    Messages used by `postroom calibrate` for this version are left out. Without --url, starts the service
    on a free loopback port with a temporary key and stops it afterwards.
    Example: postroom classify-heldout
    """
    from serving.demo import classify_heldout as run

    settings = load_settings()
    report = run(
        settings,
        load_taxonomy_from(settings),
        model,
        url,
        key,
        limit,
        log=lambda m: err.print(m, highlight=False),
    )
    table = Table(
        title=Text(f"held-out messages of {report['version']} classified over HTTP ({report['url']})")
    )
    for column in ("label set", "messages", "accuracy vs. stored labels"):
        table.add_column(column)
    for name, entry in report["accuracy"].items():
        table.add_row(name, str(entry["n"]), f"{100 * entry['accuracy']:.1f}%")
    out.print(table)
    _print_routing(report["routing"])
    left_out, erased = report["left_out_for_calibration"], report["not_in_store"]
    copies = report.get("left_out_as_copies", 0)
    and_copies = f" and {copies} near-copies of them" if copies else ""
    out.print(
        f"{report['classified']} classified, {report['errors']} errors"
        + (f" ({left_out} calibration messages{and_copies} left out)" if left_out else "")
        + (f" ({erased} held-out messages no longer in the store)" if erased else "")
        + f"; latency p50 {report['latency']['p50_ms']} ms, p95 {report['latency']['p95_ms']} ms",
        highlight=False,
    )
    if report["errors"]:
        _print_errors(report["errors"], report["error_examples"])
        raise typer.Exit(1)


def _print_errors(count: int, examples: list[str]) -> None:
    """The first failed requests: message ID, HTTP status, the service's error and detail."""
    for example in examples:
        err.print(f"error: {example}", markup=False, highlight=False, soft_wrap=True)
    if count > len(examples):
        err.print(f"… and {count - len(examples)} more errors", highlight=False)


def _print_routing(routing: dict[str, Any]) -> None:
    n = routing["messages"] or 1
    precision, right = routing["auto_reply_precision"], routing["auto_reply_correct"]
    table = Table(title="routing outcome")
    for column in ("decision", "messages", "share", "checked against stored labels"):
        table.add_column(column)
    table.add_row(
        "auto_reply",
        str(routing["auto_reply"]),
        f"{100 * routing['auto_reply'] / n:.1f}%",
        "no automated replies"
        if precision is None
        else f"precision {100 * precision:.1f}% ({right}/{routing['auto_reply']} right)",
    )
    for queue, entry in routing["human"].items():
        table.add_row(
            f"human: {queue}",
            str(entry["messages"]),
            f"{100 * entry['messages'] / n:.1f}%",
            f"{entry['right_queue']}/{entry['messages']} in their true queue",
        )
    out.print(table)


@friendly_errors
def bench_serve(
    model: Annotated[str, typer.Option(help="production, a version, or an export directory.")] = "production",
    banking: Annotated[Path, typer.Option(help="BANKING77 test texts (JSONL).")] = (
        SHARED_DATA / "banking77" / "banking77_test.jsonl"
    ),
    banking_limit: Annotated[int, typer.Option(help="At most N BANKING77 texts.")] = 3080,
    demo_limit: Annotated[int, typer.Option(help="The N longest demo emails of the store.")] = 200,
    single: Annotated[int, typer.Option(help="Texts per set for single-message latency.")] = 200,
    threads: Annotated[
        int, typer.Option(help="Cores: PyTorch's intra-op threads, ONNX Runtime's single-threaded streams.")
    ] = 2,
    http_requests: Annotated[int, typer.Option(help="HTTP requests per text set and concurrency.")] = 300,
    rounds: Annotated[int, typer.Option(help="Measure each backend N times; the best round counts.")] = 3,
    pairs: Annotated[
        int,
        typer.Option(
            help="Throughput rounds of the served variant and of PyTorch in turn, per text set (0: none)."
        ),
    ] = 5,
    throughput_n: Annotated[int, typer.Option(help="Texts per set for batch throughput.")] = 960,
    http_database_url: Annotated[
        str | None,
        typer.Option(help="A PostgreSQL URL: HTTP is measured there too, in a scratch schema dropped after."),
    ] = None,
    out_dir: Annotated[Path, typer.Option(help="Where serve.json and serve.md go.")] = Path(
        "docs/benchmarks"
    ),
    device: Annotated[
        str,
        typer.Option(
            help="cpu, or cuda: PyTorch and ONNX Runtime (onnxruntime-gpu) on the GPU, int8 left out.",
        ),
    ] = "cpu",
    batch_size: Annotated[int, typer.Option(help="Texts per call in the throughput runs.")] = 32,
) -> None:
    """Latency and throughput of PyTorch vs ONNX fp32/optimised/int8, then HTTP /v1/classify on loopback.

    Example: postroom bench serve; on a GPU: postroom bench serve --device cuda --batch-size 256
    """
    from serving.bench import BenchOptions, run_serve_benchmark

    options = BenchOptions(
        model=model,
        banking_path=banking,
        banking_limit=banking_limit,
        demo_limit=demo_limit,
        single=single,
        threads=threads,
        http_requests=http_requests,
        rounds=rounds,
        pairs=pairs,
        throughput_n=throughput_n,
        http_database_url=http_database_url,
        device=device,
        batch_size=batch_size,
    )
    command = "postroom " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    report = run_serve_benchmark(
        load_settings(), options, out_dir, command, log=lambda m: err.print(m, highlight=False)
    )
    out.print(json.dumps({b["backend"]: b["ratios_to_torch"] for b in report["backends"]}), highlight=False)
    if in_turn := report.get("throughput_in_turn"):
        ratios = ", ".join(f"{name} {s['median_ratio']}x" for name, s in in_turn["sets"].items())
        out.print(f"{in_turn['backend']} against PyTorch, rounds in turn, median ratio: {ratios}")
    out.print(f"wrote {out_dir / 'serve.json'} and {out_dir / 'serve.md'}")


@friendly_errors
def outcomes(
    days: Annotated[
        int | None,
        typer.Option(
            min=1, max=MAX_WINDOW_DAYS, help="Window in days (default: POSTROOM_FEEDBACK_WINDOW_DAYS, 30)."
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print JSON (what GET /v1/lead/outcomes answers) instead of tables."),
    ] = False,
) -> None:
    """How routed messages turned out: per model, each label set's accuracy against the closed cases' final
    classes (95 % interval) beside the model's held-out accuracy (flagged when even the interval's upper
    bound is below it: the mail moved), and per queue how many messages belonged there and where the others
    went.

    Only cases closed with feedback count (POST /v1/feedback): the figures describe that mail, not all mail.
    Example: postroom outcomes --days 7
    """
    from router.outcomes import routing_outcomes
    from router.outcomes_cli import print_outcomes
    from serving.lead.service import configured_model, outcomes_data

    settings = load_settings()
    taxonomy = load_taxonomy_from(settings)
    with open_sessions(settings)() as session:
        result = routing_outcomes(session, taxonomy, days or settings.feedback_window_days)
    data = outcomes_data(result, settings, configured_model(settings))
    if as_json:
        out.print_json(json.dumps(data))
    else:
        print_outcomes(data)


def register(roots: CliRoots) -> None:
    roots.app.command("serve")(serve)
    roots.app.command("outcomes")(outcomes)
    roots.app.command("classify-heldout")(classify_heldout)
    roots.app.command("calibrate")(calibrate)
    roots.app.add_typer(keys_app, name="keys")
    roots.bench.command("serve")(bench_serve)
