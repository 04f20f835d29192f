"""DataLoaders: one batched store call for many keys, one result per key in key order."""

from __future__ import annotations

import asyncio
from typing import Any

from resolvers.loaders import Loaders
from store.types import SystemPrincipal


class FakeRepo:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def read_many(self, principal: Any, rt: str, ids: list[str], elements: Any = None) -> dict[str, Any]:
        self.calls.append(("read_many", (rt, list(ids))) if elements is None else
                          ("read_many", (rt, list(ids), elements)))
        return {i: {"resourceType": rt, "id": i} for i in ids if not i.startswith("missing")}

    async def find_by_reference(self, principal: Any, rt: str, param: str, refs: list[str],
                                params: Any = None, **kw: Any) -> list[tuple[dict[str, Any], list[str]]]:
        self.calls.append(("find_by_reference", (rt, param, list(refs), params)))
        rows = []
        for n, ref in enumerate(refs):
            for k in range(n % 3):  # patient n has n % 3 rows
                rows.append(({"resourceType": rt, "id": f"{ref}-{k}"}, [ref]))
        rows.append(({"resourceType": rt, "id": "shared"}, refs[:2]))  # one row matching two parents
        return rows


async def test_reverse_loader_batches_100_parents_in_one_call() -> None:
    repo = FakeRepo()
    loaders = Loaders(repo, SystemPrincipal("t"))  # type: ignore[arg-type]
    keys = [f"p{i}" for i in range(100)]
    results = await asyncio.gather(*(loaders.appointments_by_patient.load(k) for k in keys))
    assert repo.calls == [("find_by_reference", ("Appointment", "patient", [f"Patient/{k}" for k in keys], None))]
    assert [len(r) for r in results[2:10]] == [n % 3 for n in range(2, 10)]
    assert [r["id"] for r in results[0]] == ["shared"]
    assert [r["id"] for r in results[1]] == ["Patient/p1-0", "shared"]
    # cached: no second call
    await loaders.appointments_by_patient.load("p5")
    assert len(repo.calls) == 1


async def test_id_loader_returns_none_for_missing_in_key_order() -> None:
    repo = FakeRepo()
    loaders = Loaders(repo, SystemPrincipal("t"))  # type: ignore[arg-type]
    got = await loaders.patients_by_id.load_many(["b", "missing-1", "a"])
    assert [g and g["id"] for g in got] == ["b", None, "a"]
    assert repo.calls == [("read_many", ("Patient", ["b", "missing-1", "a"]))]


async def test_patient_names_loader_reads_the_names_only_in_one_call() -> None:
    repo = FakeRepo()
    loaders = Loaders(repo, SystemPrincipal("t"))  # type: ignore[arg-type]
    got = await loaders.patient_names_by_id.load_many(["b", "missing-1", "a"])
    assert [g and g["id"] for g in got] == ["b", None, "a"]
    assert repo.calls == [("read_many", ("Patient", ["b", "missing-1", "a"], ("name",)))]


async def test_observations_loader_keeps_its_category_filter() -> None:
    repo = FakeRepo()
    loaders = Loaders(repo, SystemPrincipal("t"))  # type: ignore[arg-type]
    await loaders.observations_by_patient.load("p1")
    assert repo.calls[0][1][3] == [("category", "vital-signs,social-history")]
