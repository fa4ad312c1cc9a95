"""Faults a real Doccano can't easily produce on demand: a server that hangs, nothing listening at all.

`HangingStubServer` is a stub, and named as one: it accepts connections and never answers.
Everything else about the client is tested against the real Doccano (test_roundtrip.py).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from labeling.doccano import DoccanoClient
from labeling.errors import DoccanoTimeout, DoccanoUnavailable, UploadFailed
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


def test_nothing_listening_says_how_to_start_doccano() -> None:
    with (
        DoccanoClient(f"http://127.0.0.1:{free_port()}", "u", "p", timeout=2) as client,
        pytest.raises(DoccanoUnavailable, match="is it running.*make doccano"),
    ):
        client.health()


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
