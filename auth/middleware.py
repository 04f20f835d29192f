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
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        # X-API-Key, the vendor API's Api-Key (seed 002), or a Bearer credential.
        key = headers.get("x-api-key") or headers.get("api-key")
        authz = headers.get("authorization", "")
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
