"""Inputs of the chart record mutations (graph/chart_roots.py): the PATCH inputs of allergies, medications,
problems, vital signs and relationships, and a new communication log entry. A field left out is untouched, a
field sent as null is cleared (where the record allows it)."""

from __future__ import annotations

import strawberry
from strawberry import UNSET

from graph.types.problem import FunctionStatus, ProblemStatus

_DATE = "(YYYY-MM-DD)"


@strawberry.input(description="Changes to an allergy: only the fields sent are modified.")
class AllergyPatch:
    allergy_definition_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="Another active allergy definition (unknown or archived → NOT_FOUND): the "
                                   "allergen, its code and (unless sent) category become its own. Null unlinks the "
                                   "allergy, keeping its allergen; only then (or for a free-text allergy) may "
                                   "allergen, code and codeSystem change: sent while linked, each must be the "
                                   "definition's own or one it lacks (else VALIDATION).")
    allergen: str | None = strawberry.field(default=UNSET, description="What the patient is allergic to; "
                                                                       "cannot be cleared.")
    code: str | None = strawberry.field(default=UNSET, description="The allergen's code in codeSystem.")
    code_system: str | None = strawberry.field(
        default=UNSET, description="The code's system URI; SNOMED CT (http://snomed.info/sct) when left out.")
    category: str | None = strawberry.field(default=UNSET,
                                            description="food, medication, environment or biologic.")
    reaction: str | None = strawberry.field(default=UNSET, description="The reaction, in words (e.g. `Hives`).")
    snomed_reaction: str | None = strawberry.field(default=UNSET, description="The reaction's SNOMED CT code.")
    severity: str | None = strawberry.field(default=UNSET, description="mild, moderate or severe.")
    date_adverse_reaction: str | None = strawberry.field(default=UNSET,
                                                         description=f"When the reaction happened {_DATE}.")
    is_active: bool | None = strawberry.field(default=UNSET, description="Whether the allergy is current; cannot "
                                                                         "be cleared.")


@strawberry.input(description="Changes to a medication: only the fields sent are modified. To stop one, "
                              "prefer discontinueMedication (it records the reason and the stop date).")
class MedicationPatch:
    medication_definition_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="Another active medication definition (unknown or archived → NOT_FOUND): name "
                                   "and rxCui become its own. Null unlinks the medication, keeping them; only then "
                                   "(or for a free-text entry) may name and rxCui change: sent while linked, each "
                                   "must be the definition's own or one it lacks (else VALIDATION).")
    name: str | None = strawberry.field(default=UNSET, description="The medication as it should be shown "
                                                                   "(free text when no RxNorm code applies).")
    rx_cui: str | None = strawberry.field(default=UNSET, description="RxNorm concept id (RXCUI).")
    status: str | None = strawberry.field(default=UNSET, description="active, discontinued, on_hold or "
                                                                     "completed; cannot be cleared.")
    dosage: str | None = strawberry.field(default=UNSET, description="Dose, as entered (e.g. `10 mg`).")
    frequency: str | None = strawberry.field(default=UNSET, description="How often, e.g. `twice daily`.")
    route: str | None = strawberry.field(default=UNSET, description="How it is taken, e.g. `oral`.")
    patient_note: str | None = strawberry.field(default=UNSET, description="Free-text note for the patient.")
    date_start: str | None = strawberry.field(default=UNSET, description=f"When it was started {_DATE}.")
    date_stop: str | None = strawberry.field(default=UNSET, description=f"When it was stopped {_DATE}; not "
                                                                        "before dateStart.")
    discontinuation_reason: str | None = strawberry.field(default=UNSET, description="Why it was stopped.")
    provider_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="The prescribing provider (a practitioner id); unknown → NOT_FOUND.")
    is_cpoe: bool | None = strawberry.field(default=UNSET,
                                            description="Entered through Computerized Provider Order Entry.")


@strawberry.input(description="Changes to a problem: only the fields sent are modified. A status change follows "
                              "the lifecycle active → resolved → inactive (active → inactive too), forward only: "
                              "any other change (back to active, inactive → resolved) is INVALID_TRANSITION; a "
                              "problem that comes back is recorded again with recordProblem.")
