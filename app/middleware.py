"""ASGI middleware of the composition root. All share one shape: ``__init__(app, ...)``, ``async __call__``."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_reply, internal_reply
from app.telemetry import route_of
from store.client import deadline
from store.errors import DomainError, Invalid, TimedOut, TooLarge
from store.logs import described

log = logging.getLogger("fhirgraph")


async def send_reply(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    raw.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class _TrackedSend:
    """Wraps ``send`` and remembers whether the response has started (after that, no error page can be sent).

    Like every ``send`` wrapper of the app's middleware that only acts before passing a message on, it is a plain
    callable returning the inner ``send``'s awaitable: the caller awaits that one directly, without a coroutine of
    the wrapper's own (a response's messages pass several such wrappers, twice per response)."""

    __slots__ = ("send", "started")

    def __init__(self, send: Send):
        self.send = send
        self.started = False

    def __call__(self, message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start":
            self.started = True
        return self.send(message)


def has_body(scope: Scope) -> bool:
    """Whether the request has a body: a Content-Length or a Transfer-Encoding (RFC 9112 §6.3)."""
    for name, _ in scope.get("headers", ()):  # noqa: SIM110 - a plain loop: it runs for every request (any() costs twice)
        if name == b"content-length" or name == b"transfer-encoding":
            return True
    return False


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` (``TooLarge``: 413), by Content-Length or while streaming."""

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
                    raise self._too_large()
            elif name == b"transfer-encoding":
                framed = True
        if not framed:  # no Content-Length and no Transfer-Encoding: no body (RFC 9112 §6.3)
            await self.app(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, limited_receive, send)

    def _too_large(self) -> TooLarge:
        return TooLarge(f"Request body is larger than {self.max_bytes} bytes")


