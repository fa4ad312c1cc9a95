"""Request and response bodies of the HTTP API (the OpenAPI schema is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, StrictBool, StrictInt, StrictStr

from postroom.ingest.records import RawFormat
from postroom.store.models import MAX_ROW_ID, NAME_MAX, AuditEvent, ThresholdVersion
from router.thresholds import damage, details_of
from serving.lifecycle import LoadedModel
from serving.routing import Routing
from serving.runtime import SetPrediction
from serving.service import Classification, ItemError, MessageView
from serving.strings import one_line

MessageIdIn = StrictStr | StrictInt


class _Out(BaseModel):
    """A response body. Every field is always sent (null where empty), so the OpenAPI schema lists every one
    as required: client generators then type them as present, not as optional."""

    model_config = ConfigDict(populate_by_name=True, json_schema_serialization_defaults_required=True)


class ErrorPublic(BaseModel):
    """Every error response: the error's name and what to do about it."""

    error: str = Field(examples=["MessageNotFound"])
    detail: str = Field(examples=["no message with ID 'abc@example.org'; store it first (POST /v1/messages)"])


class MessageCreate(BaseModel):
    """A message as JSON: the fields of a JSONL ingestion record (docs/ingestion.md).

    Exactly one of `body` (plain text), `html` or `raw` (an RFC 822 source). Labels, when known, go in one
    field per label set, named as the set (`queue`, `topic`, …).
    """

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "message_id": "msg-0001@example.org",
                    "subject": "Karte verloren",
                    "body": "Guten Tag, ich habe meine Karte verloren. Bitte sperren.",
                    "received_at": "2026-04-17T09:30:00Z",
                }
            ],
        },
    )

    message_id: MessageIdIn
    subject: str | None = None
    sender: str | None = None
    received_at: str | None = Field(None, description="ISO 8601 with a time zone.")
    body: str | None = None
    html: str | None = None
    raw: str | None = None
    metadata: dict[str, Any] | None = None


class MessageStored(_Out):
    message_id: str
    outcome: Literal["inserted", "unchanged"]
    labels_added: int
    label_conflicts: list[str]
    ignored_fields: list[str] = Field(
        default_factory=list,
        description="`unchanged` only: fields this request gives (sender, received_at, metadata) that differ "
        "from the stored message's; a stored message is never changed, so they were not applied.",
    )


class ClassScorePublic(_Out):
    class_name: str = Field(serialization_alias="class", validation_alias="class")
    probability: float


class LabelSetResult(_Out):
    class_name: str = Field(serialization_alias="class", validation_alias="class")
    probability: float
    top: list[ClassScorePublic]

    @classmethod
    def of(cls, p: SetPrediction) -> LabelSetResult:
        return cls.model_validate(p.to_record())


class ReplyPublic(_Out):
    language: str
    subject: str
    body: str


class DecisionPublic(_Out):
    decision: Literal["auto_reply", "human"]
    queue: str
    reply_class: str | None = None
    reply: ReplyPublic | None = None
    thresholds_version: int | None = None
    reasons: list[str]

    @classmethod
    def of(cls, routing: Routing) -> DecisionPublic:
        return cls.model_validate(routing.to_public())


class PredictionPublic(_Out):
    prediction_id: int
    model_version: str
    variant: str = Field(
        description="What computed it, as stored: `onnx-int8`, `onnx-fp32`, `onnx-optimized` (the service; "
        "its classify answer names the export variant alone: `int8`), `torch` (PyTorch, a calibration)."
    )
    created_at: datetime
    predictions: dict[str, LabelSetResult]
    decision: DecisionPublic | None


