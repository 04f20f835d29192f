"""The qapi appointment (seed 002) to and from a FHIR Appointment (store/naming.py "Appointment").

| qapi | FHIR Appointment |
|---|---|
| id (SAID) | identifier ``SID["said"]`` (the store numbers every new Appointment) |
| date, duration | start, end (and minutesDuration when whole minutes) |
| reasons | reasonCode[].text |
| waitingRoom | participant HealthcareService (+ its Location), serviceCategory/serviceType from it |
| externalId, accountNumber | identifier ``SID["external-id"]``, ``SID["account-number"]`` |
| episodeOfCareId | extension ``EXT["episode-of-care"]`` → EpisodeOfCare |
| status (the qapi workflow) | ``EXT["appointment-workflow-status"]`` beside the FHIR status |
| videoCall | the Encounter of the appointment (id, status) |
| providers | participant Practitioners |
"""

from __future__ import annotations

from typing import Any

from store.clock import now_seconds
from store.fhirjson import ext, ident, ref_id, reference, set_ext
from store.naming import SID

Resource = dict[str, Any]

WORKFLOW_STATUSES = ("scheduled", "arrived", "in progress.intake.ready", "in progress.intake.progress",
                     "in progress.exam.ready", "in progress.exam.progress", "discharge.ready", "discharge.progress",
                     "completed", "sign off", "cancelled", "not showed up")
# The qapi status of an appointment whose workflow extension is missing (written by another door).
WORKFLOW_OF = {"booked": "scheduled", "pending": "scheduled", "proposed": "scheduled", "waitlist": "scheduled",
               "arrived": "arrived", "checked-in": "in progress.intake.ready", "fulfilled": "completed",
               "cancelled": "cancelled", "entered-in-error": "cancelled", "noshow": "not showed up"}
VIDEO_OF = {"planned": "waiting", "arrived": "waiting", "triaged": "waiting", "in-progress": "on call",
            "onleave": "on hold", "finished": "complete", "cancelled": "incomplete", "entered-in-error": "incomplete"}
CLOSED = frozenset({"cancelled", "fulfilled", "noshow", "entered-in-error"})
V3_PART_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


def build(patient: Resource, room: Resource, *, start: str, end: str, seconds: int, reasons: list[str],
          external_id: str | None, account_number: str | None, episode_id: str | None,
          slot: Resource | None, practitioner: str | None) -> Resource:
    identifiers = [{"system": SID[name], "value": value}
                   for name, value in (("external-id", external_id), ("account-number", account_number)) if value]
    participants: list[Resource] = [
        {"actor": reference("Patient", patient["id"]), "required": "required", "status": "accepted"},
        {"actor": reference("HealthcareService", room["id"], room.get("name")), "required": "information-only",
         "status": "accepted"},
    ]
    location = ref_id((room.get("location") or [None])[0], "Location")
    if location:
        participants.append({"actor": reference("Location", location), "required": "information-only",
                             "status": "accepted"})
    if practitioner:
        participants.append({"actor": reference("Practitioner", practitioner), "required": "required",
                             "status": "accepted",
                             "type": [{"coding": [{"system": V3_PART_TYPE, "code": "PPRF",
                                                   "display": "primary performer"}]}]})
    appt: Resource = {"resourceType": "Appointment", "status": "booked", "start": start, "end": end,
                      "created": now_seconds(), "participant": participants}
    if identifiers:
        appt["identifier"] = identifiers
    if seconds % 60 == 0:
        appt["minutesDuration"] = seconds // 60
    if reasons:
        appt["reasonCode"] = [{"text": r} for r in reasons]
    for source, target in (("category", "serviceCategory"), ("type", "serviceType")):
        if room.get(source):
            appt[target] = room[source]
    if slot is not None:
        appt["slot"] = [reference("Slot", slot["id"])]
    set_ext(appt, "appointment-workflow-status", "valueCode", "scheduled")
    if episode_id:
        set_ext(appt, "episode-of-care", "valueReference", reference("EpisodeOfCare", episode_id))
    return appt


def set_identifier(appt: Resource, name: str, value: str | None) -> None:
    kept = [i for i in appt.get("identifier") or () if i.get("system") != SID[name]]
    if value:
        kept.append({"system": SID[name], "value": value})
    if kept:
        appt["identifier"] = kept
    else:
        appt.pop("identifier", None)


def said_id(said: int | str) -> str:
    """The FHIR id qapi gives the Appointment it numbers ``said``, so that a read by SAID is a read by id (an
    appointment written through another door keeps the id it was given, and is found by identifier)."""
    return f"said-{said}"


def said(appt: Resource) -> int | None:
    value = ident(appt, SID["said"])
    return int(value) if value and value.isdigit() else None


def workflow(appt: Resource) -> str:
    found = ext(appt, "appointment-workflow-status")
    if isinstance(found, str) and found in WORKFLOW_STATUSES:
        return found
    return WORKFLOW_OF.get(str(appt.get("status")), "scheduled")


def patient_id(appt: Resource) -> str | None:
    return next((pid for p in appt.get("participant") or () if (pid := ref_id(p.get("actor"), "Patient"))), None)


def practitioner_ids(appt: Resource) -> list[str]:
    return [pid for p in appt.get("participant") or () if (pid := ref_id(p.get("actor"), "Practitioner"))]


def room_id(appt: Resource) -> str | None:
    return next((rid for p in appt.get("participant") or ()
                 if (rid := ref_id(p.get("actor"), "HealthcareService"))), None)


def video_call(encounter: Resource | None, appt: Resource) -> dict[str, str] | None:
    if encounter is None:
        return None
    flow = ext(appt, "appointment-workflow-status")
    status = "LWBS" if flow == "lwbs" else "incomplete" if flow == "incomplete" else \
        VIDEO_OF.get(str(encounter.get("status")), "waiting")
    return {"id": encounter["id"], "status": status}


def provider(res: Resource) -> dict[str, Any]:
    name = next((n for n in res.get("name") or () if isinstance(n, dict)), {})
    given = [g for g in name.get("given") or () if isinstance(g, str)]
    email = next((t.get("value") for t in res.get("telecom") or () if t.get("system") == "email"), None)
    return {"id": res["id"], "email": email, "firstName": given[0] if given else None,
            "middleName": " ".join(given[1:]) or None, "lastName": name.get("family")}
