from __future__ import annotations

from graph.record import object_type
from graph.types import interaction  # noqa: F401 - the type of its interactionWarnings
from graph.types.common import chart_refs
from resolvers.model.allergy import Allergy
from resolvers.model.catalog import ALLERGY_KIND

chart_refs(Allergy, "whose chart holds this allergy", definition=(
    "allergy_definition", ALLERGY_KIND, "AllergyDefinition",
    "The org allergy definition it was recorded from (archived ones included); null for a free-text allergen."))
object_type(Allergy, description="An allergy record (FHIR AllergyIntolerance).")

__all__ = ["Allergy"]