class MessagePublic(_Out):
    message_id: str
    subject: str | None
    sender: str | None
    received_at: datetime | None
    ingested_at: datetime
    raw_format: RawFormat
    raw_sha256: str
    language: str | None
    cleaned_text: str
    model_text: str = Field(description="What the classifiers read: the subject line, then the cleaned body.")
    metadata: dict[str, Any]
    labels: dict[str, str]
    latest_prediction: PredictionPublic | None

    @classmethod
    def of(cls, view: MessageView) -> MessagePublic:
        m = view.message
        latest = None
        if view.latest is not None:
            p = view.latest
            latest = PredictionPublic(
                prediction_id=p.id,
                model_version=p.model_version,
                variant=p.variant,
                created_at=p.created_at,
                predictions={k: LabelSetResult.model_validate(v) for k, v in p.results.items()},
                decision=DecisionPublic.of(p.routing) if p.routing else None,
            )
        return cls(
            message_id=m.message_id,
            subject=m.subject,
            sender=m.sender,
            received_at=m.received_at,
            ingested_at=m.ingested_at,
            raw_format=m.raw_format,
            raw_sha256=m.raw_sha256,
            language=m.language,
            cleaned_text=m.cleaned_text,
            model_text=m.model_text,
            metadata=m.metadata_ or {},
            labels=view.labels,
            latest_prediction=latest,
        )


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"message_id": "msg-0001@example.org"}]}
    )

    message_id: MessageIdIn


class ClassifyResponse(_Out):
    message_id: str
    model_version: str
    variant: str = Field(
        description="The export variant that ran: `int8`, `fp32` or `optimized` (stored, and shown by "
        "GET /v1/messages/{id}, as `onnx-int8` …)."
    )
    provider: str
    prediction_id: int
    created_at: datetime
    predictions: dict[str, LabelSetResult]
    decision: DecisionPublic

    @classmethod
    def of(cls, c: Classification) -> ClassifyResponse:
        return cls(
            message_id=c.message_id,
            model_version=c.model_version,
            variant=c.variant,
            provider=c.provider,
            prediction_id=c.prediction_id,
            created_at=c.created_at,
            predictions={name: LabelSetResult.of(p) for name, p in c.predictions.items()},
            decision=DecisionPublic.of(c.routing),
        )


class ClassifyBatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"message_ids": ["a@x", "b@x"]}]}
    )

    message_ids: list[JsonValue] = Field(
        description="Up to POSTROOM_SERVE_BATCH_MAX_IDS IDs (default 64), strings or integers; an item that "
        "is not a valid ID fails alone (its result says why)."
    )


class BatchItemPublic(_Out):
    message_id: str
    ok: bool
    result: ClassifyResponse | None = None
    error: ErrorPublic | None = None
    status: int = Field(description="The status this ID would have had on its own (200, 404, 422, 503).")

    @classmethod
    def of(cls, item: Classification | ItemError) -> BatchItemPublic:
        if isinstance(item, ItemError):
            return cls(
                message_id=item.message_id,
                ok=False,
                status=item.status,
                error=ErrorPublic(error=item.error, detail=item.detail),
            )
        return cls(message_id=item.message_id, ok=True, status=200, result=ClassifyResponse.of(item))


class ClassifyBatchResponse(_Out):
    results: list[BatchItemPublic]
    succeeded: int
    failed: int


class ModelPublic(_Out):
    version: str
    variant: str
    provider: str
    source: str
    loaded_at: datetime
    label_sets: dict[str, list[str]]

    @classmethod
    def of(cls, model: LoadedModel) -> ModelPublic:
        return cls(
            version=model.version,
            variant=model.variant,
            provider=model.provider,
            source=str(model.source.path),
            loaded_at=model.loaded_at,
            label_sets={k: list(v) for k, v in model.classifier.classes.items()},
        )


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        None,
        min_length=1,
        max_length=4096,
        description="production, latest or a registry version (v0004, 4); default: the configured one. "
        "Not a path: an export directory is served only where the configuration names it.",
    )
    variant: Literal["auto", "fp32", "optimized", "int8"] | None = None


class ReloadResponse(_Out):
    previous: ModelPublic | None
    current: ModelPublic


class HealthPublic(_Out):
    status: str


class ReadyModelPublic(_Out):
    """What `/readyz` (no key needed) says of the model: which one runs, not where its files are."""

    version: str
    variant: str
    provider: str
    loaded_at: datetime

    @classmethod
    def of(cls, model: LoadedModel) -> ReadyModelPublic:
        return cls(
            version=model.version, variant=model.variant, provider=model.provider, loaded_at=model.loaded_at
        )


