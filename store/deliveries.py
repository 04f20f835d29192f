"""What happened to webhook deliveries: the per-webhook delivery log and the dead-letter list (with replay).

``webhook_deliveries`` holds one document per attempt (expired after 14 days on MongoDB by a TTL index);
``webhook_dead_letters`` one per event whose retries were exhausted (``state`` dead, or replay once a replay is
asked for, until the webhook's lease owner has redelivered it). Indexes: store/indexes.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from store.clock import utc_now
from store.driver import call

LOG = "webhook_deliveries"
DEAD = "webhook_dead_letters"
LOG_TTL_S = 14 * 24 * 3600


class Deliveries:
    def __init__(self, db: AsyncDatabase[Any]):
        self._log = db[LOG]
        self._dead = db[DEAD]

    async def record(self, *, tenant: str, webhook: str, event: dict[str, Any], name: str, attempt: int,
                     status: int | None, error: str | None, ms: float, owner: str, replay: bool = False) -> None:
        """Log one delivery attempt of outbox ``event`` under the webhook's event ``name``."""
        await call(self._log.insert_one({
            # An ObjectId, not a random id: it grows with time and, within a process, with each insert, so two
            # attempts logged in the same millisecond still come back newest first.
            "_id": ObjectId(), "tenant": tenant, "webhook": webhook, "eventId": event["_id"],
            "seq": event["seq"], "type": name, "attempt": attempt, "status": status, "error": error,
            "ok": status is not None and 200 <= status < 300, "ms": ms, "owner": owner, "replay": replay,
            "at": utc_now(),
        }))

    async def log(self, tenant: str, webhook: str, limit: int = 100) -> list[dict[str, Any]]:
        """The webhook's latest delivery attempts, newest first, as shown to operators."""
        docs = await call(self._log.find({"tenant": tenant, "webhook": webhook}).sort(
            [("at", DESCENDING), ("_id", DESCENDING)]).limit(limit).to_list(None))
        return [_public(d) for d in docs]

    async def bury(self, *, tenant: str, webhook: str, event: dict[str, Any], name: str, attempts: int,
                   status: int | None, error: str | None) -> None:
        """Put an event whose retries are exhausted on the webhook's dead-letter list."""
        await call(self._dead.update_one(
            {"_id": f"{tenant}/{webhook}/{event['_id']}"},
            {"$set": {"tenant": tenant, "webhook": webhook, "eventId": event["_id"], "seq": event["seq"],
                      "event": event, "type": name, "attempts": attempts, "lastStatus": status, "lastError": error,
                      "state": "dead", "failedAt": utc_now()}},
            upsert=True))

    async def dead_letters(self, tenant: str, webhook: str) -> list[dict[str, Any]]:
        """The webhook's dead letters in outbox order, as shown to operators."""
        docs = await call(self._dead.find({"tenant": tenant, "webhook": webhook}).sort("seq", ASCENDING)
                          .to_list(None))
        return [_public(d) for d in docs]

    async def request_replay(self, tenant: str, webhook: str, event_ids: list[str] | None) -> int:
        """Queue dead letters (all, or those of ``event_ids``) for redelivery by the webhook's lease owner;
        returns how many were queued."""
        filt: dict[str, Any] = {"tenant": tenant, "webhook": webhook, "state": "dead"}
        if event_ids:
            filt["eventId"] = {"$in": event_ids}
        res = await call(self._dead.update_many(filt, {"$set": {"state": "replay"}}))
        return int(res.modified_count)

    async def replays_queued(self, tenant: str) -> set[str]:
        """The webhooks of ``tenant`` with dead letters queued for replay (the webhook workers' probe)."""
        found: list[Any] = await call(self._dead.distinct("webhook", {"tenant": tenant, "state": "replay"}))
        return {str(w) for w in found}

    async def queued_replays(self, tenant: str, webhook: str) -> list[dict[str, Any]]:
        """Up to 100 dead letters queued for replay, in outbox order: ``_id`` (for ``resolve``), ``event`` (the
        outbox event as stored) and ``type`` (the name it is delivered under)."""
        docs: list[dict[str, Any]] = await call(self._dead.find(
            {"tenant": tenant, "webhook": webhook, "state": "replay"}).sort("seq", ASCENDING).limit(100)
            .to_list(None))
        return docs

    async def resolve(self, key: str, *, delivered: bool, attempts: int, status: int | None,
                      error: str | None) -> None:
        """After a replay: drop the dead letter when it was delivered, else bury it again."""
        if delivered:
            await call(self._dead.delete_one({"_id": key}))
        else:
            await call(self._dead.update_one({"_id": key}, {"$set": {"state": "dead", "lastStatus": status,
                                                                     "lastError": error, "failedAt": utc_now()},
                                                            "$inc": {"attempts": attempts}}))


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k not in ("_id", "tenant", "event")}
    for k, v in out.items():
        if isinstance(v, datetime):
            out[k] = v.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return out
