"""``_summary`` / ``_elements`` subsets (fhir_rest/bundles.py), also of documents stored before the write path
checked body shapes (a null or a lone object as ``meta.tag``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import bson
import httpx
import orjson
import pytest
from bson.codec_options import CodecOptions
from pymongo import AsyncMongoClient

from app.settings import Settings
from fhir_rest.bundles import SUBSETTED, searchset, searchset_json, subset
from store.fragments import Fragments
from store.reads import joined
from store.types import Page
from tests.factories import make_patient


@pytest.mark.parametrize("meta", [{"tag": None}, {"tag": "x"}, {"tag": 5}, None, "x", [1], {}])
@pytest.mark.parametrize(("elements", "summary"), [(["gender"], None), (None, "true"), (None, "text"),
                                                   (None, "data")])
def test_subset_tags_whatever_meta_was_stored(meta: Any, elements: list[str] | None, summary: str | None) -> None:
    out = subset({**make_patient(id="p1"), "meta": meta}, elements, summary)
    assert out["meta"]["tag"] == [SUBSETTED]
    assert out["id"] == "p1"


def test_subset_keeps_the_stored_tags() -> None:
    tag = {"system": "http://example.org/tags", "code": "vip"}
    assert subset(make_patient(id="p1", meta={"tag": [tag, None]}), ["gender"], None)["meta"]["tag"] == \
        [tag, SUBSETTED]
    assert subset(make_patient(id="p1", meta={"tag": tag}), None, "true")["meta"]["tag"] == [tag, SUBSETTED]


async def test_a_stored_null_meta_tag_is_served_subsetted(fhir: httpx.AsyncClient, settings: Settings,
                                                          tag: str) -> None:
    created = (await fhir.post("/Patient", json=make_patient(family=tag))).json()
    # A document as the write path let it through before bodies were checked for nulls.
    client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongodb_uri)
    try:
        res = await client[settings.db_name]["Patient"].update_one({"id": created["id"]}, {"$set": {"meta.tag": None}})
        assert res.modified_count == 1
    finally:
        await client.close()
    for query in ("_elements=gender", "_summary=true", "_summary=text", "_summary=data"):
        r = await fhir.get(f"/Patient/{created['id']}?{query}")
        assert r.status_code == 200, (query, r.text[:200])
        assert r.json()["meta"]["tag"] == [SUBSETTED]
        r = await fhir.get(f"/Patient?family={tag}&{query}")
        assert r.status_code == 200, (query, r.text[:200])
        assert [e["resource"]["meta"]["tag"] for e in r.json()["entry"]] == [[SUBSETTED]]


def _stored_page(ids: list[str], **page: Any) -> Page:
    cache = Fragments(CodecOptions())
    docs = [bson.encode({"_id": f"t/{i}", "resourceType": "Patient", "id": i,
                         "name": [{"family": f"Fam\u00e9 \"{i}\""}], "_sys": {"s": {"family": i}}}) for i in ids]
    return Page(resources=[], json=cache.all(*joined(docs)), **page)


@pytest.mark.parametrize("base", ["http://h:8080/fhir/r4", 'https://we"ird\\host/\u00fcber/\u2028x', ""])
@pytest.mark.parametrize("page", [
    {}, {"total": 3}, {"next_cursor": "abc"}, {"prev_cursor": "p=q", "next_cursor": "n&x", "total": 0},
    {"applied": [("family", "Fam"), ("gender", "a b")]}])
@pytest.mark.parametrize("ids", [[], ["1"], ["p-1", "x.y", "odd\"id\\", "\u00e9\u0001"]])
def test_a_json_searchset_is_the_dumped_bundle(base: str, page: dict[str, Any], ids: list[str]) -> None:
    stored = _stored_page(ids, **page)
    params = [("_count", "50"), ("_sort", "-family")]
    dumped = orjson.dumps(searchset(base, "Patient", stored, params=params, count=50))
    assert searchset_json(base, "Patient", stored, params=params) == dumped
    # and the page's rows decoded, as a page not read as JSON renders them
    decoded = dataclasses.replace(stored, json=None, resources=[orjson.loads(r.json) for r in stored.json or []])
    assert dumped == orjson.dumps(searchset(base, "Patient", decoded, params=params, count=50))


def test_a_json_searchset_with_included_rows_is_the_dumped_bundle() -> None:
    stored = _stored_page(["1", "2"], included=[make_patient(id="inc")])
    assert searchset_json("http://h", "Patient", stored, params=[]) == \
        orjson.dumps(searchset("http://h", "Patient", stored, params=[], count=50))
