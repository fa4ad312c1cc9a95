"""Shared fixtures: an isolated settings environment, and a migrated store on every available backend.

Every test that uses `store_url` runs against SQLite, and also against the real PostgreSQL when
`POSTROOM_TEST_POSTGRES_URL` is set (CI sets it). Each PostgreSQL test gets a schema of its own.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from postroom.offline import OFFLINE_ENV
from postroom.settings import get_settings
from postroom.store import create_store_engine, migrate, session_factory
from postroom.store.db import dispose_engines
from postroom.taxonomy import Taxonomy, load_taxonomy

POSTGRES_ENV = "POSTROOM_TEST_POSTGRES_URL"
REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def banking77_texts(name: str, limit: int) -> list[str]:
    """The `text` of the first `limit` lines of a BANKING77 split (skips the test when the data is absent)."""
    path = SHARED_DATA / "banking77" / name
    if not path.is_file():
        pytest.skip(f"public data not found at {path} (../shared/data next to the repository)")
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line, _ in zip(handle, range(limit), strict=False)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_url" in metafunc.fixturenames:
        backends = ["sqlite"] + (["postgresql"] if os.environ.get(POSTGRES_ENV) else [])
        metafunc.parametrize("backend", backends, indirect=False)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point every setting at a temporary data dir; no config file from the developer's shell leaks in."""
    for key in list(os.environ):
        if key.startswith("POSTROOM_") and key != POSTGRES_ENV:
            monkeypatch.delenv(key)
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("POSTROOM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def store_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database URL of the given backend (not migrated)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    base = make_url(os.environ[POSTGRES_ENV])
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as connection:  # a session a test left open would block this: fail, don't hang
            connection.execute(text("SET LOCAL lock_timeout = '20s'"))
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A migrated store; the settings point at it, so CLI commands use it too."""
    monkeypatch.setenv("POSTROOM_DATABASE_URL", store_url)
    get_settings.cache_clear()
    engine = create_store_engine(store_url)
    migrate(engine)
    yield engine
    engine.dispose()
    dispose_engines()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return load_taxonomy(REPO_ROOT / "postroom" / "resources" / "taxonomy.yaml")
