"""FastAPI dependencies as `Annotated` aliases: the app's services, a database session, the caller's key.

The services and the key check are `async def`: they do no blocking I/O (a key check hashes and may stat the
keys file), and FastAPI runs a plain `def` dependency in its thread pool, one hand-over per dependency and
request. The session stays a plain generator: closing it returns a connection to the pool, which may talk
to the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from postroom.errors import shown
from postroom.ingest.fields import DuplicateKeyError, RecordError, loads_json
from postroom.settings import Settings
from postroom.taxonomy import Taxonomy
from router.thresholds import parse_threshold
from serving.auth import KEY_STATE, ApiKey, KeyStore, require_role
from serving.errors import InvalidRequest, UnsupportedMediaType
from serving.gauges import StoreGauges
from serving.lifecycle import ModelHolder
from serving.metrics import Metrics
from serving.service import ClassifyService
from serving.strings import text_problem, unstorable_string


@dataclass
class Services:
    """Everything an endpoint may need, built once per app by `serving.app.create_app`."""

    settings: Settings
    taxonomy: Taxonomy
    engine: Engine
    sessions: sessionmaker[Session]
    holder: ModelHolder
    keys: KeyStore
    metrics: Metrics
    classifier: ClassifyService
    gauges: StoreGauges


async def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


AppServices = Annotated[Services, Depends(get_services)]


def get_db(services: AppServices) -> Iterator[Session]:
    with services.sessions() as session:
        yield session


DbSession = Annotated[Session, Depends(get_db)]


_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="or `X-API-Key: <API key>`")


def require(role: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency that lets a request through only with a key of `role` (or admin)."""

    async def check(
        request: Request,
        services: AppServices,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        header: Annotated[str | None, Depends(_header)],
    ) -> ApiKey:
        known = getattr(request.state, KEY_STATE, None)  # authenticated by the middleware (`/v1/` routes)
        if known is not None:
            return require_role(known, role)
        presented = bearer.credentials if bearer is not None else header
        return services.keys.authorize(presented.strip() if presented else None, role)

    check.role = role  # type: ignore[attr-defined]  # read by `route_role`: the middleware's 403
    return check


def route_role(route: object) -> str | None:
    """The role a route's `require` dependency asks for (None: the route needs no key)."""
    dependant = getattr(route, "dependant", None)
    stack = list(getattr(dependant, "dependencies", []))
    while stack:
        dependency = stack.pop()
        if (role := getattr(dependency.call, "role", None)) is not None:
            return str(role)
        stack.extend(dependency.dependencies)
    return None


RouterKey = Annotated[ApiKey, Depends(require("router"))]
LeadKey = Annotated[ApiKey, Depends(require("lead"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]


async def raw_body(request: Request) -> bytes:
    """The request body (already read and size-checked by the middleware)."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, without parameters, lower case ("" when there is none)."""
    return (content_type or "").split(";")[0].strip().lower()


def _exact_float(literal: str) -> float:
    return parse_threshold(literal, "body")


def _json_body(exact_numbers: bool) -> Callable[[Request], Awaitable[None]]:
    """A dependency that reads a JSON body once before the endpoint: 415 for a body that is not
    `application/json` (FastAPI would call it "not a valid dictionary"; an empty body without a Content-Type
    passes, an optional body); 422 for an object that names a key twice, which FastAPI would read as "last
    wins"; with `exact_numbers`, 422 for a number Python's parser would silently change (`1e999` becomes
    infinity, `1e-400` becomes 0.0: `router.thresholds.parse_threshold` says why). Other faults are left to
    the endpoint's validation."""

    async def check(request: Request) -> None:
        media = media_type(request.headers.get("content-type"))
        body = await request.body()
        if media != "application/json" and (media or body):
            raise UnsupportedMediaType(f"send the body as application/json, not {media or 'no Content-Type'}")
        if not body:
            return
        try:  # ThresholdError (an inexact number) is neither ValueError nor RecordError: it propagates
            value = loads_json(body, parse_float=_exact_float if exact_numbers else None)
        except DuplicateKeyError as exc:
            raise InvalidRequest.key_given_twice(exc) from None
        except (ValueError, RecordError, RecursionError):  # not JSON, NaN: the endpoint says what is wrong
            return
        if (found := unstorable_string(value)) is not None:
            where, problem = found
            raise InvalidRequest(f"{where}: {problem}")

    return check


async def plain_query(request: Request) -> None:
    """Every route's query parameters: 422 for a NUL character (`%00`), which no store keeps."""
    for key, value in request.query_params.multi_items():
        if (problem := text_problem(key) or text_problem(value)) is not None:
            raise InvalidRequest(f"query parameter {shown(key, 40)}: {problem}")


JsonOnly = Depends(_json_body(exact_numbers=False))
JsonOnlyExactNumbers = Depends(_json_body(exact_numbers=True))
