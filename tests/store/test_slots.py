"""A Slot shows whether an appointment holds it: booking makes it busy (busy-tentative while pending),
cancelling, moving or deleting the appointment frees it — in the same write, versioned, with its event."""

from __future__ import annotations

from typing import Any

import httpx

from store.client import StoreHandle
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
