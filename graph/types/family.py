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
    patient = strawberry.field(
        resolver=family_r.relationship_patient, graphql_type=_Patient | None,
        description="The patient the relationship is seen from.")
    related_patient = strawberry.field(
        resolver=family_r.related_patient, graphql_type=_Patient | None, description="The related patient.")


@strawberry.type(description="The patient's family: members sharing the guarantor, guardians, dependents.")
class Family(family.Family):
    guarantor: PatientRecord | None = strawberry.field(
        graphql_type=_Patient | None, description="The financially responsible patient of the family; null when none "
                                                  "is recorded.")
    members: list[PatientRecord] = strawberry.field(
        graphql_type=list[_Patient], description="The patients sharing the guarantor (the financial family), this "
                                                 "patient included.")
    guardians: list[family.Relationship] = strawberry.field(
        graphql_type=list[Relationship], description="This patient's legal guardians.")
    dependents: list[family.Relationship] = strawberry.field(
        graphql_type=list[Relationship], description="The patients this patient is the legal guardian of.")
    relationships: list[family.Relationship] = strawberry.field(
        graphql_type=list[Relationship], description="Every relationship of this patient to other patients.")
