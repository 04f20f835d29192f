"""The encounter (a visit or video session) computed from a FHIR Encounter."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from typing import Any

import strawberry

from resolvers.model.common import opt_id
from store.fhirjson import ref_id, text_of, version


@dataclass(eq=False, kw_only=True)
class Encounter:
    id: strawberry.ID
    version: int
    status: str
    class_code: str | None
    start: str | None
    end: str | None
    reason: str | None
    service_type: str | None
    patient_id: strawberry.ID | None
    practitioner_id: strawberry.ID | None
    appointment_id: strawberry.ID | None
    episode_id: strawberry.ID | None


def from_fhir(res: dict[str, Any]) -> Encounter:
    period = res.get("period") or {}
    part = next((p.get("individual") for p in res.get("participant") or () if p.get("individual")), None)
    cls = res.get("class") or {}
    return Encounter(
        id=res["id"], version=version(res), status=res.get("status", "unknown"), class_code=cls.get("code"),
        start=period.get("start"), end=period.get("end"),
        reason=next((text_of(r) for r in res.get("reasonCode") or ()), None),
        service_type=text_of(res.get("serviceType")),
        patient_id=opt_id(ref_id(res.get("subject"), "Patient")), practitioner_id=opt_id(ref_id(part, "Practitioner")),
        appointment_id=opt_id(next((ref_id(a, "Appointment") for a in res.get("appointment") or ()), None)),
        episode_id=opt_id(next((ref_id(e, "EpisodeOfCare") for e in res.get("episodeOfCare") or ()), None)),
    )
