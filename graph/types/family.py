from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from resolvers import family as family_r
from resolvers.model import family
from resolvers.model.patient import Patient as PatientRecord

if TYPE_CHECKING:
    from graph.types.patient import Patient


_Patient = Annotated["Patient", strawberry.lazy("graph.types.patient")]


@strawberry.type(description="A relationship from a patient to a related patient (FHIR RelatedPerson).")
class Relationship(family.Relationship):
    patient = strawberry.field(resolver=family_r.relationship_patient, graphql_type=_Patient | None)
    related_patient = strawberry.field(resolver=family_r.related_patient, graphql_type=_Patient | None)


@strawberry.type(description="The patient's family: members sharing the guarantor, guardians, dependents.")
class Family(family.Family):
    guarantor: PatientRecord | None = strawberry.field(graphql_type=_Patient | None)
    members: list[PatientRecord] = strawberry.field(graphql_type=list[_Patient],
                                                     description="Patients sharing this patient's guarantor.")
    guardians: list[family.Relationship] = strawberry.field(
        graphql_type=list[Relationship], description="Relationships to this patient's guardians.")
    dependents: list[family.Relationship] = strawberry.field(
        graphql_type=list[Relationship],
        description="Patients this patient is the guardian of (relationship seen from the dependent).")
    relationships: list[family.Relationship] = strawberry.field(graphql_type=list[Relationship])
