"""The front of the app's middleware: request id, metrics and access log (``RequestTelemetry``), the two error
nets (``SafeErrorsMiddleware``), the Host check (``AllowedHostsMiddleware``) and CORS (``CorsMiddleware``), in
that order from the outside in — as one ASGI layer for the plain HTTP request without an ``Origin`` header (every
server-to-server client: what CORS does for it is ``Vary: Origin``), as the separate layers for everything else.

Each of those layers is a coroutine frame of its own and most wrap ``send``, twice per response: for a request
whose work in each is a few checks, one frame and one wrapper do it for less. The answers are the layers' own:
the same checks in the same order, the same helpers (``caught``, ``vary_origin``, the telemetry's ``entered`` and
``left``), the same headers in the same order (the app's, ``Vary``, then ``X-Request-ID``), the same logs and
metrics. A websocket, a request with an ``Origin`` (a preflight, a browser's call) and the lifespan go through the
layers themselves (``layered``), chained as they were.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.cors import CorsMiddleware, Origins, vary_origin
from app.logs import request_id
from app.middleware import AllowedHostsMiddleware, SafeErrorsMiddleware, caught
from app.telemetry import RequestTelemetry, request_id_of, route_of
from app.tracing import route_span


class FrontMiddleware:
    """``telemetry``: RequestTelemetry's options, or None when it is off (no metrics, access log nor traces)."""

    def __init__(self, app: ASGIApp, *, telemetry: dict[str, Any] | None, allowed_hosts: str = "",
                 base_url: str = "", origins: Origins, credentials: bool = False, max_age: int = 600):
        self.app = app
        cors = CorsMiddleware(SafeErrorsMiddleware(app), origins=origins, credentials=credentials, max_age=max_age)
        self.hosts = AllowedHostsMiddleware(cors, allowed_hosts=allowed_hosts, base_url=base_url)
        outer = SafeErrorsMiddleware(self.hosts)
        self.telemetry = RequestTelemetry(outer, **telemetry) if telemetry is not None else None
        self.layered: ASGIApp = self.telemetry if self.telemetry is not None else outer
        self.vary = not origins.any  # a request without Origin gets ``Vary: Origin`` (app/cors.py)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.layered(scope, receive, send)
            return
        host = given = None  # the first of each, as the layers take them
        for name, value in scope["headers"]:
            if name == b"origin":
                await self.layered(scope, receive, send)
                return
            if name == b"host":
                if host is None:
                    host = value
            elif name == b"x-request-id" and given is None:
                given = value
        telemetry = self.telemetry
        status = 0
        inner_started = outer_started = False
        if telemetry is not None:
            rid = request_id_of(given)
            token = request_id.set(rid)
            header: tuple[bytes, bytes] | None = (b"x-request-id", rid.encode("ascii"))
            started = time.perf_counter()
            in_flight = telemetry.entered(scope)
        else:
            header = None

        def headed(message: Message, vary: bool) -> None:
            nonlocal status, outer_started
            status = message["status"]
            outer_started = True
            if vary:
                message["headers"] = vary_origin(message.get("headers", ()))
            if header is not None:
                message["headers"] = [*message.get("headers", ()), header]
                if telemetry is not None and telemetry.tracing:
                    route_span(scope, route_of(scope))

        # What passes CORS and the telemetry (the app's messages, the inner net's answer); then what only passes
        # the telemetry (the outer net's answer: a refused Host). No coroutine of their own (app/middleware.py).
        def inner_send(message: Message) -> Awaitable[None]:
            nonlocal inner_started
            if message["type"] == "http.response.start":
                inner_started = True
                headed(message, self.vary)
            return send(message)

        def outer_send(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                headed(message, False)
            return send(message)

        try:
            try:
                if host is not None and not self.hosts.any_host and not self.hosts.allows_value(host):
                    raise self.hosts.refusal()
                try:
                    await self.app(scope, receive, inner_send)
                except Exception as exc:  # noqa: BLE001 - the inner net (inside CORS)
                    await caught(scope, inner_send, exc, started=inner_started)
            except Exception as exc:  # noqa: BLE001 - the outer net
                await caught(scope, outer_send, exc, started=outer_started)
        finally:
            if telemetry is not None:
                request_id.reset(token)
                telemetry.left(scope, status, started, in_flight, rid)
