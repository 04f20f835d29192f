"""The org catalogs (seed 003 settings): alert, tag and custom-field definitions, and the clinical catalogs the
chart records are recorded from (allergy, medication, disease/problem and communication-type definitions), each
a FHIR Basic whose ``code`` names the catalog (store/naming.py "Catalogs"), so FHIR REST lists one with
``GET /fhir/r4/Basic?code=https://fhirgraph.dev/fhir/CodeSystem/catalog|tag-definition``. A clinical definition
keeps its codes (SNOMED CT, RxNorm, ICD-10-CM, a communication category) as ``definition-code`` codings; a record
made from it copies them (``record_fields``) and links it by its ``<kind>`` extension.

Archiving is a soft delete (the seed's ``deleted_at``): the Basic stays, with its archive time, so that alerts,
tags and field values written against it keep resolving its name."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.alert import AlertScope
from resolvers.model.common import created_at
from store.errors import Invalid
from store.fhirjson import code_of, concept, ext_map, reference, version
from store.keys import fold
from store.naming import COMM_CATEGORY, CS, EXT, ICD10CM, RXNORM, SNOMED

Resource = dict[str, Any]

ALERT_KIND = "alert-definition"
TAG_KIND = "tag-definition"
FIELD_KIND = "field-definition"
ALLERGY_KIND = "allergy-definition"
MEDICATION_KIND = "medication-definition"
DISEASE_KIND = "disease-definition"
COMMUNICATION_TYPE_KIND = "communication-type"
KINDS = (ALERT_KIND, TAG_KIND, FIELD_KIND, ALLERGY_KIND, MEDICATION_KIND, DISEASE_KIND, COMMUNICATION_TYPE_KIND)
NAMES = {ALERT_KIND: "Alert definition", TAG_KIND: "Tag definition", FIELD_KIND: "Field definition",
         ALLERGY_KIND: "Allergy definition", MEDICATION_KIND: "Medication definition",
         DISEASE_KIND: "Disease definition", COMMUNICATION_TYPE_KIND: "Communication type"}

NAME_MAX = 120
DESCRIPTION_MAX = 1000
OPTION_MAX = 200
OPTIONS_MAX = 100
COLOR_DIGITS = frozenset("0123456789abcdefABCDEF")
ALLERGY_CATEGORIES = ("food", "medication", "environment", "biologic")
# The communication categories HL7 defines (others are the practice's own, in CS["communication-type"]).
HL7_COMM_CATEGORIES = ("alert", "notification", "reminder", "instruction")
CODE_PATTERNS = {  # input field → (pattern, what the message says it must be)
    "rx_cui": (re.compile(r"[0-9]{1,10}"), "an RxNorm concept id: 1 to 10 digits"),
    "snomed_code": (re.compile(r"[0-9]{6,18}"), "a SNOMED CT concept id: 6 to 18 digits"),
    "icd10_code": (re.compile(r"[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?"), "an ICD-10-CM code such as E11.9"),
    "comm_code": (re.compile(r"[a-z0-9][a-z0-9_-]{0,39}"),
                  "a short lower-case code (letters, digits, - and _; at most 40), e.g. reminder"),
    "code": (re.compile(r"\S{1,100}"), "a code of at most 100 characters without spaces"),
    "code_system": (re.compile(r"(https?://|urn:)\S{1,250}"), "an absolute URI (http://, https:// or urn:)"),
}


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


@dataclass(eq=False, kw_only=True)
class AllergyDefinition(CatalogEntry):
    code: str | None = strawberry.field(
        description="Code of the allergen in codeSystem (e.g. SNOMED CT 762952008 for peanut); null when the "
                    "definition is text only.")
    code_system: str | None = strawberry.field(
        description="Code system URI of code, e.g. http://snomed.info/sct or "
                    "http://www.nlm.nih.gov/research/umls/rxnorm; null without a code.")
    allergy_category: str | None = strawberry.field(
        description="food, medication, environment or biologic: the category an allergy recorded from this "
                    "definition gets when none is given.")


@dataclass(eq=False, kw_only=True)
class MedicationDefinition(CatalogEntry):
    category: str | None = strawberry.field(description="Free-form grouping such as \"antihypertensive\".")
    rx_cui: str | None = strawberry.field(description="RxNorm concept id (RXCUI) of the medication, when coded.")


@dataclass(eq=False, kw_only=True)
class DiseaseDefinition(CatalogEntry):
    category: str | None = strawberry.field(description="Free-form grouping such as \"cardiovascular\".")
    snomed_code: str | None = strawberry.field(description="SNOMED CT concept id of the disease or problem.")
    icd10_code: str | None = strawberry.field(description="ICD-10-CM code of the disease or problem, e.g. E11.9.")


@dataclass(eq=False, kw_only=True)
class CommunicationTypeDefinition(CatalogEntry):
    code: str | None = strawberry.field(
        description="Short code a communication logged with this type gets as its category (e.g. reminder, "
                    "billing); null when the type has a name only.")


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


def _codings(res: Resource) -> list[dict[str, str]]:
    return [e["valueCoding"] for e in res.get("extension") or ()
            if e.get("url") == EXT["definition-code"] and isinstance(e.get("valueCoding"), dict)]


def _code_in(res: Resource, system: str) -> str | None:
    return next((c.get("code") for c in _codings(res) if c.get("system") == system and c.get("code")), None)


def allergy_definition(res: Resource) -> AllergyDefinition:
    v, coding = ext_map(res), next(iter(_codings(res)), {})
    return AllergyDefinition(**_common(res, v), code=coding.get("code"), code_system=coding.get("system"),
                             allergy_category=v.get(EXT["allergy-category"]))


def medication_definition(res: Resource) -> MedicationDefinition:
    v = ext_map(res)
    return MedicationDefinition(**_common(res, v), category=v.get(EXT["catalog-category"]),
                                rx_cui=_code_in(res, RXNORM))


def disease_definition(res: Resource) -> DiseaseDefinition:
    v = ext_map(res)
    return DiseaseDefinition(**_common(res, v), category=v.get(EXT["catalog-category"]),
                             snomed_code=_code_in(res, SNOMED), icd10_code=_code_in(res, ICD10CM))


def communication_type(res: Resource) -> CommunicationTypeDefinition:
    return CommunicationTypeDefinition(**_common(res, ext_map(res)),
                                       code=next((c.get("code") for c in _codings(res) if c.get("code")), None))


def _options(res: Resource) -> list[str]:
    return [str(e.get("valueString")) for e in res.get("extension") or ()
            if e.get("url") == EXT["field-option"] and e.get("valueString")]


BUILD: dict[str, Any] = {ALERT_KIND: alert_definition, TAG_KIND: tag_definition, FIELD_KIND: field_definition,
                         ALLERGY_KIND: allergy_definition, MEDICATION_KIND: medication_definition,
                         DISEASE_KIND: disease_definition, COMMUNICATION_TYPE_KIND: communication_type}


# ---------------------------------------------------------------------------------------------- chart records

# The chart record input of a clinical definition: (the field naming the definition, the record's fields the
# definition supplies, which a client cannot also send). The record keeps the link in the extension named after
# the kind (store/naming.py "Def. link"), written by its model's apply_fields from ``definition``.
RECORDS = {
    ALLERGY_KIND: ("allergy_definition_id", ("allergen", "code", "code_system")),
    MEDICATION_KIND: ("medication_definition_id", ("name", "rx_cui")),
    DISEASE_KIND: ("disease_definition_id", ("name", "snomed_code", "icd10_code")),
    COMMUNICATION_TYPE_KIND: ("communication_type_id", ("category",)),
}


def record_fields(kind: str, res: Resource) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a chart record recorded from the definition ``res`` is written with: (the fields it supplies,
    defaults the input may override). ``definition`` is the record's link to it (a reference with its name)."""
    link = reference("Basic", res["id"], str(ext_map(res).get(EXT["catalog-name"]) or "") or None)
    if kind == ALLERGY_KIND:
        a = allergy_definition(res)
        return ({"allergen": a.name, "code": a.code, "code_system": a.code_system, "definition": link},
                {"category": a.allergy_category} if a.allergy_category else {})
    if kind == MEDICATION_KIND:
        m = medication_definition(res)
        return {"name": m.name, "rx_cui": m.rx_cui, "definition": link}, {}
    if kind == DISEASE_KIND:
        d = disease_definition(res)
        return {"name": d.name, "snomed_code": d.snomed_code, "icd10_code": d.icd10_code, "definition": link}, {}
    c = communication_type(res)
    return {"category": c.code, "category_display": c.name, "definition": link}, {}


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
    "allergy_category": ("allergy-category", "valueCode"),
}
# Input field → the code system of the ``definition-code`` coding it sets (None: the allergy's own codeSystem,
# or, for a communication type, HL7's categories or the practice's own).
CODES: dict[str, str | None] = {"code": None, "rx_cui": RXNORM, "snomed_code": SNOMED, "icd10_code": ICD10CM}
_CAMEL = {"item_order": "itemOrder", "default_scope": "defaultScope", "default_is_urgent": "defaultIsUrgent",
          "field_type": "fieldType", "is_required": "isRequired", "dropdown_options": "dropdownOptions",
          "allergy_category": "allergyCategory", "code_system": "codeSystem", "rx_cui": "rxCui",
          "snomed_code": "snomedCode", "icd10_code": "icd10Code"}


