"""The message store's tables (SQLAlchemy 2 declarative). Alembic migrations mirror these exactly.

Messages are keyed by their external message ID. Labels keep their history: a changed label marks the old
row `is_current = False` and adds a new one. Predictions, routing decisions, feedback, threshold versions
and model events are append-only records.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Dialect, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

MESSAGE_ID_MAX = 512  # external IDs: RFC 5322 Message-IDs are at most 998 octets; real ones are short
NAME_MAX = 128
# The largest row id every store holds: ids are `Integer` columns, 32-bit on PostgreSQL (SQLite's hold more).
# An id given from outside above it names no row; checked before a query, which PostgreSQL would refuse.
MAX_ROW_ID = 2**31 - 1
LABEL_SOURCE_MAX = 32
SENDER_MAX = 1024  # a From header's mailboxes as read; longer ones are cut at ingestion

# Prediction.purpose: why a prediction was made. Calibration predictions only set thresholds.
PURPOSE_SERVE = "serve"
PURPOSE_CALIBRATION = "calibration"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_utc(value: datetime) -> str:
    """A stored (UTC) time as the API writes it: ISO 8601 with `Z` (`2026-12-06T16:34:52.120431Z`)."""
    return value.isoformat().replace("+00:00", "Z")


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC and read back aware (UTC) on every database.

    `DateTime(timezone=True)` alone keeps the offset on PostgreSQL but not on SQLite, which stores the wall
    time and returns it naive: 09:30+01:00 read back as 09:30, and the lead's page, reading a zoneless time
    as its own local time, showed times an hour or two off. Aware values are converted to UTC before they
    are stored; naive ones are taken as UTC (what `utcnow` and every stored row already hold).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def as_utc(value: datetime) -> datetime:
    """`value` in UTC, aware; a naive value is taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime()}


class Message(Base):
    """One client email: the raw input as received, and the cleaned text the models see."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(MESSAGE_ID_MAX), unique=True)
    subject: Mapped[str | None] = mapped_column(Text)
    sender: Mapped[str | None] = mapped_column(String(SENDER_MAX))
    received_at: Mapped[datetime | None]
    raw_format: Mapped[str] = mapped_column(String(16))  # text | html | rfc822
    raw_body: Mapped[str] = mapped_column(Text)  # exactly as received, see postroom.ingest.rawcodec
    raw_encoding: Mapped[str] = mapped_column(String(16), default="utf-8")  # text | utf-8 | base64
    raw_sha256: Mapped[str] = mapped_column(String(64))
    cleaned_text: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(8))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    source: Mapped[str] = mapped_column(String(NAME_MAX), default="import")  # file, api, …
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)
    cleaned_at: Mapped[datetime | None]

    labels: Mapped[list[Label]] = relationship(back_populates="message", cascade="all, delete-orphan")

    @property
    def model_text(self) -> str:
        """What the classifiers read: the subject line, then the cleaned body."""
        subject = (self.subject or "").strip()
        return f"{subject}\n{self.cleaned_text}".strip() if subject else self.cleaned_text


class Label(Base):
    """A class of one label set for one message, with who said so and when."""

    __tablename__ = "labels"
    __table_args__ = (
        Index("ix_labels_current", "message_pk", "label_set", "is_current"),
        # at most one current label per message and set (postroom.store.labels: how writers keep it)
        Index(
            "ux_labels_one_current",
            "message_pk",
            "label_set",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    label_set: Mapped[str] = mapped_column(String(NAME_MAX))
    class_name: Mapped[str] = mapped_column(String(NAME_MAX))
    source: Mapped[str] = mapped_column(String(LABEL_SOURCE_MAX))  # import | doccano | feedback | api
    annotator: Mapped[str | None] = mapped_column(String(NAME_MAX))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)

    message: Mapped[Message] = relationship(back_populates="labels")


class Prediction(Base):
    """One classification of one message by one model version: every label set's result."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    model_version: Mapped[str] = mapped_column(String(NAME_MAX))
    variant: Mapped[str] = mapped_column(String(32))  # torch | onnx-fp32 | onnx-int8 …
    purpose: Mapped[str] = mapped_column(String(16), default=PURPOSE_SERVE)  # PURPOSE_*
    results: Mapped[dict[str, Any]] = mapped_column(JSON)  # {label_set: {class, probability, top}}
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoutingDecision(Base):
    """What the router decided for a prediction, under which thresholds, and why."""

    __tablename__ = "routing_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prediction_pk: Mapped[int] = mapped_column(ForeignKey("predictions.id", ondelete="CASCADE"), index=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    decision: Mapped[str] = mapped_column(String(16))  # auto_reply | human
    queue: Mapped[str | None] = mapped_column(String(NAME_MAX))
    reply_class: Mapped[str | None] = mapped_column(String(NAME_MAX))
    thresholds_version: Mapped[int | None] = mapped_column(Integer)
    reasons: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # set with the new Prediction so both are written in one flush (no flush to learn its id first)
    prediction: Mapped[Prediction] = relationship()


class Feedback(Base):
    """The outcome of a closed case, reported by the CRM."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    decision_pk: Mapped[int | None] = mapped_column(
        ForeignKey("routing_decisions.id", ondelete="SET NULL"), index=True  # a deleted decision's feedback
    )
    final_labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    auto_reply_resolved: Mapped[bool | None] = mapped_column(Boolean)
    agent: Mapped[str | None] = mapped_column(String(NAME_MAX))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # the feedback window


class ThresholdVersion(Base):
    """An immutable set of per-class thresholds; the newest version is the active one."""

    __tablename__ = "threshold_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)  # {label_set: {class: threshold or null}}
    model_version: Mapped[str | None] = mapped_column(String(NAME_MAX))
    created_by: Mapped[str] = mapped_column(String(NAME_MAX))
    reason: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """Something a person or Postroom did that a team lead may need to see later.

    Examples: a model promoted, an auto-reply suspended by the feedback monitor, a label changed.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str | None] = mapped_column(String(MESSAGE_ID_MAX), index=True)
    actor: Mapped[str] = mapped_column(String(NAME_MAX))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
