"""The server's signing key and the JWTs it signs (access tokens, id_tokens): joserfc, RS256.

The key comes from ``FHIRGRAPH_SIGNING_KEY_FILE`` (a private JWK as JSON, or a PEM RSA key — a compose secret in
production). Without it, the first instance to start generates one and keeps it in the store, so that every
instance on that store signs and verifies with the same key (trials; a production deployment sets the file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

ALGORITHM = "RS256"


class Signer:
    def __init__(self, private_jwk: dict[str, Any]):
        self._key = RSAKey.import_key(private_jwk)
        if not self._key.is_private:
            raise ValueError("the signing key must be a private key")
        self.kid = self._key.thumbprint()

    @classmethod
    def generate(cls) -> dict[str, Any]:
        """A fresh private key, as a JWK dict (what the store keeps when no key file is configured)."""
        key: dict[str, Any] = RSAKey.generate_key(2048, private=True).as_dict(private=True)
        return key

    @classmethod
    def from_file(cls, path: str) -> Signer:
        raw = Path(path).read_bytes()
        if raw.lstrip().startswith(b"{"):
            return cls(orjson.loads(raw))
        return cls(RSAKey.import_key(raw).as_dict(private=True))

    def jwks(self) -> dict[str, Any]:
        """The public key set served at the JWKS endpoint."""
        public = self._key.as_dict(private=False)
        return {"keys": [{**public, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}, claims, self._key,
                          algorithms=[ALGORITHM])

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this server signed, or None when it is not one (malformed, another key, another
        algorithm, a bad signature). Expiry and audience are the caller's to check."""
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError):
            return None
        if decoded.header.get("kid") != self.kid:
            return None
        claims: dict[str, Any] = dict(decoded.claims)
        return claims
