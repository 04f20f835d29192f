"""The org catalogs (seed 003 patient-alert-, patient-tag- and patient-field-definitions, and the allergy,
medication, disease and communication-type definitions its chart records are recorded from): list, get, create
(once per idempotency key), update with baseVersion, archive; and the look-ups the chart uses to refer to a
definition (an alert's, a patient tag's, a custom field value's, an allergy's…). Records and their FHIR Basic
mapping: resolvers/model/catalog.py.

A catalog is read whole, in one batched search per request (``Loaders.catalogs_by_kind``): an org keeps tens
to hundreds of definitions, and its order (item order, then name) and text search are computed here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resolvers import idempotency
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, settle_found, when_loaded
from resolvers.model import catalog as model
from resolvers.model.common import Tag, camel
from resolvers.pagination import Out, Paging
from store.clock import now_seconds
from store.errors import Conflict, Invalid, NotFound
from store.keys import fold
from store.naming import CS

Resource = dict[str, Any]

# Settings a new definition gets when the input leaves them out.
DEFAULTS: dict[str, dict[str, Any]] = {
    model.ALERT_KIND: {"item_order": 0, "default_scope": "patient", "default_is_urgent": False},
    model.TAG_KIND: {"item_order": 0},
    model.FIELD_KIND: {"item_order": 0, "is_required": False},
    **{kind: {"item_order": 0} for kind in model.RECORDS},
}
# The createXDefinition operation of each catalog, naming its idempotency keys.
OPERATIONS = {model.ALERT_KIND: "createAlertDefinition", model.TAG_KIND: "createTagDefinition",
              model.FIELD_KIND: "createFieldDefinition", model.ALLERGY_KIND: "createAllergyDefinition",
              model.MEDICATION_KIND: "createMedicationDefinition", model.DISEASE_KIND: "createDiseaseDefinition",
              model.COMMUNICATION_TYPE_KIND: "createCommunicationTypeDefinition"}


# ---------------------------------------------------------------------------------------------- reading


async def list_definitions(ctx: Scope, kind: str, paging: Paging[Out], *, search: str | None = None,
                           category: str | None = None, include_archived: bool = False) -> Out:
    """One catalog in its order; archived entries only when asked for; ``search`` matches any part of the name
    (case- and accent-insensitively), ``category`` exactly (case-insensitively)."""
    rows = await ctx.loaders.catalogs_by_kind.load(kind)
    build = model.BUILD[kind]
    records = [build(r) for r in rows if include_archived or not model.is_archived(r)]
    if search and search.strip():
        needle = fold(search.strip())
        records = [d for d in records if needle in fold(d.name)]
    if category and category.strip():
        wanted = fold(category.strip())
        records = [d for d in records if fold(getattr(d, "category", None) or "") == wanted]
    return paging(records, key=lambda d: (f"{d.item_order:010d}", fold(d.name)), rid=lambda d: str(d.id),
                  node=lambda d: d, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size)


def get_definition(ctx: Scope, kind: str, did: str | None) -> Soon[Any]:
    """The definition ``did`` of the catalog ``kind`` (archived ones too), or None."""
    if not did:
        return None
    return when_loaded(ctx.loaders.basics_by_id, str(did),
                       lambda res: model.BUILD[kind](res) if res and model.kind_of(res) == kind else None)


async def find_definition(ctx: Scope, kind: str, did: str) -> Any:
    """The definition ``did`` of the catalog ``kind`` (archived ones too); ``NotFound`` when there is none."""
    return await settle_found(get_definition(ctx, kind, did), model.NAMES[kind], did)


async def definitions(ctx: Scope, kind: str, ids: list[str]) -> dict[str, Resource]:
    """The entries of the catalog ``kind`` among ``ids`` (archived ones too), by id, in one batched read."""
    found = await ctx.loaders.basics_by_id.load_many([str(i) for i in ids])
    return {str(i): r for i, r in zip(ids, found, strict=True) if r is not None and model.kind_of(r) == kind}


async def require_definitions(ctx: Scope, kind: str, ids: list[str], *, field: str,
                              indexed: bool = True) -> dict[str, Resource]:
    """The active entries ``ids`` of the catalog ``kind``; ``NotFound`` naming the first unknown or archived
    one (to be assigned to a patient, a definition must exist and be active): the list input ``field`` and its
    index (``input.tags.1``), or ``field`` alone when not ``indexed`` (the ids of one scalar input)."""
    found = await definitions(ctx, kind, ids)
    for n, did in enumerate(ids):
        res = found.get(str(did))
        where = f"{field}.{n}" if indexed else field
        if res is None:
            raise NotFound(f"{model.NAMES[kind]} {did} not found", field=where)
        if model.is_archived(res):
            raise NotFound(f"{model.NAMES[kind]} {did} is archived", field=where)
    return found


async def _current(ctx: Scope, kind: str, did: str) -> Resource:
    found = await definitions(ctx, kind, [did])
    if str(did) not in found:
        raise NotFound(f"{model.NAMES[kind]} {did} not found", field="id")
    return found[str(did)]


# ---------------------------------------------------------------------------------------------- writing


async def create_definition(ctx: Scope, kind: str, f: dict[str, Any], idempotency_key: str | None = None) -> Any:
    """A new definition; once per ``idempotency_key`` (resolvers/idempotency.py): a repeat answers the first."""
    res = model.new_basic(kind)
    res["created"] = now_seconds()[:10]
    model.apply_fields(res, {**DEFAULTS[kind], **{k: v for k, v in f.items() if v is not None}})

    async def create() -> tuple[Any, dict[str, Any]]:
        written = await ctx.repo.create(ctx.who, res)
        ctx.loaders.prime(ctx.loaders.basics_by_id, written.resource["id"], written.resource)
        return model.BUILD[kind](written.resource), {"id": written.resource["id"]}

    async def replay(earlier: dict[str, Any]) -> Any:
        found = await definitions(ctx, kind, [str(earlier.get("id"))])
        if not found:
            raise Conflict("The definition this idempotencyKey created no longer exists", field="idempotencyKey")
        return model.BUILD[kind](next(iter(found.values())))

    return await idempotency.once(ctx, OPERATIONS[kind], "Basic", idempotency_key, f, create, replay)


async def update_definition(ctx: Scope, kind: str, did: str, base_version: int, f: dict[str, Any]) -> Any:
    """PATCH: only the fields sent change; ``name`` cannot be cleared."""
    res = await _current(ctx, kind, did)
    model.apply_fields(res, f)
    return await _save(ctx, kind, res, base_version)


async def archive_definition(ctx: Scope, kind: str, did: str, base_version: int) -> Any:
    """Soft delete: hidden from lists by default and no longer assignable; what refers to it still resolves."""
    res = await _current(ctx, kind, did)
    if model.is_archived(res):
        raise Invalid(f"{model.NAMES[kind]} {did} is already archived", field="id")
    model.set_archived(res, now_seconds())
    return await _save(ctx, kind, res, base_version)


async def _save(ctx: Scope, kind: str, res: Resource, base_version: int) -> Any:
    written = await ctx.repo.update(ctx.who, "Basic", res["id"], res, if_match=str(base_version))
    ctx.loaders.prime(ctx.loaders.basics_by_id, res["id"], written.resource)
    return model.BUILD[kind](written.resource)


# ---------------------------------------------------------------------------------------------- chart records


async def with_definition(ctx: Scope, kind: str, f: dict[str, Any], linked: str | None = None) -> dict[str, Any]:
    """The chart-record input ``f`` with what its definition supplies (``model.RECORDS``): when ``f`` names an
    active definition of ``kind``, its name and codes, its defaults under ``f``'s own values, and
    ``definition``, the record's link to it; the definition sent as null unlinks the record (``definition``
    None), keeping its text and codes. ``linked``: the definition the record has (an update), whose name and
    codes are only changed by naming another definition or null.

    A supplied value ``f`` also sends (seed 003 takes ``rx_cui`` beside ``medication_definition_uuid``) is
    accepted when the definition has the same one or none (then it is the record's own); one that contradicts
    the definition is VALIDATION, so a record never says other than the definition it links to."""
    id_field, supplied = model.RECORDS[kind]
    if id_field not in f:
        if linked and any(k in f for k in supplied):
            found = await definitions(ctx, kind, [str(linked)])
            if str(linked) in found:
                _agrees(kind, f, model.record_fields(kind, found[str(linked)])[0],
                        f"; send {camel(id_field)}: null with it to write your own")
        return f
    rest = {k: v for k, v in f.items() if k != id_field}
    did = f[id_field]
    if did is None:
        return {**rest, "definition": None}
    found = await require_definitions(ctx, kind, [str(did)], field=f"input.{id_field}", indexed=False)
    fields, defaults = model.record_fields(kind, found[str(did)])
    _agrees(kind, rest, fields, "; leave it out or send the same")
    own = {k: v for k, v in fields.items() if v is not None or k not in rest}
    return {**defaults, **rest, **own}


def _agrees(kind: str, sent: dict[str, Any], fields: dict[str, Any], advice: str) -> None:
    """VALIDATION naming the first value of ``sent`` that the definition supplies otherwise."""
    for key in model.RECORDS[kind][1]:
        if key in sent and fields.get(key) is not None and sent[key] != fields[key]:
            raise Invalid(f"{camel(key)} {str(sent[key])[:64]!r} is not the {model.NAMES[kind].lower()}'s "
                          f"({fields[key]}){advice}", field=f"input.{key}")


def record_definition(kind: str) -> Callable[[Any, Info], Soon[Any]]:
    """The relation resolver of a chart record's definition of ``kind`` (archived ones too; None for a record
    written without one): one batched read for every record's."""
    id_field = model.RECORDS[kind][0]

    def definition(root: Any, info: Info) -> Soon[Any]:
        return get_definition(info.context, kind, getattr(root, id_field))

    return definition


