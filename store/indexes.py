"""Indexes, created at start-up, idempotently (createIndexes with the same spec is a no-op)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from store.deliveries import DEAD, LOG, LOG_TTL_S
from store.identity import IdentityStore
from store.jobs import Jobs
from store.layout import EVENTS, UNIQUE_IDENTIFIERS, history
from store.params import PARAMS, param_table
from store.ratelimits import RATELIMITS

# Every type's search page without parameters — a tenant's live resources (``live()``, store/layout.py) in ``_id``
# order, the default sort — is a walk of ``tenant_live_id`` that stops at the page: no fetch-and-test of other
# tenants' or deleted documents, no sort. The same index answers the count of a tenant's live resources (the
# patients connection's totalCount, ``_total``) from its entries alone: MongoDB's COUNT_SCAN, devdb's count.
# AuditEvent goes without it: never deleted and never listed without parameters on a hot path, it would pay one
# more index on every audited read for a walk ``tenant_lu`` (newest first) answers as well.
LIVE_ID = IndexModel([("_sys.tenant", ASCENDING), ("_sys.deleted", ASCENDING), ("_id", ASCENDING)],
                     name="tenant_live_id")
UNWALKED = frozenset({"AuditEvent"})

# Search parameters of a type left without an index of their own: an index only narrows (every search still
# applies its whole filter), so a search on one of these scans what its other parameters (or the tenant's
# ``_lastUpdated`` order) narrow down. AuditEvent is the busiest writer (one record per audited access: every
# index is paid on every read of PHI) and its search (who touched this patient, this resource, by this client,
# in this span, refused) goes by ``patient``, ``entity``, ``agent``, ``altid``, ``date``, ``subtype`` and
# ``outcome``; what is left out holds values the recorder never writes (``_tag``, ``_profile``, ``_security``),
# duplicates an indexed one (``_lastUpdated``: the batch's instant, within ``audit_interval_s`` of ``date``;
# ``tenant_lu`` orders by it) or has a handful of values that ``subtype`` refines (``type``: rest or login;
# ``action``: C/R/U/D/E).
UNINDEXED: dict[str, frozenset[str]] = {
    "AuditEvent": frozenset({"_lastUpdated", "_tag", "_profile", "_security", "type", "action"}),
}

# Indexes an earlier version created that no query uses any more (each costs every write): ``ensure_indexes``
# drops them — those of the UNINDEXED parameters, and Patient's ``tenant_live`` on (tenant, deleted), which
# ``tenant_live_id`` replaced.
RETIRED: dict[str, frozenset[str]] = {
    "AuditEvent": frozenset(f"{kind}_{name}" for name in UNINDEXED["AuditEvent"] for kind in ("k", "s")),
    "Patient": frozenset({"tenant_live"}),
}


def models_for(rt: str) -> list[IndexModel]:
    models = [IndexModel([("_sys.tenant", ASCENDING), ("_sys.lu", DESCENDING)], name="tenant_lu")]
    if rt not in UNWALKED:
        models.append(LIVE_ID)
    unindexed = UNINDEXED.get(rt, frozenset())
    for p in param_table(rt).values():
        if p.name in ("_id",) or p.name in unindexed:
            continue
        field = f"_sys.k.{p.name}.lo" if p.type == "date" else f"_sys.k.{p.name}"
        models.append(IndexModel([("_sys.tenant", ASCENDING), (field, ASCENDING)], name=f"k_{p.name}"))
        if p.sortable and p.name not in ("_lastUpdated",):
            models.append(IndexModel([("_sys.tenant", ASCENDING), (f"_sys.s.{p.name}", ASCENDING),
                                      ("_id", ASCENDING)], name=f"s_{p.name}"))
    if rt == "Appointment":
        # Double booking of a slot is refused by the database itself (seed 000: 409), not by read-then-write.
        models.append(IndexModel([("_sys.slot", ASCENDING)], name="slot_unique", unique=True, sparse=True))
    if rt in UNIQUE_IDENTIFIERS:
        # An identifier unique per tenant (store/layout.py): a second holder is refused by the database itself.
        models.append(IndexModel([("_sys.uid", ASCENDING)], name="identifier_unique", unique=True, sparse=True))
    return models


async def ensure_indexes(db: AsyncDatabase[Any]) -> int:
    created = 0
    for rt in PARAMS:
        await db[rt].create_indexes(models_for(rt))
        if rt in RETIRED:
            await _drop_retired(db, rt)
        await db[history(rt)].create_indexes([
            IndexModel([("_sys.tenant", ASCENDING), ("_sys.lu", DESCENDING)], name="tenant_lu"),
            IndexModel([("_sys.tenant", ASCENDING), ("_sys.id", ASCENDING), ("_sys.lu", DESCENDING)],
                       name="tenant_id_lu"),
        ])
        created += 1
    await db[EVENTS].create_indexes([
        IndexModel([("tenant", ASCENDING), ("seq", ASCENDING)], name="tenant_seq", unique=True),
        IndexModel([("seq", ASCENDING)], name="seq"),
    ])
    # Idempotency records expire on real MongoDB (TTL monitor); devdb keeps them for its short life.
    await db.idempotency.create_indexes([IndexModel([("created", ASCENDING)], name="ttl",
                                                    expireAfterSeconds=24 * 3600)])
    # Rate-limit minutes expire once none of their seconds is counted any more (store/ratelimits.py).
    await db[RATELIMITS].create_indexes([IndexModel([("expires", ASCENDING)], name="ttl", expireAfterSeconds=0)])
    # Lease collections (webhook_state) are read by _id only.
    await db[LOG].create_indexes([
        IndexModel([("tenant", ASCENDING), ("webhook", ASCENDING), ("at", DESCENDING)], name="tenant_webhook_at"),
        IndexModel([("at", ASCENDING)], name="ttl", expireAfterSeconds=LOG_TTL_S),
    ])
    await db[DEAD].create_indexes([
        IndexModel([("tenant", ASCENDING), ("webhook", ASCENDING), ("state", ASCENDING)], name="tenant_webhook_state"),
    ])
    await IdentityStore(db).ensure_indexes()
    await Jobs(db).ensure_indexes()  # and moves the export jobs of an older version there
    return created


async def _drop_retired(db: AsyncDatabase[Any], rt: str) -> None:
    """Drop the ``RETIRED`` indexes an earlier version made for ``rt``."""
    async for index in await db[rt].list_indexes():
        if index["name"] in RETIRED[rt]:
            await db[rt].drop_index(index["name"])
