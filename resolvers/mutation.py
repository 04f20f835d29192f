"""The Mutation root. Every mutation is a normal store write: validated, versioned, emitting its events."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.types.alert import Alert
from graph.types.allergy import Allergy
from graph.types.appointment import Appointment
from graph.types.episode import Episode
from graph.types.family import Relationship
from graph.types.inputs import (
    AlertInput,
    AllergyInput,
    BookAppointmentInput,
    EpisodeInput,
    MedicationInput,
    PatientInput,
    PatientPatch,
    ProblemInput,
    RelationshipInput,
    VitalSignsInput,
)
from graph.types.medication import Medication
from graph.types.patient import CreatePatientPayload, Patient, PatientStatus
from graph.types.problem import Problem
from graph.types.vital_signs import VitalSigns
from resolvers import appointment as appointment_r
from resolvers import clinical as clinical_r
from resolvers import episode as episode_r
from resolvers import family as family_r
from resolvers import patient as patient_r


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create a patient; also returns the existing patients it may duplicate.")
    async def create_patient(self, info: Info, input: PatientInput) -> CreatePatientPayload:
        return await patient_r.create_patient(info, input)

    @strawberry.mutation(description="PATCH a patient: only the fields sent change. baseVersion is required.")
    async def update_patient(self, info: Info, id: strawberry.ID, base_version: int, input: PatientPatch) -> Patient:
        return await patient_r.update_patient(info, id, base_version, input)

    @strawberry.mutation(description="prospective→active, active→inactive|deceased, inactive→active.")
    async def transition_patient_status(self, info: Info, id: strawberry.ID, base_version: int,
                                        new_status: PatientStatus) -> Patient:
        return await patient_r.transition_status(info, id, base_version, new_status)

    @strawberry.mutation(description="Archive (soft-delete); refused while guarantor of active dependents.")
    async def archive_patient(self, info: Info, id: strawberry.ID, base_version: int | None = None) -> Patient:
        return await patient_r.archive_patient(info, id, base_version)

    @strawberry.mutation(description="Restore an archived patient; it comes back inactive.")
    async def restore_patient(self, info: Info, id: strawberry.ID, base_version: int | None = None) -> Patient:
        return await patient_r.restore_patient(info, id, base_version)

    @strawberry.mutation
    async def create_episode(self, info: Info, patient_id: strawberry.ID, input: EpisodeInput) -> Episode:
        return await episode_r.create_episode(info, patient_id, input)

    @strawberry.mutation
    async def update_episode(self, info: Info, id: strawberry.ID, input: EpisodeInput,
                             base_version: int | None = None) -> Episode:
        return await episode_r.update_episode(info, id, base_version, input)

    @strawberry.mutation(description="Assign an appointment to an episode (episodeId null: unassign).")
    async def assign_appointment_to_episode(self, info: Info, appointment_id: strawberry.ID,
                                            episode_id: strawberry.ID | None = None) -> Appointment:
        return await appointment_r.assign_to_episode(info, appointment_id, episode_id)

    @strawberry.mutation(description="Book an appointment; a slot already booked → SLOT_TAKEN.")
    async def book_appointment(self, info: Info, input: BookAppointmentInput) -> Appointment:
        return await appointment_r.book_appointment(info, input)

    @strawberry.mutation
    async def reschedule_appointment(self, info: Info, id: strawberry.ID, start: str, end: str | None = None,
                                     slot_id: strawberry.ID | None = None,
                                     base_version: int | None = None) -> Appointment:
        return await appointment_r.reschedule_appointment(info, id, base_version, start, end, slot_id)

    @strawberry.mutation
    async def cancel_appointment(self, info: Info, id: strawberry.ID, reason: str | None = None,
                                 base_version: int | None = None) -> Appointment:
        return await appointment_r.cancel_appointment(info, id, base_version, reason)

    @strawberry.mutation(description="Record vital signs; abnormal flags are computed on write.")
    async def record_vital_signs(self, info: Info, patient_id: strawberry.ID, input: VitalSignsInput) -> VitalSigns:
        return await clinical_r.record_vital_signs(info, patient_id, input)

    @strawberry.mutation
    async def record_allergy(self, info: Info, patient_id: strawberry.ID, input: AllergyInput) -> Allergy:
        return await clinical_r.record_allergy(info, patient_id, input)

    @strawberry.mutation
    async def record_medication(self, info: Info, patient_id: strawberry.ID, input: MedicationInput) -> Medication:
        return await clinical_r.record_medication(info, patient_id, input)

    @strawberry.mutation
    async def record_problem(self, info: Info, patient_id: strawberry.ID, input: ProblemInput) -> Problem:
        return await clinical_r.record_problem(info, patient_id, input)

    @strawberry.mutation
    async def create_alert(self, info: Info, patient_id: strawberry.ID, input: AlertInput) -> Alert:
        return await clinical_r.create_alert(info, patient_id, input)

    @strawberry.mutation(description="Relate the patient to another patient (one direction).")
    async def create_relationship(self, info: Info, patient_id: strawberry.ID,
                                  input: RelationshipInput) -> Relationship:
        return await family_r.create_relationship(info, patient_id, input)