class ReadyPublic(_Out):
    status: str
    model: ReadyModelPublic
    store: str


class ThresholdsPublic(_Out):
    version: int | None
    values: dict[str, dict[str, float | None]]


# The team lead's side of the router: threshold changes, suggestions, feedback, audit events, the page's data.

Threshold = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
Precision = Annotated[float, Field(strict=True, gt=0, lt=1, allow_inf_nan=False)]
Reason = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=2000,
        description="Why: recorded with the change. One line of plain text (no line breaks or other control "
        "characters).",
    ),
    AfterValidator(one_line),
]
BaseVersion = Annotated[
    StrictInt | None,
    Field(
        ge=0,
        description="The active thresholds version the change was made against (0: none yet). When given "
        "and another version is active now, the change is refused with 409.",
    ),
]


class ThresholdsUpdate(BaseModel):
    """New thresholds for some classes (`null`: no automated reply, or for a queue: always trusted)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "changes": {"topic": {"card_replacement": 0.93, "tax_certificate": None}},
                    "reason": "fewer wrong card replies after the new card product",
                }
            ]
        },
    )

    changes: dict[StrictStr, dict[StrictStr, Threshold | None]] = Field(
        min_length=1, description="Per label set, per class: a threshold in [0, 1], or null."
    )
    reason: Reason
    base_version: BaseVersion = None
    allow_zero: StrictBool = Field(
        False,
        description="Confirm 0 on an automated-reply class: every message predicted as it is answered "
        "automatically, however unsure the model is. Without it such a change is refused with 422 (null "
        "switches a reply off).",
    )


class ThresholdsRollback(BaseModel):
    """Make an earlier version's values active again (as a new version)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"version": 3, "reason": "v4 answered too many fee questions"}]},
    )

    version: StrictInt = Field(ge=1)
    reason: Reason
    base_version: BaseVersion = None


class SuggestionApply(BaseModel):
    """Compute a suggestion from calibration predictions and store it as the new active version."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"model_version": "v0003", "target_precision": 0.95}]},
    )

    model_version: StrictStr = Field(min_length=1, max_length=NAME_MAX)
    target_precision: Precision | None = Field(None, description="Default: POSTROOM_TARGET_PRECISION.")
    confidence: Precision | None = Field(None, description="Default: POSTROOM_CONFIDENCE.")
    guarantee: Literal["per-class", "pooled", "learned"] = "per-class"
    queue_precision: Precision | None = Field(None, description="Also set queue thresholds (triage).")
    reason: Annotated[StrictStr, AfterValidator(one_line)] | None = Field(
        None, max_length=2000, description="Put before the generated reason; one line of plain text."
    )
    base_version: BaseVersion = None


class ThresholdChangePublic(_Out):
    label_set: str
    class_name: str = Field(serialization_alias="class", validation_alias="class")
    old: float | None
    new: float | None


class ThresholdVersionPublic(_Out):
    """One thresholds version: who, when, why, what changed, and the values."""

    version: int
    active: bool
    created_at: datetime
    created_by: str
    reason: str
    model_version: str | None
    parent: int | None
    rollback_to: int | None = None
    suspension: bool = Field(False, description="Written by the feedback monitor.")
    has_report: bool = Field(False, description="Stored with a suggestion report (its curves).")
    changes: list[ThresholdChangePublic]
    values: dict[str, dict[str, float | None]] | None = Field(
        description="null only for a damaged version (see `damaged`)."
    )
    damaged: str | None = Field(
        None,
        description="Why the stored version cannot be read (its row was changed outside Postroom): its "
        "values and changes are not shown, and it cannot be rolled back to; null for an intact version.",
    )

    @classmethod
    def of(cls, version: ThresholdVersion, active: int | None) -> ThresholdVersionPublic:
        problem = damage(version)
        details = details_of(version)
        rollback_to = details.get("rollback_to")
        return cls(
            version=version.id,
            active=version.id == active,
            created_at=version.created_at,
            created_by=version.created_by,
            reason=version.reason,
            model_version=version.model_version,
            parent=version.parent_id,
            rollback_to=rollback_to if isinstance(rollback_to, int) else None,
            suspension=bool(details.get("suspension")),
            has_report=isinstance(details.get("report"), dict),
            changes=[]
            if problem is not None
            else [
                ThresholdChangePublic(
                    label_set=c["label_set"], class_name=c["class_name"], old=c["old"], new=c["new"]
                )
                for c in details.get("changes", [])
            ],
            values=None if problem is not None else version.values,
            damaged=problem,
        )


class ThresholdHistoryPublic(_Out):
    active: int | None
    versions: list[ThresholdVersionPublic] = Field(description="Newest first.")


class SuggestionPublic(_Out):
    """Suggested thresholds, what they change, and the report: per label set and class the threshold,
    expected precision and coverage and (per-class guarantee) the precision–coverage curve."""

    model_version: str
    guarantee: str
    target_precision: float
    confidence: float
    queue_precision: float | None
    values: dict[str, dict[str, float | None]]
    changes: list[ThresholdChangePublic] = Field(description="Against the active thresholds.")
    report: dict[str, Any]


class FeedbackCreate(BaseModel):
    """The outcome of a closed case, as the CRM reports it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "message_id": "msg-0001@example.org",
                    "final_labels": {"topic": "card_replacement", "queue": "cards"},
                    "auto_reply_resolved": True,
                }
            ]
        },
    )

    message_id: MessageIdIn
    final_labels: dict[StrictStr, StrictStr] = Field(
        min_length=1, description="The final class per label set (any of the taxonomy's sets)."
    )
    auto_reply_resolved: StrictBool | None = Field(
        None, description="Whether the automated reply resolved the case; null: none was sent, or unknown."
    )
    agent: StrictStr | None = Field(
        None, min_length=1, max_length=NAME_MAX, description="Who closed the case (default: the key's name)."
    )
    prediction_id: StrictInt | None = Field(
        None,
        ge=1,
        le=MAX_ROW_ID,
        description="The `prediction_id` of the /v1/classify answer the case was handled on (default: the "
        "message's latest classification); 422 when it is not a classification of this message.",
    )


