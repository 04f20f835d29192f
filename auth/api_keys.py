"""API keys from settings: ``FHIRGRAPH_API_KEYS="<key>=<tenant>[:<subject>[:<scopes>]],..."`` (secrets stay in
the env). ``<scopes>`` are SMART scopes separated by spaces (``patient/`` ones grant nothing to a key: it has no
launch patient); without them a key acts with ``system/*.*``.

Keys are compared by their SHA-256 digest in constant time; the table never holds or logs the raw key.
"""

from __future__ import annotations

import hashlib
import hmac

from auth import scopes as smart
from auth.principal import Principal
from store.types import check_tenant


class ApiKeys:
    def __init__(self, spec: str):
        self._table: list[tuple[bytes, Principal]] = []
        for number, item in enumerate(filter(None, (s.strip() for s in spec.split(","))), start=1):
            key, _, owner = item.partition("=")
            tenant, _, rest = owner.partition(":")
            subject, _, spec_scopes = rest.partition(":")
            if key and tenant:
                try:
                    check_tenant(tenant)
                except ValueError as exc:  # the message names the item's position, never the key
                    raise ValueError(f"item {number}: {exc}") from None
                granted = smart.split(spec_scopes)
                bad = [n for n, scope in enumerate(granted, start=1) if not smart.is_valid(scope)]
                if bad:
                    raise ValueError(f"item {number}: scope {bad[0]} is not a SMART scope")
                digest = hashlib.sha256(key.encode()).digest()
                self._table.append((digest, Principal(tenant=tenant, subject=subject or f"api-key:{tenant}",
                                                      scopes=frozenset(granted or ("system/*.*",)),
                                                      via="api-key")))

    def __bool__(self) -> bool:
        return bool(self._table)

    def lookup(self, key: str) -> Principal | None:
        digest = hashlib.sha256(key.encode()).digest()
        found = None
        for known, principal in self._table:
            if hmac.compare_digest(known, digest):
                found = principal
        return found
