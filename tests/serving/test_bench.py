"""`postroom bench serve`: the report's arithmetic and rendering; end to end (slow) on the shared export."""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from postroom.errors import PostroomError
from postroom.settings import get_settings
from serving.bench import (
    BenchOptions,
    BenchService,
    _agreement,
    _Client,
    _client_check,
    _load,
    _onnx_variant,
    _paired,
    _throughput_in_turn,
    _TorchWorker,
    percentiles,
    postgres_url,
    render_markdown,
    rounds_in_turn,
    run_serve_benchmark,
    scratch_store,
)
from serving.loopback import free_port
from serving.runtime import OnnxClassifier
from tests.conftest import POSTGRES_ENV
from tests.serving.builders import Exported


def test_percentiles_and_agreement() -> None:
    stats = percentiles([0.001 * i for i in range(1, 101)])
    assert (stats["p50_ms"], stats["p95_ms"], stats["p99_ms"]) == (51.0, 95.0, 99.0)
    reference = {"labels": {"a": {"queue": ["x", "y", "z"]}, "b": {"queue": ["x"]}}}
    candidate = {"labels": {"a": {"queue": ["x", "y", "y"]}, "b": {"queue": ["x"]}}}
    assert _agreement(reference, candidate) == {"queue": {"agreed": 3, "n": 4, "agreement": 0.75}}


def _backend(name: str, p50: float, per_second: float, published: bool | None = None) -> dict:
    entry = {
        "backend": name,
        "sets": {
            "banking77": {
                "single": {"p50_ms": p50, "p95_ms": 2 * p50, "p99_ms": 3 * p50},
                "batch": {"per_second": per_second},
            }
        },
        "ratios_to_torch": {"banking77": {"single_p50_speedup": 2.0, "batch_throughput_ratio": 3.0}},
    }
    if published is not None:
        entry["published"] = published
        entry["agreement"] = {"queue": {"agreed": 99, "n": 100, "agreement": 0.99}}
    return entry


