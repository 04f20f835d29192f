"""The episode of care (seed 002) computed from a FHIR EpisodeOfCare, and episode inputs written back to it."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.common import ID_DESCRIPTION, VERSION_DESCRIPTION, enum_type, opt_id
from store.errors import Invalid
from store.fhirjson import code_of, date_part, ext, ref_id, set_ext, text_of, version
from store.naming import CS


class EpisodeStatus(Enum):
    PLANNED = "planned"
    WAITLIST = "waitlist"
    ACTIVE = "active"
    ONHOLD = "onhold"
    FINISHED = "finished"
    CANCELLED = "cancelled"


enum_type(EpisodeStatus, description="Status of an episode of care.", values={
    EpisodeStatus.PLANNED: "Planned, not started.",
    EpisodeStatus.WAITLIST: "Waiting to start.",
    EpisodeStatus.ACTIVE: "Under way.",
    EpisodeStatus.ONHOLD: "Paused.",
    EpisodeStatus.FINISHED: "Completed.",
    EpisodeStatus.CANCELLED: "Cancelled before completion.",
})


_STATUS = {s.value: s for s in EpisodeStatus}


@dataclass(eq=False, kw_only=True)
class Episode:
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    version: int = strawberry.field(description=VERSION_DESCRIPTION)
    name: str | None = strawberry.field(description="The episode's name, e.g. Knee rehabilitation.")
    type: str | None = strawberry.field(description="Episode type code, e.g. covid.")
    type_display: str | None = strawberry.field(description="The episode type for display.")
    from_: str | None = strawberry.field(name="from", description="Start date, YYYY-MM-DD.")
    to: str | None = strawberry.field(description="End date, YYYY-MM-DD; null while open.")
    status: EpisodeStatus = strawberry.field(description="Where the episode stands.")
    objective: str | None = strawberry.field(description="The goal of the episode, as text.")
    reason_incomplete: str | None = strawberry.field(
        description="Why it ended before its objective was met; null otherwise.")
    patient_id: strawberry.ID | None = strawberry.field(description="Id of the patient.")


def from_fhir(res: dict[str, Any]) -> Episode:
    period = res.get("period") or {}
    types = res.get("type") or [{}]
    return Episode(
        id=res["id"], version=version(res), name=ext(res, "episode-name"),
        type=code_of(types[0]), type_display=text_of(types[0]),
        from_=date_part(period.get("start")), to=date_part(period.get("end")),
        status=_STATUS.get(res.get("status", ""), EpisodeStatus.PLANNED),
        objective=ext(res, "episode-objective"), reason_incomplete=ext(res, "episode-reason-incomplete"),
        patient_id=opt_id(ref_id(res.get("patient"), "Patient")),
    )


def apply_fields(res: dict[str, Any], f: dict[str, Any]) -> None:
    """Apply the provided episode input fields to a FHIR EpisodeOfCare."""
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
