"""Appointments (seeds 000/002): FHIR Appointment → GraphQL ``Appointment``; booking, rescheduling, cancelling
and episode assignment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from graph.pagination import Connection, resolve_connection, store_connection
from graph.types import appointment as appointment_t
from graph.types import common as common_t
from resolvers.fhir import ext, ident, ref_id, set_ext, text_of, version
from resolvers.loaders import MISSING, node_of, ready, then
from store.errors import Invalid, NotFound
from store.naming import SID

if TYPE_CHECKING:
    from graph.context import Info

_STATUS = {s.value: s for s in appointment_t.AppointmentStatus}
CANCEL_REASON = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"


def from_fhir(res: dict[str, Any]) -> appointment_t.Appointment:
    patient = practitioner = location = None
    for p in res.get("participant") or ():
        actor = p.get("actor") or {}
        r = actor.get("reference") or ""
        if r.startswith("Patient/") and patient is None:
            patient = r[8:]
        elif r.startswith("Practitioner/") and practitioner is None:
            practitioner = r[13:]
        elif r.startswith("Location/") and location is None:
            location = common_t.EntityRef(id=r[9:], name=actor.get("display"))
    return appointment_t.Appointment(
        id=res["id"], version=version(res),
        status=_STATUS.get(res.get("status", ""), appointment_t.AppointmentStatus.BOOKED),
        workflow_status=ext(res, "appointment-workflow-status"), start=res.get("start"), end=res.get("end"),
        minutes_duration=res.get("minutesDuration"), description=res.get("description"),
        reasons=[t for t in (text_of(r) for r in res.get("reasonCode") or ()) if t],
        service_type=next((text_of(s) for s in res.get("serviceType") or ()), None),
        appointment_type=text_of(res.get("appointmentType")),
        cancelation_reason=text_of(res.get("cancelationReason")),
        said=ident(res, SID["said"]), external_id=ident(res, SID["external-id"]), created=res.get("created"),
        location=location, slot_id=next((ref_id(s, "Slot") for s in res.get("slot") or ()), None),
        patient_id=patient, practitioner_id=practitioner,
        episode_id=ref_id(ext(res, "episode-of-care"), "EpisodeOfCare"),
    )


def get_appointment(info: Info, aid: str | None) -> Any:
    if not aid:
        return None
    loader = info.context.loaders.appointments_by_id
    res = ready(loader, str(aid))
    if res is MISSING:
        return then(loader.load(str(aid)), get_appointment, info, aid)
    return from_fhir(res) if res else None


def _start(r: dict[str, Any]) -> str:
    return str(r.get("start") or "")


def get_patient_appointments(info: Info, pid: str, *, date_from: str | None, date_to: str | None,
                             status: list[Any] | None, first: int | None, after: str | None,
                             last: int | None = None, before: str | None = None) -> Any:
    loader = info.context.loaders.appointments_by_patient
    rows = ready(loader, str(pid))
    if rows is MISSING:
        return then(loader.load(str(pid)), get_patient_appointments, info, pid, date_from=date_from,
                    date_to=date_to, status=status, first=first, after=after, last=last, before=before)
    wanted = {s.value for s in status} if status else None
    if wanted or date_from or date_to:
        rows = [r for r in rows if (wanted is None or r.get("status") in wanted)
                and (not date_from or _start(r) >= date_from) and (not date_to or _start(r)[:len(date_to)] <= date_to)]
    loaders = info.context.loaders
    return resolve_connection(rows, key=_start, rid=lambda r: r["id"], node=lambda r: node_of(loaders, r, from_fhir),
                              first=first, after=after, last=last, before=before, descending=True)


def get_episode_appointments(info: Info, episode: Any, *, first: int | None, after: str | None) -> Any:
    """An episode's appointments: its patient's appointments (one batched load for every episode's patient)
    that join it through the episode-of-care extension."""
    if not episode.patient_id:
        return resolve_connection([], key=_start, rid=lambda r: r["id"], node=from_fhir, first=first, after=after)
    loader = info.context.loaders.appointments_by_patient
    rows = ready(loader, str(episode.patient_id))
    if rows is MISSING:
        return then(loader.load(str(episode.patient_id)), get_episode_appointments, info, episode, first=first,
                    after=after)
    ref = f"EpisodeOfCare/{episode.id}"
    mine = [r for r in rows if (ext(r, "episode-of-care") or {}).get("reference") == ref]
    loaders = info.context.loaders
    return resolve_connection(mine, key=_start, rid=lambda r: r["id"], node=lambda r: node_of(loaders, r, from_fhir),
                              first=first, after=after)


async def list_appointments(info: Info, flt: Any, first: int | None, after: str | None, last: int | None,
                            before: str | None) -> Connection[Any]:
    ctx = info.context
    params: list[tuple[str, str]] = []
    if flt is not None:
        if flt.date_from:
            params.append(("date", f"ge{flt.date_from}"))
        if flt.date_to:
            params.append(("date", f"le{flt.date_to}"))
        if flt.practitioner_id:
            params.append(("practitioner", f"Practitioner/{flt.practitioner_id}"))
        if flt.patient_id:
            params.append(("patient", f"Patient/{flt.patient_id}"))
        if flt.location_id:
            params.append(("location", f"Location/{flt.location_id}"))
        if flt.status:
            params.append(("status", ",".join(s.value for s in flt.status)))
    async def search(**kw: Any) -> Any:
        return await ctx.repo.search(ctx.who, "Appointment", params, total=True, **kw)

    return await store_connection(search, rt="Appointment", sort="date", tenant=ctx.who.tenant, node=from_fhir,
                                  first=first, after=after, last=last, before=before,
                                  default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size)


# ---------------------------------------------------------------------------------------------- mutations


def _end(start: str, minutes: int) -> str:
    t = datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if start.endswith("Z") else t.isoformat()


async def book_appointment(info: Info, inp: Any) -> appointment_t.Appointment:
    ctx = info.context
    if await ctx.loaders.patients_by_id.load(str(inp.patient_id)) is None:
        raise NotFound(f"Patient {inp.patient_id} not found")
    start, end = inp.start, inp.end
    slot: dict[str, Any] | None = None
    if inp.slot_id:
        found = await ctx.repo.read_many(ctx.who, "Slot", [str(inp.slot_id)])
        slot = found.get(str(inp.slot_id))
        if slot is None:
            raise NotFound(f"Slot {inp.slot_id} not found")
        start, end = start or slot.get("start"), end or slot.get("end")
    if not start:
        raise Invalid("start (or a slotId) is required", field="start")
    minutes = inp.minutes_duration or 30
    try:
        end = end or _end(start, minutes)
    except ValueError:
        raise Invalid("start must be an ISO date-time", field="start") from None
    if end <= start:
        raise Invalid("end must be after start", field="end")
    participants = [{"actor": {"reference": f"Patient/{inp.patient_id}"}, "status": "accepted",
                     "required": "required"}]
    if inp.practitioner_id:
        if await ctx.loaders.practitioners_by_id.load(str(inp.practitioner_id)) is None:
            raise NotFound(f"Practitioner {inp.practitioner_id} not found")
        participants.append({"actor": {"reference": f"Practitioner/{inp.practitioner_id}"}, "status": "accepted",
                             "required": "required"})
    if inp.location_id:
        participants.append({"actor": {"reference": f"Location/{inp.location_id}"}, "status": "accepted",
                             "required": "information-only"})
    res: dict[str, Any] = {"resourceType": "Appointment", "id": str(uuid.uuid4()), "status": "booked",
                           "start": start, "end": end, "participant": participants,
                           "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if inp.minutes_duration:
        res["minutesDuration"] = inp.minutes_duration
    if inp.reasons:
        res["reasonCode"] = [{"text": r} for r in inp.reasons]
    if inp.description:
        res["description"] = inp.description
    if slot is not None:
        res["slot"] = [{"reference": f"Slot/{slot['id']}"}]
    set_ext(res, "appointment-workflow-status", "valueCode", "scheduled")
    if inp.episode_id:
        await _require_episode(info, str(inp.episode_id))
        set_ext(res, "episode-of-care", "valueReference", {"reference": f"EpisodeOfCare/{inp.episode_id}"})
    written = await ctx.repo.create(ctx.who, res, keep_id=True)
    return from_fhir(written.resource)


async def _require_episode(info: Info, eid: str) -> None:
    if await info.context.loaders.episodes_by_id.load(eid) is None:
        raise NotFound(f"Episode {eid} not found")


async def _update(info: Info, res: dict[str, Any], base_version: int | None) -> appointment_t.Appointment:
    ctx = info.context
    written = await ctx.repo.update(ctx.who, "Appointment", res["id"], res,
                                    if_match=str(base_version) if base_version is not None else None)
    ctx.loaders.prime(ctx.loaders.appointments_by_id, res["id"], written.resource)
    return from_fhir(written.resource)


async def reschedule_appointment(info: Info, aid: str, base_version: int | None, start: str, end: str | None,
                                 slot_id: str | None) -> appointment_t.Appointment:
    ctx = info.context
    res = await ctx.repo.read(ctx.who, "Appointment", str(aid))
    if res.get("status") in ("cancelled", "noshow", "fulfilled", "entered-in-error"):
        raise Invalid(f"A {res.get('status')} appointment cannot be rescheduled")
    try:
        old_minutes = int((datetime.fromisoformat(res["end"].replace("Z", "+00:00")) -
                           datetime.fromisoformat(res["start"].replace("Z", "+00:00"))).total_seconds() // 60)
    except (KeyError, ValueError, AttributeError):
        old_minutes = 30
    if slot_id:
        found = await ctx.repo.read_many(ctx.who, "Slot", [str(slot_id)])
        if str(slot_id) not in found:
            raise NotFound(f"Slot {slot_id} not found")
        res["slot"] = [{"reference": f"Slot/{slot_id}"}]
    else:
        res.pop("slot", None)
    try:
        res["start"], res["end"] = start, end or _end(start, old_minutes)
    except ValueError:
        raise Invalid("start must be an ISO date-time", field="start") from None
    res["status"] = "booked"
    return await _update(info, res, base_version)


async def cancel_appointment(info: Info, aid: str, base_version: int | None, reason: str | None
                             ) -> appointment_t.Appointment:
    ctx = info.context
    res = await ctx.repo.read(ctx.who, "Appointment", str(aid))
    if res.get("status") in ("cancelled", "fulfilled", "entered-in-error"):
        raise Invalid(f"A {res.get('status')} appointment cannot be cancelled")
    res["status"] = "cancelled"
    set_ext(res, "appointment-workflow-status", "valueCode", "cancelled")
    if reason:
        res["cancelationReason"] = {"coding": [{"system": CANCEL_REASON, "code": "other"}], "text": reason}
    return await _update(info, res, base_version)


async def assign_to_episode(info: Info, aid: str, episode_id: str | None) -> appointment_t.Appointment:
    ctx = info.context
    res = await ctx.repo.read(ctx.who, "Appointment", str(aid))
    if episode_id:
        ep = await ctx.loaders.episodes_by_id.load(str(episode_id))
        if ep is None:
            raise NotFound(f"Episode {episode_id} not found")
        pid = next((ref_id(p.get("actor"), "Patient") for p in res.get("participant") or ()
                    if ref_id(p.get("actor"), "Patient")), None)
        if pid and ref_id(ep.get("patient"), "Patient") != pid:
            raise Invalid("The episode belongs to another patient", field="episodeId")
    set_ext(res, "episode-of-care", "valueReference",
            {"reference": f"EpisodeOfCare/{episode_id}"} if episode_id else None)
    return await _update(info, res, None)
