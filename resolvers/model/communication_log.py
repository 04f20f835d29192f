"""The communication log entry computed from a FHIR Communication (append-only)."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.common import ID_DESCRIPTION, enum_type, opt_id
from store.fhirjson import code_of, ext, ref_id
from store.naming import EXT


class CommunicationDirection(Enum):
    SENT = "sent"
    RECEIVED = "received"
    NEITHER = "neither"


enum_type(CommunicationDirection, description="Which way a communication went.", values={
    CommunicationDirection.SENT: "From the practice to the patient.",
    CommunicationDirection.RECEIVED: "From the patient to the practice.",
    CommunicationDirection.NEITHER: "Neither (e.g. an in-person conversation).",
})


DIRECTION = {"outbound": CommunicationDirection.SENT, "inbound": CommunicationDirection.RECEIVED}
MODE = {"PHONE": "phone", "EMAILWRIT": "email", "SMSWRIT": "text", "MAILWRIT": "mail", "FACE": "in_person",
        "FAXWRIT": "fax"}


@dataclass(eq=False, kw_only=True)
class CommunicationLog:
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    communication_datetime: str | None = strawberry.field(
        description="When it happened, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z.")
    mode: str | None = strawberry.field(description="phone, email, text, mail, in_person or fax.")
    direction: CommunicationDirection = strawberry.field(description="Whether the practice sent it or received it.")
    source: str = strawberry.field(description="Who logged it: manual (staff) or automated (reminders, confirmations).")
    category: str | None = strawberry.field(description="What it was about, e.g. appointment reminder, billing.")
    note: str | None = strawberry.field(description="Free-text content or summary.")
    appointment_id: strawberry.ID | None = strawberry.field(description="Id of the appointment it concerns, if any.")


def from_fhir(res: dict[str, Any]) -> CommunicationLog:
    direction = None
    for e in res.get("extension") or ():
        if e.get("url") == EXT["communication-direction"]:
            direction = (e.get("valueCoding") or {}).get("code") or e.get("valueCode")
    medium = next((code_of(m) for m in res.get("medium") or ()), None)
    return CommunicationLog(
        id=res["id"], communication_datetime=res.get("sent"), mode=MODE.get(medium or "", medium),
        direction=DIRECTION.get(direction or "", CommunicationDirection.NEITHER),
        source="user" if ext(res, "communication-direction") is None and res.get("sender") is None else "automated",
        category=next((code_of(c) for c in res.get("category") or ()), None),
        note=next((p.get("contentString") for p in res.get("payload") or () if p.get("contentString")), None),
        appointment_id=opt_id(next((ref_id(a, "Appointment") for a in res.get("about") or ()), None)),
    )
