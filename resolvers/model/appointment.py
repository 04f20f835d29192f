"""The appointment (seeds 000/002) computed from a FHIR Appointment."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Any

import strawberry

from resolvers.model.common import ID_DESCRIPTION, VERSION_DESCRIPTION, EntityRef, Lazy, enum_type, opt_id
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


class _Reading:
    """One FHIR Appointment read for its record: its participants, which three fields share, read on first use."""

    def __init__(self, res: dict[str, Any]):
        self.res = res

    @cached_property
    def actors(self) -> tuple[str | None, str | None, tuple[str, Any] | None]:
        """The first patient's and practitioner's ids among the participants, and the first location's (with its
        display)."""
        patient = practitioner = location = None
        for p in self.res.get("participant") or ():
            actor = p.get("actor") or {}
            rt, rid = parse_reference(actor) or ("", "")
            if rt == "Patient" and patient is None:
                patient = rid
            elif rt == "Practitioner" and practitioner is None:
                practitioner = rid
            elif rt == "Location" and location is None:
                location = rid, actor.get("display")
        return patient, practitioner, location


def _location(r: _Reading) -> EntityRef | None:
    found = r.actors[2]
    return None if found is None else EntityRef(id=strawberry.ID(found[0]), name=found[1])


# Each field of the record from the FHIR Appointment: ``from_fhir`` reads them all, ``LazyAppointment`` each when
# first asked for.
FIELDS: dict[str, Callable[[_Reading], Any]] = {
    "id": lambda r: r.res["id"],
    "version": lambda r: version(r.res),
    "status": lambda r: _STATUS.get(r.res.get("status", ""), AppointmentStatus.BOOKED),
    "workflow_status": lambda r: ext(r.res, "appointment-workflow-status"),
    "start": lambda r: r.res.get("start"),
    "end": lambda r: r.res.get("end"),
    "minutes_duration": lambda r: r.res.get("minutesDuration"),
    "description": lambda r: r.res.get("description"),
    "reasons": lambda r: [t for t in (text_of(c) for c in r.res.get("reasonCode") or ()) if t],
    "service_type": lambda r: next((text_of(s) for s in r.res.get("serviceType") or ()), None),
    "appointment_type": lambda r: text_of(r.res.get("appointmentType")),
    "cancelation_reason": lambda r: text_of(r.res.get("cancelationReason")),
    "said": lambda r: ident(r.res, SID["said"]),
    "external_id": lambda r: ident(r.res, SID["external-id"]),
    "created": lambda r: r.res.get("created"),
    "location": _location,
    "slot_id": lambda r: opt_id(next((ref_id(s, "Slot") for s in r.res.get("slot") or ()), None)),
    "patient_id": lambda r: opt_id(r.actors[0]),
    "practitioner_id": lambda r: opt_id(r.actors[1]),
    "episode_id": lambda r: opt_id(ref_id(ext(r.res, "episode-of-care"), "EpisodeOfCare")),
}


def from_fhir(res: dict[str, Any]) -> Appointment:
    """The whole record, every field read now (``lazy_from_fhir``: each when first asked for)."""
    reading = _Reading(res)
    return Appointment(**{name: field(reading) for name, field in FIELDS.items()})


class LazyAppointment(Lazy, Appointment):
    """An appointment record whose fields are read from its FHIR Appointment when first asked for (a chart's
    lists show five or six of its twenty). Equal field by field to ``from_fhir``'s
    (tests/resolvers/test_appointment_lazy.py)."""

    READING = _Reading
    FIELDS = FIELDS


def lazy_from_fhir(res: dict[str, Any]) -> Appointment:
    return LazyAppointment(res)
