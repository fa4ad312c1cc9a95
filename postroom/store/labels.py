"""One current label per message and label set, whoever writes it and however many write at once.

Feedback (`POST /v1/feedback`), ingestion (a known message sent again with labels) and `postroom label pull`
each read a message's current labels, then replace or add one. Two writers of one message at the same
moment (a CRM retrying feedback while its first request still runs) both read the same current row: on
PostgreSQL each then wrote its own, and the message kept several current labels of one set, which a later
correction never cleared (it demoted one). Every writer therefore locks the message rows first
(`lock_messages`: `SELECT … FOR NO KEY UPDATE`, in id order so that writers of several messages cannot
deadlock, before they insert anything that references the message) and reads the current labels after the
lock (`current_labels`), so the second writer sees what the first committed (on SQLite, the database's one
write lock). The partial unique index `ux_labels_one_current` (schema 0003) refuses a second current label
whatever a writer does.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from postroom.store.models import Label, Message

LOCK_CHUNK = 500  # message ids per locking statement (PostgreSQL's parameter limit is far above)


def lock_messages(session: Session, message_pks: Iterable[int]) -> None:
    """Lock these message rows until the transaction ends: `SELECT … FOR NO KEY UPDATE` on PostgreSQL; on
    SQLite, which has no row locks, a write that changes nothing takes the database's write lock (a read
    alone takes none there, and a writer that read before another committed would not see its label)."""
    ordered = sorted(set(message_pks))
    sqlite = session.get_bind().dialect.name == "sqlite"
    for start in range(0, len(ordered), LOCK_CHUNK):
        chunk = ordered[start : start + LOCK_CHUNK]
        if sqlite:
            session.execute(update(Message).where(Message.id.in_(chunk)).values(source=Message.source))
        else:
            # NO KEY UPDATE: inserting a row that references the message (feedback, a label) takes a KEY SHARE
            # lock on it, which FOR UPDATE would wait for: two writers that inserted first deadlocked
            query = select(Message.id).where(Message.id.in_(chunk)).order_by(Message.id)
            session.execute(query.with_for_update(key_share=True))


def current_labels(session: Session, message_pk: int) -> dict[str, Label]:
    """The message's current label per label set, read from the database (not from objects the session
    loaded before `lock_messages`)."""
    query = (
        select(Label)
        .where(Label.message_pk == message_pk, Label.is_current.is_(True))
        .execution_options(populate_existing=True)
    )
    return {label.label_set: label for label in session.scalars(query)}
