"""What authlib's grants ask of clients, codes and tokens (its mixins), over the store's documents."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, InvalidClientError, TokenMixin
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from auth.scopes import covered
from store.identity import digest

PUBLIC_AUTH = "none"
SECRET_AUTHS = ("client_secret_basic", "client_secret_post")
JWT_AUTH = "private_key_jwt"
# A registration scope, never granted in a token: its client may introspect every token of its own tenant (RFC
# 7662 §2.1, a protected resource of the clinic); any other client only the tokens issued to itself.
INTROSPECT_SCOPE = "introspect"


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    """A registered client (``fhirgraph clients add``): its tenant, redirect URIs, grant types and the scopes
    it may ever be granted (seed 004: never more than its registration)."""

    doc: dict[str, Any]

    @property
    def client_id(self) -> str:
        return str(self.doc["_id"])

    @property
    def tenant(self) -> str:
        return str(self.doc["tenant"])

    @property
    def public(self) -> bool:
        return bool(self.doc.get("public"))

    @property
    def scopes(self) -> list[str]:
        return list(self.doc.get("scope", []))

    @property
    def introspects_tenant(self) -> bool:
        return INTROSPECT_SCOPE in self.scopes

    @property
    def disabled(self) -> bool:
        return bool(self.doc.get("disabled"))

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.doc.get("redirect_uris") or []
        return str(uris[0]) if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scopes this client is registered for (others are dropped: narrowed, not refused);
        its whole registration when none is asked for. None when nothing asked is allowed (invalid_scope).
        ``introspect`` is a permission of the registration, never a token's scope."""
        registered = [s for s in self.scopes if s != INTROSPECT_SCOPE]
        if not scope:
            return " ".join(registered)
        allowed = " ".join(s for s in dict.fromkeys(scope.split()) if covered(s, registered))
        return allowed or None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in (self.doc.get("redirect_uris") or [])  # exactly, never a prefix

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.doc.get("secret")
        return bool(stored) and hmac.compare_digest(str(stored), digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.disabled:
            return False
        if self.public:
            return method == PUBLIC_AUTH
        if self.doc.get("jwks") or self.doc.get("jwks_url"):
            return method == JWT_AUTH
        return method in SECRET_AUTHS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        if self.disabled:
            return False
        if grant_type == "refresh_token":
            return "authorization_code" in self.grant_types
        return grant_type in self.grant_types

    @property
    def grant_types(self) -> list[str]:
        return list(self.doc.get("grant_types", ["authorization_code"]))


@dataclass
class GrantUser:
    """The signed-in user and the launch context a code or refresh token carries to the tokens it yields."""

    tenant: str
    subject: str  # the user's id: "<tenant>/<username>"
    fhir_user: str | None = None
    patient: str | None = None
    encounter: str | None = None
    family: str | None = None  # the token family of a grant (refresh rotation, replay detection)
    nonce: str | None = None
    auth_time: int | None = None  # when the user signed in (OIDC ``auth_time``), kept across refreshes

    def get_user_id(self) -> str:
        return self.subject

    def context(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "subject": self.subject, "fhir_user": self.fhir_user,
                "patient": self.patient, "encounter": self.encounter, "family": self.family,
                "auth_time": self.auth_time}


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    doc: dict[str, Any]

    def get_redirect_uri(self) -> str:
        return str(self.doc.get("redirect_uri") or "")  # none asked for: the token request need not repeat it

    def get_scope(self) -> str:
        return str(self.doc["scope"])

    def get_nonce(self) -> str | None:
        return self.doc.get("nonce")

    def get_auth_time(self) -> int | None:
        return self.doc.get("auth_time")

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None

    @property
    def code_challenge(self) -> str | None:
        return self.doc.get("code_challenge")

    @property
    def code_challenge_method(self) -> str | None:
        return self.doc.get("code_challenge_method")


@dataclass
class Token(TokenMixin):  # type: ignore[misc]
    """A token presented to introspection, revocation or the refresh grant: an access token's verified
    claims, or a refresh token's document."""

    kind: str  # access_token | refresh_token
    client_id: str
    tenant: str
    scope: str
    expires_at: float
    data: dict[str, Any] = field(default_factory=dict)
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int(self.expires_at - time.time()))

    def is_expired(self) -> bool:
        return self.expires_at <= time.time()

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> Any:
        return self.data.get("subject")

    def get_client(self) -> Any:
        return self.client_id


def key_set(jwks: Any) -> KeySet:
    """A client's public keys; ``InvalidClientError`` for anything that is not a set of RSA or EC public keys."""
    try:
        keys = KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidClientError(description="The client's JWKS is not a usable key set") from exc
    if not keys.keys or any(k.key_type not in ("RSA", "EC") or k.is_private for k in keys.keys):
        raise InvalidClientError(description="The client's JWKS must hold RSA or EC public keys only")
    return keys
