from __future__ import annotations

import strawberry

from graph.record import object_type
from resolvers.model.communication_log import CommunicationDirection, CommunicationLog

strawberry.enum(CommunicationDirection)
object_type(CommunicationLog, description="A communication log entry (FHIR Communication; append-only).")

__all__ = ["CommunicationDirection", "CommunicationLog"]
