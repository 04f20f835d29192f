"""A patient's referral attribution (seed 003 patients/{id}/referral-attributions): how the patient was acquired,
linked to exactly one source.

FHIR mapping — a Basic (code CS["catalog"] ``referral-attribution``), ``subject`` the patient and ``author`` the
source, the role, the source's kind and the note as extensions (store/naming.py "Referral"). Why Basic:
FHIR R4 has no resource for marketing attribution. ServiceRequest is an order to refer the patient *to*
someone (with intent, status and a requester), not a record of who sent the patient *to us*; EpisodeOfCare's
``referralRequest`` is again such an order; Patient.generalPractitioner and extensions on Patient could not
carry several attributions, each with its own role, version and archive state. Basic gives each attribution its
own id and version (the seed's ``base_version``), a ``subject`` the patient compartment follows (FHIR REST:
``GET /fhir/r4/Basic?subject=Patient/<id>``) and an ``author`` whose allowed targets (Practitioner, Patient,
Organization…) are exactly the seed's sources: a provider is a Practitioner, a referring patient a Patient, a
referral partner and a marketing referral source each an Organization."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.common import EntityRef, created_at, opt_id
from store.fhirjson import ext_map, parse_reference, ref_id, version
from store.naming import EXT

Resource = dict[str, Any]

KIND = "referral-attribution"


class AttributionRole(Enum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    ASSIST = "assist"


class SourceKind(Enum):
    REFERRAL_SOURCE = "referral_source"
    REFERRAL_PARTNER = "referral_partner"
    PROVIDER = "provider"
    REFERRING_PATIENT = "referring_patient"


# Source kind → the FHIR type its id names.
SOURCE_TYPES = {SourceKind.REFERRAL_SOURCE: "Organization", SourceKind.REFERRAL_PARTNER: "Organization",
                SourceKind.PROVIDER: "Practitioner", SourceKind.REFERRING_PATIENT: "Patient"}


@dataclass(eq=False, kw_only=True)
class ReferralAttribution:
    id: strawberry.ID = strawberry.field(description="Unique identifier of the attribution.")
    version: int = strawberry.field(
        description="Optimistic-concurrency version: pass it as baseVersion to update or archive.")
    patient_id: strawberry.ID | None = strawberry.field(description="Id of the attributed patient.")
    attribution_role: AttributionRole | None = strawberry.field(
        description="Role of this attribution in the patient's acquisition; at most one active PRIMARY per patient.")
    source_kind: SourceKind | None = strawberry.field(description="Which of the four sources this attribution names.")
    referral_source: EntityRef | None = strawberry.field(
        description="The marketing referral source (an organization), when that is the source.")
    referral_partner: EntityRef | None = strawberry.field(
        description="The referral partner (an organization), when that is the source.")
    provider: EntityRef | None = strawberry.field(
        description="The in-house provider who brought the patient in, when that is the source.")
    referring_patient: EntityRef | None = strawberry.field(
        description="The existing patient who referred this one, when that is the source.")
    source_note: str | None = strawberry.field(description="Free-text note about the referral.")
    attributed_at: str | None = strawberry.field(description="When the attribution was recorded (ISO 8601 instant).")
    created_at: str | None = strawberry.field(
        description="When the attribution was created (ISO 8601 instant); the same as attributedAt.")
    updated_at: str | None = strawberry.field(description="When it was last changed (ISO 8601 instant).")
    archived_at: str | None = strawberry.field(
        description="When it was archived (ISO 8601 instant); null while active. Archived attributions are left out "
                    "of lists unless includeArchived is true.")


def role_of(res: Resource) -> AttributionRole | None:
    try:
        return AttributionRole(ext_map(res).get(EXT["attribution-role"]))
    except ValueError:
        return None


def from_fhir(res: Resource) -> ReferralAttribution:
    v = ext_map(res)
    try:
        kind: SourceKind | None = SourceKind(v.get(EXT["attribution-source-kind"]))
    except ValueError:
        kind = None
    author = res.get("author")
    parsed = parse_reference(author)
    source = EntityRef(id=strawberry.ID(parsed[1]), name=(author or {}).get("display")) if parsed else None
    refs: dict[SourceKind, EntityRef | None] = {k: source if k is kind else None for k in SourceKind}
    return ReferralAttribution(
        id=strawberry.ID(res["id"]), version=version(res), patient_id=opt_id(ref_id(res.get("subject"), "Patient")),
        attribution_role=role_of(res), source_kind=kind,
        referral_source=refs[SourceKind.REFERRAL_SOURCE], referral_partner=refs[SourceKind.REFERRAL_PARTNER],
        provider=refs[SourceKind.PROVIDER], referring_patient=refs[SourceKind.REFERRING_PATIENT],
        source_note=v.get(EXT["attribution-note"]), attributed_at=created_at(res), created_at=created_at(res),
        updated_at=(res.get("meta") or {}).get("lastUpdated"), archived_at=v.get(EXT["archived-at"]))
