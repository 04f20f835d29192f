from __future__ import annotations

from graph.record import object_type
from graph.types import interaction  # noqa: F401 - the type of its interactionWarnings
from graph.types.common import chart_refs
from resolvers.model.catalog import MEDICATION_KIND
from resolvers.model.medication import Medication

chart_refs(Medication, "whose chart holds this medication", provider="The provider who prescribed it", definition=(
    "medication_definition", MEDICATION_KIND, "MedicationDefinition",
    "The org medication definition it was recorded from (archived ones included); null for a free-text entry."))
object_type(Medication, description="A medication on the patient's list (FHIR MedicationStatement).")

__all__ = ["Medication"]
