from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum
class FlagSeverity(Enum):
    WARNING = "warning"
    CRITICAL = "critical"


@strawberry.type(description="One out-of-range vital sign.")
class AbnormalFlag:
    vital: str
    message: str
    severity: FlagSeverity


@strawberry.type(description="One set of vital signs (FHIR Observation, LOINC 85353-1 panel).")
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
