from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from graph.entity import Entity
from resolvers import encounter as encounter_r
from resolvers.model import encounter

if TYPE_CHECKING:
    from graph.types.patient import Patient
    from graph.types.practitioner import Practitioner



@strawberry.federation.type(keys=["id"], description="A visit or video session (FHIR Encounter).")
class Encounter(encounter.Encounter, Entity):
    record = encounter.Encounter
    find = encounter_r.get_encounter
    patient = strawberry.field(
        resolver=encounter_r.patient,
        graphql_type=Annotated["Patient", strawberry.lazy("graph.types.patient")] | None,
        description="The patient.")
    practitioner = strawberry.field(
        resolver=encounter_r.practitioner,
        graphql_type=Annotated["Practitioner", strawberry.lazy("graph.types.practitioner")] | None,
        description="The practitioner who saw the patient.")

