"""The one FHIR validity gate (DESIGN.md decision 9): every write, from every door, passes through here.

Uses the ``fhir.resources.R4B`` models (the closest to R4 4.0.1 that run on pydantic 2).
"""

from __future__ import annotations

import decimal
import itertools
import re
import types
import typing
from collections import deque
from collections.abc import Iterable, Iterator
from functools import cache, lru_cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from store.errors import Invalid, Issue, NotFound

ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@lru_cache(maxsize=256)
def model_for(resource_type: str) -> Any:
    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return None


def warm_models(types: Iterable[str]) -> None:
    """Import the models of ``types`` now (start-up) rather than on each type's first request."""
    for rt in types:
        model_for(rt)


@lru_cache(maxsize=256)
def summary_elements(resource_type: str) -> frozenset[str]:
    """JSON names of the top-level elements FHIR marks ``isSummary`` for ``resource_type`` (``_summary=true``),
    with their primitive-extension twins (``_gender``)."""
    return _top_level(resource_type, "summary_element_property")


@lru_cache(maxsize=256)
def required_elements(resource_type: str) -> frozenset[str]:
    """JSON names of the top-level elements with a minimum cardinality of 1 (``_summary=text`` and ``_elements``
    keep them), every type of a required choice element (``medication[x]``) included."""
    return _top_level(resource_type, "element_required")


def _top_level(resource_type: str, flag: str) -> frozenset[str]:
    model = model_for(resource_type)
    if model is None:
        return frozenset()
    names: set[str] = set()
    for _name, alias, extra, info in _fields(model):
        # fhir.resources flags required primitives with element_required, required complex elements as
        # required pydantic fields
        if extra.get(flag) or (flag == "element_required" and (info.is_required() or (
                extra.get("one_of_many") and extra.get("one_of_many_required")))):
            names.update((alias, f"_{alias}"))
    return frozenset(names)


def _fields(model: type[BaseModel]) -> Iterator[tuple[str, str, dict[str, Any], FieldInfo]]:
    """(attribute, JSON name, fhir.resources' element metadata, pydantic field) of each field of ``model``."""
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        yield name, info.alias or name, extra, info


def is_resource_type(name: str) -> bool:
    return bool(name) and name[0].isupper() and name.isalpha() and model_for(name) is not None


def check_id(resource_id: str) -> None:
    if not ID_RE.match(resource_id):
        raise Invalid(f"'{resource_id[:70]}' is not a valid FHIR id ([A-Za-z0-9-.]{{1,64}})", paths=["id"])


# meta's repeating elements (FHIR R4 §2.24 Meta), read by the write path before validation: arrays of these.
META_ARRAYS = {"extension": dict, "tag": dict, "security": dict, "profile": str}
MAX_SHAPE_ISSUES = 50
# Objects and arrays nested in a resource, at most: FHIR resources come nowhere near, MongoDB refuses documents
# nested past 100 levels and orjson serializes no more than 254.
MAX_DEPTH = 80


def check_shape(resource: Any) -> None:
    """The raw JSON shape of a body, checked first on every write, before anything reads it: no nulls (FHIR R4
    §2.6.2 JSON: null only as an item of a repeating primitive whose ``_element`` twin carries that item's
    extensions, and never at the same index in both), ``_element`` twins that are objects (or arrays of them),
    a ``meta`` object whose repeating elements are arrays of their types, integers that fit 64 bits and no
    nesting past ``MAX_DEPTH``. Raises ``Invalid`` (400) naming each offending element path, never a value."""
    if not isinstance(resource, dict):
        raise Invalid("A FHIR resource must be a JSON object")
    rt = resource.get("resourceType")
    root = rt if isinstance(rt, str) and is_resource_type(rt) else "Resource"
    issues = list(itertools.islice(_shape_issues(root, resource), MAX_SHAPE_ISSUES))
    if issues:
        raise Invalid(f"The body is not valid FHIR JSON ({len(issues)} issue(s))",
                      paths=list(dict.fromkeys(i.path for i in issues)), issues=issues)


