"""qapi appointments (seed 002): create for a patient (by id, HSID or SPID), get and update one, its links.

``{appointment_id}`` is the SAID (digits) or the Appointment's FHIR id. A new appointment books the free Slot of
its waiting room that starts at its date, when there is one (the store makes it busy in the same write and
refuses a double booking); ``visitUrl`` is its patient visit link (links.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from auth.policy import Decision, authorize
from auth.principal import Principal
from fhir_rest.qapi import appointment_map as amap
from fhir_rest.qapi import links, patient_map, patients, rooms
from fhir_rest.qapi.http import (
    MAX_UNIX,
    allowed,
    instant_unix,
    int_param,
    json_object,
    opt_int,
    opt_str,
    opt_strings,
    reply,
    req_str,
    unix_instant,
)
from fhir_rest.qapi.table import Op, Param
from fhir_rest.services import services
from store.errors import Conflict, DuplicateIdentifier, Gone, Invalid, NotFound, PreconditionFailed, SlotTaken
from store.fhirjson import ref_id, reference, set_ext
from store.naming import SID
from store.repository import Repository
from store.types import PrincipalLike, Resource, WriteResult
from store.validation import ID_RE

BOOK_RETRIES = 3
CREATE = (("read", "Patient"), ("search", "Patient"), ("search", "HealthcareService"), ("search", "Schedule"),
          ("search", "Slot"), ("search", "Appointment"), ("create", "Appointment"))
READ = (("read", "Appointment"), ("search", "Appointment"))
SHOW = (*READ, ("read", "Patient"), ("search", "Group"), ("search", "Encounter"), ("read", "Practitioner"))
UPDATE = (*READ, ("update", "Appointment"), ("read", "HealthcareService"), ("search", "Schedule"),
          ("search", "Slot"))


# ---------------------------------------------------------------------------------------------- lookups


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace(",", "\\,").replace("$", "\\$")


async def by_identifier(repo: Repository, principal: PrincipalLike, system: str, value: str,
                        within: Any = None) -> Resource | None:
    page = await repo.search(principal, "Appointment", [("identifier", f"{system}|{_escape(value)}")], count=2,
                             within=within)
    if len(page.resources) > 1:
        raise Conflict("More than one appointment holds that id")
    return page.resources[0] if page.resources else None


async def _by_said(repo: Repository, principal: PrincipalLike, number: int, within: Any) -> Resource | None:
    """The appointment numbered ``number``: read by the id qapi derives from it, else found by identifier."""
    try:
        found = await repo.read(principal, "Appointment", amap.said_id(number), within=within)
        if amap.said(found) == number:
            return found
    except (NotFound, Gone):
        pass
    return await by_identifier(repo, principal, SID["said"], str(number), within)


async def find(repo: Repository, principal: PrincipalLike, appointment_id: str, within: Any = None) -> Resource:
    """The appointment ``appointment_id`` names: a SAID, else a FHIR id (``NotFound`` in the seed's words)."""
    if appointment_id.isdigit() and len(appointment_id) <= 18:
        found = await _by_said(repo, principal, int(appointment_id), within)
        if found is not None:
            return found
    if ID_RE.match(appointment_id):
        try:
            return await repo.read(principal, "Appointment", appointment_id, within=within)
        except (NotFound, Gone):
            pass
    raise NotFound("Appointment not found")


async def by_said(repo: Repository, principal: PrincipalLike, raw: str, within: Any = None) -> Resource:
    found = await _by_said(repo, principal, int_param(raw, "solo_appointment_id"), within)
    if found is None:
        raise NotFound("Appointment not found")
    return found


async def _slot_at(repo: Repository, principal: PrincipalLike, room: Resource, start: int, seconds: int,
                   decisions: dict[str, Decision], skip: set[str]) -> tuple[Resource | None, str | None]:
    """A free Slot of the waiting room starting at ``start`` and long enough, and its practitioner."""
    schedules = await rooms.schedules_of(repo, principal, room, decisions["Schedule"].within)
    for slot in await rooms.free_slots(repo, principal, schedules, start, start + 1, decisions["Slot"].within):
        end = instant_unix(slot.get("end"))
        if slot["id"] in skip or instant_unix(slot.get("start")) != start or end is None or end - start < seconds:
            continue
        schedule = ref_id(slot.get("schedule"), "Schedule")
        practitioner = None
        if schedule:
            try:
                found = await repo.read(principal, "Schedule", schedule)
                practitioner = next((p for a in found.get("actor") or () if (p := ref_id(a, "Practitioner"))),
                                    None)
            except (NotFound, Gone):
                pass
        return slot, practitioner
    return None, None


# ---------------------------------------------------------------------------------------------- create


async def _patient(request: Request, locate: str, repo: Repository, principal: PrincipalLike,
                   within: Any) -> Resource:
    """The patient the create's path names: by id, HSID or SPID."""
    raw = request.path_params.get("patient_id") or request.path_params.get("hsid") or request.path_params["spid"]
    if locate == "id":
        return await patients.by_id(repo, principal, raw, within)
    if locate == "hsid":
        return await patients.by_identifier(repo, principal, SID["hsid"], raw[:200], within)
    return await patients.by_spid(repo, principal, raw, within)


async def _create(request: Request, locate: str) -> Response:
    principal, decisions = allowed(request, *CREATE)
    repo = services(request).repo
    body = await json_object(request)
    name = req_str(body, "waitingRoom", max_len=200)
    when = opt_int(body, "date", low=0, high=MAX_UNIX)
    start = int(time.time()) if when is None else when
    duration = opt_int(body, "duration", low=1, high=rooms.MAX_DURATION_S)
    reasons = opt_strings(body, "reasons") or []
    external = opt_str(body, "externalId", max_len=200)
    account = opt_str(body, "accountNumber", max_len=200)
    episode = opt_str(body, "episodeOfCareId", max_len=64)
    # The patient and the waiting room are independent lookups: at once, the patient's error first.
    found, room = await asyncio.gather(_patient(request, locate, repo, principal, decisions["Patient"].within),
                                       rooms.room_by_name(repo, principal, name,
                                                          decisions["HealthcareService"].within),
                                       return_exceptions=True)
    if isinstance(found, BaseException):
        raise found
    if isinstance(room, BaseException):
        raise room
    patient = found
    seconds = duration or rooms.slot_seconds(room)
    if start + seconds > MAX_UNIX:
        raise Invalid("date is too far in the future", field="date")
    # Read first for the common case; the store's unique index on the external id decides a race (below).
    if external and await by_identifier(repo, principal, SID["external-id"], external,
                                        decisions["Appointment"].within):
        raise _taken(external)
    if episode:
        await _check_episode(repo, principal, episode, patient["id"])
    taken: set[str] = set()
    number: int | None = None
    for _ in range(BOOK_RETRIES):
        slot, practitioner = await _slot_at(repo, principal, room, start, seconds, decisions, taken)
        appt = amap.build(patient, room, start=unix_instant(start), end=unix_instant(start + seconds),
                          seconds=seconds, reasons=reasons, external_id=external, account_number=account,
                          episode_id=episode, slot=slot, practitioner=practitioner)
        if number is None:
            number = amap.said(await repo.numbered(principal, appt))
        try:
            result = await _create_numbered(repo, principal, appt, number, decisions["Appointment"].within)
            break
        except DuplicateIdentifier:
            raise _taken(external or "") from None
        except SlotTaken:
            if slot is None:
                raise
            taken.add(slot["id"])  # booked by someone else since it was read: the next free one, or none
    else:
        raise Conflict("The slots at that date were all booked meanwhile; retry")
    created = result.resource
    return reply({"id": amap.said(created), "visitUrl": await links.visit_url(request, principal.tenant,
                                                                                 created["id"])}, 201)


async def _create_numbered(repo: Repository, principal: PrincipalLike, appt: Resource, number: int | None,
                           within: Any) -> WriteResult:
    """Create ``appt`` as SAID ``number`` under the id derived from it (``amap.said_id``); when another door took
    that id, under an id of the store's."""
    if number is None:
        return await repo.create(principal, appt, within=within)
    amap.set_identifier(appt, "said", str(number))
    try:
        return await repo.create(principal, {**appt, "id": amap.said_id(number)}, keep_id=True, within=within)
    except PreconditionFailed:
        return await repo.create(principal, appt, within=within)


def _taken(external: str) -> Conflict:
    return Conflict(f"An appointment with externalId {external[:100]} already exists", field="externalId")


async def _check_episode(repo: Repository, principal: PrincipalLike, episode: str, patient_id: str) -> None:
    authorize(principal, "read", "EpisodeOfCare")
    if not ID_RE.match(episode):
        raise Invalid("Episode of care not found", field="episodeOfCareId")
    try:
        found = await repo.read(principal, "EpisodeOfCare", episode)
    except (NotFound, Gone):
        raise Invalid("Episode of care not found", field="episodeOfCareId") from None
    if ref_id(found.get("patient"), "Patient") != patient_id:
        raise Invalid("The episode of care is another patient's", field="episodeOfCareId")


async def create_for_patient(request: Request) -> Response:
    return await _create(request, "id")


async def create_for_hsid(request: Request) -> Response:
    return await _create(request, "hsid")


async def create_for_spid(request: Request) -> Response:
    return await _create(request, "spid")


# ---------------------------------------------------------------------------------------------- read, update


async def view(request: Request, principal: Principal, decisions: dict[str, Decision], appt: Resource
               ) -> dict[str, Any]:
    """The seed's Get Appointment body."""
    repo = services(request).repo
    pid = amap.patient_id(appt)

    async def patient() -> dict[str, Any] | None:
        if pid is None:
            return None
        # The family group is asked beside the patient (one round trip of both): it needs only the id.
        found, group = await asyncio.gather(repo.read(principal, "Patient", pid, within=decisions["Patient"].within),
                                            patients.group_of(repo, principal, pid, decisions["Group"].within),
                                            return_exceptions=True)
        if isinstance(found, NotFound | Gone):
            return {"id": pid, "demographics": None}
        if isinstance(found, BaseException):
            raise found
        if isinstance(group, BaseException):
            raise group
        return {"id": pid, "demographics": patient_map.view(found, patients.group_label(group))}

    async def providers() -> list[dict[str, Any]]:
        ids = amap.practitioner_ids(appt)
        if not ids:
            return []
        found = await repo.read_many(principal, "Practitioner", ids, within=decisions["Practitioner"].within)
        return [amap.provider(found[i]) for i in ids if i in found]

    # The video call is the appointment's Encounter: a lookup concurrent requests share (store/referencing.py).
    encounter = repo.first_referencing(principal, "Encounter", "appointment", f"Appointment/{appt['id']}",
                                       within=decisions["Encounter"].within)
    person, visit, staff = await asyncio.gather(patient(), encounter, providers())
    start, end = instant_unix(appt.get("start")), instant_unix(appt.get("end"))
    return {
        "id": amap.said(appt),
        "date": start,
        "duration": end - start if start is not None and end is not None else None,
        "reasons": [r["text"] for r in appt.get("reasonCode") or () if isinstance(r, dict) and r.get("text")],
        "status": amap.workflow(appt),
        "videoCall": amap.video_call(visit, appt),
        "externalId": next((i.get("value") for i in appt.get("identifier") or ()
                            if i.get("system") == SID["external-id"]), None),
        "patient": person,
        "providers": staff,
    }


async def get_appointment(request: Request) -> Response:
    principal, decisions = allowed(request, *SHOW)
    appt = await find(services(request).repo, principal, request.path_params["appointment_id"],
                      decisions["Appointment"].within)
    return reply(await view(request, principal, decisions, appt))


async def update_appointment(request: Request) -> Response:
    principal, decisions = allowed(request, *UPDATE)
    repo = services(request).repo
    appt = await find(repo, principal, request.path_params["appointment_id"], decisions["Appointment"].within)
    body = await json_object(request)
    when = opt_int(body, "date", low=0, high=MAX_UNIX)
    duration = opt_int(body, "duration", low=1, high=rooms.MAX_DURATION_S)
    status = opt_str(body, "status", max_len=40)
    if status is not None and status != "cancelled":
        raise Invalid("status: only cancelled is allowed", field="status")
    reasons = opt_strings(body, "reasons")
    changed = dict(appt)
    for name, field in (("external-id", "externalId"), ("account-number", "accountNumber")):
        if field in body:
            value = opt_str(body, field, max_len=200)
            if name == "external-id" and value and value != _external(appt):
                other = await by_identifier(repo, principal, SID["external-id"], value,
                                            decisions["Appointment"].within)
                if other is not None and other["id"] != appt["id"]:
                    raise _taken(value)
            amap.set_identifier(changed, name, value)
    if reasons is not None:
        if reasons:
            changed["reasonCode"] = [{"text": r} for r in reasons]
        else:
            changed.pop("reasonCode", None)
    if appt.get("status") in amap.CLOSED and (when is not None or duration is not None or status):
        raise Conflict(f"The appointment is {amap.workflow(appt)}: it cannot be changed")
    if when is not None or duration is not None:
        await _reschedule(repo, principal, decisions, changed, appt, when, duration)
    if status == "cancelled":
        changed["status"] = "cancelled"
        changed.pop("slot", None)
        set_ext(changed, "appointment-workflow-status", "valueCode", "cancelled")
    if changed != appt:
        try:
            await repo.update(principal, "Appointment", appt["id"], changed, if_match=appt["meta"]["versionId"],
                              within=decisions["Appointment"].within)
        except SlotTaken:
            raise Conflict("The slot at that date was booked meanwhile; retry") from None
        except DuplicateIdentifier:
            raise _taken(_external(changed) or "") from None
    return reply({"id": amap.said(appt), "visitUrl": await links.visit_url(request, principal.tenant, appt["id"])})


def _external(appt: Resource) -> str | None:
    return next((i.get("value") for i in appt.get("identifier") or () if i.get("system") == SID["external-id"]),
                None)


async def _reschedule(repo: Repository, principal: PrincipalLike, decisions: dict[str, Decision],
                      changed: Resource, appt: Resource, when: int | None, duration: int | None) -> None:
    old_start, old_end = instant_unix(appt.get("start")), instant_unix(appt.get("end"))
    start = when if when is not None else old_start if old_start is not None else int(time.time())
    seconds = duration if duration is not None else (old_end - old_start if old_start is not None
                                                     and old_end is not None else rooms.DEFAULT_DURATION_S)
    if start + seconds > MAX_UNIX:
        raise Invalid("date is too far in the future", field="date")
    changed["start"], changed["end"] = unix_instant(start), unix_instant(start + seconds)
    if seconds % 60 == 0:
        changed["minutesDuration"] = seconds // 60
    else:
        changed.pop("minutesDuration", None)
    if (start, seconds) == (old_start, (old_end or 0) - (old_start or 0)):
        return
    changed.pop("slot", None)  # the store frees the slot the appointment held
    rid = amap.room_id(appt)
    if rid is None:
        return
    try:
        room = await repo.read(principal, "HealthcareService", rid)
    except (NotFound, Gone):
        return
    slot, _ = await _slot_at(repo, principal, room, start, seconds, decisions, set())
    if slot is not None:
        changed["slot"] = [reference("Slot", slot["id"])]


# ---------------------------------------------------------------------------------------------- links


async def provider_link(request: Request) -> Response:
    principal, decisions = allowed(request, *READ)
    appt = await find(services(request).repo, principal, request.path_params["appointment_id"],
                      decisions["Appointment"].within)
    url = await links.visit_url(request, principal.tenant, appt["id"], "provider")
    return reply({"id": amap.said(appt), "providerVisitUrl": url})


async def teams_link(request: Request) -> Response:
    principal, decisions = allowed(request, *READ)
    if not request.headers.get("teams-auth-token", "").strip():
        raise Invalid("The Teams-Auth-Token header is required", field="Teams-Auth-Token")
    appt = await find(services(request).repo, principal, request.path_params["appointment_id"],
                      decisions["Appointment"].within)
    url = await links.visit_url(request, principal.tenant, appt["id"], "provider")
    said = amap.said(appt)
    return reply({"id": said, "msTeamsProviderVisitUrl": links.teams_url(url, str(said) if said else None)})


async def _both_links(request: Request, appt: Resource, principal: Principal) -> Response:
    tenant = principal.tenant
    return reply({"appointmentExternalId": _external(appt),
                  "providerVisitUrl": await links.visit_url(request, tenant, appt["id"], "provider"),
                  "patientVisitUrl": await links.visit_url(request, tenant, appt["id"], "patient")})


async def video_links_external(request: Request) -> Response:
    principal, decisions = allowed(request, *READ)
    found = await by_identifier(services(request).repo, principal, SID["external-id"],
                                request.path_params["external_id"][:200], decisions["Appointment"].within)
    if found is None:
        raise NotFound("Appointment not found")
    return await _both_links(request, found, principal)


async def video_links_said(request: Request) -> Response:
    principal, decisions = allowed(request, *READ)
    found = await by_said(services(request).repo, principal, request.path_params["said"],
                          decisions["Appointment"].within)
    return await _both_links(request, found, principal)


def ops() -> list[Op]:
    from fhir_rest.qapi import schemas as s

    tag = "Appointments"
    spid, said = {"spid": s.SPID_PARAM}, {"said": s.SAID_PARAM}
    def create(path: str, endpoint: Any, summary: str, **extra: Any) -> Op:
        return Op("POST", path, endpoint, summary, tag, body=s.APPOINTMENT_CREATE, reply=s.APPOINTMENT_CREATED,
                  ok=201, errors=(400, 404, 409, 415),
                  description="Field waitingRoom is required (by name); duration should be in range [1, 86400], "
                              "by default the waiting room's slot duration.", **extra)

    one = "/appointments/{appointment_id}"
    return [
        create("/patients/{patient_id}/appointments", create_for_patient, "Create Appointment"),
        create("/patients/HSID/{hsid}/appointments", create_for_hsid, "Create Appointment with HSID"),
        create("/patients/id/type/SPID/value/{spid}/appointments", create_for_spid, "Create Appointment with SPID",
               path_types=spid),
        Op("GET", f"{one}/provider-link", provider_link, "Get Provider Appointment Link", tag,
           reply=s.PROVIDER_LINK, errors=(404,)),
        Op("GET", f"{one}/msteams-provider-link", teams_link, "Get Microsoft Teams Provider Video Call Link", tag,
           reply=s.TEAMS_LINK, errors=(400, 404),
           params=(Param("Teams-Auth-Token", {"type": "string", "minLength": 1}, "The provider's Teams token.",
                         required=True, where="header"),)),
        Op("GET", "/appointments/{external_id}/video-call-links", video_links_external,
           "Get Provider and Patient Appointment Link", tag, reply=s.VIDEO_LINKS, errors=(404,)),
        Op("GET", "/appointments/id/type/SAID/value/{said}/video-call-links", video_links_said,
           "Get Provider and Patient Appointment Link with SAID", tag, reply=s.VIDEO_LINKS, path_types=said,
           errors=(400, 404)),
        Op("PUT", one, update_appointment, "Update Appointment", tag, body=s.APPOINTMENT_UPDATE,
           reply=s.APPOINTMENT_CREATED, errors=(400, 404, 409, 415),
           description="Only cancelled is allowed as a status."),
        Op("GET", one, get_appointment, "Get Appointment", tag, reply=s.APPOINTMENT, errors=(404,)),
    ]
