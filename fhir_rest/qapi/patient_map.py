"""The qapi patient (seed 002 "Patient") to and from a FHIR Patient (store/naming.py: where each part lands).

| qapi | FHIR Patient |
|---|---|
| mrn, accountNumber | identifier ``SID["mrn"]`` (type MR), ``SID["account-number"]`` |
| name[] {use, family, firstName, middleName, lastName, alias} | name[] {use, text = family, given = [first,  |
|   | middle], family = lastName, extension name-alias} |
| birthDate, gender | birthDate, gender |
| maritalStatus | maritalStatus (v3 MaritalStatus code + text) |
| telecom[], contact[] {telecom, name[]} | telecom[], contact[] {telecom, name = the first name} |
| preferredLanguage | communication[preferred].language (text; BCP 47 code when known) |
| race, ethnicity | US Core race / ethnicity extensions (text; OMB category when the text names one) |
| address[] {use, line, apartment, city, state, postalcode, country} | address[] (postalCode; apartment an extension) |
| active, deceased, deceasedAt | active and the lifecycle-status extension; deceasedDateTime |

FHIR has no empty strings: an empty qapi string is an absent FHIR element, and reads give the seed's ``""``
back for the name and address parts the seed always shows. Unknown fields are ignored.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from store.errors import Invalid
from store.events import patient_status
from store.fhirjson import ext, ident, set_ext
from store.naming import (
    BCP47,
    EXT,
    MARITAL,
    MARITAL_CODE,
    OMB_CATEGORIES,
    OMB_RACE,
    SID,
    US_CORE_ETHNICITY,
    US_CORE_RACE,
    marital_status,
)

Resource = dict[str, Any]

V2_ID_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
NAME_USES = ("usual", "official", "temp", "nickname", "anonymous", "old", "maiden")
TELECOM_SYSTEMS = ("phone", "fax", "email", "pager", "url", "sms", "other")
TELECOM_USES = ("home", "work", "temp", "old", "mobile")
ADDRESS_USES = ("home", "work", "temp", "old", "billing")
GENDERS = ("male", "female", "other", "unknown")
LANGUAGES = {"english": "en", "spanish": "es", "french": "fr", "german": "de", "chinese": "zh", "vietnamese": "vi",
             "arabic": "ar", "russian": "ru", "somali": "so", "portuguese": "pt", "korean": "ko", "japanese": "ja"}
DECEASED_FORMATS = ("%Y-%m-%d %I:%M %p", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
DECEASED_OUT = "%Y-%m-%d %I:%M %p"
FHIR_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_ITEMS = 20
# The body fields this module maps (the family-group fields are patients.py's).
FIELDS = ("mrn", "accountNumber", "name", "birthDate", "gender", "maritalStatus", "telecom", "contact",
          "preferredLanguage", "race", "ethnicity", "address", "active", "deceased", "deceasedAt")


# ---------------------------------------------------------------------------------------------- qapi → FHIR


def apply(res: Resource, body: dict[str, Any], *, creating: bool) -> Resource:
    """Write the fields ``body`` gives onto the FHIR Patient ``res`` (absent fields are left as they are; null
    or an empty string clears one). Raises ``Invalid`` with the seed's wording for a bad field."""
    _check_deceased(body)
    for name, system in (("mrn", SID["mrn"]), ("accountNumber", SID["account-number"])):
        if name in body:
            _set_identifier(res, system, _text(body, name, 200))
    if "name" in body:
        _put(res, "name", [_name(n, f"name[{i}]") for i, n in enumerate(_items(body, "name"))])
    if "birthDate" in body:
        _put(res, "birthDate", _date(body, "birthDate"))
    if "gender" in body:
        gender = _text(body, "gender", 20)
        if gender is not None and gender not in GENDERS:
            raise Invalid(f"gender must be one of {', '.join(GENDERS)}", field="gender")
        _put(res, "gender", gender)
    if "maritalStatus" in body:
        _put(res, "maritalStatus", _marital(_text(body, "maritalStatus", 40)))
    if "telecom" in body:
        _put(res, "telecom", _telecoms(body.get("telecom"), "telecom"))
    if "contact" in body:
        contacts = (_contact(c, f"contact[{i}]") for i, c in enumerate(_items(body, "contact")))
        _put(res, "contact", [c for c in contacts if c])
    if "preferredLanguage" in body:
        _put(res, "communication", _language(_text(body, "preferredLanguage", 100)))
    for name, url in (("race", US_CORE_RACE), ("ethnicity", US_CORE_ETHNICITY)):
        if name in body:
            _set_us_core(res, url, _text(body, name, 200))
    if "address" in body:
        addresses = (_address(a, f"address[{i}]") for i, a in enumerate(_items(body, "address")))
        _put(res, "address", [a for a in addresses if a])
    _apply_status(res, body, creating=creating)
    return res


