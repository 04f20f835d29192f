from __future__ import annotations

from graph.record import object_type
from graph.types import interaction  # noqa: F401 - the type of its interactionWarnings
from graph.types.common import chart_refs
from resolvers.model.allergy import Allergy

chart_refs(Allergy, "whose chart holds this allergy")
object_type(Allergy, description="An allergy record (FHIR AllergyIntolerance).")

__all__ = ["Allergy"]
