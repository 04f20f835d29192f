"""Medications: a patient's list, recording one (with its drug–allergy warnings), updating, discontinuing and
archiving it (records and their FHIR mapping: resolvers/model/medication.py)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

import strawberry

from resolvers import catalog, chart, drug_allergy
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, when_loaded
from resolvers.model import medication as model
from resolvers.model.catalog import MEDICATION_KIND
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
from store.errors import Invalid, InvalidTransition, NotFound
from store.transactions import Entry, Outcome

RT = "MedicationStatement"


IsActive = Annotated[bool | None, strawberry.argument(
    description="true: current medications only; false: past ones only.")]


def patient_medications(root: Patient, info: Info, is_active: IsActive = None, first: First = None,
                        after: After = None) -> Soon[Connection[model.Medication]]:
    return _medications(root, info, is_active, Relay(first, after))


def patient_medication_page(root: Patient, info: Info, is_active: IsActive = None, page: PageNumber = 1,
                            page_size: PageSize = DEFAULT_PAGE_SIZE) -> Soon[NumberedPage[model.Medication]]:
    return _medications(root, info, is_active, numbered(info.context, page, page_size))


def _medications(root: Patient, info: Info, is_active: bool | None, paging: Paging[Out]) -> Soon[Out]:
    """The patient's medication list, the latest started first."""
    def page(rows: list[dict[str, Any]]) -> Out:
        rows = chart.current(rows)
        if is_active is not None:
            rows = [r for r in rows if (r.get("status") == "active") == is_active]
        return paging(rows, key=lambda r: str((r.get("effectivePeriod") or {}).get("start") or ""),
                      rid=lambda r: r["id"], node=model.from_fhir, descending=True)

    return when_loaded(info.context.loaders.medications_by_patient, str(root.id), page)


def _check(f: dict[str, Any]) -> None:
    status = f.get("status")
    if "status" in f and (status is None or status not in model.STATUS_IN):
        raise Invalid("status must be active, discontinued, on_hold or completed", field="input.status")
    for key in ("date_start", "date_stop"):
        check_date(f.get(key), key)
    _check_order(f.get("date_start"), f.get("date_stop"))


def _check_order(start: str | None, stop: str | None) -> None:
    if start and stop and stop[:10] < start[:10]:
        raise Invalid("dateStop is before dateStart", field="input.dateStop")


async def record_medication(ctx: Scope, pid: str, f: dict[str, Any], idempotency_key: str | None = None
                            ) -> model.Medication:
    """Record a medication, of a medication definition (its name and RxNorm code) or free text; the answer
    carries its interactions with the patient's active allergies."""
    # seed 003: linked to a medication definition, free text (med_descript) the fallback; an RXCUI is tracked
    # beside either, never shown as the name
    if not f.get("name") and not f.get("medication_definition_id"):
        raise Invalid("A medication needs a medicationDefinitionId or a name", field="input.name")
    f = {"status": "active", **{k: v for k, v in f.items() if v is not None}}
    _check(f)

    async def create() -> model.Medication:
        subject, _ = await asyncio.gather(chart.patient_reference(ctx, pid),
                                          chart.provider_exists(ctx, f.get("provider_id")))
        fields = await catalog.with_definition(ctx, MEDICATION_KIND, f)
        res = model.apply_fields({"resourceType": RT, "subject": subject, "dateAsserted": now_seconds()}, fields)
        written = await _create_with_order(ctx, res) if f.get("is_cpoe") else await chart.create(ctx, res)
        return await _with_warnings(ctx, pid, written)

    return await chart.once(ctx, "recordMedication", RT, pid, idempotency_key, f, create,
                            lambda res: _with_warnings(ctx, pid, res))


async def _create_with_order(ctx: Scope, res: dict[str, Any]) -> dict[str, Any]:
    """A CPOE entry: its order (MedicationRequest) and the MedicationStatement based on it, in one transaction."""
    url = f"urn:uuid:{uuid.uuid4()}"
    order = model.order_of(res)
    res = {**res, "basedOn": [{"reference": url}]}
    outcomes = await ctx.repo.transaction(ctx.who, [Entry(0, "POST", "MedicationRequest", resource=order, full_url=url),
                                                    Entry(1, "POST", RT, resource=res)])
    return _written(ctx, outcomes[1])


