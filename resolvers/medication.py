"""Medications: a patient's list and recording a new one (records: resolvers/model/medication.py)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from resolvers import chart
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, when_loaded
from resolvers.model import medication as model
from resolvers.model.patient import Patient
from resolvers.pagination import After, Connection, First, resolve_connection
from store.clock import now_seconds
from store.errors import Invalid
from store.fhirjson import concept
from store.naming import RXNORM


def patient_medications(
    root: Patient,
    info: Info,
    is_active: Annotated[bool | None, strawberry.argument(
        description="true: current medications only; false: past ones only.")] = None,
    first: First = None,
    after: After = None,
) -> Soon[Connection[model.Medication]]:
    def page(rows: list[dict[str, Any]]) -> Connection[model.Medication]:
        if is_active is not None:
            rows = [r for r in rows if (r.get("status") == "active") == is_active]
        return resolve_connection(rows, key=lambda r: str((r.get("effectivePeriod") or {}).get("start") or ""),
                                  rid=lambda r: r["id"], node=model.from_fhir, first=first, after=after,
                                  descending=True)

    return when_loaded(info.context.loaders.medications_by_patient, str(root.id), page)


async def record_medication(ctx: Scope, pid: str, f: dict[str, Any]) -> model.Medication:
    subject = await chart.patient_reference(ctx, pid)
    if not f.get("name") and not f.get("rx_cui"):
        raise Invalid("A medication needs a name or an RxNorm code", field="name")
    status = model.STATUS_IN.get(f.get("status") or "active")
    if status is None:
        raise Invalid("status must be active, discontinued, on_hold or completed", field="status")
    code = concept(RXNORM, f["rx_cui"], f.get("name"), f.get("name")) if f.get("rx_cui") else {"text": f["name"]}
    res: dict[str, Any] = {"resourceType": "MedicationStatement", "status": status, "medicationCodeableConcept": code,
                           "subject": subject, "dateAsserted": now_seconds()}
    period = {k: v for k, v in (("start", f.get("date_start")), ("end", f.get("date_stop"))) if v}
    if period:
        res["effectivePeriod"] = period
    if f.get("dosage"):
        res["dosage"] = [{"text": f["dosage"]}]
    if f.get("provider_id"):
        res["informationSource"] = {"reference": f"Practitioner/{f['provider_id']}"}
    return model.from_fhir(await chart.create(ctx, res))
