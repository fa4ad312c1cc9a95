"""One stored message as a person checks it (`postroom show ID`): its fields, labels, what the models read,
what the cleaner removed and why, and its latest classification. For the terminal of someone allowed to read
client mail; nothing here is logged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from postroom.cleaning import clean_with_trace
from postroom.errors import PostroomError
from postroom.ingest.fields import RecordError, check_message_id
from postroom.ingest.rawcodec import decode_input
from postroom.store.models import Message, Prediction, RoutingDecision, iso_utc


class MessageNotStored(PostroomError):
    """No stored message has the ID."""


@dataclass(frozen=True)
class CleanedLine:
    """One line of the decoded body and what the cleaner decided for it."""

    kind: str  # body | closing (kept), quote | signature | disclaimer … (removed)
    text: str


@dataclass(frozen=True)
class MessageView:
    fields: dict[str, Any]  # message_id, subject, sender, received_at, language, source, ingested_at …
    labels: list[dict[str, Any]]  # current labels: set, class, source, annotator
    model_text: str
    cleaning: dict[str, Any]  # the stored cleaner metadata: version, removed lines per kind, flags
    latest: dict[str, Any] | None  # the newest classification: model, per set class and probability, decision
    lines: list[CleanedLine] = field(default_factory=list)  # with `lines`: the cleaner run again, per line

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.fields,
            "labels": self.labels,
            "model_text": self.model_text,
            "cleaning": self.cleaning,
            "latest_prediction": self.latest,
            "lines": [{"kind": line.kind, "text": line.text} for line in self.lines],
        }


def _iso(value: Any) -> str | None:
    """UTC to the second, as the API writes times (`2026-12-06T16:34:52Z`)."""
    return iso_utc(value.replace(microsecond=0)) if value is not None else None


def message_view(session: Session, message_id: str, lines: bool = False) -> MessageView:
    """The stored message `message_id` (`<…>` around it ignored); with `lines`, the cleaner's decision for
    each line of its raw input, run again with today's cleaner (what `postroom clean --all` would store).

    Raises:
        MessageNotStored: no such message, or an ID no message can have.
    """
    try:
        wanted = check_message_id(message_id)
    except RecordError as exc:
        raise MessageNotStored(f"no stored message can have that ID: {exc}") from None
    message = session.scalar(
        select(Message).options(selectinload(Message.labels)).where(Message.message_id == wanted)
    )
    if message is None:
        raise MessageNotStored(f"no stored message has the ID {wanted!r}")
    fields = {
        "message_id": message.message_id,
        "subject": message.subject,
        "sender": message.sender,
        "received_at": _iso(message.received_at),
        "language": message.language,
        "source": message.source,
        "raw_format": message.raw_format,
        "ingested_at": _iso(message.ingested_at),
        "cleaned_at": _iso(message.cleaned_at),
    }
    labels = [
        {"label_set": x.label_set, "class": x.class_name, "source": x.source, "annotator": x.annotator}
        for x in sorted(message.labels, key=lambda x: x.label_set)
        if x.is_current
    ]
    stored = (message.metadata_ or {}).get("cleaning")  # written by ingestion and `postroom clean`
    meta = stored if isinstance(stored, dict) else {}
    cleaning = {
        "cleaner_version": meta.get("cleaner_version"),
        "removed_lines": {k: v for k, v in (meta.get("removed_lines") or {}).items() if v},
        "flags": list(meta.get("flags") or []),
    }
    traced = []
    if lines:
        raw = decode_input(message.raw_body, message.raw_encoding, message.raw_format)
        trace = clean_with_trace(raw, message.raw_format)  # type: ignore[arg-type]
        traced = [CleanedLine(kind, text) for text, kind in zip(trace.lines, trace.labels, strict=True)]
    return MessageView(fields, labels, message.model_text, cleaning, _latest(session, message.id), traced)


def _latest(session: Session, message_pk: int) -> dict[str, Any] | None:
    prediction = session.scalar(
        select(Prediction).where(Prediction.message_pk == message_pk).order_by(Prediction.id.desc()).limit(1)
    )
    if prediction is None:
        return None
    decision = session.scalar(
        select(RoutingDecision).where(RoutingDecision.prediction_pk == prediction.id).limit(1)
    )
    results = prediction.results if isinstance(prediction.results, dict) else {}
    return {
        "prediction_id": prediction.id,
        "model_version": prediction.model_version,
        "variant": prediction.variant,
        "purpose": prediction.purpose,
        "created_at": _iso(prediction.created_at),
        "predictions": {
            name: {"class": r.get("class"), "probability": r.get("probability")}
            for name, r in results.items()
            if isinstance(r, dict)
        },
        "decision": None
        if decision is None
        else {"decision": decision.decision, "queue": decision.queue, "reply_class": decision.reply_class},
    }
