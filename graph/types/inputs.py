"""Input types: filters, sorts and mutation inputs. Optional fields default to UNSET so that updates have
PATCH semantics: a field left out is untouched, a field sent as null is cleared."""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry import UNSET

from graph.types.alert import AlertScope
from graph.types.appointment import AppointmentStatus
from graph.types.episode import EpisodeStatus
from graph.types.patient import AllergyReviewStatus, ContactMethod, PatientStatus, Pronoun
from graph.types.problem import ProblemStatus
from resolvers.model.common import enum_type, provided


def fields_of(value: object) -> dict[str, object]:
    """An input object as a dict of the fields the client sent (PATCH semantics for UNSET defaults)."""
    return provided(vars(value))


class PatientSortField(Enum):
    LAST_NAME = "LAST_NAME"
    FIRST_NAME = "FIRST_NAME"
    DATE_OF_BIRTH = "DATE_OF_BIRTH"
    CHART_NUMBER = "CHART_NUMBER"
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    STATUS = "STATUS"


enum_type(PatientSortField, description="What a patient list is sorted by.", values={
    PatientSortField.LAST_NAME: "Last name, then first name.",
    PatientSortField.FIRST_NAME: "First name.",
    PatientSortField.DATE_OF_BIRTH: "Date of birth.",
    PatientSortField.CHART_NUMBER: "Chart number.",
    PatientSortField.CREATED: "Registration time.",
    PatientSortField.UPDATED: "Time of the last change.",
    PatientSortField.STATUS: "Lifecycle status.",
})


class SortDirection(Enum):
    ASC = "asc"
    DESC = "desc"


enum_type(SortDirection, description="Sort order.", values={
    SortDirection.ASC: "Ascending (A→Z, oldest first).",
    SortDirection.DESC: "Descending (Z→A, newest first).",
})


@strawberry.input(description="The order of a patient list.")
class PatientSort:
    field: PatientSortField = strawberry.field(
        default=PatientSortField.LAST_NAME, description="What to sort by (default LAST_NAME).")
    direction: SortDirection = strawberry.field(
        default=SortDirection.ASC, description="Ascending or descending (default ASC).")


@strawberry.input(description="Which patients a list shows; the conditions given all apply.")
class PatientFilter:
    status: list[PatientStatus] | None = strawberry.field(
        default=None, description="Only patients with one of these statuses (default: every status but archived).")
    include_archived: bool = strawberry.field(default=False, description="Include archived patients (default false).")
    search: str | None = strawberry.field(
        default=None, description="Free text over name, phone, email, chart number and date of birth.")
    primary_provider_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only patients of this primary provider.")
    location_id: strawberry.ID | None = strawberry.field(default=None, description="Only patients of this location.")
    dob_from: str | None = strawberry.field(default=None, description="Born on or after this date, YYYY-MM-DD.")
    dob_to: str | None = strawberry.field(default=None, description="Born on or before this date, YYYY-MM-DD.")
    tag: str | None = strawberry.field(default=None, description="A tag definition's id: only patients with that tag.")


