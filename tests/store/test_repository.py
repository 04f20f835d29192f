"""The repository through the real driver: outbox, provenance, sealed secrets, batching, tenancy."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Awaitable, Callable
from types import SimpleNamespace

import pytest
from bson.codec_options import CodecOptions
from pymongo import ReadPreference
from pymongo.errors import AutoReconnect, NotPrimaryError, OperationFailure, ServerSelectionTimeoutError
from pymongo.read_concern import ReadConcern

from store.client import StoreHandle
from store.errors import Gone, Invalid, NotFound, PreconditionFailed, SlotTaken, Unavailable
from store.naming import EXT
from store.repository import _ReadCoalescer
from store.types import SystemPrincipal
from tests.conftest import fhir_call_count, fhir_calls
from tests.factories import make_appointment, make_patient


async def events_of(store: StoreHandle, tenant: str) -> list[dict]:
    return await store.repo.db.events.find({"tenant": tenant}).sort("seq", 1).to_list(None)


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


async def test_concurrent_reads_are_coalesced(store: StoreHandle, principal: SystemPrincipal) -> None:
    pats = [(await store.repo.create(principal, make_patient())).resource for _ in range(10)]
    before = fhir_call_count()
    got = await asyncio.gather(*(store.repo.read(principal, "Patient", p["id"]) for p in pats))
    assert fhir_call_count() - before == 1
    assert [g["id"] for g in got] == [p["id"] for p in pats]


class FakeDatabase:
    """What the read coalescer uses of a database: ``command`` and the options a cursor would take."""

    read_preference = ReadPreference.PRIMARY_PREFERRED
    codec_options = CodecOptions(tz_aware=True)

    def __init__(self, answer: Callable[[dict], Awaitable[dict]], *, read_concern: ReadConcern | None = None,
                 retry_reads: bool = True):
        self.answer = answer
        self.read_concern = read_concern or ReadConcern()
        self.client = SimpleNamespace(options=SimpleNamespace(retry_reads=retry_reads))
        self.collections: dict[str, object] = {}

    async def command(self, cmd: dict, *, read_preference: object, codec_options: object) -> dict:
        assert read_preference is self.read_preference and codec_options is self.codec_options
        return await self.answer(cmd)

    def __getitem__(self, name: str) -> object:
        return self.collections[name]


async def test_concurrent_reads_past_the_16_mb_reply_limit_all_arrive(store: StoreHandle,
                                                                       principal: SystemPrincipal) -> None:
    """Four ~4.4 MB Binaries read at once pass what one reply can carry; every read still gets its resource."""
    data = base64.b64encode(os.urandom(3_300_000)).decode()
    ids = [(await store.repo.create(principal, {"resourceType": "Binary", "contentType": "application/pdf",
                                               "data": data})).resource["id"] for _ in range(4)]
    before = fhir_calls()
    got = await asyncio.gather(*(store.repo.read(principal, "Binary", i) for i in [*ids, "missing"]),
                               return_exceptions=True)
    assert [g["id"] for g in got[:4]] == ids and all(g["data"] == data for g in got[:4])
    assert isinstance(got[4], NotFound)
    after = fhir_calls()
    sent = {op: after.get((op, "Binary"), 0) - before.get((op, "Binary"), 0) for op in ("find", "killCursors")}
    assert sent == {"find": 2, "killCursors": 1}  # one batch, cut at the limit; the rest by a driver cursor


async def test_reads_asked_while_commands_are_in_flight_go_out_together() -> None:
    """With ``max_in_flight`` commands out, later reads wait for one to land, then share the next command."""
    gate = asyncio.Event()
    sent: list[list[str]] = []

    async def answer(cmd: dict) -> dict:
        keys = cmd["filter"]["_id"]["$in"]
        sent.append(keys)
        assert cmd["limit"] == cmd["batchSize"] == len(keys)
        await gate.wait()
        return {"cursor": {"id": 0, "firstBatch": [{"_id": k} for k in keys if k != "t/gone"]}}

    async def ticks() -> None:
        for _ in range(3):
            await asyncio.sleep(0)

    reads = _ReadCoalescer(FakeDatabase(answer), max_in_flight=2)  # type: ignore[arg-type]
    first = reads.get("Patient", "t/a")
    await ticks()
    second = reads.get("Patient", "t/b")
    await ticks()
    later = []
    for key in ("t/c", "t/d", "t/gone", "t/c"):
        later.append(reads.get("Patient", key))
        await ticks()
    assert sent == [["t/a"], ["t/b"]]  # two commands out; the rest wait, across several loop ticks
    gate.set()
    got = await asyncio.gather(first, second, *later)
    assert sent == [["t/a"], ["t/b"], ["t/c", "t/d", "t/gone"]]
    assert [g and g["_id"] for g in got] == ["t/a", "t/b", "t/c", "t/d", None, "t/c"]
    assert got[2] is not got[5]  # two waiters for one id get a document each


async def test_a_batch_past_the_first_reply_is_finished_by_a_driver_cursor() -> None:
    """When documents pass the 16 MB reply limit the server leaves a cursor open. Its getMore would need the
    find's session and server, so the coalescer closes it and a driver cursor fetches the rest; the database's
    read concern goes with the find."""
    commands: list[dict] = []
    rest: list[dict] = []

    async def answer(cmd: dict) -> dict:
        commands.append(cmd)
        if "find" in cmd:
            return {"cursor": {"id": 7, "firstBatch": [{"_id": "t/a"}]}}
        return {"cursorsKilled": [7]}

    class Cursor:
        async def to_list(self, length: None) -> list[dict]:
            return [{"_id": "t/b"}]

    class Collection:
        def find(self, filt: dict, projection: dict) -> Cursor:
            rest.append(filt)
            return Cursor()

    db = FakeDatabase(answer, read_concern=ReadConcern("majority"))
    db.collections = {"Patient": Collection()}
    reads = _ReadCoalescer(db)  # type: ignore[arg-type]
    got = await asyncio.gather(reads.get("Patient", "t/a"), reads.get("Patient", "t/b"), reads.get("Patient", "t/c"))
    assert [g and g["_id"] for g in got] == ["t/a", "t/b", None]
    assert commands[0]["readConcern"] == {"level": "majority"}
    assert commands[1] == {"killCursors": "Patient", "cursors": [7]}
    assert rest == [{"_id": {"$in": ["t/b", "t/c"]}}]


@pytest.mark.parametrize("retry_reads", [True, False])
async def test_a_find_is_retried_once_after_a_network_error(retry_reads: bool) -> None:
    """As the driver retries a cursor's find (retryable reads): once, after a network error or a step-down;
    never after a server-selection timeout, nor when ``retryReads=false``; a second failure is the caller's."""
    failures: list[Exception] = []
    calls: list[dict] = []

    async def answer(cmd: dict) -> dict:
        calls.append(cmd)
        if failures:
            raise failures.pop(0)
        return {"cursor": {"id": 0, "firstBatch": [{"_id": "t/a"}]}}

    reads = _ReadCoalescer(FakeDatabase(answer, retry_reads=retry_reads))  # type: ignore[arg-type]
    failures.append(NotPrimaryError("stepped down"))
    if retry_reads:
        assert (await reads.get("Patient", "t/a"))["_id"] == "t/a"
        assert len(calls) == 2 and calls[0] == calls[1]
    else:
        with pytest.raises(Unavailable):
            await reads.get("Patient", "t/a")
    calls.clear()
    failures.extend([AutoReconnect("reset"), AutoReconnect("reset again")])
    with pytest.raises(Unavailable):
        await reads.get("Patient", "t/a")
    assert len(calls) == (2 if retry_reads else 1)
    calls.clear()
    failures[:] = [ServerSelectionTimeoutError("no primary")]
    with pytest.raises(Unavailable):
        await reads.get("Patient", "t/a")
    assert len(calls) == 1
    calls.clear()
    failures[:] = [OperationFailure("interrupted", code=11602)]  # InterruptedDueToReplStateChange
    got = await asyncio.gather(reads.get("Patient", "t/a"), return_exceptions=True)
    assert len(calls) == (2 if retry_reads else 1)
    assert isinstance(got[0], dict if retry_reads else Unavailable)
    calls.clear()
    failures[:] = [OperationFailure("bad query", code=2)]  # BadValue: the same command would fail again
    with pytest.raises(Unavailable):
        await reads.get("Patient", "t/a")
    assert len(calls) == 1


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


async def test_coalesced_reads_of_one_id_do_not_share_documents(store: StoreHandle,
                                                                 principal: SystemPrincipal) -> None:
    p = (await store.repo.create(principal, make_patient())).resource
    a, b = await asyncio.gather(store.repo.read(principal, "Patient", p["id"]),
                                store.repo.read(principal, "Patient", p["id"]))
    a["name"][0]["family"] = "Changed"
    assert b["name"][0]["family"] == "Reyes"
