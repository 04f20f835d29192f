"""One set of vital signs computed from a FHIR Observation (LOINC 85353-1 panel with components), with its
abnormal flags (store/vitals.py decides them)."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.common import ID_DESCRIPTION, VERSION_DESCRIPTION, enum_type, opt_id
from store.fhirjson import code_of, date_part, ext, ref_id, version
from store.naming import LOINC, VITAL_CODES, VITALS_PANEL

BY_LOINC = {v: k for k, v in VITAL_CODES.items()}
LABEL = {"bp_systolic": "Systolic BP", "bp_diastolic": "Diastolic BP", "pulse": "Pulse",
         "temperature_f": "Temperature", "respiration_rate": "Respiration rate",
         "oxygen_saturation": "Oxygen saturation", "height_inches": "Height", "weight_lbs": "Weight", "bmi": "BMI"}
UNIT = {"bp_systolic": "mm[Hg]", "bp_diastolic": "mm[Hg]", "pulse": "/min", "temperature_f": "[degF]",
        "respiration_rate": "/min", "oxygen_saturation": "%", "height_inches": "[in_i]", "weight_lbs": "[lb_av]",
        "bmi": "kg/m2"}


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
    date_taken: str | None = strawberry.field(description="Date of the reading, YYYY-MM-DD.")
    time_taken: str | None = strawberry.field(
        description="Time of the reading, HH:MM (24 h, clinic time); null when not recorded.")
    bp_systolic: float | None = strawberry.field(description="Systolic blood pressure, mmHg.")
    bp_diastolic: float | None = strawberry.field(description="Diastolic blood pressure, mmHg.")
    pulse: float | None = strawberry.field(description="Heart rate, beats per minute.")
    temperature_f: float | None = strawberry.field(description="Body temperature, °F.")
    respiration_rate: float | None = strawberry.field(description="Respiratory rate, breaths per minute.")
    oxygen_saturation: float | None = strawberry.field(description="Oxygen saturation (SpO2), percent.")
    height_inches: float | None = strawberry.field(description="Body height, inches.")
    weight_lbs: float | None = strawberry.field(description="Body weight, pounds.")
    bmi: float | None = strawberry.field(description="Body mass index, kg/m².")
    note: str | None = strawberry.field(description="Free-text note on the reading.")
    abnormal_flags: list[AbnormalFlag] = strawberry.field(
        description="The values outside their normal range, one flag each (empty when all normal).")
    is_procedure_blocking: bool = strawberry.field(
        description="A vital sign is in a critical range that blocks procedures until provider review.")
    provider_id: strawberry.ID | None = strawberry.field(description="Id of the practitioner who took the reading.")


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
        weight_lbs=values.get("weight_lbs"), bmi=values.get("bmi"),
        note=next((n.get("text") for n in res.get("note") or () if n.get("text")), None),
        abnormal_flags=flags,
        is_procedure_blocking=bool(blocking) if blocking is not None else any(
            f.severity is FlagSeverity.CRITICAL for f in flags),
        provider_id=opt_id(next((ref_id(p, "Practitioner") for p in res.get("performer") or ()
                                 if ref_id(p, "Practitioner")), None)),
    )
