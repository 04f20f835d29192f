"""The allergy record computed from a FHIR AllergyIntolerance, and the mutation fields written back to it."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from typing import Any

import strawberry

from resolvers.model.common import (
    ID_DESCRIPTION,
    VERSION_DESCRIPTION,
    created_at,
    deleted_at,
    opt_id,
    put,
    updated_at,
)
from resolvers.model.interaction import InteractionWarning
from store.fhirjson import code_of, concept, date_part, ext, ref_id, set_ext, system_of, text_of, version
from store.naming import ALLERGY_CLINICAL, SNOMED

Resource = dict[str, Any]
SEVERITIES = ("mild", "moderate", "severe")
CATEGORIES = ("food", "medication", "environment", "biologic")


@dataclass(eq=False, kw_only=True)
class Allergy:
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    version: int = strawberry.field(description=VERSION_DESCRIPTION)
    patient_id: strawberry.ID | None = strawberry.field(description="The patient whose chart holds this allergy.")
    allergen: str | None = strawberry.field(description="What the patient reacts to, as text (e.g. Penicillin).")
    code: str | None = strawberry.field(
        description="Code of the allergen in codeSystem (e.g. a SNOMED CT or RxNorm code).")
    code_system: str | None = strawberry.field(description="Code system URI of code, e.g. http://snomed.info/sct.")
    category: str | None = strawberry.field(description="food, medication, environment or biologic.")
    criticality: str | None = strawberry.field(description="Risk of a severe reaction: low, high or unable-to-assess.")
    is_active: bool = strawberry.field(description="The allergy is current (not resolved or inactive).")
    allergy_definition_id: strawberry.ID | None = strawberry.field(
        description="Id of the org allergy definition it was recorded from; null for a free-text allergen.")
    reaction: str | None = strawberry.field(description="Reactions, comma separated.")
    reactions: list[str] = strawberry.field(description="Reactions, one entry each.")
    severity: str | None = strawberry.field(description="Severity of the reaction: mild, moderate or severe.")
    snomed_reaction: str | None = strawberry.field(description="SNOMED CT code of the first reaction.")
    date_adverse_reaction: str | None = strawberry.field(description="When the reaction happened, YYYY-MM-DD.")
    recorded_date: str | None = strawberry.field(
        description="When the allergy was recorded, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z.")
    created_at: str | None = strawberry.field(description="When the record was first written (ISO 8601 instant, UTC).")
    updated_at: str | None = strawberry.field(
        description="When this version was written (ISO 8601 instant, UTC).")
    deleted_at: str | None = strawberry.field(
        description="When the allergy was archived (ISO 8601 date-time); null while it is on the chart.")
    interaction_warnings: list[InteractionWarning] = strawberry.field(
        default_factory=list,
        description="Drug–allergy interactions with the patient's current medications, found when the allergy "
                    "was recorded; empty on every later read.")


def is_active(res: Resource) -> bool:
    return code_of(res.get("clinicalStatus")) in (None, "active")


def from_fhir(res: Resource) -> Allergy:
    reactions = [t for rx in res.get("reaction") or () for t in (text_of(m) for m in rx.get("manifestation") or ())
                 if t]
    first_rx = (res.get("reaction") or [{}])[0]
    return Allergy(
        id=res["id"], version=version(res), patient_id=opt_id(ref_id(res.get("patient"), "Patient")),
        allergen=text_of(res.get("code")), code=code_of(res.get("code")),
        code_system=system_of(res.get("code")), category=(res.get("category") or [None])[0],
        criticality=res.get("criticality"), is_active=is_active(res),
        allergy_definition_id=opt_id(ref_id(ext(res, "allergy-definition"), "Basic")),
        reaction=", ".join(reactions) or first_rx.get("description"), reactions=reactions,
        severity=first_rx.get("severity") or ext(res, "allergy-severity"),
        snomed_reaction=next((code_of(m, SNOMED) for m in first_rx.get("manifestation") or ()), None),
        date_adverse_reaction=date_part(res.get("onsetDateTime")), recorded_date=res.get("recordedDate"),
        created_at=created_at(res), updated_at=updated_at(res), deleted_at=deleted_at(res),
    )


def apply_fields(res: Resource, f: dict[str, Any]) -> Resource:
    """Write the mutation fields present in ``f`` onto the AllergyIntolerance ``res`` (create: an empty one;
    update: the stored one, PATCH semantics: absent fields are left alone, None clears); ``definition``: the
    link to the allergy definition (resolvers/catalog.py ``with_definition``), None unlinks."""
    was = from_fhir({"id": "", **res})
    if "definition" in f:
        set_ext(res, "allergy-definition", "valueReference", f["definition"])
    if {"allergen", "code", "code_system"} & f.keys():
        allergen = f.get("allergen", was.allergen)
        code = f.get("code", was.code if "allergen" not in f else None)
        system = f.get("code_system", was.code_system if code == was.code else None) or SNOMED
        res["code"] = concept(system, code, allergen, allergen) if code else {"text": allergen}
    if "category" in f:
        put(res, "category", [f["category"]] if f["category"] else None)
    if "is_active" in f:
        res["clinicalStatus"] = concept(ALLERGY_CLINICAL, "inactive" if f["is_active"] is False else "active")
    if "date_adverse_reaction" in f:
        put(res, "onsetDateTime", f["date_adverse_reaction"])
    if {"reaction", "snomed_reaction", "severity"} & f.keys():
        _set_reaction(res, f.get("reaction", was.reaction), f.get("snomed_reaction", was.snomed_reaction),
                      f.get("severity", was.severity))
    return res


def _set_reaction(res: Resource, reaction: str | None, snomed: str | None, severity: str | None) -> None:
    """The first reaction holds the reaction and its severity; FHIR needs a manifestation for a reaction, so a
    severity with no reaction is kept in the ``allergy-severity`` extension instead."""
    rest = (res.get("reaction") or [])[1:]
    if reaction or snomed:
        manifestation = concept(SNOMED, snomed, reaction, reaction) if snomed else {"text": reaction}
        rx: Resource = {"manifestation": [manifestation]}
        if severity:
            rx["severity"] = severity
        res["reaction"] = [rx, *rest]
        set_ext(res, "allergy-severity", "valueCode", None)
    else:
        put(res, "reaction", rest or None)
        set_ext(res, "allergy-severity", "valueCode", severity or None)
