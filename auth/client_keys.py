"""API keys of registered clients (``fhirgraph clients add --grant api_key``): the vendor API's ``Api-Key``
(seed 002), each a client of one practice with its own scopes.

A key is looked up in the store by its digest the first time an instance sees it, then remembered — a minute
for a known key, a few seconds for an unknown one (a client sending junk keys costs itself one lookup per key
per interval) — so the hot path makes no store round trip. Disabling the client empties the memory on every
instance through the revocation watcher.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from auth.principal import Principal
from store.identity import IdentityStore, digest

KNOWN_S = 60.0
UNKNOWN_S = 5.0
MAX_REMEMBERED = 50_000


class ClientKeys:
    def __init__(self, identity: IdentityStore, *, clock: Callable[[], float] = time.monotonic):
        self._identity = identity
        self._clock = clock
        self._seen: dict[str, tuple[Principal | None, float]] = {}

    async def lookup(self, key: str) -> Principal | None:
        if not key.startswith("fgk_") or len(key) > 128:
            return None
        hashed = digest(key)
        now = self._clock()
        seen = self._seen.get(hashed)
        if seen is not None and seen[1] > now:
            return seen[0]
        doc = await self._identity.client_by_key(hashed)
        principal = None
        if doc is not None and not doc.get("disabled"):
            principal = Principal(tenant=doc["tenant"], subject=f"client:{doc['_id']}",
                                  scopes=frozenset(doc.get("scope", [])), via="api-key", client_id=doc["_id"])
        if len(self._seen) >= MAX_REMEMBERED:
            self._seen.clear()
        self._seen[hashed] = (principal, now + (KNOWN_S if principal is not None else UNKNOWN_S))
        return principal

    def revoked(self, kind: str, value: str) -> None:
        if kind == "client":
            self._seen.clear()
