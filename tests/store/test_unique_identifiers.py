"""An identifier unique per tenant (store/layout.py ``UNIQUE_IDENTIFIERS``: an Appointment's external id) is held
by one live resource at a time, refused by the database's unique index — not by a read before the write — so
concurrent writers cannot both win; a deleted holder frees it, and another tenant has its own."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from store.client import StoreHandle
from store.errors import DuplicateIdentifier
from store.naming import SID
from store.types import SystemPrincipal
from tests.factories import make_appointment, make_patient


def external(value: str) -> list[dict[str, str]]:
    return [{"system": SID["external-id"], "value": value}]


async def test_one_holder_at_a_time_even_at_once(store: StoreHandle, principal: SystemPrincipal) -> None:
    p = (await store.repo.create(principal, make_patient())).resource
    value = uuid.uuid4().hex
    results = await asyncio.gather(*(store.repo.create(principal, make_appointment(p["id"], identifier=external(value)))
                                     for _ in range(5)), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["DuplicateIdentifier"] * 4 + ["WriteResult"]
    page = await store.repo.search(principal, "Appointment", [("identifier", f"{SID['external-id']}|{value}")])
    assert len(page.resources) == 1


async def test_an_update_cannot_take_a_held_value_and_a_delete_frees_it(store: StoreHandle,
                                                                        principal: SystemPrincipal) -> None:
    p = (await store.repo.create(principal, make_patient())).resource
    value = uuid.uuid4().hex
    holder = (await store.repo.create(principal, make_appointment(p["id"], identifier=external(value)))).resource
    other = (await store.repo.create(principal, make_appointment(p["id"]))).resource
    with pytest.raises(DuplicateIdentifier):
        await store.repo.update(principal, "Appointment", other["id"], {**other, "identifier": external(value)})
    # the holder keeps its value through its own updates
    await store.repo.update(principal, "Appointment", holder["id"], {**holder, "status": "cancelled"})
    await store.repo.delete(principal, "Appointment", holder["id"])
    moved = await store.repo.update(principal, "Appointment", other["id"], {**other, "identifier": external(value)})
    assert moved.resource["identifier"] == external(value)
    # another tenant's appointments have values of their own
    elsewhere = SystemPrincipal(tenant=f"{principal.tenant}-b", subject="tester")
    q = (await store.repo.create(elsewhere, make_patient())).resource
    assert (await store.repo.create(elsewhere, make_appointment(q["id"], identifier=external(value)))).created
