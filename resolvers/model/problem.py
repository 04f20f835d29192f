"""The disease or problem computed from a FHIR Condition, and the mutation fields written back to it."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.common import (
    ID_DESCRIPTION,
    VERSION_DESCRIPTION,
    created_at,
    deleted_at,
    enum_type,
    opt_id,
    put,
    updated_at,
)
from store.fhirjson import code_of, concept, date_part, ext, ref_id, set_ext, text_of, version
from store.naming import CONDITION_CLINICAL, ICD10CM, SNOMED


class ProblemStatus(Enum):
    ACTIVE = "active"
    RESOLVED = "resolved"
    INACTIVE = "inactive"


enum_type(ProblemStatus, description="Clinical status of a problem or diagnosis.", values={
    ProblemStatus.ACTIVE: "Current.",
    ProblemStatus.RESOLVED: "Resolved.",
    ProblemStatus.INACTIVE: "No longer active, not resolved.",
})


class FunctionStatus(Enum):
    PROBLEM = "problem"
    COGNITIVE_RESULT = "cognitive_result"
    COGNITIVE_PROBLEM = "cognitive_problem"
    FUNCTIONAL_RESULT = "functional_result"
    FUNCTIONAL_PROBLEM = "functional_problem"


enum_type(FunctionStatus, "Clinical function classification of a problem (Meaningful Use).", {
    FunctionStatus.PROBLEM: "A clinical problem or diagnosis (the default).",
    FunctionStatus.COGNITIVE_RESULT: "The result of a cognitive status assessment.",
    FunctionStatus.COGNITIVE_PROBLEM: "A cognitive problem (e.g. memory impairment).",
    FunctionStatus.FUNCTIONAL_RESULT: "The result of a functional status assessment.",
    FunctionStatus.FUNCTIONAL_PROBLEM: "A functional problem (e.g. difficulty walking).",
})


_STATUS = {s.value: s for s in ProblemStatus}
_FUNCTION = {s.value: s for s in FunctionStatus}
# Condition clinical statuses shown as active problems.
ACTIVE_STATUSES = ("active", "recurrence", "relapse")
# The lifecycle of seed 003, forward only: active -> resolved -> inactive (active -> inactive skips a step).
# A problem that comes back is recorded again as a new active problem, keeping the resolved one's history.
TRANSITIONS = {
    ProblemStatus.ACTIVE: {ProblemStatus.RESOLVED, ProblemStatus.INACTIVE},
    ProblemStatus.RESOLVED: {ProblemStatus.INACTIVE},
    ProblemStatus.INACTIVE: set(),
}
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"


@dataclass(eq=False, kw_only=True)
class Problem:
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    version: int = strawberry.field(description=VERSION_DESCRIPTION)
    patient_id: strawberry.ID | None = strawberry.field(description="The patient whose chart holds this problem.")
    name: str | None = strawberry.field(description="The problem or diagnosis, as text.")
    snomed_code: str | None = strawberry.field(description="SNOMED CT code of the problem.")
    icd10_code: str | None = strawberry.field(
        description="ICD-10-CM code of the problem (e.g. E11.9): its disease definition's, or the one recorded "
                    "with a free-text problem; null when it has none.")
    disease_definition_id: strawberry.ID | None = strawberry.field(
        description="Id of the org disease definition it was recorded from; null for a free-text problem.")
    status: ProblemStatus | None = strawberry.field(description="Clinical status; null when not recorded.")
    function_status: FunctionStatus = strawberry.field(
        description="Clinical function classification (Meaningful Use); PROBLEM unless recorded otherwise.")
    category: str | None = strawberry.field(description="problem-list-item or encounter-diagnosis.")
    snomed_problem_type: str | None = strawberry.field(
        description="SNOMED CT code of the kind of problem (e.g. 282291009 diagnosis, 404684003 clinical finding).")
    date_start: str | None = strawberry.field(description="Onset date, YYYY-MM-DD.")
    date_stop: str | None = strawberry.field(description="Resolution date, YYYY-MM-DD; null while active.")
    note: str | None = strawberry.field(description="Free-text note.")
    created_at: str | None = strawberry.field(description="When the record was first written (ISO 8601 instant, UTC).")
    updated_at: str | None = strawberry.field(
        description="When this version was written (ISO 8601 instant, UTC).")
    deleted_at: str | None = strawberry.field(
        description="When the problem was archived (ISO 8601 date-time); null while it is on the chart.")


def status_of(res: dict[str, Any]) -> ProblemStatus | None:
    status = code_of(res.get("clinicalStatus"))
    return _STATUS.get(status or "", ProblemStatus.ACTIVE if status in ACTIVE_STATUSES else None)


def from_fhir(res: dict[str, Any]) -> Problem:
    return Problem(
        id=res["id"], version=version(res), patient_id=opt_id(ref_id(res.get("subject"), "Patient")),
        name=text_of(res.get("code")), snomed_code=code_of(res.get("code"), SNOMED),
        icd10_code=code_of(res.get("code"), ICD10CM),
        disease_definition_id=opt_id(ref_id(ext(res, "disease-definition"), "Basic")), status=status_of(res),
        function_status=_FUNCTION.get(ext(res, "problem-function-status") or "", FunctionStatus.PROBLEM),
        category=next((code_of(c) for c in res.get("category") or ()), None),
        snomed_problem_type=next((x for x in (code_of(c, SNOMED) for c in res.get("category") or ()) if x), None),
        date_start=date_part(res.get("onsetDateTime")), date_stop=date_part(res.get("abatementDateTime")),
        note=next((n.get("text") for n in res.get("note") or () if n.get("text")), None),
        created_at=created_at(res), updated_at=updated_at(res), deleted_at=deleted_at(res),
    )


def apply_fields(res: dict[str, Any], f: dict[str, Any]) -> dict[str, Any]:
    """Write the mutation fields present in ``f`` onto the Condition ``res`` (PATCH semantics: absent fields are
    left alone, None clears). Enums arrive as ``ProblemStatus`` / ``FunctionStatus``; ``definition``: the link
    to the disease definition (resolvers/catalog.py ``with_definition``), whose ICD-10-CM code comes too."""
    if "definition" in f:
        set_ext(res, "disease-definition", "valueReference", f["definition"])
    if {"name", "snomed_code", "icd10_code"} & f.keys():
        was = res.get("code")
        name = f.get("name", text_of(was))
        code = f.get("snomed_code", code_of(was, SNOMED) if "name" not in f else None)
        icd = f.get("icd10_code", code_of(was, ICD10CM) if "name" not in f else None)
        codings = [{"system": s, "code": c, "display": name} for s, c in ((SNOMED, code), (ICD10CM, icd)) if c]
        res["code"] = {"coding": codings, "text": name} if codings else {"text": name}
    if f.get("status") is not None:
        res["clinicalStatus"] = concept(CONDITION_CLINICAL, f["status"].value)
    if "function_status" in f:
        fs = f["function_status"]
        set_ext(res, "problem-function-status", "valueCode",
                fs.value if fs is not None and fs is not FunctionStatus.PROBLEM else None)
    if "snomed_problem_type" in f:
        kept = [c for c in res.get("category") or () if not code_of(c, SNOMED)]
        code = f["snomed_problem_type"]
        put(res, "category", [*kept, concept(SNOMED, code)] if code else kept)
    if "date_start" in f:
        put(res, "onsetDateTime", f["date_start"])
    if "date_stop" in f:
        put(res, "abatementDateTime", f["date_stop"])
    if "note" in f:
        put(res, "note", [{"text": f["note"]}] if f["note"] else None)
    return res
