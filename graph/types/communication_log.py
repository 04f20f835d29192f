from __future__ import annotations

from graph.record import object_type
from graph.types.common import chart_refs
from resolvers.model.communication_log import CommunicationDirection, CommunicationLog

chart_refs(CommunicationLog, "this communication was with")
object_type(CommunicationLog, description="A communication log entry (FHIR Communication; append-only).")

__all__ = ["CommunicationDirection", "CommunicationLog"]
