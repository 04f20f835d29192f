"""The chart header (seed 003 medical-summary) and its social-history entries."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass

import strawberry

from resolvers.model.alert import Alert
from resolvers.model.allergy import Allergy
from resolvers.model.medication import Medication
from resolvers.model.patient import AllergyReviewStatus
from resolvers.model.problem import Problem
from resolvers.model.vital_signs import VitalSigns

# LOINC code of a social-history observation → its category (store/naming.py).
SOCIAL = {"72166-2": "tobacco", "74013-4": "alcohol", "11341-5": "occupation"}


@dataclass(eq=False, kw_only=True)
class SocialHistoryEntry:
    category: str = strawberry.field(description="Which item, e.g. smoking, alcohol.")
    code: str | None = strawberry.field(description="LOINC or SNOMED CT code of the item or its answer.")
    display: str | None = strawberry.field(description="The item's name for display.")
    value: str | None = strawberry.field(description="The answer as text, e.g. Never smoker.")
    date: str | None = strawberry.field(description="When it was recorded, YYYY-MM-DD.")


@dataclass(eq=False, kw_only=True)
class MedicalSummary:
    allergies: list[Allergy] = strawberry.field(description="Active allergies with reaction details.")
    allergy_review_status: AllergyReviewStatus = strawberry.field(
        description="Whether the allergy list has been reviewed.")
    current_medications: list[Medication] = strawberry.field(
        description="Medications the patient takes now (status active).")
    past_medications: list[Medication] = strawberry.field(
        description="Medications the patient has stopped: discontinued or completed (on-hold ones are in "
                    "onHoldMedications).")
    on_hold_medications: list[Medication] = strawberry.field(
        description="Medications paused for now (status on_hold): neither current nor past.")
    active_problems: list[Problem] = strawberry.field(description="Problems and diagnoses still active.")
    latest_vitals: VitalSigns | None = strawberry.field(
        description="The most recent vital-sign reading; null when none.")
    social_history: list[SocialHistoryEntry] = strawberry.field(
        description="Social history (smoking, alcohol, …), latest entry per item.")
    alerts: list[Alert] = strawberry.field(description="Active alerts, with family-scope alerts of the family.")
    medical_urgent_note: str | None = strawberry.field(
        description="Urgent medical note to show prominently; null when none.")
    premedication_required: bool = strawberry.field(description="Premedication is required before procedures.")