class BodyTimeoutMiddleware:
    """A request's whole body must arrive within ``seconds`` of its head: a client that stalls, or trickles its
    body a byte at a time, is cut at that deadline. The app then sees the client as gone (``http.disconnect``)
    and the client gets a 408, the connection closed (its unread rest cannot be told from a next request). The
    request head has its own deadline, in the server (app/server.py)."""

    def __init__(self, app: ASGIApp, *, seconds: float):
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not has_body(scope):
            await self.app(scope, receive, send)
            return
        stalled = complete = False
        until = asyncio.get_running_loop().time() + self.seconds

        async def timed_receive() -> Message:
            nonlocal stalled, complete
            if stalled:
                return {"type": "http.disconnect"}
            if complete:  # after the body only a disconnect can come: waiting for it is no stall
                return await receive()
            try:
                async with asyncio.timeout_at(until):
                    message = await receive()
            except TimeoutError:
                stalled = True
                return {"type": "http.disconnect"}
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        tracked = _TrackedSend(send)

        async def guarded_send(message: Message) -> None:
            if not stalled:
                await tracked(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except Exception:
            if not stalled:
                raise
            # what the app made of a client that seemed to leave (e.g. Starlette's ClientDisconnect)
        if stalled and not tracked.started:
            status, headers, body = error_reply(scope, TimedOut(
                f"The request body did not arrive within {self.seconds:g} s"))
            await send_reply(send, status, {**headers, "Connection": "close"}, body)


class StoreDeadlineMiddleware:
    """Every store operation of an HTTP request shares one deadline of ``seconds`` (``store.client.deadline``),
    counted from when the request has arrived: a body is read first, so a slow upload is the body timeout's
    business and not the store's. Websockets are long-lived and have none (their operations are their own)."""

    def __init__(self, app: ASGIApp, *, seconds: float):
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if has_body(scope):
            replay = await _read_body(receive)
            if replay is None:  # the client left (or stalled) before its body was complete: no one to answer
                return
            receive = replay
        with deadline(self.seconds):
            await self.app(scope, receive, send)


async def _read_body(receive: Receive) -> Receive | None:
    """The whole body, then a ``receive`` that gives it as one message (and later ones as they come)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body: Message | None = {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    async def replay() -> Message:
        nonlocal body
        if body is not None:
            message, body = body, None
            return message
        return await receive()

    return replay


class SafeErrorsMiddleware:
    """The outermost net: a domain error raised anywhere below (middleware or route) leaves in the shape of the
    request's door; an unexpected exception becomes a 500 in that shape, and a log line with the exception type
    and stack frames only — exception messages can carry patient data, so they never reach the log."""

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
            await caught(scope, send, exc, started=tracked.started)


async def caught(scope: Scope, send: Send, exc: Exception, *, started: bool) -> None:
    """What the error net does with an exception raised below it: a domain error answered in the door's shape, any
    other logged (its type and frames, never its message) and answered with the door's 500 — nothing sent once the
    response has ``started``."""
    if isinstance(exc, DomainError):
        if not started:
            await send_reply(send, *error_reply(scope, exc))
        return
    log.error("unhandled exception on %s %s: %s", scope.get("method"), route_of(scope), described(exc))
    if not started:
        await send_reply(send, *internal_reply(scope))


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})


class AllowedHostsMiddleware:
    """Host header injection: links, ``Location`` and the CapabilityStatement's URL are built from the request's
    Host when no base URL is configured, so only hosts the server answers to may name it — ``allowed_hosts``
    (``host`` for any port, ``host:port`` for that one, ``*`` for any host) and the host of ``base_url``; with
    neither configured (trial mode), loopback names on any port. Other hosts: 400 (``Invalid``) in the door's
    shape, or a refused websocket handshake. A request without a Host header (HTTP/1.0) is named by the
    server's own address."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: str = "", base_url: str = ""):
        self.app = app
        entries = [e.strip().lower() for e in allowed_hosts.split(",") if e.strip()]
        self.any_host = "*" in entries
        self.names: set[str] = set()  # any port
        self.pairs: set[tuple[str, str]] = set()  # that port only
        for entry in entries:
            parsed = split_host(entry)
            if parsed is not None:
                name, port = parsed
                if port:
                    self.pairs.add((name, port))
                else:
                    self.names.add(name)
        configured = urlsplit(base_url.strip()).netloc.rpartition("@")[2] if base_url.strip() else ""
        if configured and (parsed := split_host(configured.lower())) is not None:
            self.names.add(parsed[0])
        if not (self.any_host or self.names or self.pairs):
            self.names = set(LOOPBACK_HOSTS)
        self._seen: dict[bytes, bool] = {}

    def allows(self, host: str) -> bool:
        if self.any_host:
            return True
        parsed = split_host(host.strip().lower())
        return parsed is not None and (parsed[0] in self.names or parsed in self.pairs)

    def allows_value(self, host: bytes) -> bool:
        # Every request asks, with the same few Host values: the answers are remembered (a bounded table, so
        # that a client sending ever new hosts only costs itself the parsing).
        known = self._seen.get(host)
        if known is None:
            known = self.allows(host.decode("latin-1"))
            if len(self._seen) < 1024:
                self._seen[host] = known
        return known

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.any_host and scope["type"] in ("http", "websocket"):
            host = None
            for name, value in scope["headers"]:
                if name == b"host":
                    host = value
                    break
            if host is not None and not self.allows_value(host):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})  # before accept: a 403 handshake
                    return
                raise self.refusal()
        await self.app(scope, receive, send)

    def refusal(self) -> Invalid:
        return Invalid("The Host header does not name a host this server answers to", paths=["Host"])


HOST_NAME = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?|\[[0-9a-f:.]{2,45}\]")


def split_host(value: str) -> tuple[str, str] | None:
    """(host, port or "") of a Host header value (RFC 9110 §7.2: ``host [ ":" port ]``, an IPv6 address in
    brackets), None when it is not one."""
    name, colon, port = value.rpartition(":") if not value.endswith("]") else (value, "", "")
    if not colon:
        name, port = value, ""
    if port and not (port.isascii() and port.isdigit() and len(port) <= 5):
        return None
    if colon and not port:
        return None
    return (name, port) if HOST_NAME.fullmatch(name) else None
