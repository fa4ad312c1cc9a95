"""Bad input never gets a 500 and never costs stored data: malformed JSON, wrong types, huge bodies, missing
or odd IDs, empty text, no model, a failing store. (`make_client` also fails a test on any unexpected 500.)"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, make_url, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from postroom.settings import get_settings
from postroom.store.models import Feedback, Message, Prediction, RoutingDecision, ThresholdVersion
from tests.serving.conftest import MakeClient, auth


def _counts(sessions: sessionmaker[Session]) -> tuple[int, int, int]:
    with sessions() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(t)) or 0
            for t in (Message, Prediction, RoutingDecision)
        )


@pytest.mark.parametrize(
    "payload",
    [
        b"{bad json",
        b"",
        b"\xff\xfe{}",
        b"[" * 50_000,
        b"null",
        b"[]",
        b'"a string"',
        b"{}",
        b'{"message_id": null}',
        b'{"message_id": 1.5}',
        b'{"message_id": true}',
        b'{"message_id": ["a"]}',
        b'{"message_id": {"a": 1}}',
        b'{"message_id": "a", "extra": 1}',
    ],
)
def test_classify_rejects_malformed_or_mistyped_bodies(
    client: TestClient, serving_env: dict[str, str], payload: bytes
) -> None:
    response = client.post(
        "/v1/classify",
        content=payload,
        headers={**auth(serving_env["router"]), "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422), response.text
    assert set(response.json()) == {"error", "detail"}
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("message_id", "reason"),
    [
        ("", "missing message_id"),
        ("   ", "missing message_id"),
        ("<>", "missing message_id"),
        ("< >", "missing message_id"),
        ("<< >>", "missing message_id"),
        ("a\x00b", "control character U+0000"),
        ("line\nbreak", "control character U+000A"),
        ("r\x85x", "control character U+0085"),
        ("x" * 513, "longer than 512"),
        ("card\u200b@x", "invisible character U+200B"),
        ("\ufeffcard@x", "invisible character U+FEFF"),
        ("card@x\u202e", "invisible character U+202E"),
        ("ca\u2066rd@x", "invisible character U+2066"),
        ("ca\u200frd@x", "invisible character U+200F"),
        ("r\u00adx", "invisible character U+00AD"),
        ("r\u061cx", "invisible character U+061C"),
        ("r\u2060x", "invisible character U+2060"),
        ("r\u2028x", "invisible character U+2028"),
        ("r\u034fx", "invisible character U+034F"),
        ("r\u180ex", "invisible character U+180E"),
    ],
)
def test_bad_ids_are_422_with_the_reason(
    client: TestClient,
    serving_env: dict[str, str],
    sessions: sessionmaker[Session],
    message_id: str,
    reason: str,
) -> None:
    key = auth(serving_env["router"])
    for path, body in (
        ("/v1/classify", {"message_id": message_id}),
        ("/v1/messages", {"message_id": message_id, "body": "hi"}),
        ("/v1/feedback", {"message_id": message_id, "final_labels": {"topic": "account_statement"}}),
    ):
        response = client.post(path, json=body, headers=key)
        assert response.status_code == 422, (path, response.text)
        assert reason in response.json()["detail"]
    batch = client.post("/v1/classify/batch", json={"message_ids": [message_id]}, headers=key).json()
    assert batch["results"][0]["status"] == 422 and reason in batch["results"][0]["error"]["detail"]
    if message_id.strip() and len(message_id) < 100:  # the ID in the path, URL-encoded
        read = client.get(f"/v1/messages/{quote(message_id, safe='')}", headers=key)
        assert read.status_code == 422 and reason in read.json()["detail"], read.text
    assert _counts(sessions) == (0, 0, 0)


def test_an_id_with_an_invisible_character_is_refused_as_a_raw_email(
    client: TestClient, serving_env: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    raw = "Message-ID: <card\u200b@x>\r\nSubject: s\r\n\r\nPlease block my card.".encode()
    headers = {**auth(serving_env["router"]), "Content-Type": "message/rfc822"}
    response = client.post("/v1/messages", content=raw, headers=headers)
    assert response.status_code == 422 and "invisible character U+200B" in response.json()["detail"]
    assert _counts(sessions) == (0, 0, 0)


@pytest.mark.parametrize("encoded", ["a%0Ab", "a%0D%0Ab", "a%0Bb", "a%7Fb", "a%0A%0Ab%09"])
def test_an_id_in_the_path_with_line_breaks_is_422_not_404(
    client: TestClient, serving_env: dict[str, str], encoded: str
) -> None:
    response = client.get(f"/v1/messages/{encoded}", headers=auth(serving_env["router"]))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "InvalidRequest"
    assert response.json()["detail"].startswith("message_id contains the control character U+00")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"message_id": "m1", "body": 5}, "body must be a string"),
        ({"message_id": "m1"}, "needs exactly one of body, html or raw"),
        ({"message_id": "m1", "body": ""}, "needs exactly one of body, html or raw, got an empty body"),
        ({"message_id": "m1", "body": "a", "html": "<p>b</p>"}, "needs exactly one"),
        ({"message_id": "m1", "body": "a", "colour": "red"}, "unknown field"),
        ({"message_id": "m1", "body": "a", "topic": "no_such_class"}, "unknown class"),
        ({"message_id": "m1", "body": "a", "received_at": "yesterday"}, "ISO 8601"),
        ({"message_id": "m1", "body": "a", "metadata": [1]}, "metadata must be an object"),
    ],
)
def test_bad_messages_are_422_and_nothing_is_stored(
    client: TestClient, serving_env: dict[str, str], sessions: sessionmaker[Session], body: dict, reason: str
) -> None:
    response = client.post("/v1/messages", json=body, headers=auth(serving_env["router"]))
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]
    assert _counts(sessions) == (0, 0, 0)


def test_nested_json_and_bad_utf8_messages(client: TestClient, serving_env: dict[str, str]) -> None:
    headers = {**auth(serving_env["router"]), "Content-Type": "application/json"}
    for payload in (b"[" * 50_000, b'{"message_id": "\xff"}', b"[1, 2]"):
        response = client.post("/v1/messages", content=payload, headers=headers)
        assert response.status_code == 422, response.text


def test_wrong_media_type_method_and_route(client: TestClient, serving_env: dict[str, str]) -> None:
    key = auth(serving_env["router"])
    plain = client.post("/v1/messages", content=b"hello", headers={**key, "Content-Type": "text/plain"})
    assert plain.status_code == 415 and plain.json()["error"] == "UnsupportedMediaType"
    assert client.post("/v1/messages", content=b"hello", headers=key).status_code == 415
    wrong_method = client.get("/v1/classify", headers=key)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "MethodNotAllowed"
    missing = client.get("/v2/nothing", headers=key)
    assert missing.status_code == 404 and missing.json()["error"] == "NotFound"
    empty_rfc822 = client.post(
        "/v1/messages", content=b"  ", headers={**key, "Content-Type": "message/rfc822"}
    )
    assert empty_rfc822.status_code == 422 and "empty message" in empty_rfc822.json()["detail"]
    no_id = client.post(
        "/v1/messages", content=b"Subject: hi\r\n\r\nbody", headers={**key, "Content-Type": "message/rfc822"}
    )
    assert no_id.status_code == 422 and "no Message-ID header" in no_id.json()["detail"]


class TestHugeBodies:
    @pytest.fixture
    def small(self, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch) -> TestClient:
        monkeypatch.setenv("POSTROOM_MAX_MESSAGE_BYTES", "2048")
        get_settings.cache_clear()
        return make_client(serve_max_request_bytes=4096)

    def test_declared_length_over_the_limit_is_413(
        self, small: TestClient, serving_env: dict[str, str], sessions: sessionmaker[Session]
    ) -> None:
        body = {"message_id": "big", "body": "x" * 5000}
        response = small.post("/v1/messages", json=body, headers=auth(serving_env["router"]))
        assert response.status_code == 413 and response.json()["error"] == "PayloadTooLarge"
        assert _counts(sessions) == (0, 0, 0)

    def test_streamed_body_over_the_limit_is_413(
        self, small: TestClient, serving_env: dict[str, str]
    ) -> None:
        def chunks() -> Iterator[bytes]:
            yield b'{"message_id": "big", "body": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}'

        response = small.post(
            "/v1/messages",
            content=chunks(),
            headers={**auth(serving_env["router"]), "Content-Type": "application/json"},
        )
        assert response.status_code == 413

    @pytest.mark.parametrize("path", ["/healthz", "/readyz", "/lead", "/metrics", "/nowhere"])
    def test_a_body_sent_outside_the_api_is_413_unread(self, client: TestClient, path: str) -> None:
        """Paths outside /v1/ need no key: a body there (no route takes one) is not held in memory."""

        def chunks() -> Iterator[bytes]:
            for _ in range(64):
                yield b"x" * 1024

        response = client.post(path, content=chunks())  # no Content-Length: counted as it comes
        assert response.status_code == 413 and "no endpoint outside /v1/ takes a body" in response.text
        declared = client.post(path, content=b"x" * 5000)
        assert declared.status_code == 413
        assert client.post(path, content=b"x" * 100).status_code in (404, 405)  # small: the route's answer

    def test_message_over_the_message_limit_is_413(
        self, small: TestClient, serving_env: dict[str, str]
    ) -> None:
        raw = b"Message-ID: <a@b>\r\nSubject: s\r\n\r\n" + b"y" * 3000
        response = small.post(
            "/v1/messages",
            content=raw,
            headers={**auth(serving_env["router"]), "Content-Type": "message/rfc822"},
        )
        assert response.status_code == 413
        assert "POSTROOM_MAX_MESSAGE_BYTES" in response.json()["detail"]

    def test_a_body_within_the_limit_passes(self, small: TestClient, serving_env: dict[str, str]) -> None:
        response = small.post(
            "/v1/messages", json={"message_id": "ok", "body": "x" * 1000}, headers=auth(serving_env["router"])
        )
        assert response.status_code == 201


def test_empty_text_goes_to_triage(
    client: TestClient, serving_env: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    key = auth(serving_env["router"])
    assert (
        client.post("/v1/messages", json={"message_id": "blank", "html": "<p> </p>"}, headers=key).status_code
        == 201
    )
    response = client.post("/v1/classify", json={"message_id": "blank"}, headers=key)
    assert response.status_code == 200, response.text
    decision = response.json()["decision"]
    assert decision == {**decision, "decision": "human", "queue": "triage"}
    assert "no text" in decision["reasons"][0]
    assert _counts(sessions) == (1, 1, 1)


def test_no_model_is_503_with_the_reason_and_ingest_still_works(
    make_client: MakeClient, serving_env: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    client = make_client(serve_model="v0099")
    key = auth(serving_env["router"])
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "v0099" in ready.json()["detail"]
    assert (
        client.post("/v1/messages", json={"message_id": "m", "body": "Hallo"}, headers=key).status_code == 201
    )
    for path, body in (("/v1/classify", {"message_id": "m"}), ("/v1/classify/batch", {"message_ids": ["m"]})):
        response = client.post(path, json=body, headers=key)
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "ModelNotLoaded"
        assert "v0099" in response.json()["detail"] and response.headers["retry-after"] == "5"
    assert client.get("/healthz").status_code == 200
    assert "postroom_model_loaded 0.0" in client.get("/metrics").text
    assert _counts(sessions) == (1, 0, 0)


def test_nothing_in_production_says_what_to_do(
    make_client: MakeClient, serving_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("POSTROOM_MODELS_DIR", str(tmp_path / "empty-registry"))
    get_settings.cache_clear()
    detail = make_client().get("/readyz").json()["detail"]
    assert "no model version is in production" in detail and "postroom export" in detail


def test_a_failing_store_is_503_and_leaves_no_partial_rows(
    client: TestClient,
    serving_env: dict[str, str],
    stored: list[str],
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _counts(sessions)

    def broken_commit(self: Session) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk full"))

    monkeypatch.setattr(Session, "commit", broken_commit)
    key = auth(serving_env["router"])
    single = client.post("/v1/classify", json={"message_id": stored[0]}, headers=key)
    assert single.status_code == 503 and single.json()["error"] == "StoreError"
    batch = client.post("/v1/classify/batch", json={"message_ids": stored[:2]}, headers=key).json()
    assert [r["status"] for r in batch["results"]] == [503, 503]
    message = client.post("/v1/messages", json={"message_id": "new", "body": "hi"}, headers=key)
    assert message.status_code == 503
    monkeypatch.undo()
    assert _counts(sessions) == before


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/v1/messages", b'{"message_id": "s1@x", "body": "bad \\ud800 text"}'),
        ("/v1/messages", b'{"message_id": "s1@x", "subject": "\\udfff", "body": "text"}'),
        ("/v1/messages", b'{"message_id": "a\\ud800b", "body": "text"}'),
        ("/v1/classify", b'{"message_id": "a\\ud800b"}'),
    ],
)
def test_lone_surrogates_are_422_and_nothing_is_stored(
    client: TestClient,
    serving_env: dict[str, str],
    sessions: sessionmaker[Session],
    path: str,
    payload: bytes,
) -> None:
    headers = {**auth(serving_env["router"]), "Content-Type": "application/json"}
    response = client.post(path, content=payload, headers=headers)
    assert response.status_code == 422, response.text
    assert "lone surrogate" in response.json()["detail"]
    assert _counts(sessions) == (0, 0, 0)
    batch = client.post("/v1/classify/batch", content=b'{"message_ids": ["a\\ud800b"]}', headers=headers)
    assert batch.status_code == 200 and batch.json()["results"][0]["status"] == 422


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/v1/classify", "router"),
        ("/v1/classify/batch", "router"),
        ("/v1/feedback", "router"),
        ("/v1/thresholds", "lead"),
        ("/v1/thresholds/rollback", "lead"),
        ("/v1/thresholds/suggest/apply", "lead"),
        ("/v1/admin/reload", "admin"),
    ],
)
def test_json_endpoints_refuse_other_media_types_with_415(
    client: TestClient, serving_env: dict[str, str], path: str, role: str
) -> None:
    key = auth(serving_env[role])
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = client.post(path, content=b"message_id=a", headers={**key, "Content-Type": content_type})
        assert response.status_code == 415, response.text
        assert response.json()["error"] == "UnsupportedMediaType"
        assert content_type in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "role", "payload"),
    [
        ("/v1/classify", "router", b'{"message_id": "a", "message_id": "b"}'),
        ("/v1/classify/batch", "router", b'{"message_ids": ["a"], "message_ids": ["b"]}'),
        ("/v1/feedback", "router", b'{"message_id": "a", "final": {"topic": "x", "topic": "y"}}'),
        ("/v1/thresholds", "lead", b'{"reason": "r", "reason": "s", "changes": {}}'),
        ("/v1/messages", "router", b'{"message_id": "m1", "body": "keep me", "body": "or me"}'),
    ],
)
def test_a_key_given_twice_is_422_not_last_wins(
    client: TestClient,
    serving_env: dict[str, str],
    sessions: sessionmaker[Session],
    path: str,
    role: str,
    payload: bytes,
) -> None:
    headers = {**auth(serving_env[role]), "Content-Type": "application/json"}
    response = client.post(path, content=payload, headers=headers)
    assert response.status_code == 422, response.text
    assert "the body names a key twice: duplicate key" in response.json()["detail"]
    assert _counts(sessions) == (0, 0, 0)


def test_a_batch_item_that_is_not_an_id_fails_alone(client: TestClient, serving_env: dict[str, str]) -> None:
    ids = [None, 1.5, True, {"a": 1}, "missing@x"]
    key = auth(serving_env["router"])
    response = client.post("/v1/classify/batch", json={"message_ids": ids}, headers=key)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [422, 422, 422, 422, 404]
    assert [r["message_id"] for r in results[:4]] == ["null", "1.5", "true", '{"a": 1}']


def test_reload_names_a_model_or_none(client: TestClient, serving_env: dict[str, str]) -> None:
    key = auth(serving_env["admin"])
    empty = client.post("/v1/admin/reload", json={"model": ""}, headers=key)
    assert empty.status_code == 422 and "model" in empty.json()["detail"]
    assert client.post("/v1/admin/reload", headers=key).status_code == 200  # no body: the configured model


@pytest.mark.parametrize("key", [None, "pr_not-a-key"])
def test_without_a_valid_key_the_body_is_not_read(
    client: TestClient, serving_env: dict[str, str], key: str | None
) -> None:
    """401 comes first: a caller without a key learns nothing of how bodies are parsed, and sends none."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    for payload in (b"{bad json", b'{"message_id": "a\\ud800b"}'):
        response = client.post("/v1/classify", content=payload, headers=headers)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    huge = client.post("/v1/messages", content=b"x" * 64, headers={**headers, "Content-Length": str(10**12)})
    assert huge.status_code == 401  # not 413: the body limit is never reached
    keyed = {**auth(serving_env["router"]), "Content-Type": "application/json"}
    with_key = client.post("/v1/classify", content=b"{bad json", headers=keyed)
    assert with_key.status_code in (400, 422)


@pytest.mark.parametrize(
    ("path", "role", "payload", "where"),
    [
        (
            "/v1/feedback",
            "router",
            {"message_id": "m", "final_labels": {"queue": "cards"}, "agent": "a\x00b"},
            "body.agent",
        ),
        (
            "/v1/feedback",
            "router",
            {"message_id": "m", "final_labels": {"queue\x00": "cards"}},
            "body.final_labels: a key",
        ),
        ("/v1/thresholds", "lead", {"reason": "a\x00b", "changes": {"queue": {"cards": 0.9}}}, "body.reason"),
        ("/v1/thresholds/rollback", "lead", {"version": 1, "reason": "a\x00b"}, "body.reason"),
        (
            "/v1/thresholds/suggest/apply",
            "lead",
            {"model_version": "v\x00", "reason": "r"},
            "body.model_version",
        ),
        ("/v1/admin/reload", "admin", {"model": "v\x00"}, "body.model"),
        ("/v1/messages", "router", {"message_id": "n1", "sender": "a\x00@x", "body": "b"}, "body.sender"),
        (
            "/v1/messages",
            "router",
            {"message_id": "n2", "metadata": {"k": "v\x00"}, "body": "b"},
            "body.metadata.k",
        ),
    ],
)
def test_a_nul_character_in_any_json_string_is_422_on_every_store(
    client: TestClient,
    serving_env: dict[str, str],
    sessions: sessionmaker[Session],
    path: str,
    role: str,
    payload: dict,
    where: str,
) -> None:
    """PostgreSQL refuses NUL in text (a 500 before); SQLite would have stored it. No field takes one."""
    response = client.post(path, json=payload, headers=auth(serving_env[role]))
    assert response.status_code == 422, response.text
    assert response.json() == {
        "error": "InvalidRequest",
        "detail": f"{where}: contains a NUL character (U+0000), which no field accepts",
    }
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ThresholdVersion)) == 0
        assert session.scalar(select(func.count()).select_from(Feedback)) == 0
        assert session.scalar(select(func.count()).select_from(Message)) == 0


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/v1/events?kind=a%00b", "lead"),
        ("/v1/thresholds/suggest?model_version=v%00", "lead"),
        ("/v1/lead/overview?model_version=v%00", "lead"),
        ("/healthz?x%00=1", "router"),
    ],
)
def test_a_nul_character_in_a_query_parameter_is_422(
    client: TestClient, serving_env: dict[str, str], path: str, role: str
) -> None:
    response = client.get(path, headers=auth(serving_env[role]))
    assert response.status_code == 422, response.text
    assert "contains a NUL character (U+0000)" in response.json()["detail"]


