"""Bulk import of patients (seed 003 POST /patients/bulk): modes, per-row results and counts."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry


class ImportMode(Enum):
    VALIDATE_ONLY = "validate_only"
    SKIP_EXISTING = "skip_existing"
    UPDATE_EXISTING = "update_existing"


class RowStatus(Enum):
    CREATED = "created"
    UPDATED = "updated"
    SKIPPED = "skipped"
    VALIDATED = "validated"
    FAILED = "failed"


class ImportStatus(Enum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"


def _f(description: str, **kw: Any) -> Any:
    return strawberry.field(description=description, **kw)


@dataclass(eq=False, kw_only=True)
class RowError:
    code: str = _f("The error code, as extensions.code of a single mutation: VALIDATION, NOT_FOUND, CONFLICT.")
    message: str = _f("What is wrong, in the schema's names.")
    field: str | None = _f("The offending input: rows.<index>.<field>, e.g. rows.3.dateOfBirth.")


@dataclass(eq=False, kw_only=True)
class RowResult:
    index: int = _f("The row's position in rows, from 0.")
    status: RowStatus = _f("What happened to the row.")
    patient_id: strawberry.ID | None = _f(
        "The patient created, updated or skipped (the existing one); null for a failed row or a new one "
        "in VALIDATE_ONLY.")
    error: RowError | None = _f("Why the row failed; null otherwise.")


@dataclass(eq=False, kw_only=True)
class PatientImport:
    job_id: strawberry.ID | None = _f(
        "For a large batch worked in the background: the id to follow it with patientImport(jobId). Null when "
        "the batch was imported at once (then status is COMPLETED).")
    status: ImportStatus = _f("PENDING while a background import runs; COMPLETED (or FAILED) when done.")
    mode: ImportMode = _f("The mode the batch was imported in.")
    total: int = _f("Rows in the batch.")
    processed: int = _f("Rows handled so far (equals total when done): the progress of a background import.")
    created: int = _f("Rows that created a patient.")
    updated: int = _f("Rows that changed an existing patient.")
    skipped: int = _f("Rows matching an existing patient left as it was (SKIP_EXISTING, or nothing to change).")
    validated: int = _f("Rows that passed validation in VALIDATE_ONLY mode.")
    failed: int = _f("Rows refused; see their error.")
    results: list[RowResult] = _f("One result per handled row, in row order (empty while a background import is "
                                  "pending).", default_factory=list)


def counts(results: list[RowResult]) -> dict[str, int]:
    out = {s.value: 0 for s in RowStatus}
    for r in results:
        out[r.status.value] += 1
    return out


def to_doc(r: RowResult) -> dict[str, Any]:
    """A row result as stored in the import job."""
    return {"i": r.index, "s": r.status.value, "p": r.patient_id,
            "e": None if r.error is None else {"c": r.error.code, "m": r.error.message, "f": r.error.field}}


def from_doc(d: dict[str, Any]) -> RowResult:
    e = d.get("e")
    return RowResult(index=d["i"], status=RowStatus(d["s"]), patient_id=strawberry.ID(d["p"]) if d.get("p") else None,
                     error=None if not e else RowError(code=e["c"], message=e["m"], field=e.get("f")))


def summary(job_id: str | None, status: ImportStatus, mode: ImportMode, total: int,
            results: list[RowResult], processed: int | None = None) -> PatientImport:
    c = counts(results)
    return PatientImport(job_id=strawberry.ID(job_id) if job_id else None, status=status, mode=mode, total=total,
                         processed=len(results) if processed is None else processed, created=c["created"],
                         updated=c["updated"], skipped=c["skipped"], validated=c["validated"], failed=c["failed"],
                         results=results, )