def apply_fields(res: Resource, f: dict[str, Any]) -> None:
    """Apply a create or PATCH input (only the fields sent) to the Basic, after checking each."""
    kind = kind_of(res)
    for name, value in f.items():
        if name == "base_version":
            continue
        value = _checked(name, value, kind)
        if name == "dropdown_options":
            _set_options(res, value)
        elif name in CODES:
            _set_code(res, kind, name, value, f)
        elif name == "code_system":
            if "code" not in f:  # else written with the code
                _set_code_system(res, value)
        else:
            ext_name, key = SCALARS[name]
            _set(res, EXT[ext_name], key, value.value if isinstance(value, Enum) else value)
    if kind == FIELD_KIND:
        _check_options(res)


def _set_code(res: Resource, kind: str | None, name: str, code: str | None, f: dict[str, Any]) -> None:
    """Set (or, for None, remove) the coding the input field ``name`` holds; the other codings stay."""
    system = CODES[name]
    if kind == ALLERGY_KIND:  # one coding, in the system sent (null: SNOMED CT), else the one it had
        sent = f.get("code_system")
        was = next(iter(_codings(res)), {}).get("system") if "code_system" not in f else None
        system, keep = (sent.strip() if isinstance(sent, str) else None) or was or SNOMED, None
    elif kind == COMMUNICATION_TYPE_KIND:
        system, keep = COMM_CATEGORY if code in HL7_COMM_CATEGORIES else CS["communication-type"], None
    else:
        keep = system
    kept = [e for e in res.get("extension") or () if e.get("url") != EXT["definition-code"]
            or (keep is not None and (e.get("valueCoding") or {}).get("system") != keep)]
    if code is not None:
        kept.append({"url": EXT["definition-code"], "valueCoding": {"system": system, "code": code}})
    _put_extensions(res, kept)


