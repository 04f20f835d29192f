"""The patient domain (seed 003): finding patients (one, a keyset list with seed 003's filters and sorts,
typeahead, counts by location, duplicate signals) and the patient mutations (create, PATCH update, status
transitions, archive/restore). Records and their FHIR mapping: resolvers/model/patient.py."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import strawberry

from resolvers import catalog as catalog_r
from resolvers import practitioner as practitioner_r
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, node_of, when_loaded
from resolvers.model import patient as model
from resolvers.model.common import EntityRef
from resolvers.model.practitioner import Practitioner
from resolvers.pagination import Connection, store_connection
from store.errors import Invalid, InvalidTransition, NotFound
from store.fhirjson import ref_id, set_ext
from store.keys import fold
from store.naming import CS, SSN_SYSTEM
from store.types import Page

Resource = dict[str, Any]

TRANSITIONS = {"prospective": {"active"}, "active": {"inactive", "deceased"}, "inactive": {"active"}}
# Seed 003 sort fields → FHIR _sort.
SORTS = {"LAST_NAME": "family,given", "FIRST_NAME": "given,family", "DATE_OF_BIRTH": "birthdate",
         "CHART_NUMBER": "chart-number", "CREATED": "_created", "UPDATED": "_lastUpdated",
         "STATUS": "lifecycle-status"}
TYPEAHEAD_FIELDS = ["name", "preferred-name", "chart-number"]


# ---------------------------------------------------------------------------------------------- finding patients


def node(ctx: Scope, res: Resource) -> model.Patient:
    """The record of ``res``, built once per request however many times the patient appears."""
    return node_of(ctx.loaders, res, model.from_fhir)


def get_patient(ctx: Scope, pid: str | None) -> Soon[model.Patient | None]:
    """The patient record (None when absent), or — until its batch is loaded — an awaitable of it."""
    if not pid:
        return None
    return when_loaded(ctx.loaders.patients_by_id, str(pid), lambda res: node(ctx, res) if res else None)


def filter_params(flt: dict[str, Any] | None) -> list[tuple[str, str]]:
    """FHIR search parameters of a seed 003 patient list filter."""
    if not flt:
        return [("lifecycle-status:not", "archived")]
    params: list[tuple[str, str]] = []
    if flt.get("status"):
        params.append(("lifecycle-status", ",".join(s.value for s in flt["status"])))
    elif not flt.get("include_archived"):
        params.append(("lifecycle-status:not", "archived"))
    for word in (flt.get("search") or "").replace(",", " ").split():
        params.append(("_content", word))
    if flt.get("primary_provider_id"):
        params.append(("general-practitioner", f"Practitioner/{flt['primary_provider_id']}"))
    if flt.get("location_id"):
        params.append(("location", f"Location/{flt['location_id']}"))
    if flt.get("dob_from"):
        params.append(("birthdate", f"ge{flt['dob_from']}"))
    if flt.get("dob_to"):
        params.append(("birthdate", f"le{flt['dob_to']}"))
    if flt.get("tag"):
        params.append(("_tag", f"{CS['patient-tag']}|{flt['tag']}"))
    return params


async def list_patients(ctx: Scope, *, flt: dict[str, Any] | None = None, sort_field: str | None = None,
                        descending: bool = False, first: int | None = None, after: str | None = None,
                        last: int | None = None, before: str | None = None,
                        want_total: bool = False) -> Connection[Any]:
    spec = SORTS.get(sort_field or "LAST_NAME", SORTS["LAST_NAME"])
    if descending:
        spec = ",".join(f"-{p}" for p in spec.split(","))
    params = filter_params(flt)

    async def search(**kw: Any) -> Page:
        return await ctx.repo.search(ctx.who, "Patient", params, total=want_total, **kw)

    return await store_connection(search, sort=spec, node=lambda r: node(ctx, r), first=first, after=after,
                                  last=last, before=before, default=ctx.settings.default_page_size,
                                  maximum=ctx.settings.max_page_size)


async def search_patients(ctx: Scope, query: str, limit: int) -> list[model.PatientSummary]:
    """Typeahead (seed 003 /patients/search): every word starts a first, last or preferred name or the chart
    number; archived patients are left out; empty → []."""
    words = query.replace(",", " ").split()
    if not words:
        return []
    limit = max(0, min(limit, ctx.settings.max_page_size))
    page = await ctx.repo.typeahead(ctx.who, "Patient", words, TYPEAHEAD_FIELDS, [("lifecycle-status:not", "archived")],
                                    count=limit, sort="family,given")
    return [model.summary_from_fhir(r) for r in page.resources]


async def patient_counts_by_location(ctx: Scope, date_from: str | None, date_to: str | None,
                                     statuses: list[model.PatientStatus] | None) -> model.PatientCountsByLocation:
    """Seed 003 counts/by-location: patients per active location, by first-visit date range and statuses."""
    chosen = [s.value for s in statuses] if statuses else ["active"]
    params = [("lifecycle-status", ",".join(chosen))]
    if date_from:
        params.append(("date-first-visit", f"ge{date_from}"))
    if date_to:
        params.append(("date-first-visit", f"lt{date_to}"))
    by_ref, none = await ctx.repo.count_by(ctx.who, "Patient", "location", params)
    counts = {lid: n for ref, n in by_ref.items() if (lid := ref_id(ref, "Location"))}
    locations = await ctx.loaders.locations_by_id.load_many(list(counts))
    items = []
    for (lid, n), loc in zip(counts.items(), locations, strict=True):
        if loc is None or loc.get("status", "active") != "active":
            none += n
            continue
        items.append(model.LocationCount(location=EntityRef(id=strawberry.ID(lid), name=loc.get("name")), count=n))
    items.sort(key=lambda i: (-i.count, i.location.name or ""))
    return model.PatientCountsByLocation(
        items=items, total=sum(i.count for i in items), excluded_count=none,
        statuses=[model.PatientStatus(s) for s in chosen], date_from=date_from, date_to=date_to)


async def check_duplicates(ctx: Scope, *, last_name: str, date_of_birth: str | None = None,
                           email: str | None = None, mobile_phone: str | None = None, ssn: str | None = None,
                           exclude: str | None = None) -> list[model.PatientSummary]:
    """Seed 003 check-duplicates: any one signal (last name + DOB, email, mobile, SSN) flags a patient."""
    searches: list[list[tuple[str, str]]] = []
    if last_name and date_of_birth:
        searches.append([("family", last_name), ("birthdate", date_of_birth)])
    if email:
        searches.append([("email", email)])
    if mobile_phone:
        searches.append([("phone", mobile_phone)])
    if ssn:
        searches.append([("identifier", f"{SSN_SYSTEM}|{ssn}")])
    pages = await asyncio.gather(*(ctx.repo.search(ctx.who, "Patient", p, count=50) for p in searches))
    seen: dict[str, Resource] = {}
    folded = fold(last_name)
    for params, page in zip(searches, pages, strict=True):
        for r in page.resources:
            if params[0][0] == "family" and fold(model.names(r)[0].get("family") or "") != folded:
                continue  # FHIR string search is starts-with; the signal is the exact last name
            if r["id"] != exclude:
                seen.setdefault(r["id"], r)
    return [model.summary_from_fhir(r) for r in seen.values()]


# ---------------------------------------------------------------------------------------------- relations


def primary_provider(root: model.Patient, info: Info) -> Soon[Practitioner | None]:
    return practitioner_r.get_practitioner(info.context, root.primary_provider_id)


def secondary_provider(root: model.Patient, info: Info) -> Soon[Practitioner | None]:
    return practitioner_r.get_practitioner(info.context, root.secondary_provider_id)


# ---------------------------------------------------------------------------------------------- mutations


async def create_patient(ctx: Scope, f: dict[str, Any]) -> model.CreatePatientPayload:
    """A new patient (seed 003 CreatePatientIn); the payload lists the existing patients it may duplicate."""
    if not (f.get("first_name") or "").strip() or not (f.get("last_name") or "").strip():
        raise Invalid("firstName and lastName are required", field="firstName")
    f = dict(f)
    status = getattr(f.pop("status", None), "value", None) or "active"
    if status == "archived":
        raise Invalid("A patient cannot be created archived", field="status")
    res: Resource = {"resourceType": "Patient", "id": str(uuid.uuid4())}
    await catalog_r.check_tags(ctx, f.get("tags"))  # tags are tag definition ids
    model.apply_fields(res, f)
    model.set_status(res, status)
    if "allergy_review_status" not in f:
        set_ext(res, "allergy-review-status", "valueCode", "not_reviewed")
    dups = await check_duplicates(ctx, last_name=f["last_name"], date_of_birth=f.get("date_of_birth"),
                                  email=f.get("email"), mobile_phone=f.get("mobile_phone"),
                                  ssn=f.get("social_security_number"))
    written = await ctx.repo.create(ctx.who, res, keep_id=True)
    return model.CreatePatientPayload(patient=model.from_fhir(written.resource), potential_duplicates=dups)


async def _save(ctx: Scope, res: Resource, base_version: int | None) -> model.Patient:
    written = await ctx.repo.update(ctx.who, "Patient", res["id"], res,
                                    if_match=str(base_version) if base_version is not None else None)
    ctx.loaders.prime(ctx.loaders.patients_by_id, res["id"], written.resource)
    return model.from_fhir(written.resource)


async def _current(ctx: Scope, pid: str) -> Resource:
    try:
        return await ctx.repo.read(ctx.who, "Patient", str(pid))
    except Invalid as exc:  # not even a FHIR id: no such patient
        raise NotFound(f"Patient {pid} not found") from exc


async def update_patient(ctx: Scope, pid: str, base_version: int, f: dict[str, Any]) -> model.Patient:
    """PATCH a patient: only the fields sent change."""
    res = await _current(ctx, pid)
    for required in ("first_name", "last_name"):
        if required in f and not (f[required] or "").strip():
            raise Invalid(f"{required} cannot be cleared", field=required)
    await catalog_r.check_tags(ctx, f.get("tags"))
    model.apply_fields(res, f)
    return await _save(ctx, res, base_version)


async def transition_status(ctx: Scope, pid: str, base_version: int, target_status: model.PatientStatus
                            ) -> model.Patient:
    """prospective→active, active→inactive|deceased, inactive→active (seed 003 status transitions)."""
    res = await _current(ctx, pid)
    target = target_status.value
    current = model.lifecycle(res)
    if target == "archived":
        raise InvalidTransition("Use archivePatient to archive a patient", current=current, target=target)
    if target == current:
        raise InvalidTransition(f"The patient is already {current}", current=current, target=target)
    if target not in TRANSITIONS.get(current, set()):
        raise InvalidTransition(f"A patient cannot go from {current} to {target}", current=current, target=target)
    model.set_status(res, target)
    return await _save(ctx, res, base_version)


async def archive_patient(ctx: Scope, pid: str, base_version: int | None) -> model.Patient:
    """Archive (soft-delete); refused while the patient is the guarantor of active dependents."""
    res = await _current(ctx, pid)
    if model.lifecycle(res) == "archived":
        raise Invalid("The patient is already archived")
    page = await ctx.repo.search(ctx.who, "Account", [("guarantor", f"Patient/{pid}")], count=100)
    dependents = {ref_id(s, "Patient") for acc in page.resources for s in acc.get("subject") or ()} - {pid, None}
    if dependents:
        found = await ctx.repo.read_many(ctx.who, "Patient", [d for d in dependents if d])
        active = [d for d in found.values() if model.lifecycle(d) in ("active", "prospective")]
        if active:
            raise Invalid("The patient is the guarantor of active dependents; reassign the guarantor first",
                          dependents=len(active))
    model.set_status(res, "archived")
    return await _save(ctx, res, base_version)


async def restore_patient(ctx: Scope, pid: str, base_version: int | None) -> model.Patient:
    """Restore an archived patient; it comes back inactive."""
    res = await _current(ctx, pid)
    if model.lifecycle(res) != "archived":
        raise Invalid("The patient is not archived")
    model.set_status(res, "inactive")
    return await _save(ctx, res, base_version)