def test_markdown_names_the_machine_device_and_unpublished_variants() -> None:
    report = {
        "command": "postroom bench serve",
        "date": "2026-01-01",
        "device": "CPU",
        "machine": {
            "cpu": "AMD EPYC",
            "cpu_features": ["avx2", "avx512_vnni"],
            "cores_usable": 2,
            "memory": "24 GiB",
            "os": "Linux",
            "python": "3.11",
            "onnxruntime": "1.31.1",
            "onnxruntime_providers": ["CPUExecutionProvider"],
        },
        "load_average": {"before": [1.0, 1.0, 1.0], "after": [1.0, 1.0, 1.0]},
        "options": {
            "threads": 2,
            "streams": 2,
            "batch_size": 32,
            "single": 200,
            "rounds": 3,
            "throughput_texts": 960,
        },
        "texts": {"banking77": {"n": 100, "mean_chars": 50.0}},
        "model": {
            "version": "v0001",
            "variants": {"int8": {"published": False, "reason": "not published: x"}},
        },
        "backends": [
            _backend("torch", 30.0, 50.0),
            _backend("onnx-int8", 10.0, 150.0, published=False),
            _backend("onnx-int8-1-stream", 12.0, 120.0),
            _backend("onnx-int8-shared-runs", 9.0, 200.0),
        ],
        "http": {
            "model": {"variant": "optimized", "provider": "CPUExecutionProvider"},
            "concurrency": {
                "1": {
                    "requests": 10,
                    "errors": 0,
                    "p50_ms": 12.0,
                    "p95_ms": 20.0,
                    "p99_ms": 30.0,
                    "per_second": 80.0,
                }
            },
        },
    }
    paired = {"store": "sqlite", "requests": 10, "block": 50, "median_difference_ms": 1.25}
    report["http_postgresql"] = {**report["http"], "store": "postgresql", "paired_with": paired}
    report["http"]["client_check"] = {
        "texts": "banking77",
        "messages": 200,
        "block": 25,
        "http_client_p50_ms": 12.5,
        "httpx_p50_ms": 13.75,
        "errors": {"http_client": 0, "httpx": 0},
    }
    assert "Batch throughput in turn" not in render_markdown(report)  # a report from before the pairs
    report["throughput_in_turn"] = {
        "backend": "onnx-int8",
        "pairs": 3,
        "sets": {
            "banking77": {
                "n": 960,
                "torch_per_second": [100.0, 90.0, 110.0],
                "onnx_per_second": [310.0, 280.0, 320.0],
                "ratios": [3.1, 3.111, 2.909],
                "median_ratio": 3.1,
            }
        },
    }
    text = render_markdown(report)
    assert "## Batch throughput in turn: onnx-int8 and PyTorch" in text
    assert "| banking77 | 100.0 | 310.0 | **3.10×** | 3.10, 3.11, 2.91 |" in text
    assert "PostgreSQL minus SQLite, per message, median: **1.25 ms** (10 messages)" in text
    assert "in blocks of 50 messages, each block classified by one service and then by the other" in text
    assert "the first 200 banking77 messages again, the two clients in blocks of 25" in text
    assert "p50 **12.5 ms** with `http.client`, **13.75 ms** with httpx" in text
    assert text.count("with `http.client`") == 1  # the SQLite section's check only
    del paired["block"]  # a report from before the blocks
    assert "in turn (the order alternating per message)" in render_markdown(report)
    assert "AMD EPYC (avx2, avx512_vnni), 2 usable cores" in text and "**CPU**" in text
    assert "## HTTP `/v1/classify` on loopback, SQLite" in text
    assert "## HTTP `/v1/classify` on loopback, PostgreSQL" in text
    assert "| onnx-int8 (not published) | banking77 | 10.0 |" in text
    assert "queue 99.00% (99/100)" in text
    assert "| 1 | 10 | 0 | 12.0 | 20.0 | 30.0 | 80.0 |" in text
    assert "- int8: not published: x" in text
    assert "2 threads for PyTorch (intra-op), 2 single-threaded runs at once (streams) for ONNX" in text
    assert "`-1-stream`: the served variant as one run on 2 intra-op threads" in text
    assert "`-shared-runs`: the variant with its rows in runs of up to 8" in text
    older = render_markdown({**report, "options": {**report["options"], "streams": None}} | {"backends": []})
    assert "2 threads for PyTorch (intra-op), 2 intra-op threads for ONNX Runtime" in older
    h100 = {**report["machine"], "gpu": ["NVIDIA H100 80GB HBM3, 81559 MiB"]}
    on_gpu = render_markdown(
        {**report, "device": "GPU", "machine": h100, "options": {**report["options"], "device": "cuda"}}
    )
    assert "Device of every figure: **GPU** (NVIDIA H100 80GB HBM3, 81559 MiB)" in on_gpu
    assert "PyTorch on the GPU (cuda), ONNX Runtime's CUDA provider one run at a time" in on_gpu
    beside = render_markdown({**report, "machine": h100})
    assert "**CPU** (the GPU here, NVIDIA H100 80GB HBM3, 81559 MiB, was not used: `--device cpu`)" in beside


