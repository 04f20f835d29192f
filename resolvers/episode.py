"""Episodes of care (seed 002): FHIR EpisodeOfCare → GraphQL ``Episode``; create and update."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import strawberry

from graph.pagination import resolve_connection
from graph.types import episode as episode_t
from resolvers.fhir import code_of, date_part, ext, ref_id, set_ext, text_of, version
from resolvers.loaders import MISSING, ready, then
from store.errors import Invalid, NotFound
from store.naming import CS

if TYPE_CHECKING:
    from graph.context import Info

_STATUS = {s.value: s for s in episode_t.EpisodeStatus}


def from_fhir(res: dict[str, Any]) -> episode_t.Episode:
    period = res.get("period") or {}
    types = res.get("type") or [{}]
    return episode_t.Episode(
        id=res["id"], version=version(res), name=ext(res, "episode-name"),
        type=code_of(types[0]), type_display=text_of(types[0]),
        from_=date_part(period.get("start")), to=date_part(period.get("end")),
        status=_STATUS.get(res.get("status", ""), episode_t.EpisodeStatus.PLANNED),
        objective=ext(res, "episode-objective"), reason_incomplete=ext(res, "episode-reason-incomplete"),
        patient_id=ref_id(res.get("patient"), "Patient"),
    )


def get_episode(info: Info, eid: str | None) -> Any:
    if not eid:
        return None
    loader = info.context.loaders.episodes_by_id
    res = ready(loader, str(eid))
    if res is MISSING:
        return then(loader.load(str(eid)), get_episode, info, eid)
    return from_fhir(res) if res else None


def get_patient_episodes(info: Info, pid: str, *, status: Any, first: int | None, after: str | None) -> Any:
    loader = info.context.loaders.episodes_by_patient
    rows = ready(loader, str(pid))
    if rows is MISSING:
        return then(loader.load(str(pid)), get_patient_episodes, info, pid, status=status, first=first, after=after)
    if status is not None:
        rows = [r for r in rows if r.get("status") == status.value]
    return resolve_connection(rows, key=lambda r: (r.get("period") or {}).get("start") or "", rid=lambda r: r["id"],
                              node=from_fhir, first=first, after=after, descending=True)


def _apply(res: dict[str, Any], f: dict[str, Any]) -> None:
    if "name" in f:
        set_ext(res, "episode-name", "valueString", f["name"] or None)
    if "type" in f and f["type"]:
        res["type"] = [{"coding": [{"system": CS["episode-type"], "code": f["type"]}], "text": f["type"]}]
    period = dict(res.get("period") or {})
    if "from_" in f and f["from_"]:
        period["start"] = f["from_"]
    if "to" in f:
        if f["to"]:
            period["end"] = f["to"]
        else:
            period.pop("end", None)
    if period.get("start") and period.get("end") and period["end"][:10] < period["start"][:10]:
        raise Invalid("'to' must not be before 'from'", field="to")
    if period:
        res["period"] = period
    if "status" in f and f["status"] is not None:
        res["status"] = f["status"].value
    if "objective" in f:
        set_ext(res, "episode-objective", "valueString", f["objective"] or None)
    if "reason_incomplete" in f:
        set_ext(res, "episode-reason-incomplete", "valueString", f["reason_incomplete"] or None)


def _provided(inp: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(inp).items() if v is not strawberry.UNSET}


async def create_episode(info: Info, patient_id: str, inp: Any) -> episode_t.Episode:
    ctx = info.context
    if await ctx.loaders.patients_by_id.load(str(patient_id)) is None:
        raise NotFound(f"Patient {patient_id} not found")
    f = _provided(inp)
    for required in ("name", "type", "from_", "status"):
        if not f.get(required):
            raise Invalid(f"'{required.rstrip('_')}' is required", field=required.rstrip("_"))
    res: dict[str, Any] = {"resourceType": "EpisodeOfCare", "id": str(uuid.uuid4()), "status": "planned",
                           "patient": {"reference": f"Patient/{patient_id}"}}
    _apply(res, f)
    written = await ctx.repo.create(ctx.who, res, keep_id=True)
    return from_fhir(written.resource)


async def update_episode(info: Info, eid: str, base_version: int | None, inp: Any) -> episode_t.Episode:
    ctx = info.context
    res = await ctx.repo.read(ctx.who, "EpisodeOfCare", str(eid))
    _apply(res, _provided(inp))
    written = await ctx.repo.update(ctx.who, "EpisodeOfCare", str(eid), res,
                                    if_match=str(base_version) if base_version is not None else None)
    ctx.loaders.prime(ctx.loaders.episodes_by_id, str(eid), written.resource)
    return from_fhir(written.resource)
