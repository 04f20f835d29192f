"""The appointment (seeds 000/002) computed from a FHIR Appointment."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.common import ID_DESCRIPTION, VERSION_DESCRIPTION, EntityRef, enum_type, opt_id
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


enum_type(AppointmentStatus, description="Booking status of an appointment (FHIR Appointment.status).", values={
    AppointmentStatus.PROPOSED: "Suggested, not yet confirmed by the patient or the practice.",
    AppointmentStatus.PENDING: "Some participants have yet to confirm.",
    AppointmentStatus.BOOKED: "Confirmed by everyone.",
    AppointmentStatus.ARRIVED: "The patient has arrived.",
    AppointmentStatus.FULFILLED: "The visit took place (completed).",
    AppointmentStatus.CANCELLED: "Cancelled before it took place.",
    AppointmentStatus.NOSHOW: "The patient did not come.",
    AppointmentStatus.ENTERED_IN_ERROR: "Created by mistake; ignore it.",
    AppointmentStatus.CHECKED_IN: "The patient has checked in.",
    AppointmentStatus.WAITLIST: "On the waiting list for an earlier time.",
})


_STATUS = {s.value: s for s in AppointmentStatus}


@dataclass(eq=False, kw_only=True)
class Appointment:
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    version: int = strawberry.field(description=VERSION_DESCRIPTION)
    status: AppointmentStatus = strawberry.field(description="Booking status (FHIR Appointment.status).")
    workflow_status: str | None = strawberry.field(
        description="Where the visit is in the clinic's workflow (intake, exam, discharge, …), beside the booking "
                    "status; null when not tracked.")
    start: str | None = strawberry.field(
        description="Start, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z; null while only proposed.")
    end: str | None = strawberry.field(description="End, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z.")
    minutes_duration: int | None = strawberry.field(description="Planned length in minutes.")
    description: str | None = strawberry.field(description="Free-text summary shown on the schedule.")
    reasons: list[str] = strawberry.field(description="Reasons for the visit, as text (empty when none).")
    service_type: str | None = strawberry.field(
        description="The service booked (display text), e.g. General consultation.")
    appointment_type: str | None = strawberry.field(
        description="Kind of appointment (display text), e.g. FOLLOWUP, WALKIN.")
    cancelation_reason: str | None = strawberry.field(description="Why it was cancelled; null unless cancelled.")
    said: str | None = strawberry.field(description="The numeric appointment id of the vendor API (SAID), as text.")
    external_id: str | None = strawberry.field(
        description="The id a partner system gave this appointment, when booked through one.")
    created: str | None = strawberry.field(
        description="When it was booked, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z.")
    location: EntityRef | None = strawberry.field(description="Where it takes place (id and name).")
    slot_id: strawberry.ID | None = strawberry.field(description="The schedule slot it occupies, when booked into one.")
    patient_id: strawberry.ID | None = strawberry.field(description="Id of the patient seen.")
    practitioner_id: strawberry.ID | None = strawberry.field(description="Id of the practitioner seeing the patient.")
    episode_id: strawberry.ID | None = strawberry.field(description="Id of the episode of care it belongs to, if any.")


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
