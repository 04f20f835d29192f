"""qapi assistance requests (seed 002, virtual nursing and sitting): ``POST``, ``GET`` and ``DELETE``
``/request-assistance``.

The care location asking for help is a FHIR Device (an FMS device: identifier ``SID["device-serial"]`` =
``serialNumber``, ``location`` the room or bed it stands in, ``patient`` the patient it watches, ``type.text``
its video kind). Rooms sit in a Location tree by ``partOf``, told apart by ``physicalType``
(http://terminology.hl7.org/CodeSystem/location-physical-type): building ``bu`` → floor ``lvl`` → room ``ro`` →
bed ``bd``; a department is a ward (``wa``) holding rooms. A request names the device one of four ways: its
serial number, the MRN of its patient, building + floor + room (+ bed), or department + room (+ bed).

A request is a ServiceRequest (status ``active`` while open, ``revoked`` once cancelled; intent ``order``;
``code`` ``CS["assistance-request"]|assistance``; ``performer`` the Device; ``subject`` its patient, else its
room; ``locationReference`` its room). A device has at most one open request: the request's id is derived from
the device and how many requests it had before, so two concurrent creates for one device make one request (the
store refuses the second id) — no read-then-write race.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fhir_rest.qapi.http import allowed, json_object, opt_str, reply, seed_stamp
from fhir_rest.qapi.table import Op, Param
from fhir_rest.services import services
from store.clock import now_seconds
from store.errors import Conflict, Gone, Invalid, NotFound, PreconditionFailed
from store.fhirjson import code_of, ident, ref_id, reference, text_of
from store.naming import CS, SID
from store.repository import Repository
from store.types import PrincipalLike, Resource

MISSING = ("Service Request Error: Missing Required Parameters. Please include either Device ID, Patient ID, or a "
           "combination of Building, Floor, Room, and Bed (opt.), or Department, Room, and Bed (opt.) to proceed")
NO_DEVICE = "Device could not be found from the data submitted"
NO_REQUEST = "Service Request Error: Request not found"
PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"
CODE = {"system": CS["assistance-request"], "code": "assistance", "display": "Assistance request"}
FIELDS = ("deviceSerialNumber", "patientMrn", "building", "floor", "department", "room", "bed")
MAX_PARENTS = 6
FIND = (("search", "Device"), ("read", "Device"), ("search", "Location"), ("read", "Location"),
        ("search", "Patient"), ("read", "Patient"))
CREATE = (*FIND, ("search", "ServiceRequest"), ("create", "ServiceRequest"))
READ = (*FIND, ("search", "ServiceRequest"))
CANCEL = (*READ, ("update", "ServiceRequest"))


def _token(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace(",", "\\,").replace("$", "\\$")


async def _lookup(request: Request) -> dict[str, str]:
    """The lookup fields, from the JSON body (as the seed sends them, also on GET and DELETE) or the query."""
    body = await json_object(request)
    for name in FIELDS:
        if name not in body and name in request.query_params:
            body[name] = request.query_params[name]
    out = {}
    for name in FIELDS:
        value = opt_str(body, name, max_len=200)
        if value and value.strip():
            out[name] = value.strip()
    return out


async def _locations(repo: Repository, principal: PrincipalLike, name: str, kinds: tuple[str, ...],
                     parent: str | None, within: Any) -> list[Resource]:
    params = [("name", name[:200])]
    if parent:
        params.append(("partof", f"Location/{parent}"))
    page = await repo.search(principal, "Location", params, count=100, within=within)
    wanted = name.casefold()
    return [loc for loc in page.resources if str(loc.get("name") or "").strip().casefold() == wanted
            and (code_of(loc.get("physicalType"), PHYSICAL) or "") in kinds]


async def _place(repo: Repository, principal: PrincipalLike, q: dict[str, str], within: Any) -> list[str]:
    """The Location ids (bed first, then room) a building/floor/room/bed or department/room/bed names."""
    if "building" in q:
        tops = await _locations(repo, principal, q["building"], ("bu", "si"), None, within)
        floors = [f for t in tops for f in await _locations(repo, principal, q["floor"], ("lvl", "wi"), t["id"],
                                                            within)]
        parents = [f["id"] for f in floors]
    else:
        parents = [d["id"] for d in await _locations(repo, principal, q["department"], ("wa", "area", "wi"), None,
                                                      within)]
    rooms = [r for p in parents for r in await _locations(repo, principal, q["room"], ("ro",), p, within)]
    places: list[str] = []
    if "bed" in q:
        places += [b["id"] for r in rooms for b in await _locations(repo, principal, q["bed"], ("bd",), r["id"],
                                                                    within)]
    return places + [r["id"] for r in rooms]


async def find_device(repo: Repository, principal: PrincipalLike, q: dict[str, str], within: dict[str, Any]
                      ) -> Resource:
    dw = within["Device"]
    if "deviceSerialNumber" in q:
        params = [("identifier", f"{SID['device-serial']}|{_token(q['deviceSerialNumber'])}")]
    elif "patientMrn" in q:
        page = await repo.search(principal, "Patient", [("identifier", f"{SID['mrn']}|{_token(q['patientMrn'])}")],
                                 count=2, within=within["Patient"])
        if not page.resources:
            raise NotFound(NO_DEVICE)
        params = [("patient", ",".join(f"Patient/{p['id']}" for p in page.resources))]
    elif ("building" in q and "floor" in q and "room" in q) or ("department" in q and "room" in q):
        places = await _place(repo, principal, q, within["Location"])
        if not places:
            raise NotFound(NO_DEVICE)
        params = [("location", ",".join(f"Location/{p}" for p in places[:100]))]
    else:
        raise Invalid(MISSING)
    page = await repo.search(principal, "Device", [*params, ("status", "active")], count=100, within=dw)
    if not page.resources:
        raise NotFound(NO_DEVICE)
    if params[0][0] == "location":  # the most precise place first: the bed's device before the room's
        order = params[0][1].split(",")
        page.resources.sort(key=lambda d: order.index(f"Location/{ref_id(d.get('location'), 'Location')}")
                            if f"Location/{ref_id(d.get('location'), 'Location')}" in order else len(order))
    return page.resources[0]


async def _current(repo: Repository, principal: PrincipalLike, device: Resource, within: Any) -> Resource | None:
    page = await repo.search(principal, "ServiceRequest", [("performer", f"Device/{device['id']}"),
                                                           ("status", "active"),
                                                           ("code", f"{CS['assistance-request']}|assistance")],
                             count=1, sort="-authored", within=within)
    return page.resources[0] if page.resources else None


async def _read(repo: Repository, principal: PrincipalLike, rt: str, rid: str | None, within: Any
                ) -> Resource | None:
    if not rid:
        return None
    try:
        return await repo.read(principal, rt, rid, within=within)
    except (NotFound, Gone):
        return None


def _age(born: Any) -> int | None:
    try:
        birth = date.fromisoformat(str(born)[:10])
    except ValueError:
        return None
    today = datetime.now(UTC).date()
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _patient(res: Resource | None) -> dict[str, Any] | None:
    if res is None:
        return None
    name = next((n for n in res.get("name") or () if isinstance(n, dict) and n.get("use") != "old"), {})
    given = [g for g in name.get("given") or () if isinstance(g, str)]
    return {"age": _age(res.get("birthDate")), "id": res["id"], "firstName": given[0] if given else None,
            "lastName": name.get("family"), "middleName": " ".join(given[1:]) or None,
            "dob": res.get("birthDate"), "mrn": ident(res, SID["mrn"])}


async def view(repo: Repository, principal: PrincipalLike, sr: Resource, device: Resource,
               within: dict[str, Any]) -> dict[str, Any]:
    where = next((rid for r in sr.get("locationReference") or () if (rid := ref_id(r, "Location"))), None)
    chain: list[Resource] = []  # the device's place, then what it is part of: bed, room, floor, building
    for _ in range(MAX_PARENTS):
        found = await _read(repo, principal, "Location", where, within["Location"])
        if found is None:
            break
        chain.append(found)
        where = ref_id(found.get("partOf"), "Location")
    room = next((loc for loc in chain if code_of(loc.get("physicalType"), PHYSICAL) == "ro"),
                chain[0] if chain else None)
    top = chain[-1] if chain and chain[-1] is not room else None
    patient = await _read(repo, principal, "Patient", ref_id(sr.get("subject"), "Patient"), within["Patient"])
    serial = device.get("serialNumber") or ident(device, SID["device-serial"])
    name = next((n.get("name") for n in device.get("deviceName") or () if n.get("name")), None)
    status = {"active": "incomplete", "completed": "completed", "revoked": "cancelled"}.get(str(sr.get("status")),
                                                                                         str(sr.get("status")))
    return {
        "id": sr["id"], "device": serial,
        "careLocation": {"availability": "online" if device.get("status") == "active" else "offline",
                         "id": device["id"], "name": name, "status": device.get("status") or "active",
                         "video": {"type": text_of(device.get("type")), "clientId": None, "serialNumber": serial,
                                   "careLocationId": device["id"], "skipActivation": True}},
        "practice": principal.tenant,
        "patient": _patient(patient),
        "assignedTo": None,
        "room": (room or {}).get("name"),
        "status": status,
        "createdAt": seed_stamp(sr.get("authoredOn")),
        "finishedAt": seed_stamp((sr.get("occurrencePeriod") or {}).get("end")),
        "location": {"id": top["id"], "name": top.get("name")} if top is not None else None,
        "avSessions": [],
        "createdFromExternalApi": True,
    }


async def create_request(request: Request) -> Response:
    principal, decisions = allowed(request, *CREATE)
    within = {rt: d.within for rt, d in decisions.items()}
    repo = services(request).repo
    q = await _lookup(request)
    device = await find_device(repo, principal, q, within)
    if await _current(repo, principal, device, within["ServiceRequest"]) is not None:
        raise Conflict("Service Request Error: A request is already open for this device")
    before = await repo.count(principal, "ServiceRequest", [("performer", f"Device/{device['id']}")])
    rid = "ar-" + hashlib.sha256(f"{device['id']}\n{before + 1}".encode()).hexdigest()[:40]
    room = ref_id(device.get("location"), "Location")
    pid = ref_id(device.get("patient"), "Patient")
    sr: Resource = {"resourceType": "ServiceRequest", "id": rid, "status": "active", "intent": "order",
                    "code": {"coding": [CODE], "text": "Assistance request"}, "authoredOn": now_seconds(),
                    "performer": [reference("Device", device["id"])],
                    "subject": reference("Patient", pid) if pid else reference("Device", device["id"])}
    if room:
        sr["locationReference"] = [reference("Location", room)]
    try:
        created = (await repo.create(principal, sr, keep_id=True, within=within["ServiceRequest"])).resource
    except PreconditionFailed:
        raise Conflict("Service Request Error: A request is already open for this device") from None
    return reply(await view(repo, principal, created, device, within), 201)


async def get_request(request: Request) -> Response:
    repo, principal, within, device, found = await _open_request(request, READ)
    return reply(await view(repo, principal, found, device, within))


async def _open_request(request: Request, scopes: tuple[tuple[str, str], ...]
                        ) -> tuple[Repository, PrincipalLike, dict[str, Any], Resource, Resource]:
    """The device the request's lookup names and its open assistance request (``NotFound`` when either is not)."""
    principal, decisions = allowed(request, *scopes)
    within = {rt: d.within for rt, d in decisions.items()}
    repo = services(request).repo
    device = await _device_or_none(repo, principal, await _lookup(request), within)
    found = await _current(repo, principal, device, within["ServiceRequest"])
    if found is None:
        raise NotFound(NO_REQUEST)
    return repo, principal, within, device, found


