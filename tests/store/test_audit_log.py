"""The audit trail's batch append (store/audit.py ``AuditLog``): what it stores reads back as the AuditEvent the
recorder built, searchable like any resource, and a batch retried after a failure part-way stores what is missing
and counts the rest as stored."""

from __future__ import annotations

import time

from auth.balp import Access, audit_event
from auth.principal import Principal
from store.client import StoreHandle
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