def _set_code_system(res: Resource, system: str | None) -> None:
    """An allergy definition's codeSystem, sent without a code: the code it has moves to that system."""
    codings = _codings(res)
    if not codings:
        if system is not None:
            raise Invalid("codeSystem needs a code", field="input.codeSystem")
        return
    codings[0]["system"] = system or SNOMED


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


def checked_code(name: str, value: Any, kind: str | None = None) -> Any:
    """A code input (``CODE_PATTERNS``) as stored: trimmed, None when blank, an ICD-10-CM code upper-cased;
    ``Invalid`` naming ``input.<field>`` when it does not have its system's shape. Definitions and the chart
    records that carry codes of their own (a free-text problem's ICD-10-CM code) check them here alike."""
    field = _CAMEL.get(name, name)
    if isinstance(value, str):
        value = value.strip() or None
    if name == "icd10_code" and value:
        value = value.upper()
    pattern = CODE_PATTERNS.get("comm_code" if name == "code" and kind == COMMUNICATION_TYPE_KIND else name)
    if pattern is not None and value is not None and not pattern[0].fullmatch(value):
        raise Invalid(f"{field} must be {pattern[1]}", field=f"input.{field}")
    return value


def _checked(name: str, value: Any, kind: str | None = None) -> Any:
    """The input value as stored (trimmed text, None for blank optional text), or ``Invalid`` naming the field."""
    field = _CAMEL.get(name, name)
    path = f"input.{field}"
    value = checked_code(name, value, kind)
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
    elif name == "allergy_category" and value is not None and value not in ALLERGY_CATEGORIES:
        raise Invalid("allergyCategory must be food, medication, environment or biologic", field=path)
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
