"""What every request leaves behind for the operator: a request id, Prometheus metrics and (``--access-log``) one
log line — labelled by door and route template, never by a raw path, an id or a query string.

``RequestTelemetry`` is the outermost middleware, so it sees the status of every answer, the door-shaped 500
included. A request's id is the caller's ``X-Request-ID`` when well-formed (``REQUEST_ID``: bounded, a safe
alphabet), else a fresh one; it is returned in the response's ``X-Request-ID`` (the websocket handshake's too) and
carried by every log line written while the request is served (app/logs.py).
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import GRAPHQL_PREFIX
from app.logs import request_id
from app.tracing import route_span
from fhir_rest.read_lane import READ_PATH
from fhir_rest.read_lane import ROUTE as READ_ROUTE
from fhir_rest.routes import PREFIXES as FHIR_PREFIXES
from store.metrics import AUTH_REFUSALS, HTTP_IN_FLIGHT, HTTP_REQUESTS, WEBSOCKETS, WEBSOCKETS_OPEN

access_log = logging.getLogger("fhirgraph.access")

REQUEST_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_DOORS = ((FHIR_PREFIXES, "fhir"), ((GRAPHQL_PREFIX,), "graphql"), (("/qapi/",), "qapi"),
          (("/auth/", "/.well-known/"), "auth"), (("/health", "/metrics"), "ops"))
_CONVERTER = re.compile(r"\{(\w+):\w+\}")
_FALLBACK_DOORS = (*FHIR_PREFIXES, GRAPHQL_PREFIX, "/qapi/v1", "/auth")
_OPERATIONS = frozenset({"/health", "/health/live", "/health/ready", "/metrics"})
# Per fallback door: itself, what is under it, its label for that, and the read lane's label (FHIR doors).
_DOOR_ROUTES = tuple((p, f"{p}/", f"{p}/…", f"{p}/{{type}}/{{id}}" if p in FHIR_PREFIXES else None)
                     for p in _FALLBACK_DOORS)
_TEMPLATES: dict[str, str] = {}  # route path → label


class InFlight:
    """The requests of a door being answered, as the in-flight gauge reads it at each scrape: a plain count, only
    changed by the event loop's thread (``Gauge.inc`` and ``dec`` each take a lock, twice per request)."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> float:
        return self.n


_IN_FLIGHT = {door: InFlight() for door in ("fhir", "graphql", "qapi", "auth", "ops", "other")}
for _door, _count in _IN_FLIGHT.items():
    HTTP_IN_FLIGHT.labels(_door).set_function(_count)


def route_of(scope: Scope) -> str:
    """The path without ids or values (logs and metric labels must not carry patient data): the matched route's
    template when routing got that far (``/fhir/r4/{type}/{id}``; the read lane's reads too, answered in front of
    the routes), else the door's prefix (``/fhir/r4/…``) — never a segment the client chose."""
    lane: str | None = scope.get(READ_ROUTE)  # a read the read lane answered
    if lane is not None:
        return lane
    route = scope.get("route")
    root = scope.get("root_path", "")
    if isinstance(route, Mount):  # matched the mount, then none of its routes; root_path includes the mount
        return f"{root}/…"
    template = getattr(route, "path", None)
    if isinstance(template, str):
        full = f"{root}{template}"
        found = _TEMPLATES.get(full)
        if found is None:
            found = _CONVERTER.sub(r"{\1}", full)
            if len(_TEMPLATES) < 1024:  # the app's routes (root paths come from a proxy's configuration)
                _TEMPLATES[full] = found
        return found
    path: str = scope["path"]
    if path in _OPERATIONS:
        return path
    for door, under, rest, read in _DOOR_ROUTES:  # the first door the path is, or is under
        if path.startswith(under):
            if read is not None and scope.get("method") == "GET" and READ_PATH.fullmatch(path):
                return read
            return rest
        if path == door:
            return door
    return "(no route)"


def door_of(route: str) -> str:
    for prefixes, door in _DOORS:
        if route.startswith(prefixes):
            return door
    return "other"