def test_a_lone_surrogate_in_any_json_string_is_named(
    client: TestClient, serving_env: dict[str, str]
) -> None:
    payload = b'{"message_id": "m", "final_labels": {"queue": "cards"}, "agent": "a\\ud800"}'
    headers = {**auth(serving_env["router"]), "Content-Type": "application/json"}
    response = client.post("/v1/feedback", content=payload, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"] == "body.agent: not valid Unicode (lone surrogate)"


def test_metadata_nested_too_deeply_is_refused_at_ingest_so_every_message_reads_back(
    client: TestClient, serving_env: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    key = auth(serving_env["router"])
    deep = {"message_id": "deep@x", "body": "a", "metadata": {"a": json.loads("[" * 300 + "]" * 300)}}
    response = client.post("/v1/messages", json=deep, headers=key)
    assert response.status_code == 422 and "nested deeper than 32 levels" in response.json()["detail"]
    fits = {"message_id": "fits@x", "body": "a", "metadata": {"a": json.loads("[" * 30 + "]" * 30)}}
    assert client.post("/v1/messages", json=fits, headers=key).status_code == 201
    assert client.get("/v1/messages/fits@x", headers=key).status_code == 200
    assert _counts(sessions)[0] == 1


def test_a_long_sender_is_422_as_a_field_and_cut_from_an_email(
    client: TestClient, serving_env: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    key = auth(serving_env["router"])
    response = client.post(
        "/v1/messages", json={"message_id": "s@x", "body": "a", "sender": "a" * 1025}, headers=key
    )
    assert response.status_code == 422 and response.json()["detail"] == "sender longer than 1024 characters"
    mailboxes = ", ".join(f"Person {i} <p{i}@example.com>" for i in range(60))
    raw = f"Message-ID: <many@x>\r\nFrom: {mailboxes}\r\nSubject: s\r\n\r\nPlease call me.".encode()
    stored = client.post("/v1/messages", content=raw, headers={**key, "Content-Type": "message/rfc822"})
    assert stored.status_code == 201, stored.text
    assert len(client.get("/v1/messages/many@x", headers=key).json()["sender"]) == 1024


def test_ids_normalise_once_so_what_is_stored_is_found(
    client: TestClient, serving_env: dict[str, str]
) -> None:
    key = auth(serving_env["router"])
    for given, stored in (("< sp@x >", "sp@x"), ("<<dbl@x>>", "dbl@x"), ("col@x>", "col@x>")):
        response = client.post("/v1/messages", json={"message_id": given, "body": given}, headers=key)
        assert response.status_code == 201 and response.json()["message_id"] == stored
        assert client.get(f"/v1/messages/{quote(stored, safe='')}", headers=key).status_code == 200
    other = client.post("/v1/messages", json={"message_id": "col@x", "body": "x"}, headers=key)
    assert other.status_code == 201  # not the same ID as "col@x>"


def test_ids_are_matched_exactly_with_no_unicode_normalisation(
    client: TestClient, serving_env: dict[str, str]
) -> None:
    """`é` as one code point (NFC) and as `e` plus a combining accent (NFD) are two IDs, as the issuing system
    compares them: neither finds the other, and storing the second does not touch the first."""
    key = auth(serving_env["router"])
    composed, decomposed = "caf\u00e9@x", "cafe\u0301@x"
    first = client.post("/v1/messages", json={"message_id": composed, "body": "eins"}, headers=key)
    assert first.status_code == 201 and first.json()["message_id"] == composed
    missing = client.post("/v1/classify", json={"message_id": decomposed}, headers=key)
    assert missing.status_code == 404 and missing.json()["error"] == "MessageNotFound"
    second = client.post("/v1/messages", json={"message_id": decomposed, "body": "zwei"}, headers=key)
    assert second.status_code == 201 and second.json()["message_id"] == decomposed
    for message_id, body in ((composed, "eins"), (decomposed, "zwei")):
        stored = client.get(f"/v1/messages/{quote(message_id, safe='')}", headers=key).json()
        assert stored["message_id"] == message_id and stored["cleaned_text"] == body


def test_reloading_a_name_too_long_for_a_file_is_404_and_counted(
    client: TestClient, serving_env: dict[str, str]
) -> None:
    key = auth(serving_env["admin"])
    for name in ("x" * 300, "v" + "0" * 300, "9" * 4000):
        response = client.post("/v1/admin/reload", json={"model": name}, headers=key)
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "VersionNotFound" and len(response.json()["detail"]) < 300
    metrics = client.get("/metrics").text
    assert 'postroom_model_reloads_total{outcome="failure"} 3.0' in metrics


@pytest.mark.parametrize(
    ("path", "role", "payload", "content_type"),
    [
        ("/v1/classify", "lead", b"{", "application/json"),
        ("/v1/classify", "lead", b'{"a": 1, "a": 2}', "application/json"),
        ("/v1/classify", "lead", b"x", "text/plain"),
        ("/v1/admin/reload", "router", b'{"model": "a", "model": "b"}', "application/json"),
        ("/v1/thresholds", "router", b"<x/>", "text/xml"),
        ("/v1/messages", "lead", b"{", "application/json"),
    ],
)
def test_a_key_of_the_wrong_role_gets_403_before_the_body_is_read(
    client: TestClient, serving_env: dict[str, str], path: str, role: str, payload: bytes, content_type: str
) -> None:
    headers = {**auth(serving_env[role]), "Content-Type": content_type}
    response = client.post(path, content=payload, headers=headers)
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "Forbidden" and "role" in response.json()["detail"]


@pytest.mark.parametrize("payload", [b"[" * 5000 + b"]" * 5000, b'{"message_id": ' + b"1" * 5000 + b"}"])
def test_json_python_cannot_read_is_422_on_every_json_endpoint(
    client: TestClient, serving_env: dict[str, str], payload: bytes
) -> None:
    headers = {**auth(serving_env["router"]), "Content-Type": "application/json"}
    for path in ("/v1/classify", "/v1/feedback"):
        response = client.post(path, content=payload, headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["detail"].startswith("body: not valid JSON")


def test_health_answers_head_for_load_balancers(client: TestClient) -> None:
    assert client.head("/healthz").status_code == 200
    assert client.head("/readyz").status_code == 200


def test_an_unknown_class_is_quoted_short_in_the_error(
    client: TestClient, serving_env: dict[str, str]
) -> None:
    payload = {"message_id": "m@x", "body": "a", "topic": "x" * 100_000}
    response = client.post("/v1/messages", json=payload, headers=auth(serving_env["router"]))
    assert response.status_code == 422 and "unknown class" in response.json()["detail"]
    assert len(response.text) < 2000


def test_a_json_body_in_another_encoding_than_utf8_is_422_saying_so(
    client: TestClient, serving_env: dict[str, str]
) -> None:
    headers = {**auth(serving_env["router"]), "Content-Type": "application/json; charset=latin-1"}
    body = '{"message_id": "Müller"}'.encode("latin-1")
    response = client.post("/v1/classify", content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert "not UTF-8" in response.json()["detail"]


def test_a_store_to_migrate_says_so_without_its_path_and_without_retry_after(
    make_client: MakeClient, serving_env: dict[str, str], tmp_path: Path
) -> None:
    """Retrying will not help a store that is not there or not migrated: /readyz (no key) says what to run,
    names no path, and gives no Retry-After."""
    from postroom.store import create_store_engine, migrate
    from tests.store.damage import set_schema_revision

    missing = make_client(database_url=f"sqlite:///{tmp_path / 'secret-dir' / 'none.db'}").get("/readyz")
    assert missing.status_code == 503 and "retry-after" not in missing.headers
    assert missing.json()["detail"].startswith("no store yet: run `postroom init`")
    assert "secret-dir" not in missing.text
    old = tmp_path / "secret-dir" / "old.db"
    engine = create_store_engine(f"sqlite:///{old}")
    migrate(engine)
    engine.dispose()
    set_schema_revision(old, "0002")
    behind = make_client(database_url=f"sqlite:///{old}").get("/readyz")
    assert behind.status_code == 503 and "retry-after" not in behind.headers
    assert behind.json()["detail"].startswith("the store is at schema 0002, expected 0003: run `postroom")
    assert "secret-dir" not in behind.text


def test_a_store_that_cannot_be_reached_is_503_on_every_endpoint(
    make_client: MakeClient, serving_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A PostgreSQL server that is down (nothing listens on port 1): every endpoint that reads or writes
    the store answers 503 StoreError, never a 500 (the fixture fails on any unhandled error), and names
    neither the database's URL, user, host nor port (`/readyz` needs no key): the log has them."""
    client = make_client(database_url="postgresql+psycopg://dbuser:s3cret@127.0.0.1:1/postroom?password=s3cret")
    router, lead = auth(serving_env["router"]), auth(serving_env["lead"])
    requests = [
        ("POST", "/v1/classify", router, {"message_id": "m1"}),
        ("POST", "/v1/messages", router, {"message_id": "m1", "body": "hello"}),
        ("GET", "/v1/messages/m1", router, None),
        ("POST", "/v1/feedback", router, {"message_id": "m1", "final_labels": {"topic": "card_replacement"}}),
        ("GET", "/v1/thresholds", lead, None),
        ("GET", "/v1/events", lead, None),
        ("GET", "/v1/lead/overview", lead, None),
        ("GET", "/v1/lead/outcomes", lead, None),
    ]
    for method, path, key, body in requests:
        response = client.request(method, path, json=body, headers=key)
        assert response.status_code == 503, (path, response.status_code, response.text)
        assert response.json()["error"] == "StoreError", (path, response.text)
        assert "the store cannot be reached" in response.json()["detail"], path
        assert response.headers["retry-after"] == "5", path
        shown = ("s3cret", "dbuser", "127.0.0.1", "postroom")
        assert not any(secret in response.text for secret in shown), path
    batch = client.post("/v1/classify/batch", json={"message_ids": ["m1", "m2"]}, headers=router)
    assert batch.status_code in (200, 503), batch.text
    if batch.status_code == 200:
        assert [r["status"] for r in batch.json()["results"]] == [503, 503]
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "dbuser" not in ready.text and "127.0.0.1" not in ready.text
    assert any("answering 503 StoreError: store postgresql+psycopg://dbuser:***@127.0.0.1:1" in r.getMessage()
               and "s3cret" not in r.getMessage() for r in caplog.records)


def test_connections_the_database_ended_are_replaced_without_an_error(
    make_client: MakeClient,
    serving_env: dict[str, str],
    stored: list[str],
    store_url: str,
    engine: Engine,
    backend: str,
) -> None:
    """PostgreSQL ended every connection the service holds (a restart, a failover, an idle timeout): the next
    requests check out fresh connections and succeed; none answers 503 (the pool's liveness check)."""
    if backend != "postgresql":
        pytest.skip("SQLite has no server to end a connection")
    name = f"postroom-test-{uuid.uuid4().hex[:8]}"
    url = make_url(store_url).update_query_dict({"application_name": name})
    client = make_client(database_url=url.render_as_string(hide_password=False))
    router = auth(serving_env["router"])
    assert client.post("/v1/classify", json={"message_id": stored[0]}, headers=router).status_code == 200

    def backends() -> set[int]:
        with engine.begin() as connection:
            found = connection.execute(
                text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"), {"name": name}
            )
            return set(found.scalars())

    pooled = backends()
    with engine.begin() as connection:  # each ended and waited for (up to 5 s), else the assert fails
        for pid in pooled:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar()
    assert pooled and not backends() & pooled  # the service's pooled connection(s) are gone
    again = client.post("/v1/classify", json={"message_id": stored[0]}, headers=router)
    assert again.status_code == 200, again.text
    added = client.post("/v1/messages", json={"message_id": "after-restart", "body": "hallo"}, headers=router)
    assert added.status_code == 201, added.text
    assert client.get("/readyz").status_code == 200
    assert backends() - pooled  # answered on new connections
