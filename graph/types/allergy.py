from __future__ import annotations

from graph.record import object_type
from graph.types import interaction  # noqa: F401 - the type of its interactionWarnings
from resolvers.model.allergy import Allergy

object_type(Allergy, description="An allergy record (FHIR AllergyIntolerance).")

__all__ = ["Allergy"]
