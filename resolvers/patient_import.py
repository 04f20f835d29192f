"""Bulk import of patients (seed 003 POST /patients/bulk): each row a CreatePatientIn, checked as createPatient
checks it; ``VALIDATE_ONLY`` writes nothing, ``SKIP_EXISTING`` leaves patients already there as they are,
``UPDATE_EXISTING`` PATCHes them with the row. A row names an existing patient by its chart number, or — without
one — by the same first name, last name and date of birth; so a batch run twice creates each patient once (the
second run skips or, with nothing to change, leaves them), which is what makes a retried import safe.

Up to ``SYNC_MAX`` rows are imported at once. A larger batch is a background job (DESIGN.md decision 14,
store/jobs.py, kind ``patient-import``): the mutation answers its ``jobId`` at once and ``patientImport(jobId)``
follows its progress (``processed`` of ``total``) and, when done, its results; the job holds a lease renewed with
every stored chunk of results (its checkpoint), and work resumes after the last stored chunk — on this instance
after a transient store error (a pause), on any instance's ``ImportWorker`` when this one died.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import Callable
from typing import Any

from resolvers import patient_write as write
from resolvers.access import Authorize, Guarded
from resolvers.context import PageSettings, Scope
from resolvers.model import patient as patient_m
from resolvers.model import patient_import as model
from resolvers.model.common import graphql_path
from resolvers.model.patient_input import apply_fields
from store.errors import DomainError, Invalid, NotFound
from store.jobs import JobWorker, Lease
from store.naming import SID
from store.repository import Repository
from store.types import Resource, SystemPrincipal

KIND = "patient-import"
SYNC_MAX = 100
BULK_MAX = 5000
CHUNK = 50
LEASE_S = 60.0
POLL_S = 5.0
FAILED = "The import could not be completed; retry it"
KEEP_S = 24 * 3600.0
CodeOf = Callable[[DomainError], str]
# Background imports running in this process (kept referenced until done).
_running: set[asyncio.Task[None]] = set()


def _jsonable(f: dict[str, Any]) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in f.items()}


async def import_patients(ctx: Scope, rows: list[dict[str, Any]], mode: model.ImportMode,
                          code_of: CodeOf) -> model.PatientImport:
    if not rows:
        raise Invalid("rows must hold at least one patient", field="rows")
    if len(rows) > BULK_MAX:
        raise Invalid(f"rows may hold at most {BULK_MAX} patients; split the batch", field="rows")
    if len(rows) <= SYNC_MAX:
        results = await _rows(ctx, rows, 0, mode, code_of)
        return model.summary(None, model.ImportStatus.COMPLETED, mode, len(rows), results)
    ctx.repo.authorize(ctx.who, "create", "Patient")  # refused now, not in the background
    spec = {"mode": mode.value, "rows": [_jsonable(r) for r in rows], "by": _caller(ctx.who)}
    job = await ctx.repo.repo.jobs.create(ctx.who.tenant, KIND, spec, keep_s=KEEP_S)
    scope = Scope(principal=ctx.principal, repo=ctx.repo, settings=ctx.settings)

    async def work(lease: Lease) -> None:
        await _resume(scope, lease, code_of)

    worker = JobWorker(ctx.repo.repo.jobs, KIND, work, lease_s=LEASE_S, poll_s=POLL_S, failure=FAILED)
    task = asyncio.create_task(worker.take(job["_id"]), name=f"patient-import-{job['_id']}")
    _running.add(task)
    task.add_done_callback(_running.discard)
    return model.summary(job["_id"], model.ImportStatus.PENDING, mode, len(rows), [], processed=0)


async def get_import(ctx: Scope, job_id: str) -> model.PatientImport:
    """The progress (and, once done, the results) of a background import of the caller's tenant."""
    ctx.repo.authorize(ctx.who, "create", "Patient")
    job = await ctx.repo.repo.jobs.get(ctx.who.tenant, str(job_id)[:64], KIND)
    if job is None:
        raise NotFound("No patient import with that id", field="jobId")
    results = [model.from_doc(d) for d in job.get("results") or ()]
    status = {"completed": model.ImportStatus.COMPLETED, "failed": model.ImportStatus.FAILED}.get(
        job["status"], model.ImportStatus.PENDING)
    return model.summary(job["_id"], status, model.ImportMode(job["spec"]["mode"]), len(job["spec"]["rows"]), results)


async def _resume(ctx: Scope, lease: Lease, code_of: CodeOf) -> None:
    """Import the job's rows after the last stored chunk of results, under its lease."""
    rows: list[dict[str, Any]] = lease.job["spec"]["rows"]
    mode = model.ImportMode(lease.job["spec"]["mode"])
    for at in range(len(lease.job.get("results") or ()), len(rows), CHUNK):
        ctx.reset_loaders()
        chunk = [_typed(r) for r in rows[at:at + CHUNK]]
        done = await _rows(ctx, chunk, at, mode, code_of)
        await lease.checkpoint(processed=at + len(chunk), push={"results": [model.to_doc(r) for r in done]})
    await lease.finish()


