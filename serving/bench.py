"""`postroom bench serve`: PyTorch vs the ONNX variants in-process, then HTTP `/v1/classify` over loopback.

All on the same texts (BANKING77 test texts; the longest demo emails of the store):
1. the PyTorch baseline (sentence-transformers + sklearn heads, as setfit predicts) in a subprocess
   (`training.export.bench_torch`: serving never imports torch);
2. every published ONNX variant in this process: single-message latency, batch throughput, label agreement
   with PyTorch per label set; then the served variant and PyTorch (a worker process) in turn, round for
   round, for the throughput ratio the goal names (`_throughput_in_turn`);
3. a real uvicorn on 127.0.0.1 with a scratch SQLite store holding the same texts as messages (and one on
   PostgreSQL beside it, when asked): `/v1/classify` latency at 1 and at 8 concurrent clients (the clients,
   `http.client`, run on the same machine), and the same first messages with httpx as the client.
Writes `serve.json` and `serve.md` with the machine, the device of every figure and the command.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import URL, create_engine, make_url, select
from sqlalchemy import text as sql
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from postroom.errors import PostroomError
from postroom.latency import percentiles, time_batch
from postroom.machine import describe, one_line
from postroom.runs import CPU_RUN_ROWS, shares_runs
from postroom.settings import Settings
from postroom.store.models import Message
from serving.artifacts import read_export
from serving.lifecycle import resolve_source
from serving.loopback import running_service
from serving.runtime import CUDA, OnnxClassifier, choose_providers
from training.registry import Registry

Log = Callable[[str], None]
DEVICES = ("cpu", "cuda")
# Dynamic int8 runs its integer MatMuls on the CPU even under the CUDA provider: not measured on a GPU.
CPU_ONLY = frozenset({"int8"})


@dataclass(frozen=True)
class BenchOptions:
    model: str = "production"
    banking_path: Path = Path("../shared/data/banking77/banking77_test.jsonl")
    banking_limit: int = 3080
    demo_limit: int = 200
    single: int = 200
    batch_size: int = 32
    threads: int = 2
    http_requests: int = 300
    concurrency: tuple[int, ...] = (1, 8)
    throughput_n: int = 960
    rounds: int = 3
    pairs: int = 5  # rounds of the served variant and PyTorch in turn, per text set (0: none)
    http_database_url: str | None = None  # PostgreSQL: HTTP measured there too, in a scratch schema
    device: str = "cpu"  # cpu: PyTorch on `threads` threads, ONNX Runtime in streams; cuda: both on the GPU

    @property
    def on_gpu(self) -> bool:
        return self.device == "cuda"


def gpu_names() -> list[str]:
    """The NVIDIA GPUs `nvidia-smi` lists, with their memory (none where there is no driver)."""
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()] if done.returncode == 0 else []


def machine() -> dict[str, Any]:
    """The machine the figures come from, with its ONNX Runtime and GPUs."""
    import onnxruntime as ort

    return {
        **describe(),
        "onnxruntime": ort.__version__,
        "onnxruntime_providers": ort.get_available_providers(),
        "gpu": gpu_names() or None,
    }


def _texts(options: BenchOptions, settings: Settings, log: Log) -> dict[str, list[str]]:
    texts: dict[str, list[str]] = {}
    if options.banking_path.is_file():
        rows = [json.loads(line) for line in options.banking_path.open(encoding="utf-8") if line.strip()]
        texts["banking77"] = [r["text"] for r in rows[: options.banking_limit]]
    else:
        log(f"note: {options.banking_path} not found; no BANKING77 texts")
    from postroom.store import get_engine, session_factory

    try:
        with session_factory(get_engine(settings.database_url))() as session:
            stored = [m.model_text for m in session.scalars(select(Message))]
    except Exception as exc:  # an empty or missing store: the demo set is skipped, and said so
        log(f"note: no demo emails from the store ({type(exc).__name__})")
        stored = []
    stored = sorted((t for t in stored if t.strip()), key=len, reverse=True)[: options.demo_limit]
    if stored:
        texts["demo_long"] = stored
    if not texts:
        raise PostroomError("no texts to benchmark: neither BANKING77 nor demo emails in the store")
    return texts


def _torch_command(version_dir: Path, texts_file: Path, options: BenchOptions) -> list[str]:
    """The PyTorch baseline's command line (`training.export.bench_torch`) on the texts in `texts_file`."""
    return [
        sys.executable,
        "-m",
        "training.export.bench_torch",
        "--version-dir",
        str(version_dir),
        "--texts",
        str(texts_file),
        "--single",
        str(options.single),
        "--batch-size",
        str(options.batch_size),
        "--threads",
        str(options.threads),
        "--throughput-n",
        str(options.throughput_n),
        "--rounds",
        str(options.rounds),
        "--device",
        options.device,
    ]


