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
    category: str
    code: str | None
    display: str | None
    value: str | None
    date: str | None


@dataclass(eq=False, kw_only=True)
class MedicalSummary:
    allergies: list[Allergy] = strawberry.field(description="Active allergies with reaction details.")
    allergy_review_status: AllergyReviewStatus
    current_medications: list[Medication]
    past_medications: list[Medication] = strawberry.field(
        description="Medications the patient has stopped: discontinued or completed (on-hold ones are in "
                    "onHoldMedications).")
    on_hold_medications: list[Medication] = strawberry.field(
        description="Medications paused for now (status on_hold): neither current nor past.")
    active_problems: list[Problem]
    latest_vitals: VitalSigns | None
    social_history: list[SocialHistoryEntry]
    alerts: list[Alert] = strawberry.field(description="Active alerts, with family-scope alerts of the family.")
    medical_urgent_note: str | None
    premedication_required: bool
