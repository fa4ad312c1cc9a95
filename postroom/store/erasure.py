"""Erasing client e-mails from the store: erasure requests (`postroom forget`), retention (`postroom purge`).

A message's personal data is its raw input, subject, sender and cleaned text; its labels, predictions,
routing decisions and feedback describe it. Erasing a message deletes its row, and the database's cascades
delete everything derived from it (`ON DELETE CASCADE` on every table that points at it). Audit events are
deleted only where the caller names their kinds as per-message records (`record_kinds`: kinds whose subject
is a message ID, such as labeling's; this module knows no kind but its own). What stays is one
`messages.erased` audit event: who, why, when, how many, and for an erasure by ID the SHA-256 of each ID
(an auditor can check that a given ID was erased without the store keeping it). Copies outside the store
are the caller's: Doccano's (`labeling.erasure`).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import getaddresses
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from postroom.store.models import AuditEvent, Label, Message
from postroom.store.queries import chunks

ERASED_EVENT = "messages.erased"
SCAN_ROWS = 2_000  # senders read per round trip when scanning for an address
HASHED_IDS_MAX = 10_000  # an erasure by ID records at most this many ID hashes (retention records none)
# A bare address anywhere in a From header as stored, well-formed or not ("Anna anna@example.org",
# '"Anna <anna@example.org>'); the delimiters end it, dots and quotes around it are stripped.
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"@]+@[^\s<>()\[\],;:\"@]+")
_AROUND = ".'`"


@dataclass(frozen=True)
class Selection:
    """The stored messages a request names, and what it leaves."""

    message_ids: list[str]  # found, to erase
    labeled: int  # of them, with a current label of any source
    kept_labeled: int = 0  # matched but kept: a current label of a kept source
    kept_in_labeling: int = 0  # matched but kept: named by a kept record kind (being labeled), not labeled
    not_found: list[str] = field(default_factory=list)  # IDs asked for that the store does not hold
    per_sender: dict[str, int] = field(default_factory=dict)  # address asked for -> messages it matched


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _folded(address: str) -> str:
    return address.strip(_AROUND).casefold()


def addresses(sender: str | None) -> set[str]:
    """The e-mail addresses a From header as stored shows anywhere, case-folded (`str.casefold`): those
    `getaddresses` reads, and every bare address in it, a display name's or a malformed header's included."""
    text = sender or ""
    if "@" not in text:
        return set()
    found = {_folded(a) for a in _ADDRESS.findall(text)}
    found.update(_folded(a) for _, a in getaddresses([text]) if _ADDRESS.fullmatch(a))
    return {a for a in found if _ADDRESS.fullmatch(a)}


def _current_labels(session: Session, pks: Sequence[int], sources: Collection[str] | None) -> set[int]:
    """Of `pks`, the messages with a current label (of one of `sources`; None: of any)."""
    found: set[int] = set()
    for chunk in chunks(pks):
        query = select(Label.message_pk).where(Label.message_pk.in_(chunk), Label.is_current)
        if sources is not None:
            query = query.where(Label.source.in_(sorted(sources)))
        found.update(session.scalars(query.distinct()))
    return found


def _named_by(
    session: Session, message_ids: Sequence[str], kinds: Collection[str], since: datetime | None
) -> set[str]:
    """Of `message_ids`, those that an audit event of `kinds` (recorded at `since` or later) has as its
    subject."""
    found: set[str] = set()
    for chunk in chunks(message_ids):
        query = select(AuditEvent.subject).where(
            AuditEvent.kind.in_(sorted(kinds)), AuditEvent.subject.in_(chunk)
        )
        if since is not None:
            query = query.where(AuditEvent.created_at >= since)
        found.update(s for s in session.scalars(query.distinct()) if s is not None)
    return found


def _by_sender(session: Session, senders: Collection[str]) -> tuple[dict[int, str], dict[str, int]]:
    """Messages whose stored From shows one of `senders` (case-folded addresses), and per address how many.
    Every sender is read (in rounds of `SCAN_ROWS`) and matched here: SQL's lower() is ASCII-only."""
    wanted = dict.fromkeys(_folded(s) for s in senders)  # in the order asked
    rows: dict[int, str] = {}
    matched: Counter[str] = Counter()
    query = select(Message.id, Message.message_id, Message.sender).where(Message.sender.is_not(None))
    for pk, message_id, sender in session.execute(query.execution_options(yield_per=SCAN_ROWS)):
        folded = sender.casefold()
        if not any(w in folded for w in wanted):  # cheap: a shown address is in the folded text
            continue
        for address in addresses(sender) & wanted.keys():
            matched[address] += 1
            rows[pk] = message_id
    return rows, {a: matched[a] for a in wanted}