def _torch_baseline(command: list[str], work: Path) -> dict:
    """The PyTorch baseline's measurements (`command`: `_torch_command`)."""
    target = work / "torch.json"
    command = [*command, "--out", str(target)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise PostroomError(f"the PyTorch baseline failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(target.read_text(encoding="utf-8"))


def measure(
    predict_one: Callable[[list[str]], Any],
    predict_many: Callable[[list[str]], Any],
    items: list[str],
    options: BenchOptions,
) -> dict[str, Any]:
    """Single-message latency and batch throughput, `options.rounds` times; the best round of each (the one
    least disturbed by other jobs on a shared machine). Mirrors `training.export.bench_torch.measure`."""
    best_single: dict[str, Any] | None = None
    best_batch: dict[str, Any] | None = None
    batch_items = items[: options.throughput_n]
    for _ in range(options.rounds):
        latencies = []
        for text in items[: options.single]:
            started = time.perf_counter()
            predict_one([text])
            latencies.append(time.perf_counter() - started)
        stats = {"n": len(latencies), **percentiles(latencies)}
        if best_single is None or stats["p50_ms"] < best_single["p50_ms"]:
            best_single = stats
        timed = time_batch(predict_many, batch_items)
        batch = {"n": len(batch_items), "batch_size": options.batch_size, **timed}
        if best_batch is None or batch["per_second"] > best_batch["per_second"]:
            best_batch = batch
    return {"single": best_single, "batch": best_batch, "rounds": options.rounds}


def _classifier(
    path: Path,
    variant: str,
    options: BenchOptions,
    second_look: bool = True,
    signals: bool = True,
    one_stream: bool = False,
    shared_runs: bool = False,
) -> OnnxClassifier:
    """`variant` loaded as `_onnx_variant` measures it, warmed up.

    Raises:
        PostroomError: the GPU was asked for and the CUDA provider did not start (the figures would be CPU's).
    """
    if options.on_gpu:
        streams, threads = 0, 0  # automatic: one stream on CUDA, its CPU threads only feed the GPU
    else:
        streams, threads = (1, options.threads) if one_stream else (options.threads, 1)
    classifier = OnnxClassifier(
        path,
        variant=variant,
        provider="cuda" if options.on_gpu else "cpu",
        streams=streams,
        threads=threads,
        max_batch=options.batch_size,
        allow_unpublished=True,
        second_look=second_look,
        signals=signals,
        run_rows=CPU_RUN_ROWS if shared_runs else None,
    )
    if options.on_gpu and classifier.provider != CUDA:
        raise PostroomError(
            f"the {variant} graph runs on {classifier.provider}, not on the GPU: the CUDA provider did not "
            "start (see the log; onnxruntime-gpu needs CUDA 13 and cuDNN 9)"
        )
    classifier.predict(["warm up"] * 4)
    return classifier


def _onnx_variant(
    path: Path,
    variant: str,
    texts: dict[str, list[str]],
    options: BenchOptions,
    second_look: bool = True,
    signals: bool = True,
    one_stream: bool = False,
    shared_runs: bool = False,
) -> dict:
    """One variant as the service runs it on `options.threads` cores: that many single-threaded runs at
    once, or (`one_stream`) one run on all of them, as the service did before streams; `shared_runs`: its
    rows in runs of up to `CPU_RUN_ROWS`, even where the service runs them alone (an older export's int8).
    On the GPU: the CUDA provider, one run at a time (the service's default there).

    Raises:
        PostroomError: the GPU was asked for and the CUDA provider did not start (`_classifier`).
    """
    classifier = _classifier(path, variant, options, second_look, signals, one_stream, shared_runs)
    looks = classifier.fallback_share is not None
    suffix = (
        ("" if second_look or variant != "int8" else "-no-second-look")
        + ("" if signals else "-no-signals")
        + ("-1-stream" if one_stream else "")
        + ("-shared-runs" if shared_runs else "")
    )
    result: dict[str, Any] = {
        "backend": f"onnx-{variant}{suffix}",
        "provider": classifier.provider,
        "sets": {},
        "labels": {},
        **({"second_look_share": {}} if looks else {}),
    }
    for name, items in texts.items():
        classifier.reset_second_look_counts()
        probabilities = classifier.predict_proba(items)  # every text once, for the agreement
        if looks:
            result["second_look_share"][name] = round(classifier.fallback_share or 0.0, 4)
        result["sets"][name] = measure(classifier.predict, classifier.predict_proba, items, options)
        result["labels"][name] = {
            set_name: [classifier.classes[set_name][i] for i in matrix.argmax(axis=1)]
            for set_name, matrix in probabilities.items()
        }
    return result


def _agreement(reference: dict, candidate: dict) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for text_set, per_label in reference["labels"].items():
        for label_set, labels in per_label.items():
            got = candidate["labels"][text_set][label_set]
            entry = out.setdefault(label_set, {"agreed": 0, "n": 0})
            entry["agreed"] += sum(1 for a, b in zip(labels, got, strict=True) if a == b)
            entry["n"] += len(labels)
    for entry in out.values():
        entry["agreement"] = round(entry["agreed"] / entry["n"], 5) if entry["n"] else None
    return out


class _TorchWorker:
    """The PyTorch baseline as a worker process (`training.export.bench_torch --worker`): one batch-throughput
    round of a text set per `throughput` call, so that its rounds can alternate with the ONNX Runtime ones.

    Raises:
        PostroomError: the worker ended before it was ready (its last line on stderr says why).
    """

    def __init__(self, command: list[str]) -> None:
        # Its stderr goes to a file, not a pipe, which its warnings could fill and so block it.
        self._errors = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by `close`)
        try:
            self._process = subprocess.Popen(
                [*command, "--worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._errors,
                text=True,
            )
        except BaseException:
            self._errors.close()
            raise
        try:
            if self._answer().get("ready") is not True:
                raise PostroomError("the PyTorch worker did not say it was ready")
        except BaseException:  # an interrupt while the model loads, too: no process left behind
            self.close()
            raise

    def _ended(self) -> PostroomError:
        """The error for a worker that ended: its exit status and the last line it wrote on stderr."""
        self._process.wait()
        self._errors.seek(0)
        last = self._errors.read().strip().splitlines()[-1:]
        return PostroomError(f"the PyTorch worker ended (exit {self._process.returncode}): {last}")

    def _answer(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            try:
                answer = json.loads(line)
            except ValueError:
                continue  # not an answer (the worker sends what libraries print to stderr)
            if not isinstance(answer, dict):
                continue
            if "error" in answer:
                raise PostroomError(f"the PyTorch worker: {answer['error']}")
            return answer
        raise self._ended()

    def throughput(self, text_set: str) -> float:
        """Messages per second of one throughput round on `text_set`.

        Raises:
            PostroomError: the worker ended, or has no such text set.
        """
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps({"set": text_set}) + "\n")
            self._process.stdin.flush()
        except OSError:  # BrokenPipeError: it ended since the last round
            raise self._ended() from None
        answer = self._answer()
        if answer.get("set") != text_set:
            raise PostroomError(f"the PyTorch worker answered for {answer.get('set')!r}, not {text_set!r}")
        return float(answer["per_second"])

    def close(self) -> None:
        """End the worker (its input closed, then killed after 30 s) and drop its stderr file."""
        if self._process.stdin is not None and not self._process.stdin.closed:
            with suppress(BrokenPipeError):  # it ended already
                self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._errors.close()


def rounds_in_turn(
    first: Callable[[], float], second: Callable[[], float], pairs: int
) -> list[tuple[float, float]]:
    """`pairs` rounds of each, one of `first` and one of `second` at a time (which goes first alternating per
    pair); (first's, second's) figure of each pair."""
    out = []
    for number in range(pairs):
        if number % 2 == 0:
            a = first()
            b = second()
        else:
            b = second()
            a = first()
        out.append((a, b))
    return out


def _throughput_in_turn(
    command: list[str], path: Path, variant: str, texts: dict[str, list[str]], options: BenchOptions
) -> dict[str, Any]:
    """The served variant's batch throughput against PyTorch's, their rounds in turn: on a shared host the
    speed of both moves from minute to minute (PyTorch's best of 3 rounds by 10-30 % between runs of the
    benchmark), and a ratio of two best rounds measured minutes apart moves with it. Per text set, the ratio
    of each pair of rounds measured one after the other, and their median.

    Raises:
        PostroomError: the PyTorch worker failed, or `_classifier`'s reason.
    """
    classifier = _classifier(path, variant, options)
    worker = _TorchWorker(command)
    sets: dict[str, Any] = {}
    try:
        for name, items in texts.items():
            batch = items[: options.throughput_n]

            def onnx_round(batch: list[str] = batch) -> float:
                return time_batch(classifier.predict_proba, batch)["per_second"]

            pairs = rounds_in_turn(lambda name=name: worker.throughput(name), onnx_round, options.pairs)
            ratios = [onnx / torch for torch, onnx in pairs]
            sets[name] = {
                "n": len(batch),
                "torch_per_second": [torch for torch, _ in pairs],
                "onnx_per_second": [onnx for _, onnx in pairs],
                "ratios": [round(r, 3) for r in ratios],
                "median_ratio": round(statistics.median(ratios), 2),
            }
    finally:
        worker.close()
    return {"backend": f"onnx-{variant}", "pairs": options.pairs, "sets": sets}


def postgres_url(database_url: str) -> URL:
    """The parsed `--http-database-url`: PostgreSQL only (SQLite is always a scratch file of the benchmark).

    Raises:
        PostroomError: not a database URL, or not PostgreSQL.
    """
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise PostroomError("--http-database-url is not a database URL") from None
    if url.get_backend_name() != "postgresql":
        raise PostroomError(f"--http-database-url must be a PostgreSQL URL, got {url.get_backend_name()}")
    return url


@contextmanager
def scratch_store(work: Path, database_url: str | None = None) -> Iterator[str]:
    """A migrated, empty store for the benchmark: SQLite in `work`, or a schema of its own in the PostgreSQL
    database `database_url` (dropped afterwards: nothing already there is touched)."""
    from postroom.store import create_store_engine, migrate

    if database_url is None:
        url = f"sqlite:///{work / 'bench.db'}"
        engine = create_store_engine(url)
        migrate(engine)
        engine.dispose()
        yield url
        return
    base = postgres_url(database_url)
    schema = f"postroom_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as connection:
            connection.execute(sql(f'CREATE SCHEMA "{schema}"'))
    except SQLAlchemyError as exc:
        admin.dispose()
        raise PostroomError(
            f"cannot create a scratch schema in {base.render_as_string()}: {type(exc).__name__}"
        ) from None
    try:
        url = base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
        engine = create_store_engine(url)
        migrate(engine)
        engine.dispose()
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(sql(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@dataclass(frozen=True)
class BenchService:
    """A service the benchmark started on a scratch store holding the texts as messages."""

    url: str
    headers: dict[str, str]
    ids: list[str]
    store: str  # sqlite | postgresql
    model: dict[str, Any]


@contextmanager
def _bench_service(
    export_path: Path,
    texts: dict[str, list[str]],
    options: BenchOptions,
    work: Path,
    database_url: str | None = None,
) -> Iterator[BenchService]:
    """uvicorn serving the export on a scratch store (SQLite, or a schema in `database_url`) that holds the
    first `http_requests` texts of each set as messages; stopped and the store dropped afterwards."""
    from postroom.ingest.records import IncomingMessage
    from postroom.ingest.service import ingest_one
    from postroom.store import create_store_engine, session_factory
    from serving.auth import add_key

    with scratch_store(work, database_url) as url:
        engine = create_store_engine(url)
        ids: list[str] = []
        with session_factory(engine)() as session:
            for name, items in texts.items():
                for index, text in enumerate(items[: options.http_requests]):
                    message_id = f"bench-{name}-{index:05d}"
                    ingest_one(session, IncomingMessage(message_id, text, "text", "bench"), source="bench")
                    ids.append(message_id)
            session.commit()
        engine.dispose()
        store = make_url(url).get_backend_name()
        key = add_key(work / "keys.json", f"bench-{store}", "router")  # one key per store measured
        env = {
            "POSTROOM_DATABASE_URL": url,
            "POSTROOM_DATA_DIR": str(work / f"data-{store}"),
            "POSTROOM_SERVE_MODEL": str(export_path),
            "POSTROOM_SERVE_STREAMS": "0" if options.on_gpu else str(options.threads),
            "POSTROOM_SERVE_THREADS": "0" if options.on_gpu else "1",
            "POSTROOM_SERVE_PROVIDER": options.device,
            "POSTROOM_API_KEYS_FILE": str(work / "keys.json"),
            "POSTROOM_SERVE_WATCH_SECONDS": "0",
            "POSTROOM_LOG_LEVEL": "WARNING",
        }
        with running_service(env) as service:
            yield BenchService(service.url, {"Authorization": f"Bearer {key}"}, ids, store, service.model)


def _http(
    export_path: Path,
    texts: dict[str, list[str]],
    options: BenchOptions,
    work: Path,
    log: Log,
    database_url: str | None = None,
) -> list[dict[str, Any]]:
    """Time /v1/classify by ID on a SQLite store and, with `database_url`, on PostgreSQL too; one result per
    store. Both services run at once: with one client the same messages go to both in blocks (`_paired`), so
    the two stores are compared over the same minutes of the host; with several clients each store is loaded
    in turn. The SQLite result also gets `client_check`: how much of a figure is the client's own time."""
    with ExitStack() as stack:
        services = [
            stack.enter_context(_bench_service(export_path, texts, options, work, url))
            for url in ([None, database_url] if database_url else [None])
        ]
        results: list[dict[str, Any]] = [
            {"model": s.model, "store": s.store, "messages": len(s.ids), "concurrency": {}} for s in services
        ]
        for clients in options.concurrency:
            if clients == 1 and len(services) > 1:
                stores = " and ".join(s.store for s in services)
                log(f"HTTP /v1/classify with 1 client on {stores}, {PAIR_BLOCK} messages at a time each")
                paired, differences = _paired(*services)
                for result, measured in zip(results, paired, strict=True):
                    result["concurrency"]["1"] = measured
                if differences:  # none when no message was answered by both
                    results[1]["paired_with"] = {
                        "store": services[0].store,
                        "requests": len(differences),
                        "block": PAIR_BLOCK,
                        "median_difference_ms": round(statistics.median(differences) * 1000, 2),
                    }
                continue
            for service, result in zip(services, results, strict=True):
                log(f"HTTP /v1/classify on {service.store} with {clients} concurrent client(s)")
                result["concurrency"][str(clients)] = _load(service, clients)
        log(f"HTTP /v1/classify on {services[0].store}: this benchmark's client against httpx")
        if (check := _client_check(services[0])) is not None:
            results[0]["client_check"] = check
        else:
            log("no message was answered with both clients: no client check")
        return results


def _text_set(message_id: str) -> str:
    """`bench-<set>-<n>` → `<set>`."""
    return message_id.split("-")[1]


class _Timings:
    """One service's request latencies, overall and per text set, and its errors."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.by_set: dict[str, list[float]] = {}
        self.errors = 0

    def add(self, message_id: str, status: int, elapsed: float) -> None:
        if status != 200:
            self.errors += 1
            return
        self.latencies.append(elapsed)
        self.by_set.setdefault(_text_set(message_id), []).append(elapsed)

    def result(self, seconds: float) -> dict[str, Any]:
        return {
            "requests": len(self.latencies) + self.errors,
            "errors": self.errors,
            "seconds": round(seconds, 2),
            "per_second": round(len(self.latencies) / seconds, 1) if seconds > 0 else 0.0,
            **percentiles(self.latencies or [0.0]),
            "by_text_set": {name: percentiles(values) for name, values in self.by_set.items()},
        }


class _Client:
    """The benchmark's HTTP client: one keep-alive connection to a service (the standard library's
    `http.client`). It runs on the cores the service runs on, and its own time is in every figure; httpx,
    which took about 1.3 ms more a /v1/classify on 2 cores (docs/serving-performance.md), is not the measuring
    client, and `_client_check` measures how much more it takes in every run."""

    def __init__(self, service: BenchService) -> None:
        parts = urlsplit(service.url)
        self._connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        self._headers = {**service.headers, "Content-Type": "application/json"}

    def classify(self, message_id: str) -> tuple[int, float]:
        """(status, seconds) of one `POST /v1/classify`. A connection the server closed while idle (uvicorn
        closes one after 5 s) is opened again once, and that request timed from the new attempt: only when
        sending failed or the server closed the connection before answering, so no message is classified
        twice; a failure while reading an answer is raised."""
        body = json.dumps({"message_id": message_id}).encode()
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self._connection.request("POST", "/v1/classify", body=body, headers=self._headers)
                response = self._connection.getresponse()
            except ConnectionError:  # BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected
                self._connection.close()
                if attempt == 2:
                    raise
                continue
            response.read()
            return response.status, time.perf_counter() - started
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._connection.close()


def _load(service: BenchService, clients: int) -> dict[str, Any]:
    """`clients` threads, each with its own connection, classifying their share of the IDs one by one."""
    timings = _Timings()
    lock = threading.Lock()
    shares = [service.ids[i::clients] for i in range(clients)]

    failures: list[Exception] = []

    def worker(share: list[str]) -> None:
        try:
            with closing(_Client(service)) as client:
                client.classify(share[0])  # connect and warm up
                for message_id in share:
                    status, elapsed = client.classify(message_id)
                    with lock:
                        timings.add(message_id, status, elapsed)
        except Exception as exc:  # raised below: a thread's error would otherwise vanish with it
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(share,)) for share in shares if share]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise PostroomError(
            f"a benchmark client lost its connection to the service at {service.url}: "
            f"{type(failures[0]).__name__}: {failures[0]}"
        )
    return timings.result(time.perf_counter() - started)


PAIR_BLOCK = 50  # messages one service classifies in a row when one client compares two stores
Post = Callable[[str], tuple[int, float]]  # one classify by message ID: (status, seconds)


def _blocks_in_turn(
    ids: list[str], posts: tuple[Post, Post], block: int
) -> Iterator[tuple[int, str, int, float]]:
    """`ids` in blocks of `block`, each block sent by one of `posts` and then by the other (which goes first
    alternating per block); yields (which post, message ID, status, seconds) per request."""
    for number, start in enumerate(range(0, len(ids), block)):
        for at in (0, 1) if number % 2 == 0 else (1, 0):
            for message_id in ids[start : start + block]:
                yield at, message_id, *posts[at](message_id)


def _paired(
    first: BenchService, second: BenchService, block: int = PAIR_BLOCK
) -> tuple[list[dict[str, Any]], list[float]]:
    """One client, two services: the messages in blocks of `block`, each block classified by one service and
    then by the other (which goes first alternating per block). Each service runs `block` requests in a row,
    as a service alone would: a request per message alternating between the two processes cost each 0.8 to
    1.5 ms more, each evicting the other's model from the caches (docs/serving-performance.md). A result per
    service (its seconds, and so its requests per second: its own requests' time) and, per message both
    answered, the second service's latency minus the first's."""
    services = (first, second)
    timings = (_Timings(), _Timings())
    answered: tuple[dict[str, float], dict[str, float]] = ({}, {})
    with ExitStack() as stack:
        clients = [stack.enter_context(closing(_Client(s))) for s in services]
        for client, service in zip(clients, services, strict=True):
            if service.ids:
                client.classify(service.ids[0])  # connect and warm up
        posts = (clients[0].classify, clients[1].classify)
        for at, message_id, status, seconds in _blocks_in_turn(first.ids, posts, block):
            timings[at].add(message_id, status, seconds)
            if status == 200:
                answered[at][message_id] = seconds
    differences = [seconds - answered[0][m] for m, seconds in answered[1].items() if m in answered[0]]
    return [t.result(sum(t.latencies)) for t in timings], differences


CLIENT_CHECK = 200  # messages `_client_check` sends with each client
CLIENT_CHECK_BLOCK = 25


def _client_check(
    service: BenchService, count: int = CLIENT_CHECK, block: int = CLIENT_CHECK_BLOCK
) -> dict[str, Any] | None:
    """/v1/classify p50 with this benchmark's client and with httpx on the first `count` messages of the first
    text set, the clients taking turns in blocks of `block` (which goes first alternating per block): how
    much more time httpx takes. The p50s are over the messages both answered (None: there are none)."""
    text_set = _text_set(service.ids[0]) if service.ids else ""
    ids = [m for m in service.ids if _text_set(m) == text_set][:count]
    names = ("http_client", "httpx")
    answered: dict[str, dict[str, float]] = {name: {} for name in names}
    errors = dict.fromkeys(names, 0)
    with (
        closing(_Client(service)) as plain,
        httpx.Client(base_url=service.url, headers=service.headers, timeout=60) as rich,
    ):

        def with_httpx(message_id: str) -> tuple[int, float]:
            started = time.perf_counter()
            response = rich.post("/v1/classify", json={"message_id": message_id})
            return response.status_code, time.perf_counter() - started

        posts: tuple[Post, Post] = (plain.classify, with_httpx)
        if ids:
            for post in posts:
                post(ids[0])  # connect and warm up
        for at, message_id, status, seconds in _blocks_in_turn(ids, posts, block):
            if status == 200:
                answered[names[at]][message_id] = seconds
            else:
                errors[names[at]] += 1
    both = [m for m in answered["http_client"] if m in answered["httpx"]]
    if not both:
        return None
    return {
        "texts": text_set,
        "messages": len(both),
        "block": block,
        **{
            f"{name}_p50_ms": percentiles([times[m] for m in both])["p50_ms"]
            for name, times in answered.items()
        },
        "errors": errors,
    }


def run_serve_benchmark(
    settings: Settings, options: BenchOptions, out_dir: Path, command: str, log: Log
) -> dict[str, Any]:
    """Run the whole benchmark; write serve.json and serve.md into `out_dir`; return the results."""
    if options.http_database_url:
        postgres_url(options.http_database_url)  # refuse a wrong URL before minutes of measuring
    if options.device not in DEVICES:
        raise PostroomError(f"device must be one of {', '.join(DEVICES)}, got {options.device!r}")
    if options.batch_size < 1:
        raise PostroomError(f"the batch size must be at least 1, got {options.batch_size}")
    if options.pairs < 0:
        raise PostroomError(f"the pairs of throughput rounds must be 0 (none) or more, got {options.pairs}")
    if options.on_gpu:
        choose_providers("cuda")  # no onnxruntime-gpu or no GPU: said now, not after the PyTorch baseline
    source = resolve_source(settings.registry_dir, options.model)
    manifest = read_export(source.path)
    version_dir = Registry(settings.registry_dir).get(manifest.version).path
    texts = _texts(options, settings, log)
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="postroom-bench-"))
    try:
        texts_file = work / "texts.json"
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        torch_command = _torch_command(version_dir, texts_file, options)
        log(f"PyTorch baseline ({sum(map(len, texts.values()))} texts, subprocess)")
        torch_result = _torch_baseline(torch_command, work)
        backends = [torch_result]

        def measured(variant: str, published: bool | None, note: str, **how: bool) -> None:
            log(f"ONNX {variant}{note}")
            result = _onnx_variant(source.path, variant, texts, options, **how)
            result["published"] = published  # None: a comparison row, not a variant of the export
            result["agreement"] = _agreement(torch_result, result)
            backends.append(result)

        def measurable(variant: str) -> bool:
            # Files gone: refused by the gate and deleted (--keep-unpublished keeps them measurable).
            entry = manifest.variants.get(variant)
            return entry is not None and bool(entry.files) and not (options.on_gpu and variant in CPU_ONLY)

        for variant, entry in manifest.variants.items():
            if not measurable(variant):
                continue
            measured(variant, entry.published, "")
            if entry.fallback is not None:  # the same graph without its fp32 second look, for the trade-off
                measured(variant, None, " without its second look", second_look=False)
        order = manifest.preference.get("gpu" if options.on_gpu else "cpu", [])
        served = next((v for v in order if measurable(v)), None)
        if served is not None and any(entry.evidence for entry in manifest.label_sets.values()):
            measured(served, None, " without the learned confidence's signals", signals=False)  # their cost
        if served is not None and options.threads > 1 and not options.on_gpu:
            measured(served, None, f" as one run on {options.threads} threads", one_stream=True)  # vs streams
        for variant, entry in manifest.variants.items():  # an older export's int8: what running alone costs
            if measurable(variant) and not options.on_gpu and not shares_runs(variant, entry.shares_runs):
                measured(variant, None, f" in shared runs of up to {CPU_RUN_ROWS} rows", shared_runs=True)
        if served is not None and options.pairs > 0:
            log(f"ONNX {served} and PyTorch in turn, {options.pairs} rounds each per text set")
            in_turn = _throughput_in_turn(torch_command, source.path, served, texts, options)
        else:
            in_turn = None
        log("HTTP")
        http, *others = _http(source.path, texts, options, work, log, options.http_database_url)
        http_postgresql = others[0] if others else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "benchmark": "serve",
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "device": "GPU" if options.on_gpu else "CPU",  # every ONNX row checked it ran there
        "load_average": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
        },
        "model": {
            "version": manifest.version,
            "export": str(source.path),
            "variants": {
                k: {
                    "published": v.published,
                    "reason": v.reason,
                    **(
                        {
                            "second_look_margin": v.fallback.margin,
                            "second_look_margins": {n: v.fallback.margin_of(n) for n in manifest.label_sets},
                        }
                        if v.fallback
                        else {}
                    ),
                }
                for k, v in manifest.variants.items()
            },
        },
        "options": {
            "rounds": options.rounds,
            "pairs": options.pairs,
            "throughput_texts": options.throughput_n,
            "threads": options.threads,
            "streams": options.threads,
            "batch_size": options.batch_size,
            "device": options.device,
            "single": options.single,
            "http_requests_per_set": options.http_requests,
        },
        "texts": {
            name: {"n": len(items), "mean_chars": round(statistics.fmean(map(len, items)), 1)}
            for name, items in texts.items()
        },
        "backends": [{k: v for k, v in b.items() if k != "labels"} for b in backends],
        **({"throughput_in_turn": in_turn} if in_turn else {}),
        "http": http,
        **({"http_postgresql": http_postgresql} if http_postgresql else {}),
    }
    base = torch_result["sets"]
    for b in report["backends"]:
        b["ratios_to_torch"] = {
            name: {
                "single_p50_speedup": round(base[name]["single"]["p50_ms"] / s["single"]["p50_ms"], 2),
                "batch_throughput_ratio": round(
                    s["batch"]["per_second"] / base[name]["batch"]["per_second"], 2
                ),
            }
            for name, s in b["sets"].items()
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "serve.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out_dir / "serve.md").write_text(render_markdown(report), encoding="utf-8")
    return report


def _threading(options: dict[str, Any]) -> str:
    """How the backends used the machine: threads and streams on the CPU, or the GPU."""
    if options.get("device") == "cuda":
        return "PyTorch on the GPU (cuda), ONNX Runtime's CUDA provider one run at a time"
    return f"{options['threads']} threads for PyTorch (intra-op), {_onnx_threading(options)} for ONNX Runtime"


def _device(report: dict[str, Any]) -> str:
    """Where every figure was measured, and the GPU that was there or not."""
    gpus = "; ".join(report["machine"].get("gpu") or [])
    if report["device"] == "GPU":
        return f"**GPU** ({gpus or 'nvidia-smi named none'})"
    if gpus:
        return f"**CPU** (the GPU here, {gpus}, was not used: `--device cpu`)"
    return "**CPU** (no GPU was available for this run)"


def _onnx_threading(options: dict[str, Any]) -> str:
    streams = options.get("streams") or 1  # reports before streams ran one run on every thread
    if streams == 1:
        return f"{options['threads']} intra-op threads"
    return f"{streams} single-threaded runs at once (streams)"


def render_markdown(report: dict[str, Any]) -> str:
    m, o = report["machine"], report["options"]
    lines = [
        "# Serving benchmark",
        "",
        f"Command: `{report['command']}` — {report['date']}",
        "",
        f"Machine: {one_line(m)}, {m['os']}, "
        f"Python {m['python']}, "
        f"ONNX Runtime {m['onnxruntime']} ({', '.join(m['onnxruntime_providers'])}). Device of every figure: "
        + _device(report)
        + f". Load average before/after: {report['load_average']['before']} / "
        f"{report['load_average']['after']}"
        + " (1, 5 and 15 minutes; the benchmark itself loads both cores, so a load well above 2 before it "
        "means other jobs shared the CPU: absolute figures are then noisy, the ratios less so).",
        "",
        f"Model {report['model']['version']}; {_threading(report['options'])}; batch size "
        f"{report['options']['batch_size']}. Texts: "
        + ", ".join(f"{k} {v['n']} (mean {v['mean_chars']:.0f} chars)" for k, v in report["texts"].items())
        + ".",
        "",
        "## In-process: single-message latency and batch throughput",
        "",
        f"Latency: each of the first {o['single']} texts of a set alone (all label sets). Throughput: the "
        f"first {o['throughput_texts']} texts in batches of {o['batch_size']}. Each measured {o['rounds']} "
        "times, the best round reported. PyTorch: sentence-transformers `encode` plus the sklearn heads' "
        "`predict_proba` (what setfit runs), in its own process, same thread count. Agreement: predicted "
        "class per label set against PyTorch, over every text of both sets.",
        "",
        "| backend | texts | p50 ms | p95 ms | p99 ms | batch msg/s | p50 speed-up | throughput × torch | "
        "label agreement with torch |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for b in report["backends"]:
        agreement = b.get("agreement")
        shown = (
            "reference"
            if agreement is None
            else ", ".join(
                f"{k} {100 * v['agreement']:.2f}% ({v['agreed']}/{v['n']})" for k, v in agreement.items()
            )
        )
        label = b["backend"] + (" (not published)" if b.get("published") is False else "")
        if b.get("second_look_share"):
            shares = ", ".join(f"{k} {100 * v:.1f}%" for k, v in b["second_look_share"].items())
            shown += f"; fp32 second look: {shares} of rows"
        for name, s in b["sets"].items():
            r = b["ratios_to_torch"][name]
            lines.append(
                f"| {label} | {name} | {s['single']['p50_ms']} | {s['single']['p95_ms']} | "
                f"{s['single']['p99_ms']} | {s['batch']['per_second']} | {r['single_p50_speedup']}× | "
                f"{r['batch_throughput_ratio']}× | {shown} |"
            )
            shown = ""
    if any(b["backend"].endswith("-1-stream") for b in report["backends"]):
        lines += [
            "",
            f"`-1-stream`: the served variant as one run on {o['threads']} intra-op threads at a time (how "
            "the service ran before streams), against the other rows' single-threaded runs side by side.",
        ]
    if any(b["backend"].endswith("-shared-runs") for b in report["backends"]):
        lines += [
            "",
            f"`-shared-runs`: the variant with its rows in runs of up to {CPU_RUN_ROWS}. Its rows do not "
            "share runs in the service (an int8 exported before int8 was quantised per token, or one whose "
            "rows the gate found to depend on their runs): each runs alone, so that a message's scores do "
            "not depend on the other messages of its call (in shared runs they move with them); this row is "
            "what that costs.",
        ]
    if any(b["backend"].endswith("-no-signals") for b in report["backends"]):
        lines += [
            "",
            "`-no-signals`: the served variant without the learned confidence's signals (docs/router.md), "
            "what they cost: every other ONNX row computes them for the label sets whose export has evidence "
            "(single-message latency; batch throughput fetches the embedding but computes no signals).",
        ]
    lines += _in_turn_lines(report)
    lines += _http_lines(report["http"])
    if report.get("http_postgresql"):
        lines += _http_lines(report["http_postgresql"])
    lines += ["", "Variants of the export:", ""]
    for name, v in report["model"]["variants"].items():
        margins = v.get("second_look_margins") or {}
        margin = ", ".join(f"{m} ({name})" for name, m in margins.items())
        look = f" Rows whose top two probabilities differ by less than {margin} run again on fp32."
        look = look if margins else ""
        lines.append(f"- {name}: {v['reason']}{look}")
    return "\n".join(lines) + "\n"


def _in_turn_lines(report: dict[str, Any]) -> list[str]:
    """The section of serve.md on the served variant's and PyTorch's throughput rounds in turn."""
    in_turn = report.get("throughput_in_turn")
    if not in_turn:
        return []
    backend, pairs = in_turn["backend"], in_turn["pairs"]
    lines = [
        "",
        f"## Batch throughput in turn: {backend} and PyTorch",
        "",
        "The served variant and PyTorch (in a worker process) one throughput round at a time, "
        f"{pairs} rounds of each per text set (which goes first alternating), the same texts in batches of "
        f"{report['options']['batch_size']}: each ratio is of two rounds measured one after the other, so "
        "the host's speed, which moves from minute to minute on a shared machine, moves both. The table "
        "above has each backend's best round of its own, measured minutes apart.",
        "",
        f"| texts | PyTorch msg/s, median round | {backend} msg/s, median round | "
        "**ratio, median of the pairs** | ratio of each pair |",
        "|---|---:|---:|---:|---|",
    ]
    for name, s in in_turn["sets"].items():
        each = ", ".join(f"{r:.2f}" for r in s["ratios"])
        lines.append(
            f"| {name} | {statistics.median(s['torch_per_second']):.1f} | "
            f"{statistics.median(s['onnx_per_second']):.1f} | **{s['median_ratio']:.2f}×** | {each} |"
        )
    return lines


STORE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _http_lines(http: dict[str, Any]) -> list[str]:
    """The HTTP section of serve.md for one store."""
    store = STORE_NAMES.get(http.get("store", "sqlite"), http.get("store", "sqlite"))
    lines = [
        "",
        f"## HTTP `/v1/classify` on loopback, {store} (uvicorn, 1 worker, variant "
        f"{http['model']['variant']}, {http['model']['provider']})",
        "",
        f"Each request reads the message from {store}, classifies it, stores the prediction and the "
        "decision.",
        "",
        "| clients | requests | errors | p50 ms | p95 ms | p99 ms | req/s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for clients, r in http["concurrency"].items():
        lines.append(
            f"| {clients} | {r['requests']} | {r['errors']} | {r['p50_ms']} | {r['p95_ms']} | "
            f"{r['p99_ms']} | {r['per_second']} |"
        )
    paired = http.get("paired_with")
    if paired:
        other = STORE_NAMES.get(paired["store"], paired["store"])
        how = (
            f"in blocks of {paired['block']} messages, each block classified by one service and then by the "
            "other (the order alternating per block)"
            if "block" in paired
            else "in turn (the order alternating per message)"  # reports before session 32
        )
        lines += [
            "",
            f"With 1 client the same messages went to the {other} service and to this one {how}, both "
            f"running: the two stores measured over the same minutes of the host (req/s: over each store's "
            f"own request time). {store} minus {other}, per message, median: "
            f"**{paired['median_difference_ms']} ms** ({paired['requests']} messages).",
        ]
    check = http.get("client_check")
    if check:
        how = (
            f"the first {check['messages']} {check['texts']} messages again, the two clients in blocks of "
            f"{check['block']} (the order alternating per block)"
            if "block" in check
            else f"the first {check['messages']} messages again, with it and with httpx in turn"
        )
        lines += [
            "",
            "The measuring client is Python's `http.client` on one keep-alive connection, on the same cores "
            f"as the service (its own time is in every figure). How much a heavier client adds: {how}: "
            f"p50 **{check['http_client_p50_ms']} ms** with `http.client`, **{check['httpx_p50_ms']} ms** "
            "with httpx.",
        ]
    sets = sorted({name for r in http["concurrency"].values() for name in r.get("by_text_set", {})})
    if sets:
        lines += ["", "By text set (the same requests):", ""]
        lines += ["| clients | texts | p50 ms | p95 ms | p99 ms |", "|---:|---|---:|---:|---:|"]
        for clients, r in http["concurrency"].items():
            for name in sets:
                q = r["by_text_set"].get(name)
                if q:
                    lines.append(f"| {clients} | {name} | {q['p50_ms']} | {q['p95_ms']} | {q['p99_ms']} |")
    return lines
