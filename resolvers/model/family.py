"""Family (seed 003): relationships between patients (FHIR RelatedPerson with the related-patient and
is-guardian extensions, store/naming.py) and the family record."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import strawberry

from resolvers.model.common import Lazy, created_at, opt_id, updated_at
from resolvers.model.patient import Patient
from store.fhirjson import ext, ext_map, ref_id, set_ext, version
from store.naming import EXT, V3_ROLE

Resource = dict[str, Any]

# seed 003 relationship type ↔ v3 RoleCode: what the source patient (the RelatedPerson) is to the target (its
# patient), e.g. PRN: the source is the target's parent
TYPE_CODE = {"spouse": "SPS", "life_partner": "DOMPART", "parent": "PRN", "child": "CHILD", "sibling": "SIB",
             "guardian": "GUARD", "grandparent": "GRPRN", "grandchild": "GRNDCHILD", "stepparent": "STPPRN",
             "stepchild": "STPCHLD", "foster_child": "CHLDFOST", "caregiver": "CAREGIVER",
             "other_family": "FAMMEMB", "merge": "MERGE", "clone": "CLONE"}
CODE_TYPE = {v: k for k, v in TYPE_CODE.items()} | {
    "MTH": "parent", "FTH": "parent", "NMTH": "parent", "NFTH": "parent", "HUSB": "spouse", "WIFE": "spouse",
    "SON": "child", "DAU": "child", "NCHILD": "child", "BRO": "sibling", "SIS": "sibling", "NSIB": "sibling",
    "GRMTH": "grandparent", "GRFTH": "grandparent", "STPMTH": "stepparent", "STPFTH": "stepparent",
}


@dataclass(eq=False, kw_only=True)
class Relationship:
    """Seed 003's directed relationship from a source patient (``patient``) to a target (``related``): the
    source is the target's <relationship_type>, and, when ``is_guardian``, its legal guardian. In FHIR one
    RelatedPerson: the source is the related person (EXT["related-patient"]), the target its ``patient``."""

    id: strawberry.ID = strawberry.field(description="The relationship's id.")
    version: int = strawberry.field(description="The record's version: send it as baseVersion to change it.")
    relationship_type: str = strawberry.field(
        description="What the source patient (patient) is to the related patient: spouse, life_partner, parent, "
                    "child, sibling, guardian, grandparent, grandchild, stepparent, stepchild, foster_child, "
                    "caregiver, other_family, merge, clone (parent: the source is the related patient's parent).")
    is_guardian: bool = strawberry.field(
        description="The source patient (patient) is the legal guardian of the related patient.")
    note: str | None = strawberry.field(description="Free-text note about the relationship.")
    patient_id: strawberry.ID = strawberry.field(
        description="The source patient: the one this relationship is listed under.")
    related_patient_id: strawberry.ID | None = strawberry.field(
        description="The target patient.")
    created_at: str | None = strawberry.field(description="When the record was first written (ISO 8601 instant, UTC).")
    updated_at: str | None = strawberry.field(description="When this version was written (ISO 8601 instant, UTC).")
    deleted_at: str | None = strawberry.field(
        description="When the relationship was archived (ISO 8601 date-time); null while it is current.")
    # names as written on the resource, shown when the patient itself cannot be read
    patient_display: strawberry.Private[str | None]
    related_display: strawberry.Private[str | None]


@dataclass(eq=False, kw_only=True)
class Family:
    guarantor: Patient | None
    members: list[Patient]
    guardians: list[Relationship]
    dependents: list[Relationship]
    relationships: list[Relationship]


def is_current(res: Resource) -> bool:
    return res.get("active", True) is not False and ext(res, "archived-at") is None


def _codes(res: Resource) -> list[str]:
    return [c.get("code") for r in res.get("relationship") or () for c in r.get("coding") or ()]


def is_guardian(res: Resource, exts: dict[str, Any] | None = None) -> bool:
    flag = (exts if exts is not None else ext_map(res)).get(EXT["is-guardian"])
    return bool(flag) or "GUARD" in _codes(res)


def source_of(res: Resource) -> str | None:
    """The relationship's source patient: the RelatedPerson's own Patient record."""
    return ref_id(ext(res, "related-patient"), "Patient")


class _Reading:
    """One FHIR RelatedPerson read for its relationship: its extensions, read in one pass on first use."""

    def __init__(self, res: Resource):
        self.res = res

    @cached_property
    def exts(self) -> dict[str, Any]:
        return ext_map(self.res)

    @cached_property
    def source(self) -> Resource:
        found: Resource = self.exts.get(EXT["related-patient"]) or {}
        return found


def _patient_display(r: _Reading) -> str | None:
    name = (r.res.get("name") or [{}])[0]
    return r.source.get("display") or " ".join([*(name.get("given") or []), name.get("family") or ""]).strip() or None


# Each field of the relationship from the RelatedPerson: ``relationship_from_fhir`` reads them all,
# ``LazyRelationship`` each when first asked for.
FIELDS: dict[str, Callable[[_Reading], Any]] = {
    "id": lambda r: r.res["id"],
    "version": lambda r: version(r.res),
    "relationship_type": lambda r: next((CODE_TYPE[c] for c in _codes(r.res) if c in CODE_TYPE), "other_family"),
    "is_guardian": lambda r: is_guardian(r.res, r.exts),
    "note": lambda r: r.exts.get(EXT["relationship-note"]),
    "patient_id": lambda r: strawberry.ID(ref_id(r.source, "Patient") or ""),
    "related_patient_id": lambda r: opt_id(ref_id(r.res.get("patient"), "Patient")),
    "created_at": lambda r: created_at(r.res),
    "updated_at": lambda r: updated_at(r.res),
    "deleted_at": lambda r: r.exts.get(EXT["archived-at"]),
    "patient_display": _patient_display,
    "related_display": lambda r: (r.res.get("patient") or {}).get("display"),
}


def relationship_from_fhir(res: Resource) -> Relationship:
    """The whole record, every field read now (``lazy_relationship``: each when first asked for)."""
    reading = _Reading(res)
    return Relationship(**{name: field(reading) for name, field in FIELDS.items()})


class LazyRelationship(Lazy, Relationship):
    """A relationship whose fields are read from its RelatedPerson when first asked for (a chart's family shows
    its type, guardian flag and target). Equal field by field to ``relationship_from_fhir``'s
    (tests/resolvers/test_lazy_records.py)."""

    READING = _Reading
    FIELDS = FIELDS


def lazy_relationship(res: Resource) -> Relationship:
    return LazyRelationship(res)


def apply_fields(res: Resource, f: dict[str, Any]) -> Resource:
    """Write the mutation fields present in ``f`` onto the RelatedPerson ``res`` (PATCH semantics)."""
    if f.get("relationship_type"):
        rtype = f["relationship_type"]
        coding = {"system": V3_ROLE, "code": TYPE_CODE[rtype], "display": rtype.replace("_", " ")}
        res["relationship"] = [{"coding": [coding], "text": rtype.replace("_", " ")}]
    if "is_guardian" in f:
        set_ext(res, "is-guardian", "valueBoolean", bool(f["is_guardian"]))
    if "note" in f:
        set_ext(res, "relationship-note", "valueString", f["note"] or None)
    return res
