from __future__ import annotations

from graph.record import object_type
from graph.types.common import chart_refs
from resolvers.model.vital_signs import AbnormalFlag, FlagSeverity, VitalSigns

object_type(AbnormalFlag, description="One out-of-range vital sign.")
chart_refs(VitalSigns, "these vital signs were taken of", provider="The practitioner who took the reading")
object_type(VitalSigns, description="One set of vital signs (FHIR Observation, LOINC 85353-1 panel).")

__all__ = ["AbnormalFlag", "FlagSeverity", "VitalSigns"]
