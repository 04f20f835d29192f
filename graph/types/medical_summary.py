from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from graph.types.alert import Alert
from graph.types.allergy import Allergy
from graph.types.medication import Medication
from graph.types.problem import Problem
from graph.types.vital_signs import VitalSigns

if TYPE_CHECKING:
    from graph.types.patient import AllergyReviewStatus


@strawberry.type(description="Social history, one entry per category (tobacco, alcohol, occupation, ...).")
class SocialHistoryEntry:
    category: str
    code: str | None
    display: str | None
    value: str | None
    date: str | None


@strawberry.type(description="The chart header (seed 003 medical-summary).")
class MedicalSummary:
    allergies: list[Allergy] = strawberry.field(description="Active allergies with reaction details.")
    allergy_review_status: Annotated[AllergyReviewStatus, strawberry.lazy("graph.types.patient")]
    current_medications: list[Medication]
    past_medications: list[Medication]
    active_problems: list[Problem]
    latest_vitals: VitalSigns | None
    social_history: list[SocialHistoryEntry]
    alerts: list[Alert] = strawberry.field(description="Active alerts, with family-scope alerts of the family.")
    medical_urgent_note: str | None
    premedication_required: bool
