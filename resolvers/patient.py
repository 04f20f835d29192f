"""The patient domain (seed 003), finding patients: one, the keyset list and the numbered list with seed 003's
filters and sorts, typeahead, counts by location, duplicate signals; and the patient's relations (providers,
location, catalogs, responsible party, smoking status). Mutations: resolvers/patient_write.py; bulk import:
resolvers/patient_import.py. Records and their FHIR mapping: resolvers/model/patient.py."""

from __future__ import annotations

import asyncio
from typing import Any

import strawberry

from resolvers import catalog as catalog_r
from resolvers import duplicate
from resolvers import practitioner as practitioner_r
from resolvers.context import Info, Scope
from resolvers.duplicate import phone_key
from resolvers.loaders import MISSING, Soon, node_of, ready, settle, when_loaded
from resolvers.model import patient as model
from resolvers.model.catalog import TAG_KIND
from resolvers.model.common import EntityRef, camel, check_date, check_dates
from resolvers.model.practitioner import Practitioner, full_name
from resolvers.pagination import DEFAULT_PAGE_SIZE, Connection, NumberedPage, numbered, store_connection
from store.errors import Invalid, NotFound
from store.fhirjson import code_of, ref_id
from store.naming import CS, SNOMED
from store.types import Page

Resource = dict[str, Any]

# Seed 003 sort fields → FHIR _sort.
SORTS = {"LAST_NAME": "family,given", "FIRST_NAME": "given,family", "DATE_OF_BIRTH": "birthdate",
         "CHART_NUMBER": "chart-number", "CREATED": "_created", "UPDATED": "_lastUpdated",
         "STATUS": "lifecycle-status"}
TYPEAHEAD_FIELDS = ["name", "preferred-name", "chart-number"]
TOBACCO = "72166-2"  # LOINC tobacco smoking status (social history)


# ---------------------------------------------------------------------------------------------- finding patients


def node(ctx: Scope, res: Resource) -> model.Patient:
    """The record of ``res``, built once per request however many times the patient appears; a patient read
    by a search is also what later loads of it by id answer (a chart record's ``patient``, say). Its fields are
    read from the resource as they are selected (``model.LazyPatient``)."""
    ctx.loaders.patients_by_id.prime(str(res["id"]), res)  # no-op when the request already has it
    return node_of(ctx.loaders, res, model.lazy_from_fhir)


def get_patient(ctx: Scope, pid: str | None) -> Soon[model.Patient | None]:
    """The patient record (None when absent), or — until its batch is loaded — an awaitable of it."""
    if not pid:
        return None
    return when_loaded(ctx.loaders.patients_by_id, str(pid), lambda res: node(ctx, res) if res else None)


def search_terms(text: str) -> list[str]:
    """The words of a free-text search, a phone number in any spelling being one word of digits."""
    phone = phone_key(text)
    return [phone] if phone else text.replace(",", " ").split()


async def check_filter(ctx: Scope, flt: dict[str, Any], prefix: str = "filter") -> None:
    """Seed 003: a filter naming an unknown provider or location is 404 (``NOT_FOUND``), not an empty list; a
    malformed date is ``VALIDATION``; so is a tag definition (the tag filter takes its id)."""
    for key in ("dob_from", "dob_to"):
        check_date(flt.get(key), key, prefix)
    await require(ctx, {k: flt.get(k) for k in ("primary_provider_id", "location_id")}, prefix)
    if flt.get("tag") and str(flt["tag"]) not in await catalog_r.definitions(ctx, TAG_KIND, [str(flt["tag"])]):
        # an archived definition still filters: patients keep the tags they were given
        raise NotFound(f"Tag definition {str(flt['tag'])[:64]} not found", field=f"{prefix}.tag")


# What an id input refers to: its loader and what the error calls it.
REFERENCES: dict[str, tuple[str, str]] = {
    "primary_provider_id": ("practitioners_by_id", "provider"),
    "secondary_provider_id": ("practitioners_by_id", "provider"),
    "location_id": ("locations_by_id", "location"),
    "billing_type_id": ("basics_by_id", "billing type"),
    "fee_schedule_id": ("basics_by_id", "fee schedule"),
    "employer_id": ("organizations_by_id", "employer"),
    "responsible_party_id": ("patients_by_id", "patient"),
}


async def require(ctx: Scope, ids: dict[str, Any], prefix: str = "input") -> None:
    """Every id of ``ids`` (input field → id; None: not given) names an existing resource of the caller's
    tenant, else ``NOT_FOUND`` naming the field. One batch per loader, whatever the number of ids."""
    wanted = [(k, str(v)) for k, v in ids.items() if v]
    if not wanted:
        return
    found = await asyncio.gather(*(getattr(ctx.loaders, REFERENCES[k][0]).load(v) for k, v in wanted))
    for (key, value), res in zip(wanted, found, strict=True):
        if res is None:
            raise NotFound(f"{REFERENCES[key][1].capitalize()} {value[:64]} not found", field=f"{prefix}.{camel(key)}")


