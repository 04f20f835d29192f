"""Authentication only sets ``scope["auth"]`` (a Principal, or None); authorization is decided elsewhere.

A request whose credential is wrong, or that presents none when anonymous access is off, is refused with
``Unauthorized`` — except for the open paths (health, metrics when public, FHIR metadata and discovery).
A websocket without credentials goes on with ``scope["auth"] = None``: graphql-transport-ws may present them
in ``connection_init``, where the GraphQL door checks them with the same parser and authenticator.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from auth import credentials
from auth.authenticator import Authenticator
from store.errors import Unauthorized

OPEN_PATHS = ("/health", "/fhir/r4/metadata", "/r4/metadata", "/fhir/r4/.well-known", "/r4/.well-known", "/auth/",
              "/.well-known/", "/qapi/v1/openapi.json", "/qapi/v1/docs", "/fhir/r4/openapi.json", "/r4/openapi.json",
              "/fhir/r4/docs", "/r4/docs", "/graphql/ide",
              "/integrations/linking")


class AuthMiddleware:
    def __init__(self, app: ASGIApp, *, authenticator: Authenticator, open_paths: tuple[str, ...] = OPEN_PATHS):
        self.app = app
        self.authenticator = authenticator
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        open_path = scope["path"].startswith(self.open_paths)
        try:
            headers = scope.get("headers", ())
            principal = await self.authenticator.authenticate(credentials.from_headers(headers),
                                                        self.authenticator.origin(scope.get("scheme", "http"),
                                                                                  headers))
        except Unauthorized:
            if not open_path and scope["type"] == "http":
                raise
            principal = None
        if principal is None and not open_path and scope["type"] == "http":
            # RFC 6750 §3.1 would leave the error code out when nothing was presented (a SHOULD NOT); seed 000 and
            # the SMART clients we serve expect invalid_token on every 401, so every 401 names it.
            raise Unauthorized("Missing or invalid credentials", challenge="invalid_token")
        scope["auth"] = principal
        await self.app(scope, receive, send)
