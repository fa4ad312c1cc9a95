"""Serving fixtures: the shared export, API keys of every role, and the app on a real store.

`client` runs the app in-process (FastAPI's TestClient, lifespan included) against the `engine` fixture's
store: SQLite, and PostgreSQL too when POSTROOM_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from postroom.ingest.records import IncomingMessage
from postroom.ingest.service import ingest_one
from postroom.settings import Settings, get_settings
from postroom.store.models import AuditEvent, Feedback, Label, ThresholdVersion
from serving.app import create_app
from serving.auth import add_key
from tests.serving.builders import MESSAGES, Exported, exported

ROLES = ("router", "lead", "admin")


@pytest.fixture(scope="session")
def shared() -> Exported:
    """The production version v0001 and its export (built once per test process)."""
    return exported()


@pytest.fixture
def failing_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GPU build whose CUDA provider cannot start (cuDNN missing): ONNX Runtime refuses a CUDA session,
    so the runtime falls back to the CPU, as on a machine with a driver but without the libraries."""
    import onnxruntime as ort

    from serving.runtime import CPU, CUDA

    real = ort.InferenceSession

    def session(path, options=None, providers=None, **kwargs):  # type: ignore[no-untyped-def]
        if providers and providers[0] == CUDA:
            raise RuntimeError("libcudnn.so.9: cannot open shared object file")
        return real(path, options, providers=providers, **kwargs)

    monkeypatch.setattr("serving.runtime.choose_providers", lambda _p: [CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", session)


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """One API key per role, in a keys file the app reads."""
    path = tmp_path / "api-keys.json"
    monkeypatch.setenv("POSTROOM_API_KEYS_FILE", str(path))
    return {role: add_key(path, f"test-{role}", role) for role in ROLES}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def serving_env(
    engine: Engine, shared: Exported, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Settings for an app on the test store, serving the shared export's registry; returns the keys."""
    monkeypatch.setenv("POSTROOM_MODELS_DIR", str(shared.registry_dir))
    monkeypatch.setenv("POSTROOM_SERVE_WATCH_SECONDS", "0")
    monkeypatch.setenv("POSTROOM_SERVE_THREADS", "1")
    get_settings.cache_clear()
    return keys


MakeClient = Callable[..., TestClient]


@contextmanager
def checked_clients(build_app: Callable[..., Any]) -> Iterator[MakeClient]:
    """Started (lifespan) test clients of `build_app(**overrides)`; when the test ends each is stopped, and
    the test fails if any request ended in an unexpected 500."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(build_app(**overrides), raise_server_exceptions=True)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        unhandled = client.app.state.services.metrics.unhandled  # type: ignore[attr-defined]
        total = sum(s.value for m in unhandled.collect() for s in m.samples if s.name.endswith("_total"))
        client.__exit__(None, None, None)
        assert total == 0, "a request ended in an unexpected 500"


@pytest.fixture
def make_client(serving_env: dict[str, str]) -> Iterator[MakeClient]:
    """Build apps with settings overrides; each is started and checked for 500s after."""
    with checked_clients(lambda **overrides: create_app(Settings(**overrides))) as make:
        yield make


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


@pytest.fixture
def stored(sessions: sessionmaker[Session]) -> list[str]:
    """The test messages, stored through the real ingestion; their IDs."""
    ids = []
    with sessions() as session:
        for index, (subject, body, labels) in enumerate(MESSAGES):
            message_id = f"msg-{index:03d}@example.org"
            ingest_one(
                session, IncomingMessage(message_id, body, "text", "test", subject=subject, labels=labels)
            )
            ids.append(message_id)
        session.commit()
    return ids


# ---------------------------------------------------------------- the lead's side, without a model

MakeLeadClient = Callable[[], TestClient]


@pytest.fixture
def make_lead_client(
    engine: Engine, keys: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MakeLeadClient]:
    """Start apps on the test store without a model (the lead's side needs none); each is checked for 500s."""
    monkeypatch.setenv("POSTROOM_MODELS_DIR", str(tmp_path / "no-models"))
    monkeypatch.setenv("POSTROOM_SERVE_WATCH_SECONDS", "0")
    get_settings.cache_clear()
    with checked_clients(lambda: create_app(get_settings())) as make:
        yield make


@pytest.fixture
def app_client(make_lead_client: MakeLeadClient) -> TestClient:
    return make_lead_client()


def call(client: TestClient, key: str | None, method: str, path: str, **kwargs: Any) -> Response:
    headers = {**kwargs.pop("headers", {}), **(auth(key) if key else {})}
    return client.request(method, path, headers=headers, **kwargs)


def counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return {
            t.__name__: session.scalar(select(func.count()).select_from(t)) or 0
            for t in (ThresholdVersion, Feedback, Label, AuditEvent)
        }


def change(client: TestClient, key: str, changes: dict[str, Any], reason: str = "test") -> Response:
    return call(client, key, "POST", "/v1/thresholds", json={"changes": changes, "reason": reason})
