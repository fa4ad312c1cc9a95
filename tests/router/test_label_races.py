"""Writers of one message's labels take turns: a CRM's feedback retried while its first report is being
written, and the same message ingested twice at once, leave exactly one current label per set (SQLite and
PostgreSQL; on PostgreSQL nothing serialised them before `postroom.store.labels`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from postroom.ingest.records import IncomingMessage
from postroom.ingest.service import ingest_one
from postroom.store import Label, Message
from postroom.taxonomy import Taxonomy
from router.feedback import record_feedback
from tests.router.races import HELD_S, while_another_writes

MESSAGE_ID = "race@example.org"


def _message(session: Session) -> Message:
    return session.scalars(select(Message).where(Message.message_id == MESSAGE_ID)).one()


def _current(sessions: sessionmaker[Session]) -> list[tuple[str, str, str]]:
    with sessions() as session:
        query = select(Label).join(Message).where(Message.message_id == MESSAGE_ID, Label.is_current)
        return sorted((label.label_set, label.class_name, label.source) for label in session.scalars(query))


@pytest.fixture
def stored(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        ingest_one(session, IncomingMessage(MESSAGE_ID, "Meine Karte ist weg", "text", "test"))
        session.commit()


def _feedback(taxonomy: Taxonomy, queue: str) -> Callable[[Session], object]:
    return lambda s: record_feedback(s, taxonomy, _message(s), {"queue": queue}, None, "crm")


def test_a_report_racing_another_replaces_its_label(
    sessions: sessionmaker[Session], taxonomy: Taxonomy, stored: None
) -> None:
    second = while_another_writes(sessions, _feedback(taxonomy, "cards"), _feedback(taxonomy, "payments"))
    assert not isinstance(second, Exception), second
    assert _current(sessions) == [("queue", "payments", "feedback")]
    with sessions() as session:  # the first report's label is history, not lost
        rows = session.scalars(select(Label).order_by(Label.id)).all()
    assert [(r.class_name, r.is_current) for r in rows] == [("cards", False), ("payments", True)]


def test_a_retried_report_adds_no_second_label(
    sessions: sessionmaker[Session], taxonomy: Taxonomy, stored: None
) -> None:
    second = while_another_writes(sessions, _feedback(taxonomy, "cards"), _feedback(taxonomy, "cards"))
    assert not isinstance(second, Exception), second
    with sessions() as session:
        assert len(session.scalars(select(Label)).all()) == 1
    assert _current(sessions) == [("queue", "cards", "feedback")]


def test_the_same_message_ingested_twice_at_once_keeps_the_first_label(
    sessions: sessionmaker[Session], stored: None
) -> None:
    def ingest(queue: str) -> Callable[[Session], object]:
        incoming = IncomingMessage(MESSAGE_ID, "Meine Karte ist weg", "text", "test", labels={"queue": queue})
        return lambda s: ingest_one(s, incoming)

    second = while_another_writes(sessions, ingest("cards"), ingest("payments"))
    assert not isinstance(second, Exception), second
    assert second.label_conflicts and "is 'cards'" in second.label_conflicts[0]  # type: ignore[attr-defined]
    assert _current(sessions) == [("queue", "cards", "import")]


def test_the_store_refuses_a_second_current_label(sessions: sessionmaker[Session], stored: None) -> None:
    with sessions() as session:
        message = _message(session)
        session.add(Label(message_pk=message.id, label_set="queue", class_name="cards", source="test"))
        session.flush()
        session.add(Label(message_pk=message.id, label_set="queue", class_name="payments", source="test"))
        with pytest.raises(IntegrityError):
            session.flush()


def test_writers_that_inserted_before_locking_do_not_deadlock(
    sessions: sessionmaker[Session], stored: None
) -> None:
    """Inserting a row that references the message (feedback, a label) takes a key-share lock on it on
    PostgreSQL; a FOR UPDATE lock taken after that by two writers deadlocked (one answered 500)."""
    from postroom.store.labels import current_labels, lock_messages
    from postroom.store.models import Feedback

    if sessions.kw["bind"].dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: two sessions cannot both have inserted")
    first, second = sessions(), sessions()
    outcome: dict[str, str] = {}
    for session in (first, second):  # both have inserted before either locks
        session.add(Feedback(message_pk=_message(session).id, final_labels={"queue": "cards"}, agent="crm"))
        session.flush()

    def write(name: str, session: Session) -> None:
        try:
            pk = _message(session).id
            lock_messages(session, [pk])
            if "queue" not in current_labels(session, pk):
                session.add(Label(message_pk=pk, label_set="queue", class_name="cards", source="feedback"))
            session.commit()
            outcome[name] = "ok"
        except Exception as exc:  # the test reports it
            session.rollback()
            outcome[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        finally:
            session.close()

    threads = [threading.Thread(target=write, args=(n, s)) for n, s in (("first", first), ("second", second))]
    threads[0].start()
    time.sleep(HELD_S)
    threads[1].start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcome == {"first": "ok", "second": "ok"}
    assert _current(sessions) == [("queue", "cards", "feedback")]
