"""Who a credential belongs to. Authentication only finds the Principal; what it may do is decided elsewhere."""

from __future__ import annotations

from auth.api_keys import ApiKeys
from auth.principal import Principal
from store.errors import Unauthorized


class Authenticator:
    """API keys (until the OAuth 2.0 / SMART server lands) and, when anonymous access is allowed (trials), a
    default principal for callers that present no credential. A wrong credential is always ``Unauthorized``:
    it never falls back to the default."""

    def __init__(self, keys: ApiKeys, default: Principal | None):
        self.keys = keys
        self.default = default

    def authenticate(self, credential: str | None) -> Principal | None:
        """The caller's principal; None when it presented nothing and anonymous access is off."""
        if credential is None:
            return self.default
        principal = self.keys.lookup(credential)
        if principal is None:
            raise Unauthorized("Missing or invalid credentials")
        return principal
