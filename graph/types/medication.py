from __future__ import annotations

import strawberry


@strawberry.type(description="A medication on the patient's list (FHIR MedicationStatement).")
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
