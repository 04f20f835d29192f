"""Episodes of care (seed 002): finding them (one, a patient's) and create/update. Records and their FHIR
mapping: resolvers/model/episode.py."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import strawberry

from resolvers import patient as patient_r
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, when_loaded
from resolvers.model import episode as model
from resolvers.model.patient import Patient
from resolvers.pagination import After, Connection, First, resolve_connection
from store.errors import Invalid, NotFound

REQUIRED = ("name", "type", "from_", "status")


def get_episode(ctx: Scope, eid: str | None) -> Soon[model.Episode | None]:
    if not eid:
        return None
    return when_loaded(ctx.loaders.episodes_by_id, str(eid), lambda res: model.from_fhir(res) if res else None)


def patient_episodes(
    root: Patient,
    info: Info,
    status: Annotated[model.EpisodeStatus | None, strawberry.argument(
        description="Only episodes with this status.")] = None,
    first: First = None,
    after: After = None,
) -> Soon[Connection[model.Episode]]:
    def page(rows: list[dict[str, Any]]) -> Connection[model.Episode]:
        if status is not None:
            rows = [r for r in rows if r.get("status") == status.value]
        return resolve_connection(rows, key=lambda r: (r.get("period") or {}).get("start") or "",
                                  rid=lambda r: r["id"], node=model.from_fhir, first=first, after=after,
                                  descending=True)

    return when_loaded(info.context.loaders.episodes_by_patient, str(root.id), page)


def patient(root: model.Episode, info: Info) -> Soon[Patient | None]:
    return patient_r.get_patient(info.context, root.patient_id)


async def create_episode(ctx: Scope, patient_id: str, f: dict[str, Any]) -> model.Episode:
    if await ctx.loaders.patients_by_id.load(str(patient_id)) is None:
        raise NotFound(f"Patient {patient_id} not found")
    for required in REQUIRED:
        if not f.get(required):
            raise Invalid(f"'{required.rstrip('_')}' is required", field=f"input.{required}")
    res: dict[str, Any] = {"resourceType": "EpisodeOfCare", "id": str(uuid.uuid4()), "status": "planned",
                           "patient": {"reference": f"Patient/{patient_id}"}}
    model.apply_fields(res, f)
    written = await ctx.repo.create(ctx.who, res, keep_id=True)
    return model.from_fhir(written.resource)


async def update_episode(ctx: Scope, eid: str, base_version: int | None, f: dict[str, Any]) -> model.Episode:
    res = await ctx.repo.read(ctx.who, "EpisodeOfCare", str(eid))
    model.apply_fields(res, f)
    written = await ctx.repo.update(ctx.who, "EpisodeOfCare", str(eid), res,
                                    if_match=str(base_version) if base_version is not None else None)
    ctx.loaders.prime(ctx.loaders.episodes_by_id, str(eid), written.resource)
    return model.from_fhir(written.resource)
