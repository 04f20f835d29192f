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
from dataclasses import dataclass

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Send

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

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        if message["type"] != "http.response.start":
            await send(message)
            return
        origin = request_headers.get("origin")
        if origin is not None and self.origins.allows(origin):
            await super().send(message, send, request_headers)
            return
        if not self.origins.any:
            message.setdefault("headers", [])
            headers = MutableHeaders(scope=message)
            headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
        await send(message)
