from __future__ import annotations

from graph.record import object_type
from graph.types import interaction  # noqa: F401 - the type of its interactionWarnings
from resolvers.model.medication import Medication

object_type(Medication, description="A medication on the patient's list (FHIR MedicationStatement).")

__all__ = ["Medication"]
