"""qapi appointment attachments and patient documents (seed 002).

An attachment is a FHIR Binary (the bytes, ``contentType`` the sniffed type) and the DocumentReference that
describes it: ``subject`` the appointment's patient, ``context.related`` the Appointment (searchable as
``related``), ``content[0].attachment`` {contentType, url ``Binary/<id>``, size, title, creation}. Its qapi id is
the DocumentReference's. ``DELETE`` is soft: ``EXT["attachment-deleted"]`` true and status ``entered-in-error``
(the Binary is kept; the collection lists it as ``deleted: true``).

Only the seed's file types are taken, and only when the bytes are what the Content-Type says (a PNG sent as
``application/pdf`` is refused): FHIR REST serves a Binary's bytes under ``nosniff`` and a sandboxing CSP, and
only the whitelisted types are ever stored.

A patient document (``POST /patients/{id}/documents``) is a DocumentReference of the patient: ``description``
its name, ``date`` its dateTime, and its question/response pairs as a ``text/plain`` attachment.
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fhir_rest.qapi import appointment_map as amap
from fhir_rest.qapi import appointments, patients
from fhir_rest.qapi.http import MAX_UNIX, allowed, json_object, opt_int, reply, req_str, seed_stamp, unix_instant
from fhir_rest.qapi.table import Op, Param
from fhir_rest.services import services
from store.clock import now_instant
from store.errors import DomainError, Gone, Invalid, NotFound, TooLarge
from store.fhirjson import ext, ref_id, reference, set_ext
from store.repository import Repository
from store.types import PrincipalLike, Resource
from store.validation import ID_RE

MAX_BYTES = 5 * 1024 * 1024
MAX_ATTACHMENTS = 1000
MAX_RESPONSES = 500
# The seed's whitelist, in its order, and the signature each type's bytes start with.
MIME_TYPES = ("application/pdf", "application/x-pdf", "image/pdf", "image/png", "image/jpeg")
SIGNATURES = {"application/pdf": b"%PDF-", "application/x-pdf": b"%PDF-", "image/pdf": b"%PDF-",
              "image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
UNSUPPORTED = 'Mime type "{}" not supported. Available file mime-types: ' + ", ".join(f'"{m}"' for m in MIME_TYPES)
FIND = (("read", "Appointment"), ("search", "Appointment"))
UPLOAD = (*FIND, ("create", "Binary"), ("create", "DocumentReference"), ("delete", "Binary"))
LIST = (*FIND, ("search", "DocumentReference"))
DELETE = (*LIST, ("read", "DocumentReference"), ("update", "DocumentReference"))
DOCUMENT = (("read", "Patient"), ("create", "DocumentReference"))


def _mime(request: Request) -> str:
    raw = request.headers.get("content-type", "")
    mime = raw.split(";")[0].strip().lower()
    if mime not in MIME_TYPES:
        shown = mime if mime.isascii() and mime.isprintable() else "?"
        raise Invalid(UNSUPPORTED.format(shown[:100] or "none"), field="Content-Type")
    return mime


def _file_name(request: Request, mime: str) -> str:
    name = (request.query_params.get("fileName") or "").strip()
    if not name:
        return "Attachment." + mime.rsplit("/", 1)[1].removeprefix("x-")
    if len(name) > 255 or not name.isprintable() or "/" in name or "\\" in name:
        raise Invalid("fileName must be a file name of at most 255 printable characters", field="fileName")
    return name


def view(doc: Resource) -> dict[str, Any]:
    attachment = ((doc.get("content") or [{}])[0] or {}).get("attachment") or {}
    related = (doc.get("context") or {}).get("related") or ()
    appointment = next((rid for r in related if (rid := ref_id(r, "Appointment"))), None)
    return {"id": doc["id"], "appointmentId": appointment, "title": attachment.get("title") or "",
            "mimeType": attachment.get("contentType") or "", "size": attachment.get("size") or 0,
            "uploadedAt": seed_stamp(attachment.get("creation") or doc.get("date")),
            "deleted": ext(doc, "attachment-deleted") is True}


async def upload(request: Request) -> Response:
    principal, decisions = allowed(request, *UPLOAD)
    repo = services(request).repo
    mime = _mime(request)
    title = _file_name(request, mime)
    appt = await appointments.find(repo, principal, request.path_params["appointment_id"],
                                   decisions["Appointment"].within)
    data = await request.body()
    if len(data) > MAX_BYTES:
        raise TooLarge("Max file size: 5Mb")
    if not data:
        raise Invalid("The file is empty", field="body")
    if not data.startswith(SIGNATURES[mime]):
        raise Invalid(f'The file is not of mime type "{mime}"', field="Content-Type")
    now = now_instant()
    binary = (await repo.create(principal, {"resourceType": "Binary", "contentType": mime,
                                            "securityContext": reference("Appointment", appt["id"]),
                                            "data": base64.b64encode(data).decode("ascii")},
                                within=decisions["Binary"].within)).resource
    doc: Resource = {
        "resourceType": "DocumentReference", "status": "current", "date": now,
        "description": title, "context": {"related": [reference("Appointment", appt["id"])]},
        "content": [{"attachment": {"contentType": mime, "url": f"Binary/{binary['id']}", "size": len(data),
                                    "title": title, "creation": now}}],
    }
    pid = amap.patient_id(appt)
    if pid:
        doc["subject"] = reference("Patient", pid)
    try:
        created = (await repo.create(principal, doc, within=decisions["DocumentReference"].within)).resource
    except DomainError:
        # Nothing half-written: the bytes without their description are removed again.
        await repo.delete(principal, "Binary", binary["id"], within=decisions["Binary"].within)
        raise
    return reply(view(created), 201)


async def attachments_of(repo: Repository, principal: PrincipalLike, appt: Resource, within: Any = None
                         ) -> list[Resource]:
    out: list[Resource] = []
    after = None
    while len(out) < MAX_ATTACHMENTS:
        page = await repo.search(principal, "DocumentReference", [("related", f"Appointment/{appt['id']}")],
                                 count=200, sort="date", after=after, within=within)
        out.extend(page.resources)
        if not page.next_cursor:
            break
        after = page.next_cursor
    return out


async def list_attachments(request: Request) -> Response:
    principal, decisions = allowed(request, *LIST)
    repo = services(request).repo
    appt = await appointments.find(repo, principal, request.path_params["appointment_id"],
                                   decisions["Appointment"].within)
    found = await attachments_of(repo, principal, appt, decisions["DocumentReference"].within)
    return reply({"attachments": [view(d) for d in found]})


async def delete_attachment(request: Request) -> Response:
    principal, decisions = allowed(request, *DELETE)
    repo = services(request).repo
    appt = await appointments.find(repo, principal, request.path_params["appointment_id"],
                                   decisions["Appointment"].within)
    aid = request.path_params["attachment_id"]
    within = decisions["DocumentReference"].within
    doc = None
    if ID_RE.match(aid):
        try:
            doc = await repo.read(principal, "DocumentReference", aid, within=within)
        except (NotFound, Gone):
            doc = None
    related = ((doc or {}).get("context") or {}).get("related") or ()
    if doc is None or not any(ref_id(r, "Appointment") == appt["id"] for r in related):
        raise NotFound("Attachment not found")
    if ext(doc, "attachment-deleted") is not True:
        changed = dict(doc)
        set_ext(changed, "attachment-deleted", "valueBoolean", True)
        changed["status"] = "entered-in-error"
        doc = (await repo.update(principal, "DocumentReference", doc["id"], changed,
                                 if_match=doc["meta"]["versionId"], within=within)).resource
    return reply(view(doc))


# ---------------------------------------------------------------------------------------------- documents


def _responses(body: dict[str, Any]) -> list[tuple[str, str]]:
    value = body.get("responses")
    if not isinstance(value, list) or not value:
        raise Invalid("responses is required: a list of {question, response}", field="responses")
    if len(value) > MAX_RESPONSES:
        raise Invalid(f"responses may hold at most {MAX_RESPONSES} items", field="responses")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise Invalid(f"responses[{i}] must be an object", field="responses")
        out.append((req_str(item, "question", max_len=2000), req_str(item, "response", max_len=20_000)))
    return out


async def add_document(request: Request) -> Response:
    principal, decisions = allowed(request, *DOCUMENT)
    repo = services(request).repo
    patient = await patients.by_id(repo, principal, request.path_params["patient_id"],
                                   decisions["Patient"].within)
    body = await json_object(request)
    name = req_str(body, "name", max_len=255).strip()
    when = opt_int(body, "dateTime", low=0, high=MAX_UNIX)
    if when is None:
        raise Invalid("dateTime is required", field="dateTime")
    responses = _responses(body)
    text = "\n\n".join(f"{q}\n{r}" for q, r in responses).encode()
    date = unix_instant(when)
    await repo.create(principal, {
        "resourceType": "DocumentReference", "status": "current", "docStatus": "final",
        "subject": reference("Patient", patient["id"]), "date": date, "description": name,
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "title": name, "creation": date,
                                    "size": len(text), "data": base64.b64encode(text).decode("ascii")}}],
    }, within=decisions["DocumentReference"].within)
    return reply([], 201)


def ops() -> list[Op]:
    from fhir_rest.qapi import schemas as s

    tag = "Appointment Attachments"
    path = "/appointments/{appointment_id}/attachments"
    return [
        Op("POST", path, upload, "Upload attachment to appointment", tag, ok=201, reply=s.ATTACHMENT,
           body={"type": "string", "format": "binary", "maxLength": MAX_BYTES}, body_type="|".join(MIME_TYPES),
           params=(Param("fileName", {"type": "string", "minLength": 1, "maxLength": 255},
                         "Uploaded file name. This filename will be displayed in UI."),),
           errors=(400, 404, 413),
           description="Max file size: 5Mb. Allowed file mime-types: " + ", ".join(MIME_TYPES) + "; the file's "
                       "bytes must be of the type its Content-Type names."),
        Op("GET", path, list_attachments, "Get Appointment Attachments", tag,
           reply=s.obj({"attachments": s.array(s.ATTACHMENT)}, required=("attachments",)), errors=(404,)),
        Op("DELETE", f"{path}/{{attachment_id}}", delete_attachment, "Delete appointment attachment", tag,
           reply=s.ATTACHMENT, errors=(404,), description="Soft: the attachment stays listed as deleted."),
        Op("POST", "/patients/{patient_id}/documents", add_document, "Add Patient Document", "Patient Documents",
           ok=201, body=s.PATIENT_DOCUMENT, reply=s.EMPTY_LIST, errors=(400, 404, 415),
           description="Adds new patient document. All fields are required."),
    ]
