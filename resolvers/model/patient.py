"""The patient record (seed 003) computed from a FHIR Patient, and patient mutation inputs written back to it
(store/naming.py says where each seed concept lands on FHIR)."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.common import ID_DESCRIPTION, VERSION_DESCRIPTION, EntityRef, Tag, enum_type
from store.errors import Invalid
from store.events import patient_status
from store.fhirjson import ext_map, ident, ref_id, set_ext, version
from store.naming import BCP47, CS, EXT, MARITAL, MARITAL_CODE, SID, SSN_SYSTEM, V3_MARITAL, sid

Resource = dict[str, Any]

MEDICAID_SYSTEM = sid("medicaid-id")
V2_CONTACT_ROLE = "http://terminology.hl7.org/CodeSystem/v2-0131"
GENDERS = ("male", "female", "other", "unknown")
BALANCE_HOLD = 500.0


class PatientStatus(Enum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    PROSPECTIVE = "prospective"
    DECEASED = "deceased"
    ARCHIVED = "archived"


enum_type(PatientStatus, description="Lifecycle status of a patient.", values={
    PatientStatus.ACTIVE: "A current patient.",
    PatientStatus.INACTIVE: "No longer seen; scheduling is restricted.",
    PatientStatus.PROSPECTIVE: "Registered, not yet seen.",
    PatientStatus.DECEASED: "Deceased.",
    PatientStatus.ARCHIVED: "Archived (soft-deleted): hidden from lists unless asked for.",
})


class AllergyReviewStatus(Enum):
    NOT_REVIEWED = "not_reviewed"
    NKDA = "nkda"
    REVIEWED = "reviewed"


enum_type(AllergyReviewStatus, description="Whether a patient's allergy list has been reviewed.", values={
    AllergyReviewStatus.NOT_REVIEWED: "Not reviewed yet.",
    AllergyReviewStatus.NKDA: "Reviewed: no known drug allergies.",
    AllergyReviewStatus.REVIEWED: "Reviewed; the list is current.",
})


class ContactMethod(Enum):
    EMAIL = "email"
    MAIL = "mail"
    NONE = "none"
    PHONE = "phone"
    TEXT = "text"


enum_type(ContactMethod, description="A way of contacting a patient.", values={
    ContactMethod.EMAIL: "By email.",
    ContactMethod.MAIL: "By post.",
    ContactMethod.NONE: "Do not contact.",
    ContactMethod.PHONE: "By phone call.",
    ContactMethod.TEXT: "By text message (SMS).",
})


class Pronoun(Enum):
    HE_HIM = "he_him"
    SHE_HER = "she_her"
    THEY_THEM = "they_them"
    OTHER = "other"
    NOT_SPECIFIED = "not_specified"


enum_type(Pronoun, description="The pronouns a patient uses.", values={
    Pronoun.HE_HIM: "he/him",
    Pronoun.SHE_HER: "she/her",
    Pronoun.THEY_THEM: "they/them",
    Pronoun.OTHER: "Other pronouns.",
    Pronoun.NOT_SPECIFIED: "Not specified by the patient.",
})


_STATUS = {s.value: s for s in PatientStatus}
_REVIEW = {s.value: s for s in AllergyReviewStatus}
_CONTACT = {s.value: s for s in ContactMethod}
_PRONOUN = {s.value: s for s in Pronoun}


@dataclass(eq=False, kw_only=True)
class Patient:
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    version: int = strawberry.field(description=VERSION_DESCRIPTION)
    created_at: str | None = strawberry.field(
        description="When the patient was registered, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z.")
    updated_at: str | None = strawberry.field(
        description="When the record last changed, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z.")
    status: PatientStatus = strawberry.field(
        description="Lifecycle status; change it with transitionPatientStatus, archivePatient, restorePatient.")
    first_name: str | None = strawberry.field(description="Legal first (given) name.")
    middle_name: str | None = strawberry.field(description="Middle name(s), space-separated.")
    last_name: str | None = strawberry.field(description="Legal last (family) name.")
    preferred_name: str | None = strawberry.field(
        description="The name the patient goes by (nickname), for display beside the legal name.")
    title: str | None = strawberry.field(description="Name prefix, e.g. Mr, Ms, Dr.")
    full_name: str = strawberry.field(description="First and last name for display; never null (may be empty).")
    date_of_birth: str | None = strawberry.field(description="Date of birth, YYYY-MM-DD.")
    gender: str | None = strawberry.field(description="Administrative gender: male, female, other or unknown.")
    pronoun: Pronoun | None = strawberry.field(description="Pronouns to use; null when not recorded.")
    marital_status: str | None = strawberry.field(
        description="divorced, domestic_partner, married, other, separated, single or widowed; null when unknown.")
    preferred_language: str | None = strawberry.field(
        description="Preferred language, a BCP 47 tag such as en or es-MX.")
    email: str | None = strawberry.field(description="Email address.")
    mobile_phone: str | None = strawberry.field(description="Mobile phone number, as entered.")
    home_phone: str | None = strawberry.field(description="Home phone number, as entered.")
    work_phone: str | None = strawberry.field(description="Work phone number, as entered.")
    address_line1: str | None = strawberry.field(description="Street address, first line.")
    address_line2: str | None = strawberry.field(description="Street address, second line (apartment, suite).")
    city: str | None = strawberry.field(description="City of the address.")
    state: str | None = strawberry.field(
        description="State or province of the address (e.g. a two-letter US state code).")
    postal_code: str | None = strawberry.field(description="Postal (ZIP) code of the address.")
    country: str | None = strawberry.field(description="Country of the address (ISO 3166 code or name, as entered).")
    chart_number: str | None = strawberry.field(description="The practice's chart number, unique in your clinic.")
    mrn: str | None = strawberry.field(description="Medical record number.")
    social_security_number: str | None = strawberry.field(
        description="US Social Security number, as entered (sensitive: show masked).")
    medicaid_id: str | None = strawberry.field(description="Medicaid member id.")
    spid: str | None = strawberry.field(description="The numeric patient id of the vendor API (SPID), as text.")
    hsid: str | None = strawberry.field(description="The patient's id in the partner EHR (HSID).")
    account_number: str | None = strawberry.field(description="Billing account number.")
    location: EntityRef | None = strawberry.field(description="The patient's home location (clinic site): id and name.")
    premedication_required: bool = strawberry.field(
        description="Premedication is required before procedures (e.g. antibiotic prophylaxis).")
    medical_urgent_note: str | None = strawberry.field(
        description="Urgent medical note to show prominently on the chart; null when none.")
    allergy_review_status: AllergyReviewStatus = strawberry.field(
        description="Whether the allergy list has been reviewed (NKDA: no known drug allergies).")
    preferred_contact_method: ContactMethod | None = strawberry.field(
        description="How the patient prefers to be contacted; null when not recorded.")
    preferred_confirmation_method: ContactMethod | None = strawberry.field(
        description="How the patient prefers appointment confirmations; null when not recorded.")
    receives_email: bool = strawberry.field(description="The patient agreed to receive email.")
    receives_sms: bool = strawberry.field(description="The patient agreed to receive text messages (SMS).")
    consent_flags: int = strawberry.field(description="Consent bit flags as recorded by the practice (0 when none).")
    date_first_visit: str | None = strawberry.field(description="Date of the first visit, YYYY-MM-DD.")
    balance_total: float = strawberry.field(description="Outstanding balance in US dollars (0 when none).")
    scheduling_restricted: bool = strawberry.field(
        description="Scheduling hold: true when the patient is inactive or the balance is over $500.")
    date_time_deceased: str | None = strawberry.field(
        description="Date and time of death, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z; null unless "
                    "deceased.")
    emergency_contact_name: str | None = strawberry.field(description="Name of the emergency contact.")
    emergency_contact_phone: str | None = strawberry.field(description="Phone number of the emergency contact.")
    tags: list[Tag] = strawberry.field(description="The practice's tags on this patient (e.g. vip).")
    primary_provider_id: strawberry.Private[str | None]
    secondary_provider_id: strawberry.Private[str | None]


@dataclass(eq=False, kw_only=True)
class PatientSummary:
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    first_name: str | None = strawberry.field(description="Legal first name.")
    last_name: str | None = strawberry.field(description="Legal last name.")
    preferred_name: str | None = strawberry.field(description="The name the patient goes by.")
    date_of_birth: str | None = strawberry.field(description="Date of birth, YYYY-MM-DD.")
    status: PatientStatus = strawberry.field(description="Lifecycle status.")
    mobile_phone: str | None = strawberry.field(description="Mobile phone number, as entered.")
    email: str | None = strawberry.field(description="Email address.")
    chart_number: str | None = strawberry.field(description="The practice's chart number.")


@dataclass(eq=False, kw_only=True)
class LocationCount:
    location: EntityRef = strawberry.field(description="The location (id and name).")
    count: int = strawberry.field(description="Matching patients at that location.")


@dataclass(eq=False, kw_only=True)
class PatientCountsByLocation:
    items: list[LocationCount] = strawberry.field(description="One count per location, largest first.")
    total: int = strawberry.field(description="All matching patients, with those of no location.")
    excluded_count: int = strawberry.field(description="Matching patients without a location (not in items).")
    statuses: list[PatientStatus] = strawberry.field(description="The statuses counted (as asked, or the default).")
    date_from: str | None = strawberry.field(description="First-visit date range start, YYYY-MM-DD, as asked.")
    date_to: str | None = strawberry.field(description="First-visit date range end, YYYY-MM-DD, as asked.")


@dataclass(eq=False, kw_only=True)
class CreatePatientPayload:
    patient: Patient
    potential_duplicates: list[PatientSummary] = strawberry.field(
        description="Existing patients that may be the same person (same last name and date of birth, email, mobile "
                    "phone or SSN); empty when none.")


# ---------------------------------------------------------------------------------------------- FHIR → record


def names(res: Resource) -> tuple[Resource, Resource | None]:
    """(the legal name, the preferred name) of a FHIR Patient."""
    official = nickname = None
    for n in res.get("name") or ():
        use = n.get("use")
        if use == "nickname":
            nickname = nickname or n
        elif official is None and use in (None, "official", "usual"):
            official = n
    return official or {}, nickname


def _telecom(res: Resource) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in res.get("telecom") or ():
        value = t.get("value")
        if not isinstance(value, str):
            continue
        system, use = t.get("system"), t.get("use")
        if system == "email":
            out.setdefault("email", value)
        elif system in ("phone", "sms"):
            out.setdefault({"mobile": "mobile", "home": "home", "work": "work"}.get(use or "", "mobile"), value)
    return out


def lifecycle(res: Resource) -> str:
    """The patient's seed 003 lifecycle status."""
    return patient_status(res) or "active"


