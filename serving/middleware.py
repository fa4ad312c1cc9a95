"""Pure ASGI middleware around every request: the key check, the body limit (413), latency metrics, and the
last resort.

A request to `/v1/…` without a valid API key gets 401 before its body is read, and one whose key's role the
route does not take 403: no one without a key can make the service hold a body, and no one without the role
learns how it parses one (the routes check the role again). The body is read
here, up to `max_bytes` on `/v1/` and 4 KiB elsewhere (paths that need no key and take no body), before the
app sees it: a larger body (by its Content-Length or as it streams in) gets 413 without reaching an endpoint.
An exception no handler turned into a response becomes a 500 with an error name only; the log gets the
exception type and the route, never the request content. Starlette's own last-resort handler would re-raise,
and uvicorn would log the exception message.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.auth import KEY_STATE, KeyStore, NotAuthenticated, require_role
from serving.deps import route_role
from serving.errors import Forbidden, error_body
from serving.metrics import Metrics

log = logging.getLogger("postroom.serving")


OUTSIDE_API_MAX_BYTES = 4096  # a body sent to a path outside /v1/ (no key needed there, no route reads one)


class _Disconnected(Exception):
    """The client went away while sending the body."""


async def _send_json(
    send: Send, status: int, body: dict[str, str], headers: list[tuple[bytes, bytes]]
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


# Methods the metrics name; any other is counted as "other", so a client cannot add series by inventing them.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def metric_method(scope: Scope) -> str:
    """The request's method as the metrics and the log name it: a known one, else "other"."""
    method = scope.get("method", "")
    return method if method in KNOWN_METHODS else "other"


def _matching_route(scope: Scope) -> Any:
    """The route the request's path matches, as the app's router picks it (the first full match, else the
    first that differs only in the method); None when no route matches."""
    partial = None
    for route in iter_route_contexts(getattr(getattr(scope.get("app"), "router", None), "routes", [])):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return route
        if match == Match.PARTIAL and partial is None:
            partial = route
    return partial


def metric_endpoint(scope: Scope) -> str:
    """The route template the metrics and the log name a request by (`/v1/messages/{message_id}`, never the
    path with the ID in it): the route that handled it, else the route its path matches (a request refused
    before routing, 401 or 413, or whose client went away), else "unmatched"."""
    route = scope.get("route") or _matching_route(scope)
    return getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"


def presented_key(scope: Scope) -> str | None:
    """The API key a request presents: `Authorization: Bearer <key>`, else `X-API-Key: <key>`."""
    headers = dict(scope.get("headers", []))
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    header = headers.get(b"x-api-key", b"").decode("latin-1").strip()
    return header or None


class GuardMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, metrics: Metrics, keys: KeyStore | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 500, "started": False}

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
            await send(message)

        try:
            refused = self._refused(scope)
            replay = None if refused else await self._read_body(scope, receive)
            if refused:
                await _send_json(
                    tracking_send,
                    refused.status_code,
                    error_body(type(refused).__name__, str(refused)),
                    [(b"www-authenticate", b"Bearer")] if isinstance(refused, NotAuthenticated) else [],
                )
            elif replay is None:
                await _send_json(
                    tracking_send,
                    413,
                    error_body("PayloadTooLarge", self._too_large(scope)),
                    [(b"connection", b"close")],
                )
            else:
                await self.app(scope, replay, tracking_send)
        except _Disconnected:
            state["status"] = 499  # nginx's "client closed request", for the metrics only
        except Exception as exc:
            where = metric_endpoint(scope)
            self.metrics.unhandled.labels(where).inc()
            log.error(
                "unhandled %s on %s %s\n%s",
                type(exc).__name__,
                metric_method(scope),
                where,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            if not state["started"]:
                await _send_json(
                    tracking_send,
                    500,
                    error_body(
                        "InternalError",
                        "an unexpected error occurred; it is logged without the request content",
                    ),
                    [],
                )
        finally:
            endpoint = metric_endpoint(scope)
            self.metrics.latency.labels(endpoint, metric_method(scope), str(state["status"])).observe(
                time.perf_counter() - started
            )

    def _too_large(self, scope: Scope) -> str:
        limit = self._limit(scope)
        if limit == self.max_bytes:
            return f"the request body is larger than {limit} bytes (POSTROOM_SERVE_MAX_REQUEST_BYTES)"
        return f"the request body is larger than {limit} bytes: no endpoint outside /v1/ takes a body"

    def _refused(self, scope: Scope) -> NotAuthenticated | Forbidden | None:
        """The 401 for a `/v1/` request without a valid key, the 403 for a key whose role the route does not
        take (None: it may go on). The key found is kept in the request's state, so the route's own role check
        does not authenticate it again."""
        if self.keys is None or not str(scope.get("path", "")).startswith("/v1/"):
            return None
        try:
            key = self.keys.authenticate(presented_key(scope))
        except NotAuthenticated as exc:
            return exc
        scope.setdefault("state", {})[KEY_STATE] = key
        route = _matching_route(scope)
        needed = route_role(route) if route is not None else None
        try:
            if needed is not None:
                require_role(key, needed)
        except Forbidden as exc:
            return exc
        return None

    def _limit(self, scope: Scope) -> int:
        """The largest body a request may send: `max_bytes` on `/v1/` (behind the key check), a few KiB
        elsewhere (no route outside `/v1/` takes a body, and those paths need no key)."""
        return self.max_bytes if str(scope.get("path", "")).startswith("/v1/") else OUTSIDE_API_MAX_BYTES

    async def _read_body(self, scope: Scope, receive: Receive) -> Receive | None:
        """A receive() that replays the whole body, or None when the body is over the limit."""
        limit = self._limit(scope)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    if int(value) > limit:
                        return None
                except ValueError:
                    pass
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                return None
            chunks.append(body)
            if not message.get("more_body", False):
                break
        data = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()

        return replay
