from __future__ import annotations

from graph.record import object_type
from graph.types.common import chart_refs
from resolvers.model.catalog import COMMUNICATION_TYPE_KIND
from resolvers.model.communication_log import CommunicationDirection, CommunicationLog

chart_refs(CommunicationLog, "this communication was with", definition=(
    "communication_type", COMMUNICATION_TYPE_KIND, "CommunicationTypeDefinition",
    "The org communication type it was logged with (archived ones included); null when logged without one."))
object_type(CommunicationLog, description="A communication log entry (FHIR Communication; append-only).")

__all__ = ["CommunicationDirection", "CommunicationLog"]
