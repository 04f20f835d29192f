"""The medication-list entry computed from a FHIR MedicationStatement."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from typing import Any

import strawberry

from store.fhirjson import code_of, date_part, text_of, version
from store.naming import RXNORM

STATUS_OUT = {"stopped": "discontinued", "on-hold": "on_hold"}
STATUS_IN = {"active": "active", "discontinued": "stopped", "on_hold": "on-hold", "completed": "completed"}


@dataclass(eq=False, kw_only=True)
class Medication:
    id: strawberry.ID
    version: int
    name: str | None
    rx_cui: str | None
    status: str = strawberry.field(description="active, discontinued, on_hold, completed, ...")
    is_active: bool
    dosage: str | None
    date_start: str | None
    date_stop: str | None
    discontinuation_reason: str | None


def from_fhir(res: dict[str, Any]) -> Medication:
    period = res.get("effectivePeriod") or {}
    status = res.get("status", "unknown")
    concept = res.get("medicationCodeableConcept")
    return Medication(
        id=res["id"], version=version(res), name=text_of(concept), rx_cui=code_of(concept, RXNORM),
        status=STATUS_OUT.get(status, status), is_active=status == "active",
        dosage=next((d.get("text") for d in res.get("dosage") or () if d.get("text")), None),
        date_start=date_part(period.get("start") or res.get("effectiveDateTime")),
        date_stop=date_part(period.get("end")),
        discontinuation_reason=next((text_of(s) for s in res.get("statusReason") or ()), None),
    )
