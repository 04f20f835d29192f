"""The first resource referencing another, coalesced (store/referencing.py): the row a ``count=1`` search answers,
for the refs of concurrent callers in one command."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from store import referencing
from store.client import StoreHandle
from store.errors import Invalid
from store.types import Confinement, Slice, SystemPrincipal
from tests.conftest import fhir_calls
from tests.factories import make_patient


def encounter(appointment: str, patient: str | None = None, **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "Encounter", "status": "planned",
                           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
                           "appointment": [{"reference": f"Appointment/{appointment}"}], **extra}
    if patient:
        res["subject"] = {"reference": f"Patient/{patient}"}
    return res


async def put(store: StoreHandle, principal: SystemPrincipal, res: dict[str, Any], rid: str) -> dict[str, Any]:
    return (await store.repo.create(principal, {**res, "id": rid}, keep_id=True)).resource


def finds(before: dict[tuple[str, str], float], rt: str) -> float:
    return fhir_calls().get(("find", rt), 0) - before.get(("find", rt), 0)


async def test_concurrent_lookups_share_one_command_and_answer_as_a_search(store: StoreHandle,
                                                                            principal: SystemPrincipal) -> None:
    repo = store.repo
    await put(store, principal, encounter("a"), "e2")
    await put(store, principal, encounter("a"), "e1")  # a's first in the search's order, though written last
    await put(store, principal, encounter("b"), "e3")
    gone = await put(store, principal, encounter("c"), "e4")
    await repo.delete(principal, "Encounter", gone["id"])
    refs = ["Appointment/a", "Appointment/b", "Appointment/c", "Appointment/none", "Appointment/a"]
    before = fhir_calls()
    got = await asyncio.gather(*(repo.first_referencing(principal, "Encounter", "appointment", r) for r in refs))
    assert finds(before, "Encounter") == 1
    searched = [(await repo.search(principal, "Encounter", [("appointment", r)], count=1)).resources for r in refs]
    assert [g and g["id"] for g in got] == ["e1", "e3", None, None, "e1"] == [s[0]["id"] if s else None
                                                                          for s in searched]
    assert got[0] == searched[0][0]  # the resource as a read gives it, no search keys
    got[0]["status"] = "changed"
    assert got[4]["status"] == "planned"  # two callers of one ref get a resource each


async def test_refs_a_full_command_left_unanswered_are_asked_again_after_its_last_row(
        store: StoreHandle, principal: SystemPrincipal, monkeypatch: pytest.MonkeyPatch) -> None:
    """With one row per ref, a's three encounters fill the first (unsorted) command; asked again in order, they
    fill the second; b's, later in the order, is found by the third, which starts after the last row seen."""
    monkeypatch.setattr(referencing, "ROWS_PER_REF", 1)
    for rid in ("e1", "e2", "e3"):
        await put(store, principal, encounter("a"), rid)
    await put(store, principal, encounter("b"), "e9")
    before = fhir_calls()
    a, b, none = await asyncio.gather(*(store.repo.first_referencing(principal, "Encounter", "appointment", r)
                                        for r in ("Appointment/a", "Appointment/b", "Appointment/x")))
    assert (a and a["id"], b and b["id"], none) == ("e1", "e9", None)
    assert finds(before, "Encounter") == 3


async def test_the_other_parameters_the_tenant_and_the_confinement_narrow_the_lookup(
        store: StoreHandle, principal: SystemPrincipal) -> None:
    repo = store.repo
    other = SystemPrincipal(tenant=f"{principal.tenant}-other")
    await put(store, other, encounter("a"), "e0")  # another tenant's: absent
    await put(store, principal, encounter("a", "p1", status="finished"), "e1")
    await put(store, principal, encounter("a", "p2"), "e2")
    for p in ("p1", "p2"):
        await put(store, principal, make_patient(), p)
    planned = await repo.first_referencing(principal, "Encounter", "appointment", "Appointment/a",
                                           [("status", "planned")])
    assert planned and planned["id"] == "e2"
    confined = await repo.first_referencing(principal, "Encounter", "appointment", "Appointment/a",
                                            within=Confinement((Slice("p2"),)))
    assert confined and confined["id"] == "e2"
    assert await repo.first_referencing(other, "Encounter", "appointment", "Appointment/a") is not None
    assert await repo.first_referencing(principal, "Encounter", "appointment", "Appointment/a",
                                        within=Confinement(())) is None


@pytest.mark.parametrize(("param", "ref", "params"), [("status", "Appointment/a", []),
                                                       ("nonsense", "Appointment/a", []),
                                                       ("appointment", "#contained", []),
                                                       ("appointment", "Appointment/a", [("nonsense", "x")])])
async def test_a_lookup_that_is_no_reference_search_is_refused(store: StoreHandle, principal: SystemPrincipal,
                                                               param: str, ref: str,
                                                               params: list[tuple[str, str]]) -> None:
    with pytest.raises(Invalid):
        await store.repo.first_referencing(principal, "Encounter", param, ref, params)
