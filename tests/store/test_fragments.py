"""Search pages as JSON (store/fragments.py): the same rows and cursors as the decoded page, never a stale one."""

from __future__ import annotations

import bson
import orjson
from bson.codec_options import CodecOptions

from store.client import StoreHandle
from store.fragments import Fragments
from store.types import SystemPrincipal
from tests.factories import make_patient


def rows(page_json: list[tuple[str, str, orjson.Fragment]] | None) -> list[dict[str, object]]:
    assert page_json is not None
    return [orjson.loads(orjson.dumps(json)) | {"_as": (t, i)} for t, i, json in page_json]


async def test_a_json_page_is_the_decoded_page(store: StoreHandle, principal: SystemPrincipal) -> None:
    repo = store.repo
    for n in range(5):
        await repo.create(principal, make_patient(family=f"Fam{n}"))
    for kwargs in ({}, {"sort": "family"}, {"sort": "-family"}, {"params": [("family", "Fam")]}):
        params = kwargs.pop("params", None)
        decoded = await repo.search(principal, "Patient", params, count=3, **kwargs)  # type: ignore[arg-type]
        as_json = await repo.search(principal, "Patient", params, count=3, as_json=True,  # type: ignore[arg-type]
                                    **kwargs)
        assert as_json.resources == []
        assert [{k: v for k, v in r.items() if k != "_as"} for r in rows(as_json.json)] == decoded.resources
        assert [r["_as"] for r in rows(as_json.json)] == [(r["resourceType"], r["id"]) for r in decoded.resources]
        assert as_json.cursors == decoded.cursors and as_json.next_cursor == decoded.next_cursor
        rest = await repo.search(principal, "Patient", params, count=3, after=as_json.next_cursor,  # type: ignore[arg-type]
                                 as_json=True, **kwargs)
        assert len(rest.json or []) == 2


async def test_a_changed_resource_is_read_as_changed(store: StoreHandle, principal: SystemPrincipal) -> None:
    repo = store.repo
    p = (await repo.create(principal, make_patient(family="Before"))).resource
    first = rows((await repo.search(principal, "Patient", count=5, as_json=True)).json)
    assert first[0]["name"][0]["family"] == "Before"  # type: ignore[index]
    await repo.update(principal, "Patient", p["id"], {**p, "name": [{"family": "After"}]})
    again = rows((await repo.search(principal, "Patient", count=5, as_json=True)).json)
    assert again[0]["name"] == [{"family": "After"}] and again[0]["meta"]["versionId"] == "2"  # type: ignore[index]
    await repo.delete(principal, "Patient", p["id"])
    assert (await repo.search(principal, "Patient", count=5, as_json=True)).json == []


async def test_includes_still_read_documents(store: StoreHandle, principal: SystemPrincipal) -> None:
    repo = store.repo
    await repo.create(principal, make_patient())
    page = await repo.search(principal, "Patient", count=5, include=["Patient:general-practitioner"], as_json=True)
    assert page.json is None and len(page.resources) == 1


def test_the_cache_is_bounded_by_bytes() -> None:
    cache = Fragments(CodecOptions(), max_bytes=3000)
    raws = [bson.encode({"_id": f"t/{i}", "resourceType": "Patient", "id": str(i), "text": "x" * 400,
                         "_sys": {"s": {"name": "a"}}}) for i in range(10)]
    for raw in raws:
        stored = cache.of(raw)
        assert stored.id == raws.index(raw).__str__() and stored.sort_keys == {"name": "a"}
    assert cache.misses == 10 and cache._bytes <= 3000
    cache.of(raws[-1])
    assert cache.hits == 1
    cache.of(raws[0])  # long evicted: encoded again
    assert cache.misses == 11
    assert orjson.loads(orjson.dumps(cache.of(raws[3]).json)) == {"resourceType": "Patient", "id": "3",
                                                                   "text": "x" * 400}
    changed = bson.encode({"_id": "t/9", "resourceType": "Patient", "id": "9", "text": "y", "_sys": {"s": {}}})
    assert orjson.loads(orjson.dumps(cache.of(memoryview(changed)).json))["text"] == "y"  # same _id, other bytes
    assert cache.of(raws[9]).sort_keys == {"name": "a"}
