"""A real Doccano for the round-trip tests, started once per test session on a free loopback port.

The install is cached in the repository's `.cache/doccano-venv` (git-ignored; a fresh CI clone installs it
here, about a minute). Each run gets a new temporary data dir, so no state leaks between runs.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from labeling.cli import register
from labeling.doccano import DoccanoClient
from postroom.clikit import CliRoots
from postroom.settings import get_settings
from tests.conftest import REPO_ROOT

SCRIPTS = REPO_ROOT / "scripts" / "doccano"
VENV = Path(os.environ.get("POSTROOM_DOCCANO_VENV", REPO_ROOT / ".cache" / "doccano-venv"))
EXPERT_PASSWORD = "expert-" + secrets.token_urlsafe(12)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DoccanoServer:
    """A Doccano started by scripts/doccano/start.sh, with its admin credentials."""

    url: str
    port: int
    data_dir: Path
    user: str
    password: str

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSTROOM_")}
        env.update(POSTROOM_DOCCANO_USER=self.user, POSTROOM_DOCCANO_PASSWORD=self.password)
        return env

    def start(self) -> float:
        """Start (or restart) it; returns the seconds it took (an install included, if one was needed)."""
        started = time.perf_counter()
        result = subprocess.run(
            [str(SCRIPTS / "start.sh"), "--data-dir", str(self.data_dir), "--port", str(self.port),
             "--venv", str(VENV), "--timeout", "180"],
            env=self._env(), capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"start.sh failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return time.perf_counter() - started

    def stop(self, only: str | None = None) -> None:
        args = [str(SCRIPTS / "stop.sh"), "--data-dir", str(self.data_dir)] + (
            ["--only", only] if only else []
        )
        subprocess.run(args, env=self._env(), capture_output=True, text=True, timeout=60, check=True)

    def admin(self, **kwargs: float) -> DoccanoClient:
        return DoccanoClient(self.url, self.user, self.password, poll_interval=0.2, **kwargs)

    def expert(self, username: str) -> DoccanoClient:
        """A Doccano user who is not Postroom: created on first use, logged in with its own token."""
        with self.admin() as admin:
            if admin.find_user(username) is None:
                admin.create_user(username, EXPERT_PASSWORD)
        return DoccanoClient(self.url, username, EXPERT_PASSWORD, poll_interval=0.2)


@pytest.fixture(scope="session")
def doccano_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DoccanoServer]:
    """A real Doccano 1.8.4 on loopback, stopped at the end of the session."""
    port = free_port()
    server = DoccanoServer(
        url=f"http://127.0.0.1:{port}",
        port=port,
        data_dir=tmp_path_factory.mktemp("doccano"),
        user="postroom-test",
        password="-" + secrets.token_urlsafe(16),  # a leading "-" once broke createuser's arguments
    )
    seconds = server.start()
    print(f"\nDoccano ready at {server.url} in {seconds:.0f} s")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def doccano(doccano_server: DoccanoServer) -> Iterator[DoccanoServer]:
    """The session's Doccano, running (a test that stopped it gets it restarted)."""
    if not (doccano_server.data_dir / "run" / "url").is_file():
        doccano_server.start()
    yield doccano_server
    if (
        not (doccano_server.data_dir / "run" / "url").is_file()
        or not (doccano_server.data_dir / "run" / "worker.pid").is_file()
    ):
        doccano_server.stop()
        doccano_server.start()


@pytest.fixture
def project_name() -> str:
    """A project of its own for each test."""
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cli() -> typer.Typer:
    """A `postroom`-shaped app with only the labeling commands registered."""
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    register(CliRoots(app=app, bench=bench))
    return app


def use_doccano(
    monkeypatch: pytest.MonkeyPatch, doccano: DoccanoServer, project_name: str, **overrides: str
) -> None:
    """Point the CLI's settings at the test's Doccano and project (`overrides`: more POSTROOM_ variables)."""
    settings = {
        "POSTROOM_DOCCANO_URL": doccano.url,
        "POSTROOM_DOCCANO_USER": doccano.user,
        "POSTROOM_DOCCANO_PASSWORD": doccano.password,
        "POSTROOM_DOCCANO_PROJECT": project_name,
        **overrides,
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
