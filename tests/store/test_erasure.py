"""Erasing client e-mails from the store (`postroom.store.erasure`): the selection by ID, sender and date,
what retention keeps, the cascade to everything derived, the per-message records the caller names, the
audit event that keeps no personal data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from postroom.ingest.records import IncomingMessage
from postroom.ingest.service import ingest_one
from postroom.store import erasure, queries
from postroom.store.erasure import (
    ERASED_EVENT,
    addresses,
    erase_messages,
    select_messages,
    sha256,
    stored_messages,
)
from postroom.store.models import AuditEvent, Feedback, Label, Message, Prediction, RoutingDecision

pytestmark = pytest.mark.filterwarnings("error::sqlalchemy.exc.SADeprecationWarning")

DERIVED = (Label, Prediction, RoutingDecision, Feedback)
PER_MESSAGE = ("labeling.pushed",)  # the record kinds these tests name as per-message


def store(
    session: Session,
    message_id: str,
    sender: str | None,
    labels: dict[str, str] | None = None,
    source: str = "import",
) -> Message:
    """A stored message with a prediction, a decision, feedback and a labeling record."""
    body = f"Bitte {message_id}"
    incoming = IncomingMessage(message_id, body, "text", "test", sender=sender, labels=labels or {})
    message = ingest_one(session, incoming, source=source).message
    session.flush()
    prediction = Prediction(message_pk=message.id, model_version="v1", variant="onnx-int8", results={})
    session.add(prediction)
    session.flush()
    decision = RoutingDecision(
        prediction_pk=prediction.id, message_pk=message.id, decision="human", queue="cards"
    )
    session.add(decision)
    session.flush()
    session.add(Feedback(message_pk=message.id, decision_pk=decision.id, final_labels={"queue": "cards"}))
    session.add(AuditEvent(kind="labeling.pushed", subject=message_id, actor="t", payload={"project_id": 1}))
    session.flush()
    return message


def counts(session: Session) -> dict[str, int]:
    return {t.__name__: session.scalar(select(func.count()).select_from(t)) or 0 for t in (Message, *DERIVED)}


def test_erasing_deletes_the_message_everything_derived_and_the_per_message_records_named(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        store(session, "gone@x", "Anna Becker <anna.becker@example.org>", {"queue": "cards"})
        store(session, "kept@x", "Ben <ben@example.org>", {"queue": "cards"})
        for kind in ("model.promoted", "labeling.pulled"):  # not named as per-message: kept
            session.add(AuditEvent(kind=kind, subject="gone@x", actor="t", payload={}))
        session.commit()
        selection = select_messages(session, ["gone@x", "never@x"])
        assert (selection.message_ids, selection.labeled, selection.not_found) == (["gone@x"], 1, ["never@x"])
        criteria = {"message_ids": 2}
        event = erase_messages(
            session, selection.message_ids, "lena", "request 7", criteria, True, record_kinds=PER_MESSAGE
        )
        session.commit()
        assert counts(session) == {
            "Message": 1, "Label": 1, "Prediction": 1, "RoutingDecision": 1, "Feedback": 1
        }  # fmt: skip
        assert session.scalar(select(Message.message_id)) == "kept@x"
        subjects = session.execute(select(AuditEvent.kind, AuditEvent.subject).order_by(AuditEvent.id)).all()
        assert ("labeling.pushed", "gone@x") not in subjects and ("labeling.pushed", "kept@x") in subjects
        assert ("model.promoted", "gone@x") in subjects and ("labeling.pulled", "gone@x") in subjects
        assert event.kind == ERASED_EVENT and event.actor == "lena" and event.subject is None
        assert event.payload == {
            "messages": 1,
            "reason": "request 7",
            "criteria": {"message_ids": 2},
            "message_id_sha256": [sha256("gone@x")],
        }
        assert "gone@x" not in str(event.payload) and "anna" not in str(event.payload)


def test_records_are_kept_where_asked_and_none_go_without_kinds(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        for name in ("a", "b", "c"):
            store(session, name, None)
        session.commit()
        erase_messages(
            session, ["a", "b"], "t", "r", {}, False, record_kinds=PER_MESSAGE, keep_records_of={"b"}
        )
        erase_messages(session, ["c"], "t", "r", {}, False)  # no kinds named: no record goes
        session.commit()
        pushed = session.scalars(select(AuditEvent.subject).where(AuditEvent.kind == "labeling.pushed"))
        assert sorted(pushed) == ["b", "c"] and stored_ids(session) == []


def test_the_hashes_recorded_are_capped_and_the_cap_is_said(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(erasure, "HASHED_IDS_MAX", 2)
    with sessions() as session:
        for name in ("a", "b", "c"):
            store(session, name, None)
        event = erase_messages(session, ["a", "b", "c", "never"], "t", "r", {}, True)
        assert event.payload["messages"] == 3  # rows deleted, not IDs asked for
        assert len(event.payload["message_id_sha256"]) == 2 and event.payload["message_id_sha256_truncated"]
        small = erase_messages(session, ["x"], "t", "r", {}, True)
        assert "message_id_sha256_truncated" not in small.payload


def stored_ids(session: Session) -> list[str]:
    return sorted(session.scalars(select(Message.message_id)))


def test_select_by_sender_matches_the_address_itself_in_any_case(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        store(session, "a1", "Anna Becker <anna.becker@example.org>")
        store(session, "a2", "ANNA.BECKER@EXAMPLE.ORG")
        store(session, "a3", "Hanna <hanna.becker@example.org>")  # contains the address, is another one
        store(session, "a4", "anna.becker@example.org.evil.test")
        store(session, "a5", "100%_sure <x_y%z@example.org>")  # LIKE's wildcards are plain characters
        store(session, "a6", "o'brien@example.org")
        session.commit()
        assert select_messages(session, senders=["Anna.Becker@example.org"]).message_ids == ["a1", "a2"]
        assert select_messages(session, senders=["x_y%z@example.org"]).message_ids == ["a5"]
        assert select_messages(session, senders=["x%@example.org"]).message_ids == []
        assert select_messages(session, senders=["brien@example.org"]).message_ids == []
        assert select_messages(session, senders=["O'Brien@example.org"]).message_ids == ["a6"]


def test_select_by_sender_folds_non_ascii_case_and_reads_malformed_headers(
    sessions: sessionmaker[Session],
) -> None:
    """SQLite's lower() leaves Ä alone; every stored form that shows the address is found, the display name
    included (it holds her address), and each sender asked for is counted, none found included."""
    with sessions() as session:
        store(session, "u1", "Jörg Ähnlich <ÄNNE.ÖZ@BEISPIEL.DE>")
        store(session, "u2", "änne.öz@beispiel.de")
        store(session, "m1", "Anna Becker anna@example.org")
        store(session, "m2", '"Anna <anna@example.org>')
        store(session, "m3", '"anna@example.org" <list@lists.example.org>')  # in the display name
        store(session, "m4", "<anna@example.org>.")
        store(session, "m5", "Anna Becker")  # no address: cannot be matched
        store(session, "m6", None)
        session.commit()
        asked = ["Änne.Öz@Beispiel.de", "anna@example.org", "none@example.org"]
        found = select_messages(session, senders=asked)
        assert found.message_ids == ["m1", "m2", "m3", "m4", "u1", "u2"]
        assert found.per_sender == {"anna@example.org": 4, "none@example.org": 0, "änne.öz@beispiel.de": 2}
        assert select_messages(session, senders=["list@lists.example.org"]).message_ids == ["m3"]


def test_addresses_are_read_from_every_form_of_from_header() -> None:
    both = {"anna@example.org", "ben@example.org"}
    assert addresses("Anna Becker <Anna@Example.org>, ben@example.org") == both
    assert addresses("mailto:anna@example.org") == {"anna@example.org"}
    assert addresses("'anna@example.org'") == {"anna@example.org"}
    assert addresses("Straße <STRASSE@example.org>") == {"strasse@example.org"}
    assert addresses("Anna Becker") == set() and addresses(None) == set() and addresses("@") == set()


def test_the_sender_scan_reads_in_rounds(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(erasure, "SCAN_ROWS", 2)
    with sessions() as session:
        for i in range(7):
            store(session, f"s{i}", f"Kunde {i} <kunde{i % 3}@example.org>")
        session.commit()
        assert select_messages(session, senders=["kunde1@example.org"]).message_ids == ["s1", "s4"]


def test_select_by_date_uses_the_received_date_else_the_ingestion_and_may_keep_sources_and_records(
    sessions: sessionmaker[Session],
) -> None:
    now = datetime.now(UTC)
    with sessions() as session:
        messages = (
            ("old", None, "import"),
            ("old-labeled", {"queue": "cards"}, "import"),
            ("old-feedback", {"queue": "cards"}, "feedback"),
            ("old-pushed", None, "import"),
            ("new", None, "import"),
            ("undated", None, "import"),
        )
        for name, labels, source in messages:
            store(session, name, "x@example.org", labels, source)
        session.add(AuditEvent(kind="labeling.selected", subject="old-pushed", actor="t", payload={}))
        session.flush()
        old = ["old", "old-labeled", "old-feedback", "old-pushed"]
        long_ago = now - timedelta(days=400)
        session.execute(update(Message).where(Message.message_id.in_(old)).values(received_at=long_ago))
        session.execute(update(Message).where(Message.message_id == "new").values(received_at=now))
        session.execute(
            update(Message)
            .where(Message.message_id == "undated")
            .values(received_at=None, ingested_at=now - timedelta(days=500))
        )
        session.commit()
        cutoff = now - timedelta(days=365)
        everything = select_messages(session, received_before=cutoff)
        assert everything.message_ids == sorted([*old, "undated"]) and everything.labeled == 2
        any_time = {"labeling.selected": None}
        kept = select_messages(
            session, received_before=cutoff, keep_sources=["import"], keep_recorded=any_time
        )
        assert kept.message_ids == ["old", "old-feedback", "undated"]
        assert (kept.labeled, kept.kept_labeled, kept.kept_in_labeling) == (1, 1, 1)
        since_now = {"labeling.selected": now + timedelta(seconds=1), "other.kind": None}
        sent_before = select_messages(session, received_before=cutoff, keep_recorded=since_now)
        assert "old-pushed" in sent_before.message_ids and sent_before.kept_in_labeling == 0
        feedback_too = select_messages(session, received_before=cutoff, keep_sources=["import", "feedback"])
        assert feedback_too.message_ids == ["old", "old-pushed", "undated"] and feedback_too.kept_labeled == 2


def test_stored_messages_gives_id_date_and_sender(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        store(session, "b", "Ben <ben@example.org>")
        store(session, "a", None)
        session.commit()
        listed = stored_messages(session, ["b", "a", "never"])
        assert [(m, s) for m, _, s in listed] == [("a", None), ("b", "Ben <ben@example.org>")]


def test_a_large_erasure_goes_in_chunks(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with sessions() as session:
        for i in range(7):
            store(session, f"m{i}", "x@example.org")
        session.commit()
        monkeypatch.setattr(queries, "IN_CHUNK", 3)
        selection = select_messages(session, [f"m{i}" for i in range(6)])
        erase_messages(session, selection.message_ids, "t", "r", {}, False, record_kinds=PER_MESSAGE)
        session.commit()
        assert stored_ids(session) == ["m6"]
        event = session.scalars(select(AuditEvent).where(AuditEvent.kind == ERASED_EVENT)).one()
        assert event.payload["messages"] == 6 and "message_id_sha256" not in event.payload
        pushed = session.scalars(select(AuditEvent.subject).where(AuditEvent.kind == "labeling.pushed"))
        assert list(pushed) == ["m6"]


def test_stored_message_ids_looks_up_in_chunks(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "IN_CHUNK", 2)
    assert [list(c) for c in queries.chunks([1, 2, 3, 4, 5])] == [[1, 2], [3, 4], [5]]
    with sessions() as session:
        for name in ("a", "b", "c"):
            store(session, name, None)
        session.commit()
        asked = ["c", "never", "a", "c", "b", "gone"]
        assert queries.stored_message_ids(session, asked) == {"a", "b", "c"}
        assert queries.stored_message_ids(session, []) == set()
