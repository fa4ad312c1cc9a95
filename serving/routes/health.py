"""`/healthz` (the process answers), `/readyz` (model loaded, store reachable), `/metrics` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from serving.deps import AdminKey, AppServices
from serving.schemas import ErrorPublic, HealthPublic, ReadyModelPublic, ReadyPublic
from serving.service import readiness

router = APIRouter(tags=["health"])


# GET and HEAD each get a route of their own: one route with both methods gives both operations the same
# OpenAPI operationId, which client generators refuse. HEAD (load balancers' probes) is not in the schema.
@router.get("/healthz")
@router.head("/healthz", include_in_schema=False)
def healthz() -> HealthPublic:
    """Alive: the process answers. No key needed."""
    return HealthPublic(status="alive")


@router.get("/readyz", responses={503: {"model": ErrorPublic, "description": "No model, or no store."}})
@router.head("/readyz", include_in_schema=False)
def readyz(services: AppServices) -> ReadyPublic:
    """Ready: a model is loaded and the store answers at the current schema. No key needed, so it names the
    model but not its files, its classes or the API keys (`GET /v1/admin/model` has the rest)."""
    model = readiness(services.holder, services.engine)
    return ReadyPublic(status="ready", model=ReadyModelPublic.of(model), store="ok")


def _metrics(services: AppServices) -> Response:
    content, media_type = services.metrics.render()
    return Response(content, media_type=media_type)


def metrics_public(services: AppServices) -> Response:
    """Prometheus metrics (text format)."""
    return _metrics(services)


def metrics_admin(services: AppServices, _key: AdminKey) -> Response:
    """Prometheus metrics (text format); needs an admin key (POSTROOM_SERVE_METRICS_PUBLIC=false)."""
    return _metrics(services)


def add_metrics_route(target: APIRouter, public: bool) -> None:
    target.add_api_route(
        "/metrics",
        metrics_public if public else metrics_admin,
        methods=["GET"],
        response_class=Response,
        tags=["health"],
        responses={200: {"content": {"text/plain": {}}}},
    )
