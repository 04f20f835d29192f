"""Authentication only sets ``scope["auth"]`` (a Principal); authorization is decided elsewhere.

Until the OAuth 2.0 / SMART server lands, a caller is either an API key holder (the key in ``X-API-Key``,
``Api-Key`` — the vendor API's header — or ``Authorization: Bearer``) or, when ``FHIRGRAPH_ALLOW_ANONYMOUS`` is
true (the default for trials), the configured default principal. A wrong key is always 401: it never falls back
to the default.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from auth.api_keys import ApiKeys
from auth.principal import Principal

_CREDENTIAL_HEADERS = frozenset({b"x-api-key", b"api-key", b"authorization"})
OPEN_PATHS = ("/health", "/metrics", "/fhir/r4/metadata", "/r4/metadata", "/fhir/r4/.well-known",
              "/r4/.well-known")


class AuthMiddleware:
    def __init__(self, app: ASGIApp, *, keys: ApiKeys, default: Principal | None):
        self.app = app
        self.keys = keys
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # X-API-Key, the vendor API's Api-Key (seed 002), or a Bearer credential. ASGI header names are
        # lower-case bytes; only these three are decoded.
        found = {name: value for name, value in scope.get("headers", ()) if name in _CREDENTIAL_HEADERS}
        key = (found.get(b"x-api-key") or found.get(b"api-key") or b"").decode("latin-1")
        authz = found.get(b"authorization", b"").decode("latin-1")
        if not key and authz[:7].lower() == "bearer ":
            key = authz[7:].strip()
        principal: Principal | None = self.keys.lookup(key) if key else self.default
        if principal is None and not scope["path"].startswith(OPEN_PATHS):
            if scope["type"] == "websocket":
                # graphql-transport-ws may also carry credentials in connection_init; resolved there.
                scope["auth"] = None
                await self.app(scope, receive, send)
                return
            await _unauthorized(scope, send)
            return
        scope["auth"] = principal
        await self.app(scope, receive, send)


async def _unauthorized(scope: Scope, send: Send) -> None:
    path: str = scope["path"]
    body: dict[str, Any]
    if path.startswith(("/fhir", "/r4")):
        body = {"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "login", "diagnostics": "Missing or invalid credentials"}]}
        ctype = b"application/fhir+json"
    else:
        body = {"error": {"message": "Missing or invalid credentials"}}
        ctype = b"application/json"
    payload = orjson.dumps(body)
    await send({"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", ctype), (b"content-length", str(len(payload)).encode()),
        (b"www-authenticate", b'Bearer realm="fhirgraph"')]})
    await send({"type": "http.response.body", "body": payload})
