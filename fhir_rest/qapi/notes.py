"""qapi visit notes (seed 002): ``GET/PUT /appointments/{appointment_id}/visit-note``.

A visit note is one FHIR QuestionnaireResponse per (appointment, template): subject the appointment's patient,
``EXT["appointment"]`` the appointment (searchable as ``appointment``), ``EXT["visit-note-template"]`` the
template's name; its items are the template's sections (``text``) holding its questions (``linkId`` the
question id, ``text`` the question, ``answer[].valueString`` the response). ``PUT`` sets the answers of the
questions it names (a question the note does not have yet is added), creating the note on its first answers.
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fhir_rest.qapi import appointment_map as amap
from fhir_rest.qapi import appointments
from fhir_rest.qapi.http import allowed, instant, json_object, reply, req_str
from fhir_rest.qapi.table import Op
from fhir_rest.services import services
from store.clock import now_seconds
from store.errors import Invalid, PreconditionFailed
from store.fhirjson import ext, reference, set_ext
from store.repository import Repository
from store.types import PrincipalLike, Resource

MAX_QUESTIONS = 500
RETRIES = 5
READ = (("read", "Appointment"), ("search", "Appointment"), ("search", "QuestionnaireResponse"))
WRITE = (*READ, ("create", "QuestionnaireResponse"), ("update", "QuestionnaireResponse"))


async def notes_of(repo: Repository, principal: PrincipalLike, appt: Resource, within: Any = None) -> list[Resource]:
    page = await repo.search(principal, "QuestionnaireResponse", [("appointment", f"Appointment/{appt['id']}")],
                             count=100, sort="authored", within=within)
    return page.resources


def _questions(items: Any, section: str | None = None) -> list[tuple[str | None, Resource]]:
    """(section text, question item) of every answerable item, depth first."""
    out: list[tuple[str | None, Resource]] = []
    for item in items or ():
        if not isinstance(item, dict):
            continue
        if item.get("item"):
            out.extend(_questions(item["item"], item.get("text") or section))
        else:
            out.append((section, item))
    return out


def _when(value: Any) -> dict[str, Any] | None:
    moment = instant(value)
    if moment is None:
        return None
    return {"date": moment.strftime("%Y-%m-%d %H:%M:%S.%f"), "timezone_type": 3, "timezone": "UTC"}


def view(note: Resource) -> dict[str, Any]:
    sections: dict[str, list[dict[str, str]]] = {}
    responses = []
    for section, item in _questions(note.get("item")):
        sections.setdefault(section or "", []).append({"id": item["linkId"], "text": item.get("text") or ""})
        answers = [str(a.get("valueString")) for a in item.get("answer") or () if a.get("valueString") is not None]
        if answers:
            question = [q for q in (section, item.get("text") or item["linkId"]) if q]
            responses.append({"dateTime": _when(note.get("authored")), "question": question, "response": answers})
    return {"id": note["id"],
            "template": {"name": ext(note, "visit-note-template") or "",
                         "flow": {"sections": [{"name": k, "questions": v} for k, v in sections.items()]}},
            "comments": [], "responses": responses}


async def get_note(request: Request) -> Response:
    principal, decisions = allowed(request, *READ)
    repo = services(request).repo
    appt = await appointments.find(repo, principal, request.path_params["appointment_id"],
                                   decisions["Appointment"].within)
    return reply([view(n) for n in await notes_of(repo, principal, appt,
                                                 decisions["QuestionnaireResponse"].within)])


def _answers(body: dict[str, Any]) -> list[tuple[str, list[str]]]:
    questions = body.get("questions")
    if not isinstance(questions, list) or not questions:
        raise Invalid("questions is required: a list of {id, value}", field="questions")
    if len(questions) > MAX_QUESTIONS:
        raise Invalid(f"questions may hold at most {MAX_QUESTIONS} items", field="questions")
    out = []
    for i, q in enumerate(questions):
        if not isinstance(q, dict):
            raise Invalid(f"questions[{i}] must be an object", field="questions")
        qid = q.get("id")
        if not isinstance(qid, str) or not qid.strip() or len(qid) > 255:
            raise Invalid(f"questions[{i}].id is required", field="questions")
        value = q.get("value")
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= 10_000 for v in value):
            raise Invalid(f"questions[{i}].value must be a list of strings", field="questions")
        out.append((qid.strip(), [v for v in value if v]))
    return out


def answered(note: Resource, answers: list[tuple[str, list[str]]]) -> Resource:
    """``note`` with ``answers`` set on its questions (new questions appended)."""
    changed = {**note, "item": [dict(i) for i in note.get("item") or ()]}

    def walk(items: list[Resource], qid: str, values: list[str]) -> bool:
        for pos, item in enumerate(items):
            if item.get("item"):
                nested = [dict(i) for i in item["item"]]
                if walk(nested, qid, values):
                    items[pos] = {**item, "item": nested}
                    return True
            elif item.get("linkId") == qid:
                items[pos] = _set(item, values)
                return True
        return False

    for qid, values in answers:
        if not walk(changed["item"], qid, values):
            changed["item"].append(_set({"linkId": qid, "text": qid}, values))
    changed["authored"] = now_seconds()
    return changed


def _set(item: Resource, values: list[str]) -> Resource:
    out = {k: v for k, v in item.items() if k != "answer"}
    if values:
        out["answer"] = [{"valueString": v} for v in values]
    return out


async def put_note(request: Request) -> Response:
    principal, decisions = allowed(request, *WRITE)
    repo = services(request).repo
    appt = await appointments.find(repo, principal, request.path_params["appointment_id"],
                                   decisions["Appointment"].within)
    body = await json_object(request)
    name = req_str(body, "name", max_len=255).strip()
    answers = _answers(body)
    await write_answers(repo, principal, appt, name, answers, decisions["QuestionnaireResponse"].within)
    return Response(status_code=204)


async def write_answers(repo: Repository, principal: PrincipalLike, appt: Resource, name: str,
                        answers: list[tuple[str, list[str]]], within: Any = None) -> Resource:
    """Set ``answers`` on the appointment's visit note of template ``name`` (created on first answers)."""
    for _ in range(RETRIES):
        existing = next((n for n in await notes_of(repo, principal, appt, within)
                         if ext(n, "visit-note-template") == name), None)
        if existing is None:
            # One note per (appointment, template), whoever writes first: its id is derived from both.
            nid = "vn-" + hashlib.sha256(f"{appt['id']}\n{name}".encode()).hexdigest()[:40]
            note: Resource = {"resourceType": "QuestionnaireResponse", "id": nid, "status": "in-progress",
                              "item": []}
            pid = amap.patient_id(appt)
            if pid:
                note["subject"] = reference("Patient", pid)
            set_ext(note, "appointment", "valueReference", reference("Appointment", appt["id"]))
            set_ext(note, "visit-note-template", "valueString", name)
            try:
                return (await repo.create(principal, answered(note, answers), keep_id=True, within=within)).resource
            except PreconditionFailed:
                continue
        try:
            return (await repo.update(principal, "QuestionnaireResponse", existing["id"], answered(existing, answers),
                                      if_match=existing["meta"]["versionId"], within=within)).resource
        except PreconditionFailed:
            continue
    raise PreconditionFailed("The visit note is being changed concurrently; retry")


def ops() -> list[Op]:
    from fhir_rest.qapi import schemas as s

    path = "/appointments/{appointment_id}/visit-note"
    return [
        Op("GET", path, get_note, "Get Visit Note", "Appointment Note", reply=s.array(s.VISIT_NOTE), errors=(404,)),
        Op("PUT", path, put_note, "Update Visit Note", "Appointment Note", ok=204, body=s.VISIT_NOTE_UPDATE,
           errors=(400, 404, 415), description="Sets the answers of the questions named (by id) in the visit "
                                               "note of the template named."),
    ]
