"""qapi episodes of care (seed 002): create and list a patient's, get and update one, its appointments, and
``PUT /appointments/{id}/episode/assign``.

An episode is a FHIR EpisodeOfCare (store/naming.py "Episodes"): ``EXT["episode-name"]``, ``type`` a
``CS["episode-type"]`` code, ``period`` from/to, ``status`` 1:1 (PLANNING planned, WAITLIST waitlist, ACTIVE
active, ONHOLD onhold, FINISHED finished, CANCELED cancelled), ``EXT["episode-objective"]``,
``EXT["episode-reason-incomplete"]``. An appointment joins one by ``EXT["episode-of-care"]`` (searchable as
``episode-of-care``). GraphQL's ``Episode`` reads the same resource.

The status machine is FHIR's (https://hl7.org/fhir/R4/episodeofcare.html#statemachine): planned → waitlist,
active, cancelled; waitlist → planned, active, cancelled; active → onhold, finished, cancelled; onhold → active,
finished, cancelled; finished and cancelled are final. ``reasonIncomplete`` says why an episode did not complete:
it is refused for a FINISHED one (and dropped when the episode finishes).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fhir_rest.qapi import appointment_map as amap
from fhir_rest.qapi import appointments, patients
from fhir_rest.qapi.http import allowed, instant_unix, json_object, opt_str, reply, req_str
from fhir_rest.qapi.table import Op
from fhir_rest.services import services
from store.errors import Conflict, Gone, Invalid, NotFound
from store.fhirjson import code_of, date_part, ext, ident, ref_id, reference, set_ext
from store.naming import CS, SID
from store.repository import Repository
from store.types import PrincipalLike, Resource
from store.validation import ID_RE

STATUS_IN = {"PLANNING": "planned", "PLANNED": "planned", "WAITLIST": "waitlist", "ACTIVE": "active",
             "ONHOLD": "onhold", "FINISHED": "finished", "CANCELED": "cancelled", "CANCELLED": "cancelled"}
STATUS_OUT = {"planned": "planning", "waitlist": "waitlist", "active": "active", "onhold": "onhold",
              "finished": "finished", "cancelled": "canceled", "entered-in-error": "canceled"}
NEXT = {"planned": {"waitlist", "active", "cancelled"}, "waitlist": {"planned", "active", "cancelled"},
        "active": {"onhold", "finished", "cancelled"}, "onhold": {"active", "finished", "cancelled"},
        "finished": set(), "cancelled": set(), "entered-in-error": set()}
MAX_LIST = 1000
WRITE_FIELDS = (("read", "Patient"), ("create", "EpisodeOfCare"))
READ = (("read", "EpisodeOfCare"),)
UPDATE = (*READ, ("update", "EpisodeOfCare"))
SHOW = (*READ, ("read", "Patient"))
APPOINTMENTS = (*SHOW, ("search", "Appointment"), ("search", "QuestionnaireResponse"))
ASSIGN = (("read", "Appointment"), ("search", "Appointment"), ("update", "Appointment"), ("read", "EpisodeOfCare"))


def _date(body: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = req_str(body, name, max_len=10) if required else opt_str(body, name, max_len=10)
    if not value:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise Invalid(f"{name} must be a date (YYYY-MM-DD)", field=name) from None


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    """The seed's episode body, checked (name, type, from and status required)."""
    status = req_str(body, "status", max_len=20).strip().upper()
    if status not in STATUS_IN:
        raise Invalid("status must be one of PLANNING, WAITLIST, ACTIVE, ONHOLD, FINISHED, CANCELED",
                      field="status")
    kind = req_str(body, "type", max_len=64).strip()
    start, end = _date(body, "from", required=True), _date(body, "to", required=False)
    if start and end and end < start:
        raise Invalid("to must not be before from", field="to")
    reason = opt_str(body, "reasonIncomplete", max_len=1000)
    if reason and STATUS_IN[status] == "finished":
        raise Invalid("reasonIncomplete is only for an episode that is not finished", field="reasonIncomplete")
    return {"name": req_str(body, "name", max_len=255).strip(), "type": kind, "from": start, "to": end,
            "status": STATUS_IN[status], "objective": opt_str(body, "objective", max_len=2000) or None,
            "reasonIncomplete": reason or None}


