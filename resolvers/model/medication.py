"""The medication-list entry computed from a FHIR MedicationStatement."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from typing import Any

import strawberry

from resolvers.model.common import ID_DESCRIPTION, VERSION_DESCRIPTION
from store.fhirjson import code_of, date_part, text_of, version
from store.naming import RXNORM

STATUS_OUT = {"stopped": "discontinued", "on-hold": "on_hold"}
STATUS_IN = {"active": "active", "discontinued": "stopped", "on_hold": "on-hold", "completed": "completed"}


@dataclass(eq=False, kw_only=True)
class Medication:
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    version: int = strawberry.field(description=VERSION_DESCRIPTION)
    name: str | None = strawberry.field(description="Medication name, e.g. Lisinopril 10 mg tablet.")
    rx_cui: str | None = strawberry.field(description="RxNorm concept id (RXCUI).")
    status: str = strawberry.field(description="active, on_hold, completed, discontinued, …")
    is_active: bool = strawberry.field(description="The patient takes it now (active or on hold).")
    dosage: str | None = strawberry.field(description="Dosage instructions as text, e.g. 1 tablet by mouth daily.")
    date_start: str | None = strawberry.field(description="Start date, YYYY-MM-DD.")
    date_stop: str | None = strawberry.field(description="Stop date, YYYY-MM-DD; null while ongoing.")
    discontinuation_reason: str | None = strawberry.field(
        description="Why it was discontinued; null unless discontinued.")


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
