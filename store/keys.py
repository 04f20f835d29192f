"""Search keys computed on write (shared/DESIGN.md decision 4).

For every search parameter of the type (store/params.py) the write path extracts normalized values into the
reserved key:

    _sys.k.<param>   list of strings (string: folded; token: ``system|code``, ``code``, ``|code``, ``system|``;
                     reference: ``Type/id`` and bare ``id``) or, for dates, list of ``{"lo": iso, "hi": iso}``
    _sys.e.<param>   the exact (unfolded) strings of string parameters, for ``:exact``
    _sys.s.<param>   one scalar sort key (always a string; "" when absent so keyset comparisons never meet null)

Search then translates FHIR parameters into filters on those keys (store/search.py); nothing scans raw FHIR
paths.

Some values are also kept in a normalized form (``NORMALIZED``), beside the form as written: a Patient's phone
numbers as their digits (``6145559012``, ``16145559012`` for ``+1 …``, and the seven-digit local number
``5559012``) in ``phone``, ``telecom`` and ``_content``; its emails lower-cased in ``email`` and ``telecom``; its
SSN as nine digits in ``identifier``. Whoever searches by a phone, email or SSN in any spelling normalizes the
value the same way (``phone_forms``, ``fold``, ``digits``) and meets the stored key.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from store.fhirjson import parse_reference
from store.naming import SSN_SYSTEM
from store.params import P, param_table

MIN_TS = "0001-01-01T00:00:00.000000"
MAX_TS = "9999-12-31T23:59:59.999999"


# ---------------------------------------------------------------------------- normalization


def fold(text: str) -> str:
    """Lower-case and strip accents: 'Renée' and 'renee' match (FHIR string search is insensitive to both)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


@functools.lru_cache(maxsize=4096)
def date_range(value: str) -> tuple[str, str] | None:
    """A FHIR date/dateTime/instant as the UTC range it covers, in fixed-width ISO strings that sort as text.
    (Cached: a batch of writes shares its ``lastUpdated``, and the same dates recur.)"""
    v = value.strip()
    try:
        if len(v) == 4:
            lo = datetime(int(v), 1, 1)
            hi = datetime(int(v) + 1, 1, 1) if int(v) < 9999 else None
        elif len(v) == 7:
            y, m = int(v[:4]), int(v[5:7])
            lo = datetime(y, m, 1)
            hi = datetime(y + (m == 12), m % 12 + 1, 1)
        elif len(v) == 10:
            lo = datetime.fromisoformat(v)
            hi = lo + timedelta(days=1)
        else:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
            if dt.tzinfo is not None:
                dt = dt.astimezone(UTC).replace(tzinfo=None)
            # A dateTime is precise to its written precision: seconds (or minutes) cover their span.
            lo = dt
            hi = dt + (timedelta(microseconds=1) if "." in v else timedelta(seconds=1))
    except (ValueError, OverflowError):
        return None
    # isoformat pads the year to four digits: "0999-01-01T00:00:00.000000", 26 characters, always.
    lo_s = lo.isoformat(timespec="microseconds")
    hi_s = MAX_TS if hi is None else (hi - timedelta(microseconds=1)).isoformat(timespec="microseconds")
    return lo_s, hi_s


# ---------------------------------------------------------------------------- path walking


def _matches(name: str, item: Any, cond: str) -> bool:
    if not isinstance(item, dict):
        return False
    if name in ("extension", "modifierExtension"):
        return item.get("url") == cond
    if name == "identifier":
        return item.get("system") == cond
    if "reference" in item or name in ("subject", "actor", "target", "patient"):
        ref = item.get("reference", "")
        return ref.startswith(cond + "/") or f"/{cond}/" in ref
    if name == "telecom":
        return item.get("system") == cond
    return item.get("use") == cond


_SEGMENT = re.compile(r"[^.\[]+(?:\[[^\]]*\])?")


@functools.lru_cache(maxsize=1024)
def _segments(path: str) -> tuple[tuple[str, str], ...]:
    # "extension[https://x.org/a.b].valueCode" → (("extension", "https://x.org/a.b"), ("valueCode", "")): dots
    # inside brackets belong to the URL. A segment is "field", "field[Type]" (reference type filter),
    # "field[use]" (HumanName/ContactPoint use or system filter) or "extension[url]". The search parameters'
    # paths are a fixed set: each is parsed once.
    out = []
    for seg in _SEGMENT.findall(path):
        name, _, cond = seg.partition("[")
        out.append((name, cond[:-1] if cond else ""))
    return tuple(out)


