"""One set of vital signs computed from a FHIR Observation (LOINC 85353-1 panel with components), with its
abnormal flags (store/vitals.py decides them)."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.common import opt_id
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


@dataclass(eq=False, kw_only=True)
class AbnormalFlag:
    vital: str
    message: str
    severity: FlagSeverity


@dataclass(eq=False, kw_only=True)
class VitalSigns:
    id: strawberry.ID
    version: int
    date_taken: str | None
    time_taken: str | None
    bp_systolic: float | None
    bp_diastolic: float | None
    pulse: float | None
    temperature_f: float | None
    respiration_rate: float | None
    oxygen_saturation: float | None
    height_inches: float | None
    weight_lbs: float | None
    bmi: float | None
    note: str | None
    abnormal_flags: list[AbnormalFlag]
    is_procedure_blocking: bool = strawberry.field(
        description="A vital sign is in a critical range that blocks procedures until provider review.")
    provider_id: strawberry.ID | None


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
