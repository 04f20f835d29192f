"""qapi patients (seed 002): ``GET/PUT /patients/{patient_id}``, ``GET/PUT /patients/id/type/SPID/value/{spid}``,
``POST /patients``.

A qapi patient is a FHIR Patient: its qapi ``id`` is the Patient's id (the integrator's own id, given on create),
its SPID a per-practice integer (identifier ``SID["spid"]``) the store takes from a counter when any door creates
a Patient (store/writes.py ``SEQUENCED``).
A patient ``isLinkedByEmail`` is a member of a shared-email family Group (type person, ``code.text`` the group
type, ``name`` its name, identifier system ``SID["email-group"]``); the Group's id is derived from its type and
name, so concurrent first members create one Group, not two.

Writes go patient first, then the group membership; the group's document is validated before the patient is
written, so only the store failing between the two can leave the patient without its membership — then the
patient's write is undone (a create deleted, an update restored) before the error is answered.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from auth.policy import Decision
from fhir_rest.qapi import patient_map
from fhir_rest.qapi.http import allowed, int_param, json_object, opt_bool, opt_str, reply
from fhir_rest.qapi.table import Op
from fhir_rest.services import services
from store.errors import Conflict, DomainError, Gone, Invalid, NotFound, PreconditionFailed
from store.fhirjson import ident, ref_id, reference
from store.logs import described
from store.naming import SID
from store.repository import Repository
from store.types import PrincipalLike, Resource
from store.validation import ID_RE, validate

log = logging.getLogger("fhirgraph.qapi")

GROUP_SYSTEM = SID["email-group"]
READ = (("read", "Patient"), ("search", "Group"))
WRITE = (("read", "Patient"), ("update", "Patient"), ("search", "Group"), ("read", "Group"), ("update", "Group"))
CREATE = (("create", "Patient"), ("search", "Group"), ("read", "Group"), ("update", "Group"))
MEMBERSHIP_RETRIES = 10


# ---------------------------------------------------------------------------------------------- lookups


async def by_id(repo: Repository, principal: PrincipalLike, patient_id: str, within: Any = None) -> Resource:
    """The Patient whose qapi id (= FHIR id) is ``patient_id``; ``NotFound`` in the seed's words."""
    if not ID_RE.match(patient_id):
        raise NotFound("Patient not found")
    try:
        return await repo.read(principal, "Patient", patient_id, within=within)
    except (NotFound, Gone):
        raise NotFound("Patient not found") from None


async def by_identifier(repo: Repository, principal: PrincipalLike, system: str, value: str,
                        within: Any = None) -> Resource:
    """The Patient holding identifier ``system|value`` (SPID, HSID)."""
    escaped = value.replace("\\", "\\\\").replace("|", "\\|").replace(",", "\\,").replace("$", "\\$")
    page = await repo.search(principal, "Patient", [("identifier", f"{system}|{escaped}")], count=2, within=within)
    if not page.resources:
        raise NotFound("Patient not found")
    if len(page.resources) > 1:
        raise Conflict("More than one patient holds that id")
    return page.resources[0]


async def by_spid(repo: Repository, principal: PrincipalLike, spid: str, within: Any = None) -> Resource:
    return await by_identifier(repo, principal, SID["spid"], str(int_param(spid, "solo_patient_id")), within)


async def group_of(repo: Repository, principal: PrincipalLike, patient_id: str,
                   within: Any = None) -> Resource | None:
    """The shared-email family Group ``patient_id`` belongs to, if any (concurrent requests share the lookup)."""
    return await repo.first_referencing(principal, "Group", "member", f"Patient/{patient_id}",
                                        [("identifier", f"{GROUP_SYSTEM}|")], within=within)


def group_label(group: Resource | None) -> tuple[str, str] | None:
    if group is None:
        return None
    return str((group.get("code") or {}).get("text") or "family"), str(group.get("name") or "")


# ---------------------------------------------------------------------------------------------- groups


Label = tuple[str, str]


