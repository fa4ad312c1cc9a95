"""What the endpoints do, without HTTP: store a message, read one, classify by ID and keep every result.

Every classification stores a `Prediction` (all label sets, the model version and variant) and a
`RoutingDecision` in one transaction. A store error rolls back and is reported (503); nothing stored before
is touched.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from postroom.errors import PostroomError
from postroom.ingest.fields import (
    DuplicateKeyError,
    RecordError,
    check_message_id,
    loads_json,
    record_to_message,
)
from postroom.ingest.readers import rfc822_to_message
from postroom.ingest.records import IncomingMessage, Rejection
from postroom.ingest.service import IngestResult, ingest_one
from postroom.store import StoreError, check_store
from postroom.store.models import Label, Message, Prediction, RoutingDecision, utcnow
from postroom.taxonomy import Taxonomy
from router.errors import ThresholdError
from router.thresholds import (
    ActiveThresholds,
    VersionKey,
    active_version_key_columns,
    how_to_resume_replies,
    version_key,
)
from serving.errors import InvalidRequest, MessageConflict, MessageNotFound, PayloadTooLarge, store_failed
from serving.lifecycle import LoadedModel, ModelHolder
from serving.metrics import Metrics
from serving.routing import ActiveThresholdCache, Routing, route
from serving.runtime import Prediction as ModelPrediction
from serving.strings import ID_FIELDS, MESSAGE_TEXT_FIELDS, unstorable_string

log = logging.getLogger("postroom.serving")


def normalize_id(value: object) -> str:
    """The stored form of an external message ID (`<abc@host>` and `abc@host` are the same message).

    Raises:
        InvalidRequest: empty, too long, control or invisible characters, or not a string.
    """
    try:
        return check_message_id(value)
    except RecordError as exc:
        raise InvalidRequest(str(exc)) from None


def _shown_id(raw: object) -> str:
    """A refused ID as a batch item echoes it: at most 100 characters, always valid UTF-8 (a lone surrogate
    is written as its escape), JSON for what is not a string."""
    text = raw if isinstance(raw, str) else json.dumps(raw)
    return text[:100].encode("utf-8", "backslashreplace").decode("utf-8")


def _incoming(item: IncomingMessage | Rejection) -> IncomingMessage:
    if isinstance(item, Rejection):
        raise InvalidRequest(item.reason)
    return item


def parse_json_message(data: bytes, taxonomy: Taxonomy, max_bytes: int) -> IncomingMessage:
    """A message from a JSON object with the fields of a JSONL ingestion record (docs/ingestion.md)."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the message is larger than {max_bytes} bytes (POSTROOM_MAX_MESSAGE_BYTES)")
    try:
        record = loads_json(data)
    except RecursionError:
        raise InvalidRequest("the body is not valid JSON: nested too deeply") from None
    except DuplicateKeyError as exc:
        raise InvalidRequest.key_given_twice(exc) from None
    except RecordError as exc:  # NaN, Infinity
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise InvalidRequest(f"the body is not valid JSON{where}") from None
    if not isinstance(record, dict):
        raise InvalidRequest(f"the body must be a JSON object, got {type(record).__name__}")
    if (found := unstorable_string(record, skip=ID_FIELDS | MESSAGE_TEXT_FIELDS)) is not None:
        where, problem = found  # a sender or metadata value: refused, never silently changed
        raise InvalidRequest(f"{where}: {problem}")
    return _incoming(record_to_message(record, taxonomy, "api"))


