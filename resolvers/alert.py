"""Patient alerts: a patient's own, with its family's family-scope ones when asked, and creating one (records:
resolvers/model/alert.py)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from resolvers import chart
from resolvers import family as family_r
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, when_loaded
from resolvers.model import alert as model
from resolvers.model.patient import Patient
from resolvers.pagination import After, Connection, First, resolve_connection
from store.clock import now_seconds
from store.naming import CS, EXT

Resource = dict[str, Any]


async def family_flags(ctx: Scope, pid: str) -> list[tuple[Resource, bool]]:
    """The patient's own flags, plus the family-scope flags of the family members (same guarantor).

    The family is resolved first so that the patient's flags and its members' load in one batch."""
    member_ids = await family_r.family_member_ids(ctx, pid)
    keys = [pid, *(m for m in member_ids if m != pid)]
    return flags_with_family(await ctx.loaders.flags_by_patient.load_many(keys))


def flags_with_family(per_patient: list[list[Resource]]) -> list[tuple[Resource, bool]]:
    """The first list is the patient's own flags; the others are its family members' (family scope only)."""
    out = [(r, False) for r in per_patient[0]]
    for rows in per_patient[1:]:
        out.extend((r, True) for r in rows if model.is_family_scope(r))
    return out


def patient_alerts(
    root: Patient,
    info: Info,
    status: Annotated[model.AlertStatus | None, strawberry.argument(
        description="Only alerts with this status (default: any).")] = None,
    include_family: Annotated[bool, strawberry.argument(
        description="Also the family-scope alerts of the patient's family (default false).")] = False,
    first: First = None,
    after: After = None,
) -> Soon[Connection[model.Alert]]:
    if include_family:
        return _family_alerts(info.context, str(root.id), status, first, after)
    return when_loaded(info.context.loaders.flags_by_patient, str(root.id),
                       lambda own: _alerts_of([(r, False) for r in own], status, first, after))


async def _family_alerts(ctx: Scope, pid: str, status: model.AlertStatus | None, first: int | None,
                         after: str | None) -> Connection[model.Alert]:
    return _alerts_of(await family_flags(ctx, pid), status, first, after)


def _alerts_of(rows: list[tuple[Resource, bool]], status: model.AlertStatus | None, first: int | None,
               after: str | None) -> Connection[model.Alert]:
    rows = [(r, fam) for r, fam in rows if status is None or model.STATUS.get(r.get("status", "")) is status]
    return resolve_connection(rows, key=lambda t: str((t[0].get("period") or {}).get("start") or ""),
                              rid=lambda t: t[0]["id"], node=lambda t: model.from_fhir(t[0], from_family=t[1]),
                              first=first, after=after, descending=True)


async def create_alert(ctx: Scope, pid: str, f: dict[str, Any]) -> model.Alert:
    subject = await chart.patient_reference(ctx, pid)
    code: Resource = {"coding": [{"system": CS["alert-type"], "code": f["code"], "display": f["name"]}],
                      "text": f.get("note") or f["name"]}
    period: Resource = {"start": now_seconds()}
    if f.get("disable_on"):
        period["end"] = f["disable_on"]
    res: Resource = {
        "resourceType": "Flag", "status": "active", "code": code, "subject": subject, "period": period,
        "extension": [{"url": EXT["alert-scope"], "valueCode": (f.get("scope") or model.AlertScope.PATIENT).value},
                      {"url": EXT["alert-urgent"], "valueBoolean": bool(f.get("is_urgent"))}],
    }
    return model.from_fhir(await chart.create(ctx, res))