def _check_deceased(body: dict[str, Any]) -> None:
    deceased = body.get("deceased")
    if deceased is not None and not isinstance(deceased, bool):
        raise Invalid("deceased must be true or false", field="deceased")
    at = body.get("deceasedAt")
    if deceased is True and at in (None, ""):
        raise Invalid("deceasedAt is required when deceased is true", field="deceasedAt")
    if deceased is not True and at not in (None, ""):
        raise Invalid("deceasedAt may only be given when deceased is true", field="deceasedAt")


def _apply_status(res: Resource, body: dict[str, Any], *, creating: bool) -> None:
    """``active``/``deceased`` onto Patient.active, deceased[x] and the lifecycle status the other doors read
    (seed 003 statuses: an archived patient stays archived when only ``active`` changes)."""
    active = body.get("active")
    if active is not None and not isinstance(active, bool):
        raise Invalid("active must be true or false", field="active")
    deceased = body.get("deceased")
    status = patient_status(res) if not creating else "active"
    if deceased is True:
        res.pop("deceasedBoolean", None)
        res["deceasedDateTime"] = _deceased_at(body["deceasedAt"])
        status = "deceased"
    elif deceased is False:
        res.pop("deceasedBoolean", None)
        res.pop("deceasedDateTime", None)
        if status == "deceased":
            status = "active"
    if active is False and status not in ("deceased", "archived"):
        status = "inactive"
    elif active is True and status in ("inactive", "archived"):
        status = "active"
    if creating or active is not None or deceased is not None:
        set_ext(res, "patient-status", "valueCode", status)
        res["active"] = active if active is not None else status not in ("inactive", "archived")


def _deceased_at(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 40:
        raise Invalid("deceasedAt must be a date and time such as \"2020-03-31 10:12 AM\"", field="deceasedAt")
    for fmt in DECEASED_FORMATS:
        try:
            moment = datetime.strptime(value.strip(), fmt).replace(tzinfo=UTC)
            break
        except ValueError:
            continue
    else:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise Invalid("deceasedAt must be a date and time such as \"2020-03-31 10:12 AM\"",
                          field="deceasedAt") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    if moment > datetime.now(UTC):
        raise Invalid("deceasedAt may not be in the future", field="deceasedAt")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _items(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise Invalid(f"{name} must be a list of objects", field=name)
    if len(value) > MAX_ITEMS:
        raise Invalid(f"{name} may hold at most {MAX_ITEMS} items", field=name)
    return value


def _text(obj: dict[str, Any], name: str, max_len: int, where: str = "") -> str | None:
    value = obj.get(name)
    label = f"{where}.{name}" if where else name
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{label} must be a string", field=label)
    if len(value) > max_len:
        raise Invalid(f"{label} must be at most {max_len} characters", field=label)
    return value.strip() or None


def _choice(obj: dict[str, Any], name: str, allowed: tuple[str, ...], where: str) -> str | None:
    value = _text(obj, name, 40, where)
    if value is not None and value not in allowed:
        raise Invalid(f"{where}.{name} must be one of {', '.join(allowed)}", field=f"{where}.{name}")
    return value


def _date(body: dict[str, Any], name: str) -> str | None:
    value = _text(body, name, 10)
    if value is None:
        return None
    try:
        if not FHIR_DATE.fullmatch(value):
            raise ValueError
        day = date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name} must be a date (YYYY-MM-DD)", field=name) from None
    if day > date.today():
        raise Invalid(f"{name} may not be in the future", field=name)
    return value


def _name(obj: dict[str, Any], where: str) -> Resource:
    first, middle = _text(obj, "firstName", 100, where), _text(obj, "middleName", 100, where)
    last, full = _text(obj, "lastName", 100, where), _text(obj, "family", 200, where)
    out: Resource = {}
    use = _choice(obj, "use", NAME_USES, where)
    if use:
        out["use"] = use
    if full:
        out["text"] = full
    family = last or (None if first else full)
    if family:
        out["family"] = family
    given = [g for part in (first, middle) if part for g in [part]]
    if given:
        out["given"] = given
    alias = _text(obj, "alias", 100, where)
    if alias:
        out["extension"] = [{"url": EXT["name-alias"], "valueString": alias}]
    if not (set(out) - {"use"}):
        raise Invalid(f"{where} must have a firstName, lastName or family", field=where)
    return out


def _telecoms(value: Any, where: str) -> list[Resource]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value) or len(value) > MAX_ITEMS:
        raise Invalid(f"{where} must be a list of at most {MAX_ITEMS} objects", field=where)
    out = []
    for i, t in enumerate(value):
        at = f"{where}[{i}]"
        item: Resource = {}
        system, use = _choice(t, "system", TELECOM_SYSTEMS, at), _choice(t, "use", TELECOM_USES, at)
        val = _text(t, "value", 256, at)
        if val is None:
            continue
        if system:
            item["system"] = system
        item["value"] = val
        if use:
            item["use"] = use
        if "system" not in item:
            raise Invalid(f"{at}.system is required with a value", field=f"{at}.system")
        out.append(item)
    return out


