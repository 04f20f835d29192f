"""Family (seed 003): relationships between patients (FHIR RelatedPerson with the related-patient and
is-guardian extensions, store/naming.py) and the family record."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from typing import Any

import strawberry

from resolvers.model.common import ID_DESCRIPTION, VERSION_DESCRIPTION, opt_id
from resolvers.model.patient import Patient
from store.fhirjson import ext, ref_id, version

Resource = dict[str, Any]

# seed 003 relationship type ↔ v3 RoleCode (what the related patient is to the patient)
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
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    version: int = strawberry.field(description=VERSION_DESCRIPTION)
    relationship_type: str = strawberry.field(
        description="What the related patient is to the patient: spouse, parent, child, guardian, ...")
    is_guardian: bool = strawberry.field(description="The related patient is the legal guardian of the patient.")
    note: str | None = strawberry.field(description="Free-text note on the relationship.")
    patient_id: strawberry.ID = strawberry.field(description="Id of the patient the relationship is seen from.")
    related_patient_id: strawberry.ID | None = strawberry.field(description="Id of the related patient.")
    related_patient_name: str | None = strawberry.field(description="Name of the related patient, for display.")


@dataclass(eq=False, kw_only=True)
class Family:
    guarantor: Patient | None
    members: list[Patient]
    guardians: list[Relationship]
    dependents: list[Relationship]
    relationships: list[Relationship]


def relationship_from_fhir(res: Resource, *, seen_from_related: bool = False) -> Relationship:
    """``seen_from_related``: show the relationship from the related patient's side (a dependent as seen by
    its guardian): the ``relatedPatient`` is then the RelatedPerson's patient."""
    codes = [c.get("code") for r in res.get("relationship") or () for c in r.get("coding") or ()]
    rtype = next((CODE_TYPE[c] for c in codes if c in CODE_TYPE), "other_family")
    patient = ref_id(res.get("patient"), "Patient") or ""
    related_ref = ext(res, "related-patient")
    related = ref_id(related_ref, "Patient")
    name = (res.get("name") or [{}])[0]
    related_name = (related_ref or {}).get("display") or " ".join(
        [*(name.get("given") or []), name.get("family") or ""]).strip() or None
    if seen_from_related:
        patient, related = related or "", patient
        related_name = (res.get("patient") or {}).get("display")
    return Relationship(
        id=res["id"], version=version(res), relationship_type=rtype,
        is_guardian=bool(ext(res, "is-guardian", False)) or "GUARD" in codes,
        note=None,
        patient_id=strawberry.ID(patient), related_patient_id=opt_id(related), related_patient_name=related_name)
