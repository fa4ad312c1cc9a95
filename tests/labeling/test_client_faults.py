"""Faults a real Doccano can't easily produce on demand: a server that hangs, nothing listening at all.

`HangingStubServer` is a stub, and named as one: it accepts connections and never answers.
`UnhealthyStubServer` answers the health check as a real Doccano with its worker down does (measured; the
real case is also tested in test_roundtrip.py).
Everything else about the client is tested against the real Doccano (test_roundtrip.py).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from labeling.doccano import DoccanoClient, start_hint, unhealthy_message
from labeling.errors import DoccanoError, DoccanoTimeout, DoccanoUnavailable, UploadFailed
from postroom.errors import ConfigError, PostroomError
from postroom.settings import DEV_PASSWORD, Settings, get_settings
from tests.labeling.conftest import free_port


class HangingStubServer:
    """A TCP server on loopback that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self._held.append(conn)
            except TimeoutError:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self.sock.close()


@pytest.fixture
def hanging_stub() -> Iterator[HangingStubServer]:
    server = HangingStubServer()
    yield server
    server.close()


def test_a_hanging_server_times_out_with_a_clear_error(hanging_stub: HangingStubServer) -> None:
    started = time.monotonic()
    with (
        DoccanoClient(hanging_stub.url, "u", "p", timeout=0.5) as client,
        pytest.raises(DoccanoTimeout, match=r"did not answer POST /v1/auth/login/ within 0.5 s"),
    ):
        client.me()
    assert time.monotonic() - started < 5


def test_nothing_listening_names_the_url_and_suggests_make_doccano_only_for_the_default() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        DoccanoClient(url, "u", "p", timeout=2) as client,
        pytest.raises(DoccanoUnavailable, match="is it running at") as raised,
    ):
        client.health()
    assert url in str(raised.value) and "make doccano" not in str(raised.value)
    assert "make doccano" in start_hint("http://127.0.0.1:8800")  # the default URL: where make starts it
    assert "make doccano" in start_hint("http://localhost:8800/")
    assert "make doccano" not in start_hint("https://doccano.bank.example")


# What Doccano 1.8.4 answers to GET /v1/health/ with its task worker stopped (measured: status 500).
WORKER_DOWN_BODY = {
    "Cache(alias='default')": "OK",
    "CeleryHealthCheckCelery": "unavailable: TimeoutError: The task took too long to return a result",
    "DefaultFileStorageHealthCheck(alias='default')": "OK",
    "MigrationsHealthCheck": "OK",
}


class UnhealthyStubServer:
    """An HTTP stub on loopback answering every GET with one status and JSON body (a sick Doccano)."""

    def __init__(self, status: int, body: object) -> None:
        payload = json.dumps(body).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


def test_health_names_the_failed_check_and_the_task_worker() -> None:
    stub = UnhealthyStubServer(500, WORKER_DOWN_BODY)
    try:
        with DoccanoClient(stub.url, "u", "p") as client, pytest.raises(DoccanoUnavailable) as raised:
            client.health()
    finally:
        stub.close()
    message = str(raised.value)
    assert message.startswith(
        "Doccano's task worker is not running (CeleryHealthCheckCelery: unavailable: TimeoutError: The task "
        "took too long to return a result): start it (scripts/doccano/start.sh"
    )
    assert "imports and exports need it" in message and "\n" not in message
    sick = {**WORKER_DOWN_BODY, "CeleryHealthCheckCelery": "OK", "MigrationsHealthCheck": "unavailable: x"}
    assert unhealthy_message("http://d", 500, sick) == (
        "Doccano at http://d failed its health check (MigrationsHealthCheck: unavailable: x)"
    )
    assert "without a list of checks" in unhealthy_message("http://d", 502, None)


def test_rows_with_different_keys_are_refused_before_any_upload() -> None:
    with (
        DoccanoClient(f"http://127.0.0.1:{free_port()}", "u", "p") as client,  # nothing is sent
        pytest.raises(UploadFailed, match="same keys"),
    ):
        client.upload_examples(1, [{"text": "a", "label": []}, {"text": "b", "label": [], "x": 1}])


def test_errors_are_postroom_errors() -> None:
    for error in (DoccanoTimeout, DoccanoUnavailable, UploadFailed):
        assert issubclass(error, PostroomError)


def test_the_dev_password_is_refused_off_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().doccano_password.get_secret_value() == DEV_PASSWORD  # fine on loopback
    monkeypatch.setenv("POSTROOM_DOCCANO_URL", "https://doccano.bank.example")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="dev-only default"):
        get_settings()
    monkeypatch.setenv("POSTROOM_DOCCANO_PASSWORD", "a-real-one")
    settings = Settings()
    assert settings.doccano_sim_password.get_secret_value() == ""  # the demo expert needs its own too
    assert settings.doccano_project_name("nordhafen-bank") == "postroom-nordhafen-bank"


class ShapelessStubServer:
    """A stub that logs in like Doccano but answers `/v1/me` without the user's id (another server, or a
    changed API)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._answer({"key": "token"})

            def do_GET(self) -> None:
                self._answer({"username": "someone"})

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_answer_without_a_key_doccano_sends_is_a_doccano_error_naming_it() -> None:
    stub = ShapelessStubServer()
    try:
        with (
            DoccanoClient(stub.url, "u", "p", timeout=5) as client,
            pytest.raises(DoccanoError, match=r"answer to GET /v1/me has no 'id': is this Doccano 1.8.4\?"),
        ):
            client.me()
    finally:
        stub.close()


def test_a_redirecting_server_is_named_not_taken_for_a_wrong_password() -> None:
    """A reverse proxy that sends http to https answers 301: that is not a refused login."""

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(301)
            self.send_header("Location", "https://doccano.bank.example/v1/auth/login/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with (
            DoccanoClient(url, "u", "p", timeout=5) as client,
            pytest.raises(DoccanoError, match=r"redirects the login \(301\) to https://doccano.bank.example"),
        ):
            client.me()
    finally:
        server.shutdown()
        server.server_close()