async def _save(ctx: Scope, res: dict[str, Any], base_version: int | None) -> dict[str, Any]:
    """Write a new version of a medication; a CPOE entry's order gets the same status (and reason) in the same
    transaction."""
    oid = model.order_id(res)
    order = await ctx.loaders.medication_orders_by_id.load(oid) if oid else None
    want = model.ORDER_STATUS.get(res.get("status", ""))
    reason = model.order_reason(res)
    if order is None or want is None or (order.get("status") == want and order.get("statusReason") == reason):
        return await chart.save(ctx, res, base_version)
    order = {**order, "status": want}
    if reason:
        order["statusReason"] = reason
    outcomes = await ctx.repo.transaction(ctx.who, [
        Entry(0, "PUT", "MedicationRequest", rid=order["id"], resource=order),
        Entry(1, "PUT", RT, rid=res["id"], resource=res,
              if_match=str(base_version) if base_version is not None else None)])
    return _written(ctx, outcomes[1])


def _written(ctx: Scope, outcome: Outcome) -> dict[str, Any]:
    if outcome.result is None:  # a create or an update always answers its resource
        raise NotFound("The medication was not written")
    chart.forget(ctx, outcome.result.resource)
    return outcome.result.resource


async def _with_warnings(ctx: Scope, pid: str, written: dict[str, Any]) -> model.Medication:
    found = model.from_fhir(written)
    allergies = chart.current(await ctx.loaders.allergies_by_patient.load(str(pid)))
    found.interaction_warnings = drug_allergy.warnings(allergies, [written])
    return found


async def update_medication(ctx: Scope, pid: str, rid: str, base_version: int,
                            f: dict[str, Any]) -> model.Medication:
    """PATCH a medication: only the fields sent change; ``base_version`` must be the current version."""
    _check(f)
    if ("name" in f or "rx_cui" in f) and not f.get("name") and not f.get("rx_cui"):
        raise Invalid("A medication needs a name or an RxNorm code", field="input.name")
    res, _ = await asyncio.gather(chart.record_of(ctx, RT, pid, rid), chart.provider_exists(ctx, f.get("provider_id")))
    f = await catalog.with_definition(ctx, MEDICATION_KIND, f, model.from_fhir(res).medication_definition_id)
    period = res.get("effectivePeriod") or {}
    _check_order(f.get("date_start", period.get("start")), f.get("date_stop", period.get("end")))
    return model.from_fhir(await _save(ctx, model.apply_fields(res, f), base_version))


async def discontinue_medication(ctx: Scope, pid: str, rid: str, base_version: int, reason: str,
                                 date_stop: str | None) -> model.Medication:
    """Stop an active or on-hold medication, with the reason; it moves to the past medications."""
    if not reason.strip():
        raise Invalid("A reason is required to discontinue a medication", field="reason")
    check_date(date_stop, "date_stop", "")
    res = await chart.record_of(ctx, RT, pid, rid)
    if res.get("status") not in ("active", "on-hold", "intended"):
        was = model.STATUS_OUT.get(res.get("status", ""), res.get("status"))
        raise InvalidTransition(f"The medication is {was}, not active or on hold", current=was,
                                target="discontinued")
    stop = date_stop or now_seconds()[:10]
    if stop < str((res.get("effectivePeriod") or {}).get("start") or "")[:10]:
        raise Invalid("dateStop is before the medication's dateStart", field="dateStop")
    model.apply_fields(res, {"status": "discontinued", "discontinuation_reason": reason.strip(), "date_stop": stop})
    return model.from_fhir(await _save(ctx, res, base_version))


async def archive_medication(ctx: Scope, pid: str, rid: str, base_version: int | None) -> model.Medication:
    """Soft-delete a medication: it leaves the lists and the medical summary."""
    res = await chart.record_of(ctx, RT, pid, rid)
    return model.from_fhir(await chart.archive(ctx, res, base_version))
