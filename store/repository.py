"""The FHIR repository over MongoDB: the store's one interface, method by method with the FHIR R4 section it
implements (https://hl7.org/fhir/R4/http.html, https://hl7.org/fhir/R4/search.html).

One path: the real PyMongo Async driver, against a real MongoDB (production) or ``fhirgraph devdb``. Every call
takes the caller's principal and stays inside its tenant (decision 8); the few cross-tenant calls, for the
system's own workers, say so. Where things are: the stored layout (store/layout.py), reads by id
(store/reads.py), searches and other multi-row reads (store/queries.py), the write path and its order
(store/writes.py), idempotency keys (store/idempotency.py), and what the background works from — the outbox
reader (store/outbox.py), leases (store/leases.py), the webhook delivery ledger (store/deliveries.py).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from store import bulk, referencing, transactions
from store.audit import AuditLog
from store.clock import now_instant
from store.confinement import admits
from store.deliveries import Deliveries
from store.driver import call, unavailable
from store.errors import Gone, Invalid, NotAllowed, NotFound, PreconditionFailed
from store.exports import ExportRows
from store.fhirjson import parse_reference
from store.idempotency import Claim, IdempotencyKeys
from store.identity import IdentityStore
from store.jobs import Jobs
from store.layout import EVENTS, NO_KEYS, doc_id, history, strip, version_doc_id
from store.leases import WEBHOOK_STATE, Leases
from store.outbox import Outbox
from store.params import APPEND_ONLY, PARAMS, READ_ONLY, check_type, type_of
from store.queries import Queries, WithinOf
from store.ratelimits import RateCounters
from store.reads import ReadCoalescer
from store.referencing import ReferenceCoalescer
from store.transactions import Entry, Outcome, apply_patch, check_update, check_version, check_within
from store.types import Confinement, Page, PrincipalLike, Resource, TenantResource, WriteResult
from store.validation import check_id, check_shape
from store.writes import SEQUENCED, WRITE_RETRIES, EventHook, WriteGuard, Writer


class Repository:
    def __init__(self, db: AsyncDatabase[Any], *, transactions: bool = False):
        self.db = db  # for the store's own modules and tests; nothing outside store/ reads it
        self.transactions = transactions
        self._reads = ReadCoalescer(db)
        self._queries = Queries(db, self._reads)
        self._referencing = ReferenceCoalescer(db)
        self._idempotency = IdempotencyKeys(db)
        # Called after every committed write with the event, so the relay can wake at once (decision 6/7).
        self.on_event: list[EventHook] = []
        # Checks a write of a type must pass beyond FHIR validity, registered by the packages owning the rules.
        self.guards: dict[str, list[WriteGuard]] = {}
        self._writer = Writer(db, transactions=transactions, hooks=self.on_event, guards=self.guards)
        # What the background works from (subscriptions/): the outbox, webhook leases and the delivery ledger.
        self.outbox = Outbox(db)
        self.webhook_leases = Leases(db, WEBHOOK_STATE)
        self.deliveries = Deliveries(db)
        self.identity = IdentityStore(db)  # the authorization server's documents (auth/)
        self.audit_log = AuditLog(db)  # the PHI audit trail's batch append (auth/audit.py)
        # Background jobs with leases, checkpoints and their files (store/jobs.py): Bulk Data exports, qapi
        # encounter reports, GraphQL bulk patient imports.
        self.jobs = Jobs(db)
        # The per-clinic rate limit's shared counters (the limiter is app/ratelimit.py).
        self.rate_counters = RateCounters(db)
        # What a Bulk Data export reads (store/exports.py; the worker is fhir_rest/bulk/).
        self.exports = ExportRows(db)

    # ------------------------------------------------------------------ reads
    #
    # ``within`` (every read and write takes it): what the caller's authorization confines it to — a Patient
    # compartment, SMART v2 granular parameters (store/confinement.py); None, the whole tenant. What it does not
    # admit is absent to the caller, like another tenant's (404, never 403: its existence is not revealed).

    async def read(self, principal: PrincipalLike, rt: str, rid: str, *,
                   within: Confinement | None = None, shared: bool = False) -> Resource:
        """FHIR R4 §3.1.0.4 read: the current version; 410 if deleted, 404 if absent or another tenant's.
        ``shared``: the caller will not change the resource or anything in it (it serializes it), so concurrent
        such reads of one resource share what the store returned: only the resource's top level is the caller's."""
        doc = await self._current(principal, rt, rid, shared)
        if doc is None or (within is not None and not admits(rt, doc, within)):
            raise NotFound(f"{rt}/{rid} not found")
        if shared:
            if doc["_sys"].get("deleted"):
                raise Gone(f"{rt}/{rid} was deleted")
            return {k: v for k, v in doc.items() if k != "_sys" and k != "_id"}
        if doc.pop("_sys").get("deleted"):
            raise Gone(f"{rt}/{rid} was deleted")
        del doc["_id"]  # the document is this caller's own (the coalescer never hands one out twice)
        return doc

    async def vread(self, principal: PrincipalLike, rt: str, rid: str, vid: str, *,
                    within: Confinement | None = None) -> Resource:
        """FHIR R4 §3.1.0.5 vread (``within`` judges the version read)."""
        check_type(rt)
        key = version_doc_id(rt, principal.tenant, rid, vid)
        doc = None if key is None else await call(self.db[history(rt)].find_one({"_id": key}, NO_KEYS))
        if doc is None or (within is not None and not admits(rt, doc, within)):
            raise NotFound(f"{rt}/{rid}/_history/{vid} not found")
        if doc["_sys"].get("deleted"):
            raise Gone(f"{rt}/{rid} version {vid} is a deletion")
        return strip(doc)

    async def read_many(self, principal: PrincipalLike, rt: str, ids: Iterable[str], *,
                        within: Confinement | None = None, elements: tuple[str, ...] | None = None
                        ) -> dict[str, Resource]:
        """Batch read by id for DataLoaders: one round trip; missing, deleted and foreign ids are absent.
        ``elements``: only these top-level elements of each, with ``resourceType`` and ``id``, as FHIR R4 search's
        ``_elements`` shows them (partial resources, for a reader that needs no more)."""
        return await self._queries.read_many(principal.tenant, rt, ids, within, elements)

    def _current(self, principal: PrincipalLike, rt: str, rid: str, shared: bool = False
                 ) -> asyncio.Future[dict[str, Any] | None]:
        """The stored document of ``rt/rid`` (None when absent), to be awaited; the hottest path, so a future
        rather than one more coroutine frame."""
        check_type(rt)
        return self._reads.get(rt, doc_id(principal.tenant, rid), shared=shared)

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
        lenient: bool | None = None,
        include: list[str] | None = None,
        revinclude: list[str] | None = None,
        include_iterate: list[str] | None = None,
        revinclude_iterate: list[str] | None = None,
        from_end: bool = False,
        offset: int = 0,
        within: Confinement | None = None,
        within_of: WithinOf | None = None,
        as_json: bool = False,
    ) -> Page:
        """FHIR R4 §3.1.1 search, one keyset page (decision 5). ``count=0`` returns only the total. Each row
        carries its own cursor (``Page.cursors``): paging may resume after any of them. ``from_end``: the last
        ``count`` rows (a Relay ``last`` without ``before``), still in the sort's order. ``strict``/``lenient``:
        unknown parameters / invalid values refused or ignored (search.py ``compile_params``). ``include`` and
        ``revinclude`` are FHIR ``_include`` / ``_revinclude`` (search.html#include), read into ``Page.included``,
        ``include_iterate``/``revinclude_iterate`` their ``:iterate`` forms (store/includes.py); ``within_of`` gives
        the confinement of each type they read (its ``Forbidden``: that type is left out) and of each type a
        chained parameter or ``_has`` searches (search.html#chaining, store/search_chains.py: there its
        ``Forbidden`` refuses the search). ``offset``: rows skipped before the page, for the numbered pages of
        a classic list (seed 003 ``page``/``page_size``) — the database still walks them, so keep it off hot
        paths (decision 5). ``as_json``: the rows as their JSON, in ``Page.json`` (``resources`` left empty; not
        with includes), for a door that only writes them out (store/fragments.py)."""
        check_type(rt)
        return await self._queries.page(principal.tenant, rt, params, count=count, after=after, before=before,
                                        sort=sort, total=total, strict=strict, lenient=lenient, include=include,
                                        revinclude=revinclude, include_iterate=include_iterate,
                                        revinclude_iterate=revinclude_iterate, from_end=from_end, offset=offset,
                                        within=within, within_of=within_of, as_json=as_json)

    async def compartment(self, principal: PrincipalLike, patient: str, types: list[str], *,
                          params: list[tuple[str, str]] | None = None, count: int = 20, cursor: str | None = None,
                          within_of: WithinOf) -> Page:
        """One page of Patient/``patient``'s compartment (store/confinement.py ``COMPARTMENT``), type after type
        in the order of ``types``, each matching ``params`` — FHIR R4 Patient/[id]/$everything
        (https://hl7.org/fhir/R4/patient-operation-everything.html). ``within_of`` gives the caller's confinement
        for each type (its ``Forbidden``: that type is left out); the page's ``next_cursor`` resumes it."""
        for rt in types:
            check_type(rt)
        return await self._queries.compartment(principal.tenant, patient, types, params=params, count=count,
                                               cursor=cursor, within_of=within_of)

    async def typeahead(self, principal: PrincipalLike, rt: str, words: list[str], fields: list[str],
                        params: list[tuple[str, str]] | None = None, *, count: int = 20,
                        sort: str | None = None, total: bool = False, within: Confinement | None = None) -> Page:
        """The rows matching ``params`` where every one of ``words`` starts a value of one of the search
        parameters ``fields`` (string parameters case- and accent-insensitively) — an indexed prefix match;
        ``total``: also how many match in all."""
        check_type(rt)
        return await self._queries.typeahead(principal.tenant, rt, words, fields, params, count=count, sort=sort,
                                             total=total, within=within)

    async def count_by(self, principal: PrincipalLike, rt: str, by: str,
                       params: list[tuple[str, str]] | None = None, *,
                       within: Confinement | None = None) -> tuple[dict[str, int], int]:
        """How many of the rows matching ``params`` hold each value of the search parameter ``by`` (a reference
        counts per ``Type/id``), and how many hold none: a grouping on the search keys, no rows returned."""
        check_type(rt)
        return await self._queries.count_by(principal.tenant, rt, by, params, within)

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
        within: Confinement | None = None,
    ) -> list[tuple[Resource, list[str]]]:
        """Every ``rt`` whose ``param`` references one of ``refs`` — one round trip for a DataLoader of
        reverse references. Returns (resource, the refs it matched) so the caller can group by parent."""
        check_type(rt)
        return await self._queries.find_by_reference(principal.tenant, rt, param, refs, params, sort=sort,
                                                     limit=limit, within=within)

    async def first_referencing(self, principal: PrincipalLike, rt: str, param: str, ref: str,
                                params: list[tuple[str, str]] | None = None, *,
                                within: Confinement | None = None) -> Resource | None:
        """The first row of ``search(rt, [(param, ref), *params], count=1)`` (FHIR R4 §3.1.1, default order), or
        None — the concurrent calls of one shape sharing one round trip (store/referencing.py), for the reverse
        reference a view of one resource joins on every request. ``param``: a reference parameter of ``rt``;
        ``ref``: ``Type/id``."""
        check_type(rt)
        parsed = parse_reference(ref)
        if parsed is None:
            raise Invalid(f"Not a literal reference: '{ref[:64]}'")
        shape = referencing.lane(rt, principal.tenant, param, params, within)
        doc = await self._referencing.first(shape, f"{parsed[0]}/{parsed[1]}")
        return None if doc is None else strip(doc)

    async def count(self, principal: PrincipalLike, rt: str, params: list[tuple[str, str]] | None = None, *,
                    within: Confinement | None = None) -> int:
        """How many ``rt`` match ``params`` (FHIR ``_summary=count``)."""
        check_type(rt)
        return await self._queries.count(principal.tenant, rt, params, within)

    # ------------------------------------------------------------------ history

    async def history(self, principal: PrincipalLike, rt: str, rid: str | None = None, *, count: int = 20,
                      after: str | None = None, since: str | None = None,
                      within: Confinement | None = None) -> Page:
        """FHIR R4 §3.1.0.11 history (instance when ``rid`` is given, else type), newest first; ``within``
        keeps only the versions it admits (an instance whose current version it does not admit is 404)."""
        check_type(rt)
        return await self._queries.history(principal.tenant, rt, rid, count=count, after=after, since=since,
                                           within=within)

    # ------------------------------------------------------------------ writes
    #
    # ``within``: a write must put its resource inside it (else ``Forbidden``); what is already stored outside it
    # is absent to the caller (404), as for reads.

    async def create(self, principal: PrincipalLike, resource: Resource, *, keep_id: bool = False,
                     if_none_exist: list[tuple[str, str]] | None = None,
                     within: Confinement | None = None) -> WriteResult:
        """FHIR R4 §3.1.0.7 create (server-assigned id unless ``keep_id``); §3.1.0.8.1 conditional create."""
        check_shape(resource)  # first: nothing below may read a body of the wrong shape (an "id": null, say)
        rt = type_of(resource)
        resource = dict(resource)
        if not keep_id or not resource.get("id"):
            resource["id"] = str(uuid.uuid4())
        check_within(rt, resource, within)
        if if_none_exist is not None:
            page = await self.search(principal, rt, if_none_exist, count=2, within=within)
            if len(page.resources) == 1:
                return WriteResult(resource=page.resources[0], created=False)
            if len(page.resources) > 1:
                raise PreconditionFailed("If-None-Exist matched more than one resource")
        if rt in SEQUENCED:  # the vendor API's SPID / SAID (store/writes.py)
            resource = await self._writer.numbered(principal.tenant, rt, resource)
        return await self._writer.write(principal, rt, resource, old=None, action="create")

    async def update(self, principal: PrincipalLike, rt: str, rid: str, resource: Resource, *,
                     if_match: str | None = None, within: Confinement | None = None) -> WriteResult:
        """FHIR R4 §3.1.0.9 update, update-as-create for a new client id, ``If-Match`` version locking."""
        check_type(rt)
        check_id(rid)
        check_shape(resource)
        if type_of(resource) != rt:
            raise Invalid(f"Body resourceType '{resource.get('resourceType')}' does not match the URL's {rt}")
        if resource.get("id") not in (None, rid):
            raise Invalid(f"Body id '{str(resource.get('id'))[:64]}' does not match the URL id '{rid}'",
                          paths=["id"])
        resource = {**resource, "id": rid}
        for attempt in range(WRITE_RETRIES):
            old = await self._current(principal, rt, rid)
            if old is not None and within is not None and not admits(rt, old, within):
                raise NotFound(f"{rt}/{rid} not found")
            check_within(rt, resource, within)
            check_update(rt, rid, old, if_match)
            if old is None:
                try:
                    return await self._writer.write(principal, rt, resource, old=None, action="create")
                except PreconditionFailed:
                    continue  # someone created it first: update it instead
            try:
                return await self._writer.write(principal, rt, resource, old=old, action="update")
            except PreconditionFailed:
                if if_match is not None:
                    raise
                # Without If-Match the client asked for last-writer-wins: re-read and try again, with
                # jitter so that racing writers spread out.
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise PreconditionFailed(f"{rt}/{rid} is being updated concurrently; retry")

    async def patch(self, principal: PrincipalLike, rt: str, rid: str, operations: Any, *,
                    if_match: str | None = None, within: Confinement | None = None) -> WriteResult:
        """FHIR R4 §3.1.0.10 patch with JSON Patch (RFC 6902)."""
        if not isinstance(operations, list):
            raise Invalid("A JSON Patch document is an array of operations")
        current = await self.read(principal, rt, rid, within=within)
        version = current.get("meta", {}).get("versionId")
        if if_match is not None and version != if_match:
            raise PreconditionFailed(f"{rt}/{rid} is at version {version}, not {if_match}", current=version)
        patched = apply_patch(current, operations, rt, rid)
        return await self.update(principal, rt, rid, patched, if_match=version, within=within)

    async def delete(self, principal: PrincipalLike, rt: str, rid: str, *, if_match: str | None = None,
                     within: Confinement | None = None) -> WriteResult | None:
        """FHIR R4 §3.1.0.12 delete (soft: later reads answer 410 Gone), ``If-Match`` version locking. Deleting
        nothing — also what ``within`` does not admit — is not an error."""
        check_type(rt)
        if rt in APPEND_ONLY:
            raise NotAllowed(f"{rt} is append-only", allow=READ_ONLY)
        for attempt in range(WRITE_RETRIES):
            old = await self._current(principal, rt, rid)
            if old is None or old["_sys"].get("deleted") or (within is not None and not admits(rt, old, within)):
                return None
            check_version(rt, rid, old, if_match)
            try:
                return await self._writer.write(principal, rt, strip(old), old=old, action="delete")
            except PreconditionFailed:
                if if_match is not None:
                    raise  # the version it named is no longer the stored one
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise PreconditionFailed(f"{rt}/{rid} is being updated concurrently; retry")

    async def validate(self, principal: PrincipalLike, rt: str, resource: Resource | None, *, mode: str | None,
                       rid: str | None = None, within: Confinement | None = None) -> None:
        """FHIR R4 $validate (https://hl7.org/fhir/R4/operation-resource-validate.html): whether ``resource``
        would be written — generally (``mode`` None), as a create, as an update of ``rt/rid`` (a create, when the
        caller sees no such resource) or (``mode`` delete) whether ``rt/rid`` may be deleted — by the checks every
        write passes (shape, FHIR validity, confinement, the type's write guards),
        raising the error the write would raise. Nothing is written."""
        check_type(rt)
        if rid is not None:
            check_id(rid)
        old = None
        if rid is not None and mode in ("update", "delete"):
            old = await self._current(principal, rt, rid)
            if old is not None and (old["_sys"].get("deleted") or not admits(rt, old, within)):
                old = None  # absent to the caller: an update would create it, a delete delete nothing
        if mode == "delete":
            if rt in APPEND_ONLY:
                raise NotAllowed(f"{rt} is append-only", allow=READ_ONLY)
            return
        if resource is None:
            raise Invalid("$validate needs the resource to validate", paths=["resource"])
        check_shape(resource)
        if type_of(resource) != rt:
            raise Invalid(f"Body resourceType '{resource.get('resourceType')}' does not match the URL's {rt}",
                          paths=["resourceType"])
        if mode == "update":
            if resource.get("id") not in (None, rid):
                raise Invalid(f"Body id '{str(resource.get('id'))[:64]}' does not match the URL id '{rid}'",
                              paths=[f"{rt}.id"])
            check_update(rt, str(rid), old, None)
        resource = {**resource, "id": rid if mode == "update" else resource.get("id") or str(uuid.uuid4())}
        check_within(rt, resource, within)
        await self._writer.staged(principal, rt, resource, old=old, action="create" if old is None else "update")

    async def transaction(self, principal: PrincipalLike, entries: list[Entry]) -> list[Outcome]:
        """FHIR R4 §3.1.0.11 transaction (http.html#transaction): every entry's write, all or nothing, with
        ``urn:uuid`` references resolved across entries and conditional create, update and delete; an error
        names the entry that caused it and nothing is written (store/transactions.py)."""
        return await transactions.run(self, principal, entries)

    async def conditional_update(self, principal: PrincipalLike, rt: str, conditions: list[tuple[str, str]],
                                 resource: Resource, *, if_match: str | None = None,
                                 within: Confinement | None = None) -> WriteResult:
        """FHIR R4 §3.1.0.9.2 conditional update: the one match of ``conditions`` is updated; none: created
        (412 when several match)."""
        [outcome] = await transactions.run(self, principal, [Entry(
            0, "PUT", rt, conditions=conditions, resource=resource, if_match=if_match, within=within)], bundle=False)
        if outcome.result is None:
            raise NotFound(f"{rt} not written")
        return outcome.result

    async def conditional_delete(self, principal: PrincipalLike, rt: str, conditions: list[tuple[str, str]], *,
                                 within: Confinement | None = None) -> bool:
        """FHIR R4 §3.1.0.12.1 conditional delete (single): the one match of ``conditions`` is deleted (412
        when several match); returns whether one was."""
        [outcome] = await transactions.run(self, principal, [Entry(0, "DELETE", rt, conditions=conditions,
                                                                   within=within)], bundle=False)
        return outcome.rid is not None

    async def sealed(self, principal: PrincipalLike, rt: str, rid: str) -> dict[str, str]:
        """The sealed (secret) extension values of a resource, for the server's own use (webhook signing)."""
        doc = await self._current(principal, rt, rid)
        if doc is None or doc["_sys"].get("deleted"):
            raise NotFound(f"{rt}/{rid} not found")
        found: dict[str, str] = doc["_sys"].get("sealed") or {}
        return found

    async def numbered(self, principal: PrincipalLike, resource: Resource) -> Resource:
        """``resource`` with its vendor number (qapi SPID of a Patient, SAID of an Appointment): the one it carries,
        else the tenant's sequence's next. ``create`` numbers what it is given anyway; a caller that needs the
        number before the write (to derive the id from it) asks here first."""
        check_shape(resource)
        rt = type_of(resource)
        return await self._writer.numbered(principal.tenant, rt, resource) if rt in SEQUENCED else resource

    async def next_seq(self, tenant: str, name: str = "events", session: AsyncClientSession | None = None) -> int:
        """The next number of the per-tenant sequence ``name`` (the outbox's by default), from 1."""
        return await self._writer.next_seq(tenant, name, session)

    async def raise_seq(self, tenant: str, name: str, at_least: int) -> None:
        """Move the sequence ``name`` to at least ``at_least`` (never back), so that its next number is past
        ids already given out — by an import or the demo data (qapi SPIDs and SAIDs)."""
        await self._writer.raise_seq(tenant, name, at_least)

    # ------------------------------------------------------------------ bulk

    async def bulk_load(self, principal: PrincipalLike, resources: list[Resource], stamp: str | None = None) -> None:
        """Load many new resources at once (demo data, imports): validated and keyed like any write, inserted
        with one ``insert_many`` per collection. Emits no events: an import is not a stream of clinical acts.
        ``stamp`` (a FHIR instant: their ``meta.lastUpdated``; default now) makes the call repeatable: after a
        failure, the same call with the same stamp writes what the first did not and the same documents as it
        did (what the first stored is not a conflict)."""
        await bulk.write(self._writer, principal, bulk.prepare(principal, resources, stamp or now_instant()))

    async def write_bulk(self, principal: PrincipalLike, prepared: bulk.Bulk) -> None:
        """The second half of ``bulk_load``: store what ``store.bulk.prepare`` made of a batch (perhaps in
        another process) for ``principal``'s tenant. As repeatable as ``bulk_load`` with that stamp."""
        await bulk.write(self._writer, principal, prepared)

    async def erase_tenant(self, principal: PrincipalLike,
                           progress: Callable[[int, int], object] | None = None) -> int:
        """Remove every document of ``principal``'s tenant: resources, their history, events and idempotency
        records (sequence counters are kept, so event sequences stay increasing for running relays and webhook
        cursors). An administrative operation for demo and test data (``fhirgraph demo-data --replace``), never
        reachable through an API door. ``progress(done, total)``: documents removed so far of those counted
        first, after each collection. Returns how many current resources were removed."""
        tenant = principal.tenant
        # an append-only type's history is its own collection: each collection once
        names = dict.fromkeys(name for rt in PARAMS for name in (rt, history(rt)))
        targets = [(name, {"_sys.tenant": tenant}) for name in names]
        targets.append((EVENTS, {"tenant": tenant}))
        current = set(PARAMS)
        removed = done = total = 0
        try:
            if progress is not None:
                for name, where in targets:
                    total += await self.db[name].count_documents(where)
                progress(0, total)
            for name, where in targets:
                res = await self.db[name].delete_many(where)
                done += res.deleted_count
                removed += res.deleted_count if name in current else 0
                if progress is not None:
                    progress(done, max(done, total))  # writes may have landed since the count
            await self._idempotency.erase(tenant)
        except PyMongoError as exc:
            raise unavailable(exc) from exc
        return removed

    # ------------------------------------------------------------------ idempotency keys

    async def claim_idempotency(self, principal: PrincipalLike, key: str, fingerprint: str) -> Claim:
        """Reserve ``key`` for this request (``Claim.owner``), or the earlier record of the request holding it
        (``Claim.earlier``): see store/idempotency.py."""
        return await self._idempotency.claim(principal.tenant, key, fingerprint)

    async def complete_idempotency(self, principal: PrincipalLike, key: str, owner: str,
                                   response: dict[str, Any]) -> None:
        """Keep the response of the request that claimed ``key``, for its repeats."""
        await self._idempotency.complete(principal.tenant, key, owner, response)

    async def release_idempotency(self, principal: PrincipalLike, key: str, owner: str) -> None:
        """Free ``key`` after its request failed, so that a retry runs again."""
        await self._idempotency.release(principal.tenant, key, owner)

    # ------------------------------------------------------------------ the system's own workers

    async def active_rest_hooks(self) -> list[TenantResource]:
        """Every active rest-hook Subscription (FHIR R4 Subscription: ``status`` requested or active,
        ``channel.type`` rest-hook) of every tenant, with its tenant and its sealed secrets. Cross-tenant by
        design and without a principal: for the system's webhook workers (decision 7), never for a door."""
        return await self._queries.active_rest_hooks()

