"""Patient mutation inputs written to a FHIR Patient (seed 003 CreatePatientIn / PATCH), and their validation.

Fields arrive as a dict of snake_case names (the inputs' Python names); errors name the offending input by its
GraphQL path (``input.dateOfBirth``: graph/errors.py's convention for ``extensions.field``), and messages quote
the GraphQL names, never FHIR element or search-parameter names.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from resolvers.model.common import camel, check_date, check_datetime, invalid
from resolvers.model.patient import GENDERS, MEDICAID_SYSTEM
from store.clock import utc_now
from store.fhirjson import ref_id, set_ext
from store.naming import BCP47, CS, MARITAL_CODE, SID, SSN_SYSTEM, marital_status

Resource = dict[str, Any]

V2_CONTACT_ROLE = "http://terminology.hl7.org/CodeSystem/v2-0131"
# Deliberately plain: one @, no spaces, a dot in the domain. Deliverability is the mail server's question.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
ARRIVE_EARLY_MAX = 120
# The seed gives no lengths; a name longer than this is a mistake or an attack, never a person's name.
NAME_MAX = 100
NAME_FIELDS = ("first_name", "last_name", "middle_name", "preferred_name", "title", "salutation",
               "emergency_contact_name")


def _check_range(f: dict[str, Any], field: str, low: int, high: int, prefix: str) -> None:
    v = f.get(field)
    if v is not None and not low <= v <= high:
        raise invalid(field, f"{camel(field)} must be between {low} and {high}", prefix)


def digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def validate(f: dict[str, Any], *, creating: bool, prefix: str = "input") -> None:
    """The seed's validation rules for the fields sent (PATCH: only those)."""
    for required in ("first_name", "last_name"):
        if (creating or required in f) and not (f.get(required) or "").strip():
            raise invalid(required, f"{camel(required)} is required and cannot be blank", prefix)
    for field in NAME_FIELDS:
        if isinstance(f.get(field), str) and len(f[field]) > NAME_MAX:
            raise invalid(field, f"{camel(field)} must be at most {NAME_MAX} characters", prefix)
    for field in ("date_of_birth", "date_first_visit"):
        check_date(f.get(field), field, prefix)
    # "Today" where it is latest (UTC+14): a baby born today anywhere is not in the future.
    if f.get("date_of_birth") and f["date_of_birth"] > (utc_now() + timedelta(hours=14)).date().isoformat():
        raise invalid("date_of_birth", "dateOfBirth cannot be in the future", prefix)
    check_datetime(f.get("date_time_deceased"), "date_time_deceased", prefix)
    gender = _enum(f.get("gender"))
    if gender is not None and gender not in GENDERS:
        raise invalid("gender", f"gender must be one of {', '.join(GENDERS)}", prefix)
    ms = _enum(f.get("marital_status"))
    if ms is not None and ms not in MARITAL_CODE:
        raise invalid("marital_status", f"maritalStatus must be one of {', '.join(sorted(MARITAL_CODE))}", prefix)
    email = f.get("email")
    if email is not None and not EMAIL.match(email):
        raise invalid("email", "email is not a valid email address", prefix)
    ssn = f.get("social_security_number")
    if ssn is not None and (len(digits(ssn)) != 9 or not re.fullmatch(r"[0-9 -]+", ssn)):
        raise invalid("social_security_number", "socialSecurityNumber must have 9 digits (dashes allowed)", prefix)
    _check_range(f, "ask_to_arrive_early_mins", 0, ARRIVE_EARLY_MAX, prefix)
    _check_range(f, "billing_cycle_day", 1, 31, prefix)
    if (f.get("consent_flags") or 0) < 0:
        raise invalid("consent_flags", "consentFlags must not be negative", prefix)
    if "chart_number" in f and f["chart_number"] is not None and not f["chart_number"].strip():
        raise invalid("chart_number", "chartNumber cannot be blank (send null to clear it)", prefix)