def walk(resource: dict[str, Any], path: str) -> list[Any]:
    nodes: list[Any] = [resource]
    for name, cond in _segments(path):
        found: list[Any] = []
        for node in nodes:
            value = node.get(name) if isinstance(node, dict) else None
            if value is None:
                continue
            if isinstance(value, list):
                found.extend(item for item in value if not cond or _matches(name, item, cond))
            elif not cond or _matches(name, value, cond):
                found.append(value)
        if not found:
            return found
        nodes = found
    return nodes


# ---------------------------------------------------------------------------- extraction by type


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        # HumanName, Address: every textual part (FHIR: "any of the string elements").
        for key in ("text", "family", "given", "prefix", "suffix", "line", "city", "district", "state",
                    "postalCode", "country", "value", "display"):
            part = value.get(key)
            if isinstance(part, str):
                yield part
            elif isinstance(part, list):
                yield from (p for p in part if isinstance(p, str))


def _tokens(value: Any) -> Iterator[str]:
    if isinstance(value, bool):
        yield "true" if value else "false"
    elif isinstance(value, str):
        yield value
        yield f"|{value}"
    elif isinstance(value, dict):
        if "coding" in value or "text" in value and "code" not in value and "value" not in value:
            for coding in value.get("coding", []):
                yield from _tokens(coding)
            return
        system = value.get("system")
        code = value.get("code", value.get("value"))  # Coding / Identifier / ContactPoint
        if isinstance(code, str):
            yield code
            yield f"{system}|{code}" if system else f"|{code}"
        if system:
            yield f"{system}|"


def _references(value: Any) -> Iterator[str]:
    parsed = parse_reference(value)
    if parsed is not None:
        yield f"{parsed[0]}/{parsed[1]}"
        yield parsed[1]
    else:
        ref = value.get("reference") if isinstance(value, dict) else None
        if isinstance(ref, str) and ref and not ref.startswith("#"):
            yield ref  # a bare id
    identifier = identifier_key(value.get("identifier") if isinstance(value, dict) else None)
    if identifier is not None:
        yield identifier


def identifier_key(identifier: Any) -> str | None:
    """The key of a Reference's ``identifier`` (a logical reference, searched ``:identifier=system|value``):
    ``system|value``, or ``|value`` without a system. Never a key a literal reference has (an id has no ``|``), so
    it can put nothing in a compartment."""
    if not isinstance(identifier, dict) or not isinstance(identifier.get("value"), str) or not identifier["value"]:
        return None
    system = identifier.get("system")
    return f"{system if isinstance(system, str) else ''}|{identifier['value']}"


def _ranges(value: Any) -> Iterator[dict[str, str]]:
    if isinstance(value, str):
        r = date_range(value)
        if r:
            yield {"lo": r[0], "hi": r[1]}
    elif isinstance(value, dict) and ("start" in value or "end" in value):  # Period
        start = date_range(value["start"]) if isinstance(value.get("start"), str) else None
        end = date_range(value["end"]) if isinstance(value.get("end"), str) else None
        yield {"lo": start[0] if start else MIN_TS, "hi": end[1] if end else MAX_TS}


# ---------------------------------------------------------------------------- normalized keys


def digits(text: str) -> str:
    """The ASCII digits of ``text``, in order ('(614) 555-9012' → '6145559012')."""
    return "".join(c for c in text if "0" <= c <= "9")


def phone_forms(text: str) -> list[str]:
    """The digit keys of a phone number: all its digits, the national number without a leading US/Canada
    country code, the seven-digit local number. Fewer than seven digits is no phone number: none."""
    d = digits(text)
    if len(d) < 7:
        return []
    forms = [d]
    if len(d) == 11 and d.startswith("1"):
        forms.append(d[1:])
    forms.append(d[-7:])
    return list(dict.fromkeys(forms))


def _add(k: dict[str, Any], name: str, values: list[str]) -> None:
    if values:
        k[name] = list(dict.fromkeys([*k.get(name, []), *values]))