async def _device_or_none(repo: Repository, principal: PrincipalLike, q: dict[str, str], within: dict[str, Any]
                          ) -> Resource:
    try:
        return await find_device(repo, principal, q, within)
    except NotFound:
        raise NotFound(NO_REQUEST) from None


async def cancel_request(request: Request) -> Response:
    repo, principal, within, device, found = await _open_request(request, CANCEL)
    changed = {**found, "status": "revoked",
               "occurrencePeriod": {"start": found.get("authoredOn") or now_seconds(), "end": now_seconds()}}
    try:
        done = (await repo.update(principal, "ServiceRequest", found["id"], changed,
                                  if_match=found["meta"]["versionId"], within=within["ServiceRequest"])).resource
    except PreconditionFailed:
        raise Conflict("Service Request Error: The request changed meanwhile; retry") from None
    return reply(await view(repo, principal, done, device, within))


def ops() -> list[Op]:
    from fhir_rest.qapi import schemas as s

    tag = "Virtual Nursing and Sitting"
    how = ("Name the device one way: deviceSerialNumber; patientMrn; building, floor, room (and bed); or "
           "department, room (and bed).")
    params = tuple(Param(n, {"type": "string", "minLength": 1, "maxLength": 200}, "") for n in FIELDS)
    return [
        Op("POST", "/request-assistance", create_request, "Create Assistance Request", tag, ok=201,
           body=s.ASSISTANCE_LOOKUP, reply=s.ASSISTANCE, errors=(400, 404, 409, 415), bare_errors=True,
           description=how + " A device has at most one open request (409)."),
        Op("GET", "/request-assistance", get_request, "Get Current Assistance Request", tag, reply=s.ASSISTANCE,
           params=params, errors=(400, 404), bare_errors=True,
           description=how + " As query parameters (or, as the seed sends them, a JSON body)."),
        Op("DELETE", "/request-assistance", cancel_request, "Cancel Current Assistance Request", tag,
           reply=s.ASSISTANCE, params=params, errors=(400, 404, 409, 415), bare_errors=True,
           description=how + " As query parameters or a JSON body. The request is kept, as cancelled."),
    ]
