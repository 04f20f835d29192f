"""A patient's custom field values (seed 003 patients/{id}/field-values and /form): the values set, the form
view (every active definition with its value, in order) and the bulk upsert, each value typed and validated
against its definition. Records and the FHIR mapping: resolvers/model/field_value.py."""

from __future__ import annotations

from typing import Any

from resolvers import catalog as catalog_r
from resolvers.context import Scope
from resolvers.model import catalog as catalog_m
from resolvers.model import field_value as model
from resolvers.pagination import Out, Paging
from store.clock import now_seconds
from store.errors import Invalid, NotFound, PreconditionFailed

Resource = dict[str, Any]

UPSERT_MAX = 100
WRITE_ATTEMPTS = 3


async def _patient(ctx: Scope, pid: str) -> Resource:
    res: Resource | None = await ctx.loaders.patients_by_id.load(str(pid))
    if res is None:
        raise NotFound(f"Patient {pid} not found", field="patientId")
    return res


def _order(v: model.FieldValue) -> tuple[str, str]:
    return f"{v.definition.item_order:010d}", str(v.definition.name).lower()


async def _values(ctx: Scope, patient: Resource) -> list[model.FieldValue]:
    stored = model.stored_values(patient)
    found = await catalog_r.definitions(ctx, catalog_m.FIELD_KIND, list(stored))
    return [model.FieldValue(definition=catalog_m.field_definition(found[did]), value=model.as_text(s.value),
                             updated_at=s.updated_at)
            for did, s in stored.items() if did in found]


async def field_values(ctx: Scope, pid: str, paging: Paging[Out]) -> Out:
    """The values set on the patient (fields without a value are left out), in form order."""
    values = await _values(ctx, await _patient(ctx, pid))
    return paging(values, key=_order, rid=lambda v: str(v.definition.id), node=lambda v: v,
                  default=ctx.settings.max_page_size, maximum=ctx.settings.max_page_size)


async def field_form(ctx: Scope, pid: str) -> model.FieldForm:
    """Every active field definition in order, merged with the patient's value (or null)."""
    patient, catalog = await _patient(ctx, pid), await ctx.loaders.catalogs_by_kind.load(catalog_m.FIELD_KIND)
    stored = model.stored_values(patient)
    items = []
    for res in catalog:
        if catalog_m.is_archived(res):
            continue
        s = stored.get(res["id"])
        items.append(model.FieldValue(definition=catalog_m.field_definition(res),
                                      value=model.as_text(s.value) if s else None,
                                      updated_at=s.updated_at if s else None))
    items.sort(key=lambda v: (*_order(v), str(v.definition.id)))
    missing = [v.definition.id for v in items if v.definition.is_required and v.value is None]
    return model.FieldForm(items=items, missing_required=missing)


async def upsert_field_values(ctx: Scope, pid: str, entries: list[dict[str, Any]]) -> list[model.FieldValue]:
    """Set or clear (value null) several values at once: all are checked before the patient is written once."""
    if not entries:
        raise Invalid("fields needs at least one field value", field="fields")
    if len(entries) > UPSERT_MAX:
        raise Invalid(f"At most {UPSERT_MAX} field values at once; {len(entries)} were sent", field="fields",
                      max=UPSERT_MAX)
    ids = [str(e["field_definition_id"]) for e in entries]
    for n, did in enumerate(ids):
        if did in ids[:n]:
            raise Invalid("A field can be set only once per call", field=f"fields.{n}.fieldDefinitionId")
    await _patient(ctx, pid)
    found = await catalog_r.definitions(ctx, catalog_m.FIELD_KIND, ids)
    changes: list[tuple[catalog_m.FieldDefinition, Any]] = []
    for n, (did, entry) in enumerate(zip(ids, entries, strict=True)):
        where = f"fields.{n}"
        if did not in found:
            raise NotFound(f"Field definition {did} not found", field=f"{where}.fieldDefinitionId")
        if catalog_m.is_archived(found[did]):
            raise NotFound(f"Field definition {did} is archived", field=f"{where}.fieldDefinitionId")
        definition = catalog_m.field_definition(found[did])
        text = entry.get("value")
        value = None if text is None or not str(text).strip() else model.parse(definition, str(text),
                                                                               f"{where}.value")
        if value is None and definition.is_required:
            raise Invalid(f"'{definition.name}' is required and cannot be cleared", field=f"{where}.value")
        changes.append((definition, value))
    written = await _write(ctx, pid, changes)
    stored = model.stored_values(written)
    return [model.FieldValue(definition=d, value=model.as_text(s.value) if (s := stored.get(str(d.id))) else None,
                             updated_at=s.updated_at if s else None) for d, _ in changes]


async def _write(ctx: Scope, pid: str, changes: list[tuple[catalog_m.FieldDefinition, Any]]) -> Resource:
    """The patient with ``changes`` applied, written against the version read (re-read on a concurrent write,
    so that no other change to the patient is lost)."""
    for attempt in range(WRITE_ATTEMPTS):
        try:
            patient = await ctx.repo.read(ctx.who, "Patient", str(pid))
        except Invalid as exc:  # not even a FHIR id: no such patient
            raise NotFound(f"Patient {pid} not found", field="patientId") from exc
        at = now_seconds()
        for definition, value in changes:
            model.put(patient, definition, value, at)
        try:
            result = await ctx.repo.update(ctx.who, "Patient", str(pid), patient,
                                           if_match=patient["meta"]["versionId"])
        except PreconditionFailed:
            if attempt == WRITE_ATTEMPTS - 1:
                raise
            continue
        ctx.loaders.prime(ctx.loaders.patients_by_id, str(pid), result.resource)
        return result.resource
    raise PreconditionFailed(f"Patient {pid} is being updated concurrently; retry")
