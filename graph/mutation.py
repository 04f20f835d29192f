"""The Mutation root. Every mutation is a normal store write: validated, versioned, emitting its events."""

from __future__ import annotations

import strawberry

from graph.catalog_roots import CatalogMutation
from graph.chart_roots import ChartMutation
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
    fields_of,
)
from graph.types.medication import Medication
from graph.types.patient import CreatePatientPayload, Patient, PatientStatus
from graph.types.problem import Problem
from graph.types.vital_signs import VitalSigns
from resolvers import alert as alert_r
from resolvers import allergy as allergy_r
from resolvers import appointment as appointment_r
from resolvers import episode as episode_r
from resolvers import family as family_r
from resolvers import medication as medication_r
from resolvers import patient as patient_r
from resolvers import problem as problem_r
from resolvers import vital_signs as vital_signs_r
from resolvers.model import alert as alert_m
from resolvers.model import allergy as allergy_m
from resolvers.model import appointment as appointment_m
from resolvers.model import episode as episode_m
from resolvers.model import family as family_m
from resolvers.model import medication as medication_m
from resolvers.model import patient as patient_m
from resolvers.model import problem as problem_m
from resolvers.model import vital_signs as vital_signs_m


async def create_patient(info: Info, input: PatientInput) -> patient_m.CreatePatientPayload:
    return await patient_r.create_patient(info.context, fields_of(input))


async def update_patient(info: Info, id: strawberry.ID, base_version: int, input: PatientPatch) -> patient_m.Patient:
    return await patient_r.update_patient(info.context, id, base_version, fields_of(input))


async def transition_patient_status(
    info: Info, id: strawberry.ID, base_version: int, new_status: PatientStatus
) -> patient_m.Patient:
    return await patient_r.transition_status(info.context, id, base_version, new_status)


async def archive_patient(info: Info, id: strawberry.ID, base_version: int | None = None) -> patient_m.Patient:
    return await patient_r.archive_patient(info.context, id, base_version)


async def restore_patient(info: Info, id: strawberry.ID, base_version: int | None = None) -> patient_m.Patient:
    return await patient_r.restore_patient(info.context, id, base_version)


async def create_episode(info: Info, patient_id: strawberry.ID, input: EpisodeInput) -> episode_m.Episode:
    return await episode_r.create_episode(info.context, patient_id, fields_of(input))


async def update_episode(
    info: Info, id: strawberry.ID, input: EpisodeInput, base_version: int | None = None
) -> episode_m.Episode:
    return await episode_r.update_episode(info.context, id, base_version, fields_of(input))


async def assign_appointment_to_episode(
    info: Info, appointment_id: strawberry.ID, episode_id: strawberry.ID | None = None
) -> appointment_m.Appointment:
    return await appointment_r.assign_to_episode(info.context, appointment_id, episode_id)


async def book_appointment(info: Info, input: BookAppointmentInput) -> appointment_m.Appointment:
    return await appointment_r.book_appointment(info.context, fields_of(input))


async def reschedule_appointment(
    info: Info,
    id: strawberry.ID,
    start: str,
    end: str | None = None,
    slot_id: strawberry.ID | None = None,
    base_version: int | None = None,
) -> appointment_m.Appointment:
    return await appointment_r.reschedule_appointment(info.context, id, base_version, start, end, slot_id)


async def cancel_appointment(
    info: Info, id: strawberry.ID, reason: str | None = None, base_version: int | None = None
) -> appointment_m.Appointment:
    return await appointment_r.cancel_appointment(info.context, id, base_version, reason)


async def record_vital_signs(info: Info, patient_id: strawberry.ID, input: VitalSignsInput) -> vital_signs_m.VitalSigns:
    return await vital_signs_r.record_vital_signs(info.context, patient_id, fields_of(input))


async def record_allergy(info: Info, patient_id: strawberry.ID, input: AllergyInput) -> allergy_m.Allergy:
    return await allergy_r.record_allergy(info.context, patient_id, fields_of(input))


async def record_medication(info: Info, patient_id: strawberry.ID, input: MedicationInput) -> medication_m.Medication:
    return await medication_r.record_medication(info.context, patient_id, fields_of(input))


async def record_problem(info: Info, patient_id: strawberry.ID, input: ProblemInput) -> problem_m.Problem:
    return await problem_r.record_problem(info.context, patient_id, fields_of(input))


async def create_alert(info: Info, patient_id: strawberry.ID, input: AlertInput) -> alert_m.Alert:
    return await alert_r.create_alert(info.context, patient_id, fields_of(input))


async def create_relationship(info: Info, patient_id: strawberry.ID, input: RelationshipInput) -> family_m.Relationship:
    return await family_r.create_relationship(info.context, patient_id, fields_of(input))


@strawberry.type
class Mutation(CatalogMutation, ChartMutation):
    create_patient = strawberry.mutation(
        resolver=create_patient, graphql_type=CreatePatientPayload,
        description="Create a patient; also returns the existing patients it may duplicate.")
    update_patient = strawberry.mutation(
        resolver=update_patient, graphql_type=Patient,
        description="PATCH a patient: only the fields sent change. baseVersion is required.")
    transition_patient_status = strawberry.mutation(
        resolver=transition_patient_status, graphql_type=Patient,
        description="prospective→active, active→inactive|deceased, inactive→active.")
    archive_patient = strawberry.mutation(
        resolver=archive_patient, graphql_type=Patient,
        description="Archive (soft-delete); refused while guarantor of active dependents.")
    restore_patient = strawberry.mutation(resolver=restore_patient, graphql_type=Patient,
                                          description="Restore an archived patient; it comes back inactive.")
    create_episode = strawberry.mutation(resolver=create_episode, graphql_type=Episode)
    update_episode = strawberry.mutation(resolver=update_episode, graphql_type=Episode)
    assign_appointment_to_episode = strawberry.mutation(
        resolver=assign_appointment_to_episode, graphql_type=Appointment,
        description="Assign an appointment to an episode (episodeId null: unassign).")
    book_appointment = strawberry.mutation(resolver=book_appointment, graphql_type=Appointment,
                                           description="Book an appointment; a slot already booked → SLOT_TAKEN.")
    reschedule_appointment = strawberry.mutation(resolver=reschedule_appointment, graphql_type=Appointment)
    cancel_appointment = strawberry.mutation(resolver=cancel_appointment, graphql_type=Appointment)
    record_vital_signs = strawberry.mutation(resolver=record_vital_signs, graphql_type=VitalSigns,
                                             description="Record vital signs; abnormal flags are computed on write.")
    record_allergy = strawberry.mutation(resolver=record_allergy, graphql_type=Allergy)
    record_medication = strawberry.mutation(resolver=record_medication, graphql_type=Medication)
    record_problem = strawberry.mutation(resolver=record_problem, graphql_type=Problem)
    create_alert = strawberry.mutation(
        resolver=create_alert, graphql_type=Alert,
        description="Add an alert of an org alert definition to a patient's chart. Errors: NOT_FOUND (patient, "
                    "unknown or archived definition), VALIDATION.")
    create_relationship = strawberry.mutation(resolver=create_relationship, graphql_type=Relationship,
                                              description="Relate the patient to another patient (one direction).")