# ---------------------------------------------------------------------------------------------- patient tags


async def check_tags(ctx: Scope, tags: list[str] | None, field: str = "tags") -> list[dict[str, str]]:
    """The ``meta.tag`` codings of a patient's tags, given as tag definition ids: each must be an active tag
    definition (``NotFound`` naming the first that is not); the coding's display is the definition's name."""
    ids = list(dict.fromkeys(str(t) for t in tags or ()))
    found = await require_definitions(ctx, model.TAG_KIND, ids, field=field)
    return [{"system": CS["patient-tag"], "code": i, "display": model.tag_definition(found[i]).name} for i in ids]


def tag_definition(root: Tag, info: Info) -> Soon[model.TagDefinition | None]:
    found: Soon[model.TagDefinition | None] = get_definition(info.context, model.TAG_KIND, root.code)
    return found


def tag_name(root: Tag, info: Info) -> Soon[str | None]:
    return when_loaded(info.context.loaders.basics_by_id, root.code,
                       lambda res: t.name if (t := _tag(res)) else root.display)


def tag_color(root: Tag, info: Info) -> Soon[str | None]:
    return when_loaded(info.context.loaders.basics_by_id, root.code,
                       lambda res: t.color if (t := _tag(res)) else None)


def _tag(res: Resource | None) -> model.TagDefinition | None:
    return model.tag_definition(res) if res and model.kind_of(res) == model.TAG_KIND else None