class RealizedPublic(_Out):
    """Automated replies of one class with feedback in the rolling window, and how many were right."""

    auto_replies: int
    correct: int
    resolved: int
    precision: float | None
    window_days: int


class AuditEventPublic(_Out):
    id: int | None
    kind: str
    subject: str | None
    actor: str
    payload: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventPublic:
        return cls(
            id=event.id,
            kind=event.kind,
            subject=event.subject,
            actor=event.actor,
            payload=event.payload or {},
            created_at=event.created_at,
        )


class EventsPublic(_Out):
    events: list[AuditEventPublic] = Field(description="Newest first.")


class FeedbackStored(_Out):
    feedback_id: int
    message_id: str
    reply_class: str | None = Field(description="The class of the automated reply it is about, if any.")
    realized: RealizedPublic | None = Field(
        description="That class's realized precision after this feedback."
    )
    suspended: list[AuditEventPublic] = Field(description="Auto-replies the monitor switched off just now.")


class CurvePointPublic(_Out):
    threshold: float
    precision: float
    coverage: float = Field(description="Share of all calibration messages selected at this threshold.")
    selected: int


class SuggestedPublic(_Out):
    threshold: float | None
    predicted: int | None = None
    expected_precision: float | None = None
    expected_coverage: float | None = None
    examples_needed: int | None = None
    reason: str | None = None
    straight_share: float | None = Field(
        None,
        description="Queues: share of all calibration messages the suggestion sends straight to this queue "
        "(an uncertified queue is applied as 0: all its predictions); null for reply classes.",
    )
    straight_precision: float | None = Field(None, description="Queues: the precision measured on those.")


class VersionBriefPublic(_Out):
    version: int
    created_at: datetime
    created_by: str
    reason: str
    model_version: str | None


class LastChangePublic(VersionBriefPublic):
    old: float | None
    new: float | None


