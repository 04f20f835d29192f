from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum
class AlertStatus(Enum):
    ACTIVE = "active"
    DISABLED = "disabled"
    ARCHIVED = "archived"


@strawberry.enum
class AlertScope(Enum):
    PATIENT = "patient"
    FAMILY = "family"


@strawberry.type(description="A patient alert (FHIR Flag).")
class Alert:
    id: strawberry.ID
    version: int
    name: str | None
    code: str | None
    category: str | None
    status: AlertStatus
    scope: AlertScope
    is_urgent: bool
    note: str | None
    start: str | None
    disable_on: str | None
    patient_id: strawberry.ID | None
    from_family_member: bool = strawberry.field(description="Shown here because of a family-scope alert.")