@pytest.mark.slow
def test_bench_end_to_end(
    shared: Exported,
    serving_env: dict[str, str],
    stored: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    banking = tmp_path / "banking.jsonl"
    banking.write_text("".join(json.dumps({"text": t}) + "\n" for t in shared.texts), encoding="utf-8")
    options = BenchOptions(
        banking_path=banking,
        banking_limit=20,
        demo_limit=8,
        single=4,
        http_requests=6,
        throughput_n=16,
        rounds=1,
        pairs=2,
        threads=2,  # two streams, and the served variant as one run on two threads beside
        http_database_url=os.environ.get(POSTGRES_ENV),  # CI: the HTTP part on PostgreSQL as well
    )
    report = run_serve_benchmark(get_settings(), options, tmp_path / "out", "test", log=lambda _m: None)
    assert {b["backend"] for b in report["backends"]} >= {"torch", "onnx-fp32", "onnx-optimized"}
    assert set(report["texts"]) == {"banking77", "demo_long"}
    assert all(r["errors"] == 0 for r in report["http"]["concurrency"].values())
    sets = {"banking77", "demo_long"}
    assert all(set(r["by_text_set"]) == sets for r in report["http"]["concurrency"].values())
    check = report["http"]["client_check"]  # the 6 BANKING77 messages with http.client and with httpx
    assert (check["texts"], check["messages"]) == ("banking77", 6)
    assert check["errors"] == {"http_client": 0, "httpx": 0}
    assert check["httpx_p50_ms"] > 0 and report["http"]["messages"] == 12
    backends = {b["backend"]: b for b in report["backends"]}
    # The shared export publishes int8 with an fp32 second look: measured with it, and without it beside.
    assert set(backends["onnx-int8"]["second_look_share"]) == {"banking77", "demo_long"}
    assert "second_look_share" not in backends["onnx-int8-no-second-look"]
    assert report["model"]["variants"]["int8"]["second_look_margin"] == 0.2
    # The export has evidence for topic: the served variant is measured without its signals too.
    served = report["http"]["model"]["variant"]  # what the service chose by the export's preference
    assert f"onnx-{served}-no-signals" in backends
    assert f"onnx-{served}-1-stream" in backends and report["options"]["streams"] == 2
    assert "onnx-int8-shared-runs" not in backends  # per-token int8 shares runs as served: nothing to add
    markdown = (tmp_path / "out" / "serve.md").read_text(encoding="utf-8")
    assert "fp32 second look:" in markdown and "By text set" in markdown and "`-no-signals`" in markdown
    assert (tmp_path / "out" / "serve.json").is_file()
    in_turn = report["throughput_in_turn"]  # the served variant and the PyTorch worker, round for round
    assert in_turn["backend"] == f"onnx-{served}" and set(in_turn["sets"]) == sets
    assert report["options"]["pairs"] == 2
    for each in in_turn["sets"].values():
        assert len(each["ratios"]) == len(each["torch_per_second"]) == 2
        assert _each_ratio_is_of_its_pair(each)
    assert f"## Batch throughput in turn: onnx-{served} and PyTorch" in markdown
    if options.http_database_url:  # a second store, a second key, the same requests
        postgres = report["http_postgresql"]
        assert postgres["store"] == "postgresql" and postgres["messages"] == report["http"]["messages"]
        assert all(r["errors"] == 0 for r in postgres["concurrency"].values())
        assert "on loopback, PostgreSQL" in markdown
        # one client: every message on both stores in turn, the difference per message kept
        assert postgres["concurrency"]["1"]["requests"] == report["http"]["concurrency"]["1"]["requests"]
        assert postgres["paired_with"]["store"] == "sqlite"
        assert postgres["paired_with"]["requests"] == report["http"]["messages"]
        assert "PostgreSQL minus SQLite, per message, median:" in markdown


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("sqlite:///store.db", "must be a PostgreSQL URL, got sqlite"),
        ("not a url", "is not a database URL"),
    ],
)
def test_http_database_url_must_be_postgresql(url: str, reason: str) -> None:
    with pytest.raises(PostroomError, match=reason):
        postgres_url(url)


