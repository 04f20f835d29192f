"""A plain record of resolvers/model/ declared as a GraphQL object type in place (for records without
relation fields; the others are subclassed). Field descriptions given on the record with ``strawberry.field``
are kept: the record's dataclass took those fields off the class (or left their default there), and
strawberry's own dataclass pass needs them there again."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import strawberry
from strawberry.types.field import StrawberryField

T = TypeVar("T", bound=type)


def object_type(record: T, **options: Any) -> T:
    for field in dataclasses.fields(record):
        if isinstance(field, StrawberryField) and vars(record).get(field.name) is not field:
            setattr(record, field.name, field)  # a field with a default left the default there instead
    return strawberry.type(record, **options)
