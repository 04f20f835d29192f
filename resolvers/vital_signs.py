"""Vital signs: a patient's sets, one set by id, recording, updating (flags recomputed) and archiving one
(records, their FHIR mapping and flags: resolvers/model/vital_signs.py, store/vitals.py)."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

import strawberry

from resolvers import chart
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, when_loaded
from resolvers.model import vital_signs as model
from resolvers.model.common import camel, check_date, check_dates
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
from store.errors import Invalid, NotFound
from store.fhirjson import extension
from store.naming import VITAL_CODES

RT = "Observation"
TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?")
PERCENT = ("oxygen_saturation", "bmi_percentile")
# The seed's integer vital signs (the GraphQL inputs are Float: a whole number is checked here).
INTEGER = ("bp_systolic", "bp_diastolic", "pulse", "oxygen_saturation", "respiration_rate", "bmi_percentile")


DateFrom = Annotated[str | None, strawberry.argument(description="Taken on or after this date, YYYY-MM-DD.")]
DateTo = Annotated[str | None, strawberry.argument(description="Taken on or before this date, YYYY-MM-DD.")]


def patient_vital_signs(root: Patient, info: Info, date_from: DateFrom = None, date_to: DateTo = None,
                        first: First = None, after: After = None) -> Soon[Connection[model.VitalSigns]]:
    return _vital_signs(root, info, date_from, date_to, Relay(first, after))


def patient_vital_signs_page(root: Patient, info: Info, date_from: DateFrom = None, date_to: DateTo = None,
                             page: PageNumber = 1, page_size: PageSize = DEFAULT_PAGE_SIZE
                             ) -> Soon[NumberedPage[model.VitalSigns]]:
    return _vital_signs(root, info, date_from, date_to, numbered(info.context, page, page_size))


def _vital_signs(root: Patient, info: Info, date_from: str | None, date_to: str | None,
                 paging: Paging[Out]) -> Soon[Out]:
    """The patient's vital signs, newest first."""
    check_dates(date_from=date_from, date_to=date_to)

    def page(observations: list[dict[str, Any]]) -> Out:
        rows = [r for r in chart.current(observations) if model.is_vitals(r)]
        if date_from or date_to:
            rows = [r for r in rows if (not date_from or str(r.get("effectiveDateTime") or "")[:10] >= date_from)
                    and (not date_to or str(r.get("effectiveDateTime") or "")[:10] <= date_to)]
        return paging(rows, key=chart.by_date("effectiveDateTime"), rid=lambda r: r["id"], node=model.from_fhir,
                      descending=True)

    return when_loaded(info.context.loaders.observations_by_patient, str(root.id), page)


def latest_vitals_date(root: Patient, info: Info) -> Soon[str | None]:
    """The date of the patient's most recent vital signs, from the same batched load as their list."""
    def latest(observations: list[dict[str, Any]]) -> str | None:
        return max((str(r.get("effectiveDateTime"))[:10] for r in chart.current(observations)
                    if model.is_vitals(r) and r.get("effectiveDateTime")), default=None)

    return when_loaded(info.context.loaders.observations_by_patient, str(root.id), latest)


def _check(f: dict[str, Any], *, creating: bool) -> None:
    if (creating or "date_taken" in f) and not f.get("date_taken"):
        raise Invalid("dateTaken is required, a date written YYYY-MM-DD", field="input.dateTaken")
    check_date(f.get("date_taken"), "date_taken")
    if f.get("time_taken") and not TIME.fullmatch(f["time_taken"]):
        raise Invalid("timeTaken must be a time of day (HH:MM or HH:MM:SS)", field="input.timeTaken")
    for key in VITAL_CODES:
        value = f.get(key)
        if value is None:
            continue
        if value < 0:
            raise Invalid(f"{camel(key)} must not be negative", field=f"input.{camel(key)}")
        if key in PERCENT and value > 100:
            raise Invalid(f"{camel(key)} is a percentage (0–100)", field=f"input.{camel(key)}")
        if key in INTEGER:
            if value != int(value):
                raise Invalid(f"{camel(key)} must be a whole number", field=f"input.{camel(key)}")
            f[key] = int(value)  # stored as the integer it is


async def _vitals_of(ctx: Scope, pid: str, rid: str) -> dict[str, Any]:
    res = await chart.record_of(ctx, RT, pid, rid)
    if not model.is_vitals(res):
        raise NotFound(f"Vital signs record {rid} not found", field="id")
    return res


async def get_vital_signs(ctx: Scope, pid: str, rid: str) -> model.VitalSigns:
    """One set of the patient's vital signs; ``NotFound`` when the patient or the record is missing."""
    return model.from_fhir(await _vitals_of(ctx, pid, rid))


async def record_vital_signs(ctx: Scope, pid: str, f: dict[str, Any], idempotency_key: str | None = None
                             ) -> model.VitalSigns:
    """Record one set of vital signs; abnormal flags are computed on write."""
    f = {k: v for k, v in f.items() if v is not None}
    _check(f, creating=True)
    if not VITAL_CODES.keys() & f.keys():
        raise Invalid("Record at least one vital sign", field="input")

    async def create() -> model.VitalSigns:
        subject, _ = await asyncio.gather(chart.patient_reference(ctx, pid),
                                          chart.provider_exists(ctx, f.get("provider_id")))
        who = extension("vitals-recorder", "valueReference", chart.recorder(ctx))
        res = model.apply_fields({"resourceType": RT, "status": "final", "subject": subject, "extension": [who]}, f)
        return model.from_fhir(await chart.create(ctx, res))

    return await chart.once(ctx, "recordVitalSigns", RT, pid, idempotency_key, f, create, model.from_fhir)


async def update_vital_signs(ctx: Scope, pid: str, rid: str, base_version: int,
                             f: dict[str, Any]) -> model.VitalSigns:
    """PATCH a set of vital signs: only the fields sent change, the flags are computed again;
    ``base_version`` must be the current version."""
    _check(f, creating=False)
    res, _ = await asyncio.gather(_vitals_of(ctx, pid, rid), chart.provider_exists(ctx, f.get("provider_id")))
    if not any(v is not None for v in {**model.values_of(res), **{k: f[k] for k in VITAL_CODES if k in f}}.values()):
        raise Invalid("A vital signs record keeps at least one vital sign")
    if res.get("status") == "final":
        res["status"] = "amended"  # FHIR: a final observation changed after the fact
    return model.from_fhir(await chart.save(ctx, model.apply_fields(res, f), base_version))


async def archive_vital_signs(ctx: Scope, pid: str, rid: str, base_version: int | None) -> model.VitalSigns:
    """Soft-delete a set of vital signs: it leaves the history and the medical summary."""
    res = await _vitals_of(ctx, pid, rid)
    return model.from_fhir(await chart.archive(ctx, res, base_version))
