"""The Mutation root. Every mutation is a normal store write: validated, versioned, emitting its events."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graph.catalog_roots import CatalogMutation
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


async def create_patient(
    info: Info,
    input: Annotated[PatientInput, strawberry.argument(description="The new patient.")],
) -> patient_m.CreatePatientPayload:
    return await patient_r.create_patient(info.context, fields_of(input))


async def update_patient(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The patient's id.")],
    base_version: Annotated[int, strawberry.argument(
        description="The version you read (Patient.version); refused with VERSION_CONFLICT when it is no longer "
                    "current.")],
    input: Annotated[PatientPatch, strawberry.argument(description="The fields to change.")],
) -> patient_m.Patient:
    return await patient_r.update_patient(info.context, id, base_version, fields_of(input))


async def transition_patient_status(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The patient's id.")],
    base_version: Annotated[int, strawberry.argument(description="The version you read (Patient.version).")],
    new_status: Annotated[PatientStatus, strawberry.argument(description="The status to move to.")],
) -> patient_m.Patient:
    return await patient_r.transition_status(info.context, id, base_version, new_status)


async def archive_patient(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The patient's id.")],
    base_version: Annotated[int | None, strawberry.argument(
        description="The version you read; when given, refused with VERSION_CONFLICT if it is no longer "
                    "current.")] = None,
) -> patient_m.Patient:
    return await patient_r.archive_patient(info.context, id, base_version)


async def restore_patient(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The patient's id.")],
    base_version: Annotated[int | None, strawberry.argument(description="The version you read; optional.")] = None,
) -> patient_m.Patient:
    return await patient_r.restore_patient(info.context, id, base_version)


async def create_episode(
    info: Info,
    patient_id: Annotated[strawberry.ID, strawberry.argument(description="The patient's id.")],
    input: Annotated[EpisodeInput, strawberry.argument(description="The episode.")],
) -> episode_m.Episode:
    return await episode_r.create_episode(info.context, patient_id, fields_of(input))


async def update_episode(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The episode's id.")],
    input: Annotated[EpisodeInput, strawberry.argument(description="The fields to change.")],
    base_version: Annotated[int | None, strawberry.argument(
        description="The version you read (Episode.version); optional.")] = None,
) -> episode_m.Episode:
    return await episode_r.update_episode(info.context, id, base_version, fields_of(input))


async def assign_appointment_to_episode(
    info: Info,
    appointment_id: Annotated[strawberry.ID, strawberry.argument(description="The appointment's id.")],
    episode_id: Annotated[strawberry.ID | None, strawberry.argument(
        description="The episode's id; null to unassign.")] = None,
) -> appointment_m.Appointment:
    return await appointment_r.assign_to_episode(info.context, appointment_id, episode_id)


async def book_appointment(
    info: Info,
    input: Annotated[BookAppointmentInput, strawberry.argument(description="The appointment to book.")],
) -> appointment_m.Appointment:
    return await appointment_r.book_appointment(info.context, fields_of(input))


async def reschedule_appointment(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The appointment's id.")],
    start: Annotated[str, strawberry.argument(
        description="New start, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z.")],
    end: Annotated[str | None, strawberry.argument(
        description="New end, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z (default: the same length "
                    "as before).")] = None,
    slot_id: Annotated[strawberry.ID | None, strawberry.argument(description="A free slot to move into.")] = None,
    base_version: Annotated[int | None, strawberry.argument(
        description="The version you read (Appointment.version); optional.")] = None,
) -> appointment_m.Appointment:
    return await appointment_r.reschedule_appointment(info.context, id, base_version, start, end, slot_id)


async def cancel_appointment(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The appointment's id.")],
    reason: Annotated[str | None, strawberry.argument(description="Why it is cancelled, as text.")] = None,
    base_version: Annotated[int | None, strawberry.argument(
        description="The version you read (Appointment.version); optional.")] = None,
) -> appointment_m.Appointment:
    return await appointment_r.cancel_appointment(info.context, id, base_version, reason)


async def record_vital_signs(
    info: Info,
    patient_id: Annotated[strawberry.ID, strawberry.argument(description="The patient's id.")],
    input: Annotated[VitalSignsInput, strawberry.argument(description="The reading; at least one value.")],
) -> vital_signs_m.VitalSigns:
    return await vital_signs_r.record_vital_signs(info.context, patient_id, fields_of(input))


async def record_allergy(
    info: Info,
    patient_id: Annotated[strawberry.ID, strawberry.argument(description="The patient's id.")],
    input: Annotated[AllergyInput, strawberry.argument(description="The allergy.")],
) -> allergy_m.Allergy:
    return await allergy_r.record_allergy(info.context, patient_id, fields_of(input))


async def record_medication(
    info: Info,
    patient_id: Annotated[strawberry.ID, strawberry.argument(description="The patient's id.")],
    input: Annotated[MedicationInput, strawberry.argument(description="The medication.")],
) -> medication_m.Medication:
    return await medication_r.record_medication(info.context, patient_id, fields_of(input))


async def record_problem(
    info: Info,
    patient_id: Annotated[strawberry.ID, strawberry.argument(description="The patient's id.")],
    input: Annotated[ProblemInput, strawberry.argument(description="The problem.")],
) -> problem_m.Problem:
    return await problem_r.record_problem(info.context, patient_id, fields_of(input))


async def create_alert(
    info: Info,
    patient_id: Annotated[strawberry.ID, strawberry.argument(description="The patient's id.")],
    input: Annotated[AlertInput, strawberry.argument(description="The alert.")],
) -> alert_m.Alert:
    return await alert_r.create_alert(info.context, patient_id, fields_of(input))


async def create_relationship(
    info: Info,
    patient_id: Annotated[strawberry.ID, strawberry.argument(description="The patient the relationship is seen from.")],
    input: Annotated[RelationshipInput, strawberry.argument(
        description="The related patient and what they are to this patient.")],
) -> family_m.Relationship:
    return await family_r.create_relationship(info.context, patient_id, fields_of(input))


@strawberry.type(description="Writes. Each is validated, versioned and emits an event; failures carry "
                             "extensions.code (VALIDATION with extensions.field, NOT_FOUND, VERSION_CONFLICT, …).")
class Mutation(CatalogMutation):
    create_patient = strawberry.mutation(
        resolver=create_patient, graphql_type=CreatePatientPayload,
        description="Create a patient; the payload also lists the existing patients it may duplicate. Errors: "
                    "VALIDATION (firstName and lastName required, a malformed value; extensions.field names the "
                    "input), NOT_FOUND (an unknown provider or location id).")
    update_patient = strawberry.mutation(
        resolver=update_patient, graphql_type=Patient,
        description="Change a patient: only the fields sent change, a field sent as null is cleared. Errors: "
                    "VALIDATION, NOT_FOUND, VERSION_CONFLICT (baseVersion is not the current version: reload and "
                    "retry).")
    transition_patient_status = strawberry.mutation(
        resolver=transition_patient_status, graphql_type=Patient,
        description="Change the lifecycle status: prospective → active, active → inactive or deceased, inactive → "
                    "active. Errors: INVALID_TRANSITION (extensions current and target), NOT_FOUND, VERSION_CONFLICT.")
    archive_patient = strawberry.mutation(
        resolver=archive_patient, graphql_type=Patient,
        description="Archive (soft-delete) a patient: hidden from lists unless asked for. Errors: VALIDATION (already "
                    "archived, or the guarantor of active dependents), NOT_FOUND, VERSION_CONFLICT.")
    restore_patient = strawberry.mutation(
        resolver=restore_patient, graphql_type=Patient,
        description="Restore an archived patient; it comes back inactive. Errors: VALIDATION (not archived), "
                    "NOT_FOUND, VERSION_CONFLICT.")
    create_episode = strawberry.mutation(
        resolver=create_episode, graphql_type=Episode,
        description="Open an episode of care for a patient. Errors: VALIDATION (name, type, from and status required; "
                    "extensions.field names the input), NOT_FOUND (patient).")
    update_episode = strawberry.mutation(
        resolver=update_episode, graphql_type=Episode,
        description="Change an episode: only the fields sent change. Errors: VALIDATION, NOT_FOUND, VERSION_CONFLICT "
                    "(baseVersion is not the current version).")
    assign_appointment_to_episode = strawberry.mutation(
        resolver=assign_appointment_to_episode, graphql_type=Appointment,
        description="Assign an appointment to an episode of care (episodeId null: unassign). Errors: VALIDATION (the "
                    "episode is another patient's), NOT_FOUND (appointment, episode).")
    book_appointment = strawberry.mutation(
        resolver=book_appointment, graphql_type=Appointment,
        description="Book an appointment. Errors: VALIDATION (start or slotId required, end before start), NOT_FOUND "
                    "(patient, practitioner, slot), SLOT_TAKEN (the slot is already booked).")
    reschedule_appointment = strawberry.mutation(
        resolver=reschedule_appointment, graphql_type=Appointment,
        description="Move an appointment to a new time (and slot). Errors: VALIDATION (start not an ISO date-time, "
                    "end before start, a cancelled or completed appointment), NOT_FOUND (appointment, slot), "
                    "SLOT_TAKEN, VERSION_CONFLICT.")
    cancel_appointment = strawberry.mutation(
        resolver=cancel_appointment, graphql_type=Appointment,
        description="Cancel an appointment, with an optional reason. Errors: VALIDATION (already cancelled or "
                    "completed), NOT_FOUND, VERSION_CONFLICT.")
    record_vital_signs = strawberry.mutation(
        resolver=record_vital_signs, graphql_type=VitalSigns,
        description="Record a vital-sign reading; abnormal flags are computed on write. Errors: VALIDATION (no value "
                    "at all, a negative value), NOT_FOUND (patient).")
    record_allergy = strawberry.mutation(
        resolver=record_allergy, graphql_type=Allergy,
        description="Add an allergy to the patient's chart. Errors: VALIDATION (severity not mild, moderate or "
                    "severe; extensions.field names the input), NOT_FOUND (patient).")
    record_medication = strawberry.mutation(
        resolver=record_medication, graphql_type=Medication,
        description="Add a medication to the patient's list. Errors: VALIDATION (neither name nor rxCui, an unknown "
                    "status), NOT_FOUND (patient).")
    record_problem = strawberry.mutation(
        resolver=record_problem, graphql_type=Problem,
        description="Add a problem or diagnosis to the patient's chart. Errors: VALIDATION (an active problem with a "
                    "stop date), NOT_FOUND (patient).")
    create_alert = strawberry.mutation(
        resolver=create_alert, graphql_type=Alert,
        description="Add an alert of an org alert definition to a patient's chart (or the family's, with scope "
                    "FAMILY). Errors: NOT_FOUND (patient, unknown or archived definition), VALIDATION.")
    create_relationship = strawberry.mutation(
        resolver=create_relationship, graphql_type=Relationship,
        description="Relate the patient to another patient (one direction: what the other is to this one). Errors: "
                    "VALIDATION (unknown relationshipType, the patient itself), NOT_FOUND (either patient).")
