from __future__ import annotations

from graph.record import object_type
from resolvers.model.communication_log import CommunicationDirection, CommunicationLog

object_type(CommunicationLog, description="A communication log entry (FHIR Communication; append-only).")

__all__ = ["CommunicationDirection", "CommunicationLog"]
