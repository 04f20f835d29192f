"""The org catalogs (seed 003 settings): alert, tag and custom-field definitions, each a FHIR Basic whose
``code`` names the catalog (store/naming.py "Catalogs"), so FHIR REST lists one with
``GET /fhir/r4/Basic?code=https://fhirgraph.dev/fhir/CodeSystem/catalog|tag-definition``.

Archiving is a soft delete (the seed's ``deleted_at``): the Basic stays, with its archive time, so that alerts,
tags and field values written against it keep resolving its name."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.alert import AlertScope
from resolvers.model.common import created_at
from store.errors import Invalid
from store.fhirjson import code_of, concept, ext_map, version
from store.keys import fold
from store.naming import CS, EXT

Resource = dict[str, Any]

ALERT_KIND = "alert-definition"
TAG_KIND = "tag-definition"
FIELD_KIND = "field-definition"
KINDS = (ALERT_KIND, TAG_KIND, FIELD_KIND)
NAMES = {ALERT_KIND: "Alert definition", TAG_KIND: "Tag definition", FIELD_KIND: "Field definition"}

NAME_MAX = 120
DESCRIPTION_MAX = 1000
OPTION_MAX = 200
OPTIONS_MAX = 100
COLOR_DIGITS = frozenset("0123456789abcdefABCDEF")


class FieldType(Enum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"
    DROPDOWN = "dropdown"


FIELD_TYPE_DESCRIPTIONS = {
    FieldType.TEXT: "Free text, up to 1,000 characters.",
    FieldType.NUMBER: "A decimal number, sent and returned as a string such as \"42\" or \"3.5\".",
    FieldType.DATE: "A calendar date, YYYY-MM-DD.",
    FieldType.BOOLEAN: "Yes or no, sent and returned as \"true\" or \"false\".",
    FieldType.DROPDOWN: "One of the definition's dropdownOptions, exactly as written there.",
}


@dataclass(eq=False, kw_only=True)
class CatalogEntry:
    id: strawberry.ID = strawberry.field(description="Unique identifier of the definition.")
    version: int = strawberry.field(
        description="Optimistic-concurrency version: pass it as baseVersion to update or archive.")
    name: str = strawberry.field(description="Display name shown to staff (1–120 characters).")
    description: str | None = strawberry.field(description="Longer explanation for staff, when set.")
    item_order: int = strawberry.field(
        description="Position in pickers and forms: lists sort by itemOrder, then name (0 first).")
    created_at: str | None = strawberry.field(description="When the definition was created (ISO 8601 instant).")
    updated_at: str | None = strawberry.field(description="When it was last changed (ISO 8601 instant).")
    archived_at: str | None = strawberry.field(
        description="When it was archived (ISO 8601 instant); null while active. Archived definitions are hidden "
                    "from lists unless includeArchived is true, and cannot be assigned to patients.")


@dataclass(eq=False, kw_only=True)
class AlertDefinition(CatalogEntry):
    category: str | None = strawberry.field(description="Free-form grouping such as \"clinical\" or \"billing\".")
    default_scope: AlertScope = strawberry.field(
        description="Scope a new patient alert of this definition gets when none is given.")
    default_is_urgent: bool = strawberry.field(
        description="Urgency a new patient alert of this definition gets when none is given.")


@dataclass(eq=False, kw_only=True)
class TagDefinition(CatalogEntry):
    category: str | None = strawberry.field(description="Free-form grouping of tags in pickers.")
    color: str | None = strawberry.field(description="Display colour as CSS hex, #RGB or #RRGGBB.")


@dataclass(eq=False, kw_only=True)
class FieldDefinition(CatalogEntry):
    field_type: FieldType = strawberry.field(description="What kind of value the field holds.")
    dropdown_options: list[str] = strawberry.field(
        description="The allowed values of a DROPDOWN field, in display order; empty for other types.")
    is_required: bool = strawberry.field(
        description="Whether the field must have a value: clearing it is refused with VALIDATION.")


def kind_of(res: Resource) -> str | None:
    """Which catalog a Basic belongs to (None: not a catalog entry)."""
    kind = code_of(res.get("code"), CS["catalog"])
    return kind if kind in KINDS else None


def is_archived(res: Resource) -> bool:
    return bool(ext_map(res).get(EXT["archived-at"]))


def _common(res: Resource, values: dict[str, Any]) -> dict[str, Any]:
    order = values.get(EXT["catalog-order"])
    return {"id": strawberry.ID(res["id"]), "version": version(res), "name": str(values.get(EXT["catalog-name"]) or ""),
            "description": values.get(EXT["catalog-description"]),
            "item_order": order if isinstance(order, int) else 0,
            "created_at": created_at(res), "updated_at": (res.get("meta") or {}).get("lastUpdated"),
            "archived_at": values.get(EXT["archived-at"])}


def alert_definition(res: Resource) -> AlertDefinition:
    v = ext_map(res)
    return AlertDefinition(**_common(res, v), category=v.get(EXT["catalog-category"]),
                           default_scope=AlertScope.FAMILY if v.get(EXT["alert-default-scope"]) == "family"
                           else AlertScope.PATIENT,
                           default_is_urgent=bool(v.get(EXT["alert-default-urgent"], False)))


def tag_definition(res: Resource) -> TagDefinition:
    v = ext_map(res)
    return TagDefinition(**_common(res, v), category=v.get(EXT["catalog-category"]), color=v.get(EXT["catalog-color"]))


def field_definition(res: Resource) -> FieldDefinition:
    v = ext_map(res)
    try:
        field_type = FieldType(v.get(EXT["field-type"]))
    except ValueError:
        field_type = FieldType.TEXT
    return FieldDefinition(**_common(res, v), field_type=field_type, dropdown_options=_options(res),
                           is_required=bool(v.get(EXT["field-required"], False)))


def _options(res: Resource) -> list[str]:
    return [str(e.get("valueString")) for e in res.get("extension") or ()
            if e.get("url") == EXT["field-option"] and e.get("valueString")]


BUILD = {ALERT_KIND: alert_definition, TAG_KIND: tag_definition, FIELD_KIND: field_definition}


# ---------------------------------------------------------------------------------------------- writing


def new_basic(kind: str) -> Resource:
    return {"resourceType": "Basic", "code": concept(CS["catalog"], kind, NAMES[kind])}


# Input field → (extension, value key) of the scalar settings every catalog shares or one catalog adds.
SCALARS: dict[str, tuple[str, str]] = {
    "name": ("catalog-name", "valueString"),
    "description": ("catalog-description", "valueString"),
    "category": ("catalog-category", "valueString"),
    "item_order": ("catalog-order", "valueInteger"),
    "color": ("catalog-color", "valueString"),
    "default_scope": ("alert-default-scope", "valueCode"),
    "default_is_urgent": ("alert-default-urgent", "valueBoolean"),
    "field_type": ("field-type", "valueCode"),
    "is_required": ("field-required", "valueBoolean"),
}
_CAMEL = {"item_order": "itemOrder", "default_scope": "defaultScope", "default_is_urgent": "defaultIsUrgent",
          "field_type": "fieldType", "is_required": "isRequired", "dropdown_options": "dropdownOptions"}


def apply_fields(res: Resource, f: dict[str, Any]) -> None:
    """Apply a create or PATCH input (only the fields sent) to the Basic, after checking each."""
    for name, value in f.items():
        if name == "base_version":
            continue
        value = _checked(name, value)
        if name == "dropdown_options":
            _set_options(res, value)
            continue
        ext_name, key = SCALARS[name]
        _set(res, EXT[ext_name], key, value.value if isinstance(value, Enum) else value)
    if kind_of(res) == FIELD_KIND:
        _check_options(res)


def set_archived(res: Resource, at: str) -> None:
    _set(res, EXT["archived-at"], "valueDateTime", at)


def _set(res: Resource, url: str, key: str, value: Any) -> None:
    kept = [e for e in res.get("extension") or () if e.get("url") != url]
    if value is not None:
        kept.append({"url": url, key: value})
    _put_extensions(res, kept)


def _set_options(res: Resource, options: list[str] | None) -> None:
    url = EXT["field-option"]
    kept = [e for e in res.get("extension") or () if e.get("url") != url]
    _put_extensions(res, kept + [{"url": url, "valueString": o} for o in options or ()])


def _put_extensions(res: Resource, extensions: list[Resource]) -> None:
    if extensions:
        res["extension"] = extensions
    else:  # FHIR has no empty arrays
        res.pop("extension", None)


def _checked(name: str, value: Any) -> Any:
    """The input value as stored (trimmed text, None for blank optional text), or ``Invalid`` naming the field."""
    field = _CAMEL.get(name, name)
    path = f"input.{field}"
    if isinstance(value, str):
        value = value.strip() or None
    if name == "name":
        if not value:
            raise Invalid("name is required and cannot be blank", field=path)
        if len(value) > NAME_MAX:
            raise Invalid(f"name is longer than {NAME_MAX} characters", field=path)
    elif name in ("description", "category") and value and len(value) > DESCRIPTION_MAX:
        raise Invalid(f"{field} is longer than {DESCRIPTION_MAX} characters", field=path)
    elif name == "item_order" and value is not None and value < 0:
        raise Invalid("itemOrder must be 0 or more", field=path)
    elif name == "color" and value is not None and not _is_hex_color(value):
        raise Invalid("color must be a CSS hex colour such as #1E90FF", field=path)
    elif name in ("field_type", "default_scope") and value is None:
        raise Invalid(f"{field} cannot be cleared", field=path)
    elif name == "dropdown_options" and value is not None:
        value = [o.strip() if isinstance(o, str) else o for o in value]
        if any(not o for o in value):
            raise Invalid("dropdownOptions cannot hold blank options", field=path)
        if len(value) > OPTIONS_MAX or any(len(o) > OPTION_MAX for o in value):
            raise Invalid(f"dropdownOptions holds at most {OPTIONS_MAX} options of {OPTION_MAX} characters",
                          field=path)
        if len({fold(o) for o in value}) != len(value):
            raise Invalid("dropdownOptions cannot repeat an option", field=path)
    return value


def _check_options(res: Resource) -> None:
    dropdown, options = ext_map(res).get(EXT["field-type"]) == FieldType.DROPDOWN.value, _options(res)
    if dropdown and not options:
        raise Invalid("A DROPDOWN field needs at least one of dropdownOptions", field="input.dropdownOptions")
    if not dropdown and options:
        raise Invalid("dropdownOptions are only for DROPDOWN fields", field="input.dropdownOptions")


def _is_hex_color(value: str) -> bool:
    return value.startswith("#") and len(value) in (4, 7) and all(c in COLOR_DIGITS for c in value[1:])
