"""The allergy record computed from a FHIR AllergyIntolerance."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from typing import Any

import strawberry

from resolvers.model.common import ID_DESCRIPTION, VERSION_DESCRIPTION
from store.fhirjson import code_of, date_part, system_of, text_of, version
from store.naming import SNOMED


@dataclass(eq=False, kw_only=True)
class Allergy:
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    version: int = strawberry.field(description=VERSION_DESCRIPTION)
    allergen: str | None = strawberry.field(description="What the patient reacts to, as text (e.g. Penicillin).")
    code: str | None = strawberry.field(
        description="Code of the allergen in codeSystem (e.g. a SNOMED CT or RxNorm code).")
    code_system: str | None = strawberry.field(description="Code system URI of code, e.g. http://snomed.info/sct.")
    category: str | None = strawberry.field(description="food, medication, environment or biologic.")
    criticality: str | None = strawberry.field(description="Risk of a severe reaction: low, high or unable-to-assess.")
    is_active: bool = strawberry.field(description="The allergy is current (not resolved or inactive).")
    reaction: str | None = strawberry.field(description="Reactions, comma separated (e.g. Hives, Anaphylaxis).")
    reactions: list[str] = strawberry.field(description="Reactions, one entry each.")
    severity: str | None = strawberry.field(description="Severity of the reaction: mild, moderate or severe.")
    snomed_reaction: str | None = strawberry.field(description="SNOMED CT code of the first reaction.")
    date_adverse_reaction: str | None = strawberry.field(description="When the reaction happened, YYYY-MM-DD.")
    recorded_date: str | None = strawberry.field(
        description="When the allergy was recorded, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z.")


def is_active(res: dict[str, Any]) -> bool:
    return code_of(res.get("clinicalStatus")) in (None, "active")


def from_fhir(res: dict[str, Any]) -> Allergy:
    reactions = [t for rx in res.get("reaction") or () for t in (text_of(m) for m in rx.get("manifestation") or ())
                 if t]
    first_rx = (res.get("reaction") or [{}])[0]
    return Allergy(
        id=res["id"], version=version(res), allergen=text_of(res.get("code")), code=code_of(res.get("code")),
        code_system=system_of(res.get("code")), category=(res.get("category") or [None])[0],
        criticality=res.get("criticality"), is_active=is_active(res),
        reaction=", ".join(reactions) or first_rx.get("description"), reactions=reactions,
        severity=first_rx.get("severity"),
        snomed_reaction=next((code_of(m, SNOMED) for m in first_rx.get("manifestation") or ()), None),
        date_adverse_reaction=date_part(res.get("onsetDateTime")), recorded_date=res.get("recordedDate"),
    )