def from_fhir(res: Resource) -> Patient:
    x = ext_map(res).get
    official, nickname = names(res)
    given = official.get("given") or []
    tel = _telecom(res)
    addr = (res.get("address") or [{}])[0]
    lines = addr.get("line") or []
    status = x(EXT["patient-status"]) or lifecycle(res)
    balance = float(x(EXT["balance-total"], 0) or 0)
    gp = res.get("generalPractitioner") or []
    loc = x(EXT["patient-location"])
    lang = None
    for c in res.get("communication") or ():
        coding = (c.get("language") or {}).get("coding") or [{}]
        lang = coding[0].get("code") or (c.get("language") or {}).get("text")
        if c.get("preferred"):
            break
    marital = None
    ms = res.get("maritalStatus")
    if isinstance(ms, dict):
        code = next((c.get("code") for c in ms.get("coding") or () if c.get("code")), None)
        marital = MARITAL.get(code or "", "other" if code else None)
    emergency_name = emergency_phone = None
    for contact in res.get("contact") or ():
        name = contact.get("name") or {}
        emergency_name = name.get("text") or " ".join([*(name.get("given") or []), name.get("family") or ""]).strip()
        emergency_phone = next((t.get("value") for t in contact.get("telecom") or () if t.get("value")), None)
        break
    meta = res.get("meta") or {}
    first = given[0] if given else None
    last = official.get("family")
    return Patient(
        id=res["id"],
        version=version(res),
        created_at=next((e.get("valueInstant") for e in meta.get("extension") or () if e.get("url") == EXT["created"]),
                        meta.get("lastUpdated") if meta.get("versionId") == "1" else None),
        updated_at=meta.get("lastUpdated"),
        status=_STATUS.get(status, PatientStatus.ACTIVE),
        first_name=first,
        middle_name=" ".join(given[1:]) or None,
        last_name=last,
        preferred_name=(nickname.get("given") or [None])[0] if nickname else None,
        title=(official.get("prefix") or [None])[0],
        full_name=" ".join(x for x in (first, last) if x) or official.get("text") or "",
        date_of_birth=res.get("birthDate"),
        gender=res.get("gender"),
        pronoun=_PRONOUN.get(x(EXT["pronouns"]) or ""),
        marital_status=marital,
        preferred_language=lang,
        email=tel.get("email"),
        mobile_phone=tel.get("mobile"),
        home_phone=tel.get("home"),
        work_phone=tel.get("work"),
        address_line1=lines[0] if lines else None,
        address_line2=lines[1] if len(lines) > 1 else None,
        city=addr.get("city"),
        state=addr.get("state"),
        postal_code=addr.get("postalCode"),
        country=addr.get("country"),
        chart_number=ident(res, SID["chart-number"]),
        mrn=ident(res, SID["mrn"]),
        social_security_number=ident(res, SSN_SYSTEM),
        medicaid_id=ident(res, MEDICAID_SYSTEM),
        spid=ident(res, SID["spid"]),
        hsid=ident(res, SID["hsid"]),
        account_number=ident(res, SID["account-number"]),
        location=EntityRef(id=strawberry.ID(lid), name=(loc or {}).get("display")) if (lid := ref_id(loc)) else None,
        premedication_required=bool(x(EXT["premedication-required"], False)),
        medical_urgent_note=x(EXT["medical-urgent-note"]),
        allergy_review_status=_REVIEW.get(x(EXT["allergy-review-status"]) or "", AllergyReviewStatus.NOT_REVIEWED),
        preferred_contact_method=_CONTACT.get(x(EXT["preferred-contact-method"]) or ""),
        preferred_confirmation_method=_CONTACT.get(x(EXT["preferred-confirmation-method"]) or ""),
        receives_email=bool(x(EXT["receives-email"], False)),
        receives_sms=bool(x(EXT["receives-sms"], False)),
        consent_flags=int(x(EXT["consent-flags"], 0) or 0),
        date_first_visit=x(EXT["date-first-visit"]),
        balance_total=balance,
        scheduling_restricted=status == "inactive" or balance > BALANCE_HOLD,
        date_time_deceased=res.get("deceasedDateTime"),
        emergency_contact_name=emergency_name,
        emergency_contact_phone=emergency_phone,
        tags=[Tag(code=t["code"], display=t.get("display")) for t in meta.get("tag") or ()
              if t.get("system") == CS["patient-tag"] and t.get("code")],
        primary_provider_id=ref_id(gp[0], "Practitioner") if gp else None,
        secondary_provider_id=ref_id(gp[1], "Practitioner") if len(gp) > 1 else None,
    )


