"""Bulk Data Access IG v2 (https://hl7.org/fhir/uv/bulkdata/export.html), seed 004's spellings: the kick-off at
``[base]/$export``, ``[base]/Patient/$export`` and ``[base]/Group/[id]/$export``; the status at
``[base]/$bulkdata-status?job=ID`` (the kick-off's ``Content-Location``; ``DELETE`` cancels); the files at
``[base]/Document/[id]/Binary``. The work itself is the worker's (fhir_rest/bulk/worker.py), on store documents
(store/jobs.py, kind ``export``)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from auth.policy import authorize_export, authorize_job, job_owner
from fhir_rest.bulk.worker import START
from fhir_rest.outcomes import FhirResponse
from fhir_rest.parameters import operation_parameters
from fhir_rest.services import services
from store.clock import now_instant
from store.confinement import has_compartment
from store.errors import Invalid, NotAcceptable, NotFound, TooManyRequests
from store.exports import KIND
from store.fhirjson import ref_id
from store.keys import date_range
from store.params import PARAMS
from store.search import compile_params
from store.types import PrincipalLike

OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
NDJSON = "application/fhir+ndjson"
KNOWN = ("_outputFormat", "_since", "_type", "_elements", "patient", "_typeFilter")
# Types a system export leaves out unless asked for by _type: the server's own audit trail.
NOT_BY_DEFAULT = frozenset({"AuditEvent"})


def _base(request: Request) -> str:
    configured = services(request).settings.base_url
    prefix: str = request.scope.get("fhir_prefix", "/fhir/r4")
    return (configured.rstrip("/") if configured else f"{request.url.scheme}://{request.url.netloc}") + prefix


def _accepts(request: Request, *wanted: str) -> bool:
    accept = request.headers.get("accept")
    if not accept:
        return True
    ranges = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return any(r in ("*/*", *wanted) or (r.endswith("/*") and any(w.startswith(r[:-1]) for w in wanted))
               for r in ranges)


# ---------------------------------------------------------------------------------------------- kick-off


async def kickoff(request: Request) -> Response:
    """IG §Bulk Data Kick-off Request: 202 Accepted with the status URL in ``Content-Location``."""
    path = request.url.path
    level = "Group" if "/Group/" in path else "Patient" if path.endswith("/Patient/$export") else "system"
    if "respond-async" not in request.headers.get("prefer", ""):
        raise Invalid("A Bulk Data kick-off needs the header Prefer: respond-async", paths=["Prefer"])
    if not _accepts(request, "application/fhir+json", "application/json"):
        raise NotAcceptable("A Bulk Data kick-off answers application/fhir+json")
    lenient = "handling=lenient" in request.headers.get("prefer", "")
    params = await operation_parameters(request, "kick-off")
    principal: PrincipalLike = request.scope["auth"]
    spec = await _spec(request, principal, level, params, lenient)
    repo, settings = services(request).repo, services(request).settings
    job = await repo.jobs.create(principal.tenant, KIND, spec, keep_s=settings.export_keep_s,
                                 job_owner=job_owner(principal), transactionTime=now_instant(),
                                 request=str(request.url), polled=0.0, output=[], errors=[], progress=dict(START))
    worker = services(request).exports
    if worker is not None:
        worker.wake()
    location = f"{_base(request)}/$bulkdata-status?job={job['_id']}"
    return FhirResponse({"resourceType": "OperationOutcome", "issue": [
        {"severity": "information", "code": "informational", "diagnostics": "Export accepted"}]},
        status_code=202, headers={"Content-Location": location})


def _csv(params: list[tuple[str, str]], name: str) -> list[str]:
    return [v.strip() for k, value in params if k == name for v in value.split(",") if v.strip()]


async def _spec(request: Request, principal: PrincipalLike, level: str, params: list[tuple[str, str]],
                lenient: bool) -> dict[str, Any]:
    for name, _ in params:
        if name not in KNOWN and not lenient:
            raise Invalid(f"The kick-off parameter '{name[:40]}' is not supported", paths=[name[:40]])
    formats = [v for k, v in params if k == "_outputFormat"]
    if any(f not in OUTPUT_FORMATS for f in formats):
        raise Invalid(f"_outputFormat must be one of {', '.join(OUTPUT_FORMATS)}", paths=["_outputFormat"])
    since = next((v for k, v in params if k == "_since"), None)
    if since is not None and (len(since) < 10 or date_range(since) is None):
        raise Invalid("_since must be a FHIR instant", paths=["_since"])
    compartment = level != "system"
    asked = _csv(params, "_type")
    for rt in asked:
        if rt not in PARAMS:
            raise Invalid(f"_type names {rt[:64]}, which this server does not export", paths=["_type"])
        if compartment and not has_compartment(rt):
            raise Invalid(f"_type names {rt}, which is in no patient compartment", paths=["_type"])
    if asked:
        types = list(dict.fromkeys(asked))
    elif compartment:
        types = [rt for rt in PARAMS if has_compartment(rt) and rt not in NOT_BY_DEFAULT]
    else:
        types = [rt for rt in PARAMS if rt not in NOT_BY_DEFAULT]
    types, granted = authorize_export(principal, level, types, bool(asked))
    filters: dict[str, list[list[tuple[str, str]]]] = {}
    for spec in [v for k, v in params if k == "_typeFilter"]:
        rt, _, query = spec.partition("?")
        if rt not in types:
            raise Invalid(f"_typeFilter names {rt[:64]}, which this export does not include", paths=["_typeFilter"])
        pairs = parse_qsl(query, keep_blank_values=True)
        compile_params(rt, pairs, principal.tenant, strict=True)  # refused now (400), not in the worker
        filters.setdefault(rt, []).append(pairs)
    elements = _csv(params, "_elements")
    for element in elements:
        rt, _, name = element.rpartition(".")
        if (rt and rt not in PARAMS) or not name.isidentifier():
            raise Invalid(f"_elements holds '{element[:64]}', not [type.]element", paths=["_elements"])
    patients: list[str] | None = None
    asked_patients = [v for k, v in params if k == "patient"]
    if asked_patients:
        if level == "system":
            raise Invalid("The patient parameter is for Patient- and Group-level exports", paths=["patient"])
        patients = [_patient_id(v) for v in asked_patients]
    if level == "Group":
        members = await _group_members(request, principal, request.path_params["id"])
        patients = [p for p in members if patients is None or p in patients]
    return {"level": level, "types": types, "granted": granted, "since": since, "filters": filters,
            "elements": elements, "patients": patients}


def _patient_id(value: str) -> str:
    rid = ref_id(value, "Patient")
    if rid is None:
        raise Invalid(f"patient must reference a Patient, not '{value[:64]}'", paths=["patient"])
    return rid


async def _group_members(request: Request, principal: PrincipalLike, gid: str) -> list[str]:
    """The patients of Group/``gid`` of the caller's tenant (404 when there is none)."""
    group = await services(request).repo.read(principal, "Group", gid)
    members = []
    for member in group.get("member") or ():
        if isinstance(member, dict) and not member.get("inactive"):
            rid = ref_id(member.get("entity"), "Patient")
            if rid is not None:
                members.append(rid)
    return list(dict.fromkeys(members))


