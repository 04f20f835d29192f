"""Keyed leases with a cursor (DESIGN.md decisions 7 and 14): N instances, one worker per key.

A collection holds one document per key: a cursor (how far the work has got; for webhooks the last outbox
sequence handled) and a lease (``owner``, ``until`` in wall-clock seconds, shared by every instance). Only the
lease owner works the key, and every renewal or cursor move is conditional on still owning it, so an instance
that lost the lease learns so at its next step and stops. A SIGKILLed owner's lease simply expires and another
(or the restarted) instance resumes from the cursor: at-least-once, in order. Webhook delivery state
(``webhook_state``) is one such collection. Background jobs, whose state is a document of their own, are
store/jobs.py's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from store.driver import call

WEBHOOK_STATE = "webhook_state"


class Leases:
    def __init__(self, db: AsyncDatabase[Any], collection: str, *, clock: Callable[[], float] = time.time):
        self._docs = db[collection]
        self._clock = clock

    async def get(self, key: str) -> dict[str, Any] | None:
        """The state of ``key`` (``cursor``, ``owner``, ``until`` and the fields it was created with)."""
        found: dict[str, Any] | None = await call(self._docs.find_one({"_id": key}))
        return found

    async def ensure(self, key: str, cursor: int, **fields: Any) -> None:
        """Create the state of ``key`` (free, at ``cursor``, with ``fields``) unless it exists. Instances that
        create it at the same moment agree: the first insert wins, the others change nothing."""
        with contextlib.suppress(DuplicateKeyError):
            await call(self._docs.update_one(
                {"_id": key}, {"$setOnInsert": {**fields, "cursor": cursor, "owner": None, "until": 0.0}},
                upsert=True))

    async def acquire(self, key: str, owner: str, ttl: float) -> dict[str, Any] | None:
        """Take the lease for ``ttl`` seconds if it is free, expired or already ``owner``'s (one atomic
        find-and-modify); returns the state, or None when someone else holds it (or ``key`` has no state)."""
        now = self._clock()
        try:
            doc: dict[str, Any] | None = await call(self._docs.find_one_and_update(
                {"_id": key, "$or": [{"until": {"$lt": now}}, {"owner": owner}]},
                {"$set": {"owner": owner, "until": now + ttl}},
                return_document=ReturnDocument.AFTER))
        except DuplicateKeyError:
            return None
        return doc

    async def renew(self, key: str, owner: str, ttl: float, cursor: int | None = None) -> bool:
        """Extend ``owner``'s lease by ``ttl`` from now (and move the cursor when given); False when the lease
        is no longer ``owner``'s, and then nothing changes."""
        update: dict[str, Any] = {"until": self._clock() + ttl}
        if cursor is not None:
            update["cursor"] = cursor
        res = await call(self._docs.update_one({"_id": key, "owner": owner}, {"$set": update}))
        return res.matched_count == 1

    async def release(self, key: str, owner: str) -> None:
        """Give the lease up at once (a clean stop), if it is still ``owner``'s; the cursor stays."""
        await call(self._docs.update_one({"_id": key, "owner": owner}, {"$set": {"owner": None, "until": 0.0}}))
