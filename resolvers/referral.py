"""Referral attributions (seed 003 patients/{id}/referral-attributions): list, create (exactly one source, at most
one active primary per patient), update of role and note with baseVersion, archive. Records and the reasons for
the FHIR Basic mapping: resolvers/model/referral.py."""

from __future__ import annotations

from typing import Any

from resolvers import chart
from resolvers.context import Scope
from resolvers.model import catalog as catalog_m
from resolvers.model import practitioner as practitioner_m
from resolvers.model import referral as model
from resolvers.model.patient import names
from resolvers.pagination import Out, Paging
from store.clock import now_seconds
from store.errors import Conflict, Invalid, NotFound
from store.fhirjson import concept, extension, reference, set_ext
from store.naming import CS

Resource = dict[str, Any]

NOTE_MAX = 2000
# Input field of each source kind (the seed's *_uuid fields).
SOURCE_FIELDS = {model.SourceKind.REFERRAL_SOURCE: "referral_source_id",
                 model.SourceKind.REFERRAL_PARTNER: "referral_partner_id",
                 model.SourceKind.PROVIDER: "provider_id",
                 model.SourceKind.REFERRING_PATIENT: "referring_patient_id"}
# What each source is called in a NOT_FOUND message (the API's words, not the FHIR type it is stored as).
_LABEL = {model.SourceKind.REFERRAL_SOURCE: "referral source", model.SourceKind.REFERRAL_PARTNER: "referral partner",
          model.SourceKind.PROVIDER: "provider", model.SourceKind.REFERRING_PATIENT: "referring patient"}


async def _attributions(ctx: Scope, pid: str) -> list[Resource]:
    await chart.patient_reference(ctx, pid)
    rows: list[Resource] = await ctx.loaders.attributions_by_patient.load(str(pid))
    return rows


async def list_attributions(ctx: Scope, pid: str, paging: Paging[Out], *, include_archived: bool = False) -> Out:
    """The patient's attributions, newest first; archived ones only when asked for."""
    rows = [r for r in await _attributions(ctx, pid) if include_archived or not catalog_m.is_archived(r)]
    return paging(rows, key=lambda r: str((r.get("meta") or {}).get("lastUpdated") or ""), rid=lambda r: r["id"],
                  node=model.from_fhir, descending=True, default=ctx.settings.default_page_size,
                  maximum=ctx.settings.max_page_size)


async def create_attribution(ctx: Scope, pid: str, f: dict[str, Any]) -> model.ReferralAttribution:
    subject = await chart.patient_reference(ctx, pid)
    given = [(kind, str(f[field])) for kind, field in SOURCE_FIELDS.items() if f.get(field)]
    if len(given) != 1:
        raise Invalid("Give exactly one source: referralSourceId, referralPartnerId, providerId or "
                      "referringPatientId", field="input", sources=len(given))
    kind, sid = given[0]
    if kind is model.SourceKind.REFERRING_PATIENT and sid == str(pid):
        raise Invalid("A patient cannot refer themselves", field="input.referringPatientId")
    author = await _source(ctx, kind, sid)
    role: model.AttributionRole | None = f.get("attribution_role")
    if role is model.AttributionRole.PRIMARY:
        await _check_one_primary(ctx, pid, None)
    res: Resource = {"resourceType": "Basic", "code": concept(CS["catalog"], model.KIND, "Referral attribution"),
                     "subject": subject, "author": author, "created": now_seconds()[:10],
                     "extension": [extension("attribution-source-kind", "valueCode", kind.value)]}
    _apply(res, {k: f[k] for k in ("attribution_role", "source_note") if k in f})
    written = await chart.create(ctx, res)
    ctx.loaders.forget(ctx.loaders.attributions_by_patient, str(pid))
    return model.from_fhir(written)


async def update_attribution(ctx: Scope, pid: str, aid: str, base_version: int,
                             f: dict[str, Any]) -> model.ReferralAttribution:
    """Only the role and the note change; the source is fixed at creation."""
    res = await _attribution(ctx, pid, aid)
    if f.get("attribution_role") is model.AttributionRole.PRIMARY and model.role_of(res) is not f["attribution_role"]:
        await _check_one_primary(ctx, pid, aid)
    _apply(res, f)
    return await _save(ctx, pid, res, base_version)


async def archive_attribution(ctx: Scope, pid: str, aid: str, base_version: int) -> model.ReferralAttribution:
    res = await _attribution(ctx, pid, aid)
    if catalog_m.is_archived(res):
        raise Invalid(f"Attribution {aid} is already archived", field="id")
    set_ext(res, "archived-at", "valueDateTime", now_seconds())
    return await _save(ctx, pid, res, base_version)


async def _attribution(ctx: Scope, pid: str, aid: str) -> Resource:
    """The attribution ``aid`` of the patient ``pid``; ``NotFound`` when either is unknown or it is another
    patient's."""
    found = {r["id"]: r for r in await _attributions(ctx, pid)}
    if str(aid) not in found:
        raise NotFound(f"Attribution {aid} not found for this patient", field="id")
    return dict(found[str(aid)])


async def _check_one_primary(ctx: Scope, pid: str, other_than: str | None) -> None:
    for r in await _attributions(ctx, pid):
        if r["id"] != other_than and not catalog_m.is_archived(r) and \
                model.role_of(r) is model.AttributionRole.PRIMARY:
            raise Conflict("The patient already has a primary attribution", field="input.attributionRole",
                           existing=r["id"])


async def _source(ctx: Scope, kind: model.SourceKind, sid: str) -> dict[str, str]:
    """A reference to the source, with its name; ``NotFound`` naming the input field when there is none."""
    rt = model.SOURCE_TYPES[kind]
    found = (await ctx.repo.read_many(ctx.who, rt, [sid])).get(sid)
    if found is None:
        raise NotFound(f"{_LABEL[kind].capitalize()} {sid} not found", field=f"input.{SOURCE_FIELDS[kind]}")
    return reference(rt, sid, _name(rt, found))


def _name(rt: str, res: Resource) -> str | None:
    if rt == "Organization":
        return res.get("name")
    if rt == "Practitioner":
        return practitioner_m.from_fhir(res).name or None
    official, _ = names(res)
    return " ".join([*(official.get("given") or ())[:1], official.get("family") or ""]).strip() or None


def _apply(res: Resource, f: dict[str, Any]) -> None:
    if "attribution_role" in f:
        role = f["attribution_role"]
        set_ext(res, "attribution-role", "valueCode", role.value if role is not None else None)
    if "source_note" in f:
        note = (f["source_note"] or "").strip() or None
        if note is not None and len(note) > NOTE_MAX:
            raise Invalid(f"sourceNote is longer than {NOTE_MAX} characters", field="input.sourceNote")
        set_ext(res, "attribution-note", "valueString", note)


async def _save(ctx: Scope, pid: str, res: Resource, base_version: int) -> model.ReferralAttribution:
    written = await ctx.repo.update(ctx.who, "Basic", res["id"], res, if_match=str(base_version))
    ctx.loaders.forget(ctx.loaders.attributions_by_patient, str(pid))
    return model.from_fhir(written.resource)
