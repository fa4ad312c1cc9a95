"""The FastAPI application: `create_app(settings)` builds one with its model holder, keys and metrics.

uvicorn runs it as a factory: `uvicorn --factory serving.app:create_app` (what `postroom serve` does).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool

from postroom.settings import Settings, get_settings, unknown_variables
from postroom.store import get_engine, session_factory
from postroom.taxonomy import load_taxonomy
from serving.auth import KeyStore
from serving.deps import Services, plain_query
from serving.errors import install_error_handlers
from serving.gauges import StoreGauges
from serving.lead.service import export_realized
from serving.lifecycle import LoadedModel, ModelHolder, load_model, resolve_source
from serving.metrics import Metrics
from serving.middleware import GuardMiddleware
from serving.routes import admin, classify, docs, events, feedback, health, lead, messages, thresholds
from serving.service import ClassifyService

log = logging.getLogger("postroom.serving")

DESCRIPTION = """Classify client email by message ID: per label set the class, its probability and the top
three, the model version, and the routing decision (automated reply or human queue). Every prediction is
stored.

Authenticate with an API key: `Authorization: Bearer <key>` (or `X-API-Key`). Roles: `router` (messages,
classify), `lead` (thresholds), `admin` (models, and everything else). Errors are `{"error", "detail"}`.
"""


def _configure_logging(level: str) -> None:
    logger = logging.getLogger("postroom")
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False


def _info(model: LoadedModel) -> tuple[str, str, str]:
    return model.version, model.variant, model.provider


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. The model loads at startup (lifespan); until then, and when it cannot load,
    classify answers 503 with the reason."""
    settings = settings or get_settings()
    _configure_logging(settings.log_level)
    for line in unknown_variables(os.environ):  # a misspelt setting would be silently ignored
        log.warning("%s: ignored", line)
    taxonomy = load_taxonomy(settings.taxonomy_path)
    engine = get_engine(settings.database_url)
    metrics = Metrics()
    sessions = session_factory(engine)

    def loader(spec: str, variant: str | None) -> LoadedModel:
        return load_model(resolve_source(settings.registry_dir, spec), settings, variant)

    def on_change(old: LoadedModel | None, new: LoadedModel | None, error: str | None) -> None:
        if error is not None:
            metrics.reloads.labels("failure").inc()
            log.warning("model load failed: %s", error)
            return
        metrics.reloads.labels("success").inc()
        metrics.model_changed(_info(old) if old else None, _info(new) if new else None)
        if new is not None:
            log.info("serving %s (%s on %s)", new.version, new.variant, new.provider)
        if gauges is not None:
            gauges.model_changed()

    gauges: StoreGauges | None = None  # built below; the holder tells it of a model change
    holder = ModelHolder(loader, settings.serve_model, on_change)
    classifier = ClassifyService(taxonomy, holder, metrics, settings.serve_batch_max_ids)
    gauges = StoreGauges(sessions, taxonomy, settings, metrics, holder, classifier)
    keys = KeyStore(settings.keys_path)
    services = Services(
        settings=settings,
        taxonomy=taxonomy,
        engine=engine,
        sessions=sessions,
        holder=holder,
        keys=keys,
        metrics=metrics,
        classifier=classifier,
        gauges=gauges,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if keys.count == 0:
            log.warning(
                "no API keys in %s: every request but /healthz, /readyz and /metrics gets 401 "
                "(create one: postroom keys add NAME --role router)",
                keys.path,
            )
        await run_in_threadpool(holder.load_at_start)
        await run_in_threadpool(export_realized, services.sessions, taxonomy, settings, metrics)
        await run_in_threadpool(gauges.refresh)
        gauges.start()
        holder.watch(settings.registry_dir, settings.serve_watch_seconds)
        yield
        await run_in_threadpool(gauges.close)
        await run_in_threadpool(holder.close)

    try:
        version = metadata.version("postroom")
    except metadata.PackageNotFoundError:
        version = "0"
    app = FastAPI(
        title="Postroom",
        version=version,
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(plain_query)],
        docs_url=None,  # served from local files by `routes.docs` (FastAPI's loads a CDN)
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(health.router)
    health.add_metrics_route(app.router, settings.serve_metrics_public)
    app.include_router(messages.router)
    app.include_router(classify.router)
    app.include_router(thresholds.router)
    app.include_router(feedback.router)
    app.include_router(events.router)
    app.include_router(lead.router)
    app.include_router(admin.router)
    docs.add_docs(app)
    app.add_middleware(
        GuardMiddleware, max_bytes=settings.serve_max_request_bytes, metrics=metrics, keys=services.keys
    )
    return app