class ProblemPatch:
    disease_definition_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="Another active disease definition (unknown or archived → NOT_FOUND): name and "
                                   "codes become its own. Null unlinks the problem, keeping them; only then (or for "
                                   "a free-text problem) may name, snomedCode and icd10Code change: sent while "
                                   "linked, each must be the definition's own or one it lacks (else VALIDATION).")
    name: str | None = strawberry.field(default=UNSET, description="The problem, in words; cannot be cleared. "
                                                                   "A new name without codes clears the old codes.")
    snomed_code: str | None = strawberry.field(default=UNSET, description="The problem's SNOMED CT code.")
    icd10_code: str | None = strawberry.field(
        default=UNSET, description="The problem's ICD-10-CM code, e.g. E11.9 (another shape → VALIDATION; stored "
                                   "upper-case); null clears it.")
    status: ProblemStatus | None = strawberry.field(default=UNSET, description="The new lifecycle status.")
    snomed_problem_type: str | None = strawberry.field(
        default=UNSET, description="SNOMED CT code of the kind of problem (e.g. 282291009 diagnosis).")
    function_status: FunctionStatus | None = strawberry.field(
        default=UNSET, description="Clinical function classification; null → PROBLEM.")
    date_start: str | None = strawberry.field(default=UNSET, description=f"Onset {_DATE}.")
    date_stop: str | None = strawberry.field(
        default=UNSET, description=f"When it resolved {_DATE}; an active problem has none.")
    note: str | None = strawberry.field(default=UNSET, description="Free-text note about the problem.")


@strawberry.input(description="Changes to a set of vital signs: only the fields sent are modified; the abnormal "
                              "flags are computed again. Values must not be negative; percentages are 0–100.")
class VitalSignsPatch:
    date_taken: str | None = strawberry.field(default=UNSET, description=f"When they were measured {_DATE}; "
                                                                         "cannot be cleared.")
    time_taken: str | None = strawberry.field(default=UNSET, description="Time of day (HH:MM or HH:MM:SS, UTC).")
    bp_systolic: float | None = strawberry.field(default=UNSET, description="Systolic blood pressure, mmHg.")
    bp_diastolic: float | None = strawberry.field(default=UNSET, description="Diastolic blood pressure, mmHg.")
    pulse: float | None = strawberry.field(default=UNSET, description="Heart rate, beats per minute.")
    temperature_f: float | None = strawberry.field(default=UNSET, description="Body temperature, °F.")
    respiration_rate: float | None = strawberry.field(default=UNSET, description="Breaths per minute.")
    oxygen_saturation: float | None = strawberry.field(default=UNSET, description="SpO2, percent (0–100).")
    height_inches: float | None = strawberry.field(default=UNSET, description="Height, inches.")
    weight_lbs: float | None = strawberry.field(default=UNSET, description="Weight, pounds.")
    weight_code: str | None = strawberry.field(
        default=UNSET, description="The practice's code qualifying the weight reading, kept as sent; null clears "
                                   "it.")
    bmi: float | None = strawberry.field(default=UNSET, description="Body mass index, kg/m².")
    bmi_percentile: float | None = strawberry.field(default=UNSET, description="BMI percentile for age and sex "
                                                                              "(0–100).")
    has_followup_plan: bool | None = strawberry.field(
        default=UNSET, description="An abnormal vital signs follow-up plan has been created.")
    note: str | None = strawberry.field(default=UNSET, description="Free-text note.")
    provider_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="The measuring provider (a practitioner id); unknown → NOT_FOUND.")


@strawberry.input(description="Changes to a relationship: only the fields sent are modified.")
class RelationshipPatch:
    relationship_type: str | None = strawberry.field(
        default=UNSET, description="What the source patient is to the related patient (same values as on "
                                   "create); an unknown value → VALIDATION; cannot be cleared.")
    is_guardian: bool | None = strawberry.field(
        default=UNSET, description="The source patient is the legal guardian of the related patient.")
    note: str | None = strawberry.field(default=UNSET, description="Free-text note about the relationship.")


@strawberry.input(description="A communication to log on the patient's chart. Entries are append-only: they "
                              "cannot be changed or removed once written. Its source is `user`.")
class CommunicationLogInput:
    communication_datetime: str = strawberry.field(
        description="When the communication happened (ISO 8601 date-time, e.g. 2025-01-15T09:00:00Z).")
    mode: str | None = strawberry.field(default=None,
                                        description="phone, email, mail, in_person, text or fax.")
    direction: str | None = strawberry.field(
        default=None, description="sent (to the patient), received (from the patient) or neither (default).")
    note: str | None = strawberry.field(default=None, description="What was said or sent.")
    communication_type_id: strawberry.ID | None = strawberry.field(
        default=None, description="Id of an active org communication type (unknown or archived → NOT_FOUND): "
                                  "its code becomes the entry's category.")
    category: str | None = strawberry.field(
        default=None, description="The kind of communication as a short code (e.g. `reminder`, `notification`, "
                                  "`billing`); left out with communicationTypeId (sending both → VALIDATION).")
    appointment_id: strawberry.ID | None = strawberry.field(
        default=None, description="The appointment it was about; unknown → NOT_FOUND.")