class LeadClassPublic(_Out):
    name: str
    description: str
    threshold: float | None
    has_template: bool | None = Field(description="Reply set only: an auto-reply template exists.")
    template_languages: list[str]
    auto_reply_allowed: bool
    suggested: SuggestedPublic | None
    curve: list[CurvePointPublic]
    realized: RealizedPublic | None
    suspended: bool
    suspension: AuditEventPublic | None
    last_change: LastChangePublic | None
    certified_threshold: float | None = Field(
        None,
        description="Reply set: the lowest threshold the calibration certifies for the class, from the "
        "newest stored suggestion for the model (None: none certified, or no calibration).",
    )
    backed: bool | None = Field(
        None,
        description="Reply set, class answered automatically: whether its threshold is at or above what the "
        "calibration certifies (router.backing); None when off, for queues, or while replies wait.",
    )


class UnbackedPublic(_Out):
    """A reply class answered automatically below what the calibration certifies (set by hand)."""

    class_name: str
    threshold: float
    certified: float | None = Field(description="The lowest certified threshold (None: the class has none).")


class LeadSetPublic(_Out):
    name: str
    description: str
    role: Literal["reply", "queue"]
    target_precision: float | None
    confidence: float | None
    guarantee: str | None
    calibration_size: int | None
    score: str = Field(
        "probability", description="What the thresholds compare: probability or learned confidence."
    )
    classes: list[LeadClassPublic]


class LeadOverviewPublic(_Out):
    """What the lead's page shows: per class of the reply and queue sets the threshold, the curve, realized
    precision and suspensions."""

    thresholds_version: int | None
    active: VersionBriefPublic | None
    model_version: str | None = Field(description="Whose calibration data the curves come from.")
    models: list[str] = Field(description="Model versions with calibration predictions, newest first.")
    loaded_model: str | None
    replies_paused: str | None = Field(
        None, description="Why automated replies wait: the thresholds were calibrated for another model."
    )
    replies_resume: str | None = Field(
        None, description="While replies wait: what ends the wait (calibrate and apply for the served model)."
    )
    curve_source: str | None
    note: str | None = Field(description="Why there are no curves, when there are none.")
    target_precision: float = Field(description="The active thresholds' promise (else the setting).")
    confidence: float = Field(description="The active thresholds' confidence (else the setting).")
    guarantee: str | None = Field(
        None,
        description="The active thresholds' guarantee: per-class, pooled or learned (None: set by hand).",
    )
    unbacked_replies: list[UnbackedPublic] = Field(
        default_factory=list,
        description="Reply classes whose automated replies the promise does not cover: set by hand below "
        "what the calibration certifies.",
    )
    feedback_window_days: int
    feedback_alpha: float
    label_sets: list[LeadSetPublic]
    suspensions: list[AuditEventPublic]


class SetAccuracyPublic(_Out):
    """One label set's served predictions with feedback naming the set, and how many equal the final class."""

    label_set: str
    judged: int
    right: int
    accuracy: float | None
    interval: list[float] | None = Field(description="95 % exact (Clopper-Pearson) interval of the accuracy.")
    held_out_accuracy: float | None = Field(
        None, description="The model's accuracy on its own held-out messages (registry), when known."
    )
    below_held_out: bool = Field(
        False, description="The interval's upper bound is below the held-out accuracy: the mail has moved."
    )


class QueueOutcomePublic(_Out):
    """Messages sent to one queue (or triage) with feedback: how many belonged there, where others went."""

    queue: str
    sent: int
    belonged: int | None
    share: float | None
    went_to: dict[str, int] = Field(description="Final queue -> messages, for those that belonged elsewhere.")


class ModelOutcomesPublic(_Out):
    model_version: str
    label_sets: list[SetAccuracyPublic]
    queues: list[QueueOutcomePublic]
    auto_replied: int = Field(
        0,
        description="Messages with a final queue that the model answered automatically: sent to no queue, so "
        "in no row above (with the rows, every message whose queue was judged).",
    )


class OutcomesPublic(_Out):
    """How routed messages turned out (closed cases' feedback in the window), per model that classified them,
    newest first. Only cases with feedback count."""

    window_days: int
    since: datetime
    triage_queue: str
    served_model: str | None = Field(None, description="The model this service runs now.")
    few_cases: int = Field(description="Below this many judged predictions a figure rests on few cases.")
    models: list[ModelOutcomesPublic]