def _contact(obj: dict[str, Any], where: str) -> Resource | None:
    out: Resource = {}
    telecom = _telecoms(obj.get("telecom"), f"{where}.telecom")
    if telecom:
        out["telecom"] = telecom
    names = obj.get("name")
    if isinstance(names, dict):
        names = [names]
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, dict) for n in names)):
        raise Invalid(f"{where}.name must be a list of names", field=f"{where}.name")
    if names:
        out["name"] = _name(names[0], f"{where}.name[0]")
    return out or None


def _address(obj: dict[str, Any], where: str) -> Resource | None:
    out: Resource = {}
    use = _choice(obj, "use", ADDRESS_USES, where)
    if use:
        out["use"] = use
    lines = obj.get("line")
    if lines is not None:
        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines) or len(lines) > 5:
            raise Invalid(f"{where}.line must be a list of at most 5 strings", field=f"{where}.line")
        kept = [x.strip() for x in lines if x.strip()]
        if any(len(x) > 200 for x in kept):
            raise Invalid(f"{where}.line items must be at most 200 characters", field=f"{where}.line")
        if kept:
            out["line"] = kept
    for qapi, fhir in (("city", "city"), ("state", "state"), ("postalcode", "postalCode"), ("country", "country")):
        value = _text(obj, qapi, 100, where)
        if value:
            out[fhir] = value
    apartment = _text(obj, "apartment", 100, where)
    if apartment:
        out["extension"] = [{"url": EXT["address-apartment"], "valueString": apartment}]
    return out if set(out) - {"use"} else None


def _marital(word: str | None) -> Resource | None:
    if word is None:
        return None
    code = MARITAL_CODE.get(word.lower())
    if code is None:
        raise Invalid(f"maritalStatus must be one of {', '.join(sorted(MARITAL_CODE))}", field="maritalStatus")
    return marital_status(word.lower())


def _language(text: str | None) -> list[Resource] | None:
    if text is None:
        return None
    language: Resource = {"text": text}
    code = LANGUAGES.get(text.lower())
    if code:
        language["coding"] = [{"system": BCP47, "code": code}]
    return [{"language": language, "preferred": True}]


def _set_us_core(res: Resource, url: str, text: str | None) -> None:
    kept = [e for e in res.get("extension") or () if e.get("url") != url]
    if text is not None:
        parts: list[Resource] = []
        display = next((d for d in OMB_CATEGORIES if d.lower() == text.lower()), None)
        ethnic = display in ("Hispanic or Latino", "Not Hispanic or Latino")
        if display and ethnic == (url == US_CORE_ETHNICITY):
            parts.append({"url": "ombCategory",
                          "valueCoding": {"system": OMB_RACE, "code": OMB_CATEGORIES[display], "display": display}})
        parts.append({"url": "text", "valueString": text})
        kept.append({"url": url, "extension": parts})
    _put(res, "extension", kept)


def _set_identifier(res: Resource, system: str, value: str | None) -> None:
    kept = [i for i in res.get("identifier") or () if i.get("system") != system]
    if value is not None:
        item: Resource = {"system": system, "value": value}
        if system == SID["mrn"]:
            item = {"use": "usual", "type": {"coding": [{"system": V2_ID_TYPE, "code": "MR"}],
                                              "text": "Medical record number"}, **item}
        kept.append(item)
    _put(res, "identifier", kept)


