"""Erasing client e-mails from the store (`postroom.store.erasure`): the selection by ID, sender and date,
the cascade to everything derived, the labeling records, the audit event that keeps no personal data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from postroom.ingest.records import IncomingMessage
from postroom.ingest.service import ingest_one
from postroom.store.erasure import ERASED_EVENT, erase_messages, select_messages, sha256
from postroom.store.models import AuditEvent, Feedback, Label, Message, Prediction, RoutingDecision

DERIVED = (Label, Prediction, RoutingDecision, Feedback)


def store(session: Session, message_id: str, sender: str, labels: dict[str, str] | None = None) -> Message:
    """A stored message with a prediction, a decision, feedback and a labeling record."""
    body = f"Bitte {message_id}"
    incoming = IncomingMessage(message_id, body, "text", "test", sender=sender, labels=labels or {})
    message = ingest_one(session, incoming).message
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


def test_erasing_deletes_the_message_everything_derived_and_its_labeling_records(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        store(session, "gone@x", "Anna Becker <anna.becker@example.org>", {"queue": "cards"})
        store(session, "kept@x", "Ben <ben@example.org>", {"queue": "cards"})
        session.add(AuditEvent(kind="model.promoted", subject="gone@x", actor="t", payload={}))
        session.commit()
        selection = select_messages(session, ["gone@x", "never@x"])
        assert (selection.message_ids, selection.labeled, selection.not_found) == (["gone@x"], 1, ["never@x"])
        event = erase_messages(session, selection.message_ids, "lena", "request 7", {"message_ids": 2}, True)
        session.commit()
        assert counts(session) == {
            "Message": 1, "Label": 1, "Prediction": 1, "RoutingDecision": 1, "Feedback": 1
        }  # fmt: skip
        assert session.scalar(select(Message.message_id)) == "kept@x"
        subjects = session.execute(select(AuditEvent.kind, AuditEvent.subject).order_by(AuditEvent.id)).all()
        assert ("labeling.pushed", "gone@x") not in subjects and ("labeling.pushed", "kept@x") in subjects
        assert ("model.promoted", "gone@x") in subjects
        assert event.kind == ERASED_EVENT and event.actor == "lena" and event.subject is None
        assert event.payload == {
            "messages": 1,
            "reason": "request 7",
            "criteria": {"message_ids": 2},
            "message_id_sha256": [sha256("gone@x")],
        }
        assert "gone@x" not in str(event.payload) and "anna" not in str(event.payload)


def test_select_by_sender_matches_the_address_itself_in_any_case(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        store(session, "a1", "Anna Becker <anna.becker@example.org>")
        store(session, "a2", "ANNA.BECKER@EXAMPLE.ORG")
        store(session, "a3", "Hanna <hanna.becker@example.org>")  # contains the address, is another one
        store(session, "a4", "anna.becker@example.org.evil.test")
        store(session, "a5", "100%_sure <x_y%z@example.org>")  # LIKE's wildcards are plain characters
        session.commit()
        assert select_messages(session, senders=["Anna.Becker@example.org"]).message_ids == ["a1", "a2"]
        assert select_messages(session, senders=["x_y%z@example.org"]).message_ids == ["a5"]
        assert select_messages(session, senders=["x%@example.org"]).message_ids == []


def test_select_by_date_uses_the_received_date_else_the_ingestion_and_may_keep_labeled(
    sessions: sessionmaker[Session],
) -> None:
    now = datetime.now(UTC)
    with sessions() as session:
        messages = (("old", None), ("old-labeled", {"queue": "cards"}), ("new", None), ("undated", None))
        for name, labels in messages:
            store(session, name, "x@example.org", labels)
        session.flush()
        session.execute(
            update(Message)
            .where(Message.message_id.in_(["old", "old-labeled"]))
            .values(received_at=now - timedelta(days=400))
        )
        session.execute(update(Message).where(Message.message_id == "new").values(received_at=now))
        session.execute(
            update(Message)
            .where(Message.message_id == "undated")
            .values(received_at=None, ingested_at=now - timedelta(days=500))
        )
        session.commit()
        cutoff = now - timedelta(days=365)
        everything = select_messages(session, received_before=cutoff)
        assert everything.message_ids == ["old", "old-labeled", "undated"] and everything.labeled == 1
        unlabeled = select_messages(session, received_before=cutoff, keep_labeled=True)
        assert unlabeled.message_ids == ["old", "undated"]
        assert (unlabeled.labeled, unlabeled.kept_labeled) == (0, 1)


def test_a_large_erasure_goes_in_chunks(sessions: sessionmaker[Session]) -> None:
    from postroom.store import erasure

    with sessions() as session:
        for i in range(7):
            store(session, f"m{i}", "x@example.org")
        session.commit()
        original = erasure.CHUNK
        erasure.CHUNK = 3
        try:
            selection = select_messages(session, [f"m{i}" for i in range(6)])
            erase_messages(session, selection.message_ids, "t", "r", {}, record_ids=False)
        finally:
            erasure.CHUNK = original
        session.commit()
        assert [m for m in session.scalars(select(Message.message_id))] == ["m6"]
        event = session.scalars(select(AuditEvent).where(AuditEvent.kind == ERASED_EVENT)).one()
        assert event.payload["messages"] == 6 and "message_id_sha256" not in event.payload
