"""Idempotency keys (the ``Idempotency-Key`` header of FHIR REST writes): one record per tenant and key, pending
while the first request runs, then holding its response for the repeats (24 hours on MongoDB, TTL index)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from store.clock import utc_now
from store.driver import call

COLLECTION = "idempotency"


def _kid(tenant: str, key: str) -> str:
    # Hashed: a client's key is of any length and content; the tenant prefix keeps tenants apart.
    return f"{tenant}/{hashlib.sha256(key.encode()).hexdigest()}"


class IdempotencyKeys:
    def __init__(self, db: AsyncDatabase[Any]):
        self._docs = db[COLLECTION]

    async def claim(self, tenant: str, key: str, fingerprint: str) -> dict[str, Any] | None:
        """Reserve ``key``; returns the earlier record when the key was used before."""
        kid = _kid(tenant, key)
        try:
            await call(self._docs.insert_one({"_id": kid, "fp": fingerprint, "state": "pending",
                                              "created": utc_now()}))
            return None
        except DuplicateKeyError:
            found: dict[str, Any] | None = await call(self._docs.find_one({"_id": kid}))
            return found or {"state": "pending", "fp": fingerprint}

    async def complete(self, tenant: str, key: str, response: dict[str, Any]) -> None:
        await call(self._docs.update_one({"_id": _kid(tenant, key)}, {"$set": {"state": "done", **response}}))

    async def release(self, tenant: str, key: str) -> None:
        await call(self._docs.delete_one({"_id": _kid(tenant, key), "state": "pending"}))

    async def erase(self, tenant: str) -> None:
        """Drop every record of ``tenant`` (Repository.erase_tenant); driver errors are the caller's."""
        await self._docs.delete_many({"_id": {"$regex": f"^{re.escape(tenant)}/"}})
