from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from resolvers import family as family_r
from resolvers.model import family
from resolvers.model.patient import Patient as PatientRecord

if TYPE_CHECKING:
    from graph.types.patient import Patient


_Patient = Annotated["Patient", strawberry.lazy("graph.types.patient")]


@strawberry.type(description="A directed relationship from a source patient (`patient`) to a "
                             "related patient: the source is the related patient's "
                             "`relationshipType`, and its legal guardian when `isGuardian` (FHIR RelatedPerson).")
class Relationship(family.Relationship):
    patient = strawberry.field(resolver=family_r.relationship_patient, graphql_type=_Patient | None,
                               description="The source patient.")
    patient_name = strawberry.field(resolver=family_r.patient_name, graphql_type=str | None,
                                    description="The source patient's first and last name.")
    related_patient = strawberry.field(resolver=family_r.related_patient, graphql_type=_Patient | None,
                                       description="The target patient.")
    related_patient_name = strawberry.field(
        resolver=family_r.related_patient_name, graphql_type=str | None,
        description="The target patient's first and last name.")


@strawberry.type(description="The patient's family: members sharing the guarantor, guardians, dependents.")
class Family(family.Family):
    guarantor: PatientRecord | None = strawberry.field(
        graphql_type=_Patient | None, description="The financially responsible patient of the family; null when none "
                                                  "is recorded.")
    members: list[PatientRecord] = strawberry.field(
        graphql_type=list[_Patient], description="The patients sharing the guarantor (the financial family), this "
                                                 "patient included.")
    guardians: list[family.Relationship] = strawberry.field(
        graphql_type=list[Relationship],
        description="Relationships where another patient (`patient`) is this patient's legal guardian.")
    dependents: list[family.Relationship] = strawberry.field(
        graphql_type=list[Relationship],
        description="Relationships where this patient (`patient`) is the legal guardian of the related patient.")
    relationships: list[family.Relationship] = strawberry.field(
        graphql_type=list[Relationship], description="Relationships where this patient is the source.")
