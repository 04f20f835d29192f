"""The encounter (a visit or video session) computed from a FHIR Encounter."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from typing import Any

import strawberry

from resolvers.model.common import ID_DESCRIPTION, VERSION_DESCRIPTION, opt_id
from store.fhirjson import ref_id, text_of, version


@dataclass(eq=False, kw_only=True)
class Encounter:
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    version: int = strawberry.field(description=VERSION_DESCRIPTION)
    status: str = strawberry.field(
        description="planned, arrived, in-progress, finished, cancelled, … (FHIR Encounter.status).")
    class_code: str | None = strawberry.field(
        description="AMB (office visit), VR (virtual, video), HH (home health), …")
    start: str | None = strawberry.field(
        description="When it started, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z.")
    end: str | None = strawberry.field(
        description="When it ended, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z; null while in progress.")
    reason: str | None = strawberry.field(description="Reason for the visit, as text.")
    service_type: str | None = strawberry.field(description="The service provided, as text.")
    patient_id: strawberry.ID | None = strawberry.field(description="Id of the patient.")
    practitioner_id: strawberry.ID | None = strawberry.field(description="Id of the practitioner who saw the patient.")
    appointment_id: strawberry.ID | None = strawberry.field(
        description="Id of the appointment it was held for, if any.")
    episode_id: strawberry.ID | None = strawberry.field(description="Id of the episode of care it belongs to, if any.")


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
