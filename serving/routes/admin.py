"""`/v1/admin/*`: the loaded model, and reloading it (admin keys only)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Body

from postroom.store import StoreError
from postroom.store.models import AuditEvent
from serving.deps import AdminKey, AppServices, DbSession, JsonOnly
from serving.lead.service import commit
from serving.lifecycle import refuse_candidate, refuse_path
from serving.schemas import ErrorPublic, ModelPublic, ReloadRequest, ReloadResponse

log = logging.getLogger("postroom.serving")
RELOAD_EVENT = "model.reloaded"

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get("/model", responses={code: {"model": ErrorPublic} for code in (401, 403, 503)})
def current_model(services: AppServices, _key: AdminKey) -> ModelPublic:
    """The model being served."""
    return ModelPublic.of(services.holder.current)


@router.post(
    "/reload",
    responses={code: {"model": ErrorPublic} for code in (401, 403, 404, 409, 415, 422, 503)},
    dependencies=[JsonOnly],
)
def reload_model(
    services: AppServices,
    key: AdminKey,
    db: DbSession,
    body: ReloadRequest | None = Body(None),  # noqa: B008
) -> ReloadResponse:
    """Load a model and swap it in atomically: requests in flight finish on the old one, none fail. Without a
    body, reloads the configured model (`production` follows promotions). A registry version nobody has
    approved is refused (409), and so is a path (422: only the configuration names one); a model that cannot
    be loaded leaves the current one in place (503 with the reason). Each reload is an audit event
    (`model.reloaded`) naming the key; where the store cannot take it the reload still stands and the
    service's log names the key instead."""
    request = body or ReloadRequest()
    refuse_path(request.model)
    refuse_candidate(services.settings.registry_dir, request.model)
    old, new = services.holder.load(request.model, request.variant)
    log.info("model %s (%s) loaded at the request of key %s", new.version, new.variant, key.name)
    try:  # the swap is done: a store that fails now must not make the answer say it was not
        db.add(
            AuditEvent(
                kind=RELOAD_EVENT,
                subject=new.version,
                actor=key.name,
                payload={
                    "asked": request.model or "configured",
                    "variant": new.variant,
                    "provider": new.provider,
                    "previous": old.version if old else None,
                    "previous_variant": old.variant if old else None,
                },
            )
        )
        commit(db)
    except StoreError as exc:  # the log line above holds what the event would have
        log.error("the audit event of the reload to %s could not be stored: %s", new.version, exc)
    return ReloadResponse(previous=ModelPublic.of(old) if old else None, current=ModelPublic.of(new))
