"""The catalog DataLoaders: every catalog asked for in one operation depth is read by one store search, and
the referral attributions of many patients by one reverse-reference call."""

from __future__ import annotations

import asyncio
from typing import Any

from resolvers.loaders import Loaders
from store.naming import CS
from store.types import Page, SystemPrincipal


def basic(rid: str, kind: str) -> dict[str, Any]:
    return {"resourceType": "Basic", "id": rid, "code": {"coding": [{"system": CS["catalog"], "code": kind}]}}


class FakeRepo:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def search(self, principal: Any, rt: str, params: list[tuple[str, str]] | None = None,
                     **kw: Any) -> Page:
        self.calls.append(("search", (rt, params)))
        rows = [basic("t1", "tag-definition"), basic("a1", "alert-definition"), basic("t2", "tag-definition"),
                basic("x", "referral-attribution")]
        return Page(resources=rows, cursors=[r["id"] for r in rows])

    async def find_by_reference(self, principal: Any, rt: str, param: str, refs: list[str],
                                params: Any = None, **kw: Any) -> list[tuple[dict[str, Any], list[str]]]:
        self.calls.append(("find_by_reference", (rt, param, list(refs), params)))
        return [(basic(f"r-{ref}", "referral-attribution"), [ref]) for ref in refs]


async def test_catalogs_of_one_depth_load_in_one_search() -> None:
    repo = FakeRepo()
    loaders = Loaders(repo, SystemPrincipal("t"))  # type: ignore[arg-type]
    tags, alerts, fields = await asyncio.gather(loaders.catalogs_by_kind.load("tag-definition"),
                                                loaders.catalogs_by_kind.load("alert-definition"),
                                                loaders.catalogs_by_kind.load("field-definition"))
    codes = f"{CS['catalog']}|tag-definition,{CS['catalog']}|alert-definition,{CS['catalog']}|field-definition"
    assert repo.calls == [("search", ("Basic", [("code", codes)]))]
    assert [r["id"] for r in tags] == ["t1", "t2"] and [r["id"] for r in alerts] == ["a1"] and fields == []
    await loaders.catalogs_by_kind.load("tag-definition")  # cached
    assert len(repo.calls) == 1


async def test_attributions_of_many_patients_load_in_one_call() -> None:
    repo = FakeRepo()
    loaders = Loaders(repo, SystemPrincipal("t"))  # type: ignore[arg-type]
    keys = [f"p{i}" for i in range(30)]
    rows = await asyncio.gather(*(loaders.attributions_by_patient.load(k) for k in keys))
    assert repo.calls == [("find_by_reference", ("Basic", "subject", [f"Patient/{k}" for k in keys],
                                                 [("code", f"{CS['catalog']}|referral-attribution")]))]
    assert [r[0]["id"] for r in rows[:2]] == ["r-Patient/p0", "r-Patient/p1"]