def _patient_keys(resource: dict[str, Any], k: dict[str, Any]) -> None:
    phones: list[str] = []
    emails: list[str] = []
    for t in resource.get("telecom") or ():
        value = t.get("value") if isinstance(t, dict) else None
        if not isinstance(value, str):
            continue
        if t.get("system") == "phone":
            phones.extend(phone_forms(value))
        elif t.get("system") == "email":
            emails.append(fold(value))
    _add(k, "phone", phones)
    _add(k, "telecom", phones + emails)
    _add(k, "_content", phones)
    _add(k, "email", emails)
    ssns = [f"{SSN_SYSTEM}|{digits(i['value'])}" for i in resource.get("identifier") or ()
            if isinstance(i, dict) and i.get("system") == SSN_SYSTEM and isinstance(i.get("value"), str)]
    _add(k, "identifier", ssns)


def audit_agent_ids(agents: Any) -> list[str]:
    """The ids an AuditEvent's agents are known by that are no reference (a client id, an API key's subject, a
    user without ``fhirUser``: ``agent.who.identifier.value``), kept as bare ids in ``agent``: ``agent=<client id>``
    finds what that client did (auth/balp.py). Only ids without a ``/``: never a ``Type/id`` key."""
    found = []
    for agent in agents if isinstance(agents, list) else ():
        who = agent.get("who") if isinstance(agent, dict) else None
        identifier = who.get("identifier") if isinstance(who, dict) and "reference" not in who else None
        value = identifier.get("value") if isinstance(identifier, dict) else None
        if isinstance(value, str) and value and "/" not in value:
            found.append(value)
    return found


def _audit_event_keys(resource: dict[str, Any], k: dict[str, Any]) -> None:
    _add(k, "agent", audit_agent_ids(resource.get("agent")))


NORMALIZED = {"Patient": _patient_keys, "AuditEvent": _audit_event_keys}


def extract(resource: dict[str, Any]) -> dict[str, Any]:
    """All search keys of ``resource``: {"k": {...}, "e": {...}, "s": {...}} for ``_sys``."""
    rt = resource.get("resourceType", "")
    k: dict[str, Any] = {}
    e: dict[str, list[str]] = {}
    s: dict[str, str] = {}
    for p in param_table(rt).values():
        raw = _raw(resource, p)
        if not raw:
            if p.sortable:
                s[p.name] = ""
            continue
        if p.type == "string":
            e[p.name] = list(dict.fromkeys(x for v in raw for x in _strings(v)))
        vals = _values(p, raw)
        if vals is None:
            continue
        # `_id` is searched by primary key (store/search.py): only its sort key is kept.
        if vals and p.name != "_id":
            k[p.name] = vals
        if p.sortable:
            s[p.name] = _sort_key(p, vals)
    normalize = NORMALIZED.get(rt)
    if normalize is not None:
        normalize(resource, k)
    return {"k": k, "e": e, "s": s}


def token_keys(raw: list[Any]) -> list[str]:
    """The keys of a token parameter over the values its paths found (codes, Codings, CodeableConcepts …)."""
    return list(dict.fromkeys(t for v in raw for t in _tokens(v)))


def reference_keys(raw: list[Any]) -> list[str]:
    """The keys of a reference parameter over the References its paths found."""
    return list(dict.fromkeys(r for v in raw for r in _references(v)))


def date_keys(raw: list[Any]) -> list[dict[str, str]]:
    """The keys of a date parameter over the dates and Periods its paths found."""
    return [r for v in raw for r in _ranges(v)]


def values_of(resource: dict[str, Any], p: P) -> list[Any]:
    """The search keys of one parameter of ``resource``, as ``extract`` keeps them (``_sys.k.<name>``)."""
    return _values(p, _raw(resource, p)) or []


def _raw(resource: dict[str, Any], p: P) -> list[Any]:
    raw: list[Any] = []
    for path in p.paths:
        raw.extend(walk(resource, path))
    return raw


def _values(p: P, raw: list[Any]) -> list[Any] | None:
    if p.type == "string":
        return list(dict.fromkeys(fold(x) for v in raw for x in _strings(v)))
    if p.type == "token":
        return token_keys(raw)
    if p.type == "reference":
        return reference_keys(raw)
    if p.type == "date":
        return date_keys(raw)
    if p.type == "number":
        return [float(v) for v in raw if isinstance(v, int | float) and not isinstance(v, bool)]
    return None


def _sort_key(p: P, vals: list[Any]) -> str:
    if not vals:
        return ""
    if p.type == "date":
        return str(min(v["lo"] for v in vals))
    if p.type == "token":
        # Prefer the bare code (no system) so sorting by gender or status reads naturally.
        plain = [v for v in vals if "|" not in v]
        return str((plain or vals)[0])
    return str(vals[0])