def wanted_group(body: dict[str, Any], res: Resource) -> tuple[bool, Label | None]:
    """Whether the body says anything of the patient's group, and the (type, name) of the group it puts the
    patient in (None: take it out of any). ``sharedEmailGroup {type, name}`` and ``groupType``/``groupName``
    both name it; the deprecated ``familyMember`` alone links by the patient's email."""
    linked = opt_bool(body, "isLinkedByEmail")
    member = opt_bool(body, "familyMember")
    shared = body.get("sharedEmailGroup")
    if shared is not None and not isinstance(shared, dict):
        raise Invalid("sharedEmailGroup must be an object or null", field="sharedEmailGroup")
    kind = opt_str(shared or {}, "type", max_len=100) or opt_str(body, "groupType", max_len=100)
    name = opt_str(shared or {}, "name", max_len=200) or opt_str(body, "groupName", max_len=200)
    if linked is None and member is None:
        if kind or name:
            raise Invalid("sharedEmailGroup is only needed if isLinkedByEmail is true", field="isLinkedByEmail")
        return False, None
    if linked is False or (linked is None and member is False):
        return True, None
    if kind and name:
        return True, (kind.strip(), name.strip())
    if linked:
        raise Invalid("sharedEmailGroup (type and name) is required when isLinkedByEmail is true",
                      field="sharedEmailGroup")
    email = next((t.get("value") for t in res.get("telecom") or () if t.get("system") == "email"), None)
    if not email:
        raise Invalid("familyMember needs an email address to share (or isLinkedByEmail with sharedEmailGroup)",
                      field="familyMember")
    return True, ("family", str(email))


def group_id(kind: str, name: str) -> str:
    return "qeg-" + hashlib.sha256(f"{kind}\n{name}".encode()).hexdigest()[:40]


def new_group(kind: str, name: str) -> Resource:
    group: Resource = {"resourceType": "Group", "id": group_id(kind, name), "active": True, "type": "person",
                       "actual": True, "code": {"text": kind}, "name": name,
                       "identifier": [{"system": GROUP_SYSTEM, "value": f"{kind}/{name}"}], "member": []}
    return group


def check_group(kind: str, name: str, patient_id: str) -> None:
    """Validate the Group a membership will write before anything is written (module docstring)."""
    group = new_group(kind, name)
    group["member"] = [{"entity": reference("Patient", patient_id)}]
    group["meta"] = {"versionId": "1", "lastUpdated": "2000-01-01T00:00:00Z"}
    validate(group)


async def set_membership(repo: Repository, principal: PrincipalLike, patient_id: str,
                         current: Resource | None, target: tuple[str, str] | None) -> None:
    """Move ``patient_id`` from its ``current`` group to the ``target`` one (None: to none)."""
    if current is not None and (target is None or current["id"] != group_id(*target)):
        await _change(repo, principal, current["id"], patient_id, join=False, label=None)
    if target is not None and (current is None or current["id"] != group_id(*target)):
        await _change(repo, principal, group_id(*target), patient_id, join=True, label=target)


async def _change(repo: Repository, principal: PrincipalLike, gid: str, patient_id: str, *, join: bool,
                  label: tuple[str, str] | None) -> None:
    for _ in range(MEMBERSHIP_RETRIES):
        try:
            group: Resource | None = await repo.read(principal, "Group", gid)
        except (NotFound, Gone):
            group = None
        if group is None:
            if not join or label is None:
                return
            fresh = new_group(*label)
            fresh["member"] = [{"entity": reference("Patient", patient_id)}]
            fresh["quantity"] = 1
            try:
                await repo.create(principal, fresh, keep_id=True)
                return
            except PreconditionFailed:
                continue  # created (or deleted) concurrently: read it again
        members = [m for m in group.get("member") or () if ref_id(m.get("entity"), "Patient") != patient_id]
        if join:
            members.append({"entity": reference("Patient", patient_id)})
        changed = {k: v for k, v in group.items() if k not in ("member", "quantity")}
        if members:
            changed["member"], changed["quantity"] = members, len(members)
        try:
            await repo.update(principal, "Group", gid, changed, if_match=group["meta"]["versionId"])
            return
        except PreconditionFailed:
            continue
    raise PreconditionFailed("The family group is being changed concurrently; retry")


# ---------------------------------------------------------------------------------------------- endpoints


async def _show(request: Request, patient: Resource, decisions: dict[str, Decision], *, flat: bool) -> Response:
    repo = services(request).repo
    group = await group_of(repo, request.scope["auth"], patient["id"], decisions["Group"].within)
    return reply(patient_map.view(patient, group_label(group), flat_group=flat))


async def get_patient(request: Request) -> Response:
    principal, decisions = allowed(request, *READ)
    patient = await by_id(services(request).repo, principal, request.path_params["patient_id"],
                          decisions["Patient"].within)
    return await _show(request, patient, decisions, flat=False)


async def get_patient_spid(request: Request) -> Response:
    principal, decisions = allowed(request, *READ)
    patient = await by_spid(services(request).repo, principal, request.path_params["spid"],
                            decisions["Patient"].within)
    return await _show(request, patient, decisions, flat=True)


