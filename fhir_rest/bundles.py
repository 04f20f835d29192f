"""Bundles (FHIR R4 §2.36): searchset and history, with keyset ``next`` links; ``_elements``/``_summary``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import orjson

from store.types import Page, Resource
from store.validation import required_elements, summary_elements

MANDATORY = ("resourceType", "id", "meta")
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


READ_SUMMARY_MODES = ("true", "text", "data", "false")
SUMMARY_MODES = (*READ_SUMMARY_MODES, "count")  # count: searches only


def subset(resource: Resource, elements: list[str] | None, summary: str | None) -> Resource:
    """FHIR R4 §3.1.1.5.8-9: ``_summary`` (true: the elements marked summary; text: text, id, meta and the
    mandatory elements; data: all but text) or ``_elements``, tagged SUBSETTED; otherwise the resource."""
    if summary == "true":
        keep: frozenset[str] = summary_elements(resource.get("resourceType", "")) | set(MANDATORY)
        out = {k: v for k, v in resource.items() if k in keep}
    elif summary == "text":
        keep = required_elements(resource.get("resourceType", "")) | {"text", *MANDATORY}
        out = {k: v for k, v in resource.items() if k in keep}
    elif summary == "data":
        out = {k: v for k, v in resource.items() if k != "text"}
    elif elements:
        keep = _elements_kept(resource.get("resourceType", ""), tuple(elements))
        out = {k: v for k, v in resource.items() if k in keep}
    else:
        return resource
    meta = out.get("meta")
    meta = dict(meta) if isinstance(meta, dict) else {}
    # Documents stored before the write path checked shapes may hold a null or a lone object as meta.tag.
    tags = meta.get("tag")
    meta["tag"] = [*(t for t in tags if t is not None), SUBSETTED] if isinstance(tags, list) else \
        [tags, SUBSETTED] if isinstance(tags, dict) else [SUBSETTED]
    out["meta"] = meta
    return out


@lru_cache(maxsize=1024)
def _elements_kept(resource_type: str, elements: tuple[str, ...]) -> frozenset[str]:
    """What ``_elements`` keeps: the elements asked for (with their primitive extensions, ``_status``) and,
    asked or not, the mandatory ones (R4 §3.1.1.5.9 "servers SHOULD always return mandatory elements"; the Bulk
    Data IG's ``_elements`` the same), so a subset still validates."""
    return frozenset((*elements, *(f"_{e}" for e in elements), *MANDATORY)) | required_elements(resource_type)


def searchset(base: str, rt: str, page: Page, *, params: list[tuple[str, str]], count: int,
              elements: list[str] | None = None, summary: str | None = None, total: bool = False) -> dict[str, Any]:
    bundle = _searchset_head(base, rt, page, params)
    entries = [
        {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": subset(r, elements, summary),
         "search": {"mode": "match"}}
        for r in page.resources
    ] if page.json is None else [  # as stored (store/fragments.py): no subset asked for
        {"fullUrl": f"{base}/{r.rt}/{r.id}", "resource": orjson.Fragment(r.json), "search": {"mode": "match"}}
        for r in page.json
    ]
    entries += [
        {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "include"}}
        for r in page.included
    ]
    if entries or summary != "count":
        bundle["entry"] = entries
    return bundle


def searchset_json(base: str, rt: str, page: Page, *, params: list[tuple[str, str]]) -> bytes:
    """``orjson.dumps(searchset(...))`` of a page read as JSON (``Page.json``, store/fragments.py; nothing
    included, no subset): the Bundle's head dumped, then its entries joined as bytes around each row's JSON, with
    no dict per entry and no walk of them by the encoder (tests/fhir_rest/test_bundles.py holds it to that)."""
    rows = page.json
    if rows is None or page.included:
        return orjson.dumps(searchset(base, rt, page, params=params, count=0))
    head = orjson.dumps(_searchset_head(base, rt, page, params))
    if not rows:
        return head[:-1] + b',"entry":[]}'
    # The entry keys in searchset's order; "fullUrl" is the JSON string of base + row.url (the escapes of a
    # string are those of its characters, so the base's are dumped once).
    start = b'{"fullUrl":' + orjson.dumps(base)[:-1]
    parts = [head[:-1], b',"entry":[']
    extend = parts.extend
    for r in rows:
        extend((start, r.url, b'","resource":', r.json, b',"search":{"mode":"match"}},'))
    parts[-1] = b',"search":{"mode":"match"}}]}'
    return b"".join(parts)


def _searchset_head(base: str, rt: str, page: Page, params: list[tuple[str, str]]) -> dict[str, Any]:
    """A searchset Bundle without its entries (they come last): type, total, links."""
    self_q = [*page.applied, *params]
    links = [{"relation": "self", "url": _url(base, rt, self_q)}]
    if page.next_cursor:
        links.append({"relation": "next", "url": _url(base, rt, [*self_q, ("_cursor", page.next_cursor)])})
    if page.prev_cursor:
        links.append({"relation": "previous", "url": _url(base, rt, [*self_q, ("_before", page.prev_cursor)])})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if page.total is not None:
        bundle["total"] = page.total
    bundle["link"] = links
    return bundle


def history(base: str, path: str, page: Page, *, count: int, since: str | None = None) -> dict[str, Any]:
    query: list[tuple[str, Any]] = [("_since", since)] if since else []  # every page of the same history
    query.append(("_count", count))
    links = [{"relation": "self", "url": f"{base}/{path}?{urlencode(query)}"}]
    if page.next_cursor:
        links.append({"relation": "next", "url": f"{base}/{path}?{urlencode([*query, ('_cursor', page.next_cursor)])}"})
    entries = []
    for r in page.resources:
        url = f"{r['resourceType']}/{r['id']}"
        if r.get("_deleted"):
            entries.append({"fullUrl": f"{base}/{url}", "request": {"method": "DELETE", "url": url},
                            "response": {"status": "204", "lastModified": r["meta"].get("lastUpdated")}})
            continue
        method = "POST" if r["meta"]["versionId"] == "1" else "PUT"
        entries.append({
            "fullUrl": f"{base}/{url}", "resource": r,
            "request": {"method": method, "url": url if method == "PUT" else r["resourceType"]},
            "response": {"status": "201" if method == "POST" else "200",
                         "etag": f'W/"{r["meta"]["versionId"]}"', "lastModified": r["meta"]["lastUpdated"]},
        })
    return {"resourceType": "Bundle", "type": "history", "link": links, "entry": entries}


def _url(base: str, rt: str, query: list[tuple[str, Any]]) -> str:
    return f"{base}/{rt}" + (f"?{urlencode(query)}" if query else "")
