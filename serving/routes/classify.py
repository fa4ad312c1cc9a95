"""`POST /v1/classify` (one message by ID) and `POST /v1/classify/batch` (many, with per-ID errors)."""

from __future__ import annotations

from fastapi import APIRouter

from serving.deps import AppServices, DbSession, JsonOnly, RouterKey
from serving.schemas import (
    BatchItemPublic,
    ClassifyBatchRequest,
    ClassifyBatchResponse,
    ClassifyRequest,
    ClassifyResponse,
    ErrorPublic,
)

router = APIRouter(prefix="/v1/classify", tags=["classify"])


@router.post(
    "",
    responses={code: {"model": ErrorPublic} for code in (401, 403, 404, 413, 415, 422, 503)},
    dependencies=[JsonOnly],
)
def classify(
    body: ClassifyRequest, services: AppServices, db: DbSession, _key: RouterKey
) -> ClassifyResponse:
    """Classify a stored message by its ID: per label set the class, its probability and the top three; the
    model version; the routing decision. The prediction and the decision are stored."""
    return ClassifyResponse.of(services.classifier.classify(db, body.message_id))


@router.post(
    "/batch",
    responses={code: {"model": ErrorPublic} for code in (401, 403, 413, 415, 422, 503)},
    dependencies=[JsonOnly],
)
def classify_batch(
    body: ClassifyBatchRequest, services: AppServices, db: DbSession, _key: RouterKey
) -> ClassifyBatchResponse:
    """Classify up to POSTROOM_SERVE_BATCH_MAX_IDS messages in one model run. An unknown or malformed ID
    fails alone (its item has `ok: false`, the error and the status it would have had)."""
    items = [BatchItemPublic.of(item) for item in services.classifier.classify_batch(db, body.message_ids)]
    ok = sum(1 for i in items if i.ok)
    return ClassifyBatchResponse(results=items, succeeded=ok, failed=len(items) - ok)
