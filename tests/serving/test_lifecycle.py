"""Model lifecycle: atomic swaps under load (none fail), promotions followed, failed loads keep the model."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from postroom.settings import get_settings
from postroom.store.models import Prediction
from serving.batching import MicroBatcher
from tests.serving.builders import copy_as_version, isolated
from tests.serving.conftest import MakeClient, auth
from training.registry import Registry


@pytest.fixture
def two_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serving_env: dict[str, str]) -> Registry:
    """An isolated registry: v0001 in production, v0002 (same files) a candidate, both exported."""
    exp = isolated(tmp_path)
    copy_as_version(exp, "v0002")
    monkeypatch.setenv("POSTROOM_MODELS_DIR", str(exp.registry_dir))
    get_settings.cache_clear()
    return Registry(exp.registry_dir)


def test_reload_under_concurrent_requests_fails_none(
    make_client: MakeClient,
    two_versions: Registry,
    serving_env: dict[str, str],
    stored: list[str],
    sessions: sessionmaker[Session],
) -> None:
    two_versions.approve("v0002", actor="test", reason="canary")  # a candidate may not be reloaded
    client = make_client(serve_max_batch=8)
    router, admin = auth(serving_env["router"]), auth(serving_env["admin"])
    statuses: Counter[int] = Counter()
    versions: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def hammer(offset: int) -> None:
        i = offset
        while not stop.is_set():
            response = client.post(
                "/v1/classify", json={"message_id": stored[i % len(stored)]}, headers=router
            )
            with lock:
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    versions[response.json()["model_version"]] += 1
            i += 1

    workers = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for w in workers:
        w.start()
    try:
        for target in ["v0002", "v0001", "v0002", "v0001"]:
            time.sleep(0.3)
            reloaded = client.post("/v1/admin/reload", json={"model": target}, headers=admin)
            assert reloaded.status_code == 200, reloaded.text
            assert reloaded.json()["current"]["version"] == target
        time.sleep(0.3)
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert set(statuses) == {200}, statuses
    assert set(versions) == {"v0001", "v0002"}
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == statuses[200]
        stored_versions = dict(
            session.execute(
                select(Prediction.model_version, func.count()).group_by(Prediction.model_version)
            ).all()
        )
    assert stored_versions == dict(versions)  # each result is stored under the model that computed it


def test_promotion_is_followed_and_a_version_without_export_is_not(
    make_client: MakeClient, two_versions: Registry, serving_env: dict[str, str]
) -> None:
    client = make_client(serve_watch_seconds=0.2)
    admin = auth(serving_env["admin"])
    assert client.get("/v1/admin/model", headers=admin).json()["version"] == "v0001"
    two_versions.approve("v0002", actor="test", reason="card read")
    two_versions.promote("v0002", actor="test")
    deadline = time.monotonic() + 30
    while client.get("/v1/admin/model", headers=admin).json()["version"] != "v0002":
        assert time.monotonic() < deadline, "the promotion was not followed"
        time.sleep(0.2)
    # a promoted version without an export: the service keeps serving the one it has
    export = two_versions.root / "exports" / "v0001"
    export.rename(export.with_name("moved"))
    two_versions.rollback(actor="test", reason="live F1 dropped")
    time.sleep(1.0)
    assert client.get("/v1/admin/model", headers=admin).json()["version"] == "v0002"
    assert client.get("/readyz").status_code == 200
    # exported, approved, promoted, archived and restored: both manifests are still as published
    assert [(v.version, v.verify()) for v in two_versions.versions()] == [("v0001", []), ("v0002", [])]


def test_a_corrupt_export_is_refused_with_the_reason(
    make_client: MakeClient, two_versions: Registry, serving_env: dict[str, str]
) -> None:
    two_versions.approve("v0002", actor="test", reason="canary")
    client = make_client()
    admin = auth(serving_env["admin"])
    graph = two_versions.root / "exports" / "v0002" / "fp32" / "shared.onnx"
    graph.unlink()  # a symlink into the shared export: replace it, never write through it
    graph.write_bytes(b"not a graph")
    response = client.post("/v1/admin/reload", json={"model": "v0002", "variant": "fp32"}, headers=admin)
    assert response.status_code == 503
    assert "does not match its checksum" in response.json()["detail"]
    assert client.get("/v1/admin/model", headers=admin).json()["version"] == "v0001"
    assert 'postroom_model_reloads_total{outcome="failure"} 1.0' in client.get("/metrics").text


class TestMicroBatcher:
    def test_waiting_requests_share_a_run_and_keep_their_order(self) -> None:
        calls: list[list[str]] = []
        gate = threading.Event()

        def run(texts):  # type: ignore[no-untyped-def]
            gate.wait(5)
            calls.append(list(texts))
            return [t.upper() for t in texts]

        batcher: MicroBatcher[str] = MicroBatcher(run, max_batch=8)
        results: dict[int, list[str]] = {}
        threads = [
            threading.Thread(target=lambda n=n: results.__setitem__(n, batcher.submit([f"a{n}", f"b{n}"])))
            for n in range(4)
        ]
        for t in threads:
            t.start()
        time.sleep(0.2)
        gate.set()
        for t in threads:
            t.join()
        assert results == {n: [f"A{n}", f"B{n}"] for n in range(4)}
        assert len(calls) < 4  # at least two requests shared a run
        assert all(len(c) <= 8 for c in calls)
        batcher.close()

    def test_an_error_reaches_every_waiting_caller_and_the_worker_lives_on(self) -> None:
        def run(texts):  # type: ignore[no-untyped-def]
            if "boom" in texts:
                raise ValueError("boom")
            return list(texts)

        batcher: MicroBatcher[str] = MicroBatcher(run, max_batch=4)
        with pytest.raises(ValueError):
            batcher.submit(["boom"])
        assert batcher.submit(["ok"]) == ["ok"]
        batcher.close()

    def test_close_finishes_queued_work_and_later_calls_run_inline(self) -> None:
        gate = threading.Event()

        def run(texts):  # type: ignore[no-untyped-def]
            gate.wait(5)
            return list(texts)

        batcher: MicroBatcher[str] = MicroBatcher(run, max_batch=2)
        results: list[list[str]] = []
        threads = [
            threading.Thread(target=lambda n=n: results.append(batcher.submit([str(n)]))) for n in range(5)
        ]
        for t in threads:
            t.start()
        time.sleep(0.1)
        closer = threading.Thread(target=batcher.close)
        closer.start()
        gate.set()
        closer.join()
        for t in threads:
            t.join()
        assert sorted(r[0] for r in results) == ["0", "1", "2", "3", "4"]
        assert batcher.submit(["late"]) == ["late"]


def test_the_service_runs_as_many_streams_as_its_settings_say(tmp_path: Path) -> None:
    from postroom.machine import usable_cores
    from postroom.settings import Settings
    from serving.lifecycle import build_classifier, resolve_source

    exp = isolated(tmp_path)
    source = resolve_source(exp.registry_dir, "production")
    one = build_classifier(source, Settings(serve_streams=1, serve_threads=2))
    three = build_classifier(source, Settings(serve_streams=3, serve_threads=1))
    assert (one.streams, one.threads) == (1, 2)
    assert (three.streams, three.threads) == (3, 1)
    shared = build_classifier(source, Settings(serve_workers=2))  # two processes, a model each
    assert shared.streams == max(1, usable_cores() // 2) and shared.threads == 1