def _apply(res: Resource, f: dict[str, Any]) -> Resource:
    out = dict(res)
    set_ext(out, "episode-name", "valueString", f["name"])
    out["type"] = [{"coding": [{"system": CS["episode-type"], "code": f["type"]}], "text": f["type"]}]
    out["period"] = {"start": f["from"], **({"end": f["to"]} if f["to"] else {})}
    out["status"] = f["status"]
    set_ext(out, "episode-objective", "valueString", f["objective"])
    set_ext(out, "episode-reason-incomplete", "valueString",
            None if f["status"] == "finished" else f["reasonIncomplete"])
    return out


def view(res: Resource, patient: Resource | None = None, *, full: bool = False) -> dict[str, Any]:
    period = res.get("period") or {}
    pid = ref_id(res.get("patient"), "Patient")
    types = res.get("type") or [{}]
    out: dict[str, Any] = {"id": res["id"], "name": ext(res, "episode-name"),
                           "from": date_part(period.get("start")), "to": date_part(period.get("end")),
                           "type": code_of(types[0]) or (types[0] or {}).get("text"),
                           "status": STATUS_OUT.get(str(res.get("status")), "planning"),
                           "objective": ext(res, "episode-objective"),
                           "reasonIncomplete": ext(res, "episode-reason-incomplete")}
    if full:
        spid = ident(patient, SID["spid"]) if patient else None
        out["soloPatientId"] = int(spid) if spid and spid.isdigit() else None
        out["externalPatientId"] = pid
    else:
        out = {"id": out.pop("id"), "patientId": pid, **out}
    return out


async def find(repo: Repository, principal: PrincipalLike, episode_id: str, within: Any = None) -> Resource:
    if ID_RE.match(episode_id):
        try:
            return await repo.read(principal, "EpisodeOfCare", episode_id, within=within)
        except (NotFound, Gone):
            pass
    raise NotFound("Episode not found")


async def _patient_of(repo: Repository, principal: PrincipalLike, res: Resource, within: Any) -> Resource | None:
    pid = ref_id(res.get("patient"), "Patient")
    if pid is None:
        return None
    try:
        return await repo.read(principal, "Patient", pid, within=within)
    except (NotFound, Gone):
        return None


async def create_episode(request: Request) -> Response:
    principal, decisions = allowed(request, *WRITE_FIELDS)
    repo = services(request).repo
    patient = await patients.by_id(repo, principal, request.path_params["patient_id"], decisions["Patient"].within)
    fields = _fields(await json_object(request))
    res = _apply({"resourceType": "EpisodeOfCare", "patient": reference("Patient", patient["id"])}, fields)
    created = (await repo.create(principal, res, within=decisions["EpisodeOfCare"].within)).resource
    return reply({"episodeId": created["id"]}, 201)


async def list_episodes(request: Request) -> Response:
    principal, decisions = allowed(request, ("read", "Patient"), ("search", "EpisodeOfCare"))
    repo = services(request).repo
    patient = await patients.by_id(repo, principal, request.path_params["patient_id"], decisions["Patient"].within)
    out: list[Resource] = []
    after = None
    while len(out) < MAX_LIST:
        page = await repo.search(principal, "EpisodeOfCare", [("patient", f"Patient/{patient['id']}")], count=200,
                                 sort="date", after=after, within=decisions["EpisodeOfCare"].within)
        out.extend(page.resources)
        if not page.next_cursor:
            break
        after = page.next_cursor
    return reply({"episodes": [view(e) for e in out]})


async def get_episode(request: Request) -> Response:
    principal, decisions = allowed(request, *SHOW)
    repo = services(request).repo
    res = await find(repo, principal, request.path_params["episode_id"], decisions["EpisodeOfCare"].within)
    return reply(view(res, await _patient_of(repo, principal, res, decisions["Patient"].within), full=True))


async def update_episode(request: Request) -> Response:
    principal, decisions = allowed(request, *UPDATE, ("read", "Patient"))
    repo = services(request).repo
    res = await find(repo, principal, request.path_params["episode_id"], decisions["EpisodeOfCare"].within)
    fields = _fields(await json_object(request))
    old, new = str(res.get("status")), fields["status"]
    if new != old and new not in NEXT.get(old, set()):
        raise Conflict(f"An episode that is {STATUS_OUT.get(old, old)} cannot become {STATUS_OUT[new]}")
    changed = _apply(res, fields)
    if changed != res:
        res = (await repo.update(principal, "EpisodeOfCare", res["id"], changed, if_match=res["meta"]["versionId"],
                                 within=decisions["EpisodeOfCare"].within)).resource
    return reply(view(res, await _patient_of(repo, principal, res, decisions["Patient"].within), full=True))


