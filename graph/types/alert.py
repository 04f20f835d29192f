from __future__ import annotations

import strawberry

from graph.record import object_type
from resolvers.model.alert import Alert, AlertScope, AlertStatus

strawberry.enum(AlertStatus)
strawberry.enum(AlertScope)
object_type(Alert, description="A patient alert (FHIR Flag).")

__all__ = ["Alert", "AlertScope", "AlertStatus"]
