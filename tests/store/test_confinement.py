"""Store query option ``within``: the Patient compartment and granular parameters, as filters on queries and as
checks of one resource on reads and writes."""

from __future__ import annotations

import pytest

from store.client import StoreHandle
from store.confinement import COMPARTMENT, admits, only
from store.errors import Forbidden, NotFound
from store.params import param_table
from store.types import Confinement, Slice, SystemPrincipal
from tests.factories import make_appointment, make_observation, make_patient

LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"


def test_the_compartment_table_names_indexed_reference_parameters() -> None:
    for rt, names in COMPARTMENT.items():
        for name in names:
            assert param_table(rt)[name].type == "reference", (rt, name)


def test_admits_judges_the_resource_itself() -> None:
    obs = make_observation("p1", category="laboratory")
    assert admits("Observation", obs, only("p1"))
    assert not admits("Observation", obs, only("p2"))
    assert admits("Observation", obs, only("p1", (("category", LAB),)))
    assert admits("Observation", obs, only(None, (("category", "laboratory,vital-signs"),)))
    assert not admits("Observation", obs, only("p1", (("category", "vital-signs"),)))
    assert not admits("Observation", obs, only("p1", (("date", "ge2020"),)))  # not judged here: refused
    assert admits("Patient", {"resourceType": "Patient", "id": "p1"}, only("p1"))
    assert not admits("Practitioner", {"resourceType": "Practitioner", "id": "x"}, only("p1"))
    assert admits("Appointment", make_appointment("p1", practitioner_id="d1"), only("p1"))
    either = Confinement((Slice("p2"), Slice(None, (("category", "laboratory"),))))
    assert admits("Observation", obs, either)
    assert not admits("Observation", obs, Confinement(()))


async def _seed(store: StoreHandle, principal: SystemPrincipal) -> dict[str, str]:
    repo = store.repo
    ids = {}
    for name in ("p1", "p2"):
        ids[name] = (await repo.create(principal, make_patient())).resource["id"]
    for name, category in (("o1lab", "laboratory"), ("o1vit", "vital-signs")):
        ids[name] = (await repo.create(principal, make_observation(ids["p1"], category=category))).resource["id"]
    ids["o2"] = (await repo.create(principal, make_observation(ids["p2"]))).resource["id"]
    return ids


async def test_queries_stay_inside_the_compartment(store: StoreHandle, principal: SystemPrincipal) -> None:
    ids = await _seed(store, principal)
    repo, mine = store.repo, only(ids["p1"])
    page = await repo.search(principal, "Observation", within=mine)
    assert {r["id"] for r in page.resources} == {ids["o1lab"], ids["o1vit"]}
    page = await repo.search(principal, "Patient", within=mine)
    assert [r["id"] for r in page.resources] == [ids["p1"]]
    assert await repo.count(principal, "Observation", within=mine) == 2
    lab = only(ids["p1"], (("category", LAB),))
    assert [r["id"] for r in (await repo.search(principal, "Observation", within=lab)).resources] == [ids["o1lab"]]
    many = await repo.read_many(principal, "Observation", [ids["o1lab"], ids["o2"]], within=mine)
    assert set(many) == {ids["o1lab"]}
    refs = await repo.find_by_reference(principal, "Observation", "patient",
                                        [f"Patient/{ids['p1']}", f"Patient/{ids['p2']}"], within=mine)
    assert {r["id"] for r, _ in refs} == {ids["o1lab"], ids["o1vit"]}
    history = await repo.history(principal, "Observation", within=mine)
    assert {r["id"] for r in history.resources} == {ids["o1lab"], ids["o1vit"]}


async def test_includes_are_confined_per_type(store: StoreHandle, principal: SystemPrincipal) -> None:
    ids = await _seed(store, principal)
    repo, mine = store.repo, only(ids["p1"])

    def within_of(rt: str) -> Confinement | None:
        if rt == "Practitioner":
            raise Forbidden("no")
        return mine

    page = await repo.search(principal, "Patient", [("_id", f"{ids['p1']},{ids['p2']}")],
                             revinclude=["Observation:subject"], within_of=within_of)
    # The searched type unconfined here, its revincludes confined: only p1's observations come along.
    assert {r["id"] for r in page.included} == {ids["o1lab"], ids["o1vit"]}
    page = await repo.search(principal, "Observation", include=["Observation:subject"], within=mine,
                             within_of=lambda rt: only(ids["p2"]))
    assert page.included == []


async def test_reads_and_writes_outside_are_absent_or_refused(store: StoreHandle,
                                                              principal: SystemPrincipal) -> None:
    ids = await _seed(store, principal)
    repo, mine = store.repo, only(ids["p1"])
    assert (await repo.read(principal, "Observation", ids["o1lab"], within=mine))["id"] == ids["o1lab"]
    for call in (repo.read(principal, "Observation", ids["o2"], within=mine),
                 repo.read(principal, "Patient", ids["p2"], within=mine),
                 repo.vread(principal, "Observation", ids["o2"], "1", within=mine),
                 repo.history(principal, "Observation", ids["o2"], within=mine),
                 repo.patch(principal, "Observation", ids["o2"], [], within=mine)):
        with pytest.raises(NotFound):
            await call
    with pytest.raises(Forbidden):
        await repo.create(principal, make_observation(ids["p2"]), within=mine)
    theirs = await repo.read(principal, "Observation", ids["o2"])
    with pytest.raises(NotFound):  # overwriting another patient's resource by id
        await repo.update(principal, "Observation", ids["o2"],
                          {**theirs, "subject": {"reference": f"Patient/{ids['p1']}"}}, within=mine)
    own = await repo.read(principal, "Observation", ids["o1lab"])
    with pytest.raises(Forbidden):  # moving one's own resource out of the compartment
        await repo.update(principal, "Observation", ids["o1lab"],
                          {**own, "subject": {"reference": f"Patient/{ids['p2']}"}}, within=mine)
    assert await repo.delete(principal, "Observation", ids["o2"], within=mine) is None
    assert (await repo.read(principal, "Observation", ids["o2"]))["id"] == ids["o2"]  # still there
    created = await repo.create(principal, make_observation(ids["p1"]), within=mine)
    assert created.created