@strawberry.input(description="The patient fields shared by PatientInput and PatientPatch.")
class PatientFields:
    middle_name: str | None = strawberry.field(default=UNSET, description="Middle name(s).")
    preferred_name: str | None = strawberry.field(default=UNSET, description="The name the patient goes by.")
    title: str | None = strawberry.field(default=UNSET, description="Name prefix, e.g. Mr, Ms, Dr.")
    date_of_birth: str | None = strawberry.field(default=UNSET, description="Date of birth, YYYY-MM-DD.")
    gender: str | None = strawberry.field(default=UNSET, description="male, female, other or unknown.")
    pronoun: Pronoun | None = strawberry.field(default=UNSET, description="Pronouns to use.")
    marital_status: str | None = strawberry.field(
        default=UNSET, description="divorced, domestic_partner, married, other, separated, single, widowed.")
    preferred_language: str | None = strawberry.field(
        default=UNSET, description="Preferred language, a BCP 47 tag such as en or es-MX.")
    email: str | None = strawberry.field(default=UNSET, description="Email address.")
    mobile_phone: str | None = strawberry.field(default=UNSET, description="Mobile phone number.")
    home_phone: str | None = strawberry.field(default=UNSET, description="Home phone number.")
    work_phone: str | None = strawberry.field(default=UNSET, description="Work phone number.")
    address_line1: str | None = strawberry.field(default=UNSET, description="Street address, first line.")
    address_line2: str | None = strawberry.field(default=UNSET, description="Street address, second line.")
    city: str | None = strawberry.field(default=UNSET, description="City.")
    state: str | None = strawberry.field(
        default=UNSET, description="State or province (e.g. a two-letter US state code).")
    postal_code: str | None = strawberry.field(default=UNSET, description="Postal (ZIP) code.")
    country: str | None = strawberry.field(default=UNSET, description="Country (ISO 3166 code).")
    chart_number: str | None = strawberry.field(default=UNSET, description="The practice's chart number.")
    mrn: str | None = strawberry.field(default=UNSET, description="Medical record number.")
    social_security_number: str | None = strawberry.field(default=UNSET, description="US Social Security number.")
    medicaid_id: str | None = strawberry.field(default=UNSET, description="Medicaid member id.")
    hsid: str | None = strawberry.field(default=UNSET, description="The patient's id in the partner EHR (HSID).")
    primary_provider_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="Id of the primary provider (a practitioner of your clinic).")
    secondary_provider_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="Id of the secondary provider.")
    location_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="Id of the patient's home location.")
    premedication_required: bool | None = strawberry.field(
        default=UNSET, description="Premedication is required before procedures.")
    medical_urgent_note: str | None = strawberry.field(
        default=UNSET, description="Urgent medical note to show prominently.")
    allergy_review_status: AllergyReviewStatus | None = strawberry.field(
        default=UNSET, description="Whether the allergy list has been reviewed (default NOT_REVIEWED).")
    preferred_contact_method: ContactMethod | None = strawberry.field(
        default=UNSET, description="How the patient prefers to be contacted.")
    preferred_confirmation_method: ContactMethod | None = strawberry.field(
        default=UNSET, description="How the patient prefers appointment confirmations.")
    receives_email: bool | None = strawberry.field(default=UNSET, description="The patient agrees to receive email.")
    receives_sms: bool | None = strawberry.field(
        default=UNSET, description="The patient agrees to receive text messages.")
    consent_flags: int | None = strawberry.field(default=UNSET, description="Consent bit flags.")
    date_first_visit: str | None = strawberry.field(default=UNSET, description="Date of the first visit, YYYY-MM-DD.")
    date_time_deceased: str | None = strawberry.field(
        default=UNSET, description="Date and time of death, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z.")
    emergency_contact_name: str | None = strawberry.field(default=UNSET, description="Name of the emergency contact.")
    emergency_contact_phone: str | None = strawberry.field(
        default=UNSET, description="Phone number of the emergency contact.")
    tags: list[str] | None = strawberry.field(default=UNSET, description="Tag codes; replaces the patient's tags.")


@strawberry.input(description="A new patient: firstName and lastName are required, the rest optional.")
class PatientInput(PatientFields):
    first_name: str = strawberry.field(description="Legal first name (required, not blank).")
    last_name: str = strawberry.field(description="Legal last name (required, not blank).")
    status: PatientStatus | None = strawberry.field(
        default=UNSET, description="Initial status (default ACTIVE; ARCHIVED is refused).")


@strawberry.input(description="Changes to a patient: only the fields sent are modified.")
class PatientPatch(PatientFields):
    first_name: str | None = strawberry.field(default=UNSET, description="Legal first name (cannot be cleared).")
    last_name: str | None = strawberry.field(default=UNSET, description="Legal last name (cannot be cleared).")


