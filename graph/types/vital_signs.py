from __future__ import annotations

import strawberry

from graph.record import object_type
from graph.types.common import chart_refs
from resolvers import chart as chart_r
from resolvers.model.common import EntityRef
from resolvers.model.vital_signs import AbnormalFlag, FlagSeverity, VitalSigns

object_type(AbnormalFlag, description="One out-of-range vital sign.")
chart_refs(VitalSigns, "these vital signs were taken of", provider="The practitioner who took the reading")
VitalSigns.created_by = strawberry.field(  # type: ignore[attr-defined]
    resolver=chart_r.created_by, graphql_type=EntityRef | None,
    description="Who recorded them: the staff member (their practitioner record's id and current name) or the "
                "patient who was signed in; for an API client without a user record, its client name as both id "
                "and name. Null for a reading written by another system without saying who.")
object_type(VitalSigns, description="One set of vital signs (FHIR Observation, LOINC 85353-1 panel).")

__all__ = ["AbnormalFlag", "FlagSeverity", "VitalSigns"]
