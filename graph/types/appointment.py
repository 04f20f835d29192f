from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from graph.entity import Entity
from graph.types import common  # noqa: F401 - EntityRef
from resolvers import appointment as appointment_r
from resolvers import encounter as encounter_r
from resolvers.model import appointment
from resolvers.model.appointment import AppointmentStatus

if TYPE_CHECKING:
    from graph.types.encounter import Encounter
    from graph.types.episode import Episode
    from graph.types.patient import Patient
    from graph.types.practitioner import Practitioner




@strawberry.federation.type(keys=["id"], description="An appointment (FHIR Appointment).")
class Appointment(appointment.Appointment, Entity):
    record = appointment.Appointment
    find = appointment_r.get_appointment
    patient = strawberry.field(
        resolver=appointment_r.patient,
        graphql_type=Annotated["Patient", strawberry.lazy("graph.types.patient")] | None,
        description="The patient seen.")
    practitioner = strawberry.field(
        resolver=appointment_r.practitioner,
        graphql_type=Annotated["Practitioner", strawberry.lazy("graph.types.practitioner")] | None,
        description="The practitioner seeing the patient.")
    episode = strawberry.field(
        resolver=appointment_r.episode,
        graphql_type=Annotated["Episode", strawberry.lazy("graph.types.episode")] | None,
        description="The episode of care it belongs to, if any.")
    encounters = strawberry.field(
        resolver=encounter_r.appointment_encounters,
        graphql_type=list[Annotated["Encounter", strawberry.lazy("graph.types.encounter")]],
        description="The encounters (visits) held for this appointment, oldest first.")



__all__ = ["Appointment", "AppointmentStatus"]
