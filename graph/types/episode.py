from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from graph.entity import Entity
from graph.pagination import Connection
from resolvers import appointment as appointment_r
from resolvers import episode as episode_r
from resolvers.model import episode
from resolvers.model.episode import EpisodeStatus

if TYPE_CHECKING:
    from graph.types.appointment import Appointment
    from graph.types.patient import Patient




@strawberry.federation.type(keys=["id"], description="An episode of care: a course of treatment grouping "
                            "appointments (FHIR EpisodeOfCare).")
class Episode(episode.Episode, Entity):
    record = episode.Episode
    find = episode_r.get_episode
    patient = strawberry.field(
        resolver=episode_r.patient,
        graphql_type=Annotated["Patient", strawberry.lazy("graph.types.patient")] | None,
        description="The patient.")
    appointments = strawberry.field(
        resolver=appointment_r.episode_appointments,
        graphql_type=Connection[Annotated["Appointment", strawberry.lazy("graph.types.appointment")]],
        description="The appointments assigned to this episode, in start order.")



__all__ = ["Episode", "EpisodeStatus"]
