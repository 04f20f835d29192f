"""Problems (diseases): a patient's list, recording one, updating it (status transitions active → resolved →
inactive, and back to active when it recurs) and archiving it (records and their FHIR mapping:
resolvers/model/problem.py)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from resolvers import catalog, chart
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, when_loaded
from resolvers.model import problem as model
from resolvers.model.catalog import DISEASE_KIND, checked_code
from resolvers.model.common import check_date
from resolvers.model.patient import Patient
from resolvers.pagination import (
    DEFAULT_PAGE_SIZE,
    After,
    Connection,
    First,
    NumberedPage,
    Out,
    PageNumber,
    PageSize,
    Paging,
    Relay,
    numbered,
)
from store.clock import now_seconds
from store.errors import Invalid, InvalidTransition
from store.fhirjson import code_of, concept

RT = "Condition"


Status = Annotated[model.ProblemStatus | None, strawberry.argument(description="Only problems with this status.")]


def patient_problems(root: Patient, info: Info, status: Status = None, first: First = None,
                     after: After = None) -> Soon[Connection[model.Problem]]:
    return _problems(root, info, status, Relay(first, after))


def patient_problem_page(root: Patient, info: Info, status: Status = None, page: PageNumber = 1,
                         page_size: PageSize = DEFAULT_PAGE_SIZE) -> Soon[NumberedPage[model.Problem]]:
    return _problems(root, info, status, numbered(info.context, page, page_size))


def _problems(root: Patient, info: Info, status: model.ProblemStatus | None, paging: Paging[Out]) -> Soon[Out]:
    """The patient's problems, the latest onset first."""
    def page(rows: list[dict[str, Any]]) -> Out:
        rows = chart.current(rows)
        if status is not None:
            rows = [r for r in rows if code_of(r.get("clinicalStatus")) == status.value]
        return paging(rows, key=chart.by_date("onsetDateTime"), rid=lambda r: r["id"], node=model.from_fhir,
                      descending=True)

    return when_loaded(info.context.loaders.conditions_by_patient, str(root.id), page)


def _check_format(f: dict[str, Any]) -> dict[str, Any]:
    """``f`` with its ICD-10-CM code as stored (upper-cased), after checking the dates' and the code's format."""
    for key in ("date_start", "date_stop"):
        check_date(f.get(key), key)
    if "icd10_code" in f:
        f = {**f, "icd10_code": checked_code("icd10_code", f["icd10_code"])}
    return f


def _check_dates(status: model.ProblemStatus | None, start: str | None, stop: str | None) -> None:
    if stop and status is model.ProblemStatus.ACTIVE:
        raise Invalid("An active problem has no stop date", field="input.dateStop")
    if start and stop and stop[:10] < start[:10]:
        raise Invalid("dateStop is before dateStart", field="input.dateStop")


async def record_problem(ctx: Scope, pid: str, f: dict[str, Any], idempotency_key: str | None = None
                         ) -> model.Problem:
    if not (f.get("name") or "").strip() and not f.get("disease_definition_id"):
        raise Invalid("name or diseaseDefinitionId is required", field="input.name")
    f = _check_format({k: v for k, v in f.items() if v is not None})
    status = f.setdefault("status", model.ProblemStatus.ACTIVE)
    _check_dates(status, f.get("date_start"), f.get("date_stop"))

    async def create() -> model.Problem:
        subject = await chart.patient_reference(ctx, pid)
        fields = await catalog.with_definition(ctx, DISEASE_KIND, f)
        res = model.apply_fields({"resourceType": RT, "subject": subject, "recordedDate": now_seconds(),
                                  "category": [concept(model.CONDITION_CATEGORY, "problem-list-item")]}, fields)
        return model.from_fhir(await chart.create(ctx, res))

    return await chart.once(ctx, "recordProblem", RT, pid, idempotency_key, f, create, model.from_fhir)


async def update_problem(ctx: Scope, pid: str, rid: str, base_version: int, f: dict[str, Any]) -> model.Problem:
    """PATCH a problem: only the fields sent change; ``base_version`` must be the current version. A status
    change follows the lifecycle (``model.TRANSITIONS``), forward only."""
    if "name" in f and not (f["name"] or "").strip():
        raise Invalid("name cannot be cleared", field="input.name")
    if "status" in f and f["status"] is None:
        raise Invalid("status cannot be cleared", field="input.status")
    f = _check_format(f)
    res = await chart.record_of(ctx, RT, pid, rid)
    f = await catalog.with_definition(ctx, DISEASE_KIND, f, model.from_fhir(res).disease_definition_id)
    was, target = model.status_of(res), f.get("status")
    if target is not None and target is not was and was is not None and target not in model.TRANSITIONS[was]:
        again = "; record it again with recordProblem" if target is model.ProblemStatus.ACTIVE else ""
        raise InvalidTransition(f"A problem cannot go from {was.value} to {target.value}{again}",
                                current=was.value, target=target.value)
    status = target or was
    _check_dates(status, f.get("date_start", res.get("onsetDateTime")),
                 f.get("date_stop", res.get("abatementDateTime")))
    return model.from_fhir(await chart.save(ctx, model.apply_fields(res, f), base_version))


async def archive_problem(ctx: Scope, pid: str, rid: str, base_version: int | None) -> model.Problem:
    """Soft-delete a problem: it leaves the lists and the medical summary."""
    res = await chart.record_of(ctx, RT, pid, rid)
    return model.from_fhir(await chart.archive(ctx, res, base_version))
