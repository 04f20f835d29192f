from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from resolvers import encounter as encounter_r
from resolvers.context import Info
from resolvers.loaders import settle
from resolvers.model import encounter

if TYPE_CHECKING:
    from graph.types.patient import Patient
    from graph.types.practitioner import Practitioner



@strawberry.federation.type(keys=["id"], description="A visit or video session (FHIR Encounter).")
class Encounter(encounter.Encounter):
    patient = strawberry.field(resolver=encounter_r.patient,
                               graphql_type=Annotated["Patient", strawberry.lazy("graph.types.patient")] | None)
    practitioner = strawberry.field(
        resolver=encounter_r.practitioner,
        graphql_type=Annotated["Practitioner", strawberry.lazy("graph.types.practitioner")] | None)

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, encounter.Encounter)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> encounter.Encounter | None:
        found: encounter.Encounter | None = await settle(encounter_r.get_encounter(info.context, id))
        return found