# ---------------------------------------------------------------------------------------------- status


async def _job(request: Request, operation: str) -> dict[str, Any]:
    job_id = request.query_params.get("job")
    if not job_id:
        raise Invalid("$bulkdata-status needs the job parameter", paths=["job"])
    principal: PrincipalLike = request.scope["auth"]
    job = await services(request).repo.jobs.get(principal.tenant, job_id[:64], KIND)
    if job is None:
        raise NotFound("No such export job")
    authorize_job(principal, job["job_owner"], job["spec"]["granted"], operation)
    return job


async def status(request: Request) -> Response:
    """IG §Bulk Data Status Request: 202 with ``X-Progress`` and ``Retry-After`` while in progress (429 when
    polled sooner than half the wait asked), the manifest when complete, an OperationOutcome when failed."""
    job = await _job(request, "bulkdata-status")
    settings = services(request).settings
    wait = settings.export_retry_after_s
    if job["status"] == "pending":
        now = time.time()
        previous = await services(request).repo.jobs.polled(job["_id"], now, now - wait / 2)
        if previous is not None:
            raise TooManyRequests("Polled sooner than Retry-After asked", retry_after=max(1.0, previous + wait - now))
        return Response(status_code=202, headers={"X-Progress": _progress(job),
                                                  "Retry-After": str(max(1, math.ceil(wait)))})
    if job["status"] == "failed":
        return FhirResponse({"resourceType": "OperationOutcome", "issue": [
            {"severity": "fatal", "code": "exception", "diagnostics": job.get("error") or "The export failed"}]},
            status_code=500)
    base = _base(request)
    manifest = {
        "transactionTime": job["transactionTime"],
        "request": job["request"],
        "requiresAccessToken": True,
        "output": [{"type": o["type"], "url": f"{base}/Document/{o['file']}/Binary", "count": o["count"]}
                   for o in job["output"]],
        "error": [],
    }
    return Response(orjson.dumps(manifest), status_code=200, media_type="application/json",
                    headers={"Expires": _http_expiry(job)})


def _progress(job: dict[str, Any]) -> str:
    progress, types = job["progress"], job["spec"]["types"]
    at = min(progress["type"], len(types) - 1) if types else 0
    current = types[at] if types else "-"
    return (f"{progress.get('exported', 0)} resources exported; {current} "
            f"(type {min(progress['type'] + 1, len(types))} of {len(types)})")[:100]


def _http_expiry(job: dict[str, Any]) -> str:
    """When the files go (RFC 9110 IMF-fixdate)."""
    expires: datetime = job["expires"]
    return format_datetime((expires if expires.tzinfo else expires.replace(tzinfo=UTC)).astimezone(UTC), usegmt=True)


async def cancel(request: Request) -> Response:
    """IG §Bulk Data Delete Request: 202, and the job is gone (its status 404)."""
    job = await _job(request, "bulkdata-status")
    principal: PrincipalLike = request.scope["auth"]
    if not await services(request).repo.jobs.cancel(principal.tenant, job["_id"], KIND):
        raise NotFound("No such export job")
    return FhirResponse({"resourceType": "OperationOutcome", "issue": [
        {"severity": "information", "code": "informational", "diagnostics": "Export cancelled"}]}, status_code=202)


# ---------------------------------------------------------------------------------------------- files


async def download(request: Request) -> Response:
    """IG §File Request: the NDJSON file, streamed chunk by chunk from the store."""
    if not _accepts(request, NDJSON, "application/ndjson", "application/fhir+json"):
        raise NotAcceptable(f"Export files are {NDJSON}")
    principal: PrincipalLike = request.scope["auth"]
    repo = services(request).repo
    found = await repo.jobs.file(principal.tenant, KIND, request.path_params["id"][:64])
    if found is None:
        raise NotFound("No such export file")
    job = found["job"]
    authorize_job(principal, job["job_owner"], job["spec"]["granted"], "download")
    timeout = services(request).settings.db_timeout_s
    return StreamingResponse(repo.jobs.chunks(found["entry"]["file"], timeout_s=timeout), media_type=NDJSON)

