from __future__ import annotations

from graph.record import object_type
from resolvers.model.allergy import Allergy

object_type(Allergy, description="An allergy record (FHIR AllergyIntolerance).")

__all__ = ["Allergy"]