async def create_patient(request: Request) -> Response:
    principal, decisions = allowed(request, *CREATE)
    body = await json_object(request)
    pid = body.get("id")
    if pid is None or pid == "":
        raise Invalid("id is required", field="id")
    if not isinstance(pid, str) or not ID_RE.match(pid):
        raise Invalid("id must be a string of letters, digits, '-' and '.' (at most 64)", field="id")
    res = patient_map.apply({"resourceType": "Patient", "id": pid}, body, creating=True)
    _, target = wanted_group(body, res)
    if target:
        check_group(*target, pid)
    repo = services(request).repo
    try:
        await repo.read(principal, "Patient", pid)
        raise Conflict(f"A patient with id {pid} already exists")
    except Gone:
        raise Conflict(f"A patient with id {pid} existed and was deleted; use another id") from None
    except NotFound:
        pass
    try:
        result = await repo.create(principal, res, keep_id=True, within=decisions["Patient"].within)
    except PreconditionFailed:
        raise Conflict(f"A patient with id {pid} already exists") from None
    spid = int(ident(result.resource, SID["spid"]) or 0)  # the store numbers every new Patient
    if target:
        try:
            await set_membership(repo, principal, pid, None, target)
        except DomainError:
            await _undo(repo, principal, result.resource, None)
            raise
    return reply(spid, 201)


async def update_patient(request: Request) -> Response:
    principal, decisions = allowed(request, *WRITE)
    repo = services(request).repo
    found = await by_id(repo, principal, request.path_params["patient_id"], decisions["Patient"].within)
    return await _update(request, principal, decisions, found)


async def update_patient_spid(request: Request) -> Response:
    principal, decisions = allowed(request, *WRITE)
    repo = services(request).repo
    found = await by_spid(repo, principal, request.path_params["spid"], decisions["Patient"].within)
    return await _update(request, principal, decisions, found)


async def _update(request: Request, principal: PrincipalLike, decisions: dict[str, Decision],
                  found: Resource) -> Response:
    body = await json_object(request)
    repo = services(request).repo
    res = patient_map.apply(dict(found), body, creating=False)
    given, target = wanted_group(body, res)
    current = await group_of(repo, principal, found["id"], decisions["Group"].within) if given else None
    if target:
        check_group(*target, found["id"])
    if res != found:
        await repo.update(principal, "Patient", found["id"], res, if_match=found["meta"]["versionId"],
                          within=decisions["Patient"].within)
    if given:
        try:
            await set_membership(repo, principal, found["id"], current, target)
        except DomainError:
            if res != found:
                await _undo(repo, principal, res, found)
            raise
    return reply([])


async def _undo(repo: Repository, principal: PrincipalLike, written: Resource, before: Resource | None) -> None:
    """Take back a patient write whose group membership could not follow (module docstring)."""
    try:
        if before is None:
            await repo.delete(principal, "Patient", written["id"])
        else:
            await repo.update(principal, "Patient", written["id"], before)
    except DomainError as exc:
        log.error("a qapi patient write could not be undone after its group failed: %s", described(exc))


def ops() -> list[Op]:
    from fhir_rest.qapi import schemas as s

    one, spid = "/patients/{patient_id}", "/patients/id/type/SPID/value/{spid}"
    spid_type = {"spid": s.SPID_PARAM}
    return [
        Op("POST", "/patients", create_patient, "Create Patient", "Patients", ok=201, body=s.PATIENT_CREATE,
           reply=s.SPID, errors=(400, 409, 415),
           description="Field id is required. deceasedAt is required if deceased is true, and an error when it "
                       "is not. isLinkedByEmail with sharedEmailGroup puts the patient in a family that shares an "
                       "email address. Answers the new patient's Solo Patient ID (SPID)."),
        Op("GET", one, get_patient, "Get Patient", "Patients", reply=s.PATIENT, errors=(404,)),
        Op("PUT", one, update_patient, "Update Patient", "Patients", body=s.PATIENT_UPDATE, reply=s.EMPTY_LIST,
           errors=(400, 404, 415), description="All fields are optional; only those given change."),
        Op("GET", spid, get_patient_spid, "Get Patient with SPID", "Patients", reply=s.PATIENT_FLAT,
           path_types=spid_type, errors=(400, 404)),
        Op("PUT", spid, update_patient_spid, "Update Patient with SPID", "Patients", body=s.PATIENT_UPDATE,
           reply=s.EMPTY_LIST, path_types=spid_type, errors=(400, 404, 415)),
    ]
