"""`/v1/admin/*`: the loaded model, and reloading it (admin keys only)."""

from __future__ import annotations

from fastapi import APIRouter, Body

from serving.deps import AdminKey, AppServices, JsonOnly
from serving.schemas import ErrorPublic, ModelPublic, ReloadRequest, ReloadResponse

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get("/model", responses={code: {"model": ErrorPublic} for code in (401, 403, 503)})
def current_model(services: AppServices, _key: AdminKey) -> ModelPublic:
    """The model being served."""
    return ModelPublic.of(services.holder.current)


@router.post(
    "/reload",
    responses={code: {"model": ErrorPublic} for code in (401, 403, 404, 415, 422, 503)},
    dependencies=[JsonOnly],
)
def reload_model(
    services: AppServices,
    _key: AdminKey,
    body: ReloadRequest | None = Body(None),  # noqa: B008
) -> ReloadResponse:
    """Load a model and swap it in atomically: requests in flight finish on the old one, none fail. Without a
    body, reloads the configured model (`production` follows promotions). A model that cannot be loaded
    leaves the current one in place (503 with the reason)."""
    request = body or ReloadRequest()
    old, new = services.holder.load(request.model, request.variant)
    return ReloadResponse(previous=ModelPublic.of(old) if old else None, current=ModelPublic.of(new))