@strawberry.input(description="An episode of care: name, type, from and status are required to create one; "
                              "on update only the fields sent change.")
class EpisodeInput:
    name: str | None = strawberry.field(default=UNSET, description="The episode's name (required on create).")
    type: str | None = strawberry.field(
        default=UNSET, description="Episode type code, e.g. covid (required on create).")
    from_: str | None = strawberry.field(
        default=UNSET, name="from", description="Start date, YYYY-MM-DD (required on create).")
    to: str | None = strawberry.field(default=UNSET, description="End date, YYYY-MM-DD.")
    status: EpisodeStatus | None = strawberry.field(
        default=UNSET, description="Where the episode stands (required on create).")
    objective: str | None = strawberry.field(default=UNSET, description="The goal of the episode.")
    reason_incomplete: str | None = strawberry.field(
        default=UNSET, description="Why it ended before its objective was met.")


@strawberry.input(description="Which appointments a list shows; the conditions given all apply.")
class AppointmentFilter:
    date_from: str | None = strawberry.field(default=None, description="Starting on or after this date, YYYY-MM-DD.")
    date_to: str | None = strawberry.field(default=None, description="Starting on or before this date, YYYY-MM-DD.")
    practitioner_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this practitioner's appointments.")
    patient_id: strawberry.ID | None = strawberry.field(default=None, description="Only this patient's appointments.")
    location_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only appointments at this location.")
    status: list[AppointmentStatus] | None = strawberry.field(
        default=None, description="Only appointments with one of these statuses.")


@strawberry.input(description="An appointment to book: a patient, and a slot or a start time.")
class BookAppointmentInput:
    patient_id: strawberry.ID = strawberry.field(description="Id of the patient to book.")
    practitioner_id: strawberry.ID | None = strawberry.field(default=None, description="Id of the practitioner to see.")
    slot_id: strawberry.ID | None = strawberry.field(
        default=None, description="A free schedule slot to book (gives the start and end); a taken slot → SLOT_TAKEN.")
    start: str | None = strawberry.field(
        default=None, description="Start, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z (required without "
                                  "slotId).")
    end: str | None = strawberry.field(
        default=None, description="End, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z; after start.")
    minutes_duration: int | None = strawberry.field(default=None, description="Planned length in minutes.")
    reasons: list[str] | None = strawberry.field(default=None, description="Reasons for the visit, as text.")
    description: str | None = strawberry.field(default=None, description="Free-text summary for the schedule.")
    location_id: strawberry.ID | None = strawberry.field(default=None, description="Id of the location.")
    episode_id: strawberry.ID | None = strawberry.field(
        default=None, description="Id of an episode of care of the same patient.")


@strawberry.input(description="A vital-sign reading: its date and at least one value (units as named).")
class VitalSignsInput:
    date_taken: str = strawberry.field(description="Date of the reading, YYYY-MM-DD.")
    time_taken: str | None = strawberry.field(default=None, description="Time of the reading, HH:MM (24 h).")
    bp_systolic: float | None = strawberry.field(default=None, description="Systolic blood pressure, mmHg.")
    bp_diastolic: float | None = strawberry.field(default=None, description="Diastolic blood pressure, mmHg.")
    pulse: float | None = strawberry.field(default=None, description="Heart rate, beats per minute.")
    temperature_f: float | None = strawberry.field(default=None, description="Body temperature, °F.")
    respiration_rate: float | None = strawberry.field(default=None, description="Respiratory rate, breaths per minute.")
    oxygen_saturation: float | None = strawberry.field(default=None, description="Oxygen saturation (SpO2), percent.")
    height_inches: float | None = strawberry.field(default=None, description="Body height, inches.")
    weight_lbs: float | None = strawberry.field(default=None, description="Body weight, pounds.")
    bmi: float | None = strawberry.field(
        default=None, description="Body mass index, kg/m² (computed from height and weight when left out).")
    note: str | None = strawberry.field(default=None, description="Free-text note.")
    provider_id: strawberry.ID | None = strawberry.field(
        default=None, description="Id of the practitioner who took the reading.")