def filter_params(flt: dict[str, Any] | None) -> list[tuple[str, str]]:
    """FHIR search parameters of a seed 003 patient list filter."""
    if not flt:
        return [("lifecycle-status:not", "archived")]
    params: list[tuple[str, str]] = []
    if flt.get("status"):
        params.append(("lifecycle-status", ",".join(s.value for s in flt["status"])))
    elif not flt.get("include_archived"):
        params.append(("lifecycle-status:not", "archived"))
    for word in search_terms(flt.get("search") or ""):
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


def _sort_spec(sort_field: str | None, descending: bool, default: str) -> str:
    spec = SORTS.get(sort_field or default, SORTS[default])
    return ",".join(f"-{p}" for p in spec.split(",")) if descending else spec


async def list_patients(ctx: Scope, *, flt: dict[str, Any] | None = None, sort_field: str | None = None,
                        descending: bool = False, first: int | None = None, after: str | None = None,
                        last: int | None = None, before: str | None = None,
                        want_total: bool = False) -> Connection[Any]:
    if flt:
        await check_filter(ctx, flt)
    params = filter_params(flt)

    async def search(**kw: Any) -> Page:
        return await ctx.repo.search(ctx.who, "Patient", params, total=want_total, **kw)

    # seed 003: the cursor list "defaults to first_name when not specified", the numbered one to last_name
    return await store_connection(search, sort=_sort_spec(sort_field, descending, "FIRST_NAME"),
                                  node=lambda r: node(ctx, r),
                                  first=first, after=after, last=last, before=before,
                                  default=min(DEFAULT_PAGE_SIZE, ctx.settings.max_page_size),  # seed 003: 50
                                  maximum=ctx.settings.max_page_size)


async def page_patients(ctx: Scope, *, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE,
                        flt: dict[str, Any] | None = None, sort_field: str | None = None,
                        descending: bool = False) -> NumberedPage[model.Patient]:
    """Seed 003 GET /patients: page ``page`` (from 1) of ``page_size`` (1 up to the page cap) and the total: an
    offset page of the store (the list is too long to load whole)."""
    paging = numbered(ctx, page, page_size)
    if flt:
        await check_filter(ctx, flt)
    found = await ctx.repo.search(ctx.who, "Patient", filter_params(flt), count=paging.page_size,
                                  offset=paging.offset, sort=_sort_spec(sort_field, descending, "LAST_NAME"),
                                  total=True)
    return NumberedPage(items=[node(ctx, r) for r in found.resources], page=paging.page,
                        page_size=paging.page_size, total=found.total or 0)


async def search_patients(ctx: Scope, query: str, limit: int) -> list[model.PatientSummary]:
    """Typeahead (seed 003 /patients/search): every word starts a first, last or preferred name or the chart
    number; archived patients are left out; empty → []."""
    return (await search_patients_page(ctx, query, limit, want_total=False)).items


async def search_patients_page(ctx: Scope, query: str, limit: int, *, want_total: bool = True
                               ) -> model.PatientSearchPage:
    """``search_patients`` and how many patients match in all (counted in the same store call)."""
    words = query.replace(",", " ").split()
    if not words:
        return model.PatientSearchPage(items=[], total=0)
    if not 0 <= limit <= ctx.settings.max_page_size:
        raise Invalid(f"limit must be between 0 and {ctx.settings.max_page_size}", field="limit")
    page = await ctx.repo.typeahead(ctx.who, "Patient", words, TYPEAHEAD_FIELDS, [("lifecycle-status:not", "archived")],
                                    count=limit, sort="family,given", total=want_total)
    return model.PatientSearchPage(items=[model.summary_from_fhir(r) for r in page.resources],
                                   total=page.total if page.total is not None else len(page.resources))


async def patient_counts_by_location(ctx: Scope, date_from: str | None, date_to: str | None,
                                     statuses: list[model.PatientStatus] | None) -> model.PatientCountsByLocation:
    """Seed 003 counts/by-location: patients per active location, by first-visit date range and statuses."""
    check_dates(date_from=date_from, date_to=date_to)
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
                           exclude: str | None = None, prefix: str = "") -> list[model.PatientSummary]:
    """Seed 003 check-duplicates: any one signal (last name + DOB, email, mobile, SSN) flags a patient
    (resolvers/duplicate.py)."""
    check_date(date_of_birth, "date_of_birth", prefix)
    wanted = duplicate.Signals(last_name=last_name, date_of_birth=date_of_birth, email=email,
                               mobile_phone=mobile_phone, ssn=ssn, exclude=exclude)
    return duplicate.summaries((await duplicate.find(ctx.repo, ctx.who, [wanted]))[0])