def summary_from_fhir(res: Resource) -> PatientSummary:
    official, nickname = names(res)
    given = official.get("given") or []
    tel = _telecom(res)
    return PatientSummary(
        id=res["id"], first_name=given[0] if given else None, last_name=official.get("family"),
        preferred_name=(nickname.get("given") or [None])[0] if nickname else None,
        date_of_birth=res.get("birthDate"),
        status=_STATUS.get(lifecycle(res), PatientStatus.ACTIVE),
        mobile_phone=tel.get("mobile"), email=tel.get("email"), chart_number=ident(res, SID["chart-number"]),
    )


# ---------------------------------------------------------------------------------------------- input → FHIR


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
)
_IDENTIFIERS = (("chart_number", SID["chart-number"]), ("mrn", SID["mrn"]), ("social_security_number", SSN_SYSTEM),
                ("medicaid_id", MEDICAID_SYSTEM), ("hsid", SID["hsid"]))
_TELECOMS = (("email", "email", None), ("mobile_phone", "phone", "mobile"), ("home_phone", "phone", "home"),
             ("work_phone", "phone", "work"))


def apply_fields(res: Resource, f: dict[str, Any]) -> Resource:
    """Apply the provided input fields (PATCH semantics: absent = untouched, None = cleared) to a FHIR Patient."""
    _set_name(res, f)
    if "date_of_birth" in f:
        _put(res, "birthDate", f["date_of_birth"])
    if "gender" in f:
        if f["gender"] is not None and f["gender"] not in GENDERS:
            raise Invalid(f"gender must be one of {', '.join(GENDERS)}", field="gender")
        _put(res, "gender", f["gender"])
    for key, system, use in _TELECOMS:
        if key in f:
            _set_telecom(res, system, use, f[key])
    if {"address_line1", "address_line2", "city", "state", "postal_code", "country"} & f.keys():
        _set_address(res, f)
    if "marital_status" in f:
        ms = f["marital_status"]
        if ms is not None and ms not in MARITAL_CODE:
            raise Invalid(f"maritalStatus must be one of {', '.join(sorted(MARITAL_CODE))}", field="maritalStatus")
        _put(res, "maritalStatus", None if ms is None else
             {"coding": [{"system": V3_MARITAL, "code": MARITAL_CODE[ms]}], "text": ms})
    if "preferred_language" in f:
        lang = f["preferred_language"]
        _put(res, "communication", None if not lang else
             [{"language": {"coding": [{"system": BCP47, "code": lang}]}, "preferred": True}])
    for key, system in _IDENTIFIERS:
        if key in f:
            _set_ident(res, system, f[key])
    if "primary_provider_id" in f or "secondary_provider_id" in f:
        gp = list(res.get("generalPractitioner") or [])
        prim = f.get("primary_provider_id", ref_id(gp[0]) if gp else None)
        sec = f.get("secondary_provider_id", ref_id(gp[1]) if len(gp) > 1 else None)
        _put(res, "generalPractitioner", [{"reference": f"Practitioner/{p}"} for p in (prim, sec) if p])
    if "location_id" in f:
        lid = f["location_id"]
        set_ext(res, "patient-location", "valueReference", {"reference": f"Location/{lid}"} if lid else None)
    for key, name, value_key in _EXTENSIONS:
        if key in f:
            set_ext(res, name, value_key, _enum(f[key]))
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


def set_status(res: Resource, status: str) -> None:
    set_ext(res, "patient-status", "valueCode", status)
    res["active"] = status not in ("inactive", "archived")
    if status == "deceased" and not res.get("deceasedDateTime"):
        res["deceasedBoolean"] = True