@strawberry.input(description="An allergy or intolerance to record.")
class AllergyInput:
    allergen: str = strawberry.field(description="What the patient reacts to, as text.")
    code: str | None = strawberry.field(default=None, description="Code of the allergen in codeSystem.")
    code_system: str | None = strawberry.field(
        default=None, description="Code system URI of code (default http://snomed.info/sct).")
    category: str | None = strawberry.field(default=None, description="food, medication, environment or biologic.")
    reaction: str | None = strawberry.field(default=None, description="The reaction, as text (e.g. Hives).")
    snomed_reaction: str | None = strawberry.field(default=None, description="SNOMED CT code of the reaction.")
    severity: str | None = strawberry.field(default=None, description="mild, moderate or severe.")
    date_adverse_reaction: str | None = strawberry.field(
        default=None, description="When the reaction happened, YYYY-MM-DD.")
    is_active: bool | None = strawberry.field(default=None, description="The allergy is current (default true).")


@strawberry.input(description="A medication to add to the patient's list: a name or an RxNorm code.")
class MedicationInput:
    name: str | None = strawberry.field(default=None, description="Medication name (name or rxCui required).")
    rx_cui: str | None = strawberry.field(default=None, description="RxNorm concept id (RXCUI).")
    status: str | None = strawberry.field(
        default=None, description="active, discontinued, on_hold or completed (default active).")
    dosage: str | None = strawberry.field(default=None, description="Dosage instructions as text.")
    date_start: str | None = strawberry.field(default=None, description="Start date, YYYY-MM-DD.")
    date_stop: str | None = strawberry.field(default=None, description="Stop date, YYYY-MM-DD.")
    provider_id: strawberry.ID | None = strawberry.field(
        default=None, description="Id of the prescribing practitioner.")


@strawberry.input(description="A problem or diagnosis to record.")
class ProblemInput:
    name: str = strawberry.field(description="The problem or diagnosis, as text.")
    snomed_code: str | None = strawberry.field(default=None, description="SNOMED CT code.")
    status: ProblemStatus | None = strawberry.field(default=None, description="Clinical status (default ACTIVE).")
    date_start: str | None = strawberry.field(default=None, description="Onset date, YYYY-MM-DD.")
    date_stop: str | None = strawberry.field(
        default=None, description="Resolution date, YYYY-MM-DD; not for an active problem.")
    note: str | None = strawberry.field(default=None, description="Free-text note.")


@strawberry.input(description="A new patient alert, instantiating an org alert definition.")
class AlertInput:
    alert_definition_id: strawberry.ID = strawberry.field(
        description="Id of an active alert definition (unknown or archived → NOT_FOUND); its name is the alert's.")
    scope: AlertScope | None = strawberry.field(
        default=None, description="PATIENT or FAMILY; default: the definition's defaultScope.")
    is_urgent: bool | None = strawberry.field(
        default=None, description="Display as an urgent warning; default: the definition's defaultIsUrgent.")
    note: str | None = strawberry.field(default=None, description="Free-text note, up to 2,000 characters.")
    disable_on: str | None = strawberry.field(
        default=None, description="Date (YYYY-MM-DD) from which the alert no longer applies.")


@strawberry.input(description="A relationship to another patient.")
class RelationshipInput:
    related_patient_id: strawberry.ID = strawberry.field(description="Id of the related patient.")
    relationship_type: str = strawberry.field(
        description="What the related patient is to this patient: spouse, life_partner, parent, child, sibling, "
                    "guardian, grandparent, grandchild, stepparent, stepchild, foster_child, caregiver, "
                    "other_family, merge, clone.")
    is_guardian: bool = strawberry.field(
        default=False, description="The related patient is the legal guardian of this patient (default false).")
