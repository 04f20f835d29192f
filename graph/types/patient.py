"""The patient record (seed 003) and the types around it: summaries, counts by location, the create payload."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from graph.entity import Entity
from graph.pagination import Connection, Page
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
from resolvers.model.common import EntityRef
from resolvers.model.communication_log import CommunicationLog
from resolvers.model.document import Document
from resolvers.model.medical_summary import MedicalSummary
from resolvers.model.medication import Medication
from resolvers.model.patient import (
    AllergyReviewStatus,
    ContactMethod,
    Gender,
    LocationCount,
    MaritalStatus,
    PatientCountsByLocation,
    PatientSearchPage,
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


def _ref(resolver: Callable[..., Any], description: str) -> Any:
    return strawberry.field(resolver=resolver, graphql_type=EntityRef | None, description=description)


_PAGE_ERRORS = " Errors: VALIDATION (page or pageSize out of range)."


def _page(resolver: Callable[..., Any], item: Any, what: str) -> Any:
    """A chart list's numbered twin of its Relay connection: the same filters, page and pageSize for cursors."""
    return strawberry.field(resolver=resolver, graphql_type=Page[item],
                            description=f"{what}: one numbered page (page, pageSize, total) with the connection's "
                                        f"filters.{_PAGE_ERRORS}")