def test_cli_refuses_a_non_postgresql_url_before_measuring(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from postroom.cli import app, register_components

    register_components()
    result = CliRunner().invoke(
        app, ["bench", "serve", "--http-database-url", "sqlite:///x.db", "--out-dir", str(tmp_path / "out")]
    )
    assert result.exit_code == 1
    assert "must be a PostgreSQL URL, got sqlite" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--device", "cuda"], "the CUDA provider was asked for but is not available"),  # this CPU machine
        (["--device", "tpu"], "device must be one of cpu, cuda, got 'tpu'"),
        (["--batch-size", "0"], "the batch size must be at least 1, got 0"),
        (["--pairs", "-1"], "the pairs of throughput rounds must be 0 (none) or more, got -1"),
    ],
)
def test_cli_refuses_a_device_or_batch_it_cannot_measure_before_measuring(
    args: list[str], reason: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from postroom.cli import app, register_components

    register_components()
    result = CliRunner().invoke(app, ["bench", "serve", *args, "--out-dir", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert reason in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_rounds_in_turn_alternate_which_goes_first() -> None:
    calls: list[str] = []

    def first() -> float:
        calls.append("a")
        return 100.0 + len(calls)

    def second() -> float:
        calls.append("b")
        return 300.0 + len(calls)

    pairs = rounds_in_turn(first, second, 4)
    assert "".join(calls) == "abbaabba"
    assert pairs == [(101.0, 302.0), (104.0, 303.0), (105.0, 306.0), (108.0, 307.0)]  # (first's, second's)
    assert rounds_in_turn(first, second, 0) == []


def test_the_torch_worker_answers_one_round_per_request() -> None:
    from training.export.bench_torch import serve_rounds

    seen: list[int] = []
    commands = io.StringIO('{"set": "a"}\n{"set": "a"}\n{"set": "b"}\n')
    answers = io.StringIO()
    def predict(batch: list[str]) -> None:
        seen.append(len(batch))
        time.sleep(0.02)

    serve_rounds(predict, {"a": ["x"] * 5}, 3, commands, answers)
    lines = [json.loads(line) for line in answers.getvalue().splitlines()]
    assert lines[0] == {"ready": True} and seen == [3, 3]  # at most throughput_n texts a round
    assert [line.get("set") for line in lines[1:3]] == ["a", "a"]
    assert all(line["per_second"] == pytest.approx(3 / line["seconds"], rel=0.05) for line in lines[1:3])
    assert all(0.02 <= line["seconds"] < 1 for line in lines[1:3])
    assert lines[3] == {"error": "no text set 'b'"}


def _each_ratio_is_of_its_pair(measured: dict) -> bool:
    pairs = zip(measured["torch_per_second"], measured["onnx_per_second"], measured["ratios"], strict=True)
    return all(ratio == pytest.approx(onnx / torch, abs=6e-4) for torch, onnx, ratio in pairs)  # 3 decimals


def _stand_in(texts: dict[str, list[str]], rounds: int = 100) -> list[str]:
    """A worker as `_TorchWorker` runs it, with a stand-in for the model (the protocol over real pipes): it
    prints what a library might on its stdout, answers `rounds` rounds, then ends without a word."""
    code = (
        "import sys, time; from training.export.bench_torch import serve_rounds; "
        "print('a library writes here'); print('{not json'); print('[1]'); "
        f"commands = (sys.stdin.readline() for _ in range({rounds})); "
        f"serve_rounds(lambda b: time.sleep(0.002), {texts!r}, 4, commands, sys.stdout)"
    )
    return [sys.executable, "-c", code]


def test_the_torch_worker_process_is_asked_round_by_round_and_its_failures_are_errors() -> None:
    worker = _TorchWorker(_stand_in({"a": ["x"] * 4}, rounds=3))
    try:
        assert 0 < worker.throughput("a") <= 4 / 0.002  # other lines on its stdout are skipped
        with pytest.raises(PostroomError, match="the PyTorch worker: no text set 'b'"):
            worker.throughput("b")
        worker.throughput("a")
        with pytest.raises(PostroomError, match=r"the PyTorch worker ended \(exit 0\)"):
            worker.throughput("a")  # it ended after its third round
    finally:
        worker.close()
    assert worker._process.returncode == 0 and worker._errors.closed  # reaped, its stderr file gone
    with pytest.raises(PostroomError, match=r"the PyTorch worker ended \(exit 1\): \['no model here'\]"):
        _TorchWorker([sys.executable, "-c", "import sys; sys.exit('no model here')"])


def test_throughput_in_turn_pairs_each_onnx_round_with_a_torch_round(
    shared: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = {"short": ["card lost", "where is my money", "refund please", "pin blocked"]}
    options = BenchOptions(pairs=3, throughput_n=4, batch_size=4)
    result = _throughput_in_turn(_stand_in(texts), shared.export_dir, "int8", texts, options)
    assert result["backend"] == "onnx-int8" and result["pairs"] == 3
    measured = result["sets"]["short"]
    assert measured["n"] == 4 and len(measured["ratios"]) == 3
    assert _each_ratio_is_of_its_pair(measured)
    assert measured["median_ratio"] == round(sorted(measured["ratios"])[1], 2)
    # An ONNX round that fails ends the worker too.
    closed: list[bool] = []
    real_close = _TorchWorker.close
    monkeypatch.setattr(_TorchWorker, "close", lambda self: closed.append(True) or real_close(self))
    monkeypatch.setattr(OnnxClassifier, "predict_proba", lambda self, batch: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        _throughput_in_turn(_stand_in(texts), shared.export_dir, "int8", texts, options)
    assert closed == [True]


@pytest.mark.usefixtures("failing_cuda")
def test_gpu_figures_come_from_the_gpu_or_not_at_all(shared: Exported) -> None:
    """Where the CUDA provider fails to start, the service runs on the CPU (and says so); the benchmark must
    not report those figures as the GPU's."""
    with pytest.raises(PostroomError, match="runs on CPUExecutionProvider, not on the GPU"):
        _onnx_variant(shared.export_dir, "fp32", {"banking77": ["card lost"]}, BenchOptions(device="cuda"))


def test_the_torch_baseline_refuses_cuda_without_a_gpu(tmp_path: Path) -> None:
    from training.export.bench_torch import run

    with pytest.raises(SystemExit, match="sees no CUDA device: the GPU baseline cannot run"):
        run(tmp_path / "no-version", {}, single=1, batch_size=1, threads=1, device="cuda")


def test_scratch_store_is_migrated_and_leaves_nothing_behind(
    backend: str, store_url: str, tmp_path: Path
) -> None:
    """SQLite: a file of the benchmark's own. PostgreSQL (where the test database is set): a schema of its
    own in the given database, dropped afterwards. `store_url` only selects the backend here."""
    if backend == "sqlite":
        with scratch_store(tmp_path) as url:
            engine = create_engine(url)
            assert "messages" in inspect(engine).get_table_names()
            engine.dispose()
        assert (tmp_path / "bench.db").is_file()
        return
    admin = create_engine(os.environ[POSTGRES_ENV])

    def schemas() -> set[str]:
        with admin.connect() as connection:
            rows = connection.execute(text("SELECT schema_name FROM information_schema.schemata"))
            return {r[0] for r in rows if r[0].startswith("postroom_bench_")}

    before = schemas()
    with scratch_store(tmp_path, os.environ[POSTGRES_ENV]) as url:
        (schema,) = schemas() - before
        engine = create_engine(url)
        with engine.connect() as connection:  # the store's tables are in the scratch schema
            assert connection.execute(text("SELECT current_schema()")).scalar() == schema
        assert "messages" in inspect(engine).get_table_names(schema=schema)
        engine.dispose()
    assert schemas() == before
    admin.dispose()


@contextmanager
def _recording_service(
    name: str,
    calls: list[tuple[str, str]],
    failing: set[str],
    close_after: bool = False,
    headers: list[dict[str, str]] | None = None,
) -> Iterator[str]:
    """A plain HTTP/1.1 server standing in for a store's service: records (name, message ID) per classify
    call, and into `headers` each call's headers (lower-case names), and answers 200, or 503 for the IDs in
    `failing`. `close_after`: it closes the connection after each answer without saying so, as a server does
    with a connection idle for too long."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            message_id = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["message_id"]
            calls.append((name, message_id))
            if headers is not None:
                headers.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(503 if message_id in failing else 200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            self.close_connection = close_after

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_one_client_sends_the_messages_to_both_stores_in_blocks() -> None:
    """Each block goes to one store, then to the other, which goes first alternating per block; a message one
    store fails counts as its error and has no paired difference; with no messages nothing is sent."""
    ids = ["bench-banking77-00000", "bench-banking77-00001", "bench-demo_long-00000"]
    calls: list[tuple[str, str]] = []
    with (
        _recording_service("sqlite", calls, set()) as lite,
        _recording_service("postgresql", calls, {ids[2]}) as pg,
    ):
        services = [BenchService(lite, {}, ids, "sqlite", {}), BenchService(pg, {}, ids, "postgresql", {})]
        results, differences = _paired(*services, block=2)
        measured = calls[2:]  # after one warm-up call each
        assert measured == [
            ("sqlite", ids[0]),
            ("sqlite", ids[1]),
            ("postgresql", ids[0]),
            ("postgresql", ids[1]),
            ("postgresql", ids[2]),
            ("sqlite", ids[2]),
        ]
        assert len(differences) == 2  # the third message failed on PostgreSQL
        assert [(r["requests"], r["errors"]) for r in results] == [(3, 0), (3, 1)]
        assert set(results[0]["by_text_set"]) == {"banking77", "demo_long"}
        assert set(results[1]["by_text_set"]) == {"banking77"}
        calls.clear()
        empty = [BenchService(s.url, {}, [], s.store, {}) for s in services]
        results, differences = _paired(*empty)
        assert calls == [] and differences == [] and [r["requests"] for r in results] == [0, 0]


def test_the_client_opens_a_connection_the_server_closed_again() -> None:
    """A server that drops the keep-alive connection after each answer (uvicorn does after 5 idle seconds):
    every request still gets its answer, is sent once, and carries the key and the JSON media type."""
    calls: list[tuple[str, str]] = []
    seen: list[dict[str, str]] = []
    with _recording_service("sqlite", calls, {"b"}, close_after=True, headers=seen) as url:
        client = _Client(BenchService(url, {"Authorization": "Bearer k"}, [], "sqlite", {}))
        try:
            assert [client.classify(m)[0] for m in ("a", "b", "c")] == [200, 503, 200]
        finally:
            client.close()
    assert calls == [("sqlite", "a"), ("sqlite", "b"), ("sqlite", "c")]
    assert all(h["authorization"] == "Bearer k" and h["content-type"] == "application/json" for h in seen)


def test_a_service_gone_is_an_error_not_a_figure() -> None:
    """No server on the port: the client raises after its one retry, and a load of several clients says
    which service it lost rather than reporting fewer requests."""
    port = free_port()
    dead = BenchService(f"http://127.0.0.1:{port}", {}, ["bench-banking77-00000"] * 4, "sqlite", {})
    client = _Client(dead)
    with pytest.raises(ConnectionRefusedError):
        client.classify("bench-banking77-00000")
    client.close()
    with pytest.raises(PostroomError, match=f"lost its connection to the service at http://127.0.0.1:{port}"):
        _load(dead, 2)


def test_client_check_compares_both_clients_on_the_same_messages_in_blocks() -> None:
    """The first text set only, the two clients in blocks (which goes first alternating per block), the
    p50s over the messages both answered; None when there are none, and nothing sent without messages."""
    ids = [f"bench-banking77-{i:05d}" for i in range(5)] + ["bench-demo_long-00000"]
    calls: list[tuple[str, str]] = []
    seen: list[dict[str, str]] = []
    with _recording_service("sqlite", calls, {ids[1]}, headers=seen) as url:
        check = _client_check(BenchService(url, {}, ids, "sqlite", {}), count=4, block=2)
        assert check is not None and check["texts"] == "banking77" and check["block"] == 2
        assert check["messages"] == 3  # ids[1] answered by neither
        assert check["errors"] == {"http_client": 1, "httpx": 1}
        assert check["http_client_p50_ms"] > 0 and check["httpx_p50_ms"] > 0
        clients = ["httpx" if "python-httpx" in h.get("user-agent", "") else "http_client" for h in seen[2:]]
        assert clients == ["http_client"] * 2 + ["httpx"] * 4 + ["http_client"] * 2
        assert [m for _, m in calls[2:]] == [*ids[:2], *ids[:2], *ids[2:4], *ids[2:4]]
        calls.clear()
        assert _client_check(BenchService(url, {}, [], "sqlite", {})) is None and calls == []
    with _recording_service("sqlite", calls, set(ids)) as url:  # nothing answered: nothing to compare
        assert _client_check(BenchService(url, {}, ids, "sqlite", {}), count=4) is None
