"""``Event``: one outbox event as a GraphQL subscription delivers it, with the resource it is about
resolved (at the event's version) into the curated types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry

if TYPE_CHECKING:
    from graph.types.appointment import Appointment
    from graph.types.encounter import Encounter
    from graph.types.episode import Episode
    from graph.types.patient import Patient
    from subscriptions.relay import LiveEvent


@strawberry.type(description="A change in the clinic: one entry of the event outbox, in sequence order.")
class Event:
    id: strawberry.ID = strawberry.field(description="Event id (stable across redeliveries; use it to deduplicate).")
    type: str = strawberry.field(description="Internal event name, e.g. appointment.booked, patient.created.")
    action: str = strawberry.field(description="create | update | delete")
    occurred_at: str
    cursor: str = strawberry.field(description="Opaque: pass as `after` to resume right after this event.")
    sequence: int = strawberry.field(description="Per-clinic increasing sequence (gaps are possible).")
    resource_type: str
    resource_id: strawberry.ID
    version_id: str
    patient_id: strawberry.ID | None
    live: strawberry.Private[Any]

    @classmethod
    def of(cls, event: LiveEvent) -> Event:
        return cls(id=strawberry.ID(event.id), type=event.type, action=event.action, occurred_at=event.occurred_at,
                   cursor=event.cursor, sequence=event.seq, resource_type=event.resource_type,
                   resource_id=strawberry.ID(event.resource_id), version_id=event.version_id,
                   patient_id=strawberry.ID(event.patient_id) if event.patient_id else None, live=event)

    async def _resource(self, rt: str) -> dict[str, Any] | None:
        if self.resource_type != rt:
            return None
        found: dict[str, Any] | None = await self.live.resource()
        return found

    @strawberry.field(description="The appointment, as of this event (Appointment events).")
    async def appointment(self) -> Annotated[Appointment, strawberry.lazy("graph.types.appointment")] | None:
        from resolvers.appointment import from_fhir

        res = await self._resource("Appointment")
        return from_fhir(res) if res else None

    @strawberry.field(description="The patient, as of this event (Patient events).")
    async def patient(self) -> Annotated[Patient, strawberry.lazy("graph.types.patient")] | None:
        from resolvers.patient import from_fhir

        res = await self._resource("Patient")
        return from_fhir(res) if res else None

    @strawberry.field(description="The encounter, as of this event (Encounter events).")
    async def encounter(self) -> Annotated[Encounter, strawberry.lazy("graph.types.encounter")] | None:
        from resolvers.encounter import from_fhir

        res = await self._resource("Encounter")
        return from_fhir(res) if res else None

    @strawberry.field(description="The episode of care, as of this event (EpisodeOfCare events).")
    async def episode(self) -> Annotated[Episode, strawberry.lazy("graph.types.episode")] | None:
        from resolvers.episode import from_fhir

        res = await self._resource("EpisodeOfCare")
        return from_fhir(res) if res else None
