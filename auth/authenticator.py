"""Who a credential belongs to. Authentication only finds the Principal; what it may do is decided elsewhere."""

from __future__ import annotations

from collections.abc import Iterable

from auth.api_keys import ApiKeys
from auth.client_keys import ClientKeys
from auth.principal import Principal
from auth.tokens import AccessTokens, principal_of_claims
from store.errors import Unauthorized

FHIR_PATHS = ("/fhir/r4", "/r4")


class Authenticator:
    """API keys, access tokens of our authorization server (once the lifespan has loaded the signing key) and,
    when anonymous access is allowed (trials), a default principal for callers that present no credential. A
    wrong credential is always ``Unauthorized``: it never falls back to the default.

    A token is accepted only when it was issued by this server for its FHIR base (``aud``): with ``base_url``
    configured that base, else the origin the request names (its Host, already checked against the allowed
    hosts)."""

    def __init__(self, keys: ApiKeys, default: Principal | None, *, base_url: str = ""):
        self.keys = keys
        self.default = default
        self.base_url = base_url.rstrip("/")
        self.tokens: AccessTokens | None = None
        self.client_keys: ClientKeys | None = None  # registered clients' API keys, once the store is open
        self._audiences: dict[str, tuple[str, ...]] = {}
        self._origins: dict[tuple[bool, bytes], str] = {}

    def origin(self, scope_scheme: str, headers: Iterable[tuple[bytes, bytes]]) -> str:
        """The public origin of a request: the configured base, else scheme and Host."""
        if self.base_url:
            return self.base_url
        host = b"localhost"
        for name, value in headers:  # every request asks: a plain loop, and the answer remembered
            if name == b"host":
                host = value
                break
        secure = scope_scheme == "https" or scope_scheme == "wss"
        found = self._origins.get((secure, host))
        if found is None:
            found = f"{'https' if secure else 'http'}://{host.decode('latin-1')}"
            if len(self._origins) < 1024:  # the few names the server answers to (a client may send any)
                self._origins[(secure, host)] = found
        return found

    def audiences(self, origin: str) -> tuple[str, ...]:
        found = self._audiences.get(origin)
        if found is None:
            found = tuple(origin + path for path in FHIR_PATHS)
            if len(self._audiences) < 1024:
                self._audiences[origin] = found
        return found

    def principal_of(self, token: str) -> Principal | None:
        """The principal of one of our valid tokens, whatever its audience (the audit of its issuance)."""
        claims = self.tokens.claims(token) if self.tokens is not None else None
        return principal_of_claims(claims) if claims is not None else None

    async def authenticate(self, credential: str | None, origin: str = "") -> Principal | None:
        """The caller's principal; None when it presented nothing and anonymous access is off."""
        if credential is None:
            return self.default
        principal = self.keys.lookup(credential)
        if principal is None and self.tokens is not None and credential.count(".") == 2:
            origin = self.base_url or origin
            principal = self.tokens.principal(credential, self.audiences(origin), origin + "/auth")
        if principal is None and self.client_keys is not None:
            principal = await self.client_keys.lookup(credential)
        if principal is None:
            raise Unauthorized("Missing or invalid credentials", challenge="invalid_token")
        return principal
