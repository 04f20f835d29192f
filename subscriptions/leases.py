"""Per-webhook delivery state with atomic leases (decision 7): N instances deliver each event once.

``webhook_state`` holds one document per webhook: the outbox cursor (last sequence handled) and a lease
(owner, expiry). Only the lease owner delivers, and every cursor move is conditional on still owning the
lease, so an instance that lost it stops at once. A SIGKILLed owner's lease simply expires and another (or
the restarted) instance resumes from the cursor: at-least-once, in order per webhook.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

COLLECTION = "webhook_state"


async def ensure_state(db: AsyncDatabase[Any], key: str, tenant: str, webhook_id: str) -> None:
    """Create the state of a new webhook: its cursor starts at the event that created it."""
    if await db[COLLECTION].find_one({"_id": key}, projection={"_id": 1}):
        return
    created = await db.events.find_one({"tenant": tenant, "resourceType": "Subscription", "resourceId": webhook_id},
                                       sort=[("seq", ASCENDING)], projection={"seq": 1})
    if created is None:
        last = await db.events.find_one({"tenant": tenant}, sort=[("seq", -1)], projection={"seq": 1})
        start = int(last["seq"]) if last else 0
    else:
        start = int(created["seq"])
    # Another instance may create it at the same moment (duplicate key): with the same start.
    with contextlib.suppress(DuplicateKeyError):
        await db[COLLECTION].update_one(
            {"_id": key},
            {"$setOnInsert": {"tenant": tenant, "webhook": webhook_id, "cursor": start, "owner": None,
                              "until": 0.0}},
            upsert=True)


async def acquire(db: AsyncDatabase[Any], key: str, owner: str, ttl: float) -> dict[str, Any] | None:
    """Take the lease if it is free, expired or already ours; returns the state or None."""
    now = time.time()
    try:
        doc: dict[str, Any] | None = await db[COLLECTION].find_one_and_update(
            {"_id": key, "$or": [{"until": {"$lt": now}}, {"owner": owner}]},
            {"$set": {"owner": owner, "until": now + ttl}},
            return_document=ReturnDocument.AFTER)
    except DuplicateKeyError:
        return None
    return doc


async def renew(db: AsyncDatabase[Any], key: str, owner: str, ttl: float, cursor: int | None = None) -> bool:
    """Extend our lease (and move the cursor when given); False when the lease is no longer ours."""
    update: dict[str, Any] = {"until": time.time() + ttl}
    if cursor is not None:
        update["cursor"] = cursor
    res = await db[COLLECTION].update_one({"_id": key, "owner": owner}, {"$set": update})
    return res.matched_count == 1


async def release(db: AsyncDatabase[Any], key: str, owner: str) -> None:
    await db[COLLECTION].update_one({"_id": key, "owner": owner}, {"$set": {"owner": None, "until": 0.0}})
