from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from graph.context import Info
from resolvers.loaders import settle

if TYPE_CHECKING:
    from graph.types.patient import Patient
    from graph.types.practitioner import Practitioner


@strawberry.federation.type(keys=["id"], description="A visit or video session (FHIR Encounter).")
class Encounter:
    id: strawberry.ID
    version: int
    status: str
    class_code: str | None
    start: str | None
    end: str | None
    reason: str | None
    service_type: str | None
    patient_id: strawberry.ID | None
    practitioner_id: strawberry.ID | None
    appointment_id: strawberry.ID | None
    episode_id: strawberry.ID | None

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Encounter | None:
        from resolvers import encounter as encounter_r

        return await settle(encounter_r.get_encounter(info, id))

    @strawberry.field
    def patient(self, info: Info) -> Annotated[Patient, strawberry.lazy("graph.types.patient")] | None:
        from resolvers import patient as patient_r

        return patient_r.get_patient(info, self.patient_id)

    @strawberry.field
    def practitioner(
        self, info: Info
    ) -> Annotated[Practitioner, strawberry.lazy("graph.types.practitioner")] | None:
        from resolvers import practitioner as practitioner_r

        return practitioner_r.get_practitioner(info, self.practitioner_id)
