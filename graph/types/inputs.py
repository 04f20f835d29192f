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
from graph.types.problem import FunctionStatus, ProblemStatus
from resolvers.model.common import provided


def fields_of(value: object) -> dict[str, object]:
    """An input object as a dict of the fields the client sent (PATCH semantics for UNSET defaults)."""
    return provided(vars(value))


@strawberry.enum
class PatientSortField(Enum):
    LAST_NAME = "LAST_NAME"
    FIRST_NAME = "FIRST_NAME"
    DATE_OF_BIRTH = "DATE_OF_BIRTH"
    CHART_NUMBER = "CHART_NUMBER"
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    STATUS = "STATUS"


@strawberry.enum
class SortDirection(Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.input
class PatientSort:
    field: PatientSortField = PatientSortField.LAST_NAME
    direction: SortDirection = SortDirection.ASC


@strawberry.input(description="Seed 003 patient list filters.")
class PatientFilter:
    status: list[PatientStatus] | None = None
    include_archived: bool = False
    search: str | None = strawberry.field(
        default=None, description="Free text over name, phone, email, chart number and date of birth.")
    primary_provider_id: strawberry.ID | None = None
    location_id: strawberry.ID | None = None
    dob_from: str | None = None
    dob_to: str | None = None
    tag: str | None = strawberry.field(default=None, description="A tag definition's id: only patients with that tag.")


@strawberry.input
class PatientFields:
    middle_name: str | None = UNSET
    preferred_name: str | None = UNSET
    title: str | None = UNSET
    date_of_birth: str | None = UNSET
    gender: str | None = strawberry.field(default=UNSET, description="male, female, other or unknown.")
    pronoun: Pronoun | None = UNSET
    marital_status: str | None = strawberry.field(
        default=UNSET, description="divorced, domestic_partner, married, other, separated, single, widowed.")
    preferred_language: str | None = UNSET
    email: str | None = UNSET
    mobile_phone: str | None = UNSET
    home_phone: str | None = UNSET
    work_phone: str | None = UNSET
    address_line1: str | None = UNSET
    address_line2: str | None = UNSET
    city: str | None = UNSET
    state: str | None = UNSET
    postal_code: str | None = UNSET
    country: str | None = UNSET
    chart_number: str | None = UNSET
    mrn: str | None = UNSET
    social_security_number: str | None = UNSET
    medicaid_id: str | None = UNSET
    hsid: str | None = UNSET
    primary_provider_id: strawberry.ID | None = UNSET
    secondary_provider_id: strawberry.ID | None = UNSET
    location_id: strawberry.ID | None = UNSET
    premedication_required: bool | None = UNSET
    medical_urgent_note: str | None = UNSET
    allergy_review_status: AllergyReviewStatus | None = UNSET
    preferred_contact_method: ContactMethod | None = UNSET
    preferred_confirmation_method: ContactMethod | None = UNSET
    receives_email: bool | None = UNSET
    receives_sms: bool | None = UNSET
    consent_flags: int | None = UNSET
    date_first_visit: str | None = UNSET
    date_time_deceased: str | None = UNSET
    emergency_contact_name: str | None = UNSET
    emergency_contact_phone: str | None = UNSET
    tags: list[str] | None = UNSET


@strawberry.input(description="A new patient (seed 003 CreatePatientIn).")
class PatientInput(PatientFields):
    first_name: str
    last_name: str
    status: PatientStatus | None = UNSET


@strawberry.input(description="Changes to a patient: only the fields sent are modified.")
class PatientPatch(PatientFields):
    first_name: str | None = UNSET
    last_name: str | None = UNSET


@strawberry.input(description="Seed 002 episode fields; name, type, from and status are required on create.")
class EpisodeInput:
    name: str | None = UNSET
    type: str | None = UNSET
    from_: str | None = strawberry.field(default=UNSET, name="from")
    to: str | None = UNSET
    status: EpisodeStatus | None = UNSET
    objective: str | None = UNSET
    reason_incomplete: str | None = UNSET


@strawberry.input
class AppointmentFilter:
    date_from: str | None = None
    date_to: str | None = None
    practitioner_id: strawberry.ID | None = None
    patient_id: strawberry.ID | None = None
    location_id: strawberry.ID | None = None
    status: list[AppointmentStatus] | None = None


@strawberry.input
class BookAppointmentInput:
    patient_id: strawberry.ID
    practitioner_id: strawberry.ID | None = None
    slot_id: strawberry.ID | None = strawberry.field(default=None, description="Booking a taken slot → SLOT_TAKEN.")
    start: str | None = None
    end: str | None = None
    minutes_duration: int | None = None
    reasons: list[str] | None = None
    description: str | None = None
    location_id: strawberry.ID | None = None
    episode_id: strawberry.ID | None = None


@strawberry.input
class VitalSignsInput:
    date_taken: str
    time_taken: str | None = None
    bp_systolic: float | None = None
    bp_diastolic: float | None = None
    pulse: float | None = None
    temperature_f: float | None = None
    respiration_rate: float | None = None
    oxygen_saturation: float | None = None
    height_inches: float | None = None
    weight_lbs: float | None = None
    bmi: float | None = None
    bmi_percentile: float | None = strawberry.field(
        default=None, description="BMI percentile for age and sex (0–100), for children and teenagers.")
    has_followup_plan: bool | None = strawberry.field(
        default=None, description="An abnormal vital signs follow-up plan has been created.")
    note: str | None = None
    provider_id: strawberry.ID | None = None


@strawberry.input
class AllergyInput:
    allergen: str
    code: str | None = None
    code_system: str | None = None
    category: str | None = strawberry.field(default=None, description="food, medication, environment, biologic.")
    reaction: str | None = None
    snomed_reaction: str | None = None
    severity: str | None = strawberry.field(default=None, description="mild, moderate or severe.")
    date_adverse_reaction: str | None = None
    is_active: bool | None = None


@strawberry.input
class MedicationInput:
    name: str | None = None
    rx_cui: str | None = None
    status: str | None = strawberry.field(default=None, description="active, discontinued, on_hold, completed.")
    dosage: str | None = None
    date_start: str | None = None
    date_stop: str | None = None
    provider_id: strawberry.ID | None = None
    frequency: str | None = strawberry.field(default=None, description="How often it is taken, e.g. `twice daily`.")
    route: str | None = strawberry.field(default=None, description="How it is taken, e.g. `oral`.")
    patient_note: str | None = strawberry.field(default=None, description="Free-text note for the patient.")
    is_cpoe: bool | None = strawberry.field(
        default=None, description="Entered through Computerized Provider Order Entry (default false).")


@strawberry.input
class ProblemInput:
    name: str
    snomed_code: str | None = None
    status: ProblemStatus | None = None
    function_status: FunctionStatus | None = strawberry.field(
        default=None, description="Clinical function classification; PROBLEM when left out.")
    snomed_problem_type: str | None = strawberry.field(
        default=None, description="SNOMED CT code of the kind of problem (e.g. 282291009 diagnosis).")
    date_start: str | None = None
    date_stop: str | None = None
    note: str | None = None


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


@strawberry.input
class RelationshipInput:
    related_patient_id: strawberry.ID
    relationship_type: str = strawberry.field(
        description="What this patient (the source) is to the related patient (the target): spouse, life_partner, "
                    "parent, child, sibling, guardian, grandparent, grandchild, stepparent, stepchild, foster_child, "
                    "caregiver, other_family, merge, clone (e.g. parent: this patient is the related patient's "
                    "parent).")
    is_guardian: bool | None = strawberry.field(
        default=None, description="This patient (the source) is the legal guardian of the related patient. "
                                  "Left out: true for relationshipType guardian, else false.")
    note: str | None = strawberry.field(default=None, description="Free-text note about the relationship.")
