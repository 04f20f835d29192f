from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from graph.context import Info
from graph.types.common import EntityRef
from resolvers.loaders import settle

if TYPE_CHECKING:
    from graph.types.encounter import Encounter
    from graph.types.episode import Episode
    from graph.types.patient import Patient
    from graph.types.practitioner import Practitioner


@strawberry.enum(description="FHIR Appointment.status.")
class AppointmentStatus(Enum):
    PROPOSED = "proposed"
    PENDING = "pending"
    BOOKED = "booked"
    ARRIVED = "arrived"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    NOSHOW = "noshow"
    ENTERED_IN_ERROR = "entered-in-error"
    CHECKED_IN = "checked-in"
    WAITLIST = "waitlist"


@strawberry.federation.type(keys=["id"], description="An appointment (FHIR Appointment).")
class Appointment:
    id: strawberry.ID
    version: int
    status: AppointmentStatus
    workflow_status: str | None = strawberry.field(description="qapi workflow status (intake, exam, ...).")
    start: str | None
    end: str | None
    minutes_duration: int | None
    description: str | None
    reasons: list[str]
    service_type: str | None
    appointment_type: str | None
    cancelation_reason: str | None
    said: str | None = strawberry.field(description="The qapi numeric appointment id (seed 002).")
    external_id: str | None
    created: str | None
    location: EntityRef | None
    slot_id: strawberry.ID | None
    patient_id: strawberry.ID | None
    practitioner_id: strawberry.ID | None
    episode_id: strawberry.ID | None

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Appointment | None:
        from resolvers import appointment as appointment_r

        return await settle(appointment_r.get_appointment(info, id))

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

    @strawberry.field
    def episode(self, info: Info) -> Annotated[Episode, strawberry.lazy("graph.types.episode")] | None:
        from resolvers import episode as episode_r

        return episode_r.get_episode(info, self.episode_id)

    @strawberry.field
    def encounters(
        self, info: Info
    ) -> list[Annotated[Encounter, strawberry.lazy("graph.types.encounter")]]:
        from resolvers import encounter as encounter_r

        return encounter_r.get_appointment_encounters(info, self)