def potential_duplicates(root: model.Patient, info: Info) -> Soon[list[model.PatientSummary]]:
    """The other patients this one may duplicate (as createPatient answers them), one batch of searches for
    every patient of the query."""
    return when_loaded(info.context.loaders.duplicates_by_signals, duplicate.signals_of(root), duplicate.summaries)


# ---------------------------------------------------------------------------------------------- relations


def primary_provider(root: model.Patient, info: Info) -> Soon[Practitioner | None]:
    return practitioner_r.get_practitioner(info.context, root.primary_provider_id)


def secondary_provider(root: model.Patient, info: Info) -> Soon[Practitioner | None]:
    return practitioner_r.get_practitioner(info.context, root.secondary_provider_id)


def entity_name(res: Resource) -> str | None:
    """The display name of a referenced catalog entry, location, organization or patient."""
    name = res.get("name")
    if isinstance(name, str):
        return name
    if isinstance(name, list) and res.get("resourceType") == "Practitioner":
        return full_name(res) or None  # as Practitioner.name shows it
    if isinstance(name, list):  # a Patient's HumanNames
        official = model.names(res)[0]
        full = " ".join([*(official.get("given") or [])[:1], official.get("family") or ""]).strip()
        return full or official.get("text")
    code = res.get("code")
    if isinstance(code, dict):
        return code.get("text") or next((c.get("display") for c in code.get("coding") or () if c.get("display")),
                                        None)
    return None


def ref_to(info: Info, loader_name: str, rid: str | None, display: str | None = None) -> Soon[EntityRef | None]:
    """``{id, name}`` of the referenced resource, its name read from it (one batch per loader); a reference to a
    resource that is gone keeps its id and the display written beside it."""
    if not rid:
        return None
    loader = getattr(info.context.loaders, loader_name)
    return when_loaded(loader, rid, lambda res: EntityRef(id=strawberry.ID(rid),
                                                          name=(entity_name(res) if res else None) or display))


def location(root: model.Patient, info: Info) -> Soon[EntityRef | None]:
    return ref_to(info, "locations_by_id", root.location_id, root.location_display)


def billing_type(root: model.Patient, info: Info) -> Soon[EntityRef | None]:
    return ref_to(info, "basics_by_id", root.billing_type_id)


def fee_schedule(root: model.Patient, info: Info) -> Soon[EntityRef | None]:
    return ref_to(info, "basics_by_id", root.fee_schedule_id)


def employer(root: model.Patient, info: Info) -> Soon[EntityRef | None]:
    return ref_to(info, "organizations_by_id", root.employer_id)


def guarantor_of(accounts: list[Resource]) -> tuple[str, str, str | None] | None:
    """(type, id, display) of the guarantor of the first active Account the patient belongs to."""
    for acc in sorted(accounts, key=lambda a: (a.get("status") != "active", a["id"])):
        for g in acc.get("guarantor") or ():
            party = g.get("party") or {}
            for rt in ("Patient", "RelatedPerson", "Organization"):
                rid = ref_id(party, rt)
                if rid:
                    return rt, rid, party.get("display")
    return None


def responsible_party(root: model.Patient, info: Info) -> Soon[EntityRef | None]:
    """The guarantor of the patient's Account (the financial family's head, seed 003 ``responsible_party``)."""
    accounts = ready(info.context.loaders.accounts_by_subject, str(root.id))
    if accounts is MISSING:
        return _responsible_party(root, info)
    return _party(info, accounts)


async def _responsible_party(root: model.Patient, info: Info) -> EntityRef | None:
    accounts = await info.context.loaders.accounts_by_subject.load(str(root.id))
    found: EntityRef | None = await settle(_party(info, accounts))
    return found


def _party(info: Info, accounts: list[Resource]) -> Soon[EntityRef | None]:
    party = guarantor_of(accounts)
    if party is None:
        return None
    rt, rid, display = party
    if rt == "Patient":
        return ref_to(info, "patients_by_id", rid, display)
    return EntityRef(id=strawberry.ID(rid), name=display)


def smoking_snomed(root: model.Patient, info: Info) -> Soon[str | None]:
    """The SNOMED CT code of the latest tobacco smoking status (social-history Observation LOINC 72166-2)."""
    return when_loaded(info.context.loaders.observations_by_patient, str(root.id), _smoking)


def _smoking(observations: list[Resource]) -> str | None:
    rows = [o for o in observations if code_of(o.get("code")) == TOBACCO]
    if not rows:
        return None
    latest = max(rows, key=lambda o: (str(o.get("effectiveDateTime") or ""), o["id"]))
    value = latest.get("valueCodeableConcept") or {}
    return next((c.get("code") for c in value.get("coding") or () if c.get("system") == SNOMED), None)

