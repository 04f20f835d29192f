"""``_summary`` / ``_elements`` subsets (fhir_rest/bundles.py), also of documents stored before the write path
checked body shapes (a null or a lone object as ``meta.tag``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from app.settings import Settings
from fhir_rest.bundles import SUBSETTED, subset
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
