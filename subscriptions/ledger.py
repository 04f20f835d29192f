"""What happened to deliveries: the per-webhook delivery log and the dead-letter list (with replay)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

LOG = "webhook_deliveries"
DEAD = "webhook_dead_letters"
LOG_TTL_S = 14 * 24 * 3600


def _now() -> datetime:
    return datetime.now(UTC)


async def ensure_indexes(db: AsyncDatabase[Any]) -> None:
    await db[LOG].create_indexes([
        IndexModel([("tenant", ASCENDING), ("webhook", ASCENDING), ("at", DESCENDING)], name="tenant_webhook_at"),
        IndexModel([("at", ASCENDING)], name="ttl", expireAfterSeconds=LOG_TTL_S),
    ])
    await db[DEAD].create_indexes([
        IndexModel([("tenant", ASCENDING), ("webhook", ASCENDING), ("state", ASCENDING)], name="tenant_webhook_state"),
    ])


async def record(db: AsyncDatabase[Any], *, tenant: str, webhook: str, event: dict[str, Any], name: str,
                 attempt: int, status: int | None, error: str | None, ms: float, owner: str,
                 replay: bool = False) -> None:
    await db[LOG].insert_one({
        "_id": str(uuid.uuid4()), "tenant": tenant, "webhook": webhook, "eventId": event["_id"],
        "seq": event["seq"], "type": name, "attempt": attempt, "status": status, "error": error,
        "ok": status is not None and 200 <= status < 300, "ms": ms, "owner": owner, "replay": replay,
        "at": _now(),
    })


async def deliveries(db: AsyncDatabase[Any], tenant: str, webhook: str, limit: int = 100) -> list[dict[str, Any]]:
    docs = await db[LOG].find({"tenant": tenant, "webhook": webhook}).sort(
        [("at", DESCENDING), ("_id", DESCENDING)]).limit(limit).to_list(None)
    return [_public(d) for d in docs]


async def bury(db: AsyncDatabase[Any], *, tenant: str, webhook: str, event: dict[str, Any], name: str,
               attempts: int, status: int | None, error: str | None) -> None:
    """Put an event whose retries are exhausted on the webhook's dead-letter list."""
    await db[DEAD].update_one(
        {"_id": f"{tenant}/{webhook}/{event['_id']}"},
        {"$set": {"tenant": tenant, "webhook": webhook, "eventId": event["_id"], "seq": event["seq"],
                  "event": event, "type": name, "attempts": attempts, "lastStatus": status, "lastError": error,
                  "state": "dead", "failedAt": _now()}},
        upsert=True)


async def dead_letters(db: AsyncDatabase[Any], tenant: str, webhook: str) -> list[dict[str, Any]]:
    docs = await db[DEAD].find({"tenant": tenant, "webhook": webhook}).sort("seq", ASCENDING).to_list(None)
    return [_public(d) for d in docs]


async def request_replay(db: AsyncDatabase[Any], tenant: str, webhook: str, event_ids: list[str] | None) -> int:
    """Queue dead letters for redelivery by the webhook's lease owner; returns how many were queued."""
    filt: dict[str, Any] = {"tenant": tenant, "webhook": webhook, "state": "dead"}
    if event_ids:
        filt["eventId"] = {"$in": event_ids}
    res = await db[DEAD].update_many(filt, {"$set": {"state": "replay"}})
    return int(res.modified_count)


async def queued_replays(db: AsyncDatabase[Any], tenant: str, webhook: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = await db[DEAD].find(
        {"tenant": tenant, "webhook": webhook, "state": "replay"}).sort("seq", ASCENDING).limit(100).to_list(None)
    return docs


async def resolve(db: AsyncDatabase[Any], key: str, *, delivered: bool, attempts: int, status: int | None,
                  error: str | None) -> None:
    if delivered:
        await db[DEAD].delete_one({"_id": key})
    else:
        await db[DEAD].update_one({"_id": key}, {"$set": {"state": "dead", "lastStatus": status,
                                                          "lastError": error, "failedAt": _now()},
                                                 "$inc": {"attempts": attempts}})


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k not in ("_id", "tenant", "event")}
    for k, v in out.items():
        if isinstance(v, datetime):
            out[k] = v.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return out
