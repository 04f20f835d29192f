from __future__ import annotations

import strawberry


@strawberry.type(description="An allergy record (FHIR AllergyIntolerance).")
class Allergy:
    id: strawberry.ID
    version: int
    allergen: str | None
    code: str | None
    code_system: str | None
    category: str | None
    criticality: str | None
    is_active: bool
    reaction: str | None = strawberry.field(description="Reactions, comma separated.")
    reactions: list[str]
    severity: str | None
    snomed_reaction: str | None
    date_adverse_reaction: str | None
    recorded_date: str | None