def _shape_issues(root: str, resource: dict[str, Any]) -> Iterator[Issue]:
    meta = resource.get("meta")
    if meta is not None and not isinstance(meta, dict):
        yield Issue(f"{root}.meta", "meta must be an object", "structure")
    elif isinstance(meta, dict):
        for name, item_type in META_ARRAYS.items():
            value = meta.get(name)
            if value is None:
                continue  # absent; a null is reported by the walk below
            if not isinstance(value, list):
                yield Issue(f"{root}.meta.{name}", f"meta.{name} must be an array", "structure")
                continue
            for i, item in enumerate(value):
                if item is not None and not isinstance(item, item_type):
                    kind = "an object" if item_type is dict else "a string"
                    yield Issue(f"{root}.meta.{name}[{i}]", f"must be {kind}", "structure")
    # Iterative, so a deeply nested body cannot exhaust the interpreter's stack.
    queue: deque[tuple[str, dict[str, Any], int]] = deque([(root, resource, 1)])
    while queue:
        path, obj, depth = queue.popleft()
        if depth > MAX_DEPTH:
            yield Issue(path, f"nested deeper than {MAX_DEPTH} levels", "structure")
            continue
        for key, value in obj.items():
            where = f"{path}.{key}"
            extensions = len(key) > 1 and key.startswith("_")  # a primitive's id and extensions (_birthDate)
            if value is None:
                yield Issue(where, "null is not allowed in FHIR JSON", "structure")
            elif isinstance(value, dict):
                queue.append((where, value, depth + 1))
            elif isinstance(value, list):
                twin = obj.get(key[1:] if extensions else f"_{key}")
                twin = twin if isinstance(twin, list) else []
                for i, item in enumerate(value):
                    if item is None:
                        # A null keeps a repeating primitive aligned with its twin's extension at that index.
                        if i >= len(twin) or twin[i] is None:
                            yield Issue(f"{where}[{i}]", "null is not allowed here in FHIR JSON", "structure")
                    elif isinstance(item, dict):
                        queue.append((f"{where}[{i}]", item, depth + 2))
                    elif isinstance(item, list):
                        yield Issue(f"{where}[{i}]", "an array cannot hold arrays in FHIR JSON", "structure")
                    elif extensions:
                        yield Issue(f"{where}[{i}]", "a primitive's extensions are an object", "structure")
                    elif _out_of_range(item):
                        yield Issue(f"{where}[{i}]", "a number out of range", "value")
            elif extensions:
                yield Issue(where, "a primitive's extensions are an object", "structure")
            elif _out_of_range(value):
                yield Issue(where, "a number out of range", "value")


def _out_of_range(value: Any) -> bool:
    # JSON integers beyond 64 bits cannot be stored (BSON); FHIR's own integers are 32-bit.
    return type(value) is int and not -(2**63) <= value < 2**63