def _set_name(res: Resource, f: dict[str, Any]) -> None:
    names_ = res.setdefault("name", [])
    official = next((n for n in names_ if n.get("use") in (None, "official")), None)
    if official is None:
        official = {"use": "official"}
        names_.insert(0, official)
    given = list(official.get("given") or [])
    if "first_name" in f:
        given = [f["first_name"] or "", *given[1:]]
    if "middle_name" in f:
        given = [given[0] if given else "", *([f["middle_name"]] if f["middle_name"] else [])]
    given = [g for g in given if g]
    _put(official, "given", given)
    if "last_name" in f:
        _put(official, "family", f["last_name"])
    if "title" in f:
        _put(official, "prefix", [f["title"]] if f["title"] else None)
    if "preferred_name" in f:
        res["name"] = names_ = [n for n in names_ if n.get("use") != "nickname"]
        if f["preferred_name"]:
            nick: Resource = {"use": "nickname", "given": [f["preferred_name"]]}
            if official.get("family"):
                nick["family"] = official["family"]
            names_.append(nick)


def _set_telecom(res: Resource, system: str, use: str | None, value: str | None) -> None:
    tel = [t for t in res.get("telecom") or () if not (t.get("system") == system and
                                                       (use is None or t.get("use") == use))]
    if value:
        entry = {"system": system, "value": value}
        if use:
            entry["use"] = use
        tel.append(entry)
    _put(res, "telecom", tel)


def _set_ident(res: Resource, system: str, value: str | None) -> None:
    ids = [i for i in res.get("identifier") or () if i.get("system") != system]
    if value:
        ids.append({"system": system, "value": value})
    _put(res, "identifier", ids)


def _enum(v: Any) -> Any:
    return getattr(v, "value", v)


def _set_address(res: Resource, f: dict[str, Any]) -> None:
    addr = dict((res.get("address") or [{}])[0])
    lines = list(addr.get("line") or [])
    if "address_line1" in f:
        lines = [f["address_line1"] or "", *lines[1:]]
    if "address_line2" in f:
        lines = [lines[0] if lines else "", *([f["address_line2"]] if f["address_line2"] else [])]
    _put(addr, "line", [x for x in lines if x])
    for key, fhir_key in (("city", "city"), ("state", "state"), ("postal_code", "postalCode"),
                          ("country", "country")):
        if key in f:
            _put(addr, fhir_key, f[key])
    rest = (res.get("address") or [])[1:]
    _put(res, "address", [addr, *rest] if addr else rest)


def _set_emergency_contact(res: Resource, f: dict[str, Any]) -> None:
    contacts = [c for c in res.get("contact") or () if not _is_emergency(c)]
    old: Resource = next((c for c in res.get("contact") or () if _is_emergency(c)), {})
    name = f.get("emergency_contact_name", (old.get("name") or {}).get("text"))
    phone = f.get("emergency_contact_phone", next((t.get("value") for t in old.get("telecom") or ()), None))
    if name or phone:
        c: Resource = {"relationship": [{"coding": [{"system": V2_CONTACT_ROLE, "code": "C",
                                                     "display": "Emergency Contact"}]}]}
        if name:
            c["name"] = {"text": name}
        if phone:
            c["telecom"] = [{"system": "phone", "value": phone}]
        contacts.append(c)
    _put(res, "contact", contacts)


_EXTENSIONS = (  # input field, our extension, its value[x]
    ("pronoun", "pronouns", "valueCode"), ("premedication_required", "premedication-required", "valueBoolean"),
    ("medical_urgent_note", "medical-urgent-note", "valueString"),
    ("allergy_review_status", "allergy-review-status", "valueCode"),
    ("preferred_contact_method", "preferred-contact-method", "valueCode"),
    ("preferred_confirmation_method", "preferred-confirmation-method", "valueCode"),
    ("receives_email", "receives-email", "valueBoolean"), ("receives_sms", "receives-sms", "valueBoolean"),
    ("consent_flags", "consent-flags", "valueInteger"), ("date_first_visit", "date-first-visit", "valueDate"),
    ("salutation", "salutation", "valueString"), ("address_note", "address-note", "valueString"),
    ("appointment_module_note", "appointment-module-note", "valueString"),
    ("treatment_notes", "treatment-notes", "valueString"), ("medical_summary_text", "medical-summary", "valueString"),
    ("ask_to_arrive_early_mins", "arrive-early-minutes", "valueInteger"),
    ("billing_cycle_day", "billing-cycle-day", "valueInteger"),
)
# Catalog references: input field, our extension, the resource type referenced.
REFERENCES = (("billing_type_id", "billing-type", "Basic"), ("fee_schedule_id", "fee-schedule", "Basic"),
              ("employer_id", "employer", "Organization"), ("location_id", "patient-location", "Location"))
