"""The write path (DESIGN.md decision 6): server-managed meta, sealed secrets, provenance, history and the event.

On a replica set every write is one transaction. On a standalone server (devdb) the order is: conditional
write of the current document (the lock: ``_sys.v`` must still be the base version), then the history version,
the provenance, then the sequence and the event, then the status of the Slot an Appointment books or frees (a
failure there is logged: the appointment is written already). A crash between those steps can lose an event, a
history entry or a Slot status, never a version of the resource; production runs on a replica set.

Several writes at once (``Writer.commit``, a FHIR transaction: store/transactions.py) are one transaction on a
replica set. On a standalone server every current document is written first (each ``stage``); when one of
them fails, those already written are put back as they were (``undo``, from their history versions) and nothing
else was written — no history, no provenance, no event, so nothing downstream saw them. Only once every current
document is in place do the histories, provenances and events follow (each ``finish``).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from store import panels
from store.batching import NO_HOLD, Inserts, Sequences
from store.clock import now_instant
from store.driver import unavailable
from store.errors import Conflict, DomainError, DuplicateIdentifier, Invalid, PreconditionFailed, SlotTaken
from store.events import SILENT_TYPES, classify, make_event
from store.layout import EVENTS, doc_id, document, history, history_doc, kept_twice, slot_id, strip
from store.logs import described
from store.metrics import EVENTS_WRITTEN
from store.naming import EXT, SID
from store.params import CLINICAL_TYPES
from store.types import PrincipalLike, Resource, WriteResult
from store.validation import validate

log = logging.getLogger("fhirgraph.store")

CREATED = EXT["created"]
# Appointment statuses that hold their slot only tentatively (store/naming.py: Schedule / Slot).
TENTATIVE = frozenset({"pending", "proposed", "waitlist"})
# The Slot statuses bookings move a slot between. A slot someone made busy-unavailable or entered-in-error is
# theirs: it cannot be booked, and no appointment write changes its status (nor "frees" it).
BOOKING_STATUSES = frozenset({"free", "busy", "busy-tentative"})
WRITE_RETRIES = 30
# Extensions whose values are secrets: accepted on write, kept under ``_sys.sealed``, returned only in the
# response to the write that set them (seed 000 webhook secrets), generated when a write omits them.
SEALED: dict[str, dict[str, Callable[[], str]]] = {
    "Subscription": {EXT["webhook-secret"]: lambda: secrets.token_urlsafe(32)},
}

# Per-tenant integer ids the vendor API knows resources by (seed 002: SPID, SAID), assigned by every door's
# create (the server choosing the id: FHIR create, qapi, GraphQL — not an update-as-create, whose body is the
# client's) from a store counter (atomic ``$inc``) when the resource carries none: type → (counter, system).
SEQUENCED: dict[str, tuple[str, str]] = {"Patient": ("spid", SID["spid"]), "Appointment": ("said", SID["said"])}

EventHook = Callable[[dict[str, Any]], Awaitable[None] | None]
# A check a resource of one type must pass before it is written, beyond FHIR validity; it raises a domain error
# (``Invalid``) to refuse the write. Registered by the package that owns the rule (subscriptions: a webhook
# endpoint must be a public address), it holds for every door alike.
WriteGuard = Callable[[Resource], Awaitable[None]]


class Writer:
    def __init__(self, db: AsyncDatabase[Any], *, transactions: bool, hooks: list[EventHook],
                 guards: dict[str, list[WriteGuard]]):
        self.db = db
        self.transactions = transactions
        self.hooks = hooks  # Repository.on_event, the same list
        self.guards = guards  # Repository.guards, the same table
        # Outside a transaction, the inserts and sequence numbers of concurrent writes share commands
        # (store/batching.py); in one, each write's commands are its session's.
        self.under_way = 0  # writes in progress (``write``, ``numbered``), for the batches to wait for
        self.inserts = Inserts(db, self._under_way)
        self.sequences = Sequences(db, self._under_way)

    def _under_way(self) -> int:
        return self.under_way

    def _began(self) -> None:
        self.under_way += 1

    def _ended(self) -> None:
        self.under_way -= 1
        self.inserts.joined()
        self.sequences.joined()

    async def write(self, principal: PrincipalLike, rt: str, resource: Resource, *, old: dict[str, Any] | None,
                    action: str) -> WriteResult:
        """Write a new version of ``resource`` over the stored document ``old`` (None: a create). A concurrent
        change of ``old`` raises ``PreconditionFailed``; so does a create of an id that exists."""
        self._began()
        try:
            writes = await self.staged(principal, rt, resource, old=old, action=action)
            await self.commit([writes])
        finally:
            self._ended()
        return writes.result()

    async def staged(self, principal: PrincipalLike, rt: str, resource: Resource, *, old: dict[str, Any] | None,
                     action: str) -> _Writes:
        """The documents of a write, validated and past the type's write guards, not yet written."""
        writes, revealed = self.prepare(principal, rt, resource, old=old, action=action)
        writes.revealed = revealed
        if action != "delete":
            for guard in self.guards.get(rt, ()):
                await guard(writes.resource)
        return writes

    async def commit(self, batch: list[_Writes]) -> None:
        """Apply ``batch`` all or nothing (module docstring), then run the event hooks of every write."""
        try:
            if self.transactions:
                # with_transaction retries on TransientTransactionError/UnknownTransactionCommitResult,
                # so driver errors must reach it untranslated.
                async def run_all(session: AsyncClientSession) -> None:
                    for writes in batch:
                        await writes.run(session)

                async with self.db.client.start_session() as session:
                    await session.with_transaction(run_all)
            elif len(batch) == 1:
                await batch[0].run(None)
            else:
                await self._staged_commit(batch)
        except PyMongoError as exc:
            raise unavailable(exc) from exc
        for writes in batch:
            if writes.events:
                EVENTS_WRITTEN.inc(len(writes.events))
            for event in writes.events:
                for hook in self.hooks:
                    maybe = hook(event)
                    if maybe is not None:
                        await maybe

    async def _staged_commit(self, batch: list[_Writes]) -> None:
        hold = NO_HOLD.set(True)  # (store/batching.py: a bundle's commands never wait for other writes)
        try:
            await self._stage_all(batch)
        finally:
            NO_HOLD.reset(hold)

    async def _stage_all(self, batch: list[_Writes]) -> None:
        done: list[_Writes] = []
        try:
            for writes in batch:
                await writes.stage(None)
                done.append(writes)
        except BaseException:
            for writes in reversed(done):
                try:
                    await writes.undo()
                except (PyMongoError, DomainError) as exc:
                    log.error("%s/%s not put back after a failed transaction: %s", writes.rt,
                              writes.resource["id"], described(exc))
            raise
        for writes in batch:
            await writes.finish(None)

    def prepare(self, principal: PrincipalLike, rt: str, resource: Resource, *, old: dict[str, Any] | None,
                action: str) -> tuple[_Writes, dict[str, str]]:
        """The documents of a write (validated, server meta set, secrets sealed), and the secrets to reveal.
        The body's shape was checked by the repository (``check_shape``) before anything read it."""
        version = 1 if old is None else int(old["_sys"]["v"]) + 1
        stamp = now_instant()
        created = (old or {}).get("_sys", {}).get("created") or stamp
        resource = {**resource, "meta": server_meta(meta_of(resource), version, stamp, created)}
        # Keep key order natural: resourceType, id, meta first.
        resource = {"resourceType": rt, "id": resource["id"], "meta": resource["meta"],
                    **{k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")}}
        if action != "delete":
            validate(resource)
        resource, sealed, revealed = seal(rt, resource, (old or {}).get("_sys", {}).get("sealed"))
        doc = document(principal.tenant, resource, version, created, deleted=action == "delete")
        if sealed:
            doc["_sys"]["sealed"] = sealed
        event_type = classify(action, strip(old) if old else None, resource)
        return _Writes(self, principal, rt, doc, old, action, event_type, resource), revealed

    async def set_panel(self, principal: PrincipalLike, session: AsyncClientSession | None, practitioner: str,
                        add: list[str], remove: list[str], events: list[dict[str, Any]] | None = None) -> None:
        """Practitioner ``practitioner``'s panel Group with ``add`` in and ``remove`` out (store/panels.py): a
        write of its own, versioned and with its event; a concurrent change of the Group is re-read and retried."""
        for _ in range(WRITE_RETRIES):
            current = await self.db.Group.find_one({"_id": doc_id(principal.tenant, practitioner)}, session=session)
            if current is not None and not current["_sys"].get("deleted") and not panels.is_panel(current):
                return  # a Group of that id that is not a panel: not ours to change
            group = panels.updated(practitioner, current, add, remove)
            if group is None:
                return
            nested, _ = self.prepare(principal, "Group", group, old=current,
                                     action="create" if current is None else "update")
            try:
                await nested.run(session)
            except PreconditionFailed:
                continue
            if events is not None:
                events.extend(nested.events)
            return
        raise PreconditionFailed(f"Group/{practitioner} is being changed concurrently; retry")

    async def insert(self, collection: str, doc: dict[str, Any], session: AsyncClientSession | None) -> None:
        """Insert ``doc`` into ``collection``: in ``session``'s transaction, else batched with concurrent writes'."""
        if session is None:
            await self.inserts.insert(collection, doc)
        else:
            await self.db[collection].insert_one(doc, session=session)

    async def next_seq(self, tenant: str, name: str = "events", session: AsyncClientSession | None = None) -> int:
        # Driver errors propagate untranslated: inside a transaction with_transaction must see them.
        if session is None:
            return await self.sequences.next(f"{name}/{tenant}")
        doc = await self.db.counters.find_one_and_update(
            {"_id": f"{name}/{tenant}"}, {"$inc": {"seq": 1}}, upsert=True,
            return_document=ReturnDocument.AFTER, session=session)
        return int((doc or {})["seq"])

    async def numbered(self, tenant: str, rt: str, resource: Resource) -> Resource:
        """``resource`` with its ``SEQUENCED`` identifier: the one it carries, else the counter's next number."""
        name, system = SEQUENCED[rt]
        identifiers = resource.get("identifier")
        if isinstance(identifiers, list) and any(isinstance(i, dict) and i.get("system") == system
                                                 for i in identifiers):
            return resource
        kept = identifiers if isinstance(identifiers, list) else []
        number = await self._numbered(tenant, name)
        return {**resource, "identifier": [*kept, {"system": system, "value": str(number)}]}

    async def _numbered(self, tenant: str, name: str) -> int:
        self._began()
        try:
            return await self.next_seq(tenant, name)
        except PyMongoError as exc:
            raise unavailable(exc) from exc
        finally:
            self._ended()

    async def raise_seq(self, tenant: str, name: str, at_least: int) -> None:
        try:
            await self.db.counters.update_one({"_id": f"{name}/{tenant}"}, {"$max": {"seq": int(at_least)}},
                                              upsert=True)
        except PyMongoError as exc:
            raise unavailable(exc) from exc


class _Writes:
    """The documents of one write, applied in one transaction or in the safe order (module docstring)."""

    def __init__(self, writer: Writer, principal: PrincipalLike, rt: str, doc: dict[str, Any],
                 old: dict[str, Any] | None, action: str, event_type: str, resource: Resource):
        self.writer, self.principal, self.rt, self.doc, self.old = writer, principal, rt, doc, old
        self.action, self.event_type, self.resource = action, event_type, resource
        # This write's event first, then those of the writes it caused (a Slot's status).
        self.events: list[dict[str, Any]] = []
        self.revealed: dict[str, str] = {}  # sealed values shown in this write's response only
        self._booked: dict[str, Any] | None = None

    def result(self) -> WriteResult:
        shown = reveal(self.resource, self.revealed) if self.revealed else self.resource
        seq = int(self.events[0]["seq"]) if self.events else None
        return WriteResult(resource=shown, created=self.old is None, event_seq=seq)

    async def run(self, session: AsyncClientSession | None) -> None:
        await self.stage(session)
        await self.finish(session)

    async def stage(self, session: AsyncClientSession | None) -> None:
        """The current document (the conditional write that is the lock), after the booking check."""
        self.events = []  # with_transaction may run this again
        self._booked = await self._bookable(session)
        await self._current(session)

    async def undo(self) -> None:
        """Put the current document back as it was before ``stage`` (standalone servers only: module
        docstring), if it is still this write's version."""
        db, mine = self.writer.db[self.rt], {"_id": self.doc["_id"], "_sys.v": self.doc["_sys"]["v"]}
        if self.old is None:
            await db.delete_one(mine)
            return
        before = await self.writer.db[history(self.rt)].find_one({"_id": f"{self.doc['_id']}/{self.old['_sys']['v']}"})
        if before is not None:
            before["_id"] = self.doc["_id"]
            await db.replace_one(mine, before)

    async def finish(self, session: AsyncClientSession | None) -> None:
        """What follows the current document: its history version, provenance, event and the Slot status."""
        changes = slot_changes(self.principal.tenant, self.old, self.doc, self.resource)
        booked = self._booked
        # The event goes last, so whoever reads it finds the version it names in the history.
        if kept_twice(self.rt):
            await self.writer.insert(history(self.rt), history_doc(self.doc), session)
        await self._provenance(session)
        await self._event(session)
        for slot, status in changes.items():
            known = booked if booked is not None and booked["_sys"]["id"] == slot else None
            if session is not None:
                await self._set_slot(session, slot, status, known)  # a failure aborts the whole transaction
                continue
            try:
                await self._set_slot(None, slot, status, known)
            except (PyMongoError, DomainError) as exc:
                # Standalone: the appointment is committed; failing now would tell the client it was not.
                log.error("Slot/%s status not set to %s after a committed %s write: %s", slot, status, self.rt,
                          described(exc))
        await self._panels(session)

    async def _panels(self, session: AsyncClientSession | None) -> None:
        before = None if self.old is None or self.old["_sys"].get("deleted") else strip(self.old)
        for practitioner, (patient, add) in panels.changes(self.rt, self.action, before, self.resource).items():
            adds = [patient] if patient and add else []
            removes = [patient] if patient and not add else []
            if session is not None:
                await self.writer.set_panel(self.principal, session, practitioner, adds, removes, self.events)
                continue
            try:
                await self.writer.set_panel(self.principal, None, practitioner, adds, removes, self.events)
            except (PyMongoError, DomainError) as exc:
                log.error("Group/%s (a practitioner panel) not updated after a committed %s write: %s",
                          practitioner, self.rt, described(exc))

    async def _bookable(self, session: AsyncClientSession | None) -> dict[str, Any] | None:
        """The stored Slot this write newly books (None: it books none, or one the store does not have — left
        alone, as ever); ``Conflict`` when that Slot is not bookable (busy-unavailable, entered-in-error)."""
        key = self.doc["_sys"].get("slot")
        before = (self.old or {}).get("_sys", {}).get("slot")
        held = slot_id(self.principal.tenant, key) if key else None
        if held is None or (before and slot_id(self.principal.tenant, before) == held):
            return None  # an appointment keeps the slot it holds whatever became of the slot since
        current: dict[str, Any] | None = await self.writer.db.Slot.find_one(
            {"_id": doc_id(self.principal.tenant, held), "_sys.deleted": False}, session=session)
        if current is not None and current.get("status") not in BOOKING_STATUSES:
            # 409, not 422: the appointment is valid; the slot's current state refuses it (as a taken slot does).
            raise Conflict(f"That slot is not bookable (its status is {current.get('status')})",
                           paths=["Appointment.slot"], slot_status=current.get("status"))
        return current

    async def _current(self, session: AsyncClientSession | None) -> None:
        db = self.writer.db
        try:
            if self.old is None:
                await self.writer.insert(self.rt, self.doc, session)
            else:
                res = await db[self.rt].replace_one(
                    {"_id": self.doc["_id"], "_sys.v": self.old["_sys"]["v"]}, self.doc, session=session)
                if res.matched_count == 0:
                    raise PreconditionFailed(f"{self.rt}/{self.resource['id']} changed concurrently")
        except DuplicateKeyError as exc:
            pattern = (exc.details or {}).get("keyPattern", {})
            if "_sys.slot" in pattern:
                raise SlotTaken("That slot is already booked") from None
            if "_sys.uid" in pattern:
                raise DuplicateIdentifier(f"Another {self.rt} already holds that identifier",
                                          paths=[f"{self.rt}.identifier"]) from None
            if self.old is None:
                raise PreconditionFailed(f"{self.rt}/{self.resource['id']} already exists") from None
            raise Conflict("Unique constraint violated") from None

    async def _provenance(self, session: AsyncClientSession | None) -> None:
        if self.rt not in CLINICAL_TYPES:
            return
        prov = provenance(self.principal, self.resource, self.action)
        pdoc = document(self.principal.tenant, prov, 1, prov["meta"]["lastUpdated"])
        await self.writer.insert("Provenance", pdoc, session)  # append-only: its history too

    async def _event(self, session: AsyncClientSession | None) -> None:
        if self.rt in SILENT_TYPES:
            return
        tenant = self.principal.tenant
        seq = await self.writer.next_seq(tenant, session=session)
        event = make_event(tenant, seq, self.action, self.event_type, self.resource,
                           self.resource["meta"]["lastUpdated"])
        await self.writer.insert(EVENTS, dict(event), session)
        self.events.append(event)

    async def _set_slot(self, session: AsyncClientSession | None, rid: str, status: str,
                        current: dict[str, Any] | None = None) -> None:
        """The Slot an appointment now holds (or no longer holds) gets ``status`` — a write of its own, versioned
        and with its event, in the same transaction; a concurrent change of the Slot is re-read and retried.
        ``current``: the Slot as just read, if it was."""
        for _ in range(WRITE_RETRIES):
            if current is None:
                current = await self.writer.db.Slot.find_one({"_id": doc_id(self.principal.tenant, rid),
                                                              "_sys.deleted": False}, session=session)
            if current is None or current.get("status") == status or current.get("status") not in BOOKING_STATUSES:
                return  # a slot we do not know, one already showing it, or one taken out of booking
            nested, _ = self.writer.prepare(self.principal, "Slot", {**strip(current), "status": status},
                                            old=current, action="update")
            try:
                await nested.run(session)
            except PreconditionFailed:
                current = None
                continue
            self.events.extend(nested.events)
            return
        raise PreconditionFailed(f"Slot/{rid} is being changed concurrently; retry")


def slot_changes(tenant: str, old: dict[str, Any] | None, doc: dict[str, Any], resource: Resource
                 ) -> dict[str, str]:
    """Slot id → the status it takes after this write: the slot an Appointment stopped holding is free again,
    the one it holds is busy (busy-tentative while the appointment is only pending, proposed or waitlisted).
    ``_set_slot`` applies them only to a slot in ``BOOKING_STATUSES``."""
    before = (old or {}).get("_sys", {}).get("slot")
    after = doc["_sys"].get("slot")
    freed = slot_id(tenant, before) if before else None
    held = slot_id(tenant, after) if after else None
    changes: dict[str, str] = {}
    if freed and freed != held:
        changes[freed] = "free"
    if held:
        changes[held] = "busy-tentative" if resource.get("status") in TENTATIVE else "busy"
    return changes


def meta_of(resource: Resource) -> dict[str, Any]:
    meta = resource.get("meta")
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise Invalid("meta must be an object", unprocessable=True, paths=[f"{resource['resourceType']}.meta"])
    return meta


def server_meta(meta: dict[str, Any], version: int, stamp: str, created: str) -> dict[str, Any]:
    """``meta`` with the server-managed parts set: versionId, lastUpdated and the creation time (an extension,
    FHIR has no element for it); whatever a client sent for those is replaced."""
    kept = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated", "extension")}
    extensions = [e for e in meta.get("extension", []) or [] if not (isinstance(e, dict) and e.get("url") == CREATED)]
    return {"versionId": str(version), "lastUpdated": stamp, **kept,
            "extension": [*extensions, {"url": CREATED, "valueInstant": created}]}


def seal(rt: str, resource: Resource, before: dict[str, str] | None) -> tuple[Resource, dict[str, str], dict[str, str]]:
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


def reveal(resource: Resource, revealed: dict[str, str]) -> Resource:
    extra = [{"url": url, "valueString": value} for url, value in revealed.items()]
    return {**resource, "extension": [*(resource.get("extension") or []), *extra]}


def provenance(principal: PrincipalLike, resource: Resource, action: str) -> Resource:
    """The Provenance of a clinical write (seed 004): which version, what was done, by whom."""
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