@strawberry.federation.type(keys=["id"], description="A patient record, as the practice-management screens show it.")
class Patient(patient.Patient, Entity):
    record = patient.Patient
    find = patient_r.get_patient
    primary_provider = strawberry.field(resolver=patient_r.primary_provider, graphql_type=_Practitioner | None,
                                        description="The patient's primary provider.")
    secondary_provider = strawberry.field(resolver=patient_r.secondary_provider, graphql_type=_Practitioner | None,
                                          description="The patient's secondary provider.")
    potential_duplicates = strawberry.field(
        resolver=patient_r.potential_duplicates, graphql_type=list[PatientSummary],
        description="Other patients this one may duplicate, by the checkDuplicatePatients signals (same last name "
                    "and date of birth, same email whatever its case, same mobile phone whatever its punctuation, "
                    "same SSN with or without dashes), never the patient itself; empty when none. The same list "
                    "createPatient and updatePatient answer, here on every read.")
    location = _ref(patient_r.location, "The practice location the patient belongs to, with its name.")
    billing_type = _ref(patient_r.billing_type, "The patient's billing type (a practice catalog entry).")
    fee_schedule = _ref(patient_r.fee_schedule, "The fee schedule applied to the patient (a practice catalog entry).")
    employer = _ref(patient_r.employer, "The patient's employer (an organization).")
    responsible_party = _ref(
        patient_r.responsible_party,
        "Who is financially responsible for the patient: the guarantor of the patient's billing account (often a "
        "parent; the patient for themselves). Patients with the same responsible party form a family.")
    smoking_snomed = strawberry.field(
        resolver=patient_r.smoking_snomed, graphql_type=str | None,
        description="Tobacco smoking status as a SNOMED CT code (e.g. 266919005 never smoked, 77176002 smoker), "
                    "from the latest social-history entry; null when never recorded.")
    medical_summary = strawberry.field(resolver=medical_summary_r.medical_summary, graphql_type=MedicalSummary,
                                       description="The chart header: allergies, medications, active problems, "
                                                   "latest vitals, social history, alerts.")
    family = strawberry.field(resolver=family_r.family, graphql_type=_Family,
                              description="Financial family (same guarantor), guardians, dependents, relationships.")
    relationships = strawberry.field(resolver=family_r.relationships, graphql_type=list[_Relationship],
                                     description="Relationships where this patient is the source.")
    relationship_page = strawberry.field(
        resolver=family_r.relationship_page, graphql_type=Page[_Relationship],
        description="Relationships where this patient is the source: one numbered page (page, pageSize, total)." +
                    _PAGE_ERRORS)
    episodes = strawberry.field(resolver=episode_r.patient_episodes, graphql_type=Connection[_Episode],
                                description="The patient's episodes of care, newest first (Relay connection).")
    appointments = strawberry.field(resolver=appointment_r.patient_appointments, graphql_type=Connection[_Appointment],
                                    description="The patient's appointments (Relay connection).")
    encounters = strawberry.field(resolver=encounter_r.patient_encounters, graphql_type=Connection[_Encounter],
                                  description="The patient's visits and video sessions (Relay connection).")
    latest_vitals_date = strawberry.field(
        resolver=vital_signs_r.latest_vitals_date, graphql_type=str | None,
        description="Date (YYYY-MM-DD) of the patient's most recent vital signs; null when none are recorded.")
    vital_signs = strawberry.field(resolver=vital_signs_r.patient_vital_signs, graphql_type=Connection[VitalSigns],
                                   description="Vital-signs readings, newest first (Relay connection).")
    vital_signs_page = _page(vital_signs_r.patient_vital_signs_page, VitalSigns, "Vital-signs readings, newest first")
    allergies = strawberry.field(resolver=allergy_r.patient_allergies, graphql_type=Connection[Allergy],
                                 description="Recorded allergies (Relay connection).")
    allergy_page = _page(allergy_r.patient_allergy_page, Allergy, "Recorded allergies, newest first")
    medications = strawberry.field(resolver=medication_r.patient_medications, graphql_type=Connection[Medication],
                                   description="The medication list (Relay connection).")
    medication_page = _page(medication_r.patient_medication_page, Medication,
                            "The medication list, the latest started first")
    problems = strawberry.field(resolver=problem_r.patient_problems, graphql_type=Connection[Problem],
                                description="Diseases and problems (Relay connection).")
    problem_page = _page(problem_r.patient_problem_page, Problem, "Diseases and problems, the latest onset first")
    alerts = strawberry.field(resolver=alert_r.patient_alerts, graphql_type=Connection[Alert],
                              description="Patient alerts (Relay connection).")
    alert_page = _page(alert_r.patient_alert_page, Alert, "Patient alerts, the latest started first")
    communication_logs = strawberry.field(resolver=communication_log_r.patient_communication_logs,
                                          graphql_type=Connection[CommunicationLog],
                                          description="Calls, emails, texts and letters with the patient "
                                                      "(Relay connection).")
    communication_log_page = _page(communication_log_r.patient_communication_log_page, CommunicationLog,
                                   "Calls, emails, texts and letters with the patient, the latest first")
    documents = strawberry.field(resolver=document_r.patient_documents, graphql_type=Connection[Document],
                                 description="Clinical notes and documents (Relay connection).")


object_type(PatientSummary, description="Lightweight patient fields for typeahead and duplicate checks.")
object_type(PatientSearchPage, description="Typeahead results and how many patients match in all.")
object_type(LocationCount, description="How many patients one location has.")
object_type(PatientCountsByLocation, description="Patient counts per active location; no patient rows.")


@strawberry.type(description="What createPatient answers: the new patient and the patients it may duplicate.")
class CreatePatientPayload(patient.CreatePatientPayload):
    patient: PatientRecord = strawberry.field(graphql_type=Patient, description="The new patient.")


@strawberry.type(description="What updatePatient answers: the patient as updated and the other patients it may "
                             "duplicate.")
class UpdatePatientPayload(patient.UpdatePatientPayload):
    patient: PatientRecord = strawberry.field(graphql_type=Patient, description="The patient as updated.")


__all__ = ["AllergyReviewStatus", "ContactMethod", "CreatePatientPayload", "Gender", "LocationCount", "MaritalStatus",
           "Patient",
           "PatientCountsByLocation", "PatientSearchPage", "PatientStatus", "PatientSummary",
           "Pronoun", "UpdatePatientPayload"]
