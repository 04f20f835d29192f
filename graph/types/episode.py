from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from graph.context import Info
from graph.pagination import Connection
from resolvers.loaders import settle

if TYPE_CHECKING:
    from graph.types.appointment import Appointment
    from graph.types.patient import Patient


@strawberry.enum(description="Episode status (seed 002; FHIR EpisodeOfCare.status 1:1).")
class EpisodeStatus(Enum):
    PLANNED = "planned"
    WAITLIST = "waitlist"
    ACTIVE = "active"
    ONHOLD = "onhold"
    FINISHED = "finished"
    CANCELLED = "cancelled"


@strawberry.federation.type(keys=["id"], description="An episode of care (seed 002; FHIR EpisodeOfCare).")
class Episode:
    id: strawberry.ID
    version: int
    name: str | None
    type: str | None = strawberry.field(description="Predefined episode type code, e.g. covid.")
    type_display: str | None
    from_: str | None = strawberry.field(name="from", description="Start date (YYYY-MM-DD).")
    to: str | None = strawberry.field(description="End date (YYYY-MM-DD).")
    status: EpisodeStatus
    objective: str | None
    reason_incomplete: str | None
    patient_id: strawberry.ID | None

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Episode | None:
        from resolvers import episode as episode_r

        return await settle(episode_r.get_episode(info, id))

    @strawberry.field
    def patient(self, info: Info) -> Annotated[Patient, strawberry.lazy("graph.types.patient")] | None:
        from resolvers import patient as patient_r

        return patient_r.get_patient(info, self.patient_id)

    @strawberry.field
    def appointments(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[Appointment, strawberry.lazy("graph.types.appointment")]]:
        from resolvers import appointment as appointment_r

        return appointment_r.get_episode_appointments(info, self, first=first, after=after)
