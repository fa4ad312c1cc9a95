"""Erasing client e-mails from the store: erasure requests (`postroom forget`), retention (`postroom purge`).

A message's personal data is its raw input, subject, sender and cleaned text; its labels, predictions,
routing decisions and feedback describe it. Erasing a message deletes its row, and the database's cascades
delete everything derived from it (`ON DELETE CASCADE` on every table that points at it); the labeling
records that name it (`labeling.*` audit events: who labeled it with what in Doccano) go with it. What stays
is one `messages.erased` audit event: who, why, when, how many, and for an erasure by ID the SHA-256 of each
ID (an auditor can check that a given ID was erased without the store keeping it). Copies outside the store
are the caller's: Doccano's (`labeling.erasure`). The model registry keeps message IDs only, no text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import getaddresses
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from postroom.store.models import AuditEvent, Label, Message

ERASED_EVENT = "messages.erased"
LABELING_EVENTS = "labeling."  # kinds whose subject is a message ID
CHUNK = 500  # IDs per IN (…) clause
HASHED_IDS_MAX = 10_000  # an erasure by ID records at most this many ID hashes (retention records none)


@dataclass(frozen=True)
class Selection:
    """The stored messages a request names, and what it leaves."""

    message_ids: list[str]  # found, to erase
    labeled: int  # of them, with a current label (training data)
    kept_labeled: int  # labeled messages the request matched but keeps (retention without labeled ones)
    not_found: list[str]  # IDs asked for that the store does not hold


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def addresses(sender: str | None) -> set[str]:
    """The e-mail addresses in a From header as stored, lower-cased."""
    return {address.lower() for _, address in getaddresses([sender or ""]) if "@" in address}


def _labeled(session: Session, pks: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(pks):
        query = select(Label.message_pk).where(Label.message_pk.in_(chunk), Label.is_current).distinct()
        found.update(session.scalars(query))
    return found


def select_messages(
    session: Session,
    message_ids: Sequence[str] = (),
    senders: Sequence[str] = (),
    received_before: datetime | None = None,
    keep_labeled: bool = False,
) -> Selection:
    """The messages with one of `message_ids` (stored form), from one of `senders` (addresses, any case), or
    received before `received_before` (ingested before it when the date is not known); with
    `keep_labeled`, messages with a current label are left out and counted."""
    rows: dict[int, str] = {}
    for chunk in _chunks(list(message_ids)):
        query = select(Message.id, Message.message_id).where(Message.message_id.in_(chunk))
        rows.update(session.execute(query).tuples().all())
    for address in {a.strip().lower() for a in senders}:
        like = func.lower(Message.sender).contains(address, autoescape=True)
        for pk, message_id, sender in session.execute(
            select(Message.id, Message.message_id, Message.sender).where(like)
        ).tuples():
            if address in addresses(sender):  # the address itself, not one that contains it
                rows[pk] = message_id
    if received_before is not None:
        dated = or_(
            Message.received_at < received_before,
            Message.received_at.is_(None) & (Message.ingested_at < received_before),
        )
        rows.update(session.execute(select(Message.id, Message.message_id).where(dated)).tuples().all())
    labeled = _labeled(session, sorted(rows))
    kept = 0
    if keep_labeled:
        kept = len(labeled)
        rows = {pk: m for pk, m in rows.items() if pk not in labeled}
        labeled = set()
    found = set(rows.values())
    return Selection(
        message_ids=sorted(found),
        labeled=len(labeled),
        kept_labeled=kept,
        not_found=[m for m in dict.fromkeys(message_ids) if m not in found],
    )


def erase_messages(
    session: Session,
    message_ids: Sequence[str],
    actor: str,
    reason: str,
    criteria: dict[str, Any],
    record_ids: bool,
) -> AuditEvent:
    """Delete the messages, everything derived from them and their labeling records, and record the erasure
    (not committed). `criteria` describes the request without personal data (counts, dates, hashes);
    `record_ids` keeps the SHA-256 of each erased ID in the record."""
    ids = list(dict.fromkeys(message_ids))
    for chunk in _chunks(ids):
        session.execute(
            delete(AuditEvent).where(
                AuditEvent.kind.startswith(LABELING_EVENTS, autoescape=True), AuditEvent.subject.in_(chunk)
            )
        )
        session.execute(delete(Message).where(Message.message_id.in_(chunk)))
    payload: dict[str, Any] = {"messages": len(ids), "reason": reason, "criteria": criteria}
    if record_ids:
        payload["message_id_sha256"] = sorted(sha256(m) for m in ids)[:HASHED_IDS_MAX]
    event = AuditEvent(kind=ERASED_EVENT, subject=None, actor=actor, payload=payload)
    session.add(event)
    session.flush()
    return event
