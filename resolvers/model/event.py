"""One outbox event as a GraphQL subscription delivers it (the relay's ``LiveEvent``, subscriptions/relay.py)."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from typing import Any

import strawberry

from resolvers.model.common import opt_id
from subscriptions.relay import LiveEvent


@dataclass(eq=False, kw_only=True)
class Event:
    id: strawberry.ID = strawberry.field(description="Event id (stable across redeliveries; use it to deduplicate).")
    type: str = strawberry.field(description="Internal event name, e.g. appointment.booked, patient.created.")
    action: str = strawberry.field(description="create | update | delete")
    occurred_at: str = strawberry.field(
        description="When the change happened, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z.")
    cursor: str = strawberry.field(description="Opaque: pass as `after` to resume right after this event.")
    sequence: int = strawberry.field(description="Per-clinic increasing sequence (gaps are possible).")
    resource_type: str = strawberry.field(description="Kind of record changed, e.g. Patient, Appointment.")
    resource_id: strawberry.ID = strawberry.field(description="Id of the record changed.")
    version_id: str = strawberry.field(description="The record's version after the change.")
    patient_id: strawberry.ID | None = strawberry.field(description="Id of the patient concerned, when there is one.")
    live: strawberry.Private[LiveEvent]

    async def resource(self, rt: str) -> dict[str, Any] | None:
        """The resource this event is about, at the event's version, when it is a ``rt``."""
        if self.resource_type != rt:
            return None
        return await self.live.resource()


def of(event: LiveEvent) -> Event:
    return Event(id=strawberry.ID(event.id), type=event.type, action=event.action, occurred_at=event.occurred_at,
                 cursor=event.cursor, sequence=event.seq, resource_type=event.resource_type,
                 resource_id=strawberry.ID(event.resource_id), version_id=event.version_id,
                 patient_id=opt_id(event.patient_id), live=event)
