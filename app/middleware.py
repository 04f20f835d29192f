"""ASGI middleware of the composition root. All share one shape: ``__init__(app, ...)``, ``async __call__``."""

from __future__ import annotations

import logging
import traceback

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("fhirgraph")


def error_body(path: str, status: int, code: str, message: str) -> tuple[bytes, bytes]:
    """The error shape of the door at ``path``: FHIR OperationOutcome, or qapi/GraphQL JSON."""
    if path.startswith(("/fhir", "/r4")):
        body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code,
                                                               "diagnostics": message}]}
        return orjson.dumps(body), b"application/fhir+json; charset=utf-8"
    if path.startswith("/graphql"):
        return orjson.dumps({"errors": [{"message": message}]}), b"application/json"
    return orjson.dumps({"error": {"message": message}}), b"application/json"


async def send_error(scope: Scope, send: Send, status: int, code: str, message: str,
                     extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer with an error in the shape of the door the request came through."""
    body, ctype = error_body(scope["path"], status, code, message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode()),
                            *(extra_headers or [])]})
    await send({"type": "http.response.body", "body": body})


class _TrackedSend:
    """Wraps ``send`` and remembers whether the response has started (after that, no error page can be sent)."""

    def __init__(self, send: Send):
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, *, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        framed = False
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                framed = True
                if value.isdigit() and int(value) > self.max_bytes:
                    await self._reject(scope, send)
                    return
            elif name == b"transfer-encoding":
                framed = True
        if not framed:  # no Content-Length and no Transfer-Encoding: no body (RFC 9112 §6.3)
            await self.app(scope, receive, send)
            return
        seen = 0
        tracked = _TrackedSend(send)

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge()
            return message

        try:
            await self.app(scope, limited_receive, tracked)
        except BodyTooLarge:
            if not tracked.started:
                await self._reject(scope, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        await send_error(scope, send, 413, "too-costly", f"Request body is larger than {self.max_bytes} bytes")


class BodyTooLarge(Exception):
    """Raised while reading a body past the limit; the app turns it into 413."""


class SafeErrorsMiddleware:
    """The last net for unexpected exceptions: a 500 in the door's error shape, and a log line with the
    exception type and stack frames only — exception messages can carry patient data, so they never reach
    the log."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = _TrackedSend(send)
        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 - this is the catch-all by design
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("unhandled %s on %s %s\n%s", type(exc).__name__, scope.get("method"), scope["path"], frames)
            if not tracked.started:
                await send_error(scope, send, 500, "exception", "Internal server error")