def validate(resource: dict[str, Any]) -> None:
    """Raise ``Invalid`` (422) naming every offending element path, or return quietly."""
    if not isinstance(resource, dict):
        raise Invalid("A FHIR resource must be a JSON object")
    rt = resource.get("resourceType")
    if not isinstance(rt, str) or not rt:
        raise Invalid("Missing resourceType", paths=["resourceType"])
    model = model_for(rt)
    if model is None:
        raise NotFound(f"Unknown resource type '{rt[:64]}'")
    if "id" in resource:
        if not isinstance(resource["id"], str):
            raise Invalid("id must be a string", unprocessable=True, paths=[f"{rt}.id"])
        check_id(resource["id"])
    # fhir.resources stops at the first missing element of each kind (a required primitive is checked only once
    # every field validated): every missing required element is named here, in the same answer.
    missing = list(itertools.islice(_missing_required(model, resource, rt), MAX_ISSUES))
    try:
        instance = model.model_validate(resource)
    except ValidationError as exc:
        errors = exc.errors()
        named = {i.path for i in missing}
        choices = {i.path.rpartition(".")[0] for i in missing if i.path.endswith("[x]")}
        issues = [*missing, *itertools.islice(
            (Issue(path, message, "structure" if err.get("type") == "extra_forbidden" else "value")
             for err in errors for path, message in ((_path(rt, err.get("loc", ())), _message(err)),)
             if path not in named and not (path in choices and message.startswith(CHOICE_MESSAGE))),
            max(0, MAX_ISSUES - len(missing)))]
        raise Invalid(f"{rt} failed validation ({len(issues)} issue(s))", unprocessable=True,
                      paths=list(dict.fromkeys(i.path for i in issues)), issues=issues) from None
    except (ValueError, TypeError, AttributeError, KeyError):  # a model's own validator failing on odd input
        raise Invalid(f"{rt} failed validation", unprocessable=True) from None
    if missing:  # e.g. an empty array for a required element, which the models accept
        raise Invalid(f"{rt} failed validation ({len(missing)} issue(s))", unprocessable=True,
                      paths=list(dict.fromkeys(i.path for i in missing)), issues=missing)
    bad = list(itertools.islice(_unbound_codes(instance, rt), MAX_ISSUES))
    if bad:
        issues = [Issue(path, f"not a code of its required value set ({', '.join(allowed)})", "code-invalid")
                  for path, allowed in bad]
        raise Invalid(f"{rt} failed validation ({len(bad)} issue(s))", unprocessable=True,
                      paths=list(dict.fromkeys(p for p, _ in bad)), issues=issues)


MAX_ISSUES = 50
# fhir.resources' message for a required choice element (value[x]) none of whose types is present.
CHOICE_MESSAGE = "Expect any of field value from this list"


Requirements = tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[tuple[str, Any], ...],
                     tuple[tuple[str, str], ...]]

# FHIR JSON's primitive types that are not strings (R4 §2.6.2: "boolean: JSON boolean", "integer: JSON number",
# "decimal: JSON number"), by the Python type fhir.resources gives them; the models would coerce "yes", 1 or "3".
JSON_PRIMITIVES: dict[Any, str] = {bool: "boolean", int: "integer", decimal.Decimal: "decimal"}
_JSON_CHECKS: dict[str, tuple[str, Any]] = {
    "boolean": ("a JSON boolean (true or false)", lambda v: type(v) is bool),
    "integer": ("a JSON integer", lambda v: type(v) is int),
    "decimal": ("a JSON number", lambda v: type(v) in (int, float, decimal.Decimal)),
}


@cache
def _requirements(model: type[BaseModel]) -> Requirements:
    """What ``model`` requires and where to look further: ((element name, the JSON names that hold it — one per
    type for a choice element ``value[x]``) of each required element, (JSON name, model or ``None`` for "the
    resource's own type") of each element of a complex type)."""
    required: list[tuple[str, tuple[str, ...]]] = []
    choices: dict[str, list[str]] = {}
    children: list[tuple[str, Any]] = []
    primitives: list[tuple[str, str]] = []
    for _name, alias, extra, info in _fields(model):
        kind = _json_primitive(info.annotation)
        if kind is not None:
            primitives.append((alias, kind))
        if extra.get("one_of_many") and extra.get("one_of_many_required"):
            choices.setdefault(str(extra["one_of_many"]), []).append(alias)
        elif extra.get("element_required") or info.is_required():
            required.append((alias, (alias,)))
        child = _model_of(info.annotation)
        if child is not None:
            children.append((alias, None if child.__name__ in ("Resource", "DomainResource") else child))
    required.extend((f"{choice}[x]", tuple(names)) for choice, names in choices.items())
    return tuple(required), tuple(children), tuple(primitives)


