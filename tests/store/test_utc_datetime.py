"""Points in time come back from the store in UTC and aware, whatever offset they were stored with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from postroom.store.models import AuditEvent, Message, as_utc

BERLIN_WINTER = timezone(timedelta(hours=1))


def _message(message_id: str, received_at: datetime) -> Message:
    return Message(
        message_id=message_id,
        received_at=received_at,
        raw_format="text",
        raw_body="b",
        raw_sha256="0" * 64,
    )


def test_an_offset_is_converted_to_utc_and_read_back_aware(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        session.add(_message("tz@x", datetime(2026, 3, 2, 9, 30, tzinfo=BERLIN_WINTER)))
        session.add(_message("naive@x", datetime(2026, 3, 2, 9, 30)))  # naive: taken as UTC
        session.commit()
    with sessions() as session:
        stored = {m.message_id: m.received_at for m in session.scalars(select(Message))}
    assert stored["tz@x"] == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    assert stored["tz@x"].tzinfo is UTC and stored["tz@x"].hour == 8
    assert stored["naive@x"] == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_comparisons_in_queries_use_the_same_instant(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        session.add(AuditEvent(kind="k", actor="a", created_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC)))
        session.commit()
        since = datetime(2026, 3, 2, 10, 0, tzinfo=BERLIN_WINTER)  # 09:00 UTC: the event is after it
        assert session.scalars(select(AuditEvent).where(AuditEvent.created_at >= since)).all()
        until = datetime(2026, 3, 2, 10, 29, tzinfo=BERLIN_WINTER)  # 09:29 UTC: before the event
        assert not session.scalars(select(AuditEvent).where(AuditEvent.created_at <= until)).all()


def test_rows_stored_before_hold_utc_wall_times_and_read_as_utc(sessions: sessionmaker[Session]) -> None:
    """Older rows on SQLite hold a naive UTC wall time (what `utcnow` wrote): they read as that instant."""
    with sessions() as session:
        session.add(AuditEvent(kind="k", actor="a"))
        session.commit()
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("UPDATE audit_events SET created_at = '2026-01-05 07:00:00.000000'"))
            session.commit()
            assert session.scalars(select(AuditEvent)).one().created_at == datetime(2026, 1, 5, 7, tzinfo=UTC)


def test_as_utc() -> None:
    assert as_utc(datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=-8)))) == datetime(
        2026, 1, 1, 20, tzinfo=UTC
    )
    assert as_utc(datetime(2026, 1, 1, 12)).tzinfo is UTC
