"""A plain record of resolvers/model/ declared as a GraphQL object type in place (for records without
relation fields; the others are subclassed). Field descriptions given on the record with ``strawberry.field``
are kept: the record's dataclass took those fields off the class, and strawberry's own dataclass pass needs
them there again."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any, TypeVar

import strawberry
from strawberry.types.field import StrawberryField

T = TypeVar("T", bound=type)


def object_type(record: T, **options: Any) -> T:
    for field in dataclasses.fields(record):
        # (a field with a default left the default there instead: put the field back all the same)
        if isinstance(field, StrawberryField) and not isinstance(vars(record).get(field.name), StrawberryField):
            setattr(record, field.name, field)
    return strawberry.type(record, **options)


E = TypeVar("E", bound=type[Enum])


def described_enum(cls: E, description: str, values: dict[Any, str], *, name: str | None = None) -> E:
    """Declare the plain enum ``cls`` as a GraphQL enum with a description for the type and for each value
    (keyed by member or member name). The records' enums stay plain Python enums: their values are read from
    FHIR before strawberry is involved, which ``strawberry.enum_value`` members would not allow."""
    strawberry.enum(cls, name=name, description=description)
    by_name = {(k.name if isinstance(k, Enum) else k): text for k, text in values.items()}
    for value in cls.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = by_name[value.name]
    return cls