class RequestTelemetry:
    def __init__(self, app: ASGIApp, *, metrics: bool = True, access_log: bool = False, tracing: bool = False):
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.tracing = tracing
        # Labelled children, found once per (route, method, status) (``labels()`` costs more than the observation
        # itself, and so do the door and status class it is labelled by).
        self._histograms: dict[tuple[str, str, int], Histogram] = {}
        self._refusals: dict[str, Counter] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        token = request_id.set(rid)
        header = (b"x-request-id", rid.encode("ascii"))
        started = time.perf_counter()
        status = 0
        in_flight = self.entered(scope) if kind == "http" else None

        def send_with_id(message: Message) -> Awaitable[None]:  # no coroutine of its own (app/middleware.py)
            nonlocal status
            mtype = message["type"]
            if mtype == "http.response.start" or mtype == "websocket.http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
                if self.tracing:  # now: the request's span ends with the response's last byte
                    route_span(scope, route_of(scope))
            elif mtype == "websocket.accept":
                status = 101
                message["headers"] = [*message.get("headers", ()), header]
                if self.tracing:
                    route_span(scope, route_of(scope))
                if self.metrics:
                    WEBSOCKETS_OPEN.labels(door_of(route_of(scope))).inc()
            elif mtype == "websocket.close" and not status:
                status = 403  # refused before the handshake
            return send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
            self.left(scope, status, started, in_flight, rid)

    def entered(self, scope: Scope) -> InFlight | None:
        """An HTTP request begins: its door's in-flight count, raised (None without metrics)."""
        if not self.metrics:
            return None
        in_flight = _IN_FLIGHT[door_of(scope["path"])]
        in_flight.n += 1
        return in_flight

    def left(self, scope: Scope, status: int, started: float, in_flight: InFlight | None, rid: str) -> None:
        """A request has ended (``status`` 0: without an answer): its metrics and access log line."""
        seconds = time.perf_counter() - started
        route = route_of(scope)
        if self.metrics:
            if in_flight is not None:
                in_flight.n -= 1
            self._record(scope, route, status, seconds)
        if self.access_log:
            _log(scope, route, status, seconds, rid)

    def _record(self, scope: Scope, route: str, status: int, seconds: float) -> None:
        if scope["type"] == "websocket":
            door = door_of(route)
            if status == 101:
                WEBSOCKETS_OPEN.labels(door).dec()
            WEBSOCKETS.labels(door, "accepted" if status == 101 else "refused").inc()
            return
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        key = (route, method, status)
        child = self._histograms.get(key)
        if child is None:
            status_class = f"{status // 100}xx" if status else "none"  # none: the client left before an answer
            child = self._histograms[key] = HTTP_REQUESTS.labels(door_of(route), route, method, status_class)
        child.observe(seconds)
        if status == 401:
            door = door_of(route)
            counter = self._refusals.get(door)
            if counter is None:
                counter = self._refusals[door] = AUTH_REFUSALS.labels(door)
            counter.inc()


# Generated ids: unique across processes (a random prefix per process) without a system call per request.
_PREFIX = secrets.token_hex(10)
_NEXT = itertools.count(1)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return request_id_of(value)
    return request_id_of(None)


def request_id_of(given: bytes | None) -> str:
    """The request's id: ``given`` (its first ``X-Request-ID``) when well-formed, else a fresh one."""
    if given is not None and REQUEST_ID.fullmatch(given):
        return str(given.decode("ascii"))
    return f"{_PREFIX}{next(_NEXT) & 0xFFFFFFFFFFFF:012x}"


def _log(scope: Scope, route: str, status: int, seconds: float, rid: str) -> None:
    """One line: method, route template, status, duration, door, tenant, client — never the raw path (it carries
    ids), the query string (search values, sometimes credentials), headers or the client's address."""
    method = scope.get("method", "GET") if scope["type"] == "http" else "WEBSOCKET"
    principal: Any = scope.get("auth")
    tenant = client = None
    if principal is not None:
        tenant = principal.tenant
        client = principal.client_id or (principal.subject if principal.via == "api-key" else None)
    if not access_log.isEnabledFor(logging.INFO):
        return
    ms = round(seconds * 1000, 1)
    # The record made directly: the caller's frame is known (here), so no stack walk per request.
    access_log.handle(access_log.makeRecord(
        access_log.name, logging.INFO, __file__, 0, "%s %s %s %.1fms", (method, route, status or "-", ms), None,
        extra={"request_id": rid, "method": method, "door": door_of(route), "route": route,
               "status": status or None, "duration_ms": ms, "tenant": tenant, "client": client}))
