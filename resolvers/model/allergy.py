"""The allergy record computed from a FHIR AllergyIntolerance."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from typing import Any

import strawberry

from store.fhirjson import code_of, date_part, system_of, text_of, version
from store.naming import SNOMED


@dataclass(eq=False, kw_only=True)
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
