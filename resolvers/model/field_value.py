"""A patient's custom field values (seed 003 patients/{id}/field-values): one complex extension per field on the
FHIR Patient (store/naming.py "Field value"), so FHIR REST reads them with the patient. The value is typed by
the field's definition (valueString, valueDecimal, valueDate or valueBoolean) and exchanged as text here, in
one canonical form per type (resolvers/model/catalog.py ``FIELD_TYPE_DESCRIPTIONS``)."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import strawberry

from resolvers.model.catalog import FieldDefinition, FieldType
from store.errors import Invalid
from store.fhirjson import ref_id, reference, value_of
from store.keys import fold
from store.naming import EXT

Resource = dict[str, Any]

TEXT_MAX = 1000
VALUE_KEYS = {FieldType.TEXT: "valueString", FieldType.DROPDOWN: "valueString", FieldType.NUMBER: "valueDecimal",
              FieldType.DATE: "valueDate", FieldType.BOOLEAN: "valueBoolean"}


@dataclass(eq=False, kw_only=True)
class FieldValue:
    definition: FieldDefinition = strawberry.field(description="The custom field this value belongs to.")
    value: str | None = strawberry.field(
        description="The value in its type's text form (see FieldType); null when the field has no value.")
    updated_at: str | None = strawberry.field(description="When the value was last set (ISO 8601 instant).")


@dataclass(eq=False, kw_only=True)
class FieldForm:
    items: list[FieldValue] = strawberry.field(
        description="Every active custom field definition in form order (itemOrder, then name), each with the "
                    "patient's current value or null.")
    missing_required: list[strawberry.ID] = strawberry.field(
        description="Ids of the required fields that have no value yet (empty: the form is complete).")


@dataclass(frozen=True)
class Stored:
    """One custom-field extension as read from the Patient."""

    definition_id: str
    value: Any
    updated_at: str | None


def stored_values(patient: Resource) -> dict[str, Stored]:
    """The patient's custom field values by definition id."""
    out: dict[str, Stored] = {}
    for e in patient.get("extension") or ():
        if e.get("url") != EXT["custom-field"]:
            continue
        parts = _parts(e)
        did = ref_id(value_of(parts.get("definition")), "Basic")
        value = value_of(parts.get("value"))
        if did and value is not None:
            out[did] = Stored(did, value, value_of(parts.get("updated")))
    return out


def _parts(e: Resource) -> dict[str, Resource]:
    return {p.get("url"): p for p in e.get("extension") or ()}


def _is_value_of(e: Resource, did: str) -> bool:
    return e.get("url") == EXT["custom-field"] and ref_id(value_of(_parts(e).get("definition")), "Basic") == did


def as_text(value: Any) -> str | None:
    """A stored value in its text form."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse(definition: FieldDefinition, text: str, field: str) -> Any:
    """The stored value of ``text`` for ``definition``'s type, or ``Invalid`` naming ``field``."""
    t = definition.field_type
    raw = text.strip()
    if t is FieldType.TEXT:
        if len(raw) > TEXT_MAX:
            raise Invalid(f"'{definition.name}' takes at most {TEXT_MAX} characters", field=field)
        return raw
    if t is FieldType.NUMBER:
        try:
            number = float(raw)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise Invalid(f"'{definition.name}' takes a number such as 42 or 3.5", field=field)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if t is FieldType.DATE:
        try:
            day = dt.date.fromisoformat(raw).isoformat()
        except ValueError:
            day = None
        if day != raw:  # fromisoformat also reads 20260501 and week dates
            raise Invalid(f"'{definition.name}' takes a date, YYYY-MM-DD", field=field)
        return day
    if t is FieldType.BOOLEAN:
        if raw.lower() not in ("true", "false"):
            raise Invalid(f"'{definition.name}' takes true or false", field=field)
        return raw.lower() == "true"
    chosen = next((o for o in definition.dropdown_options if fold(o) == fold(raw)), None)
    if chosen is None:
        raise Invalid(f"'{definition.name}' takes one of its dropdown options", field=field,
                      options=definition.dropdown_options)
    return chosen


def put(patient: Resource, definition: FieldDefinition, value: Any, at: str) -> None:
    """Set (``value`` None: remove) the patient's value of ``definition``, keeping the others in place."""
    url = EXT["custom-field"]
    extensions = list(patient.get("extension") or ())
    index = next((n for n, e in enumerate(extensions) if _is_value_of(e, str(definition.id))), None)
    if value is None:
        if index is not None:
            del extensions[index]
    else:
        entry = {"url": url, "extension": [
            {"url": "definition", "valueReference": reference("Basic", str(definition.id), definition.name)},
            {"url": "value", VALUE_KEYS[definition.field_type]: value},
            {"url": "updated", "valueDateTime": at}]}
        if index is None:
            extensions.append(entry)
        else:
            extensions[index] = entry
    if extensions:
        patient["extension"] = extensions
    else:
        patient.pop("extension", None)
