"""Encounters (visits, video sessions): FHIR Encounter → GraphQL ``Encounter``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graph.pagination import resolve_connection
from graph.types import encounter as encounter_t
from resolvers.fhir import ref_id, text_of, version
from resolvers.loaders import MISSING, ready, then

if TYPE_CHECKING:
    from graph.context import Info


def from_fhir(res: dict[str, Any]) -> encounter_t.Encounter:
    period = res.get("period") or {}
    part = next((p.get("individual") for p in res.get("participant") or () if p.get("individual")), None)
    cls = res.get("class") or {}
    return encounter_t.Encounter(
        id=res["id"], version=version(res), status=res.get("status", "unknown"), class_code=cls.get("code"),
        start=period.get("start"), end=period.get("end"),
        reason=next((text_of(r) for r in res.get("reasonCode") or ()), None),
        service_type=text_of(res.get("serviceType")),
        patient_id=ref_id(res.get("subject"), "Patient"), practitioner_id=ref_id(part, "Practitioner"),
        appointment_id=next((ref_id(a, "Appointment") for a in res.get("appointment") or ()), None),
        episode_id=next((ref_id(e, "EpisodeOfCare") for e in res.get("episodeOfCare") or ()), None),
    )


def get_encounter(info: Info, eid: str | None) -> Any:
    if not eid:
        return None
    loader = info.context.loaders.encounters_by_id
    res = ready(loader, str(eid))
    if res is MISSING:
        return then(loader.load(str(eid)), get_encounter, info, eid)
    return from_fhir(res) if res else None


def get_patient_encounters(info: Info, pid: str, *, first: int | None, after: str | None) -> Any:
    loader = info.context.loaders.encounters_by_patient
    rows = ready(loader, str(pid))
    if rows is MISSING:
        return then(loader.load(str(pid)), get_patient_encounters, info, pid, first=first, after=after)
    return resolve_connection(rows, key=lambda r: (r.get("period") or {}).get("start") or "", rid=lambda r: r["id"],
                              node=from_fhir, first=first, after=after, descending=True)


def get_appointment_encounters(info: Info, appointment: Any) -> Any:
    if not appointment.patient_id:
        return []
    loader = info.context.loaders.encounters_by_patient
    rows = ready(loader, str(appointment.patient_id))
    if rows is MISSING:
        return then(loader.load(str(appointment.patient_id)), get_appointment_encounters, info, appointment)
    aref = f"Appointment/{appointment.id}"
    return [from_fhir(r) for r in rows if any(a.get("reference") == aref for a in r.get("appointment") or ())]
