"""Small readers over FHIR JSON shared by the domain mappers (no I/O)."""

from __future__ import annotations

from typing import Any

from store.naming import EXT

Resource = dict[str, Any]


def ext(resource: Resource, name: str, default: Any = None) -> Any:
    url = EXT[name]
    for e in resource.get("extension") or ():
        if e.get("url") == url:
            for k, v in e.items():
                if k.startswith("value"):
                    return v
    return default


def ext_map(resource: Resource) -> dict[str, Any]:
    """All extension values of ``resource`` by URL, read in one pass (mappers read many of them)."""
    out: dict[str, Any] = {}
    for e in resource.get("extension") or ():
        url = e.get("url")
        if url is not None and url not in out:
            for k, v in e.items():
                if k.startswith("value"):
                    out[url] = v
                    break
    return out


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


def ident(resource: Resource, system: str) -> str | None:
    for i in resource.get("identifier") or ():
        if i.get("system") == system:
            v = i.get("value")
            return v if isinstance(v, str) else None
    return None


def ref_id(ref: Any, rt: str | None = None) -> str | None:
    """``Type/id`` → id (optionally only for ``rt``)."""
    if not isinstance(ref, dict):
        return None
    r = ref.get("reference")
    if not isinstance(r, str) or "/" not in r:
        return None
    t, _, rid = r.rpartition("/")
    if rt is not None and t.rsplit("/", 1)[-1] != rt:
        return None
    return rid


def text_of(cc: Any) -> str | None:
    """The human text of a CodeableConcept."""
    if not isinstance(cc, dict):
        return None
    if cc.get("text"):
        return str(cc["text"])
    for c in cc.get("coding") or ():
        if c.get("display"):
            return str(c["display"])
        if c.get("code"):
            return str(c["code"])
    return None


def code_of(cc: Any, system: str | None = None) -> str | None:
    if not isinstance(cc, dict):
        return None
    for c in cc.get("coding") or ():
        if system is None or c.get("system") == system:
            code = c.get("code")
            return str(code) if code is not None else None
    return None


def system_of(cc: Any) -> str | None:
    if not isinstance(cc, dict):
        return None
    for c in cc.get("coding") or ():
        system = c.get("system")
        return str(system) if system is not None else None
    return None


def version(resource: Resource) -> int:
    try:
        return int(resource.get("meta", {}).get("versionId", 1))
    except (TypeError, ValueError):
        return 1


def date_part(value: Any) -> str | None:
    return value[:10] if isinstance(value, str) and value else None


def cc(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    out: dict[str, Any] = {"coding": [coding]}
    if display:
        out["text"] = display
    return out
