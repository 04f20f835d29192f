"""Medications: a patient's list, recording one (with its drug–allergy warnings), updating, discontinuing and
archiving it (records and their FHIR mapping: resolvers/model/medication.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from resolvers import chart, drug_allergy
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, when_loaded
from resolvers.model import medication as model
from resolvers.model.patient import Patient
from resolvers.pagination import Connection, resolve_connection
from store.clock import now_seconds
from store.errors import Invalid, InvalidTransition

RT = "MedicationStatement"


def patient_medications(root: Patient, info: Info, is_active: bool | None = None, first: int | None = None,
                        after: str | None = None) -> Soon[Connection[model.Medication]]:
    def page(rows: list[dict[str, Any]]) -> Connection[model.Medication]:
        rows = chart.current(rows)
        if is_active is not None:
            rows = [r for r in rows if (r.get("status") == "active") == is_active]
        return resolve_connection(rows, key=lambda r: str((r.get("effectivePeriod") or {}).get("start") or ""),
                                  rid=lambda r: r["id"], node=model.from_fhir, first=first, after=after,
                                  descending=True)

    return when_loaded(info.context.loaders.medications_by_patient, str(root.id), page)


def _check(f: dict[str, Any]) -> None:
    status = f.get("status")
    if "status" in f and (status is None or status not in model.STATUS_IN):
        raise Invalid("status must be active, discontinued, on_hold or completed", field="input.status")
    start, stop = f.get("date_start"), f.get("date_stop")
    if start and stop and stop < start:
        raise Invalid("dateStop is before dateStart", field="input.dateStop")


async def record_medication(ctx: Scope, pid: str, f: dict[str, Any], idempotency_key: str | None = None
                            ) -> model.Medication:
    """Record a medication; the answer carries its interactions with the patient's active allergies."""
    if not f.get("name") and not f.get("rx_cui"):
        raise Invalid("A medication needs a name or an RxNorm code", field="input.name")
    f = {"status": "active", **{k: v for k, v in f.items() if v is not None}}
    _check(f)

    async def create() -> model.Medication:
        subject, _ = await asyncio.gather(chart.patient_reference(ctx, pid),
                                          chart.provider_exists(ctx, f.get("provider_id")))
        res = model.apply_fields({"resourceType": RT, "subject": subject, "dateAsserted": now_seconds()}, f)
        return await _with_warnings(ctx, pid, await chart.create(ctx, res))

    return await chart.once(ctx, "recordMedication", RT, pid, idempotency_key, f, create,
                            lambda res: _with_warnings(ctx, pid, res))


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
    period = res.get("effectivePeriod") or {}
    _check({"date_start": f.get("date_start", period.get("start")), "date_stop": f.get("date_stop", period.get("end"))})
    return model.from_fhir(await chart.save(ctx, model.apply_fields(res, f), base_version))


async def discontinue_medication(ctx: Scope, pid: str, rid: str, base_version: int, reason: str,
                                 date_stop: str | None) -> model.Medication:
    """Stop an active or on-hold medication, with the reason; it moves to the past medications."""
    if not reason.strip():
        raise Invalid("A reason is required to discontinue a medication", field="reason")
    res = await chart.record_of(ctx, RT, pid, rid)
    if res.get("status") not in ("active", "on-hold", "intended"):
        was = model.STATUS_OUT.get(res.get("status", ""), res.get("status"))
        raise InvalidTransition(f"The medication is {was}, not active or on hold", current=was,
                                target="discontinued")
    stop = date_stop or now_seconds()[:10]
    if stop < str((res.get("effectivePeriod") or {}).get("start") or "")[:10]:
        raise Invalid("dateStop is before the medication's dateStart", field="dateStop")
    model.apply_fields(res, {"status": "discontinued", "discontinuation_reason": reason.strip(), "date_stop": stop})
    return model.from_fhir(await chart.save(ctx, res, base_version))


async def archive_medication(ctx: Scope, pid: str, rid: str, base_version: int | None) -> model.Medication:
    """Soft-delete a medication: it leaves the lists and the medical summary."""
    res = await chart.record_of(ctx, RT, pid, rid)
    return model.from_fhir(await chart.archive(ctx, res, base_version))
