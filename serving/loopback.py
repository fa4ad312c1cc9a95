"""Start the real service on a free loopback port in a subprocess (benchmark, demo, integration tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from postroom.errors import PostroomError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RunningService:
    url: str
    model: dict[str, Any]
    process: subprocess.Popen[str]


def wait_ready(url: str, process: subprocess.Popen[str] | None, timeout: float) -> dict[str, Any]:
    """Poll /readyz until the service is ready; returns the model it serves."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = (process.stderr.read() if process.stderr else "")[-2000:]
            raise PostroomError(f"the service exited with code {process.returncode}: {tail}")
        try:
            response = httpx.get(f"{url}/readyz", timeout=5)
            if response.status_code == 200:
                return dict(response.json()["model"])
            last = str(response.json().get("detail", response.text))
        except (httpx.HTTPError, ValueError) as exc:
            last = type(exc).__name__
        time.sleep(0.3)
    raise PostroomError(f"the service at {url} was not ready after {timeout:.0f} s: {last}")


@contextmanager
def running_service(env: dict[str, str], timeout: float = 180) -> Iterator[RunningService]:
    """uvicorn running `serving.app:create_app` on 127.0.0.1 with POSTROOM_* overrides; stopped after."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "serving.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        model = wait_ready(url, process, timeout)
        yield RunningService(url, model, process)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
