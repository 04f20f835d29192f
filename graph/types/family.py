from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from graph.context import Info

if TYPE_CHECKING:
    from graph.types.patient import Patient

_Patient = Annotated["Patient", strawberry.lazy("graph.types.patient")]


@strawberry.type(description="A relationship from a patient to a related patient (FHIR RelatedPerson).")
class Relationship:
    id: strawberry.ID
    version: int
    relationship_type: str = strawberry.field(
        description="What the related patient is to the patient: spouse, parent, child, guardian, ...")
    is_guardian: bool = strawberry.field(description="The related patient is the legal guardian of the patient.")
    note: str | None
    patient_id: strawberry.ID
    related_patient_id: strawberry.ID | None
    related_patient_name: str | None

    @strawberry.field
    def patient(self, info: Info) -> _Patient | None:
        from resolvers import patient as patient_r

        return patient_r.get_patient(info, self.patient_id)

    @strawberry.field
    def related_patient(self, info: Info) -> _Patient | None:
        from resolvers import patient as patient_r

        return patient_r.get_patient(info, self.related_patient_id)


@strawberry.type(description="The patient's family: members sharing the guarantor, guardians, dependents.")
class Family:
    guarantor: _Patient | None
    members: list[_Patient] = strawberry.field(description="Patients sharing this patient's guarantor.")
    guardians: list[Relationship] = strawberry.field(description="Relationships to this patient's guardians.")
    dependents: list[Relationship] = strawberry.field(
        description="Patients this patient is the guardian of (relationship seen from the dependent).")
    relationships: list[Relationship]
