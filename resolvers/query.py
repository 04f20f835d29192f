"""The Query root: entry points of the patient, scheduling and episode domains."""

from __future__ import annotations

from typing import Any

import strawberry

from graph.context import Info
from graph.pagination import Connection
from graph.types.appointment import Appointment
from graph.types.encounter import Encounter
from graph.types.episode import Episode
from graph.types.inputs import AppointmentFilter, PatientFilter, PatientSort
from graph.types.patient import Patient, PatientCountsByLocation, PatientStatus, PatientSummary
from graph.types.practitioner import Practitioner
from resolvers import appointment as appointment_r
from resolvers import encounter as encounter_r
from resolvers import episode as episode_r
from resolvers import patient as patient_r
from resolvers import practitioner as practitioner_r
from resolvers.loaders import settle


def _selected(info: Info, name: str) -> bool:
    return any(s.name == name for f in info.selected_fields for s in getattr(f, "selections", ()))


@strawberry.type
class Query:
    @strawberry.field
    async def patient(self, info: Info, id: strawberry.ID) -> Patient | None:
        return await settle(patient_r.get_patient(info, id))

    @strawberry.field(description="Patients, keyset-paginated (Relay). Archived patients only when asked for.")
    async def patients(self, info: Info, first: int | None = None, after: str | None = None,
                       last: int | None = None, before: str | None = None, filter: PatientFilter | None = None,
                       sort: PatientSort | None = None) -> Connection[Patient]:
        return await patient_r.list_patients(info, flt=filter, sort=sort, first=first, after=after, last=last,
                                             before=before, want_total=_selected(info, "totalCount"))

    @strawberry.field(description="Typeahead over first, last, preferred name and chart number; empty → [].")
    async def search_patients(self, info: Info, query: str, limit: int = 20) -> list[PatientSummary]:
        return await patient_r.search_patients(info, query, limit)

    @strawberry.field(description="Patient counts per location, by first-visit date range and statuses.")
    async def patient_counts_by_location(self, info: Info, date_from: str | None = None, date_to: str | None = None,
                                         statuses: list[PatientStatus] | None = None) -> PatientCountsByLocation:
        return await patient_r.patient_counts_by_location(info, date_from, date_to, statuses)

    @strawberry.field(description="Existing patients matching any duplicate signal: last name + date of birth, "
                                  "email, mobile phone or SSN.")
    async def check_duplicate_patients(self, info: Info, last_name: str, date_of_birth: str | None = None,
                                       email: str | None = None, mobile_phone: str | None = None,
                                       ssn: str | None = None) -> list[PatientSummary]:
        return await patient_r.check_duplicates(info, last_name=last_name, date_of_birth=date_of_birth,
                                                email=email, mobile_phone=mobile_phone, ssn=ssn)

    @strawberry.field
    async def appointment(self, info: Info, id: strawberry.ID) -> Appointment | None:
        return await settle(appointment_r.get_appointment(info, id))

    @strawberry.field
    async def appointments(self, info: Info, filter: AppointmentFilter | None = None, first: int | None = None,
                           after: str | None = None, last: int | None = None,
                           before: str | None = None) -> Connection[Appointment]:
        return await appointment_r.list_appointments(info, filter, first, after, last, before)

    @strawberry.field
    async def episode(self, info: Info, id: strawberry.ID) -> Episode | None:
        return await settle(episode_r.get_episode(info, id))

    @strawberry.field
    async def practitioner(self, info: Info, id: strawberry.ID) -> Practitioner | None:
        return await settle(practitioner_r.get_practitioner(info, id))

    @strawberry.field
    async def encounter(self, info: Info, id: strawberry.ID) -> Encounter | None:
        return await settle(encounter_r.get_encounter(info, id))


__all__ = ["Query", "Any"]
