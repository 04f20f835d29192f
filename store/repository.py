"""The FHIR repository over MongoDB: read, vread, read_many, search, create, update, patch, delete, history.

One path: the real PyMongo Async driver, against a real MongoDB (production) or ``fhirgraph devdb``.

Storage (DESIGN.md decision 1): collection ``<Type>`` holds the current version of each resource as the FHIR
JSON a client GETs, plus ``_id = "<tenant>/<id>"`` and the reserved ``_sys`` key (tenant, version, deleted
flag, search keys) which never leaves the store. ``<Type>_history`` keeps every version
(``_id = "<tenant>/<id>/<version>"``). ``events`` is the outbox; ``counters`` hands out per-tenant sequences.

Write order (decision 6): on a replica set every write is one transaction. On a standalone server (devdb)
the order is: conditional write of the current document (the lock: ``_sys.v`` must still be the base
version), then the history version, then the sequence and the event. A crash between those steps can lose
an event or a history entry, never a version of the resource; production runs on a replica set.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import logging
import random
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import jsonpatch
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from store import keys as keymod
from store.errors import (
    Conflict,
    DomainError,
    Gone,
    Invalid,
    NotAllowed,
    NotFound,
    PreconditionFailed,
    SlotTaken,
    Unavailable,
)
from store.events import SILENT_TYPES, classify, make_event
from store.naming import EXT
from store.params import APPEND_ONLY, CLINICAL_TYPES, PARAMS, param_table
from store.search import (
    compile_params,
    decode_cursor,
    encode_cursor,
    full_sort,
    keyset_filter,
    parse_sort,
    prefix_any,
)
from store.types import Page, PrincipalLike, Resource, WriteResult
from store.validation import check_id, check_shape, is_resource_type, validate

log = logging.getLogger("fhirgraph.store")

# An appointment in these statuses no longer holds its slot.
SLOT_RELEASING = frozenset({"cancelled", "noshow", "entered-in-error"})
MAX_INCLUDES = 1000
CREATED = EXT["created"]
WRITE_RETRIES = 30
# The search keys (``_sys.k``, ``_sys.e``) and sort keys (``_sys.s``) are most of a stored document's bytes;
# reads that do not need them leave them behind. A search page keeps the sort keys: its cursors are made of them.
NO_KEYS = {"_sys.k": 0, "_sys.e": 0, "_sys.s": 0}
SEARCH_PROJECTION = {"_sys.k": 0, "_sys.e": 0}
# Extensions whose values are secrets: accepted on write, kept under ``_sys.sealed``, returned only in the
# response to the write that set them (seed 000 webhook secrets), generated when a write omits them.
SEALED: dict[str, dict[str, Callable[[], str]]] = {
    "Subscription": {EXT["webhook-secret"]: lambda: secrets.token_urlsafe(32)},
}


def now_instant() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def strip(doc: dict[str, Any]) -> Resource:
    """The FHIR resource of a stored document: everything but ``_id`` and ``_sys``."""
    return {k: v for k, v in doc.items() if k != "_id" and k != "_sys"}


class _ReadCoalescer:
    """Coalesces concurrent reads by ``_id`` into one ``$in`` query per collection.

    Under concurrent load most of a read's cost is the driver's per-command work, not the database's; one
    round trip for the reads of every request that arrived together divides it among them. A read asked for
    when the collection has no command in flight goes out on the next event-loop tick (no added latency when
    idle). While a command is out, the next one waits one more loop turn, so that the reads of requests that
    arrived in the same burst share it; while ``max_in_flight`` commands are out, new reads wait for the first of
    them to come back and then go out together — so batches grow with the load instead of with a timer.
    Nothing is cached: each read still sees the database as of a round trip sent after it was asked for."""

    def __init__(self, db: AsyncDatabase[Any], *, max_in_flight: int = 2):
        self.db = db
        self.max_in_flight = max_in_flight
        # A command sent as such does not take the database's read concern the way a driver cursor would.
        self.read_concern = {"readConcern": db.read_concern.document} if db.read_concern.document else {}
        self.pending: dict[str, dict[str, list[asyncio.Future[dict[str, Any] | None]]]] = {}
        self.scheduled: set[str] = set()
        self.in_flight: dict[str, int] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def get(self, collection: str, key: str) -> asyncio.Future[dict[str, Any] | None]:
        """A future of the stored document with ``_id`` ``key`` (None when absent); driver errors arrive as
        ``Unavailable``."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[dict[str, Any] | None] = loop.create_future()
        batch = self.pending.get(collection)
        if batch is None:
            batch = self.pending[collection] = {}
        batch.setdefault(key, []).append(fut)
        busy = self.in_flight.get(collection, 0)
        if collection not in self.scheduled and busy < self.max_in_flight:
            self.scheduled.add(collection)
            if busy:
                # The store is already busy with this collection: the reads of requests arriving in the same
                # burst (those the loop reads from its sockets on its next turn) get that turn to join.
                loop.call_soon(loop.call_soon, self._flush, collection)
            else:
                loop.call_soon(self._flush, collection)
        return fut

    def _flush(self, collection: str) -> None:
        self.scheduled.discard(collection)
        batch = self.pending.pop(collection, None)
        if not batch:
            return
        self.in_flight[collection] = self.in_flight.get(collection, 0) + 1
        task = asyncio.ensure_future(self._fetch(collection, batch))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _landed(self, collection: str) -> None:
        self.in_flight[collection] -= 1
        if self.pending.get(collection) and collection not in self.scheduled:
            self._flush(collection)

    async def _find(self, collection: str, keys: list[str]) -> list[dict[str, Any]]:
        """The documents with these ``_id``s, as one ``find`` command.

        The command is sent as such rather than through a driver cursor: for a query answered in one reply, the
        cursor's bookkeeping is a sixth of the driver's CPU time per round trip. FHIR resources are small, so
        the whole batch almost always fits the first reply; when its documents pass the 16 MB reply limit, the
        rest come through a driver cursor (a getMore must reuse the find's session and server, which only a
        cursor keeps)."""
        # The limit lets the server close the cursor with the first reply (a full batch alone would leave it open
        # for a getMore that finds nothing: there is at most one document per _id).
        find: dict[str, Any] = {"find": collection, "filter": {"_id": {"$in": keys}}, "projection": NO_KEYS,
                                "limit": len(keys), "batchSize": len(keys), **self.read_concern}
        try:
            reply = await self._command(find)
        except (AutoReconnect, OperationFailure) as exc:
            # A cursor's find is retried once by the driver after a network error or a primary's step-down
            # (retryable reads); a command sent as such is not, so the same single retry is made here.
            if not _retryable_read_error(exc) or not self.db.client.options.retry_reads:
                raise
            reply = await self._command(find)
        docs: list[dict[str, Any]] = reply["cursor"]["firstBatch"]
        if cursor_id := reply["cursor"]["id"]:
            with contextlib.suppress(PyMongoError):  # else the server closes it when it has been idle a while
                await self._command({"killCursors": collection, "cursors": [cursor_id]})
            have = {d["_id"] for d in docs}
            rest = [k for k in keys if k not in have]
            docs.extend(await self.db[collection].find({"_id": {"$in": rest}}, NO_KEYS).to_list(None))
        return docs

    async def _command(self, command: dict[str, Any]) -> dict[str, Any]:
        # As a cursor would: the database's read preference and codec options (a command's default is primary
        # and the driver's default codec options).
        return await self.db.command(command, read_preference=self.db.read_preference,
                                     codec_options=self.db.codec_options)

    async def _fetch(self, collection: str, batch: dict[str, list[asyncio.Future[dict[str, Any] | None]]]) -> None:
        try:
            found = {d["_id"]: d for d in await self._find(collection, list(batch))}
        except BaseException as exc:  # every waiter learns of the failure; none hangs
            if isinstance(exc, PyMongoError):
                exc = _unavailable(exc)
            for futures in batch.values():
                for f in futures:
                    if not f.done():
                        f.set_exception(exc)
            self._landed(collection)
            if not isinstance(exc, Exception):
                raise
            return
        self._landed(collection)
        for key, futures in batch.items():
            doc = found.get(key)
            for i, f in enumerate(futures):
                if not f.done():
                    # Waiters for the same id each get their own document: a caller may change what it read.
                    f.set_result(doc if i == 0 or doc is None else copy.deepcopy(doc))


