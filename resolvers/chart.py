"""What the chart's record mutations and lists share: the patient a record is about, the record itself (found
on its patient's chart), the writes (create, versioned save, soft-delete by ``archived-at``) and the
newest-first order of a dated list."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import strawberry

from resolvers import idempotency
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, settle
from resolvers.model.common import EntityRef
from resolvers.patient import ref_to
from store.clock import now_seconds
from store.errors import Conflict, Invalid, NotFound
from store.fhirjson import ext, parse_reference, ref_id, set_ext

Resource = dict[str, Any]

# The per-patient list loader of each chart resource type (resolvers/loaders.py), forgotten after a write so
# that a later read in the same operation sees it.
LIST_LOADER = {"AllergyIntolerance": "allergies_by_patient", "Condition": "conditions_by_patient",
               "MedicationStatement": "medications_by_patient", "Observation": "observations_by_patient",
               "Communication": "communications_by_patient"}
# What each chart record is called in a NOT_FOUND message.
LABEL = {"AllergyIntolerance": "Allergy", "Condition": "Problem", "MedicationStatement": "Medication",
         "Observation": "Vital signs record", "RelatedPerson": "Relationship", "Communication": "Communication log"}


def recorder(ctx: Scope) -> dict[str, str]:
    """Who writes a record (a communication log, an alert): the caller's fhirUser (a Practitioner, say) when it
    has one, shown by its subject."""
    user = getattr(ctx.who, "user", None)
    ref = {"display": ctx.who.subject}
    if isinstance(user, str) and parse_reference(user):
        ref["reference"] = user
    return ref


# The loader that reads each kind of record a ``recorder`` reference may name (resolvers/loaders.py).
RECORDER_LOADER = {"Practitioner": "practitioners_by_id", "Patient": "patients_by_id"}


class Recorded(Protocol):
    recorded_by: dict[str, Any] | None  # the reference ``recorder`` kept, read by the record's from_fhir


def created_by(root: Recorded, info: Info) -> Soon[EntityRef | None]:
    """``{id, name}`` of who wrote a record (communication log entry, vital signs): one batched read for every
    record's practitioner or patient."""
    return recorder_ref(info, root.recorded_by)


def recorder_ref(info: Info, ref: dict[str, Any] | None) -> Soon[EntityRef | None]:
    """``{id, name}`` of who wrote a record, from the reference ``recorder`` kept: a practitioner or patient with
    their current name (one batched read for every record's), another FHIR record with the display written
    beside it, and an API client with no user record by its name (as id and name). None when nobody is named."""
    if not ref:
        return None
    display = ref.get("display") if isinstance(ref.get("display"), str) else None
    parsed = parse_reference(ref)
    if parsed is None:
        return EntityRef(id=strawberry.ID(display), name=display) if display else None
    rt, rid = parsed
    loader = RECORDER_LOADER.get(rt)
    if loader is None:
        return EntityRef(id=strawberry.ID(rid), name=display)
    return ref_to(info, loader, rid, display)


async def patient_reference(ctx: Scope, pid: str) -> dict[str, str]:
    """A reference to the patient ``pid``; ``NotFound`` when there is none."""
    if await ctx.loaders.patients_by_id.load(str(pid)) is None:
        raise NotFound(f"Patient {pid} not found", field="patientId")
    return {"reference": f"Patient/{pid}"}


async def provider_exists(ctx: Scope, provider_id: str | None) -> None:
    """``NotFound`` (naming the ``providerId`` input field) when a provider id is given and names no one."""
    if provider_id and await ctx.loaders.practitioners_by_id.load(str(provider_id)) is None:
        raise NotFound(f"Provider {provider_id} not found", field="input.providerId")


def subject_of(res: Resource) -> str | None:
    """The patient a chart record is about (``patient`` or ``subject``)."""
    return ref_id(res.get("patient") or res.get("subject"), "Patient")


def archived(res: Resource) -> bool:
    return "extension" in res and ext(res, "archived-at") is not None  # most records carry no extension


def current(rows: list[Resource]) -> list[Resource]:
    """The records of a list that are not archived."""
    return [r for r in rows if not archived(r)]


