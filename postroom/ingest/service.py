"""Store incoming messages: idempotent by message ID, cleaned on the way in, labels imported.

Re-sending a message with the same ID and the same raw content changes nothing. The same ID with a
different raw content is reported and not stored: the stored message is never overwritten silently.
Each message is committed on its own, so one bad record never costs the good ones.
Timestamps are stored in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from postroom.cleaning import CleanedEmail, clean_message
from postroom.ingest.fields import RecordError, to_utc
from postroom.ingest.rawcodec import decode_input, encode_raw, raw_digest
from postroom.ingest.records import IncomingMessage, Rejection
from postroom.store.db import StoreUnusableError
from postroom.store.labels import current_labels, lock_messages
from postroom.store.models import SENDER_MAX, Label, Message, utcnow

Outcome = Literal["inserted", "unchanged", "changed"]


@dataclass
class IngestResult:
    """What happened to one message."""

    outcome: Outcome
    message: Message
    labels_added: int = 0
    label_conflicts: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # fields given that differ from the stored message's


@dataclass
class IngestReport:
    """Counts and problems of one ingestion run."""

    inserted: int = 0
    unchanged: int = 0
    labels_added: int = 0
    changed: list[Rejection] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    label_conflicts: list[str] = field(default_factory=list)
    cleaning_flags: dict[str, int] = field(default_factory=dict)
    ignored_fields: dict[str, int] = field(default_factory=dict)  # per field: known messages it differed on

    @property
    def read(self) -> int:
        return self.inserted + self.unchanged + len(self.changed) + len(self.rejected)

    @property
    def ok(self) -> bool:
        """False when any record was rejected or not stored because its content changed."""
        return not self.rejected and not self.changed


_UNSTORABLE = re.compile(r"[\ud800-\udfff]")  # lone surrogates, e.g. from a UTF-7 part


def _storable_text(text: str | None) -> str | None:
    """`text` as any store keeps it: NUL removed, lone surrogates (cleaning can decode them) replaced."""
    return None if text is None else _UNSTORABLE.sub("\ufffd", text.replace("\x00", ""))


def _stored_sender(text: str | None) -> str | None:
    """A sender as the store keeps it: storable, cut to `SENDER_MAX` characters (the last an ellipsis) if
    longer (a From header of many mailboxes; a record's own field is refused instead, and the raw source
    keeps the whole header)."""
    text = _storable_text(text)
    return text if text is None or len(text) <= SENDER_MAX else text[: SENDER_MAX - 1] + "\u2026"


def _storable_json(value: Any) -> Any:
    """A copy of a small JSON value (the cleaning summary) with every string made storable."""
    if isinstance(value, dict):
        return {_storable_text(str(k)): _storable_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable_json(v) for v in value]
    return _storable_text(value) if isinstance(value, str) else value


def _in_utc(value: datetime | None) -> datetime | None:
    """`value` in UTC (a record's is already); a Date header's that has no UTC equivalent is dropped."""
    if value is None:
        return None
    try:
        return to_utc(value)
    except RecordError:
        return None


def _apply_cleaning(message: Message, cleaned: CleanedEmail) -> None:
    message.cleaned_text = _storable_text(cleaned.text) or ""
    message.language = cleaned.language
    message.cleaned_at = utcnow()
    metadata = dict(message.metadata_ or {})
    metadata["cleaning"] = _storable_json(cleaned.metadata())
    message.metadata_ = metadata


def _same_content(stored_sha256: str, incoming: IncomingMessage, digest: str) -> bool:
    """Whether a stored message has the incoming raw content.

    The mbox reader once kept the empty line that separates messages as part of the message before it; an
    RFC 822 source stored in that form (one extra line break at the end) counts as the same content.
    """
    if stored_sha256 == digest:
        return True
    if not isinstance(incoming.raw, bytes):
        return False
    return stored_sha256 in (raw_digest(incoming.raw + ending) for ending in (b"\n", b"\r\n"))


def _other_subject(stored: Message, incoming: IncomingMessage) -> bool:
    """Whether a record gives a subject field other than the stored one (the models read the subject too; a
    raw RFC 822 source carries its subject inside the raw content, which the hash compares)."""
    return incoming.subject is not None and _storable_text(incoming.subject) != stored.subject


def _ignored_fields(stored: Message, incoming: IncomingMessage) -> list[str]:
    """The descriptive fields a record gives that differ from the stored message's: the content decides
    whether a message is known, so these are not applied to it, and the caller is told."""
    ignored = []
    if incoming.sender is not None and _stored_sender(incoming.sender) != stored.sender:
        ignored.append("sender")
    if incoming.received_at is not None and _in_utc(incoming.received_at) != stored.received_at:
        ignored.append("received_at")
    if incoming.metadata and (stored.metadata_ or {}).get("input") != incoming.metadata:
        ignored.append("metadata")
    return ignored


def _import_labels(
    session: Session, message: Message, labels: dict[str, str], source: str, current: dict[str, Label]
) -> IngestResult:
    """Add `labels` where `current` (the message's current labels) has none of the set; report conflicts."""
    result = IngestResult("inserted", message)
    for set_name, class_name in labels.items():
        existing = current.get(set_name)
        if existing is None:
            session.add(Label(message=message, label_set=set_name, class_name=class_name, source=source))
            result.labels_added += 1
        elif existing.class_name != class_name:
            result.label_conflicts.append(
                f"{message.message_id}: {set_name} is {existing.class_name!r} ({existing.source}), "
                f"input says {class_name!r}; kept the stored label"
            )
    return result


def ingest_one(session: Session, incoming: IncomingMessage, source: str = "import") -> IngestResult:
    """Store one message (not committed). Labels in `incoming` are added where the set has none yet."""
    digest = raw_digest(incoming.raw)
    existing = session.scalar(select(Message).where(Message.message_id == incoming.message_id))
    if existing is not None:
        if (
            not _same_content(existing.raw_sha256, incoming, digest)
            or existing.raw_format != incoming.raw_format  # the same text read as a body or as RFC 822
            or _other_subject(existing, incoming)
        ):
            return IngestResult("changed", existing)
        current: dict[str, Label] = {}
        if incoming.labels:  # sent twice at once: the second waits and sees the first's labels
            lock_messages(session, [existing.id])
            current = current_labels(session, existing.id)
        result = _import_labels(session, existing, incoming.labels, source, current)
        result.outcome = "unchanged"
        result.ignored = _ignored_fields(existing, incoming)
        return result
    cleaned = clean_message(incoming.raw, incoming.raw_format)
    stored, encoding = encode_raw(incoming.raw)
    message = Message(
        message_id=incoming.message_id,
        subject=_storable_text(incoming.subject or cleaned.subject),
        sender=_stored_sender(incoming.sender or cleaned.sender),
        received_at=_in_utc(incoming.received_at or cleaned.received_at),
        raw_format=incoming.raw_format,
        raw_body=stored,
        raw_encoding=encoding,
        raw_sha256=digest,
        metadata_={"input": incoming.metadata} if incoming.metadata else {},
        source=source,
        labels=[],
    )
    _apply_cleaning(message, cleaned)
    session.add(message)
    return _import_labels(session, message, incoming.labels, source, {})


def ingest_messages(
    sessions: sessionmaker[Session], items: Iterable[IncomingMessage | Rejection], source: str = "import"
) -> IngestReport:
    """Store every message of `items`, committing each on its own; rejections pass into the report."""
    report = IngestReport()
    for item in items:
        if isinstance(item, Rejection):
            report.rejected.append(item)
            continue
        try:
            result = _store_one(sessions, item, source)
        except StoreUnusableError:  # damaged, read-only or full: every record would fail the same way
            raise
        except Exception as exc:  # a store error, or anything else: one record never stops the run
            report.rejected.append(_not_stored(item, exc))
            continue
        if result.outcome == "changed":
            report.changed.append(
                Rejection(
                    item.origin,
                    "content differs from the stored message with this ID; not overwritten",
                    item.message_id,
                )
            )
            continue
        if result.outcome == "inserted":
            report.inserted += 1
            for flag in result.message.metadata_.get("cleaning", {}).get("flags", []):
                report.cleaning_flags[flag] = report.cleaning_flags.get(flag, 0) + 1
        else:
            report.unchanged += 1
            for name in result.ignored:
                report.ignored_fields[name] = report.ignored_fields.get(name, 0) + 1
        report.labels_added += result.labels_added
        report.label_conflicts.extend(result.label_conflicts)
    return report


def _store_one(sessions: sessionmaker[Session], item: IncomingMessage, source: str) -> IngestResult:
    """`ingest_one` committed. Another run (a second `ingest`, the HTTP service) may store the same ID
    between the lookup and the commit: the unique ID refuses the second insert, and once more the message is
    found stored, so it is compared like any known message instead of being reported as a store error."""
    try:
        return _committed(sessions, item, source)
    except IntegrityError:
        return _committed(sessions, item, source)


def _committed(sessions: sessionmaker[Session], item: IncomingMessage, source: str) -> IngestResult:
    with sessions() as session:
        try:
            result = ingest_one(session, item, source)
            session.commit()
        except BaseException:
            session.rollback()
            raise
    return result


def _not_stored(item: IncomingMessage, exc: Exception) -> Rejection:
    """The rejection of a message the store refused (or that failed on the way)."""
    kind = "store error" if isinstance(exc, SQLAlchemyError) else "not stored, unexpected error"
    return Rejection(item.origin, f"{kind}: {exc.__class__.__name__}", item.message_id)


def reclean_all(sessions: sessionmaker[Session], batch_size: int = 200) -> int:
    """Re-run cleaning on every stored message from its raw input; returns how many were cleaned."""
    done = 0
    last_id = 0
    while True:
        with sessions() as session:
            batch = session.scalars(
                select(Message).where(Message.id > last_id).order_by(Message.id).limit(batch_size)
            ).all()
            if not batch:
                return done
            for message in batch:
                raw = decode_input(message.raw_body, message.raw_encoding, message.raw_format)
                _apply_cleaning(message, clean_message(raw, message.raw_format))  # type: ignore[arg-type]
            session.commit()
            done += len(batch)
            last_id = batch[-1].id
