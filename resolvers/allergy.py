"""Allergies: a patient's list, recording one (with its drug–allergy warnings), updating and archiving it
(records and their FHIR mapping: resolvers/model/allergy.py)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from resolvers import catalog, chart, drug_allergy
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, when_loaded
from resolvers.model import allergy as model
from resolvers.model.catalog import ALLERGY_KIND
from resolvers.model.common import check_date
from resolvers.model.patient import Patient
from resolvers.pagination import (
    DEFAULT_PAGE_SIZE,
    After,
    Connection,
    First,
    NumberedPage,
    Out,
    PageNumber,
    PageSize,
    Paging,
    Relay,
    numbered,
)
from store.clock import now_seconds
from store.errors import Invalid

RT = "AllergyIntolerance"


IsActive = Annotated[bool | None, strawberry.argument(
    description="true: current allergies only; false: resolved or inactive only.")]


def patient_allergies(root: Patient, info: Info, is_active: IsActive = None, first: First = None,
                      after: After = None) -> Soon[Connection[model.Allergy]]:
    return _allergies(root, info, is_active, Relay(first, after))


def patient_allergy_page(root: Patient, info: Info, is_active: IsActive = None, page: PageNumber = 1,
                         page_size: PageSize = DEFAULT_PAGE_SIZE) -> Soon[NumberedPage[model.Allergy]]:
    return _allergies(root, info, is_active, numbered(info.context, page, page_size))


def _allergies(root: Patient, info: Info, is_active: bool | None, paging: Paging[Out]) -> Soon[Out]:
    """The patient's allergies, newest first."""
    def page(rows: list[dict[str, Any]]) -> Out:
        rows = chart.current(rows)
        if is_active is not None:
            rows = [r for r in rows if model.is_active(r) == is_active]
        return paging(rows, key=chart.by_date("recordedDate"), rid=lambda r: r["id"], node=model.from_fhir,
                      descending=True)

    return when_loaded(info.context.loaders.allergies_by_patient, str(root.id), page)


def _check(f: dict[str, Any], *, creating: bool) -> None:
    if (creating and not f.get("allergy_definition_id") or "allergen" in f) and not (f.get("allergen") or "").strip():
        raise Invalid("allergen or allergyDefinitionId is required" if creating else "allergen cannot be cleared",
                      field="input.allergen")
    if f.get("severity") and f["severity"] not in model.SEVERITIES:
        raise Invalid("severity must be mild, moderate or severe", field="input.severity")
    if f.get("category") and f["category"] not in model.CATEGORIES:
        raise Invalid("category must be food, medication, environment or biologic", field="input.category")
    if "is_active" in f and f["is_active"] is None:
        raise Invalid("isActive cannot be cleared", field="input.isActive")
    check_date(f.get("date_adverse_reaction"), "date_adverse_reaction")


async def record_allergy(ctx: Scope, pid: str, f: dict[str, Any], idempotency_key: str | None = None
                         ) -> model.Allergy:
    """Record an allergy, of an allergy definition (its name and code) or free text; the answer carries its
    interactions with the patient's current medications."""
    f = {"is_active": True, **{k: v for k, v in f.items() if v is not None}}
    _check(f, creating=True)

    async def create() -> model.Allergy:
        subject = await chart.patient_reference(ctx, pid)
        fields = await catalog.with_definition(ctx, ALLERGY_KIND, f)
        res = model.apply_fields({"resourceType": RT, "patient": subject, "recordedDate": now_seconds()}, fields)
        return await _with_warnings(ctx, pid, await chart.create(ctx, res))

    return await chart.once(ctx, "recordAllergy", RT, pid, idempotency_key, f, create,
                            lambda res: _with_warnings(ctx, pid, res))


async def _with_warnings(ctx: Scope, pid: str, written: dict[str, Any]) -> model.Allergy:
    found = model.from_fhir(written)
    meds = chart.current(await ctx.loaders.medications_by_patient.load(str(pid)))
    found.interaction_warnings = drug_allergy.warnings([written], meds)
    return found


async def update_allergy(ctx: Scope, pid: str, rid: str, base_version: int, f: dict[str, Any]) -> model.Allergy:
    """PATCH an allergy: only the fields sent change; ``base_version`` must be the current version. Naming
    another allergy definition rewrites the allergen (and its category, unless sent)."""
    _check(f, creating=False)
    res = await chart.record_of(ctx, RT, pid, rid)
    f = await catalog.with_definition(ctx, ALLERGY_KIND, f, model.from_fhir(res).allergy_definition_id)
    return model.from_fhir(await chart.save(ctx, model.apply_fields(res, f), base_version))


async def archive_allergy(ctx: Scope, pid: str, rid: str, base_version: int | None) -> model.Allergy:
    """Soft-delete an allergy: it leaves the lists and the medical summary."""
    res = await chart.record_of(ctx, RT, pid, rid)
    return model.from_fhir(await chart.archive(ctx, res, base_version))