def _put(obj: Resource, key: str, value: Any) -> None:
    if value is None or value == [] or value == "":
        obj.pop(key, None)
    else:
        obj[key] = value


# ---------------------------------------------------------------------------------------------- FHIR → qapi


def view(res: Resource, group: tuple[str, str] | None, *, flat_group: bool = False) -> dict[str, Any]:
    """The seed's patient body. ``group``: the (type, name) of its shared-email family group, if any; the
    seed shows it as ``sharedEmailGroup`` (``flat_group``: as ``groupType``/``groupName``)."""
    linked = group is not None
    out: dict[str, Any] = {
        "mrn": ident(res, SID["mrn"]),
        "accountNumber": ident(res, SID["account-number"]),
        "name": [_name_view(n) for n in res.get("name") or () if isinstance(n, dict)],
        "birthDate": res.get("birthDate"),
        "gender": res.get("gender"),
        "maritalStatus": _marital_view(res.get("maritalStatus")),
        "telecom": [_telecom_view(t) for t in res.get("telecom") or () if isinstance(t, dict)],
        "contact": [_contact_view(c) for c in res.get("contact") or () if isinstance(c, dict)],
        "preferredLanguage": _language_view(res),
        "race": _us_core_view(res, US_CORE_RACE),
        "ethnicity": _us_core_view(res, US_CORE_ETHNICITY),
        "address": [_address_view(a) for a in res.get("address") or () if isinstance(a, dict)],
        "active": res.get("active", True) is not False,
        "deceased": bool(res.get("deceasedBoolean") or res.get("deceasedDateTime")),
        "deceasedAt": _deceased_view(res.get("deceasedDateTime")),
        "familyMember": linked,
        "isLinkedByEmail": linked,
    }
    if flat_group:
        out["groupType"], out["groupName"] = group if group else (None, None)
    else:
        out["sharedEmailGroup"] = {"type": group[0], "name": group[1]} if group else None
    return out


def _name_view(n: Resource) -> dict[str, str]:
    given = [g for g in n.get("given") or () if isinstance(g, str)]
    first, last = (given[0] if given else ""), n.get("family") or ""
    return {"use": n.get("use") or "usual", "family": n.get("text") or " ".join(x for x in (first, last) if x),
            "firstName": first, "middleName": " ".join(given[1:]), "lastName": last,
            "alias": ext(n, "name-alias") or ""}


def _telecom_view(t: Resource) -> dict[str, Any]:
    return {"use": t.get("use"), "system": t.get("system"), "value": t.get("value")}


def _contact_view(c: Resource) -> dict[str, Any]:
    name = c.get("name")
    return {"telecom": [_telecom_view(t) for t in c.get("telecom") or () if isinstance(t, dict)],
            "name": [_name_view(name)] if isinstance(name, dict) else []}


def _address_view(a: Resource) -> dict[str, Any]:
    lines = [x for x in a.get("line") or () if isinstance(x, str)]
    return {"city": a.get("city") or "", "use": a.get("use") or "home", "apartment": ext(a, "address-apartment") or "",
            "country": a.get("country") or "", "state": a.get("state") or "", "postalcode": a.get("postalCode") or "",
            "line": lines + [""] * (2 - len(lines))}


def _marital_view(ms: Any) -> str | None:
    if not isinstance(ms, dict):
        return None
    code = next((c.get("code") for c in ms.get("coding") or () if c.get("code")), None)
    return MARITAL.get(code or "") or ms.get("text") or ("other" if code else None)


def _language_view(res: Resource) -> str | None:
    found = None
    for c in res.get("communication") or ():
        lang = c.get("language") or {}
        coding = (lang.get("coding") or [{}])[0]
        found = lang.get("text") or coding.get("display") or coding.get("code")
        if c.get("preferred"):
            break
    return found


def _us_core_view(res: Resource, url: str) -> str | None:
    for e in res.get("extension") or ():
        if e.get("url") == url:
            parts = e.get("extension") or ()
            text = next((p.get("valueString") for p in parts if p.get("url") == "text"), None)
            return text or next(((p.get("valueCoding") or {}).get("display") for p in parts
                                 if p.get("url") == "ombCategory"), None)
    return None


def _deceased_view(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(DECEASED_OUT)
