"""Input types: filters, sorts and mutation inputs. Optional fields default to UNSET so that updates have
PATCH semantics: a field left out is untouched, a field sent as null is cleared."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry
from strawberry import UNSET

from graph.types.alert import AlertScope
from graph.types.appointment import AppointmentStatus
from graph.types.episode import EpisodeStatus
from graph.types.patient import AllergyReviewStatus, ContactMethod, Gender, MaritalStatus, PatientStatus, Pronoun
from graph.types.problem import FunctionStatus, ProblemStatus
from resolvers.model.common import enum_type, provided
from resolvers.model.patient_input import NAME_MAX


def fields_of(value: object) -> dict[str, object]:
    """An input object as a dict of the fields the client sent (PATCH semantics for UNSET defaults); a nested
    input object (createPatient's billingAccount) becomes a dict too, its enums their values."""
    out = provided(vars(value))
    for key, v in out.items():
        if isinstance(v, BillingAccountInput):
            out[key] = {k: getattr(x, "value", x) for k, x in fields_of(v).items()}
    return out


def _in(description: str, default: object = UNSET) -> Any:
    return strawberry.field(default=default, description=description)


class PatientSortField(Enum):
    LAST_NAME = "LAST_NAME"
    FIRST_NAME = "FIRST_NAME"
    DATE_OF_BIRTH = "DATE_OF_BIRTH"
    CHART_NUMBER = "CHART_NUMBER"
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    STATUS = "STATUS"


enum_type(PatientSortField, "What a patient list is sorted by.", {
    "LAST_NAME": "Last name, then first name.", "FIRST_NAME": "First name, then last name.",
    "DATE_OF_BIRTH": "Date of birth.", "CHART_NUMBER": "Chart number (as text).",
    "CREATED": "When the record was created.", "UPDATED": "When the record was last changed.",
    "STATUS": "Lifecycle status."})


class SortDirection(Enum):
    ASC = "asc"
    DESC = "desc"


enum_type(SortDirection, "Sort direction.", {"ASC": "Ascending: A→Z, oldest first.",
                                                  "DESC": "Descending: Z→A, newest first."})


@strawberry.input(description="How to sort a patient list.")
class PatientSort:
    field: PatientSortField | None = _in(
        "What to sort by; left out or null: the list's default (FIRST_NAME for patients, LAST_NAME for patientPage).",
        None)
    direction: SortDirection = _in("Sort direction (default ASC).", SortDirection.ASC)


@strawberry.input(description="Patient list filters; all given filters must match. Archived patients are left out "
                              "unless status lists ARCHIVED or includeArchived is true.")
class PatientFilter:
    status: list[PatientStatus] | None = _in("Only patients in one of these statuses.", None)
    include_archived: bool = _in("Also list archived patients (when status is not given).", False)
    search: str | None = _in(
        "Free text over name, phone, email, chart number and date of birth: every word must start one of them. A "
        "phone number matches however it is written: '(614) 555-9012', '614-555-9012', '6145559012' and "
        "'555-9012' find the same patient.", None)
    primary_provider_id: strawberry.ID | None = _in("Only this provider's patients; an unknown id is NOT_FOUND.",
                                                    None)
    location_id: strawberry.ID | None = _in("Only this location's patients; an unknown id is NOT_FOUND.", None)
    dob_from: str | None = _in("Born on or after this date, YYYY-MM-DD.", None)
    dob_to: str | None = _in("Born on or before this date, YYYY-MM-DD.", None)
    tag: str | None = _in("A tag definition's id: only patients with that tag; an unknown id is NOT_FOUND.", None)


_NAME_MAX = f"; at most {NAME_MAX} characters (longer: VALIDATION)."


@strawberry.input(description="Patient fields shared by create and update (only the fields sent are written; "
                              "null clears a field).")
class PatientFields:
    middle_name: str | None = _in("Middle name(s)" + _NAME_MAX)
    preferred_name: str | None = _in("The name the patient likes to be called" + _NAME_MAX)
    title: str | None = _in("Name prefix, e.g. 'Dr.'" + _NAME_MAX)
    salutation: str | None = _in("How letters address the patient, e.g. 'Dear Maria'" + _NAME_MAX)
    date_of_birth: str | None = _in("Date of birth, YYYY-MM-DD; a date in the future is VALIDATION.")
    gender: Gender | None = _in("Administrative gender.")
    pronoun: Pronoun | None = _in("Pronouns the patient uses.")
    marital_status: MaritalStatus | None = _in("Marital status.")
    preferred_language: str | None = _in("Preferred language, a BCP 47 code such as 'en' or 'es'.")
    email: str | None = _in("Email address; a malformed one is VALIDATION.")
    mobile_phone: str | None = _in("Mobile phone number, any punctuation.")
    home_phone: str | None = _in("Home phone number, any punctuation.")
    work_phone: str | None = _in("Work phone number, any punctuation.")
    address_line1: str | None = _in("Street address, first line.")
    address_line2: str | None = _in("Street address, second line.")
    city: str | None = _in("City.")
    state: str | None = _in("State or province.")
    postal_code: str | None = _in("Postal (ZIP) code.")
    country: str | None = _in("Country.")
    address_note: str | None = _in("Free-text note about the address.")
    chart_number: str | None = _in("Chart number, unique in the practice: one already used is CONFLICT.")
    mrn: str | None = _in("Medical record number.")
    social_security_number: str | None = _in("US SSN: nine digits, dashes optional.")
    medicaid_id: str | None = _in("Medicaid member id.")
    hsid: str | None = _in("The EHR's patient id.")
    primary_provider_id: strawberry.ID | None = _in("The primary provider's id; unknown is NOT_FOUND.")
    secondary_provider_id: strawberry.ID | None = _in("The secondary provider's id; unknown is NOT_FOUND.")
    location_id: strawberry.ID | None = _in("The location's id; unknown is NOT_FOUND.")
    billing_type_id: strawberry.ID | None = _in("The billing type's id (catalog entry); unknown is NOT_FOUND.")
    fee_schedule_id: strawberry.ID | None = _in("The fee schedule's id (catalog entry); unknown is NOT_FOUND.")
    employer_id: strawberry.ID | None = _in("The employer's id (an organization); unknown is NOT_FOUND.")
    responsible_party_id: strawberry.ID | None = _in(
        "The id of the patient financially responsible for this one (the guarantor; may be the patient itself); "
        "unknown is NOT_FOUND. The patient joins that person's family.")
    billing_cycle_day: int | None = _in("Day of the month (1–31) statements go out.")
    premedication_required: bool | None = _in("Antibiotic premedication required before procedures.")
    medical_urgent_note: str | None = _in("Urgent medical note for the chart header.")
    medical_summary_text: str | None = _in("Free-text medical summary.")
    treatment_notes: str | None = _in("Free-text treatment notes.")
    appointment_module_note: str | None = _in("Note shown in the scheduler when the patient is booked.")
    ask_to_arrive_early_mins: int | None = _in("Minutes to arrive early, 0–120; outside is VALIDATION.")
    allergy_review_status: AllergyReviewStatus | None = _in("Allergy review status (new patients: NOT_REVIEWED).")
    preferred_contact_method: ContactMethod | None = _in("How the patient prefers to be contacted.")
    preferred_confirmation_method: ContactMethod | None = _in("How the patient prefers appointment confirmations.")
    receives_email: bool | None = _in("Opted in to email.")
    receives_sms: bool | None = _in("Opted in to SMS.")
    consent_flags: int | None = _in("Consent bitmask: 1 HIPAA notice, 2 consent to treat, 4 financial policy, "
                                    "8 telehealth.")
    date_first_visit: str | None = _in("Date of the first visit, YYYY-MM-DD.")
    date_time_deceased: str | None = _in("Date and time of death, ISO 8601 with a time zone.")
    emergency_contact_name: str | None = _in("Emergency contact's name" + _NAME_MAX)
    emergency_contact_phone: str | None = _in("Emergency contact's phone.")
    tags: list[str] | None = _in("Tag codes; replaces the patient's tags.")


class BillingAccountChoice(Enum):
    OWN = "own"
    JOIN = "join"


enum_type(BillingAccountChoice, "The billing-account decision taken at registration.", {
    "OWN": "Open a billing account of the patient's own, the patient its guarantor (who pays).",
    "JOIN": "Join the billing account of another patient, its guarantor (guarantorId), and so that patient's "
            "family; that patient's account is opened when they have none yet.",
})


@strawberry.input(description="Which billing account a new patient is assigned to (a FHIR Account: the patient "
                              "is one of its subjects, its guarantor pays). The family of a patient is everyone "
                              "sharing its guarantor.")
class BillingAccountInput:
    choice: BillingAccountChoice = strawberry.field(description="Own account, or join another patient's.")
    guarantor_id: strawberry.ID | None = strawberry.field(
        default=None, description="With JOIN (required there, refused with OWN: VALIDATION): the patient "
                                  "whose account to join; unknown is NOT_FOUND.")
    name: str | None = strawberry.field(
        default=None, description="With OWN: the new account's name (default '<last name> household'), at "
                                  "most 100 characters; refused with JOIN (VALIDATION).")


@strawberry.input(description="A new patient: firstName and lastName are required.")
class PatientInput(PatientFields):
    first_name: str = _in("Legal first name (not blank)" + _NAME_MAX, strawberry.UNSET)
    last_name: str = _in("Legal last name (not blank)" + _NAME_MAX, strawberry.UNSET)
    status: PatientStatus | None = _in("Initial status (default ACTIVE; not ARCHIVED).")
    billing_account: BillingAccountInput | None = _in(
        "The billing-account decision taken at registration: an account of the patient's own or another "
        "patient's. Not with responsiblePartyId, which takes the same decision (both: VALIDATION). Left out: "
        "no account is assigned.")


@strawberry.input(description="Changes to a patient: only the fields sent are modified; null clears a field.")
class PatientPatch(PatientFields):
    first_name: str | None = _in("Legal first name (cannot be cleared)" + _NAME_MAX)
    last_name: str | None = _in("Legal last name (cannot be cleared)" + _NAME_MAX)


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
    time_taken: str | None = strawberry.field(default=None,
                                              description="Time of the reading, HH:MM or HH:MM:SS (24 h, UTC).")
    bp_systolic: float | None = strawberry.field(default=None, description="Systolic blood pressure, mmHg.")
    bp_diastolic: float | None = strawberry.field(default=None, description="Diastolic blood pressure, mmHg.")
    pulse: float | None = strawberry.field(default=None, description="Heart rate, beats per minute.")
    temperature_f: float | None = strawberry.field(default=None, description="Body temperature, °F.")
    respiration_rate: float | None = strawberry.field(default=None, description="Respiratory rate, breaths per minute.")
    oxygen_saturation: float | None = strawberry.field(default=None, description="Oxygen saturation (SpO2), percent.")
    height_inches: float | None = strawberry.field(default=None, description="Body height, inches.")
    weight_lbs: float | None = strawberry.field(default=None, description="Body weight, pounds.")
    weight_code: str | None = strawberry.field(
        default=None, description="The practice's code qualifying the weight reading, kept as sent.")
    bmi: float | None = strawberry.field(
        default=None, description="Body mass index, kg/m² (computed from height and weight when left out).")
    bmi_percentile: float | None = strawberry.field(
        default=None, description="BMI percentile for age and sex (0–100), for children and teenagers.")
    has_followup_plan: bool | None = strawberry.field(
        default=None, description="An abnormal vital signs follow-up plan has been created.")
    note: str | None = strawberry.field(default=None, description="Free-text note.")
    provider_id: strawberry.ID | None = strawberry.field(
        default=None, description="Id of the practitioner who took the reading.")


_FROM_DEFINITION = ("; a named definition supplies it: sent too, it must be the definition's own (else VALIDATION), "
                    "or it fills in one the definition lacks.")


@strawberry.input(description="An allergy or intolerance to record: an org allergy definition (allergyDefinitionId, "
                              "which gives the allergen, its code and category) or a free-text allergen.")
class AllergyInput:
    allergy_definition_id: strawberry.ID | None = strawberry.field(
        default=None, description="Id of an active allergy definition (unknown or archived → NOT_FOUND): the "
                                  "allergy gets its name as allergen, its code and its allergyCategory.")
    allergen: str | None = strawberry.field(
        default=None, description="What the patient reacts to, as text; required without allergyDefinitionId"
                                  + _FROM_DEFINITION)
    code: str | None = strawberry.field(default=None, description="Code of the allergen in codeSystem"
                                                                  + _FROM_DEFINITION)
    code_system: str | None = strawberry.field(
        default=None, description="Code system URI of code (default http://snomed.info/sct)" + _FROM_DEFINITION)
    category: str | None = strawberry.field(
        default=None, description="food, medication, environment or biologic (default: the definition's "
                                  "allergyCategory).")
    reaction: str | None = strawberry.field(default=None, description="The reaction, as text (e.g. Hives).")
    snomed_reaction: str | None = strawberry.field(default=None, description="SNOMED CT code of the reaction.")
    severity: str | None = strawberry.field(default=None, description="mild, moderate or severe.")
    date_adverse_reaction: str | None = strawberry.field(
        default=None, description="When the reaction happened, YYYY-MM-DD.")
    is_active: bool | None = strawberry.field(default=None, description="The allergy is current (default true).")


@strawberry.input(description="A medication to add to the patient's list: an org medication definition "
                              "(medicationDefinitionId), or free text: a name or an RxNorm code.")
class MedicationInput:
    medication_definition_id: strawberry.ID | None = strawberry.field(
        default=None, description="Id of an active medication definition (unknown or archived → NOT_FOUND): the "
                                  "medication gets its name and RXCUI.")
    name: str | None = strawberry.field(
        default=None, description="Medication name, free text when no definition applies (without a definition, "
                                  "required: an RxNorm code alone is not a name)"
                                  + _FROM_DEFINITION)
    rx_cui: str | None = strawberry.field(default=None, description="RxNorm concept id (RXCUI)" + _FROM_DEFINITION)
    status: str | None = strawberry.field(default=None, description="active, discontinued, on_hold, completed.")
    dosage: str | None = strawberry.field(default=None, description="Dosage instructions as text.")
    date_start: str | None = strawberry.field(default=None, description="Start date, YYYY-MM-DD.")
    date_stop: str | None = strawberry.field(default=None, description="Stop date, YYYY-MM-DD.")
    provider_id: strawberry.ID | None = strawberry.field(
        default=None, description="Id of the prescribing practitioner.")
    frequency: str | None = strawberry.field(default=None, description="How often it is taken, e.g. `twice daily`.")
    route: str | None = strawberry.field(default=None, description="How it is taken, e.g. `oral`.")
    patient_note: str | None = strawberry.field(default=None, description="Free-text note for the patient.")
    is_cpoe: bool | None = strawberry.field(
        default=None, description="Entered through Computerized Provider Order Entry (default false).")


@strawberry.input(description="A problem or diagnosis to record: an org disease definition (diseaseDefinitionId, "
                              "which gives its name, SNOMED CT and ICD-10-CM codes) or free text.")
class ProblemInput:
    disease_definition_id: strawberry.ID | None = strawberry.field(
        default=None, description="Id of an active disease definition (unknown or archived → NOT_FOUND): the "
                                  "problem gets its name and codes.")
    name: str | None = strawberry.field(
        default=None, description="The problem or diagnosis, as text; required without diseaseDefinitionId"
                                  + _FROM_DEFINITION)
    snomed_code: str | None = strawberry.field(default=None, description="SNOMED CT code" + _FROM_DEFINITION)
    icd10_code: str | None = strawberry.field(
        default=None, description="ICD-10-CM code, e.g. E11.9 (letter, two characters, optionally a dot and 1–4 "
                                  "more; stored upper-case; another shape → VALIDATION)" + _FROM_DEFINITION)
    status: ProblemStatus | None = strawberry.field(default=None, description="Clinical status (default ACTIVE).")
    function_status: FunctionStatus | None = strawberry.field(
        default=None, description="Clinical function classification; PROBLEM when left out.")
    snomed_problem_type: str | None = strawberry.field(
        default=None, description="SNOMED CT code of the kind of problem (e.g. 282291009 diagnosis).")
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
        description="What this patient (the source) is to the related patient (the target): spouse, life_partner, "
                    "parent, child, sibling, guardian, grandparent, grandchild, stepparent, stepchild, foster_child, "
                    "caregiver, other_family, merge, clone (e.g. parent: this patient is the related patient's "
                    "parent).")
    is_guardian: bool | None = strawberry.field(
        default=None, description="This patient (the source) is the legal guardian of the related patient. "
                                  "Left out: true for relationshipType guardian, else false.")
    note: str | None = strawberry.field(default=None, description="Free-text note about the relationship.")