async def episode_appointments(request: Request) -> Response:
    principal, decisions = allowed(request, *APPOINTMENTS)
    repo = services(request).repo
    res = await find(repo, principal, request.path_params["episode_id"], decisions["EpisodeOfCare"].within)
    appts: list[Resource] = []
    after = None
    while len(appts) < MAX_LIST:
        page = await repo.search(principal, "Appointment", [("episode-of-care", f"EpisodeOfCare/{res['id']}")],
                                 count=200, sort="date", after=after, within=decisions["Appointment"].within)
        appts.extend(page.resources)
        if not page.next_cursor:
            break
        after = page.next_cursor
    noted: set[str] = set()
    if appts:
        found = await repo.find_by_reference(principal, "QuestionnaireResponse", "appointment",
                                             [f"Appointment/{a['id']}" for a in appts],
                                             within=decisions["QuestionnaireResponse"].within)
        noted = {ref for _, refs in found for ref in refs}
    patient = await _patient_of(repo, principal, res, decisions["Patient"].within)
    return reply({"episode": view(res, patient, full=True), "appointments": [
        {"appointmentId": amap.said(a), "date": instant_unix(a.get("start")),
         "reasons": [r["text"] for r in a.get("reasonCode") or () if isinstance(r, dict) and r.get("text")],
         "hasNotes": f"Appointment/{a['id']}" in noted, "episodeOfCareId": res["id"]} for a in appts]})


async def assign(request: Request) -> Response:
    principal, decisions = allowed(request, *ASSIGN)
    repo = services(request).repo
    appt = await appointments.find(repo, principal, request.path_params["appointment_id"],
                                   decisions["Appointment"].within)
    body = await json_object(request)
    episode = opt_str(body, "episodeId", max_len=64) or None
    if episode:
        found = await find(repo, principal, episode, decisions["EpisodeOfCare"].within)
        if ref_id(found.get("patient"), "Patient") != amap.patient_id(appt):
            raise Invalid("The episode of care is another patient's", field="episodeId")
    changed = dict(appt)
    set_ext(changed, "episode-of-care", "valueReference", reference("EpisodeOfCare", episode) if episode else None)
    if changed != appt:
        await repo.update(principal, "Appointment", appt["id"], changed, if_match=appt["meta"]["versionId"],
                          within=decisions["Appointment"].within)
    return reply({"id": amap.said(appt), "episodeOfCareId": episode})


def ops() -> list[Op]:
    from fhir_rest.qapi import schemas as s

    tag = "Episodes Of Care"
    one = "/episodes/{episode_id}"
    return [
        Op("POST", "/patients/{patient_id}/episodes", create_episode, "Create Episode", tag, ok=201,
           body=s.EPISODE_INPUT, reply=s.obj({"episodeId": s.STR}, required=("episodeId",)),
           errors=(400, 404, 415)),
        Op("GET", "/patients/{patient_id}/episodes", list_episodes, "Get list of Episodes for patient", tag,
           reply=s.obj({"episodes": s.array(s.EPISODE)}, required=("episodes",)), errors=(404,)),
        Op("GET", one, get_episode, "Get Episode", tag, reply=s.EPISODE_FULL, errors=(404,)),
        Op("PUT", one, update_episode, "Update Episode", tag, body=s.EPISODE_INPUT, reply=s.EPISODE_FULL,
           errors=(400, 404, 409, 415),
           description="Status moves as FHIR EpisodeOfCare's: FINISHED and CANCELED are final."),
        Op("GET", f"{one}/appointments", episode_appointments, "Get list of Appointments for an Episode", tag,
           reply=s.EPISODE_APPOINTMENTS, errors=(404,)),
        Op("PUT", "/appointments/{appointment_id}/episode/assign", assign, "Reassign Episode to Appointment", tag,
           body=s.obj({"episodeId": s.nullable("string", description="none: the appointment leaves its episode")}),
           body_required=False, reply=s.obj({"id": s.SAID, "episodeOfCareId": s.nullable("string")},
                                            required=("id", "episodeOfCareId")),
           errors=(400, 404, 409, 415)),
    ]
