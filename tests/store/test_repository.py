"""The repository through the real driver: outbox, provenance, sealed secrets, batching, tenancy."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from store.client import StoreHandle
from store.errors import Conflict, Gone, Invalid, NotFound, PreconditionFailed, SlotTaken
from store.naming import EXT
from store.types import SystemPrincipal
from tests.conftest import fhir_call_count
from tests.factories import make_appointment, make_patient


async def events_of(store: StoreHandle, tenant: str) -> list[dict[str, Any]]:
    return await store.repo.outbox.after(tenant, 0, limit=1000)


async def test_every_write_appends_an_event_with_increasing_sequence(store: StoreHandle,
                                                                     principal: SystemPrincipal) -> None:
    repo = store.repo
    p = (await repo.create(principal, make_patient())).resource
    p2 = (await repo.update(principal, "Patient", p["id"], {**p, "gender": "male"})).resource
    await repo.update(principal, "Patient", p["id"], {**p2, "active": False,
                                                      "extension": [{"url": EXT["patient-status"],
                                                                     "valueCode": "inactive"}]})
    appt = (await repo.create(principal, make_appointment(p["id"]))).resource
    await repo.update(principal, "Appointment", appt["id"], {**appt, "status": "cancelled"})
    await repo.delete(principal, "Patient", p["id"])
    events = await events_of(store, principal.tenant)
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert [e["type"] for e in events] == ["patient.created", "patient.updated", "patient.deactivated",
                                           "appointment.booked", "appointment.cancelled", "patient.deleted"]
    assert events[3]["patient"] == f"Patient/{p['id']}"
    assert events[4]["versionId"] == "2"


async def test_concurrent_writes_get_distinct_sequences(store: StoreHandle, principal: SystemPrincipal) -> None:
    await asyncio.gather(*(store.repo.create(principal, make_patient()) for _ in range(20)))
    seqs = [e["seq"] for e in await events_of(store, principal.tenant)]
    assert sorted(seqs) == list(range(1, 21))


async def test_provenance_for_clinical_writes_and_no_event_for_provenance(store: StoreHandle,
                                                                          principal: SystemPrincipal) -> None:
    p = (await store.repo.create(principal, make_patient())).resource
    found = await store.repo.find_by_reference(principal, "Provenance", "target", [f"Patient/{p['id']}"])
    assert len(found) == 1
    assert found[0][0]["agent"][0]["who"]["display"] == "tester"
    assert [e["resourceType"] for e in await events_of(store, principal.tenant)] == ["Patient"]


async def test_an_append_only_resource_is_its_own_history(store: StoreHandle, principal: SystemPrincipal) -> None:
    # Provenance (like AuditEvent and Communication) is never changed once written: its one version is read
    # back by vread and _history from the resource's own collection, and no version 2 exists.
    p = (await store.repo.create(principal, make_patient())).resource
    prov = (await store.repo.find_by_reference(principal, "Provenance", "target", [f"Patient/{p['id']}"]))[0][0]
    assert await store.repo.vread(principal, "Provenance", prov["id"], "1") == prov
    with pytest.raises(NotFound):
        await store.repo.vread(principal, "Provenance", prov["id"], "2")
    page = await store.repo.history(principal, "Provenance", prov["id"])
    assert page.resources == [prov] and page.next_cursor is None
    typed = await store.repo.history(principal, "Provenance", count=100)
    assert prov in typed.resources
    assert await store.repo.db["Provenance_history"].count_documents({"_sys.tenant": principal.tenant}) == 0


async def test_webhook_secret_is_sealed(store: StoreHandle, principal: SystemPrincipal) -> None:
    sub = {"resourceType": "Subscription", "status": "active", "reason": "test", "criteria": "Appointment?",
           "channel": {"type": "rest-hook", "endpoint": "https://example.org/hook"}}
    created = (await store.repo.create(principal, sub)).resource
    secret = next(e["valueString"] for e in created["extension"] if e["url"] == EXT["webhook-secret"])
    assert len(secret) >= 32
    read = await store.repo.read(principal, "Subscription", created["id"])
    assert "extension" not in read
    assert (await store.repo.sealed(principal, "Subscription", created["id"]))[EXT["webhook-secret"]] == secret
    updated = (await store.repo.update(principal, "Subscription", created["id"], read)).resource
    assert "extension" not in updated  # an update without a secret keeps the old one and reveals nothing
    assert (await store.repo.sealed(principal, "Subscription", created["id"]))[EXT["webhook-secret"]] == secret
    hist = await store.repo.history(principal, "Subscription", created["id"])
    assert all("extension" not in r for r in hist.resources)
    mine = {**read, "extension": [{"url": EXT["webhook-secret"], "valueString": "client-chosen-secret"}]}
    shown = (await store.repo.update(principal, "Subscription", created["id"], mine)).resource
    assert shown["extension"][0]["valueString"] == "client-chosen-secret"


async def test_read_many_and_reverse_references_are_one_round_trip_each(store: StoreHandle,
                                                                        principal: SystemPrincipal) -> None:
    pats = [(await store.repo.create(principal, make_patient())).resource for _ in range(5)]
    for p in pats:
        for _ in range(2):
            await store.repo.create(principal, make_appointment(p["id"]))
    before = fhir_call_count()
    got = await store.repo.read_many(principal, "Patient", [p["id"] for p in pats] + ["missing"])
    assert fhir_call_count() - before == 1
    assert set(got) == {p["id"] for p in pats}
    before = fhir_call_count()
    rows = await store.repo.find_by_reference(principal, "Appointment", "patient",
                                              [f"Patient/{p['id']}" for p in pats])
    assert fhir_call_count() - before == 1
    assert len(rows) == 10
    assert all(refs and refs[0].startswith("Patient/") for _, refs in rows)


async def test_tenancy_and_errors(store: StoreHandle, principal: SystemPrincipal) -> None:
    other = SystemPrincipal(tenant=principal.tenant + "-other")
    p = (await store.repo.create(principal, make_patient())).resource
    with pytest.raises(NotFound):
        await store.repo.read(other, "Patient", p["id"])
    assert await store.repo.read_many(other, "Patient", [p["id"]]) == {}
    assert (await store.repo.search(other, "Patient", [("_id", p["id"])])).resources == []
    with pytest.raises(PreconditionFailed):
        await store.repo.update(principal, "Patient", p["id"], p, if_match="7")
    with pytest.raises(Invalid):
        await store.repo.create(principal, {"resourceType": "Patient", "birthDate": "soon"})
    await store.repo.delete(principal, "Patient", p["id"])
    with pytest.raises(Gone):
        await store.repo.read(principal, "Patient", p["id"])


async def test_double_booking_a_slot_is_refused_by_the_database(store: StoreHandle,
                                                                principal: SystemPrincipal) -> None:
    p = (await store.repo.create(principal, make_patient())).resource
    slot = [{"reference": "Slot/slot-1"}]
    first = (await store.repo.create(principal, make_appointment(p["id"], slot=slot))).resource
    results = await asyncio.gather(*(store.repo.create(principal, make_appointment(p["id"], slot=slot))
                                     for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, SlotTaken) for r in results)
    # cancelling frees the slot
    await store.repo.update(principal, "Appointment", first["id"], {**first, "status": "cancelled"})
    again = await store.repo.create(principal, make_appointment(p["id"], slot=slot))
    assert again.created


async def test_bulk_load_validates_and_indexes(store: StoreHandle, principal: SystemPrincipal) -> None:
    batch = [make_patient(id=f"bulk-{i}", family=f"Bulk{i}") for i in range(50)]
    await store.repo.bulk_load(principal, batch)
    page = await store.repo.search(principal, "Patient", [("family", "bulk4")], total=True)
    assert page.total == 11  # Bulk4, Bulk40..49
    assert (await store.repo.vread(principal, "Patient", "bulk-3", "1"))["id"] == "bulk-3"
    with pytest.raises(Invalid):
        await store.repo.bulk_load(principal, [make_patient(id="bad-1", birthDate="never")])


async def test_a_bulk_load_repeated_with_its_stamp_completes_what_a_failed_try_stored(
        store: StoreHandle, principal: SystemPrincipal) -> None:
    batch = [make_patient(id=f"again-{i}") for i in range(10)]
    stamp = "2026-11-02T10:00:00.000Z"
    await store.repo.bulk_load(principal, batch[:4], stamp=stamp)  # what a try that failed part-way had stored
    await store.repo.bulk_load(principal, batch, stamp=stamp)  # the repeat: no conflict with its own documents
    assert await store.repo.count(principal, "Patient") == 10
    assert await store.repo.count(principal, "Provenance") == 10  # one each: the repeat wrote the same ones
    read = await store.repo.vread(principal, "Patient", "again-2", "1")
    assert read["meta"]["lastUpdated"] == stamp
    with pytest.raises(Conflict, match="1 Patient resource"):  # another load (its own stamp): a conflict
        await store.repo.bulk_load(principal, [*batch[:1], make_patient(id="again-new")])
    assert await store.repo.count(principal, "Patient") == 11  # ordered=False: the new one went in


async def test_large_batches_come_back_in_one_round_trip(store: StoreHandle, principal: SystemPrincipal) -> None:
    await store.repo.bulk_load(principal, [make_patient(id=f"big-{i}") for i in range(250)])
    before = fhir_call_count()
    got = await store.repo.read_many(principal, "Patient", [f"big-{i}" for i in range(250)])
    assert len(got) == 250 and fhir_call_count() - before == 1  # no getMore
    before = fhir_call_count()
    page = await store.repo.search(principal, "Patient", [("_id", ",".join(f"big-{i}" for i in range(250)))],
                                   count=200)
    assert len(page.resources) == 200 and fhir_call_count() - before == 1


async def test_creation_time_is_server_managed_and_survives_updates(store: StoreHandle,
                                                                   principal: SystemPrincipal) -> None:
    created_ext = EXT["created"]
    spoof = {"url": created_ext, "valueInstant": "2001-01-01T00:00:00Z"}
    first = (await store.repo.create(principal, make_patient(meta={"extension": [spoof]}))).resource
    created = [e["valueInstant"] for e in first["meta"]["extension"] if e["url"] == created_ext]
    assert created == [first["meta"]["lastUpdated"]]
    second = (await store.repo.update(principal, "Patient", first["id"], first)).resource
    assert second["meta"]["versionId"] == "2"
    assert [e["valueInstant"] for e in second["meta"]["extension"] if e["url"] == created_ext] == created
    page = await store.repo.search(principal, "Patient", [("_created", f"le{created[0]}")])
    assert [r["id"] for r in page.resources] == [first["id"]]


async def test_active_rest_hooks_of_every_tenant_with_their_secrets(store: StoreHandle,
                                                                    principal: SystemPrincipal) -> None:
    other = SystemPrincipal(tenant=principal.tenant + "-other")

    def sub(status: str, channel: str = "rest-hook") -> dict[str, Any]:
        return {"resourceType": "Subscription", "status": status, "reason": "test", "criteria": "Patient?",
                "channel": {"type": channel, "endpoint": "https://example.org/hook"}}

    mine = {(await store.repo.create(principal, sub(status))).resource["id"] for status in ("active", "requested")}
    theirs = (await store.repo.create(other, sub("active"))).resource
    for status, channel in (("off", "rest-hook"), ("error", "rest-hook"), ("active", "email")):
        await store.repo.create(principal, sub(status, channel))
    gone = (await store.repo.create(principal, sub("active"))).resource
    await store.repo.delete(principal, "Subscription", gone["id"])
    found = [h for h in await store.repo.active_rest_hooks() if h.tenant in (principal.tenant, other.tenant)]
    assert {h.resource["id"] for h in found if h.tenant == principal.tenant} == mine
    assert [h.resource["id"] for h in found if h.tenant == other.tenant] == [theirs["id"]]
    secret = await store.repo.sealed(other, "Subscription", theirs["id"])
    hook = next(h for h in found if h.tenant == other.tenant)
    assert hook.sealed == secret and EXT["webhook-secret"] in secret
    assert "_sys" not in hook.resource and "_id" not in hook.resource


async def test_read_many_of_some_elements_shows_them_as_the_whole_has_them(store: StoreHandle,
                                                                           principal: SystemPrincipal) -> None:
    pats = [(await store.repo.create(principal, make_patient())).resource for _ in range(3)]
    gone = pats.pop()
    await store.repo.delete(principal, "Patient", gone["id"])
    ids = [p["id"] for p in pats] + [gone["id"], "missing"]
    whole = await store.repo.read_many(principal, "Patient", ids)
    named = await store.repo.read_many(principal, "Patient", ids, elements=("name",))
    assert set(named) == set(whole) == {p["id"] for p in pats}
    for pid, res in named.items():
        assert res == {k: v for k, v in whole[pid].items() if k in ("resourceType", "id", "name")}
        assert list(res) == ["resourceType", "id", "name"]
    other = SystemPrincipal(tenant=principal.tenant + "-other")
    assert await store.repo.read_many(other, "Patient", ids, elements=("name",)) == {}
