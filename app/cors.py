"""Browser apps on other origins (the Fetch standard's CORS protocol), for every HTTP door and the GraphQL
websocket: which origins may call, and the answers they get.

An origin list is ``FHIRGRAPH_CORS_ORIGINS``: comma-separated origins (``https://app.example``), ``:*`` for any
port of a host (``http://localhost:*``), or ``*`` for any origin. Starlette's ``CORSMiddleware`` answers the
preflights and decorates the responses; this module adds what it leaves open:

- a response to an origin that is not allowed carries none of our ``Access-Control-*`` headers (Starlette would
  still add ``Expose-Headers`` and ``Allow-Credentials``), and ``Vary: Origin`` whenever the answer depends on it;
- credentials (cookies, ``credentials: "include"``) are only ever granted to origins named one by one: ``*`` with
  credentials is refused at start-up (Fetch: a wildcard never matches a credentialed request); a route that marks
  itself ``Access-Control-Allow-Origin: *`` (SMART discovery, JWKS) stays readable by every origin, with
  credentials for none but the allowed ones;
- websockets have no CORS: a browser's handshake carries its page's ``Origin``, and the GraphQL view refuses
  (403) one that is neither allowed by the same list nor the server's own (strawberry's check, asked through
  ``Origins.allows``: graph/schema.py), so that a page on any site cannot subscribe to a trial server's events
  with the anonymous principal.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Trial servers (the embedded devdb) answer front ends developed on this machine; production none until named.
LOOPBACK = "http://localhost:*,http://127.0.0.1:*,http://[::1]:*"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
# What front ends send beside the CORS-safelisted ones: credentials, FHIR preconditions, GraphQL clients' names.
HEADERS = ("Authorization", "Content-Type", "Accept", "If-Match", "If-None-Match", "If-None-Exist", "Prefer",
           "Idempotency-Key", "X-API-Key", "Api-Key", "X-Request-ID", "apollographql-client-name",
           "apollographql-client-version", "Apollo-Require-Preflight")
EXPOSED = ("X-Request-ID", "Location", "Content-Location", "ETag", "Last-Modified", "Retry-After", "X-Progress",
           "Expires", "RateLimit", "RateLimit-Policy", "WWW-Authenticate")
_ORIGIN = re.compile(r"(?P<scheme>https?)://(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}|\*))?")


@dataclass(frozen=True)
class Origins:
    """The allowed origins: any, or exact ones plus host patterns with any port."""

    any: bool = False
    exact: frozenset[str] = frozenset()
    any_port: tuple[str, ...] = ()  # "scheme://host" prefixes

    @property
    def none(self) -> bool:
        return not (self.any or self.exact or self.any_port)

    @property
    def regex(self) -> str | None:
        if not self.any_port:
            return None
        return "(?:" + "|".join(re.escape(p) for p in self.any_port) + r")(?::\d{1,5})?"

    def allows(self, origin: str) -> bool:
        if self.any or origin in self.exact:
            return True
        pattern = self.regex
        return pattern is not None and re.fullmatch(pattern, origin) is not None


def parse_origins(text: str) -> Origins:
    """``FHIRGRAPH_CORS_ORIGINS`` read; ``ValueError`` names an entry that is no origin (a path, a typo)."""
    exact: set[str] = set()
    any_port: list[str] = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        if item == "*":
            return Origins(any=True)
        found = _ORIGIN.fullmatch(item)
        if found is None:
            raise ValueError(f"{item!r} is not an origin (scheme://host[:port], :* for any port, or *)")
        # Browsers send origins lower-cased, without the scheme's default port.
        scheme, host, port = found["scheme"].lower(), found["host"].lower(), found["port"]
        if port == "*":
            any_port.append(f"{scheme}://{host}")
        elif port is None or (scheme, port) in (("http", "80"), ("https", "443")):
            exact.add(f"{scheme}://{host}")
        else:
            exact.add(f"{scheme}://{host}:{port}")
    return Origins(exact=frozenset(exact), any_port=tuple(any_port))


class CorsMiddleware(CORSMiddleware):
    """Preflights answered before authentication; responses decorated for allowed origins only."""

    def __init__(self, app: ASGIApp, *, origins: Origins, credentials: bool = False, max_age: int = 600):
        if credentials and origins.any:
            raise ValueError("credentials are only granted to origins named one by one, never to *")
        super().__init__(app, allow_origins=("*",) if origins.any else tuple(sorted(origins.exact)),
                         allow_origin_regex=origins.regex, allow_methods=METHODS, allow_headers=HEADERS,
                         allow_credentials=credentials, expose_headers=EXPOSED, max_age=max_age)
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Most requests (every server-to-server client) carry no Origin: nothing to answer or decorate but
        # ``Vary: Origin``, so they skip Starlette's header parsing (a tenth of the CPU of a whole request).
        if scope["type"] == "http":
            for name, _ in scope["headers"]:
                if name == b"origin":
                    break
            else:
                if self.origins.any:
                    await self.app(scope, receive, send)
                    return

                def send_with_vary(message: Message) -> Awaitable[None]:  # no coroutine of its own (app/middleware.py)
                    if message["type"] == "http.response.start":
                        message["headers"] = vary_origin(message.get("headers", ()))
                    return send(message)

                await self.app(scope, receive, send_with_vary)
                return
        await super().__call__(scope, receive, send)

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        if message["type"] != "http.response.start":
            await send(message)
            return
        origin = request_headers.get("origin")
        if origin is not None and self.origins.allows(origin):
            await super().send(message, send, request_headers)
            return
        if not self.origins.any:
            message["headers"] = vary_origin(message.get("headers", ()))
        await send(message)


def vary_origin(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``raw`` response headers with ``Origin`` added to ``Vary`` (as Starlette's ``MutableHeaders`` would set it:
    the ``Vary`` values joined into the first one, ``Origin`` last), on the raw list."""
    headers = list(raw)
    found = [i for i, (name, _) in enumerate(headers) if name == b"vary"]
    if not found:
        headers.append((b"vary", b"Origin"))
        return headers
    value = b", ".join([*(headers[i][1] for i in found), b"Origin"])
    for i in reversed(found[1:]):
        del headers[i]
    headers[found[0]] = (b"vary", value)
    return headers
