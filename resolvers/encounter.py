"""Encounters (visits, video sessions): finding them, per patient and per appointment (records:
resolvers/model/encounter.py)."""

from __future__ import annotations

from typing import Any

from resolvers import patient as patient_r
from resolvers import practitioner as practitioner_r
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, when_loaded
from resolvers.model import encounter as model
from resolvers.model.appointment import Appointment
from resolvers.model.patient import Patient
from resolvers.model.practitioner import Practitioner
from resolvers.pagination import After, Connection, First, resolve_connection


def get_encounter(ctx: Scope, eid: str | None) -> Soon[model.Encounter | None]:
    if not eid:
        return None
    return when_loaded(ctx.loaders.encounters_by_id, str(eid), lambda res: model.from_fhir(res) if res else None)


def _start(r: dict[str, Any]) -> str:
    return str((r.get("period") or {}).get("start") or "")


def patient_encounters(
    root: Patient,
    info: Info,
    first: First = None,
    after: After = None,
) -> Soon[Connection[model.Encounter]]:
    return when_loaded(info.context.loaders.encounters_by_patient, str(root.id), lambda rows: resolve_connection(
        rows, key=_start, rid=lambda r: r["id"], node=model.from_fhir, first=first, after=after, descending=True))


def appointment_encounters(root: Appointment, info: Info) -> Soon[list[model.Encounter]]:
    if not root.patient_id:
        return []
    aref = f"Appointment/{root.id}"
    return when_loaded(info.context.loaders.encounters_by_patient, str(root.patient_id), lambda rows: [
        model.from_fhir(r) for r in rows if any(a.get("reference") == aref for a in r.get("appointment") or ())])


def patient(root: model.Encounter, info: Info) -> Soon[Patient | None]:
    return patient_r.get_patient(info.context, root.patient_id)


def practitioner(root: model.Encounter, info: Info) -> Soon[Practitioner | None]:
    return practitioner_r.get_practitioner(info.context, root.practitioner_id)
