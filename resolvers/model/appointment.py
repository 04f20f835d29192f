"""The appointment (seeds 000/002) computed from a FHIR Appointment."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.common import EntityRef, opt_id
from store.fhirjson import ext, ident, parse_reference, ref_id, text_of, version
from store.naming import SID


class AppointmentStatus(Enum):
    PROPOSED = "proposed"
    PENDING = "pending"
    BOOKED = "booked"
    ARRIVED = "arrived"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    NOSHOW = "noshow"
    ENTERED_IN_ERROR = "entered-in-error"
    CHECKED_IN = "checked-in"
    WAITLIST = "waitlist"


_STATUS = {s.value: s for s in AppointmentStatus}


@dataclass(eq=False, kw_only=True)
class Appointment:
    id: strawberry.ID
    version: int
    status: AppointmentStatus
    workflow_status: str | None = strawberry.field(description="qapi workflow status (intake, exam, ...).")
    start: str | None
    end: str | None
    minutes_duration: int | None
    description: str | None
    reasons: list[str]
    service_type: str | None
    appointment_type: str | None
    cancelation_reason: str | None
    said: str | None = strawberry.field(description="The qapi numeric appointment id (seed 002).")
    external_id: str | None
    created: str | None
    location: EntityRef | None
    slot_id: strawberry.ID | None
    patient_id: strawberry.ID | None
    practitioner_id: strawberry.ID | None
    episode_id: strawberry.ID | None


def from_fhir(res: dict[str, Any]) -> Appointment:
    patient = practitioner = location = None
    for p in res.get("participant") or ():
        actor = p.get("actor") or {}
        rt, rid = parse_reference(actor) or ("", "")
        if rt == "Patient" and patient is None:
            patient = rid
        elif rt == "Practitioner" and practitioner is None:
            practitioner = rid
        elif rt == "Location" and location is None:
            location = EntityRef(id=strawberry.ID(rid), name=actor.get("display"))
    return Appointment(
        id=res["id"], version=version(res),
        status=_STATUS.get(res.get("status", ""), AppointmentStatus.BOOKED),
        workflow_status=ext(res, "appointment-workflow-status"), start=res.get("start"), end=res.get("end"),
        minutes_duration=res.get("minutesDuration"), description=res.get("description"),
        reasons=[t for t in (text_of(r) for r in res.get("reasonCode") or ()) if t],
        service_type=next((text_of(s) for s in res.get("serviceType") or ()), None),
        appointment_type=text_of(res.get("appointmentType")),
        cancelation_reason=text_of(res.get("cancelationReason")),
        said=ident(res, SID["said"]), external_id=ident(res, SID["external-id"]), created=res.get("created"),
        location=location, slot_id=opt_id(next((ref_id(s, "Slot") for s in res.get("slot") or ()), None)),
        patient_id=opt_id(patient), practitioner_id=opt_id(practitioner),
        episode_id=opt_id(ref_id(ext(res, "episode-of-care"), "EpisodeOfCare")),
    )
