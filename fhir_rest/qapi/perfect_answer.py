"""qapi perfect answer (seed 002): ``POST /perfect-answer`` — a stat tele-neurology consult in one call.

The seed's flow, on FHIR:
1. the patient, by MRN (identifier ``SID["mrn"]``): created when new, else its name and birth date updated;
2. the waiting room: the HealthcareService of the Location whose "Geolocation Id" (identifier
   ``SID["geolocation"]``) is ``locationId`` — the one offering the reason's template ("Acute Neurology -
   Physician Services" for Stroke, "EEG - Physician Services" for the EEG reasons) by name first, else its first;
3. an Appointment now in that room (numbered with its SAID like any), and the visit's Encounter (planned, virtual);
4. the template's visit note (notes.py), its answers the request's values, tagged by field name.

"A visit has already been created for the patient within 24 hours" (409) when an appointment of the patient was
created in the last 24 hours. Two concurrent calls for one patient cannot both pass that check: the appointment's
id is derived from the patient and the UTC day, so the store refuses the second. A failure after the first write
undoes what this call wrote (the appointment and encounter deleted, a patient it created deleted), then answers.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from datetime import date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fhir_rest.qapi import appointment_map as amap
from fhir_rest.qapi import notes, rooms
from fhir_rest.qapi.http import allowed, instant_unix, json_object, reply, unix_instant
from fhir_rest.qapi.table import Op
from fhir_rest.services import services
from store.errors import Conflict, Gone, Invalid, PreconditionFailed
from store.fhirjson import reference
from store.naming import SID
from store.repository import Repository
from store.types import PrincipalLike, Resource

TEMPLATES = {"Stroke": "Acute Neurology - Physician Services", "EEG Stat": "EEG - Physician Services",
             "EEG Routine": "EEG - Physician Services"}
CONSULT_TYPES = ("new", "update")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
WINDOW_S = 24 * 3600
RECENT = "A visit has already been created for the patient within 24 hours"
REQUIRED = ("firstName", "lastName", "dob", "locationId", "mrn", "requestingProvider", "consultType", "reason")
OPTIONAL = ("physicianCallbackNumber", "callCenterNotified", "physicianNotified", "patientLocation", "caller")
V3_ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
NEEDS = (("search", "Patient"), ("create", "Patient"), ("update", "Patient"), ("delete", "Patient"),
         ("search", "Location"), ("search", "HealthcareService"), ("search", "Appointment"),
         ("create", "Appointment"), ("delete", "Appointment"), ("create", "Encounter"), ("delete", "Encounter"),
         ("search", "QuestionnaireResponse"), ("create", "QuestionnaireResponse"),
         ("update", "QuestionnaireResponse"))


def _check(body: dict[str, Any]) -> dict[str, str]:
    """The request's fields, or ``Invalid`` in the seed's ``Bad parameters [field: message, ...]``."""
    problems: list[str] = []
    out: dict[str, str] = {}
    for name in (*REQUIRED, *OPTIONAL):
        value = body.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if name in REQUIRED:
                problems.append(f"{name}: This value should not be blank.")
            continue
        if not isinstance(value, str) or len(value) > 500:
            problems.append(f"{name}: This value should be a string of at most 500 characters.")
            continue
        out[name] = value.strip()
    if "locationId" in out and not UUID_RE.match(out["locationId"]):
        problems.append("locationId: This is not a valid UUID.")
    if "dob" in out:
        try:
            if len(out["dob"]) != 10 or date.fromisoformat(out["dob"]) > date.today():
                raise ValueError
        except ValueError:
            problems.append("dob: This is not a valid date.")
    if "consultType" in out and out["consultType"] not in CONSULT_TYPES:
        problems.append("consultType: The value you selected is not a valid choice.")
    if "reason" in out and out["reason"] not in TEMPLATES:
        problems.append("reason: The value you selected is not a valid choice.")
    for name in ("callCenterNotified", "physicianNotified"):
        if name in out:
            try:
                datetime.fromisoformat(out[name].replace("Z", "+00:00"))
            except ValueError:
                problems.append(f"{name}: This is not a valid date and time.")
    if problems:
        raise Invalid(f"Bad parameters [{', '.join(problems)}]")
    return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace(",", "\\,").replace("$", "\\$")


async def _room(repo: Repository, principal: PrincipalLike, location_id: str, reason: str,
                within: dict[str, Any]) -> Resource:
    page = await repo.search(principal, "Location", [("identifier", f"{SID['geolocation']}|{location_id}")],
                             count=2, within=within["Location"])
    if not page.resources:
        raise Invalid(f"Bad parameters [locationId: No location has the Geolocation Id {location_id}.]")
    found = await rooms.all_rooms(repo, principal, within["HealthcareService"],
                                  [("location", f"Location/{page.resources[0]['id']}"), ("active", "true")])
    if not found:
        raise Invalid("The location has no waiting room")
    wanted = TEMPLATES[reason].casefold()
    found.sort(key=lambda r: wanted not in str(r.get("name") or "").casefold())
    return found[0]


async def _existing(repo: Repository, principal: PrincipalLike, mrn: str, within: Any) -> Resource | None:
    page = await repo.search(principal, "Patient", [("identifier", f"{SID['mrn']}|{_escape(mrn)}")], count=2,
                             within=within)
    if len(page.resources) > 1:
        raise Conflict("More than one patient holds that MRN")
    return page.resources[0] if page.resources else None


async def _write_patient(repo: Repository, principal: PrincipalLike, f: dict[str, str], old: Resource | None,
                         within: Any) -> Resource:
    """The patient created (``old`` None) or with its name and birth date updated."""
    name = {"use": "official", "family": f["lastName"], "given": [f["firstName"]]}
    if old is None:
        res = {"resourceType": "Patient", "id": str(uuid.uuid4()), "active": True, "name": [name],
               "birthDate": f["dob"], "identifier": [{"system": SID["mrn"], "value": f["mrn"]}]}
        return (await repo.create(principal, res, keep_id=True, within=within)).resource
    changed = {**old, "birthDate": f["dob"],
               "name": [name, *(n for n in old.get("name") or () if n.get("use") != "official")]}
    if changed == old:
        return old
    return (await repo.update(principal, "Patient", old["id"], changed, if_match=old["meta"]["versionId"],
                              within=within)).resource


async def _recent(repo: Repository, principal: PrincipalLike, patient_id: str, now: int, within: Any) -> bool:
    since = unix_instant(now - WINDOW_S)
    page = await repo.search(principal, "Appointment", [("patient", f"Patient/{patient_id}"),
                                                        ("_lastUpdated", f"ge{since}")], count=100, within=within)
    return any((instant_unix(a.get("created")) or 0) >= now - WINDOW_S and a.get("status") != "entered-in-error"
               for a in page.resources)


async def perfect_answer(request: Request) -> Response:
    principal, decisions = allowed(request, *NEEDS)
    within = {rt: d.within for rt, d in decisions.items()}
    repo = services(request).repo
    f = _check(await json_object(request))
    room = await _room(repo, principal, f["locationId"], f["reason"], within)
    now = int(time.time())
    before = await _existing(repo, principal, f["mrn"], within["Patient"])
    if before is not None and await _recent(repo, principal, before["id"], now, within["Appointment"]):
        raise Conflict(RECENT)
    patient = await _write_patient(repo, principal, f, before, within["Patient"])
    written: list[tuple[str, str]] = []
    try:
        seconds = rooms.slot_seconds(room)
        appt = amap.build(patient, room, start=unix_instant(now), end=unix_instant(now + seconds), seconds=seconds,
                          reasons=[f["reason"]], external_id=None, account_number=None, episode_id=None, slot=None,
                          practitioner=None)
        appt["id"] = "pa-" + hashlib.sha256(f"{patient['id']}\n{now // 86_400}".encode()).hexdigest()[:40]
        try:
            appt = (await repo.create(principal, appt, keep_id=True, within=within["Appointment"])).resource
        except PreconditionFailed:
            try:
                await repo.read(principal, "Appointment", appt["id"])
            except Gone:  # today's was undone after a failure: this one is not a second visit
                appt = (await repo.create(principal, appt, within=within["Appointment"])).resource
            else:
                raise Conflict(RECENT) from None
        written.append(("Appointment", appt["id"]))
        encounter = (await repo.create(principal, {
            "resourceType": "Encounter", "status": "planned",
            "class": {"system": V3_ACT, "code": "VR", "display": "virtual"},
            "subject": reference("Patient", patient["id"]), "appointment": [reference("Appointment", appt["id"])],
            "reasonCode": [{"text": f["reason"]}]}, within=within["Encounter"])).resource
        written.append(("Encounter", encounter["id"]))
        answers = [(name, [f[name]]) for name in (*REQUIRED, *OPTIONAL) if name in f]
        await notes.write_answers(repo, principal, appt, TEMPLATES[f["reason"]], answers,
                                  within["QuestionnaireResponse"])
    except Exception:
        for rt, rid in reversed(written):
            await repo.delete(principal, rt, rid, within=within[rt])
        if before is None:
            await repo.delete(principal, "Patient", patient["id"], within=within["Patient"])
        raise
    return reply({"patientId": patient["id"], "encounterId": encounter["id"]}, 201)


def ops() -> list[Op]:
    from fhir_rest.qapi import schemas as s

    return [Op("POST", "/perfect-answer", perfect_answer, "Perfect answer API", "Integrations", ok=201,
               body=s.PERFECT_ANSWER, reply=s.obj({"patientId": s.STR, "encounterId": s.STR},
                                                  required=("patientId", "encounterId")),
               errors=(400, 409, 415),
               description="Creates or updates the patient by MRN, creates the appointment in the location's "
                           "waiting room and fills the reason's template with the request's values. 409: a visit "
                           "has already been created for the patient within 24 hours.")]
