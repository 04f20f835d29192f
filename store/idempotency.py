"""Idempotency keys (the ``Idempotency-Key`` header of FHIR REST writes): one record per tenant and key, pending
while the first request runs, then holding its response for the repeats (24 hours on MongoDB, TTL index).

A pending record belongs to the request that claimed it (its ``owner`` token): only that request completes or
releases it. A request's store work ends within its deadline (``FHIRGRAPH_DB_TIMEOUT_S``, 5 s by default), so a
record still pending ``STALE_S`` after its claim belongs to a request whose process died: a retry takes it over
instead of getting 409 for a day. (Had that process written the resource before it died, the retry writes it
again: the one case in which a key does not hold a create to once; a transaction around both would.)
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from store.clock import utc_now
from store.driver import call

COLLECTION = "idempotency"
# Far past any request's store deadline: a pending record this old has no live request behind it.
STALE_S = 120.0


@dataclass(frozen=True)
class Claim:
    """The answer to a claim: this request's ``owner`` token when the key is now its own, else the ``earlier``
    record (pending or done) of the request that holds it."""

    owner: str | None = None
    earlier: dict[str, Any] | None = None


def _kid(tenant: str, key: str) -> str:
    # Hashed: a client's key is of any length and content; the tenant prefix keeps tenants apart.
    return f"{tenant}/{hashlib.sha256(key.encode()).hexdigest()}"


class IdempotencyKeys:
    def __init__(self, db: AsyncDatabase[Any], *, stale_s: float = STALE_S):
        self._docs = db[COLLECTION]
        self._stale = timedelta(seconds=stale_s)

    async def claim(self, tenant: str, key: str, fingerprint: str) -> Claim:
        """Reserve ``key`` for this request, or learn who holds it."""
        kid, owner, now = _kid(tenant, key), uuid.uuid4().hex, utc_now()
        try:
            await call(self._docs.insert_one({"_id": kid, "fp": fingerprint, "state": "pending", "owner": owner,
                                              "created": now}))
            return Claim(owner=owner)
        except DuplicateKeyError:
            pass
        # Taken over only when still pending and stale, in one atomic step: of two retries, one wins.
        taken = await call(self._docs.find_one_and_update(
            {"_id": kid, "state": "pending", "fp": fingerprint, "created": {"$lt": now - self._stale}},
            {"$set": {"owner": owner, "created": now}}, return_document=ReturnDocument.AFTER))
        if taken is not None:
            return Claim(owner=owner)
        found: dict[str, Any] | None = await call(self._docs.find_one({"_id": kid}))
        return Claim(earlier=found or {"state": "pending", "fp": fingerprint})

    async def complete(self, tenant: str, key: str, owner: str, response: dict[str, Any]) -> None:
        await call(self._docs.update_one({"_id": _kid(tenant, key), "owner": owner},
                                         {"$set": {"state": "done", **response}}))

    async def release(self, tenant: str, key: str, owner: str) -> None:
        await call(self._docs.delete_one({"_id": _kid(tenant, key), "state": "pending", "owner": owner}))

    async def erase(self, tenant: str) -> None:
        """Drop every record of ``tenant`` (Repository.erase_tenant); driver errors are the caller's."""
        await self._docs.delete_many({"_id": {"$regex": f"^{re.escape(tenant)}/"}})
