"""The team lead's page: `GET /lead` (a static page, no data, no key needed) and `GET /v1/lead/overview`
(lead keys), everything the page shows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from postroom.settings import MAX_WINDOW_DAYS
from router.outcomes import routing_outcomes
from serving.deps import AppServices, DbSession, LeadKey
from serving.lead import PAGE_FILES, page_file, service
from serving.schemas import ErrorPublic, LeadOverviewPublic, OutcomesPublic

router = APIRouter(tags=["lead"])

# The page loads its own script and style only, and talks to this service only.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _file(name: str) -> Response:
    return Response(page_file(name), media_type=PAGE_FILES[name], headers=PAGE_HEADERS)


@router.get("/lead", include_in_schema=False)
def lead_page() -> Response:
    """The team lead's page (it asks for a lead API key and reads the JSON endpoints)."""
    return _file("index.html")


@router.get("/lead/lead.js", include_in_schema=False)
def lead_script() -> Response:
    return _file("lead.js")


@router.get("/lead/lead.css", include_in_schema=False)
def lead_style() -> Response:
    return _file("lead.css")


@router.get("/v1/lead/overview", responses={code: {"model": ErrorPublic} for code in (401, 403, 422)})
def lead_overview(
    services: AppServices,
    db: DbSession,
    _key: LeadKey,
    model_version: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=128,
            description="Whose calibration data the curves show (default: the served model while replies "
            "wait for its thresholds, else the active thresholds' model, else the served one, else the "
            "newest with calibration predictions).",
        ),
    ] = None,
) -> LeadOverviewPublic:
    """Per class of the reply and queue sets: the current threshold, the precision–coverage curve, the
    suggestion, realized precision from feedback, the last change and any automatic suspension. The queue
    set has a target and suggestions only when a suggestion stored for the model asked for a queue
    precision."""
    loaded = services.holder.loaded
    overview = service.lead_overview(
        db, services.taxonomy, services.settings, model_version, loaded.version if loaded else None
    )
    services.metrics.realized_changed(
        services.taxonomy.routing.reply_set,
        service.realized_series(overview.realized),
    )
    return LeadOverviewPublic.model_validate(overview.data)


@router.get("/v1/lead/outcomes", responses={code: {"model": ErrorPublic} for code in (401, 403, 422)})
def lead_outcomes(
    services: AppServices,
    db: DbSession,
    _key: LeadKey,
    days: Annotated[
        int | None,
        Query(ge=1, le=MAX_WINDOW_DAYS, description="Window in days (default: feedback_window_days)."),
    ] = None,
) -> OutcomesPublic:
    """How routed messages turned out, from closed cases' feedback: per model that classified them, each
    label set's accuracy against the final classes (95 % interval), and per queue how many messages belonged
    there and where the others went."""
    result = routing_outcomes(db, services.taxonomy, days or services.settings.feedback_window_days)
    served = services.holder.loaded
    data = service.outcomes_data(result, services.settings, served.version if served else None)
    return OutcomesPublic.model_validate(data)
