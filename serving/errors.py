"""Serving's errors, and the one place that turns errors into HTTP responses `{"error", "detail"}`.

Domain functions raise `PostroomError`s (theirs, the core's, the registry's); the handlers here give each its
status code. Validation problems are 422 with the reasons but never the submitted values (client data).
Anything unexpected is caught by `serving.middleware.GuardMiddleware`: a 500 that names no content.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from postroom.errors import PostroomError
from postroom.store import StoreError

log = logging.getLogger(__name__)


class ServingError(PostroomError):
    """Base of the service's own errors."""


class MessageNotFound(ServingError):
    status_code = 404


class InvalidRequest(ServingError):
    """A request whose content is wrong in a way the schema cannot say (a bad ID, an unparseable email)."""

    status_code = 422

    @classmethod
    def key_given_twice(cls, exc: Exception) -> InvalidRequest:
        """A JSON body that names a key twice (`postroom.ingest.fields.DuplicateKeyError`)."""
        return cls(f"the body names a key twice: {exc}")


class MessageConflict(ServingError):
    """A message with this ID is stored with a different content; it is not overwritten."""

    status_code = 409


class UnsupportedMediaType(ServingError):
    status_code = 415


class PayloadTooLarge(ServingError):
    status_code = 413


class ModelNotLoaded(ServingError):
    """No model is loaded (yet): the reason says why and what to do."""

    status_code = 503


class ModelUnavailable(ServingError):
    """A model cannot be loaded: no export, no published variant, a corrupt file."""

    status_code = 503


class ModelNotApproved(ServingError):
    """A reload named a registry version nobody has approved."""

    status_code = 409


class NotAuthenticated(ServingError):
    status_code = 401


class Forbidden(ServingError):
    status_code = 403


HTTP_NAMES = {
    400: "BadRequest",
    401: "NotAuthenticated",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    422: "ValidationError",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


FASTAPI_BODY_ERROR = "There was an error parsing the body"  # FastAPI's 400 when reading JSON fails
UNREADABLE_JSON = "body: not valid JSON (not UTF-8, nested too deeply, or a number too long to read)"


def error_body(error: str, detail: str) -> dict[str, str]:
    return {"error": error, "detail": detail}


def describe_validation(errors: list[Any]) -> str:
    """`body.message_id: Field required; …` without the submitted values."""
    parts = []
    for err in errors:
        if err.get("type") == "json_invalid":
            problem = (err.get("ctx") or {}).get("error")
            parts.append("body: not valid JSON" + (f" ({problem})" if problem else ""))
            continue
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts[:20]) + (f"; … {len(parts) - 20} more" if len(parts) > 20 else "")


STORE_LOG_EVERY_S = 60.0  # the same store problem is logged once a minute, not once per request


def public_store_detail(exc: StoreError, logged: dict[str, float]) -> str:
    """What a client is told about a store that failed (damaged, read-only, full, unreachable, not migrated:
    a `StoreError` whatever kind): its `public` words, never the database's URL, user, host, port or path
    (`/readyz` needs no key); the service log has the whole reason, once a minute per reason (`logged`: the
    app's reasons and when each was last logged)."""
    reason = str(exc)
    now = time.monotonic()
    if now - logged.get(reason, -STORE_LOG_EVERY_S) >= STORE_LOG_EVERY_S:
        logged[reason] = now
        log.warning("answering 503 StoreError: %s", reason)  # URLs masked; never client data
    return f"{exc.public or 'the store cannot be used now'}; the service log says more"


def store_failed(message: str) -> StoreError:
    """A store failure in the service's own words (no database named): told to the client as it is."""
    return StoreError(message, public=message)


RETRY_LATER = {"Retry-After": "5"}  # a 503 (no store, no model) may pass: a hint for the router's retries


def _headers(exc: PostroomError) -> dict[str, str] | None:
    if isinstance(exc, NotAuthenticated):
        return {"WWW-Authenticate": "Bearer"}
    # not for a store to migrate or a newer Postroom's (StoreError.transient): retrying will not help
    return RETRY_LATER if exc.status_code == 503 and getattr(exc, "transient", True) else None


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers: domain errors, validation errors, HTTP errors (404 route, 405 method)."""

    store_logged: dict[str, float] = {}

    @app.exception_handler(PostroomError)
    async def _domain(_: Request, exc: PostroomError) -> JSONResponse:
        # a store that is damaged, read-only, full or unreachable is a StoreError to clients, whatever kind
        if isinstance(exc, StoreError):
            name, detail = "StoreError", public_store_detail(exc, store_logged)
        else:
            name, detail = type(exc).__name__, str(exc)
        return JSONResponse(error_body(name, detail), exc.status_code, headers=_headers(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("ValidationError", describe_validation(list(exc.errors()))), 422)

    @app.exception_handler(ValidationError)
    async def _pydantic(_: Request, exc: ValidationError) -> JSONResponse:
        return JSONResponse(error_body("ValidationError", describe_validation(list(exc.errors()))), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == FASTAPI_BODY_ERROR:
            # FastAPI's parser gave up on valid-looking JSON (RecursionError, or an integer Python will not
            # read): the same 422 as any other body that cannot be read.
            return JSONResponse(error_body("ValidationError", UNREADABLE_JSON), 422)
        name = HTTP_NAMES.get(exc.status_code, "HTTPError")
        return JSONResponse(error_body(name, str(exc.detail)), exc.status_code, headers=exc.headers)