async def record_of(ctx: Scope, rt: str, pid: str, rid: str,
                    owner: Callable[[Resource], str | None] = subject_of) -> Resource:
    """The chart record ``rt/rid`` of patient ``pid``: ``NotFound`` when the patient or the record is missing,
    archived, or on another patient's chart (``owner`` says whose it is)."""
    patient, res = await asyncio.gather(ctx.loaders.patients_by_id.load(str(pid)), _read(ctx, rt, str(rid)))
    if patient is None:
        raise NotFound(f"Patient {pid} not found", field="patientId")
    if res is None or archived(res) or owner(res) != str(pid):
        raise NotFound(f"{LABEL.get(rt, rt)} {rid} not found", field="id")
    return res


async def _read(ctx: Scope, rt: str, rid: str) -> Resource | None:
    try:
        return await ctx.repo.read(ctx.who, rt, rid)
    except (NotFound, Invalid):  # Gone is a NotFound; a malformed id names no record
        return None


def forget(ctx: Scope, res: Resource) -> None:
    """After a write: the patient's list of this type is read afresh by later fields of the operation."""
    name = LIST_LOADER.get(res["resourceType"])
    pid = subject_of(res)
    if name is not None and pid is not None:
        ctx.loaders.forget(getattr(ctx.loaders, name), pid)


async def create(ctx: Scope, res: Resource) -> Resource:
    """Write a new chart record (validated, versioned, with its Provenance and event) and return it."""
    written = await ctx.repo.create(ctx.who, res)  # the store assigns the id
    forget(ctx, written.resource)
    return written.resource


async def save(ctx: Scope, res: Resource, base_version: int | None) -> Resource:
    """Write a new version of a chart record; ``base_version`` (when given) must be the stored version, else
    ``PreconditionFailed`` (VERSION_CONFLICT)."""
    written = await ctx.repo.update(ctx.who, res["resourceType"], res["id"], res,
                                    if_match=str(base_version) if base_version is not None else None)
    forget(ctx, written.resource)
    return written.resource


async def archive(ctx: Scope, res: Resource, base_version: int | None) -> Resource:
    """Soft-delete a chart record: it keeps its data, gains ``archived-at`` (the seed's ``deleted_at``) and
    leaves every list."""
    set_ext(res, "archived-at", "valueDateTime", now_seconds())
    return await save(ctx, res, base_version)


class Record(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=Record)


async def once(ctx: Scope, operation: str, rt: str, pid: str, key: str | None, f: dict[str, Any],
               create: Callable[[], Awaitable[R]], answer: Callable[[Resource], R | Awaitable[R]]) -> R:
    """``create()`` once per idempotency key (resolvers/idempotency.py): a repeat with the same patient and
    input answers ``answer(the record the first call wrote)``."""
    async def first() -> tuple[R, dict[str, Any]]:
        made = await create()
        return made, {"id": str(made.id)}

    async def again(earlier: dict[str, Any]) -> R:
        res = await _read(ctx, rt, str(earlier.get("id")))
        if res is None:
            raise Conflict("The record this idempotencyKey created no longer exists", field="idempotencyKey")
        found: R = await settle(answer(res))
        return found

    return await idempotency.once(ctx, operation, rt, key, {**f, "patient_id": str(pid)}, first, again)


class OfPatient(Protocol):
    @property
    def patient_id(self) -> str | None: ...


class ByProvider(Protocol):
    @property
    def provider_id(self) -> str | None: ...


def patient_ref(root: OfPatient, info: Info) -> Soon[EntityRef | None]:
    """``{id, name}`` of the patient a chart record is about (one batched read for every record's patient)."""
    return ref_to(info, "patients_by_id", root.patient_id)


def provider_ref(root: ByProvider, info: Info) -> Soon[EntityRef | None]:
    """``{id, name}`` of a chart record's provider (one batched read for every record's provider)."""
    return ref_to(info, "practitioners_by_id", root.provider_id)


def by_date(field: str) -> Callable[[Resource], str]:
    """The sort key of a list ordered by one dated element."""
    return lambda r: str(r.get(field) or "")
