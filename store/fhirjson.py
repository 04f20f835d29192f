"""Small readers and builders over FHIR JSON, shared by every door, the demo data and the store (no I/O).

Look here before writing a helper that reads a reference, an extension, an identifier or a coded value.
"""

from __future__ import annotations

from typing import Any

from store.naming import EXT

Resource = dict[str, Any]


# ---------------------------------------------------------------------------------------------- references


def parse_reference(ref: Any) -> tuple[str, str] | None:
    """``(type, id)`` of a literal FHIR reference (FHIR R4 §2.3.0): a Reference object or its ``reference``
    string — relative (``Patient/1``), absolute (``https://x/fhir/Patient/1``) or versioned (``.../_history/2``).
    None for contained (``#x``), logical or malformed references."""
    value = ref.get("reference") if isinstance(ref, dict) else ref
    if not isinstance(value, str) or not value or value.startswith("#"):
        return None
    rt, sep, rid = value.partition("/")
    if rt and rid and "/" not in rid and rt != "_history" and rid != "_history":  # the common Type/id, unsplit
        return rt, rid
    parts = value.rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) < 2 or not parts[-2] or not parts[-1]:
        return None
    return parts[-2], parts[-1]


def ref_id(ref: Any, rt: str | None = None) -> str | None:
    """The id a reference points at (only when it points at a ``rt``, when given)."""
    parsed = parse_reference(ref)
    if parsed is None or (rt is not None and parsed[0] != rt):
        return None
    return parsed[1]


def reference(rt: str, rid: str, display: str | None = None) -> dict[str, str]:
    """A Reference object to ``rt/rid``."""
    out = {"reference": f"{rt}/{rid}"}
    if display:
        out["display"] = display
    return out


# ---------------------------------------------------------------------------------------------- extensions


def value_of(element: Any) -> Any:
    """The ``value[x]`` of an extension (None when it has none)."""
    if isinstance(element, dict):
        for key, value in element.items():
            if key.startswith("value"):
                return value
    return None


def ext(resource: Any, name: str, default: Any = None) -> Any:
    """The value of our extension ``name`` (store/naming.py ``EXT``) on ``resource``."""
    url = EXT[name]
    for e in (resource.get("extension") if isinstance(resource, dict) else None) or ():
        if isinstance(e, dict) and e.get("url") == url:
            return value_of(e)
    return default


def ext_map(resource: Resource) -> dict[str, Any]:
    """All extension values of ``resource`` by URL, read in one pass (mappers read many of them)."""
    out: dict[str, Any] = {}
    for e in resource.get("extension") or ():
        url = e.get("url") if isinstance(e, dict) else None
        if url is not None and url not in out:
            value = value_of(e)
            if value is not None:
                out[url] = value
    return out


def extension(name: str, value_key: str, value: Any) -> dict[str, Any]:
    """One of our extensions: ``{"url": EXT[name], value_key: value}``."""
    return {"url": EXT[name], value_key: value}


def set_ext(resource: Resource, name: str, value_key: str, value: Any) -> None:
    """Set (or, with ``value`` None, remove) one of our extensions."""
    url = EXT[name]
    kept = [e for e in resource.get("extension") or () if e.get("url") != url]
    if value is not None:
        kept.append({"url": url, value_key: value})
    if kept:
        resource["extension"] = kept
    else:
        resource.pop("extension", None)


# ---------------------------------------------------------------------------------------------- identifiers, codes


def ident(resource: Resource, system: str) -> str | None:
    """The value of the resource's identifier in ``system``."""
    for i in resource.get("identifier") or ():
        if isinstance(i, dict) and i.get("system") == system:
            v = i.get("value")
            return v if isinstance(v, str) else None
    return None


def text_of(concept: Any) -> str | None:
    """The human text of a CodeableConcept: its text, else its first coding's display, else code."""
    if not isinstance(concept, dict):
        return None
    if concept.get("text"):
        return str(concept["text"])
    for c in concept.get("coding") or ():
        if c.get("display"):
            return str(c["display"])
        if c.get("code"):
            return str(c["code"])
    return None


def code_of(concept: Any, system: str | None = None) -> str | None:
    """The code of a CodeableConcept's first coding (in ``system``, when given)."""
    if not isinstance(concept, dict):
        return None
    for c in concept.get("coding") or ():
        if system is None or c.get("system") == system:
            code = c.get("code")
            return str(code) if code is not None else None
    return None


def system_of(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    for c in concept.get("coding") or ():
        system = c.get("system")
        return str(system) if system is not None else None
    return None


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept of one coding; ``text`` defaults to nothing (pass ``display`` again to show it)."""
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    out: dict[str, Any] = {"coding": [coding]}
    if text:
        out["text"] = text
    return out


def version(resource: Resource) -> int:
    """``meta.versionId`` as an integer (1 when absent or not a number)."""
    try:
        return int((resource.get("meta") or {}).get("versionId", 1))
    except (TypeError, ValueError):
        return 1


def date_part(value: Any) -> str | None:
    """The ``YYYY-MM-DD`` of a FHIR date or dateTime."""
    return value[:10] if isinstance(value, str) and value else None
