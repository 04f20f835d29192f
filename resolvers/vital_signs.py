"""Vital signs: a patient's sets and recording a new one, flagged on write by store/vitals.py (records:
resolvers/model/vital_signs.py)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from resolvers import chart
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, when_loaded
from resolvers.model import vital_signs as model
from resolvers.model.patient import Patient
from resolvers.pagination import After, Connection, First, resolve_connection
from store.errors import Invalid
from store.fhirjson import concept
from store.naming import LOINC, OBS_CATEGORY, V3_INTERPRETATION, VITAL_CODES, VITALS_PANEL
from store.vitals import interpret


def patient_vital_signs(
    root: Patient,
    info: Info,
    date_from: Annotated[str | None, strawberry.argument(
        description="Taken on or after this date, YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, strawberry.argument(description="Taken on or before this date, YYYY-MM-DD.")] = None,
    first: First = None,
    after: After = None,
) -> Soon[Connection[model.VitalSigns]]:
    def page(observations: list[dict[str, Any]]) -> Connection[model.VitalSigns]:
        rows = [r for r in observations if model.is_vitals(r)]
        if date_from or date_to:
            rows = [r for r in rows if (not date_from or str(r.get("effectiveDateTime") or "")[:10] >= date_from)
                    and (not date_to or str(r.get("effectiveDateTime") or "")[:10] <= date_to)]
        return resolve_connection(rows, key=chart.by_date("effectiveDateTime"), rid=lambda r: r["id"],
                                  node=model.from_fhir, first=first, after=after, descending=True)

    return when_loaded(info.context.loaders.observations_by_patient, str(root.id), page)


async def record_vital_signs(ctx: Scope, pid: str, f: dict[str, Any]) -> model.VitalSigns:
    """Record one set of vital signs; abnormal flags are computed on write."""
    subject = await chart.patient_reference(ctx, pid)
    comps = []
    for key, loinc in VITAL_CODES.items():
        value = f.get(key)
        if value is None:
            continue
        if value < 0:
            raise Invalid(f"{key} must not be negative", field=key)
        unit = model.UNIT[key]
        comp: dict[str, Any] = {"code": concept(LOINC, loinc, model.LABEL[key], model.LABEL[key]),
                                "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                                                  "code": unit}}
        flag = interpret(key, float(value))
        if flag:
            comp["interpretation"] = [concept(V3_INTERPRETATION, flag)]
        comps.append(comp)
    if not comps:
        raise Invalid("Record at least one vital sign")
    time_taken = f.get("time_taken")
    when = f["date_taken"] + (f"T{time_taken}" if time_taken else "")
    if time_taken and len(time_taken) == 5:
        when += ":00"
    res: dict[str, Any] = {
        "resourceType": "Observation", "status": "final",
        "category": [concept(OBS_CATEGORY, "vital-signs", "Vital Signs", "Vital Signs")],
        "code": concept(LOINC, VITALS_PANEL, "Vital signs panel", "Vital signs panel"), "subject": subject,
        "effectiveDateTime": when + ("Z" if time_taken else ""), "component": comps,
    }
    if f.get("provider_id"):
        res["performer"] = [{"reference": f"Practitioner/{f['provider_id']}"}]
    if f.get("note"):
        res["note"] = [{"text": f["note"]}]
    return model.from_fhir(await chart.create(ctx, res))