_IDENTIFIERS = (("chart_number", SID["chart-number"]), ("mrn", SID["mrn"]), ("social_security_number", SSN_SYSTEM),
                ("medicaid_id", MEDICAID_SYSTEM), ("hsid", SID["hsid"]))
_TELECOMS = (("email", "email", None), ("mobile_phone", "phone", "mobile"), ("home_phone", "phone", "home"),
             ("work_phone", "phone", "work"))


def _set_gender(res: Resource, gender: str | None) -> None:
    _put(res, "gender", GENDERS.get(gender) if gender else None)
    set_ext(res, "gender-detail", "valueCode", gender if gender and GENDERS[gender] != gender else None)


def apply_fields(res: Resource, f: dict[str, Any]) -> Resource:
    """Apply the provided input fields (PATCH semantics: absent = untouched, None = cleared) to a FHIR Patient.
    The fields have passed ``validate``."""
    _set_name(res, f)
    if "date_of_birth" in f:
        _put(res, "birthDate", f["date_of_birth"])
    if "gender" in f:
        _set_gender(res, _enum(f["gender"]))
    for key, system, use in _TELECOMS:
        if key in f:
            _set_telecom(res, system, use, f[key])
    if {"address_line1", "address_line2", "city", "state", "postal_code", "country"} & f.keys():
        _set_address(res, f)
    if "marital_status" in f:
        ms = _enum(f["marital_status"])
        _put(res, "maritalStatus", None if ms is None else marital_status(ms))
    if "preferred_language" in f:
        lang = f["preferred_language"]
        _put(res, "communication", None if not lang else
             [{"language": {"coding": [{"system": BCP47, "code": lang}]}, "preferred": True}])
    for key, system in _IDENTIFIERS:
        if key in f:
            _set_ident(res, system, f[key].strip() if isinstance(f[key], str) else f[key])
    if "primary_provider_id" in f or "secondary_provider_id" in f:
        gp = list(res.get("generalPractitioner") or [])
        prim = f.get("primary_provider_id", ref_id(gp[0]) if gp else None)
        sec = f.get("secondary_provider_id", ref_id(gp[1]) if len(gp) > 1 else None)
        _put(res, "generalPractitioner", [{"reference": f"Practitioner/{p}"} for p in (prim, sec) if p])
    for key, name, rt in REFERENCES:
        if key in f:
            set_ext(res, name, "valueReference", {"reference": f"{rt}/{f[key]}"} if f[key] else None)
    for key, name, value_key in _EXTENSIONS:
        if key in f:
            value = _enum(f[key])
            set_ext(res, name, value_key, None if value == "" else value)
    if "date_time_deceased" in f:
        _put(res, "deceasedDateTime", f["date_time_deceased"])
        if f["date_time_deceased"]:
            res.pop("deceasedBoolean", None)
    if "emergency_contact_name" in f or "emergency_contact_phone" in f:
        _set_emergency_contact(res, f)
    if "tags" in f:
        meta = res.setdefault("meta", {})
        kept = [t for t in meta.get("tag") or () if t.get("system") != CS["patient-tag"]]
        _put(meta, "tag", kept + [{"system": CS["patient-tag"], "code": t} for t in f["tags"] or ()])
    return res


def _is_emergency(contact: Resource) -> bool:
    return any(c.get("code") == "C" for r in contact.get("relationship") or () for c in r.get("coding") or ())


def _put(obj: Resource, key: str, value: Any) -> None:
    """Set ``key``, or remove it for an empty value (FHIR JSON has no empty strings, arrays or nulls)."""
    if value is None or value == [] or value == "":
        obj.pop(key, None)
    else:
        obj[key] = value
