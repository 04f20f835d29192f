"""The Mutation root. Every mutation is a normal store write: validated, versioned, emitting its events."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graph.catalog_roots import CatalogMutation
from graph.chart_roots import ChartMutation, IdempotencyKey
from graph.context import Info
from graph.errors import code_of
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
from graph.types.patient import CreatePatientPayload, Patient, PatientStatus, UpdatePatientPayload
from graph.types.patient_import import ImportMode, PatientImport
from graph.types.problem import Problem
from graph.types.vital_signs import VitalSigns
from resolvers import alert as alert_r
from resolvers import allergy as allergy_r
from resolvers import appointment as appointment_r
from resolvers import episode as episode_r
from resolvers import family as family_r
from resolvers import medication as medication_r
from resolvers import patient_import
from resolvers import patient_write as patient_w
from resolvers import problem as problem_r
from resolvers import vital_signs as vital_signs_r
from resolvers.model import alert as alert_m
from resolvers.model import allergy as allergy_m
from resolvers.model import appointment as appointment_m
from resolvers.model import episode as episode_m
from resolvers.model import family as family_m
from resolvers.model import medication as medication_m
from resolvers.model import patient as patient_m
from resolvers.model import patient_import as import_m
from resolvers.model import problem as problem_m
from resolvers.model import vital_signs as vital_signs_m

_ID = Annotated[strawberry.ID, strawberry.argument(description="The patient's id.")]
_VERSION = Annotated[int, strawberry.argument(
    description="The version you last read (Patient.version); another version is VERSION_CONFLICT.")]
_OPT_VERSION = Annotated[int | None, strawberry.argument(
    description="The version you last read; when given, another version is VERSION_CONFLICT.")]


async def create_patient(
    info: Info, input: Annotated[PatientInput, strawberry.argument(description="The new patient's fields.")],
    idempotency_key: Annotated[str | None, strawberry.argument(
        description="Any unique string (e.g. a UUID made when the form opens), at most 255 characters: sending "
                    "the same key and input again answers the first call's patient instead of creating a "
                    "second one. The key with a different input, or while the first call runs, is CONFLICT. "
                    "Kept 24 hours.")] = None,
) -> patient_m.CreatePatientPayload:
    return await patient_w.create_patient(info.context, fields_of(input), idempotency_key)


async def import_patients(
    info: Info,
    rows: Annotated[list[PatientInput], strawberry.argument(
        description=f"The patients, as createPatient's input (at most {patient_import.BULK_MAX}). Up to "
                    f"{patient_import.SYNC_MAX} are imported at once; more become a background import.")],
    mode: Annotated[ImportMode, strawberry.argument(
        description="What to do with rows naming an existing patient (default SKIP_EXISTING).")
    ] = ImportMode.SKIP_EXISTING,
) -> import_m.PatientImport:
    return await patient_import.import_patients(info.context, [fields_of(r) for r in rows], mode, code_of)


async def update_patient(info: Info, id: _ID, base_version: _VERSION,
                         input: Annotated[PatientPatch, strawberry.argument(description="The fields to change.")]
                         ) -> patient_m.UpdatePatientPayload:
    return await patient_w.update_patient(info.context, id, base_version, fields_of(input))


async def transition_patient_status(
    info: Info, id: _ID, base_version: _VERSION,
    new_status: Annotated[PatientStatus, strawberry.argument(description="The status to move to.")],
) -> patient_m.Patient:
    return await patient_w.transition_status(info.context, id, base_version, new_status)


async def archive_patient(info: Info, id: _ID, base_version: _OPT_VERSION = None) -> patient_m.Patient:
    return await patient_w.archive_patient(info.context, id, base_version)


async def restore_patient(info: Info, id: _ID, base_version: _OPT_VERSION = None) -> patient_m.Patient:
    return await patient_w.restore_patient(info.context, id, base_version)


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
    idempotency_key: IdempotencyKey = None,
) -> vital_signs_m.VitalSigns:
    return await vital_signs_r.record_vital_signs(info.context, patient_id, fields_of(input), idempotency_key)


async def record_allergy(
    info: Info,
    patient_id: Annotated[strawberry.ID, strawberry.argument(description="The patient's id.")],
    input: Annotated[AllergyInput, strawberry.argument(description="The allergy.")],
    idempotency_key: IdempotencyKey = None,
) -> allergy_m.Allergy:
    return await allergy_r.record_allergy(info.context, patient_id, fields_of(input), idempotency_key)


async def record_medication(
    info: Info,
    patient_id: Annotated[strawberry.ID, strawberry.argument(description="The patient's id.")],
    input: Annotated[MedicationInput, strawberry.argument(description="The medication.")],
    idempotency_key: IdempotencyKey = None,
) -> medication_m.Medication:
    return await medication_r.record_medication(info.context, patient_id, fields_of(input), idempotency_key)


async def record_problem(
    info: Info,
    patient_id: Annotated[strawberry.ID, strawberry.argument(description="The patient's id.")],
    input: Annotated[ProblemInput, strawberry.argument(description="The problem.")],
    idempotency_key: IdempotencyKey = None,
) -> problem_m.Problem:
    return await problem_r.record_problem(info.context, patient_id, fields_of(input), idempotency_key)


async def create_alert(
    info: Info,
    patient_id: Annotated[strawberry.ID, strawberry.argument(description="The patient's id.")],
    input: Annotated[AlertInput, strawberry.argument(description="The alert.")],
    idempotency_key: IdempotencyKey = None,
) -> alert_m.Alert:
    return await alert_r.create_alert(info.context, patient_id, fields_of(input), idempotency_key)


async def create_relationship(
    info: Info,
    patient_id: Annotated[strawberry.ID, strawberry.argument(
        description="The source patient: the one the relationship is listed under.")],
    input: Annotated[RelationshipInput, strawberry.argument(
        description="The related patient and what the source patient is to them.")],
    idempotency_key: IdempotencyKey = None,
) -> family_m.Relationship:
    return await family_r.create_relationship(info.context, patient_id, fields_of(input), idempotency_key)


@strawberry.type(description="Writes. Each is validated, versioned and emits an event; failures carry "
                             "extensions.code (VALIDATION with extensions.field, NOT_FOUND, VERSION_CONFLICT, …).")
class Mutation(CatalogMutation, ChartMutation):
    create_patient = strawberry.mutation(
        resolver=create_patient, graphql_type=CreatePatientPayload,
        description="Create a patient; also returns the existing patients it may duplicate. Errors: VALIDATION "
                    "(blank name, malformed date or email, out-of-range number; extensions.field is the input "
                    "path, e.g. input.dateOfBirth), NOT_FOUND (unknown provider, location, catalog entry, "
                    "employer or responsible party), CONFLICT (chart number already used; idempotency key "
                    "reused).")
    import_patients = strawberry.mutation(
        resolver=import_patients, graphql_type=PatientImport,
        description="Bulk import of patients with per-row results and counts; safe to run again (existing "
                    "patients are matched, not duplicated). A row's error carries the code and the field "
                    "(rows.<index>.<field>) createPatient would give. Errors of the whole call: VALIDATION (no "
                    "rows, too many rows).")
    update_patient = strawberry.mutation(
        resolver=update_patient, graphql_type=UpdatePatientPayload,
        description="PATCH a patient: only the fields sent change; also returns the other existing patients the "
                    "updated one may duplicate (never itself). Errors: as createPatient, plus NOT_FOUND (no such "
                    "patient) and VERSION_CONFLICT (baseVersion is not the current version).")
    transition_patient_status = strawberry.mutation(
        resolver=transition_patient_status, graphql_type=Patient,
        description="Move a patient's status: PROSPECTIVE→ACTIVE, ACTIVE→INACTIVE|DECEASED, INACTIVE→ACTIVE. "
                    "Errors: INVALID_TRANSITION, NOT_FOUND, VERSION_CONFLICT.")
    archive_patient = strawberry.mutation(
        resolver=archive_patient, graphql_type=Patient,
        description="Archive (soft-delete, sets deletedAt). Errors: VALIDATION (already archived, or guarantor of "
                    "active dependents), NOT_FOUND, VERSION_CONFLICT.")
    restore_patient = strawberry.mutation(
        resolver=restore_patient, graphql_type=Patient,
        description="Restore an archived patient; it comes back INACTIVE. Errors: VALIDATION (not archived), "
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
