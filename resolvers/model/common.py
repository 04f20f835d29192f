"""Small shared records: lightweight references and tags."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import EnumMeta
from typing import Any, ClassVar, TypeVar

import strawberry

from store.errors import Invalid
from store.fhirjson import ext
from store.naming import EXT

E = TypeVar("E", bound=EnumMeta)
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")  # fromisoformat alone also takes 20240501 and 2024-W01-1
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})")

# The descriptions every record's id and version share.
ID_DESCRIPTION = "Opaque id; stable for the life of the record."
VERSION_DESCRIPTION = ("Version of the record, increasing with every change; send it back as baseVersion when you "
                       "change it.")


@dataclass(eq=False, kw_only=True)
class EntityRef:
    id: strawberry.ID = strawberry.field(description="Id of the referenced record (a location, provider, …).")
    name: str | None = strawberry.field(default=None, description="Its display name, when known.")


@dataclass(eq=False, kw_only=True)
class Tag:
    code: str = strawberry.field(description="The tag definition's id (older tags: a free code such as \"vip\").")
    display: str | None = strawberry.field(default=None, description="The tag's name when it was assigned.")


class Lazy:
    """A record whose fields are read from its FHIR resource when first asked for, and kept (mix it in before the
    record's dataclass): a list or a chart selects a handful of a record's fields, and a record mapped whole costs
    more than the rest of its row. ``FIELDS``: each field from the ``READING`` of the resource (what fields share,
    computed once), the table the record's eager ``from_fhir`` reads whole. The resource must not change meanwhile
    (the loaders' resources never do: a write primes a new version)."""

    READING: ClassVar[type]
    FIELDS: ClassVar[dict[str, Callable[[Any], Any]]]

    def __init__(self, res: dict[str, Any]):  # not the dataclass's: no field is read yet
        self.__dict__["_reading"] = type(self).READING(res)
        self.__dict__["id"] = res["id"]

    def __getattr__(self, name: str) -> Any:
        field = self.FIELDS.get(name)
        if field is None:
            raise AttributeError(name)
        value = self.__dict__[name] = field(self.__dict__["_reading"])
        return value


def provided(fields: dict[str, object]) -> dict[str, object]:
    """The entries a client actually sent (the door leaves the others out or as ``strawberry.UNSET``)."""
    return {k: v for k, v in fields.items() if v is not strawberry.UNSET}


def opt_id(value: str | None) -> strawberry.ID | None:
    """An id field's value: a GraphQL ID, or None for a missing or empty one."""
    return strawberry.ID(value) if value else None


def enum_type(enum: E, description: str, values: dict[Any, str], *, name: str | None = None) -> E:
    """A Python enum of resolvers/model/ declared as a GraphQL enum (``name``: another name than the class's),
    with a description for the type and for each of its values (keyed by member or member name; every member
    needs one), which strawberry otherwise only takes from ``enum_value`` members — and those would change the
    records' plain enums. Call it beside the enum, or at least before any type using it is declared: a type
    declared first would meet the enum undescribed."""
    strawberry.enum(enum, name=name, description=description)
    by_name = {getattr(key, "name", key): text for key, text in values.items()}
    for value in enum.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = by_name[value.name]
    return enum


def created_at(res: dict[str, object]) -> str | None:
    """When the resource was first written: the store's ``meta`` created stamp (else version 1's lastUpdated)."""
    meta = res.get("meta")
    if not isinstance(meta, dict):
        return None
    for e in meta.get("extension") or ():
        if isinstance(e, dict) and e.get("url") == EXT["created"]:
            return str(e.get("valueInstant")) if e.get("valueInstant") else None
    return meta.get("lastUpdated") if meta.get("versionId") == "1" else None


def recorded_by(ref: Any) -> str | None:
    """Who wrote a record, from the reference the API kept (resolvers/chart.py ``recorder``): the user's FHIR
    record (``Practitioner/123``) or, for an API client, its name."""
    if not isinstance(ref, dict):
        return None
    value = ref.get("reference") or ref.get("display")
    return str(value) if value else None


def updated_at(res: dict[str, object]) -> str | None:
    """When a resource's current version was written (``meta.lastUpdated``)."""
    meta = res.get("meta")
    value = meta.get("lastUpdated") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def deleted_at(res: dict[str, object]) -> str | None:
    """When a chart record was archived (its ``archived-at`` extension), None while it is current."""
    value = ext(res, "archived-at") if "extension" in res else None
    return value if isinstance(value, str) else None


def put(obj: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key``, or remove it for an empty value (FHIR JSON has no empty strings, arrays, objects or nulls)."""
    if value is None or value == "" or value == [] or value == {}:
        obj.pop(key, None)
    else:
        obj[key] = value


def camel(name: str) -> str:
    """The GraphQL name of a Python (snake_case) field or argument name: ``date_of_birth`` → ``dateOfBirth``
    (strawberry's own conversion; a trailing ``_``, as in ``from_``, is dropped)."""
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def graphql_path(path: str) -> str:
    """``rows.3.date_of_birth`` → ``rows.3.dateOfBirth``: an input path in the schema's names."""
    return ".".join(camel(p) for p in path.split("."))


def invalid(field: str, message: str, prefix: str = "input") -> Invalid:
    """A VALIDATION error naming the input field (snake_case name) by its GraphQL path."""
    return Invalid(message, field=f"{prefix}.{camel(field)}" if prefix else camel(field))


def check_date(value: Any, field: str, prefix: str = "input") -> None:
    """VALIDATION naming the input ``prefix.field`` (snake_case ``field``; no prefix: an argument) unless
    ``value`` is absent or a calendar date written YYYY-MM-DD."""
    if value is None:
        return
    try:
        if not isinstance(value, str) or not DATE.fullmatch(value):
            raise ValueError(value)
        date.fromisoformat(value)
    except ValueError:
        raise invalid(field, f"{camel(field)} must be a date written YYYY-MM-DD", prefix) from None


def check_dates(prefix: str = "", **dates: str | None) -> None:
    """``check_date`` for each of a filter's dates (by default: arguments), named by their snake_case names."""
    for field, value in dates.items():
        check_date(value, field, prefix)


def date_or_instant(value: str | None, field: str, prefix: str = "") -> date | datetime | None:
    """A filter bound that is either a date (YYYY-MM-DD: the whole day) or an ISO 8601 date-time with a time
    zone (that instant); VALIDATION naming ``prefix.field`` otherwise."""
    if value is None:
        return None
    if DATE.fullmatch(value):
        check_date(value, field, prefix)
        return date.fromisoformat(value)
    if DATETIME.fullmatch(value):
        check_datetime(value, field, prefix)
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    raise invalid(field, f"{camel(field)} must be a date written YYYY-MM-DD or an ISO 8601 date-time with a time "
                         "zone, e.g. 2024-05-01T14:30:00Z", prefix)


def within(value: str | None, start: date | datetime | None, end: date | datetime | None) -> bool:
    """Whether the date-time ``value`` (ISO 8601 with its offset) lies in [start, end], both inclusive: a date
    bound is the whole day of ``value`` as written (its own offset), a date-time bound an instant."""
    if start is None and end is None:
        return True
    if not value:
        return False
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    for bound, after in ((start, True), (end, False)):
        if bound is None:
            continue
        if isinstance(bound, datetime):
            if when.tzinfo is None or (when < bound if after else when > bound):
                return False
        elif when.date() < bound if after else when.date() > bound:
            return False
    return True


def check_datetime(value: Any, field: str, prefix: str = "input") -> None:
    """VALIDATION (naming the input) unless ``value`` is absent or an ISO 8601 date-time with a time zone."""
    if value is None:
        return
    try:
        if not isinstance(value, str) or "T" not in value:
            raise ValueError(value)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError(value)
    except ValueError:
        raise invalid(field, f"{camel(field)} must be an ISO 8601 date-time with a time zone, "
                             "e.g. 2024-05-01T14:30:00Z", prefix) from None