def parse_rfc822_message(data: bytes, taxonomy: Taxonomy, max_bytes: int) -> IncomingMessage:
    """A message from a raw RFC 822 source; labels from `X-Postroom-<Label-Set>` headers."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the message is larger than {max_bytes} bytes (POSTROOM_MAX_MESSAGE_BYTES)")
    return _incoming(rfc822_to_message(data, "api", taxonomy))


def store_message(session: Session, incoming: IncomingMessage) -> IngestResult:
    """Store one message, idempotent by ID; the same ID with other content is a conflict.

    Raises:
        MessageConflict: a message with this ID is stored with a different content.
        StoreError: the store failed; nothing was written.
    """
    for attempt in (1, 2):
        try:
            result = ingest_one(session, incoming, source="api")
            if result.outcome == "changed":
                session.rollback()
                raise MessageConflict(
                    f"message {incoming.message_id!r} is stored with a different content; "
                    "it is not overwritten"
                )
            session.commit()
            return result
        except IntegrityError:  # the same new ID stored concurrently: read it back and compare
            session.rollback()
            if attempt == 2:
                raise store_failed("the message could not be stored (concurrent writes); retry") from None
        except StoreError:  # damaged, read-only, full or unreachable: its message says which, and no values
            session.rollback()
            raise
        except SQLAlchemyError as exc:
            session.rollback()
            raise store_failed(f"the message could not be stored: {type(exc).__name__}") from None
    raise AssertionError("unreachable")


def find_message(session: Session, message_id: str) -> Message:
    message = session.scalar(select(Message).where(Message.message_id == message_id))
    if message is None:
        raise _not_found(message_id)
    return message


def _not_found(message_id: str) -> MessageNotFound:
    return MessageNotFound(f"no message with ID {message_id!r}; store it first (POST /v1/messages)")


def _messages_and_thresholds_key(
    session: Session, message_ids: list[str]
) -> tuple[list[Message], VersionKey | None]:
    """The stored messages among `message_ids` and the active thresholds version's key, in one statement
    (classification needs both; on PostgreSQL each statement is a round trip)."""
    rows = session.execute(
        select(Message, *active_version_key_columns()).where(Message.message_id.in_(message_ids))
    ).all()
    if not rows:
        return [], None  # nothing to classify: the key is not needed
    return [row[0] for row in rows], version_key(rows[0][1], rows[0][2])


@dataclass(frozen=True)
class StoredPrediction:
    id: int
    model_version: str
    variant: str
    results: dict[str, object]
    created_at: datetime
    routing: Routing | None


@dataclass(frozen=True)
class MessageView:
    message: Message
    labels: dict[str, str]
    latest: StoredPrediction | None


def get_message(session: Session, raw_id: object) -> MessageView:
    """A stored message with its current labels and its latest prediction and decision."""
    message = find_message(session, normalize_id(raw_id))
    labels = {
        label.label_set: label.class_name
        for label in session.scalars(
            select(Label).where(Label.message_pk == message.id, Label.is_current.is_(True))
        )
    }
    prediction = session.scalar(
        select(Prediction).where(Prediction.message_pk == message.id).order_by(Prediction.id.desc()).limit(1)
    )
    latest = None
    if prediction is not None:
        decision = session.scalar(
            select(RoutingDecision)
            .where(RoutingDecision.prediction_pk == prediction.id)
            .order_by(RoutingDecision.id.desc())
            .limit(1)
        )
        routing = None
        if decision is not None:
            routing = Routing(
                decision.decision,  # type: ignore[arg-type]
                decision.queue or "",
                decision.reply_class,
                decision.reasons.get("reply"),
                decision.thresholds_version,
                list(decision.reasons.get("reasons", [])),
            )
        latest = StoredPrediction(
            prediction.id,
            prediction.model_version,
            prediction.variant,
            prediction.results,
            prediction.created_at,
            routing,
        )
    return MessageView(message, labels, latest)


@dataclass(frozen=True)
class Classification:
    message_id: str
    model_version: str
    variant: str
    provider: str
    prediction_id: int
    predictions: ModelPrediction
    routing: Routing
    created_at: datetime


@dataclass(frozen=True)
class ItemError:
    message_id: str
    error: str
    detail: str
    status: int


class ClassifyService:
    """Classification by message ID against the model the holder serves at the time of the call."""

    def __init__(self, taxonomy: Taxonomy, holder: ModelHolder, metrics: Metrics, batch_limit: int) -> None:
        self.taxonomy = taxonomy
        self.holder = holder
        self.metrics = metrics
        self.batch_limit = batch_limit
        self.thresholds = ActiveThresholdCache(taxonomy)
        self._paused: tuple[str | None, str] | None = None  # (calibrated for, served) while replies wait
        self._paused_lock = threading.Lock()

    def replies_paused(self, thresholds: ActiveThresholds, model_version: str | None) -> str | None:
        """Why automated replies wait (`ActiveThresholds.replies_paused`), kept in the gauge. The start of a
        wait is logged once, with what ends it (another thresholds version for the same old model, e.g. a
        suspension, is the same wait), and its end once."""
        paused = thresholds.replies_paused(model_version)
        self.metrics.replies_paused.set(1 if paused else 0)
        if model_version is None:
            return paused
        key = (thresholds.model_version, model_version) if paused else None
        with self._paused_lock:
            previous, self._paused = self._paused, key
        if key != previous:
            if paused:
                log.warning("%s: %s", paused, how_to_resume_replies(model_version))
            elif previous is not None:
                version = thresholds.version
                log.info("automated replies resumed: thresholds version %s fit %s", version, model_version)
        return paused

    def refresh_paused(self, session: Session) -> None:
        """Bring `postroom_auto_replies_paused` up to date before a scrape: a promotion or a thresholds
        change made elsewhere (the CLI, another pod) shows without waiting for a classify call."""
        model = self.holder.loaded
        self.replies_paused(self.thresholds.read(session), model.version if model is not None else None)

    def classify(self, session: Session, raw_id: object) -> Classification:
        """Classify one stored message and store the prediction and the decision.

        Raises:
            InvalidRequest: the ID is malformed.
            ModelNotLoaded: no model is loaded.
            MessageNotFound: no message with this ID.
            StoreError: the results could not be stored.
        """
        message_id = normalize_id(raw_id)
        model = self.holder.current
        found, key = _messages_and_thresholds_key(session, [message_id])
        if not found:
            raise _not_found(message_id)
        outcome = self._classify(session, model, found, key)[0]
        if isinstance(outcome, ItemError):  # only a store error gets here
            raise store_failed(outcome.detail)
        return outcome

    def classify_batch(self, session: Session, raw_ids: Sequence[object]) -> list[Classification | ItemError]:
        """Classify many messages in one model run; a bad or unknown ID fails alone."""
        if not raw_ids:
            raise InvalidRequest("message_ids is empty")
        if len(raw_ids) > self.batch_limit:
            raise InvalidRequest(
                f"at most {self.batch_limit} message IDs per batch, got {len(raw_ids)} "
                "(POSTROOM_SERVE_BATCH_MAX_IDS)"
            )
        model = self.holder.current
        results: list[Classification | ItemError | None] = [None] * len(raw_ids)
        wanted: dict[str, list[int]] = {}
        for index, raw in enumerate(raw_ids):
            try:
                wanted.setdefault(normalize_id(raw), []).append(index)
            except InvalidRequest as exc:
                results[index] = ItemError(_shown_id(raw), "InvalidRequest", str(exc), 422)
        stored, key = _messages_and_thresholds_key(session, list(wanted)) if wanted else ([], None)
        found = {m.message_id: m for m in stored}
        for message_id, indexes in wanted.items():
            if message_id not in found:
                for index in indexes:
                    results[index] = ItemError(
                        message_id, "MessageNotFound", f"no message with ID {message_id!r}", 404
                    )
        messages = [found[m] for m in wanted if m in found]
        if messages:
            for message, outcome in zip(messages, self._classify(session, model, messages, key), strict=True):
                for index in wanted[message.message_id]:
                    results[index] = outcome
        return [r for r in results if r is not None]

    def _classify(
        self, session: Session, model: LoadedModel, messages: list[Message], key: VersionKey | None
    ) -> list[Classification] | list[ItemError]:
        """Classify stored messages with the thresholds version `key` names (read with them, before the
        model runs: one version for the whole call, so a change written while the model runs applies from the
        next call); store and return a result per message, or a store error for each."""
        texts = [m.model_text for m in messages]
        predictions = model.predict(texts)
        self.metrics.batch_size.observe(len(texts))
        second_look = model.classifier.fallback_share
        if second_look is not None:
            self.metrics.second_look.set(second_look)
        rows = []
        try:
            thresholds = self.thresholds.read_at(session, key)
            paused = self.replies_paused(thresholds, model.version)
            for message, text, prediction in zip(messages, texts, predictions, strict=True):
                routing = route(
                    thresholds,
                    self.taxonomy,
                    prediction,
                    message.language,
                    has_text=bool(text.strip()),
                    paused=paused,
                )
                stored = Prediction(
                    message_pk=message.id,
                    model_version=model.version,
                    variant=f"onnx-{model.variant}",
                    results={name: p.to_record() for name, p in prediction.items()},
                    created_at=utcnow(),
                )
                session.add(stored)
                session.add(
                    RoutingDecision(
                        prediction=stored,
                        message_pk=message.id,
                        decision=routing.decision,
                        queue=routing.queue,
                        reply_class=routing.reply_class,
                        thresholds_version=routing.thresholds_version,
                        reasons={
                            "reasons": routing.reasons,
                            "reply": routing.reply,
                            "provider": model.provider,
                        },
                    )
                )
                rows.append((message, prediction, routing, stored))
            session.commit()
        except (SQLAlchemyError, PostroomError) as exc:
            session.rollback()
            detail = f"the prediction could not be stored: {type(exc).__name__}"
            if isinstance(exc, ThresholdError):  # the active version's learned confidence is unreadable
                detail = f"the prediction could not be routed: {exc}"
            return [ItemError(m.message_id, "StoreError", detail, 503) for m in messages]
        out = []
        for message, prediction, routing, stored in rows:
            for name, p in prediction.items():
                self.metrics.predictions.labels(name, p.class_name).inc()
            self.metrics.decisions.labels(routing.decision, routing.queue).inc()
            out.append(
                Classification(
                    message.message_id,
                    model.version,
                    model.variant,
                    model.provider,
                    stored.id,
                    prediction,
                    routing,
                    stored.created_at,
                )
            )
        return out


def readiness(holder: ModelHolder, engine: Engine) -> LoadedModel:
    """The loaded model, after checking the store answers at the current schema.

    Raises:
        ModelNotLoaded: no model is loaded (the reason says why).
        StoreError: the store is unreachable or not migrated.
    """
    model = holder.current
    check_store(engine)
    return model
