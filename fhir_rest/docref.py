"""``GET|POST [base]/DocumentReference/$docref`` (US Core, http://hl7.org/fhir/us/core/OperationDefinition/docref;
seed 004): the patient's Continuity of Care Document generated on demand (fhir_rest/ccda.py), stored in the
patient's documents as a Binary and the DocumentReference pointing at it (one transaction), and answered as a
searchset Bundle whose ``DocumentReference.content.attachment.url`` downloads it (``[base]/Binary/[id]`` with
``Accept: application/xml``).

Seed 004's date rules: ``start`` and ``end`` bound the encounter-related sections (a resource is in the period
when the encounter it belongs to is, or — belonging to none — when its own date is); each is taken at its least
precise bound (``start=2024`` from the first of January, ``end=2024-03`` to the end of March); no ``start``: the
whole history up to ``end``; no ``end``: everything from ``start``; ``start`` and ``end`` the same day: that day.
The other sections hold the whole record. Each section reads only what the caller's scopes let it read.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from auth.audit_doors import tell
from auth.policy import authorize
from fhir_rest import bundles, ccda
from fhir_rest.ccda import Kind, Section, label
from fhir_rest.endpoints import base_url
from fhir_rest.outcomes import FhirResponse
from fhir_rest.parameters import operation_parameters
from fhir_rest.services import services
from store.clock import now_instant
from store.errors import Forbidden, Invalid
from store.fhirjson import code_of, parse_reference
from store.keys import MAX_TS, MIN_TS, date_range
from store.transactions import Entry
from store.types import Page, PrincipalLike, Resource

CCD = "34133-9"
LOINC = "http://loinc.org"
XML = "application/xml"
CCDA_FORMAT = "urn:hl7-org:sdwg:ccda-structuredBody:2.1"
CATEGORY = {"system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
            "code": "clinical-note", "display": "Clinical Note"}
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
NOTES_TEMPLATE = "2.16.840.1.113883.10.20.22.2.65"
PARAMETERS = ("patient", "start", "end", "type", "on-demand", "profile")
MAX_ROWS = 1000  # resources of one type in one document

# The sections seed 004 lists, in its order: the encounter-related ones first.
ENCOUNTER_RELATED = {
    "procedures": Kind("History of Procedures", "47519-4", "2.16.840.1.113883.10.20.22.2.7.1", "2014-06-09"),
    "results": Kind("Relevant Diagnostic Tests and/or Laboratory Data", "30954-2",
                    "2.16.840.1.113883.10.20.22.2.3.1", "2015-08-01"),
    "functional": Kind("Functional Status", "47420-5", "2.16.840.1.113883.10.20.22.2.14", "2014-06-09"),
    "progress-notes": Kind("Progress Notes", "11506-3", NOTES_TEMPLATE, "2016-11-01"),
    "procedure-notes": Kind("Procedure Notes", "28570-0", NOTES_TEMPLATE, "2016-11-01"),
    "lab-narrative": Kind("Laboratory Report Narrative", "11502-2", NOTES_TEMPLATE, "2016-11-01"),
    "encounters": Kind("Encounters", "46240-8", "2.16.840.1.113883.10.20.22.2.22.1", "2015-08-01"),
    "assessments": Kind("Assessments", "51848-0", "2.16.840.1.113883.10.20.22.2.8"),
    "plan": Kind("Plan of Treatment", "18776-5", "2.16.840.1.113883.10.20.22.2.10", "2014-06-09"),
    "goals": Kind("Goals", "61146-7", "2.16.840.1.113883.10.20.22.2.60"),
    "health-concerns": Kind("Health Concerns", "75310-3", "2.16.840.1.113883.10.20.22.2.58", "2015-08-01"),
    "referral": Kind("Reason for Referral", "42349-1", "1.3.6.1.4.1.19376.1.5.3.1.3.1", "2014-06-09"),
    "mental": Kind("Mental Status", "10190-7", "2.16.840.1.113883.10.20.22.2.56", "2015-08-01"),
}
WHOLE_RECORD = {
    "allergies": Kind("Allergies, Adverse Reactions, Alerts", "48765-2", "2.16.840.1.113883.10.20.22.2.6.1",
                      "2015-08-01"),
    "medications": Kind("History of Medication Use", "10160-0", "2.16.840.1.113883.10.20.22.2.1.1", "2014-06-09"),
    "problems": Kind("Problem List", "11450-4", "2.16.840.1.113883.10.20.22.2.5.1", "2015-08-01"),
    "immunizations": Kind("Immunizations", "11369-6", "2.16.840.1.113883.10.20.22.2.2.1", "2015-08-01"),
    "social": Kind("Social History", "29762-2", "2.16.840.1.113883.10.20.22.2.17", "2015-08-01"),
    "equipment": Kind("Medical Equipment", "46264-8", "2.16.840.1.113883.10.20.22.2.23", "2014-06-09"),
    "vitals": Kind("Vital Signs", "8716-3", "2.16.840.1.113883.10.20.22.2.4.1", "2015-08-01"),
}
NOT_KEPT = "Not recorded in this system"


async def docref(request: Request) -> Response:
    params = dict(await operation_parameters(request, "$docref"))
    principal: PrincipalLike = request.scope["auth"]
    repo = services(request).repo
    for name in params:
        if name not in PARAMETERS and "handling=strict" in request.headers.get("prefer", ""):
            raise Invalid(f"$docref does not take '{name[:40]}'", paths=[name[:40]])
    pid = _patient_id(params.get("patient") or getattr(principal, "patient", None))
    doc_type = params.get("type")
    if doc_type is not None and doc_type.rpartition("|")[2] != CCD:
        raise Invalid(f"$docref generates the CCD only (type {LOINC}|{CCD})", paths=["type"])
    start, end = params.get("start"), params.get("end")
    window = _window(start, end)
    # Seed 004: DocumentReference read (and the operation); the Patient must be one the caller may read.
    authorize(principal, "read", "DocumentReference")
    patient = await repo.read(principal, "Patient", pid, within=authorize(principal, "read", "Patient").within)
    tell(request.scope, resource=patient)

    async def of(rt: str, param: str) -> list[Resource] | None:
        try:
            within = authorize(principal, "search", rt).within
        except Forbidden:
            return None  # the caller may not read this type: its sections say so
        found = await repo.find_by_reference(principal, rt, param, [f"Patient/{pid}"], limit=MAX_ROWS,
                                             within=within)
        return [r for r, _ in found]

    sections = await _sections(of, window)
    now = now_instant()
    bid, did = str(uuid.uuid4()), str(uuid.uuid4())
    xml = ccda.document(patient, sections, doc_id=did, now=now, start=start, end=end,
                        custodian=principal.tenant)
    base = base_url(request)
    binary = {"resourceType": "Binary", "id": bid, "contentType": XML,
              "securityContext": {"reference": f"Patient/{pid}"}, "data": base64.b64encode(xml).decode("ascii")}
    document: Resource = {
        "resourceType": "DocumentReference", "id": did, "status": "current",
        "type": {"coding": [{"system": LOINC, "code": CCD, "display": "Summarization of Episode Note"}]},
        "category": [{"coding": [CATEGORY]}],
        "subject": {"reference": f"Patient/{pid}"},
        "date": now,
        "description": "Continuity of Care Document",
        "content": [{"attachment": {"contentType": XML, "url": f"{base}/Binary/{bid}", "size": len(xml),
                                    "title": "Continuity of Care Document", "creation": now},
                     "format": {"system": "http://ihe.net/fhir/ValueSet/IHE.FormatCode.codesystem",
                                "code": CCDA_FORMAT}}],
    }
    if start or end:
        document["context"] = {"period": {**({"start": start} if start else {}), **({"end": end} if end else {})}}
    # Both or neither: the server writes the patient's document on the caller's behalf (seed 004 asks only read
    # scopes of it), with the caller as the Provenance's agent.
    outcomes = await repo.transaction(principal, [Entry(0, "PUT", "Binary", rid=bid, resource=binary),
                                                  Entry(1, "PUT", "DocumentReference", rid=did, resource=document)])
    stored = outcomes[1].result.resource if outcomes[1].result else document
    echo = [(k, v) for k, v in params.items() if k in ("patient", "start", "end", "type")]
    return FhirResponse(bundles.searchset(base, "DocumentReference/$docref", Page(resources=[stored]),
                                          params=echo, count=1))


def _patient_id(value: str | None) -> str:
    if not value:
        raise Invalid("$docref needs the patient parameter", paths=["patient"])
    parsed = parse_reference(value)
    if parsed is not None:
        if parsed[0] != "Patient":
            raise Invalid("patient must be a Patient id or reference", paths=["patient"])
        return parsed[1]
    return value


Window = tuple[str, str]


def _window(start: str | None, end: str | None) -> Window:
    lo, hi = MIN_TS, MAX_TS
    if start is not None:
        found = date_range(start)
        if found is None:
            raise Invalid("start must be a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)", paths=["start"])
        lo = found[0]
    if end is not None:
        found = date_range(end)
        if found is None:
            raise Invalid("end must be a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)", paths=["end"])
        hi = found[1]
    if lo > hi:
        raise Invalid("start is after end", paths=["start", "end"])
    return lo, hi


def _span(value: Any) -> Window | None:
    if isinstance(value, str):
        return date_range(value)
    if isinstance(value, dict) and (value.get("start") or value.get("end")):
        lo = date_range(value["start"]) if isinstance(value.get("start"), str) else None
        hi = date_range(value["end"]) if isinstance(value.get("end"), str) else None
        return (lo[0] if lo else MIN_TS), (hi[1] if hi else MAX_TS)
    return None


DATE_FIELDS = ("effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued", "period", "date", "authoredOn",
               "authored", "start", "recordedDate", "onsetDateTime", "created")


def _when(resource: Resource) -> str:
    """The resource's own date, for a narrative cell."""
    for name in DATE_FIELDS:
        value = resource.get(name)
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and isinstance(value.get("start"), str):
            return str(value["start"])
    return ""


