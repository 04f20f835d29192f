"""Reads of many rows: keyset search pages with their includes, reverse references, counts, history, and the
one cross-tenant lookup the system's workers need. Filters come from store/search.py; the caller has checked
the resource type."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from store import confinement, includes, search_chains
from store.confinement import admits
from store.driver import call
from store.errors import Forbidden, Invalid, NotFound
from store.fragments import Fragments, Stored
from store.includes import MAX_INCLUDES, Spec
from store.keys import date_range
from store.layout import KEYS_ONLY, NO_KEYS, SEARCH_PROJECTION, detach, doc_id, history, keys_of, live, strip
from store.params import param_table
from store.reads import ReadCoalescer, close_cursor, find_reply, joined
from store.search import (
    Row,
    RowCursors,
    compile_params,
    decode_cursor,
    encode_cursor,
    full_sort,
    keyset_filter,
    parse_sort,
    prefix_any,
    sort_keys_of,
)
from store.types import Confinement, Page, Resource, TenantResource
from store.validation import is_resource_type

# FHIR R4 Subscription.status values under which the server delivers (requested: not yet confirmed).
ACTIVE_SUBSCRIPTION = ("requested", "active")

Params = list[tuple[str, str]]
# The confinement of each type an _include/_revinclude reads; Forbidden: the caller may not read that type.
WithinOf = Callable[[str], Confinement | None]


class Queries:
    def __init__(self, db: AsyncDatabase[Any], reads: ReadCoalescer):
        self.db = db
        self._reads = reads
        self._fragments = Fragments(db.codec_options)
        self._raw_collections: dict[str, AsyncCollection[RawBSONDocument]] = {}

    def _raw(self, rt: str) -> AsyncCollection[RawBSONDocument]:
        """``rt``'s collection read as raw BSON (the driver decodes no document)."""
        found = self._raw_collections.get(rt)
        if found is None:
            options = self.db.codec_options.with_options(document_class=RawBSONDocument)
            found = self._raw_collections[rt] = self.db.get_collection(rt, codec_options=options)
        return found

    async def read_many(self, tenant: str, rt: str, ids: Iterable[str], within: Confinement | None = None,
                        elements: tuple[str, ...] | None = None) -> dict[str, Resource]:
        """The current resources of these ids by id, in one round trip; missing and deleted ones are absent, and
        so are those ``within`` does not admit. ``elements``: only these top-level elements of each (with its
        ``resourceType`` and ``id``), as FHIR's ``_elements`` shows a resource."""
        if elements is not None:
            shown = {"resourceType": 1, "id": 1, **dict.fromkeys(elements, 1)}
            return {d["id"]: strip(d) for d in await self._docs(tenant, rt, ids, within, projection=shown)}
        if within is None and is_resource_type(rt):
            # Through the read coalescer: concurrent requests' reads of the type share its command (reads.py).
            wanted = list(dict.fromkeys(ids))
            docs = await asyncio.gather(*(self._reads.get(rt, doc_id(tenant, i)) for i in wanted))
            return {i: strip(d) for i, d in zip(wanted, docs, strict=True)
                    if d is not None and not d["_sys"].get("deleted")}
        return {d["id"]: strip(d) for d in await self._docs(tenant, rt, ids, within, keys=False)}

    async def _docs(self, tenant: str, rt: str, ids: Iterable[str], within: Confinement | None = None, *,
                    keys: bool = True, projection: dict[str, int] | None = None) -> list[dict[str, Any]]:
        """``read_many``'s stored documents (with their reference keys when ``keys``)."""
        wanted = [doc_id(tenant, i) for i in dict.fromkeys(ids)]
        if not wanted or not is_resource_type(rt):
            return []
        filt: dict[str, Any] = {"_id": {"$in": wanted}, "_sys.deleted": False}
        confined = confinement.clauses(rt, within, tenant)
        if confined:
            filt = {"$and": [filt, *confined]}
        # The whole result in the first batch: one round trip, no getMore (the server caps a batch at 16 MB).
        shown = projection or (KEYS_ONLY if keys else NO_KEYS)
        cursor = self.db[rt].find(filt, shown).limit(len(wanted)).batch_size(len(wanted))
        docs: list[dict[str, Any]] = await call(cursor.to_list(None))
        return docs

    async def page(self, tenant: str, rt: str, params: Params | None, *, count: int, after: str | None = None,
                   before: str | None = None, sort: str | None = None, total: bool = False, strict: bool = True,
                   lenient: bool | None = None,
                   include: list[str] | None = None, revinclude: list[str] | None = None,
                   include_iterate: list[str] | None = None, revinclude_iterate: list[str] | None = None,
                   extra: dict[str, Any] | None = None, from_end: bool = False, offset: int = 0,
                   within: Confinement | None = None, within_of: WithinOf | None = None,
                   as_json: bool = False) -> Page:
        """One keyset page (Repository.search); ``extra`` is one more filter clause, ``offset`` rows skipped
        first (numbered pages only); ``as_json``: the rows in ``Page.json`` (store/fragments.py), unless includes
        are asked for (they read the page's documents)."""
        # Chains first (store/search_chains.py): each intermediate type inside the caller's confinement for it
        # (without ``within_of``, inside this search's own: nothing wider than the caller's).
        chains = await search_chains.resolve(self.db, tenant, rt, params or [], strict=strict,
                                             confined=within_of or (lambda _t: within))
        clauses, applied, _ignored = compile_params(rt, chains.params, tenant, strict=strict, lenient=lenient)
        base = live(tenant, [*chains.clauses, *clauses, *confinement.clauses(rt, within, tenant)], extra)
        specs = [*(includes.parse(s, reverse=False) for s in include or ()),
                 *(includes.parse(s, reverse=True) for s in revinclude or ()),
                 *(includes.parse(s, reverse=False, iterate=True) for s in include_iterate or ()),
                 *(includes.parse(s, reverse=True, iterate=True) for s in revinclude_iterate or ())]
        sort_keys = parse_sort(rt, sort)
        order = full_sort(sort_keys)
        page = Page(resources=[], applied=[*chains.applied, *applied])
        if total or count == 0:
            page.total = await call(self.db[rt].count_documents(base))
        if count == 0:
            return page
        filt = base
        backward = before is not None or from_end
        cursor = before if before is not None else None if from_end else after
        if cursor is not None:
            values, last_id = decode_cursor(cursor, sort_keys, rt, tenant)
            filt = {"$and": [base, keyset_filter(sort_keys, values, last_id, backward=backward)]}
        direction = [(k, -d if backward else d) for k, d in order]
        projection = None if specs else SEARCH_PROJECTION
        raw = as_json and not specs
        docs: list[Any]  # raw: the rows' Stored (store/fragments.py)
        if raw:
            docs = await call(self._raw_page(rt, filt, direction, offset, count + 1))
        else:
            found = self.db[rt].find(filt, projection).sort(direction)
            if offset > 0:
                found = found.skip(offset)
            docs = await call(found.limit(count + 1).batch_size(count + 1).to_list(None))
        more = len(docs) > count
        docs = docs[:count]
        if backward:
            docs.reverse()
        if raw:
            page.json = docs
            page.cursors = RowCursors(docs, sort_keys, rt)
        else:
            page.cursors = RowCursors([Row(d["_id"], sort_keys_of(d)) for d in docs], sort_keys, rt)
        if docs:
            first, last = page.cursors[0], page.cursors[-1]
            if backward:
                page.next_cursor, page.prev_cursor = (None if from_end else last), (first if more else None)
            else:
                page.next_cursor, page.prev_cursor = (last if more else None), (first if after else None)
        if not raw:
            page.resources = [strip(d) for d in docs]
        if specs:
            page.included = [strip(d) for d in await self._included(tenant, rt, docs, specs, within_of)]
        return page

    async def _raw_page(self, rt: str, filt: dict[str, Any], direction: list[tuple[str, int]], offset: int,
                        limit: int) -> list[Stored]:
        """Up to ``limit`` rows of a search page (``SEARCH_PROJECTION``) as their JSON, in one ``find`` command:
        the reply's rows read where they lie (store/reads.py ``find_reply``, store/fragments.py ``replied``), no
        driver cursor, no document decoded. Past the 16 MB reply limit, the page is read again through a raw
        driver cursor."""
        find: dict[str, Any] = {"find": rt, "filter": filt, "sort": dict(direction), "projection": SEARCH_PROJECTION}
        if offset > 0:
            find["skip"] = offset
        find["limit"] = find["batchSize"] = limit
        raw = self._raw(rt)
        rows, cursor_id = self._fragments.replied(await find_reply(self.db, find, raw.codec_options))
        if await close_cursor(self.db, rt, cursor_id):
            found = raw.find(filt, SEARCH_PROJECTION).sort(direction).skip(offset).limit(limit).batch_size(limit)
            rows = self._fragments.all(*joined([bytes(d.raw) for d in await found.to_list(None)]))
        return rows

    async def _included(self, tenant: str, rt: str, docs: list[dict[str, Any]], specs: list[Spec],
                        within_of: WithinOf | None) -> list[dict[str, Any]]:
        """What ``specs`` include for a page's stored ``docs`` (store/includes.py): only the types the caller may
        read, inside its confinement for each."""

        async def by_id(t: str, ids: list[str]) -> list[dict[str, Any]]:
            allowed, confined = _included(t, within_of)
            return await self._docs(tenant, t, ids, confined) if allowed else []

        async def referencing(src: str, param: str, refs: list[str]) -> list[dict[str, Any]]:
            allowed, confined = _included(src, within_of)
            if not allowed:
                return []
            return await self._referencing(tenant, src, param, refs, limit=MAX_INCLUDES, within=confined,
                                           all_keys=True)

        return await includes.gather(rt, docs, specs, by_id, referencing)

    async def compartment(self, tenant: str, patient: str, types: list[str], *, params: Params | None,
                          count: int, cursor: str | None, within_of: WithinOf) -> Page:
        """One page of the Patient/``patient`` compartment (FHIR R4 patient-operation-everything): the ``types``
        in their order, each searched with ``params`` inside the compartment and the caller's confinement for it
        (``within_of``; its ``Forbidden``: the type is left out). The cursor names the type to resume at and the
        keyset cursor inside it."""
        start, inner = _compartment_cursor(cursor, patient, len(types))
        page = Page(resources=[])
        if count <= 0:
            return page
        remaining = count
        for index in range(start, len(types)):
            rt = types[index]
            after, inner = inner, None
            allowed, confined = _included(rt, within_of)
            if not allowed:
                continue
            part = await self.page(tenant, rt, params, count=remaining, after=after,
                                   within=confinement.narrowed(confined, patient))
            page.resources += part.resources
            remaining -= len(part.resources)
            if part.next_cursor:
                page.next_cursor = _encode_compartment(patient, index, part.next_cursor)
                break
            if remaining <= 0:
                if index + 1 < len(types):
                    page.next_cursor = _encode_compartment(patient, index + 1, None)
                break
        return page

    async def typeahead(self, tenant: str, rt: str, words: list[str], fields: list[str], params: Params | None,
                        *, count: int, sort: str | None, total: bool = False,
                        within: Confinement | None = None) -> Page:
        extra = {"$and": [prefix_any(rt, fields, w) for w in words]} if words else None
        return await self.page(tenant, rt, params, count=count, sort=sort, total=total, extra=extra, within=within)

    async def count_by(self, tenant: str, rt: str, by: str, params: Params | None,
                       within: Confinement | None = None) -> tuple[dict[str, int], int]:
        p = param_table(rt).get(by)
        if p is None or p.type not in ("reference", "token"):
            raise Invalid(f"Cannot count {rt} by '{by}'")
        clauses, _, _ = compile_params(rt, params or [], tenant)
        stages = [{"$match": live(tenant, [*clauses, *confinement.clauses(rt, within, tenant)])},
                  {"$project": {"_id": 0, "v": f"$_sys.k.{p.name}"}},
                  {"$unwind": {"path": "$v", "preserveNullAndEmptyArrays": True}},
                  {"$group": {"_id": "$v", "n": {"$sum": 1}}}]
        cursor = await call(self.db[rt].aggregate(stages))
        rows: list[dict[str, Any]] = await call(cursor.to_list(None))
        counts: dict[str, int] = {}
        missing = 0
        for row in rows:
            value = row["_id"]
            if value is None:
                missing = int(row["n"])
            elif isinstance(value, str) and (p.type != "reference" or "/" in value and "|" not in value):
                # a reference is keyed as Type/id, as bare id and by its identifier (system|value): the first only
                counts[value] = int(row["n"])
        return counts, missing

    async def find_by_reference(self, tenant: str, rt: str, param: str, refs: list[str], params: Params | None = None,
                                *, sort: str | None = None, limit: int = 10_000,
                                within: Confinement | None = None) -> list[tuple[Resource, list[str]]]:
        docs = await self._referencing(tenant, rt, param, refs, params, sort=sort, limit=limit, within=within)
        wanted = set(refs)
        found: list[tuple[Resource, list[str]]] = []
        for d in docs:  # fresh from the cursor, held by no one else: detached in place
            resource, server = detach(d)
            found.append((resource, [r for r in server["k"].get(param, []) if r in wanted]))
        return found

    async def _referencing(self, tenant: str, rt: str, param: str, refs: list[str], params: Params | None = None,
                           *, sort: str | None = None, limit: int = 10_000,
                           within: Confinement | None = None, all_keys: bool = False) -> list[dict[str, Any]]:
        """``find_by_reference``'s stored documents, with the keys of ``param`` (``all_keys``: every reference
        key, for includes that iterate on)."""
        if not refs:
            return []
        clauses, _, _ = compile_params(rt, params or [], tenant)
        key = f"_sys.k.{param}"
        base = live(tenant, [*clauses, {key: {"$in": list(dict.fromkeys(refs))}},
                             *confinement.clauses(rt, within, tenant)])
        order = full_sort(parse_sort(rt, sort))
        projection = KEYS_ONLY if all_keys else keys_of(rt, param)
        docs: list[dict[str, Any]] = await call(self.db[rt].find(base, projection).sort(order).limit(limit)
                                                .batch_size(limit).to_list(None))
        return docs

    async def count(self, tenant: str, rt: str, params: Params | None, within: Confinement | None = None) -> int:
        clauses, _, _ = compile_params(rt, params or [], tenant)
        return await call(self.db[rt].count_documents(live(tenant, [*clauses,
                                                                    *confinement.clauses(rt, within, tenant)])))

    async def history(self, tenant: str, rt: str, rid: str | None, *, count: int, after: str | None,
                      since: str | None, within: Confinement | None = None) -> Page:
        filt: dict[str, Any] = {"_sys.tenant": tenant}
        if rid is not None:
            filt["_sys.id"] = rid
            current = await self._reads.get(rt, doc_id(tenant, rid))
            if current is None or not admits(rt, current, within):
                raise NotFound(f"{rt}/{rid} not found")
        if since:
            rng = date_range(since)
            if rng is None:
                raise Invalid("_since must be a FHIR instant", paths=["_since"])
            filt["_sys.lu"] = {"$gte": rng[0]}
        confined = confinement.clauses(rt, within, tenant, versions=True)
        if confined:
            filt = {"$and": [filt, *confined]}
        sort_keys = [("_sys.lu", -1)]
        if after:
            values, last_id = decode_cursor(after, sort_keys, history(rt), tenant)
            filt = {"$and": [filt, keyset_filter(sort_keys, values, last_id, backward=False)]}
        docs = await call(self.db[history(rt)].find(filt, NO_KEYS).sort([("_sys.lu", -1), ("_id", -1)])
                          .limit(count + 1).to_list(None))
        more = len(docs) > count
        docs = docs[:count]
        page = Page(resources=[])
        for d in docs:
            res = strip(d)
            if d["_sys"].get("deleted"):
                res = {"resourceType": rt, "id": d["_sys"]["id"], "meta": res.get("meta", {}), "_deleted": True}
            page.resources.append(res)
        if more and docs:
            page.next_cursor = encode_cursor(docs[-1], sort_keys, history(rt))
        return page

    async def active_rest_hooks(self) -> list[TenantResource]:
        docs = await call(self.db.Subscription.find(
            {"_sys.deleted": False, "status": {"$in": list(ACTIVE_SUBSCRIPTION)}, "channel.type": "rest-hook"},
            NO_KEYS).to_list(None))
        return [TenantResource(d["_sys"]["tenant"], strip(d), dict(d["_sys"].get("sealed") or {})) for d in docs]


def _included(rt: str, within_of: WithinOf | None) -> tuple[bool, Confinement | None]:
    """Whether the caller may read the ``rt`` an include asks for, and within what."""
    if within_of is None:
        return True, None
    try:
        return True, within_of(rt)
    except Forbidden:
        return False, None


def _encode_compartment(patient: str, index: int, inner: str | None) -> str:
    raw = orjson.dumps({"p": patient, "i": index, "c": inner})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _compartment_cursor(cursor: str | None, patient: str, n: int) -> tuple[int, str | None]:
    """(type index, keyset cursor inside it) of a compartment cursor; strict, like every cursor (store/search.py):
    the inner one is checked again by the search it resumes."""
    if cursor is None:
        return 0, None
    try:
        if len(cursor) > 8192:
            raise ValueError("size")
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        index, inner = data["i"], data["c"]
        if (data["p"] != patient or not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < n
                or not (inner is None or isinstance(inner, str))):
            raise ValueError("shape")
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise Invalid("Malformed or foreign pagination cursor", paths=["_cursor"]) from None
    return index, inner