def select_messages(
    session: Session,
    message_ids: Sequence[str] = (),
    senders: Sequence[str] = (),
    received_before: datetime | None = None,
    keep_sources: Collection[str] | None = None,
    keep_recorded: Mapping[str, datetime | None] | None = None,
) -> Selection:
    """The messages with one of `message_ids` (stored form), whose From shows one of `senders` (addresses,
    matched case-folded, anywhere in it: `addresses`), or received before `received_before` (ingested before
    it when the date is not known).

    Left out and counted: with `keep_sources`, messages with a current label of one of those sources
    (`kept_labeled`); then messages that an audit event of a `keep_recorded` kind (kinds whose subject is a
    message ID, each with the time from which its records count; None: any time) names (`kept_in_labeling`).
    """
    rows: dict[int, str] = {}
    for chunk in chunks(list(message_ids)):
        query = select(Message.id, Message.message_id).where(Message.message_id.in_(chunk))
        rows.update((pk, m) for pk, m in session.execute(query))
    per_sender: dict[str, int] = {}
    if senders:
        found, per_sender = _by_sender(session, senders)
        rows.update(found)
    if received_before is not None:
        dated = or_(
            Message.received_at < received_before,
            Message.received_at.is_(None) & (Message.ingested_at < received_before),
        )
        rows.update((pk, m) for pk, m in session.execute(select(Message.id, Message.message_id).where(dated)))
    kept_labeled = kept_recorded = 0
    if keep_sources is not None:
        kept = _current_labels(session, sorted(rows), keep_sources)
        kept_labeled = len(kept)
        rows = {pk: m for pk, m in rows.items() if pk not in kept}
    if keep_recorded:
        recorded: set[str] = set()
        by_since: dict[datetime | None, list[str]] = {}
        for kind, since in keep_recorded.items():
            by_since.setdefault(since, []).append(kind)
        for since, kinds in by_since.items():
            recorded |= _named_by(session, sorted(rows.values()), kinds, since)
        kept_recorded = len(recorded)
        rows = {pk: m for pk, m in rows.items() if m not in recorded}
    found_ids = set(rows.values())
    return Selection(
        message_ids=sorted(found_ids),
        labeled=len(_current_labels(session, sorted(rows), None)),
        kept_labeled=kept_labeled,
        kept_in_labeling=kept_recorded,
        not_found=[m for m in dict.fromkeys(message_ids) if m not in found_ids],
        per_sender=per_sender,
    )


StoredMessage = tuple[str, datetime | None, str | None]  # message ID, received date, sender as stored


def stored_messages(session: Session, message_ids: Sequence[str]) -> list[StoredMessage]:
    """(message ID, received date, stored sender) of the stored ones of `message_ids`, by ID."""
    found = []
    for chunk in chunks(sorted(set(message_ids))):
        query = select(Message.message_id, Message.received_at, Message.sender).where(
            Message.message_id.in_(chunk)
        )
        found.extend((m, at, s) for m, at, s in session.execute(query))
    return sorted(found)


def erase_messages(
    session: Session,
    message_ids: Sequence[str],
    actor: str,
    reason: str,
    criteria: dict[str, Any],
    record_ids: bool,
    record_kinds: Collection[str] = (),
    keep_records_of: Collection[str] = (),
) -> AuditEvent:
    """Delete the messages and everything derived from them, and record the erasure (not committed).

    `record_kinds` are the caller's per-message audit event kinds (their subject is a message ID): those
    naming an erased message go with it, except those of `keep_records_of` (messages whose copies elsewhere
    are still to be erased: the records find them). No other audit event is touched. `criteria` describes
    the request without personal data (counts, dates, hashes); `record_ids` keeps the SHA-256 of each erased
    ID (at most `HASHED_IDS_MAX`; `message_id_sha256_truncated` says when more were erased). The event's
    `messages` counts the rows deleted.
    """
    ids = list(dict.fromkeys(message_ids))
    kept = set(keep_records_of)
    erased = 0
    for chunk in chunks(ids):
        records = [m for m in chunk if m not in kept]
        if record_kinds and records:
            session.execute(
                delete(AuditEvent).where(
                    AuditEvent.kind.in_(sorted(record_kinds)), AuditEvent.subject.in_(records)
                )
            )
        erased += session.execute(delete(Message).where(Message.message_id.in_(chunk))).rowcount or 0
    payload: dict[str, Any] = {"messages": erased, "reason": reason, "criteria": criteria}
    if record_ids:
        hashes = sorted(sha256(m) for m in ids)
        payload["message_id_sha256"] = hashes[:HASHED_IDS_MAX]
        if len(hashes) > HASHED_IDS_MAX:
            payload["message_id_sha256_truncated"] = True
    event = AuditEvent(kind=ERASED_EVENT, subject=None, actor=actor, payload=payload)
    session.add(event)
    session.flush()
    return event
