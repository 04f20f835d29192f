"""Problems (diseases): a patient's list and recording a new one (records: resolvers/model/problem.py)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from resolvers import chart
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, when_loaded
from resolvers.model import problem as model
from resolvers.model.patient import Patient
from resolvers.pagination import After, Connection, First, resolve_connection
from store.clock import now_seconds
from store.errors import Invalid
from store.fhirjson import code_of, concept
from store.naming import CONDITION_CLINICAL, SNOMED

CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"


def patient_problems(
    root: Patient,
    info: Info,
    status: Annotated[model.ProblemStatus | None, strawberry.argument(
        description="Only problems with this status.")] = None,
    first: First = None,
    after: After = None,
) -> Soon[Connection[model.Problem]]:
    def page(rows: list[dict[str, Any]]) -> Connection[model.Problem]:
        if status is not None:
            rows = [r for r in rows if code_of(r.get("clinicalStatus")) == status.value]
        return resolve_connection(rows, key=chart.by_date("onsetDateTime"), rid=lambda r: r["id"],
                                  node=model.from_fhir, first=first, after=after, descending=True)

    return when_loaded(info.context.loaders.conditions_by_patient, str(root.id), page)


async def record_problem(ctx: Scope, pid: str, f: dict[str, Any]) -> model.Problem:
    subject = await chart.patient_reference(ctx, pid)
    status = (f.get("status") or model.ProblemStatus.ACTIVE).value
    res: dict[str, Any] = {
        "resourceType": "Condition", "clinicalStatus": concept(CONDITION_CLINICAL, status),
        "category": [concept(CONDITION_CATEGORY, "problem-list-item")],
        "code": (concept(SNOMED, f["snomed_code"], f["name"], f["name"]) if f.get("snomed_code")
                 else {"text": f["name"]}),
        "subject": subject, "recordedDate": now_seconds(),
    }
    if f.get("date_start"):
        res["onsetDateTime"] = f["date_start"]
    if f.get("date_stop"):
        if status == "active":
            raise Invalid("An active problem has no stop date", field="dateStop")
        res["abatementDateTime"] = f["date_stop"]
    if f.get("note"):
        res["note"] = [{"text": f["note"]}]
    return model.from_fhir(await chart.create(ctx, res))
