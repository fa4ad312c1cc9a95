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
from serving.errors import ModelNotLoaded


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RunningService:
    url: str
    model: dict[str, Any]
    process: subprocess.Popen[str]


PORT_ATTEMPTS = 3  # another process may take the free port between choosing it and uvicorn binding it
_PORT_TAKEN = "address already in use"
MODEL_NOT_LOADED = ModelNotLoaded.__name__  # /readyz's error when the model could not load


def http_problem(response: httpx.Response) -> tuple[str, str]:
    """(error, detail) of a service's error answer `{"error", "detail"}`; for any other body, the HTTP
    reason and the start of the text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        return str(body.get("error") or response.reason_phrase), str(body["detail"])
    return response.reason_phrase, response.text[:200]


def wait_ready(
    url: str, process: subprocess.Popen[str] | None, timeout: float, model: bool = True
) -> dict[str, Any]:
    """Poll /readyz until the service is ready and return the model it serves; with `model=False`, poll
    /healthz until it answers (a service without a model) and return {}.

    A service that answers but could not load its model (`ModelNotLoaded`: the model loads before the service
    answers, so it is a failure, not a start in progress) fails at once with the reason."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    path = "/readyz" if model else "/healthz"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = (process.stderr.read() if process.stderr else "")[-2000:]
            raise PostroomError(f"the service exited with code {process.returncode}: {tail}")
        try:
            response = httpx.get(f"{url}{path}", timeout=5)
            if response.status_code == 200:
                return dict(response.json()["model"]) if model else {}
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            last = type(exc).__name__
        else:
            error, last = http_problem(response)
            if error == MODEL_NOT_LOADED:
                raise PostroomError(f"the service at {url} cannot serve: {last}")
        time.sleep(0.3)
    raise PostroomError(f"the service at {url} was not ready after {timeout:.0f} s: {last}")


def _start(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
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


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextmanager
def running_service(
    env: dict[str, str], timeout: float = 180, model: bool = True
) -> Iterator[RunningService]:
    """uvicorn running `serving.app:create_app` on 127.0.0.1 with POSTROOM_* overrides; stopped after.

    `model=False`: ready once it answers /healthz (the lead's side needs no model). A port taken by another
    process before uvicorn bound it is retried on a new one (`PORT_ATTEMPTS`)."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        process = _start(env, port)
        url = f"http://127.0.0.1:{port}"
        try:
            ready = wait_ready(url, process, timeout, model)
        except PostroomError as exc:
            _stop(process)
            if _PORT_TAKEN in str(exc).lower() and attempt < PORT_ATTEMPTS:
                continue
            raise
        break
    try:
        yield RunningService(url, ready, process)
    finally:
        _stop(process)
