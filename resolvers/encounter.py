"""Encounters (visits, video sessions): finding them, per patient and per appointment (records:
resolvers/model/encounter.py)."""

from __future__ import annotations

from typing import Any

from resolvers import patient as patient_r
from resolvers import practitioner as practitioner_r
from resolvers.context import Info, Scope
from resolvers.loaders import MISSING, Soon, ready, then
from resolvers.model import encounter as model
from resolvers.model.appointment import Appointment
from resolvers.model.patient import Patient
from resolvers.model.practitioner import Practitioner
from resolvers.pagination import Connection, resolve_connection


def get_encounter(ctx: Scope, eid: str | None) -> Soon[model.Encounter | None]:
    if not eid:
        return None
    loader = ctx.loaders.encounters_by_id
    res = ready(loader, str(eid))
    if res is MISSING:
        return then(loader.load(str(eid)), get_encounter, ctx, eid)
    return model.from_fhir(res) if res else None


def _start(r: dict[str, Any]) -> str:
    return str((r.get("period") or {}).get("start") or "")


def patient_encounters(root: Patient, info: Info, first: int | None = None, after: str | None = None
                       ) -> Soon[Connection[model.Encounter]]:
    loader = info.context.loaders.encounters_by_patient
    rows = ready(loader, str(root.id))
    if rows is MISSING:
        return then(loader.load(str(root.id)), patient_encounters, root, info, first=first, after=after)
    return resolve_connection(rows, key=_start, rid=lambda r: r["id"], node=model.from_fhir, first=first,
                              after=after, descending=True)


def appointment_encounters(root: Appointment, info: Info) -> Soon[list[model.Encounter]]:
    if not root.patient_id:
        return []
    loader = info.context.loaders.encounters_by_patient
    rows = ready(loader, str(root.patient_id))
    if rows is MISSING:
        return then(loader.load(str(root.patient_id)), appointment_encounters, root, info)
    aref = f"Appointment/{root.id}"
    return [model.from_fhir(r) for r in rows if any(a.get("reference") == aref for a in r.get("appointment") or ())]


def patient(root: model.Encounter, info: Info) -> Soon[Patient | None]:
    return patient_r.get_patient(info.context, root.patient_id)


def practitioner(root: model.Encounter, info: Info) -> Soon[Practitioner | None]:
    return practitioner_r.get_practitioner(info.context, root.practitioner_id)
