"""One set of vital signs computed from a FHIR Observation (LOINC 85353-1 panel with components), with its
abnormal flags (store/vitals.py decides them)."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.common import (
    ID_DESCRIPTION,
    VERSION_DESCRIPTION,
    created_at,
    deleted_at,
    enum_type,
    opt_id,
    put,
    updated_at,
)
from store.fhirjson import code_of, concept, date_part, ext, ref_id, set_ext, version
from store.naming import LOINC, OBS_CATEGORY, V3_INTERPRETATION, VITAL_CODES, VITALS_PANEL
from store.vitals import interpret

BY_LOINC = {v: k for k, v in VITAL_CODES.items()}
LABEL = {"bp_systolic": "Systolic BP", "bp_diastolic": "Diastolic BP", "pulse": "Pulse",
         "temperature_f": "Temperature", "respiration_rate": "Respiration rate",
         "oxygen_saturation": "Oxygen saturation", "height_inches": "Height", "weight_lbs": "Weight", "bmi": "BMI",
         "bmi_percentile": "BMI percentile"}
UNIT = {"bp_systolic": "mm[Hg]", "bp_diastolic": "mm[Hg]", "pulse": "/min", "temperature_f": "[degF]",
        "respiration_rate": "/min", "oxygen_saturation": "%", "height_inches": "[in_i]", "weight_lbs": "[lb_av]",
        "bmi": "kg/m2", "bmi_percentile": "%"}


class FlagSeverity(Enum):
    WARNING = "warning"
    CRITICAL = "critical"


enum_type(FlagSeverity, description="How far a vital sign is out of its normal range.", values={
    FlagSeverity.WARNING: "Outside the normal range.",
    FlagSeverity.CRITICAL: "In a critical range: procedures are blocked until a provider reviews it.",
})


@dataclass(eq=False, kw_only=True)
class AbnormalFlag:
    vital: str = strawberry.field(description="Which vital sign, by its field name (e.g. bpSystolic).")
    message: str = strawberry.field(description="What is abnormal, for display (e.g. Systolic BP 182 mmHg is high).")
    severity: FlagSeverity = strawberry.field(description="How far out of range.")


@dataclass(eq=False, kw_only=True)
class VitalSigns:
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    version: int = strawberry.field(description=VERSION_DESCRIPTION)
    patient_id: strawberry.ID | None = strawberry.field(description="The patient these vital signs were taken of.")
    date_taken: str | None = strawberry.field(description="Date of the reading, YYYY-MM-DD.")
    time_taken: str | None = strawberry.field(
        description="Time of the reading, HH:MM:SS (24 h, UTC); null when not recorded.")
    bp_systolic: float | None = strawberry.field(description="Systolic blood pressure, mmHg.")
    bp_diastolic: float | None = strawberry.field(description="Diastolic blood pressure, mmHg.")
    pulse: float | None = strawberry.field(description="Heart rate, beats per minute.")
    temperature_f: float | None = strawberry.field(description="Body temperature, °F.")
    respiration_rate: float | None = strawberry.field(description="Respiratory rate, breaths per minute.")
    oxygen_saturation: float | None = strawberry.field(description="Oxygen saturation (SpO2), percent.")
    height_inches: float | None = strawberry.field(description="Body height, inches.")
    weight_lbs: float | None = strawberry.field(description="Body weight, pounds.")
    weight_code: str | None = strawberry.field(
        description="The practice's code qualifying the weight reading, as recorded; null when none.")
    bmi: float | None = strawberry.field(description="Body mass index, kg/m².")
    bmi_percentile: float | None = strawberry.field(
        description="BMI percentile for age and sex (0–100), for children and teenagers.")
    has_followup_plan: bool = strawberry.field(
        description="An abnormal vital signs follow-up plan has been created.")
    note: str | None = strawberry.field(description="Free-text note on the reading.")
    abnormal_flags: list[AbnormalFlag] = strawberry.field(
        description="The values outside their normal range, one flag each (empty when all normal).")
    is_procedure_blocking: bool = strawberry.field(
        description="A vital sign is in a critical range that blocks procedures until provider review.")
    provider_id: strawberry.ID | None = strawberry.field(description="Id of the practitioner who took the reading.")
    created_at: str | None = strawberry.field(description="When the record was first written (ISO 8601 instant, UTC).")
    updated_at: str | None = strawberry.field(
        description="When this version was written (ISO 8601 instant, UTC).")
    deleted_at: str | None = strawberry.field(
        description="When the record was archived (ISO 8601 date-time); null while it is on the chart.")
    # Who recorded it (EXT["vitals-recorder"], resolvers/chart.py ``recorder``); the GraphQL type resolves it
    # to ``createdBy { id name }`` (resolvers/chart.py ``created_by``).
    recorded_by: strawberry.Private[dict[str, Any] | None] = None


def is_vitals(res: dict[str, Any]) -> bool:
    return code_of(res.get("code"), LOINC) == VITALS_PANEL or any(
        code_of(c) == "vital-signs" for c in res.get("category") or ())


def from_fhir(res: dict[str, Any]) -> VitalSigns:
    values: dict[str, float] = {}
    flags: list[AbnormalFlag] = []
    comps = res.get("component") or []
    if not comps and "valueQuantity" in res:  # a single-value vital sign observation
        comps = [{"code": res.get("code"), "valueQuantity": res["valueQuantity"],
                  "interpretation": res.get("interpretation")}]
    for comp in comps:
        key = BY_LOINC.get(code_of(comp.get("code"), LOINC) or "")
        value = (comp.get("valueQuantity") or {}).get("value")
        if key is None or not isinstance(value, int | float):
            continue
        values[key] = value
        flag = next((code_of(i) for i in comp.get("interpretation") or ()), None)
        if flag in ("H", "L", "HH", "LL"):
            critical = flag in ("HH", "LL")
            flags.append(AbnormalFlag(
                vital=key, severity=FlagSeverity.CRITICAL if critical else FlagSeverity.WARNING,
                message=f"{LABEL[key]} {value:g} is {'critically ' if critical else ''}"
                        f"{'high' if flag.startswith('H') else 'low'}"))
    when = res.get("effectiveDateTime") or ""
    blocking = ext(res, "procedure-blocking")
    return VitalSigns(
        id=res["id"], version=version(res), date_taken=date_part(when), time_taken=when[11:19] or None,
        bp_systolic=values.get("bp_systolic"), bp_diastolic=values.get("bp_diastolic"), pulse=values.get("pulse"),
        temperature_f=values.get("temperature_f"), respiration_rate=values.get("respiration_rate"),
        oxygen_saturation=values.get("oxygen_saturation"), height_inches=values.get("height_inches"),
        weight_lbs=values.get("weight_lbs"), weight_code=ext(res, "vitals-weight-code"), bmi=values.get("bmi"),
        bmi_percentile=values.get("bmi_percentile"),
        has_followup_plan=ext(res, "vitals-followup-plan") is True,
        patient_id=opt_id(ref_id(res.get("subject"), "Patient")), created_at=created_at(res),
        updated_at=updated_at(res), deleted_at=deleted_at(res),
        note=next((n.get("text") for n in res.get("note") or () if n.get("text")), None),
        abnormal_flags=flags,
        is_procedure_blocking=bool(blocking) if blocking is not None else any(
            f.severity is FlagSeverity.CRITICAL for f in flags),
        provider_id=opt_id(next((ref_id(p, "Practitioner") for p in res.get("performer") or ()
                                 if ref_id(p, "Practitioner")), None)),
        recorded_by=recorder if isinstance(recorder := ext(res, "vitals-recorder"), dict) else None,
    )


def values_of(res: dict[str, Any]) -> dict[str, float]:
    """The measured values of a vital signs Observation by key (``VITAL_CODES``)."""
    record = from_fhir({"id": "", **res})
    return {k: getattr(record, k) for k in VITAL_CODES if getattr(record, k) is not None}


def apply_fields(res: dict[str, Any], f: dict[str, Any]) -> dict[str, Any]:
    """Write the mutation fields present in ``f`` onto the vital signs Observation ``res`` (create: an empty
    one; update: the stored one, PATCH semantics). The values become the panel's components, each flagged
    (``interpretation``) by store/vitals.py; components of codes not listed in ``VITAL_CODES`` are kept."""
    if VITAL_CODES.keys() & f.keys():
        values = {**values_of(res), **{k: f[k] for k in VITAL_CODES if k in f}}
        height, weight = values.get("height_inches"), values.get("weight_lbs")
        if "bmi" not in f and {"height_inches", "weight_lbs"} & f.keys() and height and weight:
            values["bmi"] = round(703 * weight / (height * height), 1)  # the CDC's formula in pounds and inches
        known = set(VITAL_CODES.values())
        kept = [c for c in res.get("component") or () if code_of(c.get("code"), LOINC) not in known]
        put(res, "component", [*(_component(k, v) for k, v in values.items() if v is not None), *kept])
        res.pop("valueQuantity", None)  # a single-value observation becomes a panel
        res["code"] = concept(LOINC, VITALS_PANEL, "Vital signs panel", "Vital signs panel")
        res["category"] = [concept(OBS_CATEGORY, "vital-signs", "Vital Signs", "Vital Signs")]
    if {"date_taken", "time_taken"} & f.keys():
        when = str(res.get("effectiveDateTime") or "")
        day = f.get("date_taken") or when[:10]
        time_taken = f.get("time_taken", when[11:19] or None)
        if time_taken and len(time_taken) == 5:
            time_taken += ":00"
        res["effectiveDateTime"] = f"{day}T{time_taken}Z" if time_taken else day
    if "provider_id" in f:
        put(res, "performer", [{"reference": f"Practitioner/{f['provider_id']}"}] if f["provider_id"] else None)
    if "note" in f:
        put(res, "note", [{"text": f["note"]}] if f["note"] else None)
    if "weight_code" in f:
        set_ext(res, "vitals-weight-code", "valueString", (f["weight_code"] or "").strip() or None)
    if "has_followup_plan" in f:
        set_ext(res, "vitals-followup-plan", "valueBoolean", True if f["has_followup_plan"] else None)
    return res


def _component(key: str, value: float) -> dict[str, Any]:  # value as sent: an int stays an int
    unit = UNIT[key]
    comp: dict[str, Any] = {"code": concept(LOINC, VITAL_CODES[key], LABEL[key], LABEL[key]),
                            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                                              "code": unit}}
    flag = interpret(key, float(value))
    if flag:
        comp["interpretation"] = [concept(V3_INTERPRETATION, flag)]
    return comp
