"""The audit trail's batch append (store/audit.py ``AuditLog``): what it stores reads back as the AuditEvent the
recorder built, searchable like any resource, and a batch retried after a failure part-way stores what is missing
and counts the rest as stored."""

from __future__ import annotations

import time

from pymongo import ASCENDING, IndexModel

from auth.balp import Access, audit_event
from auth.principal import Principal
from store.client import StoreHandle
from store.indexes import ensure_indexes
from store.types import SystemPrincipal


async def test_a_batch_is_stored_once_and_reads_back_as_built(store: StoreHandle, principal: SystemPrincipal) -> None:
    reader = Principal(tenant=principal.tenant, subject="api-key:ops", scopes=frozenset({"system/*.*"}),
                       via="api-key")
    events = [audit_event(Access(time.time(), reader, "read", 200, "Patient", f"p-{i}"), "fhirgraph")
              for i in range(5)]
    log = store.repo.audit_log
    assert await log.append(principal.tenant, events[:3]) == 3
    assert await log.append(principal.tenant, events) == 2  # the first three were stored by the first attempt
    for event in events:
        stored = await store.repo.read(principal, "AuditEvent", event["id"])
        assert {k: v for k, v in stored.items() if k != "meta"} == event
        assert stored["meta"]["versionId"] == "1"
    page = await store.repo.search(principal, "AuditEvent", [("patient", "p-3")])
    assert [r["id"] for r in page.resources] == [events[3]["id"]]
    other = SystemPrincipal(tenant=f"{principal.tenant}-other", subject="tester")
    assert (await store.repo.search(other, "AuditEvent", [("patient", "p-3")])).resources == []


async def test_searches_by_unindexed_parameters_still_answer(store: StoreHandle, principal: SystemPrincipal) -> None:
    # store/indexes.py UNINDEXED: AuditEvent's type and action have no index of their own; a search by them scans.
    reader = Principal(tenant=principal.tenant, subject="api-key:ops", scopes=frozenset({"system/*.*"}),
                       via="api-key")
    read = audit_event(Access(time.time(), reader, "read", 200, "Patient", "p-1"), "fhirgraph")
    wrote = audit_event(Access(time.time(), reader, "create", 201, "Patient", "p-2"), "fhirgraph")
    assert await store.repo.audit_log.append(principal.tenant, [read, wrote]) == 2
    found = await store.repo.search(principal, "AuditEvent", [("action", "C"), ("type", "rest")])
    assert [r["id"] for r in found.resources] == [wrote["id"]]


async def test_start_up_drops_the_index_of_an_unindexed_parameter(store: StoreHandle) -> None:
    db = store.repo.audit_log.db
    await db["AuditEvent"].create_indexes([IndexModel([("_sys.tenant", ASCENDING), ("_sys.k.type", ASCENDING)],
                                                      name="k_type")])
    await ensure_indexes(db)
    names = {index["name"] async for index in await db["AuditEvent"].list_indexes()}
    assert "k_type" not in names and {"k_patient", "k_date", "k_outcome"} <= names


async def test_start_up_drops_patients_tenant_live_which_tenant_live_id_replaced(store: StoreHandle) -> None:
    db = store.repo.audit_log.db
    await db["Patient"].create_indexes([IndexModel([("_sys.tenant", ASCENDING), ("_sys.deleted", ASCENDING)],
                                                   name="tenant_live")])
    await ensure_indexes(db)
    names = {index["name"] async for index in await db["Patient"].list_indexes()}
    assert "tenant_live" not in names and {"tenant_live_id", "tenant_lu"} <= names
    audit = {index["name"] async for index in await db["AuditEvent"].list_indexes()}
    assert "tenant_live_id" not in audit and "tenant_lu" in audit
