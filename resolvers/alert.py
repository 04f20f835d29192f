"""Patient alerts (seed 003 patients/{id}/alerts): a patient's own, with its family's family-scope ones when
asked; creating one from an org alert definition, updating, disabling, archiving and bulk-dismissing them
(records: resolvers/model/alert.py; definitions: resolvers/catalog.py)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry

from resolvers import catalog as catalog_r
from resolvers import chart
from resolvers import family as family_r
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, when_loaded
from resolvers.model import alert as model
from resolvers.model import catalog as catalog_m
from resolvers.model.common import check_date
from resolvers.model.patient import Patient
from resolvers.pagination import (
    DEFAULT_PAGE_SIZE,
    After,
    Connection,
    First,
    NumberedPage,
    Out,
    PageNumber,
    PageSize,
    Paging,
    Relay,
    numbered,
)
from store.clock import instant, now_seconds
from store.errors import Invalid, InvalidTransition, NotFound
from store.fhirjson import concept, extension, ref_id, reference, set_ext
from store.naming import CS
from store.transactions import Entry

Resource = dict[str, Any]


async def family_flags(ctx: Scope, pid: str) -> list[tuple[Resource, bool]]:
    """The patient's own flags, plus the family-scope flags of the family members (same guarantor).

    The family is resolved first so that the patient's flags and its members' load in one batch."""
    member_ids = await family_r.family_member_ids(ctx, pid)
    keys = [pid, *(m for m in member_ids if m != pid)]
    return flags_with_family(await ctx.loaders.flags_by_patient.load_many(keys))


def flags_with_family(per_patient: list[list[Resource]]) -> list[tuple[Resource, bool]]:
    """The first list is the patient's own flags; the others are its family members' (family scope only)."""
    out = [(r, False) for r in per_patient[0]]
    for rows in per_patient[1:]:
        out.extend((r, True) for r in rows if model.is_family_scope(r))
    return out


Status = Annotated[model.AlertStatus | None, strawberry.argument(
    description="Only alerts with this status (default: ACTIVE and DISABLED; ARCHIVED only when asked for).")]
IncludeFamily = Annotated[bool, strawberry.argument(
    description="Also the family-scope alerts of the patient's family (default false).")]


def patient_alerts(root: Patient, info: Info, status: Status = None, include_family: IncludeFamily = False,
                   first: First = None, after: After = None) -> Soon[Connection[model.Alert]]:
    return _alerts(root, info, status, include_family, Relay(first, after))


def patient_alert_page(root: Patient, info: Info, status: Status = None, include_family: IncludeFamily = False,
                       page: PageNumber = 1, page_size: PageSize = DEFAULT_PAGE_SIZE
                       ) -> Soon[NumberedPage[model.Alert]]:
    return _alerts(root, info, status, include_family, numbered(info.context, page, page_size))


def _alerts(root: Patient, info: Info, status: model.AlertStatus | None, include_family: bool,
            paging: Paging[Out]) -> Soon[Out]:
    """The patient's alerts (and its family's family-scope ones), the latest started first."""
    if include_family:
        return _family_alerts(info.context, str(root.id), status, paging)
    return when_loaded(info.context.loaders.flags_by_patient, str(root.id),
                       lambda own: _alerts_of([(r, False) for r in own], status, paging))


async def _family_alerts(ctx: Scope, pid: str, status: model.AlertStatus | None, paging: Paging[Out]) -> Out:
    return _alerts_of(await family_flags(ctx, pid), status, paging)


def _alerts_of(rows: list[tuple[Resource, bool]], status: model.AlertStatus | None, paging: Paging[Out]) -> Out:
    # The default listing leaves archived (dismissed) alerts out; they are listed when asked for by status.
    rows = [(r, fam) for r, fam in rows
            if (model.status_of(r) is status if status is not None
                else model.status_of(r) is not model.AlertStatus.ARCHIVED)]
    return paging(rows, key=lambda t: str((t[0].get("period") or {}).get("start") or ""), rid=lambda t: t[0]["id"],
                  node=lambda t: model.from_fhir(t[0], from_family=t[1]), descending=True)


def alert_definition(root: model.Alert, info: Info) -> Soon[catalog_m.AlertDefinition | None]:
    found: Soon[catalog_m.AlertDefinition | None] = catalog_r.get_definition(
        info.context, catalog_m.ALERT_KIND, root.alert_definition_id)
    return found


# ---------------------------------------------------------------------------------------------- mutations

BULK_MAX = 50
# The alert's status → FHIR Flag.status (archived: inactive, with EXT["archived-at"]).
FLAG_STATUS = {model.AlertStatus.ACTIVE: "active", model.AlertStatus.DISABLED: "inactive",
               model.AlertStatus.ARCHIVED: "inactive"}


async def create_alert(ctx: Scope, pid: str, f: dict[str, Any], idempotency_key: str | None = None) -> model.Alert:
    """A new alert of an active alert definition (its name is the alert's name; ``note`` stays the note);
    scope and urgency default to the definition's. Once per ``idempotency_key`` (resolvers/idempotency.py)."""
    return await chart.once(ctx, "createAlert", "Flag", pid, idempotency_key, f, lambda: _create(ctx, pid, f),
                            model.from_fhir)


async def _create(ctx: Scope, pid: str, f: dict[str, Any]) -> model.Alert:
    subject = await chart.patient_reference(ctx, pid)
    did = str(f["alert_definition_id"])
    found = await catalog_r.require_definitions(ctx, catalog_m.ALERT_KIND, [did],
                                               field="input.alertDefinitionId", indexed=False)
    definition = catalog_m.alert_definition(found[did])
    scope = f.get("scope") or definition.default_scope
    urgent = f.get("is_urgent")
    res: Resource = {
        "resourceType": "Flag", "status": "active", "subject": subject, "period": {"start": now_seconds()},
        "code": concept(CS["alert-type"], did, definition.name, definition.name),
        "extension": [extension("alert-definition", "valueReference", reference("Basic", did, definition.name)),
                      extension("alert-scope", "valueCode", scope.value),
                      extension("alert-urgent", "valueBoolean",
                                definition.default_is_urgent if urgent is None else bool(urgent)),
                      extension("alert-created-by", "valueReference", chart.recorder(ctx))],
    }
    if definition.category:
        res["category"] = [{"text": definition.category}]
    _apply(res, {k: f[k] for k in ("note", "disable_on") if k in f})
    written = await chart.create(ctx, res)
    ctx.loaders.forget(ctx.loaders.flags_by_patient, str(pid))
    return model.from_fhir(written)


async def update_alert(ctx: Scope, pid: str, aid: str, base_version: int, f: dict[str, Any]) -> model.Alert:
    """PATCH the alert: scope, urgency, status, note, disable date and disabled time (only the fields sent)."""
    res = await _alert(ctx, pid, aid)
    _apply(res, f)
    return await _save(ctx, res, base_version)


async def disable_alert(ctx: Scope, pid: str, aid: str, base_version: int) -> model.Alert:
    """Disable an active alert, recording now as its disabled time."""
    res = await _alert(ctx, pid, aid)
    current = model.status_of(res)
    if current is not model.AlertStatus.ACTIVE:
        raise InvalidTransition(f"Only an active alert can be disabled; this one is {current.value}",
                                current=current.value, target="disabled")
    _apply(res, {"status": model.AlertStatus.DISABLED})
    return await _save(ctx, res, base_version)


async def archive_alert(ctx: Scope, pid: str, aid: str, base_version: int | None) -> model.Alert:
    """Archive (dismiss) the alert; an archived one is returned unchanged."""
    res = await _alert(ctx, pid, aid)
    if model.status_of(res) is model.AlertStatus.ARCHIVED:
        return model.from_fhir(res)
    _apply(res, {"status": model.AlertStatus.ARCHIVED})
    return await _save(ctx, res, base_version)


async def bulk_dismiss(ctx: Scope, pid: str, ids: list[str]) -> model.BulkDismissResult:
    """Archive up to 50 of the patient's alerts; those already archived are skipped. Every id is checked
    before anything is written: one unknown, or another patient's, and nothing changes (``NotFound``)."""
    ids = list(dict.fromkeys(str(i) for i in ids))
    if len(ids) > BULK_MAX:
        raise Invalid(f"At most {BULK_MAX} alerts can be dismissed at once; {len(ids)} were sent", field="alertIds",
                      max=BULK_MAX)
    await chart.patient_reference(ctx, pid)
    found = await ctx.repo.read_many(ctx.who, "Flag", ids)
    for n, aid in enumerate(ids):
        if aid not in found or ref_id(found[aid].get("subject"), "Patient") != str(pid):
            raise NotFound(f"Alert {aid} not found for this patient", field=f"alertIds.{n}")
    # One transaction: every alert archived, or none (a concurrent change to any of them: VERSION_CONFLICT).
    entries: list[Entry] = []
    for aid in ids:
        res = found[aid]
        if model.status_of(res) is not model.AlertStatus.ARCHIVED:
            version = res["meta"]["versionId"]
            _apply(res, {"status": model.AlertStatus.ARCHIVED})
            entries.append(Entry(len(entries), "PUT", "Flag", rid=aid, resource=res, if_match=str(version)))
    written = {o.result.resource["id"]: o.result.resource
               for o in (await ctx.repo.transaction(ctx.who, entries) if entries else []) if o.result is not None}
    out = [model.from_fhir(written.get(aid, found[aid])) for aid in ids]
    ctx.loaders.forget(ctx.loaders.flags_by_patient, str(pid))
    return model.BulkDismissResult(alerts=out, archived_count=len(entries), skipped_count=len(ids) - len(entries))


async def _alert(ctx: Scope, pid: str, aid: str) -> Resource:
    """The Flag ``aid`` of the patient ``pid``; ``NotFound`` for an unknown patient, alert, or another
    patient's alert."""
    await chart.patient_reference(ctx, pid)
    found = await ctx.repo.read_many(ctx.who, "Flag", [str(aid)])
    res = found.get(str(aid))
    if res is None or ref_id(res.get("subject"), "Patient") != str(pid):
        raise NotFound(f"Alert {aid} not found for this patient", field="id")
    return res


def _apply(res: Resource, f: dict[str, Any]) -> None:
    if "scope" in f:
        if f["scope"] is None:
            raise Invalid("scope cannot be cleared", field="input.scope")
        set_ext(res, "alert-scope", "valueCode", f["scope"].value)
    if "is_urgent" in f:
        set_ext(res, "alert-urgent", "valueBoolean", bool(f["is_urgent"]))
    if "note" in f:
        note = (f["note"] or "").strip() or None
        if note is not None and len(note) > NOTE_MAX:
            raise Invalid(f"note is longer than {NOTE_MAX} characters", field="input.note")
        set_ext(res, "alert-note", "valueString", note)
    if "disable_on" in f:
        period = res.setdefault("period", {})
        if f["disable_on"] is None:
            period.pop("end", None)
        else:
            check_date(f["disable_on"], "disable_on")
            period["end"] = f["disable_on"]
    if "status" in f:
        status = f["status"]
        if status is None:
            raise Invalid("status cannot be cleared", field="input.status")
        res["status"] = FLAG_STATUS[status]
        set_ext(res, "archived-at", "valueDateTime",
                now_seconds() if status is model.AlertStatus.ARCHIVED else None)
        if status is model.AlertStatus.ACTIVE:
            set_ext(res, "alert-disabled-at", "valueDateTime", None)
        elif status is model.AlertStatus.DISABLED and "date_disabled" not in f:
            set_ext(res, "alert-disabled-at", "valueDateTime", now_seconds())
    if "date_disabled" in f:
        set_ext(res, "alert-disabled-at", "valueDateTime",
                None if f["date_disabled"] is None else _instant(f["date_disabled"], "dateDisabled"))


NOTE_MAX = 2000


def _instant(value: Any, field: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise Invalid(f"{field} must be an ISO 8601 date-time, e.g. 2026-05-01T09:30:00Z",
                      field=f"input.{field}") from None
    if moment.tzinfo is None:
        raise Invalid(f"{field} needs a time zone, e.g. 2026-05-01T09:30:00Z", field=f"input.{field}")
    return instant(moment)


async def _save(ctx: Scope, res: Resource, base_version: int | None) -> model.Alert:
    written = await ctx.repo.update(ctx.who, "Flag", res["id"], res,
                                    if_match=str(base_version) if base_version is not None else None)
    pid = ref_id(res.get("subject"), "Patient")
    if pid:
        ctx.loaders.forget(ctx.loaders.flags_by_patient, pid)
    return model.from_fhir(written.resource)
