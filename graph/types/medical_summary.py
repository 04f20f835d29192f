from __future__ import annotations

from graph.record import object_type
from graph.types import alert, allergy, medication, problem, vital_signs  # noqa: F401 - the types it holds
from resolvers.model.medical_summary import MedicalSummary, SocialHistoryEntry

object_type(SocialHistoryEntry,
            description="Social history, one entry per category (tobacco, alcohol, occupation, ...).")
object_type(MedicalSummary, description="The chart header of a patient, in one read.")

__all__ = ["MedicalSummary", "SocialHistoryEntry"]