def _json_primitive(annotation: Any) -> str | None:
    """"boolean", "integer" or "decimal" for a field of that FHIR type (or a list of it), else None."""
    if annotation in JSON_PRIMITIVES:
        return JSON_PRIMITIVES[annotation]
    if typing.get_origin(annotation) is typing.Annotated:
        return _json_primitive(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        kinds = {_json_primitive(arg) for arg in typing.get_args(annotation) if arg is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    return None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class of a field's type (``List[HumanNameType]`` → ``HumanName``), None for a primitive."""
    if hasattr(annotation, "get_model_klass"):
        klass: type[BaseModel] = annotation.get_model_klass()
        return klass
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _missing_required(model: type[BaseModel], resource: dict[str, Any], root: str) -> Iterator[Issue]:
    """An issue per required element absent from ``resource`` or from any element of a complex type in it
    (contained resources included), and per boolean, integer or decimal that is not of its JSON type (the models
    coerce). A primitive is present with a value or with only its ``_element`` extensions; an empty array is
    absent. Iterative: deep bodies cannot exhaust the stack."""
    queue: deque[tuple[type[BaseModel], dict[str, Any], str]] = deque([(model, resource, root)])
    while queue:
        current, obj, path = queue.popleft()
        required, children, primitives = _requirements(current)
        for label, names in required:
            if not any(_present(obj, name) for name in names):
                yield Issue(f"{path}.{label}", "a required element is missing", "required")
        for alias, kind in primitives:
            value = obj.get(alias)
            if value is None:
                continue
            expected, ok = _JSON_CHECKS[kind]
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is not None and not ok(item):
                        yield Issue(f"{path}.{alias}[{i}]", f"must be {expected}", "value")
            elif not ok(value):
                yield Issue(f"{path}.{alias}", f"must be {expected}", "value")
        for alias, child in children:
            value = obj.get(alias)
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    continue  # absent, or of the wrong type: the model says so
                klass = child if child is not None else model_for(str(item.get("resourceType", "")))
                if klass is not None:
                    where = f"{path}.{alias}[{i}]" if isinstance(value, list) else f"{path}.{alias}"
                    queue.append((klass, item, where))


def _present(obj: dict[str, Any], name: str) -> bool:
    value, extensions = obj.get(name), obj.get(f"_{name}")
    return (value is not None and value != []) or (extensions is not None and extensions != [])


_OBSERVATION_STATUS = ("registered", "preliminary", "final", "amended", "corrected", "cancelled",
                       "entered-in-error", "unknown")
_ENCOUNTER_STATUS = ("planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled",
                     "entered-in-error", "unknown")
# The whole value set of each required binding that fhir.resources abbreviates with a trailing "+"
# (Observation.status: "registered | preliminary | final | amended +"), keyed by (model, JSON name). Source: the
# R4 4.0.1 value sets (hl7.org/fhir/R4/valueset-<name>.html, named beside each); every "+" list of the R4B models
# is here (tests/store/test_validation.py checks that none is left out).
OPEN_ENDED_BINDINGS: dict[tuple[str, str], tuple[str, ...]] = {
    ("Observation", "status"): _OBSERVATION_STATUS,  # observation-status
    ("DetectedIssue", "status"): _OBSERVATION_STATUS,  # observation-status
    ("RiskAssessment", "status"): _OBSERVATION_STATUS,  # observation-status
    ("DiagnosticReport", "status"): ("registered", "partial", "preliminary", "final", "amended", "corrected",
                                     "appended", "cancelled", "entered-in-error",
                                     "unknown"),  # diagnostic-report-status
    ("Encounter", "status"): _ENCOUNTER_STATUS,  # encounter-status
    ("EncounterStatusHistory", "status"): _ENCOUNTER_STATUS,  # encounter-status
    ("DeviceUdiCarrier", "entryType"): ("barcode", "rfid", "manual", "card", "self-reported",
                                        "unknown"),  # udi-entry-type
    ("DeviceUseStatement", "status"): ("active", "completed", "entered-in-error", "intended", "stopped",
                                       "on-hold"),  # device-statement-status
    ("QuestionnaireItem", "type"): ("group", "display", "question", "boolean", "decimal", "integer", "date",
                                    "dateTime", "time", "string", "text", "url", "choice", "open-choice",
                                    "attachment", "reference", "quantity"),  # item-type
    ("StructureMapGroupRuleTarget", "transform"): ("create", "copy", "truncate", "escape", "cast", "append",
                                                   "translate", "reference", "dateOp", "uuid", "pointer",
                                                   "evaluate", "cc", "c", "qty", "id", "cp"),  # map-transform
    ("SupplyRequest", "status"): ("draft", "active", "suspended", "cancelled", "completed", "entered-in-error",
                                  "unknown"),  # supplyrequest-status
    ("Task", "status"): ("draft", "requested", "received", "accepted", "rejected", "ready", "cancelled",
                         "in-progress", "on-hold", "failed", "completed", "entered-in-error"),  # task-status
}


_TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
# Required bindings of CodeableConcept elements of the supported types (R4 4.0.1, the value set named beside
# each): a coding of the value set's code system must carry one of its codes. (A concept of only other systems
# or only text is let through: that "at least one coding is from the value set" is not checked.)
CONCEPT_BINDINGS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("Condition", "clinicalStatus"): (f"{_TERMINOLOGY}condition-clinical", (
        "active", "recurrence", "relapse", "inactive", "remission", "resolved")),  # condition-clinical
    ("Condition", "verificationStatus"): (f"{_TERMINOLOGY}condition-ver-status", (
        "unconfirmed", "provisional", "differential", "confirmed", "refuted",
        "entered-in-error")),  # condition-ver-status
    ("AllergyIntolerance", "clinicalStatus"): (f"{_TERMINOLOGY}allergyintolerance-clinical", (
        "active", "inactive", "resolved")),  # allergyintolerance-clinical
    ("AllergyIntolerance", "verificationStatus"): (f"{_TERMINOLOGY}allergyintolerance-verification", (
        "unconfirmed", "confirmed", "refuted", "entered-in-error")),  # allergyintolerance-verification
}


@cache
def _coded_fields(model: type[BaseModel]) -> tuple[tuple[str, str, tuple[str, ...] | None], ...]:
    """(attribute, JSON name, codes of its required binding or None) of each field of ``model``."""
    out: list[tuple[str, str, tuple[str, ...] | None]] = []
    for name, alias, extra, _info in _fields(model):
        codes = extra.get("enum_values")
        if not isinstance(codes, list) or not codes:
            out.append((name, alias, None))
        elif "+" in codes:  # abbreviated: the whole value set from the table, unchecked if it lacks one
            out.append((name, alias, OPEN_ENDED_BINDINGS.get((model.__name__, alias))))
        else:
            out.append((name, alias, tuple(map(str, codes))))
    return tuple(out)


def _unbound_codes(obj: BaseModel, path: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(path, allowed codes) of every code outside its element's required binding (fhir.resources records
    the bindings as ``enum_values`` but does not check them), contained and nested resources included."""
    for name, alias, codes in _coded_fields(type(obj)):
        value = getattr(obj, name, None)
        if value is None:
            continue
        items = value if isinstance(value, list) else (value,)
        concept = CONCEPT_BINDINGS.get((type(obj).__name__, alias))
        for i, item in enumerate(items):
            where = f"{path}.{alias}[{i}]" if isinstance(value, list) else f"{path}.{alias}"
            if codes is not None and isinstance(item, str):
                if item not in codes:
                    yield where, codes
            elif isinstance(item, BaseModel):
                if concept is not None:
                    system, allowed = concept
                    for j, coding in enumerate(getattr(item, "coding", None) or ()):
                        if getattr(coding, "system", None) == system and getattr(coding, "code", None) not in allowed:
                            yield f"{where}.coding[{j}].code", allowed
                yield from _unbound_codes(item, where)


def _path(rt: str, loc: tuple[Any, ...]) -> str:
    out = rt
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not part.startswith("function-") and part not in ("__root__",):
            out += f".{part}"
    return out


def _message(err: Any) -> str:
    msg = str(err.get("msg", "invalid"))
    # Never echo input values: they may be patient data (names, SSNs) and end up in logs.
    return msg.replace("Value error, ", "")[:200]
