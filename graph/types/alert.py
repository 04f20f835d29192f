from __future__ import annotations

from graph.record import object_type
from resolvers.model.alert import Alert, AlertScope, AlertStatus

object_type(Alert, description="A patient alert (FHIR Flag).")

__all__ = ["Alert", "AlertScope", "AlertStatus"]