def _overlaps(span: Window | None, window: Window) -> bool:
    return span is not None and span[0] <= window[1] and span[1] >= window[0]


def _encounter_of(resource: Resource) -> str | None:
    ref = resource.get("encounter") or next(iter((resource.get("context") or {}).get("encounter") or ()), None)
    parsed = parse_reference(ref)
    return parsed[1] if parsed and parsed[0] == "Encounter" else None


def _categorized(resources: list[Resource] | None, code: str) -> list[Resource]:
    return [r for r in resources or () if any(code_of(c) == code for c in r.get("category") or ())]


async def _sections(of: Callable[[str, str], Any], window: Window) -> list[Section]:
    encounters = await of("Encounter", "patient")
    observations = await of("Observation", "subject")
    notes = await of("DocumentReference", "subject")
    conditions = await of("Condition", "patient")
    in_window = {e["id"] for e in encounters or () if _overlaps(_span(e.get("period")), window)}

    def dated(resources: list[Resource] | None) -> list[Resource]:
        """Those of the period: by the encounter they belong to, else by their own date."""
        out = []
        for r in resources or ():
            encounter = _encounter_of(r)
            own = next((r[f] for f in DATE_FIELDS if r.get(f)), None)
            if encounter in in_window if encounter is not None else _overlaps(_span(own), window):
                out.append(r)
        return out

    def section(kind: Kind, resources: list[Resource] | None, row: Callable[[Resource], list[str]],
                header: tuple[str, ...] = ("Item", "Status", "Date")) -> Section:
        if resources is None:
            return Section(kind, note="Not included: the requesting application may not read these records")
        return Section(kind, [row(r) for r in resources], header)

    def coded(r: Resource) -> list[str]:
        return [label(r.get("code")), str(r.get("status", "")), _when(r)]

    def valued(r: Resource) -> list[str]:
        quantity = r.get("valueQuantity") or {}
        value = (f"{quantity.get('value', '')} {quantity.get('unit', '')}".strip() if quantity else
                 str(next((v for k, v in r.items() if k.startswith("value") and not isinstance(v, dict)), "")))
        return [label(r.get("code")), value, _when(r)]

    def note_row(r: Resource) -> list[str]:
        return [label(r.get("type")) or str(r.get("description", "")), str(r.get("status", "")), _when(r)]

    own_notes = [n for n in notes or () if code_of(n.get("type")) != CCD]
    by_type = {code: [n for n in own_notes if code_of(n.get("type")) == code] for code in ("28570-0", "11502-2")}
    progress = [n for n in own_notes if code_of(n.get("type")) not in by_type]
    k = ENCOUNTER_RELATED
    vitals = _latest(_categorized(observations, "vital-signs"))
    out = [
        Section(k["procedures"], note=NOT_KEPT),
        section(k["results"], None if observations is None else dated(_categorized(observations, "laboratory")),
                valued, ("Test", "Result", "Date")),
        section(k["functional"], None if observations is None else
                dated(_categorized(observations, "functional-status")), valued, ("Assessment", "Result", "Date")),
        section(k["progress-notes"], None if notes is None else dated(progress), note_row),
        section(k["procedure-notes"], None if notes is None else dated(by_type["28570-0"]), note_row),
        section(k["lab-narrative"], None if notes is None else dated(by_type["11502-2"]), note_row),
        section(k["encounters"], None if encounters is None else
                [e for e in encounters if e["id"] in in_window],
                lambda e: [label((e.get("type") or [None])[0]) or str((e.get("class") or {}).get("code", "")),
                           str(e.get("status", "")), _when(e)], ("Encounter", "Status", "Date")),
        Section(k["assessments"], note=NOT_KEPT),
        section(k["plan"], _maybe(lambda found: _future(dated(found)), await of("Appointment", "actor")),
                lambda a: [label((a.get("serviceType") or [None])[0]) or "Appointment", str(a.get("status", "")),
                           _when(a)], ("Planned", "Status", "Date")),
        Section(k["goals"], note=NOT_KEPT),
        section(k["health-concerns"], None if conditions is None else dated(_categorized(conditions,
                                                                                          "health-concern")), coded),
        section(k["referral"], _maybe(dated, await of("ServiceRequest", "subject")), coded),
        section(k["mental"], None if observations is None else dated(_categorized(observations, "survey")), valued,
                ("Assessment", "Score", "Date")),
    ]
    w = WHOLE_RECORD
    meds = await of("MedicationStatement", "subject")
    requests = await of("MedicationRequest", "subject")
    out += [
        section(w["allergies"], await of("AllergyIntolerance", "patient"),
                lambda a: [label(a.get("code")), label(a.get("clinicalStatus")), _when(a)],
                ("Substance", "Status", "Recorded")),
        section(w["medications"], None if meds is None and requests is None else [*(meds or ()), *(requests or ())],
                lambda m: [label(m.get("medicationCodeableConcept")), str(m.get("status", "")), _when(m)],
                ("Medication", "Status", "Date")),
        section(w["problems"], None if conditions is None else
                [c for c in conditions if c not in _categorized(conditions, "health-concern")],
                lambda c: [label(c.get("code")), label(c.get("clinicalStatus")), _when(c)],
                ("Problem", "Status", "Onset")),
        Section(w["immunizations"], note=NOT_KEPT),
        section(w["social"], None if observations is None else _categorized(observations, "social-history"),
                valued, ("Observation", "Value", "Date")),
        section(w["equipment"], await of("Device", "patient"),
                lambda d: [label(d.get("type")) or str((d.get("deviceName") or [{}])[0].get("name", "")),
                           str(d.get("status", "")), ""], ("Device", "Status", "Date")),
        section(w["vitals"], None if observations is None else vitals, valued, ("Vital sign", "Value", "Date")),
    ]
    return out


def _maybe(fn: Callable[[list[Resource]], list[Resource]], resources: list[Resource] | None
           ) -> list[Resource] | None:
    return None if resources is None else fn(resources)


def _future(appointments: list[Resource]) -> list[Resource]:
    return [a for a in appointments if a.get("status") in ("proposed", "pending", "booked", "waitlist")]


def _latest(observations: list[Resource]) -> list[Resource]:
    """The latest Observation of each code (seed 004: the latest vitals recorded)."""
    latest: dict[str, Resource] = {}
    for o in observations:
        code = code_of(o.get("code")) or ""
        if code not in latest or _when(o) > _when(latest[code]):
            latest[code] = o
    return list(latest.values())
