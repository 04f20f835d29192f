"""The communication log entry computed from a FHIR Communication (append-only)."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.common import ID_DESCRIPTION, created_at, enum_type, opt_id
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
DIRECTION_CODE = {"sent": "outbound", "received": "inbound", "neither": None}
MODE = {"PHONE": "phone", "EMAILWRIT": "email", "SMSWRIT": "text", "MAILWRIT": "mail", "FACE": "in_person",
        "FAXWRIT": "fax"}
MODE_CODE = {v: k for k, v in MODE.items()}
MODE_DISPLAY = {"PHONE": "telephone", "EMAILWRIT": "email", "SMSWRIT": "SMS message", "MAILWRIT": "mail",
                "FACE": "face-to-face", "FAXWRIT": "fax"}
SOURCES = ("user", "automated", "integration")


@dataclass(eq=False, kw_only=True)
class CommunicationLog:
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    patient_id: strawberry.ID | None = strawberry.field(description="The patient this communication was with.")
    communication_datetime: str | None = strawberry.field(
        description="When it happened, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z.")
    mode: str | None = strawberry.field(description="phone, email, text, mail, in_person or fax.")
    direction: CommunicationDirection = strawberry.field(description="Whether the practice sent it or received it.")
    source: str = strawberry.field(
        description="Where the entry came from: user (logged by staff), automated (sent by the system, e.g. an "
                    "appointment reminder) or integration (written by an external system).")
    category: str | None = strawberry.field(description="What it was about, e.g. appointment reminder, billing.")
    communication_type_id: strawberry.ID | None = strawberry.field(
        description="Id of the org communication type it was logged with; null when logged without one.")
    note: str | None = strawberry.field(description="Free-text content or summary.")
    appointment_id: strawberry.ID | None = strawberry.field(description="Id of the appointment it concerns, if any.")
    created_at: str | None = strawberry.field(description="When the entry was logged (ISO 8601 instant, UTC).")
    # Who logged it (the reference the API kept beside it, else a practitioner sender); the GraphQL type
    # resolves it to ``createdBy { id name }`` (resolvers/chart.py ``recorder_ref``).
    recorded_by: strawberry.Private[dict[str, Any] | None]


def source_of(res: dict[str, Any]) -> str:
    """The entry's origin: its ``communication-source`` extension; without one, a Device sender or a reminder
    (what the system sends by itself) is automated, a resource with ``meta.source`` (the sending system) came
    from an integration, and anything else was logged by a user."""
    written = ext(res, "communication-source")
    if written in SOURCES:
        return str(written)
    if ref_id(res.get("sender"), "Device") or any(code_of(c) == "reminder" for c in res.get("category") or ()):
        return "automated"
    if (res.get("meta") or {}).get("source"):
        return "integration"
    return "user"


def from_fhir(res: dict[str, Any]) -> CommunicationLog:
    direction = None
    for e in res.get("extension") or ():
        if e.get("url") == EXT["communication-direction"]:
            direction = (e.get("valueCoding") or {}).get("code") or e.get("valueCode")
    medium = next((code_of(m) for m in res.get("medium") or ()), None)
    return CommunicationLog(
        id=res["id"], patient_id=opt_id(ref_id(res.get("subject"), "Patient")),
        communication_datetime=res.get("sent"), mode=MODE.get(medium or "", medium),
        direction=DIRECTION.get(direction or "", CommunicationDirection.NEITHER),
        source=source_of(res),
        category=next((code_of(c) for c in res.get("category") or ()), None),
        communication_type_id=opt_id(ref_id(ext(res, "communication-type"), "Basic")),
        note=next((p.get("contentString") for p in res.get("payload") or () if p.get("contentString")), None),
        appointment_id=opt_id(next((ref_id(a, "Appointment") for a in res.get("about") or ()), None)),
        created_at=created_at(res), recorded_by=recorder_of(res),
    )


def recorder_of(res: dict[str, Any]) -> dict[str, Any] | None:
    """Who logged the entry: the ``communication-recorder`` reference the API wrote (resolvers/chart.py
    ``recorder``), else the Communication's ``sender`` when a practitioner sent it (an entry written by another
    system through FHIR); None when neither says."""
    recorder = ext(res, "communication-recorder")
    if isinstance(recorder, dict) and (recorder.get("reference") or recorder.get("display")):
        return recorder
    sender = res.get("sender")
    return sender if ref_id(sender, "Practitioner") else None
