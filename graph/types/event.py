"""``Event``: one outbox event as a GraphQL subscription delivers it, with the resource it is about resolved (at
the event's version) into the curated types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from resolvers import event as event_r
from resolvers.model import event

if TYPE_CHECKING:
    from graph.types.appointment import Appointment
    from graph.types.encounter import Encounter
    from graph.types.episode import Episode
    from graph.types.patient import Patient



@strawberry.type(description="A change in your clinic's records, as a live event, in sequence order.")
class Event(event.Event):
    appointment = strawberry.field(
        resolver=event_r.event_appointment, description="The appointment, as of this event (Appointment events).",
        graphql_type=Annotated["Appointment", strawberry.lazy("graph.types.appointment")] | None)
    patient = strawberry.field(
        resolver=event_r.event_patient, description="The patient, as of this event (Patient events).",
        graphql_type=Annotated["Patient", strawberry.lazy("graph.types.patient")] | None)
    encounter = strawberry.field(
        resolver=event_r.event_encounter, description="The encounter, as of this event (Encounter events).",
        graphql_type=Annotated["Encounter", strawberry.lazy("graph.types.encounter")] | None)
    episode = strawberry.field(
        resolver=event_r.event_episode, description="The episode of care, as of this event (EpisodeOfCare events).",
        graphql_type=Annotated["Episode", strawberry.lazy("graph.types.episode")] | None)
