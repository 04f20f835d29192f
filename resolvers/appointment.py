"""Appointments (seeds 000/002): finding them (one, a patient's, an episode's, the clinic's schedule) and
booking, rescheduling, cancelling and episode assignment. Records: resolvers/model/appointment.py."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

import strawberry

from resolvers import episode as episode_r
from resolvers import patient as patient_r
from resolvers import practitioner as practitioner_r
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, node_of, when_loaded
from resolvers.model import appointment as model
from resolvers.model.common import check_dates
from resolvers.model.episode import Episode
from resolvers.model.patient import Patient
from resolvers.model.practitioner import Practitioner
from resolvers.pagination import After, Before, Connection, First, Last, resolve_connection, store_connection
from store.clock import instant, now_seconds
from store.errors import Invalid, NotFound
from store.fhirjson import ext, ref_id, set_ext
from store.types import Page

CANCEL_REASON = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"
Resource = dict[str, Any]


def get_appointment(ctx: Scope, aid: str | None) -> Soon[model.Appointment | None]:
    if not aid:
        return None
    return when_loaded(ctx.loaders.appointments_by_id, str(aid), lambda res: model.lazy_from_fhir(res) if res else None)


def _start(r: Resource) -> str:
    return str(r.get("start") or "")


def patient_appointments(
    root: Patient,
    info: Info,
    date_from: Annotated[str | None, strawberry.argument(
        description="Starting on or after this date, YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, strawberry.argument(
        description="Starting on or before this date, YYYY-MM-DD.")] = None,
    status: Annotated[list[model.AppointmentStatus] | None, strawberry.argument(
        description="Only appointments with one of these statuses.")] = None,
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
) -> Soon[Connection[model.Appointment]]:
    check_dates(date_from=date_from, date_to=date_to)
    loaders = info.context.loaders
    wanted = {s.value for s in status} if status else None

    def page(rows: list[Resource]) -> Connection[model.Appointment]:
        if wanted or date_from or date_to:
            rows = [r for r in rows if (wanted is None or r.get("status") in wanted)
                    and (not date_from or _start(r) >= date_from)
                    and (not date_to or _start(r)[:len(date_to)] <= date_to)]
        return resolve_connection(rows, key=_start, rid=lambda r: r["id"],
                                  node=lambda r: node_of(loaders, r, model.lazy_from_fhir), first=first, after=after,
                                  last=last, before=before, descending=True)

    return when_loaded(loaders.appointments_by_patient, str(root.id), page)


def episode_appointments(
    root: Episode,
    info: Info,
    first: First = None,
    after: After = None,
) -> Soon[Connection[model.Appointment]]:
    """An episode's appointments: its patient's appointments (one batched load for every episode's patient)
    that join it through the episode-of-care extension."""
    if not root.patient_id:
        return resolve_connection([], key=_start, rid=lambda r: r["id"], node=model.from_fhir, first=first, after=after)
    loaders = info.context.loaders
    ref = f"EpisodeOfCare/{root.id}"

    def page(rows: list[Resource]) -> Connection[model.Appointment]:
        mine = [r for r in rows if (ext(r, "episode-of-care") or {}).get("reference") == ref]
        return resolve_connection(mine, key=_start, rid=lambda r: r["id"],
                                  node=lambda r: node_of(loaders, r, model.lazy_from_fhir), first=first, after=after)

    return when_loaded(loaders.appointments_by_patient, str(root.patient_id), page)


async def list_appointments(ctx: Scope, flt: dict[str, Any] | None, first: int | None, after: str | None,
                            last: int | None, before: str | None) -> Connection[model.Appointment]:
    """The clinic's schedule, keyset-paged by start time."""
    flt = flt or {}
    check_dates("filter", date_from=flt.get("date_from"), date_to=flt.get("date_to"))
    params: list[tuple[str, str]] = []
    if flt.get("date_from"):
        params.append(("date", f"ge{flt['date_from']}"))
    if flt.get("date_to"):
        params.append(("date", f"le{flt['date_to']}"))
    for key, param, rt in (("practitioner_id", "practitioner", "Practitioner"), ("patient_id", "patient", "Patient"),
                           ("location_id", "location", "Location")):
        if flt.get(key):
            params.append((param, f"{rt}/{flt[key]}"))
    if flt.get("status"):
        params.append(("status", ",".join(s.value for s in flt["status"])))

    async def search(**kw: Any) -> Page:
        return await ctx.repo.search(ctx.who, "Appointment", params, total=True, **kw)

    return await store_connection(search, sort="date", node=model.lazy_from_fhir, first=first, after=after, last=last,
                                  before=before, default=ctx.settings.default_page_size,
                                  maximum=ctx.settings.max_page_size)


def patient(root: model.Appointment, info: Info) -> Soon[Patient | None]:
    return patient_r.get_patient(info.context, root.patient_id)


def practitioner(root: model.Appointment, info: Info) -> Soon[Practitioner | None]:
    return practitioner_r.get_practitioner(info.context, root.practitioner_id)


def episode(root: model.Appointment, info: Info) -> Soon[Episode | None]:
    return episode_r.get_episode(info.context, root.episode_id)


# ---------------------------------------------------------------------------------------------- mutations


def _end(start: str, minutes: int) -> str:
    t = datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return instant(t) if start.endswith("Z") else t.isoformat()


def _participant(rt: str, rid: str, required: str = "required") -> Resource:
    return {"actor": {"reference": f"{rt}/{rid}"}, "status": "accepted", "required": required}


async def book_appointment(ctx: Scope, f: dict[str, Any]) -> model.Appointment:
    """Book an appointment (on a slot, or at a start time); a slot already booked is ``SlotTaken``."""
    if await ctx.loaders.patients_by_id.load(str(f["patient_id"])) is None:
        raise NotFound(f"Patient {f['patient_id']} not found")
    start, end = f.get("start"), f.get("end")
    slot: Resource | None = None
    if f.get("slot_id"):
        slot = (await ctx.repo.read_many(ctx.who, "Slot", [str(f["slot_id"])])).get(str(f["slot_id"]))
        if slot is None:
            raise NotFound(f"Slot {f['slot_id']} not found", field="input.slotId")
        start, end = start or slot.get("start"), end or slot.get("end")
    if not start:
        raise Invalid("start (or a slotId) is required", field="input.start")
    minutes = f.get("minutes_duration") or 30
    try:
        end = end or _end(start, minutes)
    except ValueError:
        raise Invalid("start must be an ISO date-time", field="input.start") from None
    if end <= start:
        raise Invalid("end must be after start", field="input.end")
    participants = [_participant("Patient", str(f["patient_id"]))]
    if f.get("practitioner_id"):
        if await ctx.loaders.practitioners_by_id.load(str(f["practitioner_id"])) is None:
            raise NotFound(f"Practitioner {f['practitioner_id']} not found", field="input.practitionerId")
        participants.append(_participant("Practitioner", str(f["practitioner_id"])))
    if f.get("location_id"):
        participants.append(_participant("Location", str(f["location_id"]), "information-only"))
    res: Resource = {"resourceType": "Appointment", "id": str(uuid.uuid4()), "status": "booked",
                     "start": start, "end": end, "participant": participants, "created": now_seconds()}
    if f.get("minutes_duration"):
        res["minutesDuration"] = f["minutes_duration"]
    if f.get("reasons"):
        res["reasonCode"] = [{"text": r} for r in f["reasons"]]
    if f.get("description"):
        res["description"] = f["description"]
    if slot is not None:
        res["slot"] = [{"reference": f"Slot/{slot['id']}"}]
    set_ext(res, "appointment-workflow-status", "valueCode", "scheduled")
    if f.get("episode_id"):
        await _require_episode(ctx, str(f["episode_id"]))
        set_ext(res, "episode-of-care", "valueReference", {"reference": f"EpisodeOfCare/{f['episode_id']}"})
    written = await ctx.repo.create(ctx.who, res, keep_id=True)
    return model.from_fhir(written.resource)


async def _require_episode(ctx: Scope, eid: str) -> Resource:
    found: Resource | None = await ctx.loaders.episodes_by_id.load(eid)
    if found is None:
        raise NotFound(f"Episode {eid} not found")
    return found


async def _save(ctx: Scope, res: Resource, base_version: int | None) -> model.Appointment:
    written = await ctx.repo.update(ctx.who, "Appointment", res["id"], res,
                                    if_match=str(base_version) if base_version is not None else None)
    ctx.loaders.prime(ctx.loaders.appointments_by_id, res["id"], written.resource)
    return model.from_fhir(written.resource)


async def reschedule_appointment(ctx: Scope, aid: str, base_version: int | None, start: str, end: str | None,
                                 slot_id: str | None) -> model.Appointment:
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
            raise NotFound(f"Slot {slot_id} not found", field="slotId")
        res["slot"] = [{"reference": f"Slot/{slot_id}"}]
    else:
        res.pop("slot", None)
    try:
        res["start"], res["end"] = start, end or _end(start, old_minutes)
    except ValueError:
        raise Invalid("start must be an ISO date-time", field="start") from None
    res["status"] = "booked"
    return await _save(ctx, res, base_version)


async def cancel_appointment(ctx: Scope, aid: str, base_version: int | None, reason: str | None
                             ) -> model.Appointment:
    res = await ctx.repo.read(ctx.who, "Appointment", str(aid))
    if res.get("status") in ("cancelled", "fulfilled", "entered-in-error"):
        raise Invalid(f"A {res.get('status')} appointment cannot be cancelled")
    res["status"] = "cancelled"
    set_ext(res, "appointment-workflow-status", "valueCode", "cancelled")
    if reason:
        res["cancelationReason"] = {"coding": [{"system": CANCEL_REASON, "code": "other"}], "text": reason}
    return await _save(ctx, res, base_version)


async def assign_to_episode(ctx: Scope, aid: str, episode_id: str | None) -> model.Appointment:
    """Assign an appointment to an episode of the same patient (None: unassign)."""
    res = await ctx.repo.read(ctx.who, "Appointment", str(aid))
    if episode_id:
        ep = await _require_episode(ctx, str(episode_id))
        pid = next((ref_id(p.get("actor"), "Patient") for p in res.get("participant") or ()
                    if ref_id(p.get("actor"), "Patient")), None)
        if pid and ref_id(ep.get("patient"), "Patient") != pid:
            raise Invalid("The episode belongs to another patient", field="episodeId")
    set_ext(res, "episode-of-care", "valueReference",
            {"reference": f"EpisodeOfCare/{episode_id}"} if episode_id else None)
    return await _save(ctx, res, None)
