"""`/v1/thresholds` (lead keys): the active values, their history, changes, rollbacks and suggestions.

Every change is a new immutable version with who (the API key's name), when, why and the diff; serving reads
the active version per request, so a change applies to the next classification without a restart.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from router.thresholds import active_values, active_version_key, history
from serving.deps import AppServices, DbSession, JsonOnly, JsonOnlyExactNumbers, LeadKey
from serving.errors import InvalidRequest
from serving.lead import service
from serving.schemas import (
    ErrorPublic,
    SuggestionApply,
    SuggestionPublic,
    ThresholdChangePublic,
    ThresholdHistoryPublic,
    ThresholdsPublic,
    ThresholdsRollback,
    ThresholdsUpdate,
    ThresholdVersionPublic,
)

router = APIRouter(prefix="/v1/thresholds", tags=["thresholds"])


def _errors(*codes: int) -> dict[int | str, dict[str, object]]:
    return {code: {"model": ErrorPublic} for code in (401, 403, *codes)}


@router.get("", responses=_errors(503))
def thresholds(services: AppServices, db: DbSession, _key: LeadKey) -> ThresholdsPublic:
    """The active threshold version and its values (null: no automated reply for that class)."""
    version, values = active_values(db, services.taxonomy)
    return ThresholdsPublic(version=version, values=values)


@router.get("/history", responses=_errors(422))
def thresholds_history(
    db: DbSession,
    _key: LeadKey,
    limit: Annotated[int, Query(ge=1, le=500, description="How many versions, newest first.")] = 50,
) -> ThresholdHistoryPublic:
    """Every thresholds version, newest first: who, when, why, what changed, and the values."""
    key = active_version_key(db)  # not its values: a damaged version is listed and marked, not refused
    active = None if key is None else key[0]
    return ThresholdHistoryPublic(
        active=active, versions=[ThresholdVersionPublic.of(v, active) for v in history(db, limit)]
    )


@router.post(
    "", status_code=201, responses=_errors(409, 415, 422, 503), dependencies=[JsonOnlyExactNumbers]
)
def change_thresholds(
    body: ThresholdsUpdate, services: AppServices, db: DbSession, key: LeadKey
) -> ThresholdVersionPublic:
    """Change some classes' thresholds (null: off) with a reason; the new version is active at once.

    422 for an unknown label set or class, a value outside [0, 1], a number a float cannot hold as written
    (`1e-400`, `1e999`), a threshold that would decide nothing (a label set routing does not read, a reply
    class without a template), 0 on an automated-reply class without `allow_zero: true` (it answers every
    prediction of the class; null switches the reply off), a missing reason, or no change; 409 when
    `base_version` is given and no longer active; 503 when the active version is damaged (roll back)."""
    version = service.change_thresholds(
        db, services.taxonomy, body.changes, key.name, body.reason, body.base_version, body.allow_zero
    )
    return ThresholdVersionPublic.of(version, version.id)


@router.post("/rollback", status_code=201, responses=_errors(404, 409, 415, 422), dependencies=[JsonOnly])
def rollback_thresholds(
    body: ThresholdsRollback, services: AppServices, db: DbSession, key: LeadKey
) -> ThresholdVersionPublic:
    """Make an earlier version's values active again, as a new version that records the rollback.

    409 when `base_version` is given and no longer active."""
    version = service.rollback_thresholds(
        db, services.taxonomy, body.version, key.name, body.reason, body.base_version
    )
    return ThresholdVersionPublic.of(version, version.id)


def _model_version(services: AppServices, given: str | None) -> str:
    if given:
        return given
    loaded = services.holder.loaded
    if loaded is None:
        raise InvalidRequest(
            "no model is loaded: give model_version (the model whose calibration data to use)"
        )
    return loaded.version


@router.get("/suggest", responses=_errors(422, 503))
def suggest_thresholds(
    services: AppServices,
    db: DbSession,
    _key: LeadKey,
    model_version: Annotated[
        str | None,
        Query(
            min_length=1, max_length=128, description="Whose calibration data (default: the served model)."
        ),
    ] = None,
    target_precision: Annotated[float | None, Query(gt=0, lt=1, description="Default: setting.")] = None,
    confidence: Annotated[float | None, Query(gt=0, lt=1, description="Default: setting.")] = None,
    guarantee: Literal["per-class", "pooled", "learned"] = "per-class",
    queue_precision: Annotated[float | None, Query(gt=0, lt=1, description="Also suggest queues.")] = None,
) -> SuggestionPublic:
    """Suggest thresholds from the stored calibration predictions (nothing is stored): per class the
    threshold, the expected precision and coverage and, per-class guarantee, the precision–coverage curve."""
    settings = services.settings
    suggestion, changes = service.suggest(
        db,
        services.taxonomy,
        _model_version(services, model_version),
        target_precision or settings.target_precision,
        confidence or settings.confidence,
        guarantee,
        queue_precision,
    )
    return SuggestionPublic(
        model_version=suggestion.model_version,
        guarantee=suggestion.guarantee,
        target_precision=suggestion.target_precision,
        confidence=suggestion.confidence,
        queue_precision=queue_precision,
        values=suggestion.values,
        changes=[
            ThresholdChangePublic(label_set=c.label_set, class_name=c.class_name, old=c.old, new=c.new)
            for c in changes
        ],
        report=suggestion.report,
    )


@router.post(
    "/suggest/apply",
    status_code=201,
    responses=_errors(409, 415, 422, 503),
    dependencies=[JsonOnlyExactNumbers],
)
def apply_suggestion(
    body: SuggestionApply, services: AppServices, db: DbSession, key: LeadKey
) -> ThresholdVersionPublic:
    """Compute the suggestion (as `GET /suggest`) and store it as the new active version, report included."""
    settings = services.settings
    suggestion, _ = service.suggest(
        db,
        services.taxonomy,
        body.model_version,
        body.target_precision or settings.target_precision,
        body.confidence or settings.confidence,
        body.guarantee,
        body.queue_precision,
    )
    version = service.apply(db, services.taxonomy, suggestion, key.name, body.reason, body.base_version)
    return ThresholdVersionPublic.of(version, version.id)
