from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum
class CommunicationDirection(Enum):
    SENT = "sent"
    RECEIVED = "received"
    NEITHER = "neither"


@strawberry.type(description="A communication log entry (FHIR Communication; append-only).")
class CommunicationLog:
    id: strawberry.ID
    communication_datetime: str | None
    mode: str | None
    direction: CommunicationDirection
    source: str
    category: str | None
    note: str | None
    appointment_id: strawberry.ID | None
