from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum
class ProblemStatus(Enum):
    ACTIVE = "active"
    RESOLVED = "resolved"
    INACTIVE = "inactive"


@strawberry.type(description="A disease or problem (FHIR Condition).")
class Problem:
    id: strawberry.ID
    version: int
    name: str | None
    snomed_code: str | None
    status: ProblemStatus | None
    category: str | None
    date_start: str | None
    date_stop: str | None
    note: str | None
