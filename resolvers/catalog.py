"""The org catalogs (seed 003 patient-alert-, patient-tag- and patient-field-definitions): list, get, create,
update with baseVersion, archive; and the look-ups the chart uses to refer to a definition (an alert's, a
patient tag's, a custom field value's). Records and their FHIR Basic mapping: resolvers/model/catalog.py.

A catalog is read whole, in one batched search per request (``Loaders.catalogs_by_kind``): an org keeps tens
to hundreds of definitions, and its order (item order, then name) and text search are computed here."""

from __future__ import annotations

from typing import Any

from resolvers.context import Info, Scope
from resolvers.loaders import Soon, when_loaded
from resolvers.model import catalog as model
from resolvers.model.common import Tag
from resolvers.pagination import Connection, resolve_connection
from store.clock import now_seconds
from store.errors import Invalid, NotFound
from store.keys import fold
from store.naming import CS

Resource = dict[str, Any]

# Settings a new definition gets when the input leaves them out.
DEFAULTS: dict[str, dict[str, Any]] = {
    model.ALERT_KIND: {"item_order": 0, "default_scope": "patient", "default_is_urgent": False},
    model.TAG_KIND: {"item_order": 0},
    model.FIELD_KIND: {"item_order": 0, "is_required": False},
}


# ---------------------------------------------------------------------------------------------- reading


async def list_definitions(ctx: Scope, kind: str, *, search: str | None = None, category: str | None = None,
                           include_archived: bool = False, first: int | None = None,
                           after: str | None = None) -> Connection[Any]:
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
    return resolve_connection(records, key=lambda d: (f"{d.item_order:010d}", fold(d.name)), rid=lambda d: str(d.id),
                              node=lambda d: d, first=first, after=after, default=ctx.settings.default_page_size,
                              maximum=ctx.settings.max_page_size)


def get_definition(ctx: Scope, kind: str, did: str | None) -> Soon[Any]:
    """The definition ``did`` of the catalog ``kind`` (archived ones too), or None."""
    if not did:
        return None
    return when_loaded(ctx.loaders.basics_by_id, str(did),
                       lambda res: model.BUILD[kind](res) if res and model.kind_of(res) == kind else None)


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


async def create_definition(ctx: Scope, kind: str, f: dict[str, Any]) -> Any:
    res = model.new_basic(kind)
    res["created"] = now_seconds()[:10]
    model.apply_fields(res, {**DEFAULTS[kind], **{k: v for k, v in f.items() if v is not None}})
    written = await ctx.repo.create(ctx.who, res)
    ctx.loaders.prime(ctx.loaders.basics_by_id, written.resource["id"], written.resource)
    return model.BUILD[kind](written.resource)


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