class Repository:
    def __init__(self, db: AsyncDatabase[Any], *, transactions: bool = False):
        self.db = db
        self.transactions = transactions
        self._reads = _ReadCoalescer(db)
        # Called after every committed write with the event, so the relay can wake at once (decision 6/7).
        self.on_event: list[Callable[[dict[str, Any]], Awaitable[None] | None]] = []

    # ------------------------------------------------------------------ reads

    async def read(self, principal: PrincipalLike, rt: str, rid: str) -> Resource:
        """FHIR R4 §3.1.0.4 read: the current version; 410 if deleted, 404 if absent or another tenant's."""
        doc = await self._current(principal, rt, rid)
        if doc is None:
            raise NotFound(f"{rt}/{rid} not found")
        if doc.pop("_sys").get("deleted"):
            raise Gone(f"{rt}/{rid} was deleted")
        del doc["_id"]  # the document is this caller's own (the coalescer never hands one out twice)
        return doc

    async def vread(self, principal: PrincipalLike, rt: str, rid: str, vid: str) -> Resource:
        """FHIR R4 §3.1.0.5 vread."""
        self._check_type(rt)
        doc = await self._call(self.db[f"{rt}_history"].find_one({"_id": f"{principal.tenant}/{rid}/{vid}"}, NO_KEYS))
        if doc is None:
            raise NotFound(f"{rt}/{rid}/_history/{vid} not found")
        if doc["_sys"].get("deleted"):
            raise Gone(f"{rt}/{rid} version {vid} is a deletion")
        return strip(doc)

    async def read_many(self, principal: PrincipalLike, rt: str, ids: Iterable[str]) -> dict[str, Resource]:
        """Batch read by id for DataLoaders: one round trip; missing, deleted and foreign ids are absent."""
        wanted = [f"{principal.tenant}/{i}" for i in dict.fromkeys(ids)]
        if not wanted or not is_resource_type(rt):
            return {}
        # The whole result in the first batch: one round trip, no getMore (the server caps a batch at 16 MB).
        cursor = (self.db[rt].find({"_id": {"$in": wanted}, "_sys.deleted": False}, NO_KEYS)
                  .limit(len(wanted)).batch_size(len(wanted)))
        docs = await self._call(cursor.to_list(None))
        return {d["id"]: strip(d) for d in docs}

    def _current(self, principal: PrincipalLike, rt: str, rid: str) -> asyncio.Future[dict[str, Any] | None]:
        """The stored document of ``rt/rid`` (None when absent), to be awaited; the hottest path, so a future
        rather than one more coroutine frame."""
        self._check_type(rt)
        return self._reads.get(rt, f"{principal.tenant}/{rid}")

    # ------------------------------------------------------------------ search

    async def search(
        self,
        principal: PrincipalLike,
        rt: str,
        params: list[tuple[str, str]] | None = None,
        *,
        count: int = 20,
        after: str | None = None,
        before: str | None = None,
        sort: str | None = None,
        total: bool = False,
        strict: bool = True,
        include: list[str] | None = None,
        revinclude: list[str] | None = None,
        from_end: bool = False,
    ) -> Page:
        """FHIR R4 §3.1.1 search, one keyset page (decision 5). ``count=0`` returns only the total. Each row
        carries its own cursor (``Page.cursors``): paging may resume after any of them. ``from_end``: the last
        ``count`` rows (a Relay ``last`` without ``before``), still in the sort's order."""
        return await self._search(principal, rt, params, count=count, after=after, before=before, sort=sort,
                                  total=total, strict=strict, include=include, revinclude=revinclude,
                                  from_end=from_end)

    async def typeahead(self, principal: PrincipalLike, rt: str, words: list[str], fields: list[str],
                        params: list[tuple[str, str]] | None = None, *, count: int = 20,
                        sort: str | None = None) -> Page:
        """The rows matching ``params`` where every one of ``words`` starts a value of one of the search
        parameters ``fields`` (string parameters case- and accent-insensitively) — an indexed prefix match."""
        self._check_type(rt)
        extra = {"$and": [prefix_any(rt, fields, w) for w in words]} if words else None
        return await self._search(principal, rt, params, count=count, sort=sort, extra=extra)

    async def count_by(self, principal: PrincipalLike, rt: str, by: str,
                       params: list[tuple[str, str]] | None = None) -> tuple[dict[str, int], int]:
        """How many of the rows matching ``params`` hold each value of the search parameter ``by`` (a reference
        counts per ``Type/id``), and how many hold none: a grouping on the search keys, no rows returned."""
        self._check_type(rt)
        p = param_table(rt).get(by)
        if p is None or p.type not in ("reference", "token"):
            raise Invalid(f"Cannot count {rt} by '{by}'")
        clauses, _, _ = compile_params(rt, params or [], principal.tenant)
        stages = [{"$match": self._base_filter(principal, clauses, None)},
                  {"$project": {"_id": 0, "v": f"$_sys.k.{p.name}"}},
                  {"$unwind": {"path": "$v", "preserveNullAndEmptyArrays": True}},
                  {"$group": {"_id": "$v", "n": {"$sum": 1}}}]
        cursor = await self._call(self.db[rt].aggregate(stages))
        rows: list[dict[str, Any]] = await self._call(cursor.to_list(None))
        counts: dict[str, int] = {}
        missing = 0
        for row in rows:
            value = row["_id"]
            if value is None:
                missing = int(row["n"])
            elif isinstance(value, str) and (p.type != "reference" or "/" in value):
                counts[value] = int(row["n"])  # a reference is keyed as Type/id and as bare id: the first only
        return counts, missing

    async def _search(self, principal: PrincipalLike, rt: str, params: list[tuple[str, str]] | None, *,
                      count: int, after: str | None = None, before: str | None = None, sort: str | None = None,
                      total: bool = False, strict: bool = True, include: list[str] | None = None,
                      revinclude: list[str] | None = None, extra: dict[str, Any] | None = None,
                      from_end: bool = False) -> Page:
        self._check_type(rt)
        clauses, applied, _ignored = compile_params(rt, params or [], principal.tenant, strict=strict)
        base = self._base_filter(principal, clauses, extra)
        sort_keys = parse_sort(rt, sort)
        order = full_sort(sort_keys)
        page = Page(resources=[], applied=applied)
        if total or count == 0:
            page.total = await self._call(self.db[rt].count_documents(base))
        if count == 0:
            return page
        filt = base
        backward = before is not None or from_end
        cursor = before if before is not None else None if from_end else after
        if cursor is not None:
            values, last_id = decode_cursor(cursor, sort_keys, rt, principal.tenant)
            filt = {"$and": [base, keyset_filter(sort_keys, values, last_id, backward=backward)]}
        direction = [(k, -d if backward else d) for k, d in order]
        projection = None if include else SEARCH_PROJECTION
        docs = await self._call(self.db[rt].find(filt, projection).sort(direction).limit(count + 1)
                                .batch_size(count + 1).to_list(None))
        more = len(docs) > count
        docs = docs[:count]
        if backward:
            docs.reverse()
        page.cursors = [encode_cursor(d, sort_keys, rt) for d in docs]
        if docs:
            first, last = page.cursors[0], page.cursors[-1]
            if backward:
                page.next_cursor, page.prev_cursor = (None if from_end else last), (first if more else None)
            else:
                page.next_cursor, page.prev_cursor = (last if more else None), (first if after else None)
        page.resources = [strip(d) for d in docs]
        if include:
            page.included.extend(await self._includes(principal, rt, docs, include))
        if revinclude:
            page.included.extend(await self._revincludes(principal, rt, docs, revinclude))
        return page

    async def find_by_reference(
        self,
        principal: PrincipalLike,
        rt: str,
        param: str,
        refs: list[str],
        params: list[tuple[str, str]] | None = None,
        *,
        sort: str | None = None,
        limit: int = 10_000,
    ) -> list[tuple[Resource, list[str]]]:
        """Every ``rt`` whose ``param`` references one of ``refs`` — one round trip for a DataLoader of
        reverse references. Returns (resource, the refs it matched) so the caller can group by parent."""
        self._check_type(rt)
        if not refs:
            return []
        clauses, _, _ = compile_params(rt, params or [], principal.tenant)
        key = f"_sys.k.{param}"
        base = self._base_filter(principal, [*clauses, {key: {"$in": list(dict.fromkeys(refs))}}], None)
        order = full_sort(parse_sort(rt, sort))
        docs = await self._call(self.db[rt].find(base, {"_sys.e": 0}).sort(order).limit(limit).batch_size(limit)
                                .to_list(None))
        wanted = set(refs)
        return [(strip(d), [r for r in d["_sys"]["k"].get(param, []) if r in wanted]) for d in docs]

    async def count(self, principal: PrincipalLike, rt: str, params: list[tuple[str, str]] | None = None) -> int:
        """How many ``rt`` match ``params`` (FHIR ``_summary=count``)."""
        self._check_type(rt)
        clauses, _, _ = compile_params(rt, params or [], principal.tenant)
        n: int = await self._call(self.db[rt].count_documents(self._base_filter(principal, clauses, None)))
        return n

    def _base_filter(self, principal: PrincipalLike, clauses: list[dict[str, Any]],
                     extra: dict[str, Any] | None) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"_sys.tenant": principal.tenant, "_sys.deleted": False}, *clauses]
        if extra:
            parts.append(extra)
        return parts[0] if len(parts) == 1 else {"$and": parts}

    async def _includes(self, principal: PrincipalLike, rt: str, docs: list[dict[str, Any]],
                        specs: list[str]) -> list[Resource]:
        out: list[Resource] = []
        table = param_table(rt)
        for spec in specs:
            src, _, rest = spec.partition(":")
            param, _, target = rest.partition(":")
            p = table.get(param)
            if src != rt or p is None or p.type != "reference":
                raise Invalid(f"Unsupported _include '{spec}'", paths=["_include"])
            by_type: dict[str, list[str]] = {}
            for d in docs:
                for ref in d["_sys"]["k"].get(param, []):
                    t, _, rid = ref.partition("/")
                    if rid and (not target or t == target):
                        by_type.setdefault(t, []).append(rid)
            for t, ids in by_type.items():
                if is_resource_type(t):
                    out.extend((await self.read_many(principal, t, ids[:MAX_INCLUDES])).values())
        return out

    async def _revincludes(self, principal: PrincipalLike, rt: str, docs: list[dict[str, Any]],
                           specs: list[str]) -> list[Resource]:
        out: list[Resource] = []
        refs = [f"{rt}/{d['id']}" for d in docs]
        for spec in specs:
            src, _, param = spec.partition(":")
            param = param.partition(":")[0]
            p = param_table(src).get(param) if is_resource_type(src) else None
            if p is None or p.type != "reference":
                raise Invalid(f"Unsupported _revinclude '{spec}'", paths=["_revinclude"])
            found = await self.find_by_reference(principal, src, param, refs, limit=MAX_INCLUDES)
            out.extend(r for r, _ in found)
        return out

    # ------------------------------------------------------------------ history

    async def history(self, principal: PrincipalLike, rt: str, rid: str | None = None, *, count: int = 20,
                      after: str | None = None, since: str | None = None) -> Page:
        """FHIR R4 §3.1.0.11 history (instance when ``rid`` is given, else type), newest first."""
        self._check_type(rt)
        filt: dict[str, Any] = {"_sys.tenant": principal.tenant}
        if rid is not None:
            filt["_sys.id"] = rid
            if await self._current(principal, rt, rid) is None:
                raise NotFound(f"{rt}/{rid} not found")
        if since:
            rng = keymod.date_range(since)
            if rng is None:
                raise Invalid("_since must be a FHIR instant", paths=["_since"])
            filt["_sys.lu"] = {"$gte": rng[0]}
        sort_keys = [("_sys.lu", -1)]
        if after:
            values, last_id = decode_cursor(after, sort_keys, f"{rt}_history", principal.tenant)
            filt = {"$and": [filt, keyset_filter(sort_keys, values, last_id, backward=False)]}
        docs = await self._call(self.db[f"{rt}_history"].find(filt, NO_KEYS).sort([("_sys.lu", -1), ("_id", -1)])
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
            page.next_cursor = encode_cursor(docs[-1], sort_keys, f"{rt}_history")
        return page

    # ------------------------------------------------------------------ writes

    async def create(self, principal: PrincipalLike, resource: Resource, *, keep_id: bool = False,
                     if_none_exist: list[tuple[str, str]] | None = None) -> WriteResult:
        """FHIR R4 §3.1.0.7 create (server-assigned id unless ``keep_id``); §3.1.0.8.1 conditional create."""
        rt = self._type_of(resource)
        if if_none_exist is not None:
            page = await self.search(principal, rt, if_none_exist, count=2)
            if len(page.resources) == 1:
                return WriteResult(resource=page.resources[0], created=False)
            if len(page.resources) > 1:
                raise PreconditionFailed("If-None-Exist matched more than one resource")
        resource = dict(resource)
        if not keep_id or not resource.get("id"):
            resource["id"] = str(uuid.uuid4())
        return await self._write(principal, rt, resource, old=None, action="create")

    async def update(self, principal: PrincipalLike, rt: str, rid: str, resource: Resource, *,
                     if_match: str | None = None) -> WriteResult:
        """FHIR R4 §3.1.0.9 update, update-as-create for a new client id, ``If-Match`` version locking."""
        self._check_type(rt)
        check_id(rid)
        if self._type_of(resource) != rt:
            raise Invalid(f"Body resourceType '{resource.get('resourceType')}' does not match the URL's {rt}")
        if resource.get("id") not in (None, rid):
            raise Invalid(f"Body id '{str(resource.get('id'))[:64]}' does not match the URL id '{rid}'",
                          paths=["id"])
        resource = {**resource, "id": rid}
        for attempt in range(WRITE_RETRIES):
            old = await self._current(principal, rt, rid)
            if old is None:
                if if_match is not None:
                    raise NotFound(f"{rt}/{rid} not found")
                try:
                    return await self._write(principal, rt, resource, old=None, action="create")
                except PreconditionFailed:
                    continue  # someone created it first: update it instead
            if rt in APPEND_ONLY:
                # Append-only logs (AuditEvent, Communication, Provenance) may be created with a client id
                # but never changed afterwards.
                raise NotAllowed(f"{rt} is append-only: {rt}/{rid} cannot be changed")
            if if_match is not None and str(old["_sys"]["v"]) != if_match:
                raise PreconditionFailed(f"{rt}/{rid} is at version {old['_sys']['v']}, not {if_match}")
            try:
                return await self._write(principal, rt, resource, old=old, action="update")
            except PreconditionFailed:
                if if_match is not None:
                    raise
                # Without If-Match the client asked for last-writer-wins: re-read and try again, with
                # jitter so that racing writers spread out.
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise PreconditionFailed(f"{rt}/{rid} is being updated concurrently; retry")

    async def patch(self, principal: PrincipalLike, rt: str, rid: str, operations: Any, *,
                    if_match: str | None = None) -> WriteResult:
        """FHIR R4 §3.1.0.10 patch with JSON Patch (RFC 6902)."""
        if not isinstance(operations, list):
            raise Invalid("A JSON Patch document is an array of operations")
        current = await self.read(principal, rt, rid)
        version = current.get("meta", {}).get("versionId")
        if if_match is not None and version != if_match:
            raise PreconditionFailed(f"{rt}/{rid} is at version {version}, not {if_match}")
        try:
            patched = jsonpatch.apply_patch(current, operations)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, ValueError) as exc:
            raise Invalid(f"JSON Patch could not be applied: {str(exc)[:200]}", unprocessable=True) from None
        if not isinstance(patched, dict) or patched.get("resourceType") != rt or patched.get("id") != rid:
            raise Invalid("A patch may not change resourceType or id", unprocessable=True)
        return await self.update(principal, rt, rid, patched, if_match=version)

    async def delete(self, principal: PrincipalLike, rt: str, rid: str) -> WriteResult | None:
        """FHIR R4 §3.1.0.12 delete (soft: later reads answer 410 Gone). Deleting nothing is not an error."""
        self._check_type(rt)
        if rt in APPEND_ONLY:
            raise NotAllowed(f"{rt} is append-only")
        for attempt in range(WRITE_RETRIES):
            old = await self._current(principal, rt, rid)
            if old is None or old["_sys"].get("deleted"):
                return None
            try:
                return await self._write(principal, rt, strip(old), old=old, action="delete")
            except PreconditionFailed:
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise PreconditionFailed(f"{rt}/{rid} is being updated concurrently; retry")

    async def _write(self, principal: PrincipalLike, rt: str, resource: Resource, *, old: dict[str, Any] | None,
                     action: str) -> WriteResult:
        if action != "delete":
            check_shape(resource)  # first: nothing below may read a body of the wrong shape
        version = 1 if old is None else int(old["_sys"]["v"]) + 1
        stamp = now_instant()
        created = (old or {}).get("_sys", {}).get("created") or stamp
        resource = {**resource, "meta": _server_meta(_meta(resource), version, stamp, created)}
        # Keep key order natural: resourceType, id, meta first.
        resource = {"resourceType": rt, "id": resource["id"], "meta": resource["meta"],
                    **{k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")}}
        if action != "delete":
            validate(resource)
        resource, sealed, revealed = _seal(rt, resource, (old or {}).get("_sys", {}).get("sealed"))
        doc = self._document(principal, resource, version, created, deleted=action == "delete")
        if sealed:
            doc["_sys"]["sealed"] = sealed
        event_type = classify(action, strip(old) if old else None, resource)
        writes = _Writes(self, principal, rt, doc, old, action, event_type, resource)
        try:
            if self.transactions:
                # with_transaction retries on TransientTransactionError/UnknownTransactionCommitResult,
                # so driver errors must reach it untranslated.
                async with self.db.client.start_session() as session:
                    await session.with_transaction(writes.run)
            else:
                await writes.run(None)
        except PyMongoError as exc:
            log.error("database error on a %s write: %s", rt, type(exc).__name__)
            raise Unavailable("The database is unavailable; retry later") from exc
        for hook in self.on_event:
            if writes.event is not None:
                maybe = hook(writes.event)
                if maybe is not None:
                    await maybe
        shown = _reveal(resource, revealed) if revealed else resource
        seq = int(writes.event["seq"]) if writes.event else None
        return WriteResult(resource=shown, created=old is None, event_seq=seq)

    async def sealed(self, principal: PrincipalLike, rt: str, rid: str) -> dict[str, str]:
        """The sealed (secret) extension values of a resource, for the server's own use (webhook signing)."""
        doc = await self._current(principal, rt, rid)
        if doc is None or doc["_sys"].get("deleted"):
            raise NotFound(f"{rt}/{rid} not found")
        found: dict[str, str] = doc["_sys"].get("sealed") or {}
        return found

    def _document(self, principal: PrincipalLike, resource: Resource, version: int, created: str,
                  *, deleted: bool = False) -> dict[str, Any]:
        sys: dict[str, Any] = {
            "tenant": principal.tenant,
            "id": resource["id"],
            "v": version,
            "deleted": deleted,
            "created": created,
            "lu": keymod.date_range(resource["meta"]["lastUpdated"])[0],  # type: ignore[index]
            **keymod.extract(resource),
        }
        if resource["resourceType"] == "Appointment" and not deleted and resource.get("status") not in SLOT_RELEASING:
            slot = next((s.get("reference") for s in resource.get("slot", []) if s.get("reference")), None)
            if slot:
                sys["slot"] = f"{principal.tenant}/{slot}"
        return {"_id": f"{principal.tenant}/{resource['id']}", **resource, "_sys": sys}

    def _provenance(self, principal: PrincipalLike, resource: Resource, action: str) -> Resource:
        activity = {"create": "CREATE", "update": "UPDATE", "delete": "DELETE"}[action]
        rt, rid, vid = resource["resourceType"], resource["id"], resource["meta"]["versionId"]
        return {
            "resourceType": "Provenance",
            "id": str(uuid.uuid4()),
            "meta": {"versionId": "1", "lastUpdated": resource["meta"]["lastUpdated"]},
            "target": [{"reference": f"{rt}/{rid}/_history/{vid}"}],
            "recorded": resource["meta"]["lastUpdated"],
            "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                     "code": activity}]},
            "agent": [{
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                     "code": "author"}]},
                "who": {"display": principal.subject},
            }],
        }

    async def next_seq(self, tenant: str, name: str = "events", session: AsyncClientSession | None = None) -> int:
        # Driver errors propagate untranslated: inside a transaction with_transaction must see them.
        doc = await self.db.counters.find_one_and_update(
            {"_id": f"{name}/{tenant}"}, {"$inc": {"seq": 1}}, upsert=True,
            return_document=ReturnDocument.AFTER, session=session)
        return int((doc or {})["seq"])

    # ------------------------------------------------------------------ bulk

    async def bulk_load(self, principal: PrincipalLike, resources: list[Resource]) -> None:
        """Load many new resources at once (demo data, imports): validated and keyed like any write, inserted
        with one ``insert_many`` per collection. Emits no events: an import is not a stream of clinical acts."""
        stamp = now_instant()
        by_type: dict[str, list[dict[str, Any]]] = {}
        for res in resources:
            check_shape(res)
            rt = self._type_of(res)
            if not isinstance(res.get("id"), str):
                raise Invalid("bulk_load needs resources with ids", paths=["id"])
            res = {"resourceType": rt, "id": res["id"], "meta": _server_meta(_meta(res), 1, stamp, stamp),
                   **{k: v for k, v in res.items() if k not in ("resourceType", "id", "meta")}}
            validate(res)
            by_type.setdefault(rt, []).append(self._document(principal, res, 1, stamp))
            if rt in CLINICAL_TYPES:
                prov = self._provenance(principal, res, "create")
                by_type.setdefault("Provenance", []).append(self._document(principal, prov, 1, stamp))
        for rt, docs in by_type.items():
            history = [{**d, "_id": f"{d['_id']}/1"} for d in docs]
            for collection, batch in ((rt, docs), (f"{rt}_history", history)):
                try:
                    await self.db[collection].insert_many(batch, ordered=False)
                except BulkWriteError as exc:
                    errors = exc.details.get("writeErrors", [])
                    if errors and all(e.get("code") == 11000 for e in errors):
                        raise Conflict(f"{len(errors)} {rt} resource(s) already exist") from None
                    raise _unavailable(exc) from exc
                except PyMongoError as exc:
                    raise _unavailable(exc) from exc

    async def erase_tenant(self, principal: PrincipalLike) -> int:
        """Remove every document of ``principal``'s tenant: resources, their history, events and idempotency
        records (sequence counters are kept, so event sequences stay increasing for running relays and webhook
        cursors). An administrative operation for demo and test data (``fhirgraph demo-data --replace``), never
        reachable through an API door. Returns how many current resources were removed."""
        tenant = principal.tenant
        removed = 0
        try:
            for rt in PARAMS:
                res = await self.db[rt].delete_many({"_sys.tenant": tenant})
                removed += res.deleted_count
                await self.db[f"{rt}_history"].delete_many({"_sys.tenant": tenant})
            await self.db.events.delete_many({"tenant": tenant})
            await self.db.idempotency.delete_many({"_id": {"$regex": f"^{re.escape(tenant)}/"}})
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return removed

    # ------------------------------------------------------------------ idempotency keys

    async def claim_idempotency(self, principal: PrincipalLike, key: str, fingerprint: str) -> dict[str, Any] | None:
        """Reserve ``key`` for this request; returns the earlier record when the key was used before."""
        kid = f"{principal.tenant}/{hashlib.sha256(key.encode()).hexdigest()}"
        try:
            await self._call(self.db.idempotency.insert_one(
                {"_id": kid, "fp": fingerprint, "state": "pending", "created": datetime.now(UTC)}))
            return None
        except DuplicateKeyError:
            found: dict[str, Any] | None = await self._call(self.db.idempotency.find_one({"_id": kid}))
            return found or {"state": "pending", "fp": fingerprint}

    async def complete_idempotency(self, principal: PrincipalLike, key: str, response: dict[str, Any]) -> None:
        kid = f"{principal.tenant}/{hashlib.sha256(key.encode()).hexdigest()}"
        await self._call(self.db.idempotency.update_one({"_id": kid}, {"$set": {"state": "done", **response}}))

    async def release_idempotency(self, principal: PrincipalLike, key: str) -> None:
        kid = f"{principal.tenant}/{hashlib.sha256(key.encode()).hexdigest()}"
        await self._call(self.db.idempotency.delete_one({"_id": kid, "state": "pending"}))

    # ------------------------------------------------------------------ helpers

    def _check_type(self, rt: str) -> None:
        if not is_resource_type(rt):
            raise NotFound(f"Unknown resource type '{rt[:64]}'")
        if rt not in PARAMS:
            raise NotFound(f"Resource type {rt} is not supported by this server")

    def _type_of(self, resource: Any) -> str:
        if not isinstance(resource, dict):
            raise Invalid("A FHIR resource must be a JSON object")
        rt = resource.get("resourceType")
        if not isinstance(rt, str):
            raise Invalid("Missing resourceType", paths=["resourceType"])
        self._check_type(rt)
        return rt

    async def _call(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except DomainError:
            raise
        except DuplicateKeyError:
            raise
        except PyMongoError as exc:
            raise _unavailable(exc) from exc


# The retryable reads specification's server errors (network errors and step-downs arrive as AutoReconnect):
# HostUnreachable, HostNotFound, NetworkTimeout, ShutdownInProgress, ReadConcernMajorityNotAvailableYet,
# PrimarySteppedDown, ExceededTimeLimit, SocketException, NotWritablePrimary, InterruptedAtShutdown,
# InterruptedDueToReplStateChange, NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary.
RETRYABLE_READ_CODES = frozenset({6, 7, 89, 91, 134, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})


def _retryable_read_error(exc: PyMongoError) -> bool:
    if isinstance(exc, ServerSelectionTimeoutError):
        return False  # no server to retry on: a retry would only wait as long again
    if isinstance(exc, AutoReconnect):
        return True
    return isinstance(exc, OperationFailure) and exc.code in RETRYABLE_READ_CODES


def _unavailable(exc: PyMongoError) -> Unavailable:
    """Driver errors are translated here; no detail that could carry patient data is passed on."""
    log.error("database error: %s", type(exc).__name__)
    error = Unavailable()
    error.__cause__ = exc
    return error


def _meta(resource: Resource) -> dict[str, Any]:
    meta = resource.get("meta")
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise Invalid("meta must be an object", unprocessable=True, paths=[f"{resource['resourceType']}.meta"])
    return meta


def _server_meta(meta: dict[str, Any], version: int, stamp: str, created: str) -> dict[str, Any]:
    """``meta`` with the server-managed parts set: versionId, lastUpdated and the creation time (an extension,
    FHIR has no element for it); whatever a client sent for those is replaced."""
    kept = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated", "extension")}
    extensions = [e for e in meta.get("extension", []) or [] if not (isinstance(e, dict) and e.get("url") == CREATED)]
    return {"versionId": str(version), "lastUpdated": stamp, **kept,
            "extension": [*extensions, {"url": CREATED, "valueInstant": created}]}


def _seal(rt: str, resource: Resource, before: dict[str, str] | None
          ) -> tuple[Resource, dict[str, str], dict[str, str]]:
    """Move sealed extensions out of the resource. Returns (resource, all sealed values, values to reveal
    in this write's response: the ones the client sent or the server generated now)."""
    urls = SEALED.get(rt)
    if not urls:
        return resource, {}, {}
    sealed = dict(before or {})
    revealed: dict[str, str] = {}
    kept = []
    for ext in resource.get("extension", []) or []:
        if ext.get("url") in urls and isinstance(ext.get("valueString"), str):
            sealed[ext["url"]] = revealed[ext["url"]] = ext["valueString"]
        else:
            kept.append(ext)
    for url, make in urls.items():
        if url not in sealed:
            sealed[url] = revealed[url] = make()
    resource = {k: v for k, v in resource.items() if k != "extension"}
    if kept:
        resource["extension"] = kept
    return resource, sealed, revealed


def _reveal(resource: Resource, revealed: dict[str, str]) -> Resource:
    extra = [{"url": url, "valueString": value} for url, value in revealed.items()]
    return {**resource, "extension": [*(resource.get("extension") or []), *extra]}


class _Writes:
    """The documents of one write, applied in one transaction or in the safe order (module docstring)."""

    def __init__(self, repo: Repository, principal: PrincipalLike, rt: str, doc: dict[str, Any],
                 old: dict[str, Any] | None, action: str, event_type: str, resource: Resource):
        self.repo, self.principal, self.rt, self.doc, self.old = repo, principal, rt, doc, old
        self.action, self.event_type, self.resource = action, event_type, resource
        self.event: dict[str, Any] | None = None

    async def run(self, session: AsyncClientSession | None) -> None:
        db = self.repo.db
        try:
            if self.old is None:
                await db[self.rt].insert_one(self.doc, session=session)
            else:
                res = await db[self.rt].replace_one(
                    {"_id": self.doc["_id"], "_sys.v": self.old["_sys"]["v"]}, self.doc, session=session)
                if res.matched_count == 0:
                    raise PreconditionFailed(f"{self.rt}/{self.resource['id']} changed concurrently")
        except DuplicateKeyError as exc:
            pattern = (exc.details or {}).get("keyPattern", {})
            if "_sys.slot" in pattern:
                raise SlotTaken("That slot is already booked") from None
            if self.old is None:
                raise PreconditionFailed(f"{self.rt}/{self.resource['id']} already exists") from None
            raise Conflict("Unique constraint violated") from None
        # The event goes last, so whoever reads it finds the version it names in the history.
        await self._history(session)
        await self._provenance(session)
        await self._event(session)

    async def _history(self, session: AsyncClientSession | None) -> None:
        doc = {**self.doc, "_id": f"{self.doc['_id']}/{self.doc['_sys']['v']}"}
        await self.repo.db[f"{self.rt}_history"].insert_one(doc, session=session)

    async def _provenance(self, session: AsyncClientSession | None) -> None:
        if self.rt not in CLINICAL_TYPES:
            return
        prov = self.repo._provenance(self.principal, self.resource, self.action)
        pdoc = self.repo._document(self.principal, prov, 1, prov["meta"]["lastUpdated"])
        await self.repo.db.Provenance.insert_one(pdoc, session=session)
        await self.repo.db.Provenance_history.insert_one({**pdoc, "_id": f"{pdoc['_id']}/1"}, session=session)

    async def _event(self, session: AsyncClientSession | None) -> None:
        if self.rt in SILENT_TYPES:
            return
        tenant = self.principal.tenant
        seq = await self.repo.next_seq(tenant, session=session)
        self.event = make_event(tenant, seq, self.action, self.event_type, self.resource,
                                self.resource["meta"]["lastUpdated"])
        await self.repo.db.events.insert_one(dict(self.event), session=session)