def _typed(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row back as the input's values (its enums)."""
    out = dict(row)
    for key, enum in (("status", patient_m.PatientStatus), ("pronoun", patient_m.Pronoun),
                      ("gender", patient_m.Gender), ("marital_status", patient_m.MaritalStatus),
                      ("allergy_review_status", patient_m.AllergyReviewStatus),
                      ("preferred_contact_method", patient_m.ContactMethod),
                      ("preferred_confirmation_method", patient_m.ContactMethod)):
        if out.get(key) is not None:
            out[key] = enum(out[key])
    return out


async def _existing(ctx: Scope, rows: list[dict[str, Any]]) -> dict[str, Resource]:
    """The patients the rows' chart numbers already name, by chart number (one search)."""
    charts = sorted({str(r["chart_number"]).strip() for r in rows if r.get("chart_number")})
    if not charts:
        return {}
    wanted = ",".join(c.replace(",", r"\,") for c in charts)
    page = await ctx.repo.search(ctx.who, "Patient", [("chart-number", wanted)], count=len(charts))
    found: dict[str, Resource] = {}
    for res in page.resources:
        for ident in res.get("identifier") or ():
            if ident.get("system") == SID["chart-number"] and ident.get("value") in charts:
                found[ident["value"]] = res
    return found


async def _same_person(ctx: Scope, row: dict[str, Any]) -> Resource | None:
    if not row.get("date_of_birth"):
        return None
    page = await ctx.repo.search(ctx.who, "Patient", [("family:exact", row["last_name"]),
                                                      ("given:exact", row["first_name"]),
                                                      ("birthdate", row["date_of_birth"])], count=1)
    return page.resources[0] if page.resources else None


async def _rows(ctx: Scope, rows: list[dict[str, Any]], offset: int, mode: model.ImportMode,
                code_of: CodeOf) -> list[model.RowResult]:
    by_chart = await _existing(ctx, rows)
    out: list[model.RowResult] = []
    for n, row in enumerate(rows):
        index = offset + n
        try:
            out.append(await _row(ctx, row, index, mode, by_chart))
        except DomainError as exc:
            field = exc.details.get("field")
            out.append(model.RowResult(index=index, status=model.RowStatus.FAILED, patient_id=None,
                                       error=model.RowError(code=code_of(exc), message=exc.message,
                                                            field=graphql_path(field) if isinstance(field, str)
                                                            else f"rows.{index}")))
    return out


async def _row(ctx: Scope, row: dict[str, Any], index: int, mode: model.ImportMode,
               by_chart: dict[str, Resource]) -> model.RowResult:
    prefix = f"rows.{index}"
    chart = str(row.get("chart_number") or "").strip()
    res = await write.prepare_new(ctx, row, prefix)  # validates the row as createPatient would
    current = by_chart.get(chart) if chart else await _same_person(ctx, row)

    def result(status: model.RowStatus, pid: str | None) -> model.RowResult:
        return model.RowResult(index=index, status=status, patient_id=pid, error=None)  # type: ignore[arg-type]

    if mode is model.ImportMode.VALIDATE_ONLY:
        return result(model.RowStatus.VALIDATED, current["id"] if current else None)
    if current is None:
        written = await write.write_new(ctx, res, row, prefix)
        if chart:
            by_chart[chart] = written  # a later row with the same chart number finds it
        return result(model.RowStatus.CREATED, written["id"])
    if mode is model.ImportMode.SKIP_EXISTING:
        return result(model.RowStatus.SKIPPED, current["id"])
    fields = {k: v for k, v in row.items() if k != "status"}
    changed = apply_fields(copy.deepcopy(current), fields)
    if _seen_as(changed) == _seen_as(current):
        return result(model.RowStatus.SKIPPED, current["id"])  # nothing to change: a re-run leaves it be
    saved = await write.save(ctx, changed, None, prefix)
    if chart:
        by_chart[chart] = {**changed, "id": str(saved.id)}
    return result(model.RowStatus.UPDATED, str(saved.id))


def _seen_as(res: Resource) -> dict[str, Any]:
    """What a client sees of a patient (writing a row rearranges FHIR lists without changing any of it)."""
    return dataclasses.asdict(patient_m.from_fhir(res))


def _caller(principal: Any) -> dict[str, Any]:
    """Who asked for the import, kept with the job: a worker that resumes it acts for them (same tenant, subject
    and scopes, so the writes' Provenance and the audit trail name them), never with more rights."""
    return {"tenant": principal.tenant, "subject": principal.subject, "scopes": sorted(principal.scopes),
            "patient": getattr(principal, "patient", None)}


class ImportWorker:
    """Resumes the background imports whose worker is gone — the process that took the request crashed or was
    restarted — or paused after a transient store error, on whichever instance polls first: a job whose lease is
    free or expired is claimed (store/jobs.py's ``JobWorker``) and its rows continue after the last stored chunk of
    results. The policy (``authorize``) and the error codes (``code_of``) are the GraphQL door's, passed in by the
    composition root."""

    def __init__(self, *, authorize: Authorize, code_of: CodeOf, settings: PageSettings, poll_s: float = POLL_S):
        self.authorize, self.code_of, self.settings, self.poll_s = authorize, code_of, settings, poll_s
        self.repo: Repository | None = None
        self._worker: JobWorker | None = None

    def start(self, repo: Repository) -> None:
        self.repo = repo
        self._worker = JobWorker(repo.jobs, KIND, self._resume, lease_s=LEASE_S, poll_s=self.poll_s, failure=FAILED)
        self._worker.start()

    async def stop(self) -> None:
        if self._worker is not None:
            await self._worker.stop()

    async def _resume(self, lease: Lease) -> None:
        """The job, worked as the caller who asked for it (``_caller``)."""
        if self.repo is None:
            raise RuntimeError("ImportWorker.start() gives it its store")
        by = lease.job["spec"].get("by") or {}
        principal = SystemPrincipal(tenant=lease.job["tenant"], subject=str(by.get("subject") or "system"),
                                    scopes=frozenset(by.get("scopes") or ()), patient=by.get("patient"))
        ctx = Scope(principal=principal, repo=Guarded(self.repo, self.authorize), settings=self.settings)
        await _resume(ctx, lease, self.code_of)
