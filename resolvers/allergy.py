"""Allergies: a patient's list and recording a new one (records: resolvers/model/allergy.py)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from resolvers import chart
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, when_loaded
from resolvers.model import allergy as model
from resolvers.model.patient import Patient
from resolvers.pagination import After, Connection, First, resolve_connection
from store.clock import now_seconds
from store.errors import Invalid
from store.fhirjson import concept
from store.naming import ALLERGY_CLINICAL, SNOMED

SEVERITIES = ("mild", "moderate", "severe")


def patient_allergies(
    root: Patient,
    info: Info,
    is_active: Annotated[bool | None, strawberry.argument(
        description="true: current allergies only; false: resolved or inactive only.")] = None,
    first: First = None,
    after: After = None,
) -> Soon[Connection[model.Allergy]]:
    def page(rows: list[dict[str, Any]]) -> Connection[model.Allergy]:
        if is_active is not None:
            rows = [r for r in rows if model.is_active(r) == is_active]
        return resolve_connection(rows, key=chart.by_date("recordedDate"), rid=lambda r: r["id"],
                                  node=model.from_fhir, first=first, after=after, descending=True)

    return when_loaded(info.context.loaders.allergies_by_patient, str(root.id), page)


async def record_allergy(ctx: Scope, pid: str, f: dict[str, Any]) -> model.Allergy:
    subject = await chart.patient_reference(ctx, pid)
    code = concept(f.get("code_system") or SNOMED, f["code"], f["allergen"], f["allergen"]) if f.get("code") \
        else {"text": f["allergen"]}
    active = f.get("is_active") is not False
    res: dict[str, Any] = {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": concept(ALLERGY_CLINICAL, "active" if active else "inactive"),
        "code": code, "patient": subject, "recordedDate": now_seconds(),
    }
    if f.get("category"):
        res["category"] = [f["category"]]
    if f.get("date_adverse_reaction"):
        res["onsetDateTime"] = f["date_adverse_reaction"]
    if f.get("reaction") or f.get("snomed_reaction"):
        manifestation = concept(SNOMED, f["snomed_reaction"], f.get("reaction"), f.get("reaction")) \
            if f.get("snomed_reaction") else {"text": f["reaction"]}
        rx: dict[str, Any] = {"manifestation": [manifestation]}
        if f.get("severity"):
            if f["severity"] not in SEVERITIES:
                raise Invalid("severity must be mild, moderate or severe", field="severity")
            rx["severity"] = f["severity"]
        res["reaction"] = [rx]
    return model.from_fhir(await chart.create(ctx, res))
