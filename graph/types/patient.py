"""The patient record (seed 003) and the types around it: summaries, counts by location, the create payload."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from graph.entity import Entity
from graph.pagination import Connection
from graph.record import object_type
from graph.types import (  # noqa: F401 - the types of its fields
    alert,
    allergy,
    common,
    communication_log,
    document,
    medical_summary,
    medication,
    problem,
    vital_signs,
)
from resolvers import alert as alert_r
from resolvers import allergy as allergy_r
from resolvers import appointment as appointment_r
from resolvers import communication_log as communication_log_r
from resolvers import document as document_r
from resolvers import encounter as encounter_r
from resolvers import episode as episode_r
from resolvers import family as family_r
from resolvers import medical_summary as medical_summary_r
from resolvers import medication as medication_r
from resolvers import patient as patient_r
from resolvers import problem as problem_r
from resolvers import vital_signs as vital_signs_r
from resolvers.model import patient
from resolvers.model.alert import Alert
from resolvers.model.allergy import Allergy
from resolvers.model.communication_log import CommunicationLog
from resolvers.model.document import Document
from resolvers.model.medical_summary import MedicalSummary
from resolvers.model.medication import Medication
from resolvers.model.patient import (
    AllergyReviewStatus,
    ContactMethod,
    LocationCount,
    PatientCountsByLocation,
    PatientStatus,
    PatientSummary,
    Pronoun,
)
from resolvers.model.patient import (
    Patient as PatientRecord,
)
from resolvers.model.problem import Problem
from resolvers.model.vital_signs import VitalSigns

if TYPE_CHECKING:
    from graph.types.appointment import Appointment
    from graph.types.encounter import Encounter
    from graph.types.episode import Episode
    from graph.types.family import Family, Relationship
    from graph.types.practitioner import Practitioner



# Types of other modules that refer back to Patient: resolved when the schema is built.
_Practitioner = Annotated["Practitioner", strawberry.lazy("graph.types.practitioner")]
_Family = Annotated["Family", strawberry.lazy("graph.types.family")]
_Relationship = Annotated["Relationship", strawberry.lazy("graph.types.family")]
_Episode = Annotated["Episode", strawberry.lazy("graph.types.episode")]
_Appointment = Annotated["Appointment", strawberry.lazy("graph.types.appointment")]
_Encounter = Annotated["Encounter", strawberry.lazy("graph.types.encounter")]


@strawberry.federation.type(keys=["id"], description="A patient of the practice: demographics, contact details, "
                            "identifiers, preferences and balance, with the chart and schedule as relations.")
class Patient(patient.Patient, Entity):
    record = patient.Patient
    find = patient_r.get_patient
    primary_provider = strawberry.field(
        resolver=patient_r.primary_provider, graphql_type=_Practitioner | None,
        description="The patient's primary provider; null when none is assigned.")
    secondary_provider = strawberry.field(
        resolver=patient_r.secondary_provider, graphql_type=_Practitioner | None,
        description="The patient's secondary provider; null when none is assigned.")
    medical_summary = strawberry.field(
        resolver=medical_summary_r.medical_summary, graphql_type=MedicalSummary,
        description="The chart header: allergies, medications, problems, latest vitals, social history, alerts.")
    family = strawberry.field(
        resolver=family_r.family, graphql_type=_Family,
        description="The financial family (patients sharing a guarantor), guardians, dependents and relationships.")
    relationships = strawberry.field(
        resolver=family_r.relationships, graphql_type=list[_Relationship],
        description="This patient's relationships to other patients (where this patient is the source).")
    episodes = strawberry.field(
        resolver=episode_r.patient_episodes, graphql_type=Connection[_Episode],
        description="Episodes of care, newest first.")
    appointments = strawberry.field(
        resolver=appointment_r.patient_appointments,
        graphql_type=Connection[_Appointment],
        description="Appointments, latest start first; filter by date range and status.")
    encounters = strawberry.field(
        resolver=encounter_r.patient_encounters, graphql_type=Connection[_Encounter],
        description="Encounters (visits), newest first.")
    vital_signs = strawberry.field(
        resolver=vital_signs_r.patient_vital_signs, graphql_type=Connection[VitalSigns],
        description="Vital-sign readings, newest first; filter by date range.")
    allergies = strawberry.field(
        resolver=allergy_r.patient_allergies, graphql_type=Connection[Allergy],
        description="Allergies and intolerances, newest first.")
    medications = strawberry.field(
        resolver=medication_r.patient_medications, graphql_type=Connection[Medication],
        description="Medications (current and past), newest first.")
    problems = strawberry.field(
        resolver=problem_r.patient_problems, graphql_type=Connection[Problem],
        description="Problems and diagnoses, newest first.")
    alerts = strawberry.field(
        resolver=alert_r.patient_alerts, graphql_type=Connection[Alert],
        description="Alerts on the patient (and, with includeFamily, the family's), newest first.")
    communication_logs = strawberry.field(
        resolver=communication_log_r.patient_communication_logs,
        graphql_type=Connection[CommunicationLog],
        description="Communications with the patient (calls, emails, texts, letters), newest first.")
    documents = strawberry.field(
        resolver=document_r.patient_documents, graphql_type=Connection[Document],
        description="Documents (notes, letters, uploads), newest first.")



object_type(PatientSummary, description="Lightweight patient fields for typeahead and duplicate checks.")
object_type(LocationCount, description="How many matching patients one location has.")
object_type(PatientCountsByLocation,
            description="Patient counts per location, for dashboards: counts only, no patient rows.")


@strawberry.type(description="The result of createPatient: the new patient and its possible duplicates.")
class CreatePatientPayload(patient.CreatePatientPayload):
    patient: PatientRecord = strawberry.field(graphql_type=Patient, description="The patient created.")


__all__ = ["AllergyReviewStatus", "ContactMethod", "CreatePatientPayload", "LocationCount", "Patient",
           "PatientCountsByLocation", "PatientStatus", "PatientSummary", "Pronoun"]
