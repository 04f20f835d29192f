"""A Slot shows whether an appointment holds it: booking makes it busy (busy-tentative while pending),
cancelling, moving or deleting the appointment frees it — in the same write, versioned, with its event. One slot
is booked once, whatever spelling its reference uses; a slot taken out of booking (busy-unavailable,
entered-in-error) cannot be booked, and no appointment write changes its status."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from pymongo.errors import AutoReconnect

from store import writes
from store.client import StoreHandle
from store.errors import Conflict, Invalid, SlotTaken
from store.layout import document
from store.repository import Repository
from store.types import SystemPrincipal
from tests.factories import make_appointment, make_patient


def make_slot(**overrides: Any) -> dict[str, Any]:
    return {"resourceType": "Slot", "schedule": {"reference": "Schedule/s-1"}, "status": "free",
            "start": "2026-12-01T09:00:00Z", "end": "2026-12-01T09:30:00Z", **overrides}


async def status(store: StoreHandle, principal: SystemPrincipal, slot_id: str) -> str:
    return str((await store.repo.read(principal, "Slot", slot_id))["status"])


async def test_booking_holds_the_slot_and_cancelling_frees_it(store: StoreHandle,
                                                              principal: SystemPrincipal) -> None:
    p = (await store.repo.create(principal, make_patient())).resource
    slot = (await store.repo.create(principal, make_slot())).resource
    ref = [{"reference": f"Slot/{slot['id']}"}]
    pending = (await store.repo.create(principal, make_appointment(p["id"], slot=ref, status="pending"))).resource
    assert await status(store, principal, slot["id"]) == "busy-tentative"
    booked = (await store.repo.update(principal, "Appointment", pending["id"], {**pending, "status": "booked"}))
    assert await status(store, principal, slot["id"]) == "busy"
    await store.repo.update(principal, "Appointment", pending["id"], {**booked.resource, "status": "cancelled"})
    assert await status(store, principal, slot["id"]) == "free"
    stored = await store.repo.read(principal, "Slot", slot["id"])
    assert stored["meta"]["versionId"] == "4"  # free → busy-tentative → busy → free, each a version
    events = await store.repo.outbox.after(principal.tenant, 0, limit=100)
    slot_events = [e for e in events if e["resourceType"] == "Slot"]
    assert [e["versionId"] for e in slot_events] == ["1", "2", "3", "4"]
    # each slot change follows the appointment write that caused it
    order = [(e["resourceType"], e["versionId"]) for e in events if e["resourceType"] in ("Slot", "Appointment")]
    assert order == [("Slot", "1"), ("Appointment", "1"), ("Slot", "2"), ("Appointment", "2"), ("Slot", "3"),
                     ("Appointment", "3"), ("Slot", "4")]


async def test_moving_or_deleting_an_appointment_frees_its_slot(store: StoreHandle,
                                                                principal: SystemPrincipal) -> None:
    p = (await store.repo.create(principal, make_patient())).resource
    a_slot, b_slot = [(await store.repo.create(principal, make_slot())).resource for _ in range(2)]
    appt = (await store.repo.create(principal, make_appointment(
        p["id"], slot=[{"reference": f"Slot/{a_slot['id']}"}]))).resource
    moved = (await store.repo.update(principal, "Appointment", appt["id"],
                                     {**appt, "slot": [{"reference": f"Slot/{b_slot['id']}"}]})).resource
    assert (await status(store, principal, a_slot["id"]), await status(store, principal, b_slot["id"])) == \
        ("free", "busy")
    await store.repo.delete(principal, "Appointment", moved["id"])
    assert await status(store, principal, b_slot["id"]) == "free"


async def test_an_unknown_slot_is_left_alone(store: StoreHandle, principal: SystemPrincipal) -> None:
    p = (await store.repo.create(principal, make_patient())).resource
    written = await store.repo.create(principal, make_appointment(p["id"], slot=[{"reference": "Slot/nowhere"}]))
    assert written.created


async def test_free_slots_are_really_free(fhir: httpx.AsyncClient) -> None:
    p = (await fhir.post("/Patient", json=make_patient())).json()
    schedule = f"Schedule/free-{p['id']}"
    slots = [(await fhir.post("/Slot", json=make_slot(schedule={"reference": schedule}))).json() for _ in range(3)]
    await fhir.post("/Appointment", json=make_appointment(p["id"], slot=[{"reference": f"Slot/{slots[0]['id']}"}]))
    free = (await fhir.get("/Slot", params={"schedule": schedule, "status": "free"})).json()
    assert sorted(e["resource"]["id"] for e in free.get("entry", [])) == sorted(s["id"] for s in slots[1:])


def spellings(slot_id: str) -> list[str]:
    return [f"Slot/{slot_id}", f"https://our.base/fhir/r4/Slot/{slot_id}", f"Slot/{slot_id}/_history/1"]


async def test_one_slot_is_booked_once_whatever_its_reference_spelling(store: StoreHandle,
                                                                       principal: SystemPrincipal) -> None:
    p = (await store.repo.create(principal, make_patient())).resource
    slot = (await store.repo.create(principal, make_slot())).resource
    first, *others = spellings(slot["id"])
    await store.repo.create(principal, make_appointment(p["id"], slot=[{"reference": first}]))
    for other in others:
        with pytest.raises(SlotTaken):
            await store.repo.create(principal, make_appointment(p["id"], slot=[{"reference": other}]))
    # at once, under every spelling: exactly one booking wins
    fresh = (await store.repo.create(principal, make_slot())).resource
    results = await asyncio.gather(*(store.repo.create(principal, make_appointment(p["id"], slot=[{"reference": r}]))
                                     for r in spellings(fresh["id"])), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["SlotTaken", "SlotTaken", "WriteResult"]
    assert await status(store, principal, fresh["id"]) == "busy"


async def test_an_absolute_slot_reference_books_and_frees_the_slot(store: StoreHandle,
                                                                   principal: SystemPrincipal) -> None:
    p = (await store.repo.create(principal, make_patient())).resource
    slot = (await store.repo.create(principal, make_slot())).resource
    appt = (await store.repo.create(principal, make_appointment(
        p["id"], slot=[{"reference": spellings(slot["id"])[1]}]))).resource
    assert await status(store, principal, slot["id"]) == "busy"
    # the same slot under another spelling is not a move: the slot stays held
    same = (await store.repo.update(principal, "Appointment", appt["id"],
                                    {**appt, "slot": [{"reference": spellings(slot["id"])[2]}]})).resource
    assert (await store.repo.read(principal, "Slot", slot["id"]))["meta"]["versionId"] == "2"
    await store.repo.update(principal, "Appointment", appt["id"], {**same, "status": "cancelled"})
    assert await status(store, principal, slot["id"]) == "free"


@pytest.mark.parametrize("ref", ["Patient/p-1", "Schedule/s-1", "Slot", "#slot-1"])
async def test_a_slot_reference_to_anything_but_a_slot_is_invalid(store: StoreHandle, principal: SystemPrincipal,
                                                                  ref: str) -> None:
    p = (await store.repo.create(principal, make_patient())).resource
    with pytest.raises(Invalid) as err:
        await store.repo.create(principal, make_appointment(p["id"], slot=[{"reference": ref}]))
    assert not err.value.unprocessable  # a 400
    assert err.value.paths == ["Appointment.slot[0].reference"]
    assert await store.repo.count(principal, "Appointment", [("patient", f"Patient/{p['id']}")]) == 0


@pytest.mark.parametrize("blocked", ["busy-unavailable", "entered-in-error"])
async def test_cancelling_or_deleting_leaves_a_slot_taken_out_of_booking_alone(
        store: StoreHandle, principal: SystemPrincipal, blocked: str) -> None:
    p = (await store.repo.create(principal, make_patient())).resource
    slots = [(await store.repo.create(principal, make_slot())).resource for _ in range(2)]
    appts = [(await store.repo.create(principal, make_appointment(
        p["id"], slot=[{"reference": f"Slot/{s['id']}"}]))).resource for s in slots]
    for s in slots:  # staff block the slots while the appointments still hold them
        busy = await store.repo.read(principal, "Slot", s["id"])
        await store.repo.update(principal, "Slot", s["id"], {**busy, "status": blocked})
    await store.repo.update(principal, "Appointment", appts[0]["id"], {**appts[0], "status": "cancelled"})
    await store.repo.delete(principal, "Appointment", appts[1]["id"])
    for s in slots:
        stored = await store.repo.read(principal, "Slot", s["id"])
        assert (stored["status"], stored["meta"]["versionId"]) == (blocked, "3")  # free → busy → blocked, no more


@pytest.mark.parametrize("blocked", ["busy-unavailable", "entered-in-error"])
async def test_a_slot_taken_out_of_booking_cannot_be_booked(store: StoreHandle, principal: SystemPrincipal,
                                                            blocked: str) -> None:
    p = (await store.repo.create(principal, make_patient())).resource
    slot = (await store.repo.create(principal, make_slot(status=blocked))).resource
    before = await store.repo.outbox.after(principal.tenant, 0, limit=100)
    with pytest.raises(Conflict) as err:
        await store.repo.create(principal, make_appointment(p["id"], slot=[{"reference": f"Slot/{slot['id']}"}]))
    assert not isinstance(err.value, SlotTaken)
    assert err.value.details == {"slot_status": blocked}
    # nothing was written: no appointment, no event, the slot unchanged
    assert await store.repo.count(principal, "Appointment", [("patient", f"Patient/{p['id']}")]) == 0
    assert await store.repo.outbox.after(principal.tenant, 0, limit=100) == before
    stored = await store.repo.read(principal, "Slot", slot["id"])
    assert (stored["status"], stored["meta"]["versionId"]) == (blocked, "1")
    # nor by moving a booked appointment onto it, nor by booking a cancelled one on it again
    other = (await store.repo.create(principal, make_slot())).resource
    on_it = [{"reference": f"Slot/{slot['id']}"}]
    booked = (await store.repo.create(principal, make_appointment(
        p["id"], slot=[{"reference": f"Slot/{other['id']}"}]))).resource
    cancelled = (await store.repo.create(principal, make_appointment(p["id"], slot=on_it, status="cancelled"))).resource
    for appt, change in ((booked, {"slot": on_it}), (cancelled, {"status": "booked"})):
        with pytest.raises(Conflict):
            await store.repo.update(principal, "Appointment", appt["id"], {**appt, **change})
        assert (await store.repo.read(principal, "Appointment", appt["id"]))["meta"]["versionId"] == "1"
    assert await status(store, principal, other["id"]) == "busy"


async def test_an_appointment_keeps_a_slot_blocked_after_it_was_booked(store: StoreHandle,
                                                                       principal: SystemPrincipal) -> None:
    p = (await store.repo.create(principal, make_patient())).resource
    slot = (await store.repo.create(principal, make_slot())).resource
    appt = (await store.repo.create(principal, make_appointment(
        p["id"], slot=[{"reference": f"Slot/{slot['id']}"}], status="pending"))).resource
    held = await store.repo.read(principal, "Slot", slot["id"])
    await store.repo.update(principal, "Slot", slot["id"], {**held, "status": "busy-unavailable"})
    # the booking goes on (it holds the slot); the slot's status is the staff's, not the booking's
    updated = await store.repo.update(principal, "Appointment", appt["id"], {**appt, "status": "booked"})
    assert updated.resource["status"] == "booked"
    assert await status(store, principal, slot["id"]) == "busy-unavailable"


async def test_slot_rules_over_rest(fhir: httpx.AsyncClient) -> None:
    p = (await fhir.post("/Patient", json=make_patient())).json()
    slot = (await fhir.post("/Slot", json=make_slot())).json()
    first = await fhir.post("/Appointment", json=make_appointment(p["id"], slot=[{"reference": f"Slot/{slot['id']}"}]))
    assert first.status_code == 201
    taken = await fhir.post("/Appointment", json=make_appointment(
        p["id"], slot=[{"reference": f"{fhir.base_url}/Slot/{slot['id']}/_history/2"}]))
    assert (taken.status_code, taken.json()["issue"][0]["code"]) == (409, "conflict")
    wrong = await fhir.post("/Appointment", json=make_appointment(p["id"], slot=[{"reference": f"Patient/{p['id']}"}]))
    assert (wrong.status_code, wrong.json()["issue"][0]["expression"]) == (400, ["Appointment.slot[0].reference"])
    blocked = (await fhir.post("/Slot", json=make_slot(status="busy-unavailable"))).json()
    refused = await fhir.post("/Appointment", json=make_appointment(
        p["id"], slot=[{"reference": f"Slot/{blocked['id']}"}]))
    assert (refused.status_code, refused.json()["issue"][0]["code"]) == (409, "conflict")


# The standalone path (no transactions) on whatever server runs the suite: a Repository that never uses them.


@pytest.fixture
def standalone(store: StoreHandle) -> Repository:
    return Repository(store.repo.db, transactions=False)


async def test_a_failed_slot_update_does_not_fail_a_committed_booking(
        standalone: Repository, principal: SystemPrincipal, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    p = (await standalone.create(principal, make_patient(family="Zyxwander"))).resource
    slot = (await standalone.create(principal, make_slot())).resource

    secret = "connection lost to " + p["name"][0]["family"]  # an exception message may carry anything

    async def lost(*_: Any, **__: Any) -> None:
        raise AutoReconnect(secret)

    monkeypatch.setattr(writes._Writes, "_set_slot", lost)
    with caplog.at_level(logging.ERROR, logger="fhirgraph.store"):
        written = await standalone.create(principal, make_appointment(
            p["id"], slot=[{"reference": f"Slot/{slot['id']}"}]))
    assert written.created and written.event_seq is not None
    assert (await standalone.read(principal, "Appointment", written.resource["id"]))["status"] == "booked"
    [record] = [r for r in caplog.records if r.name == "fhirgraph.store"]
    assert f"Slot/{slot['id']}" in record.getMessage() and "AutoReconnect" in record.getMessage()
    assert "Zyxwander" not in record.getMessage()  # nor the exception's message
    monkeypatch.undo()
    # the booking still holds the slot: a second one is refused
    with pytest.raises(SlotTaken):
        await standalone.create(principal, make_appointment(p["id"], slot=[{"reference": f"Slot/{slot['id']}"}]))


async def test_a_stored_slot_that_cannot_be_rewritten_does_not_fail_a_committed_booking(
        standalone: Repository, principal: SystemPrincipal, caplog: pytest.LogCaptureFixture) -> None:
    p = (await standalone.create(principal, make_patient())).resource
    # a Slot stored before validation knew better: it has no schedule, so its next version would be refused
    legacy = {**make_slot(id="legacy-1", meta={"versionId": "1", "lastUpdated": "2026-01-01T00:00:00Z"})}
    del legacy["schedule"]
    await standalone.db.Slot.insert_one(document(principal.tenant, legacy, 1, "2026-01-01T00:00:00Z"))
    with caplog.at_level(logging.ERROR, logger="fhirgraph.store"):
        written = await standalone.create(principal, make_appointment(p["id"], slot=[{"reference": "Slot/legacy-1"}]))
    assert written.created
    [record] = [r for r in caplog.records if r.name == "fhirgraph.store"]
    assert "Slot/legacy-1" in record.getMessage() and "Invalid" in record.getMessage()
    assert (await standalone.read(principal, "Slot", "legacy-1"))["status"] == "free"
