"""The patient record (seed 003) computed from a FHIR Patient (store/naming.py says where each seed concept lands
on FHIR); mutation inputs are written back to FHIR by resolvers/model/patient_input.py."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Any

import strawberry

from resolvers.model.common import EntityRef, Lazy, Tag, enum_type
from store.events import patient_status
from store.fhirjson import ext, ext_map, ident, ref_id, set_ext, version
from store.naming import CS, EXT, MARITAL, SID, SSN_SYSTEM, sid

Resource = dict[str, Any]

MEDICAID_SYSTEM = sid("medicaid-id")
# The seed's six genders → FHIR administrative gender; the seed's own word is kept in EXT["gender-detail"] when
# FHIR has no code of its own for it.
GENDERS = {"male": "male", "female": "female", "non_binary": "other", "other": "other", "unknown": "unknown",
           "prefer_not_to_say": "unknown"}
BALANCE_HOLD = 500.0


class PatientStatus(Enum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    PROSPECTIVE = "prospective"
    DECEASED = "deceased"
    ARCHIVED = "archived"


enum_type(PatientStatus, description="Patient lifecycle status. New patients are ACTIVE unless created PROSPECTIVE.",
          values={
    PatientStatus.ACTIVE: "A current patient.",
    PatientStatus.INACTIVE: "No longer seen; scheduling is restricted. Can be made ACTIVE again.",
    PatientStatus.PROSPECTIVE: "Registered but not yet seen (e.g. an online booking); becomes ACTIVE.",
    PatientStatus.DECEASED: "The patient has died (dateTimeDeceased when known).",
    PatientStatus.ARCHIVED: "Soft-deleted (archivePatient); hidden from lists unless asked for; restorePatient "
                            "brings it back.",
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


class Gender(Enum):
    MALE = "male"
    FEMALE = "female"
    NON_BINARY = "non_binary"
    OTHER = "other"
    UNKNOWN = "unknown"
    PREFER_NOT_TO_SAY = "prefer_not_to_say"


enum_type(Gender, description="Administrative gender for clinical records. FHIR REST shows it as Patient.gender "
                              "(male, female, other, unknown) with the exact value in an extension.", values={
    Gender.MALE: "Male.",
    Gender.FEMALE: "Female.",
    Gender.NON_BINARY: "Non-binary (FHIR gender: other).",
    Gender.OTHER: "Another gender.",
    Gender.UNKNOWN: "Not known.",
    Gender.PREFER_NOT_TO_SAY: "The patient prefers not to say (FHIR gender: unknown).",
})


class MaritalStatus(Enum):
    DIVORCED = "divorced"
    DOMESTIC_PARTNER = "domestic_partner"
    MARRIED = "married"
    OTHER = "other"
    SEPARATED = "separated"
    SINGLE = "single"
    WIDOWED = "widowed"


enum_type(MaritalStatus, description="Marital status (HL7 v3 MaritalStatus codes in FHIR REST).", values={
    MaritalStatus.DIVORCED: "Divorced (v3 D).",
    MaritalStatus.DOMESTIC_PARTNER: "In a domestic partnership (v3 T).",
    MaritalStatus.MARRIED: "Married (v3 M).",
    MaritalStatus.OTHER: "Another status, or one recorded elsewhere with a code not listed here.",
    MaritalStatus.SEPARATED: "Legally separated (v3 L).",
    MaritalStatus.SINGLE: "Never married (v3 S).",
    MaritalStatus.WIDOWED: "Widowed (v3 W).",
})


_STATUS = {s.value: s for s in PatientStatus}
_GENDER = {g.value: g for g in Gender}
_MARITAL = {m.value: m for m in MaritalStatus}
_REVIEW = {s.value: s for s in AllergyReviewStatus}
_CONTACT = {s.value: s for s in ContactMethod}
_PRONOUN = {s.value: s for s in Pronoun}


def _f(description: str, name: str | None = None) -> Any:
    return strawberry.field(description=description, name=name)


@dataclass(eq=False, kw_only=True)
class Patient:
    """One patient as the front end shows it. Where each value lives on FHIR: store/naming.py. The billing values
    (aging balances, estimates) are extensions on the Patient beside ``balance-total``: FHIR R4's Account has no
    balance element (R5 adds one), and the seed keeps them per patient, so one read of the Patient answers them."""

    id: strawberry.ID = _f("The patient's id (a UUID).")
    version: int = _f("Optimistic concurrency version; pass it as baseVersion when changing the patient.")
    created_at: str | None = _f("When the record was created (ISO 8601 date-time, UTC).")
    updated_at: str | None = _f("When the record was last changed (ISO 8601 date-time, UTC).")
    deleted_at: str | None = _f("When the patient was archived (ISO 8601 date-time); null unless archived.")
    status: PatientStatus = _f("Lifecycle status; change it with transitionPatientStatus / archivePatient.")
    first_name: str | None = _f("Legal first name.")
    middle_name: str | None = _f("Middle name(s), space-separated.")
    last_name: str | None = _f("Legal last name (surname).")
    preferred_name: str | None = _f("The name the patient likes to be called (nickname).")
    title: str | None = _f("Name prefix, e.g. 'Dr.' or 'Ms.'.")
    salutation: str | None = _f("How letters address the patient, e.g. 'Dear Maria'.")
    full_name: str = _f("First and last name joined by a space, for display.")
    date_of_birth: str | None = _f("Date of birth, YYYY-MM-DD.")
    gender: Gender | None = _f("Administrative gender; null when not recorded.")
    pronoun: Pronoun | None = _f("Pronouns the patient uses.")
    marital_status: MaritalStatus | None = _f("Marital status; null when not recorded.")
    preferred_language: str | None = _f("Preferred language as a BCP 47 code, e.g. 'en' or 'es'.")
    email: str | None = _f("Email address.")
    mobile_phone: str | None = _f("Mobile phone number, as entered.")
    home_phone: str | None = _f("Home phone number, as entered.")
    work_phone: str | None = _f("Work phone number, as entered.")
    address_line1: str | None = _f("Street address, first line.")
    address_line2: str | None = _f("Street address, second line (apartment, suite).")
    city: str | None = _f("City.")
    state: str | None = _f("State or province (e.g. 'OH').")
    postal_code: str | None = _f("Postal (ZIP) code.")
    country: str | None = _f("Country (e.g. 'US').")
    address_note: str | None = _f("Free-text note about the address (gate code, mailing instructions).")
    chart_number: str | None = _f("The practice's chart number; unique within the practice.")
    mrn: str | None = _f("Medical record number.")
    social_security_number: str | None = _f("US Social Security number, as entered (e.g. 123-45-6789).")
    medicaid_id: str | None = _f("Medicaid member id.")
    spid: str | None = _f("The qapi numeric patient id (vendor API).")
    hsid: str | None = _f("The EHR's patient id.")
    account_number: str | None = _f("The household billing account number.")
    premedication_required: bool = _f("Whether antibiotic premedication is required before dental procedures.")
    medical_urgent_note: str | None = _f("Urgent medical note shown in the chart header.")
    medical_summary_text: str | None = _f(
        "Free-text medical summary typed by staff (the structured chart header is medicalSummary).")
    treatment_notes: str | None = _f("Free-text treatment notes.")
    appointment_module_note: str | None = _f("Note shown in the scheduler whenever this patient is booked.")
    ask_to_arrive_early_mins: int | None = _f(
        "Minutes to ask the patient to arrive before each appointment (0–120).")
    allergy_review_status: AllergyReviewStatus = _f("Whether allergies have been reviewed (NKDA: none known).")
    preferred_contact_method: ContactMethod | None = _f("How the patient prefers to be contacted.")
    preferred_confirmation_method: ContactMethod | None = _f(
        "How the patient prefers appointment confirmations.")
    receives_email: bool = _f("Opted in to email communications.")
    receives_sms: bool = _f("Opted in to SMS messages.")
    consent_flags: int = _f(
        "Consent bitmask: 1 HIPAA notice, 2 consent to treat, 4 financial policy, 8 telehealth.")
    date_first_visit: str | None = _f("Date of the first visit, YYYY-MM-DD.")
    balance_total: float = _f("Total outstanding balance, in US dollars.")
    balance_0_30: float = _f("Part of the balance 0–30 days old, in US dollars.", "balance0To30")
    balance_31_60: float = _f("Part of the balance 31–60 days old, in US dollars.", "balance31To60")
    balance_61_90: float = _f("Part of the balance 61–90 days old, in US dollars.", "balance61To90")
    balance_over_90: float = _f("Part of the balance more than 90 days old, in US dollars.")
    estimated_balance: float | None = _f(
        "What the patient is expected to owe once insurance has paid, in US dollars.")
    insurance_estimate: float | None = _f("What insurance is expected to pay, in US dollars.")
    payment_plan_due: float | None = _f("Amount currently due on the patient's payment plan, in US dollars.")
    billing_cycle_day: int | None = _f("Day of the month (1–31) on which the patient's statements go out.")
    scheduling_restricted: bool = _f(
        "Scheduling hold: true when status is INACTIVE or the balance exceeds $500.")
    date_time_deceased: str | None = _f("Date and time of death (ISO 8601), when deceased.")
    emergency_contact_name: str | None = _f("Emergency contact's name.")
    emergency_contact_phone: str | None = _f("Emergency contact's phone number.")
    tags: list[Tag] = _f("Tags assigned to the patient (their codes and display names).")
    primary_provider_id: strawberry.Private[str | None]
    secondary_provider_id: strawberry.Private[str | None]
    location_id: strawberry.Private[str | None]
    location_display: strawberry.Private[str | None]
    billing_type_id: strawberry.Private[str | None]
    fee_schedule_id: strawberry.Private[str | None]
    employer_id: strawberry.Private[str | None]


@dataclass(eq=False, kw_only=True)
class PatientSummary:
    """A few identifying fields, for typeahead lists and duplicate warnings."""

    id: strawberry.ID = _f("The patient's id.")
    first_name: str | None = _f("Legal first name.")
    last_name: str | None = _f("Legal last name.")
    preferred_name: str | None = _f("Preferred name (nickname).")
    date_of_birth: str | None = _f("Date of birth, YYYY-MM-DD.")
    status: PatientStatus = _f("Lifecycle status.")
    mobile_phone: str | None = _f("Mobile phone number, as entered.")
    email: str | None = _f("Email address.")
    chart_number: str | None = _f("Chart number.")


@dataclass(eq=False, kw_only=True)
class PatientSearchPage:
    """Typeahead results and how many patients match in all (to show "12 of 240")."""

    items: list[PatientSummary] = _f("The first matches, by last then first name (at most the limit asked for).")
    total: int = _f("How many patients match the text in all, archived ones left out.")


@dataclass(eq=False, kw_only=True)
class LocationCount:
    """How many patients one location has."""

    location: EntityRef = _f("The location.")
    count: int = _f("Patients counted under it.")


@dataclass(eq=False, kw_only=True)
class PatientCountsByLocation:
    """Patient counts per active location, no patient rows."""

    items: list[LocationCount] = _f("One entry per active location with patients, the largest first.")
    total: int = _f("Sum of the counts in items.")
    excluded_count: int = _f("Matching patients not grouped under an active location.")
    statuses: list[PatientStatus] = _f("The statuses counted.")
    date_from: str | None = _f("First-visit dates from this date (inclusive), YYYY-MM-DD.")
    date_to: str | None = _f("First-visit dates before this date (exclusive), YYYY-MM-DD.")
    group_by: str = strawberry.field(
        default="location", description="What the counts are grouped by: always `location` (one item per location).")


@dataclass(eq=False, kw_only=True)
class PatientWritePayload:
    """What a patient write answers: the patient and the other patients it may duplicate."""

    patient: Patient = _f("The patient as written.")
    potential_duplicates: list[PatientSummary] = _f(
        "Other existing patients this one may duplicate: same last name and date of birth, same email (whatever "
        "its case), same mobile phone (whatever its punctuation) or same SSN (with or without dashes). A "
        "warning only: the write happened.")


@dataclass(eq=False, kw_only=True)
class CreatePatientPayload(PatientWritePayload):
    """What createPatient answers."""


@dataclass(eq=False, kw_only=True)
class UpdatePatientPayload(PatientWritePayload):
    """What updatePatient answers."""


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


def gender_of(res: Resource) -> str | None:
    """The seed's gender word: the detail extension when it agrees with the FHIR gender, else the FHIR gender
    (another door may have changed ``gender`` without knowing of the detail)."""
    fhir = res.get("gender")
    detail = ext(res, "gender-detail")
    return detail if isinstance(detail, str) and GENDERS.get(detail) == fhir else fhir


def _money(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _language(res: Resource) -> str | None:
    lang = None
    for c in res.get("communication") or ():
        coding = (c.get("language") or {}).get("coding") or [{}]
        lang = coding[0].get("code") or (c.get("language") or {}).get("text")
        if c.get("preferred"):
            break
    return lang


def _marital(res: Resource) -> str | None:
    ms = res.get("maritalStatus")
    if not isinstance(ms, dict):
        return None
    code = next((c.get("code") for c in ms.get("coding") or () if c.get("code")), None)
    return MARITAL.get(code or "", "other" if code else None)


def _emergency(res: Resource) -> tuple[str | None, str | None]:
    for contact in res.get("contact") or ():
        name = contact.get("name") or {}
        full = name.get("text") or " ".join([*(name.get("given") or []), name.get("family") or ""]).strip()
        return full or None, next((t.get("value") for t in contact.get("telecom") or () if t.get("value")), None)
    return None, None


def _ref(value: Any, rt: str) -> str | None:
    return ref_id(value, rt) if isinstance(value, dict) else None


class _Reading:
    """One FHIR Patient read for its record: what several fields share, each computed on first use."""

    def __init__(self, res: Resource):
        self.res = res

    @cached_property
    def x(self) -> Callable[..., Any]:
        return ext_map(self.res).get

    @cached_property
    def named(self) -> tuple[Resource, Resource | None]:
        return names(self.res)

    @cached_property
    def given(self) -> list[str]:
        return self.named[0].get("given") or []

    @cached_property
    def first(self) -> str | None:
        return self.given[0] if self.given else None

    @cached_property
    def tel(self) -> dict[str, str]:
        return _telecom(self.res)

    @cached_property
    def addr(self) -> Resource:
        found: Resource = (self.res.get("address") or [{}])[0]
        return found

    @cached_property
    def lines(self) -> list[str]:
        return self.addr.get("line") or []

    @cached_property
    def status(self) -> Any:
        return self.x(EXT["patient-status"]) or lifecycle(self.res)

    @cached_property
    def balance(self) -> float:
        return _money(self.x(EXT["balance-total"])) or 0.0

    @cached_property
    def gp(self) -> list[Any]:
        return self.res.get("generalPractitioner") or []

    @cached_property
    def loc(self) -> Any:
        return self.x(EXT["patient-location"])

    @cached_property
    def emergency(self) -> tuple[str | None, str | None]:
        return _emergency(self.res)

    @cached_property
    def meta(self) -> Resource:
        found: Resource = self.res.get("meta") or {}
        return found


def _created_at(r: _Reading) -> str | None:
    return next((e.get("valueInstant") for e in r.meta.get("extension") or () if e.get("url") == EXT["created"]),
                r.meta.get("lastUpdated") if r.meta.get("versionId") == "1" else None)


def _extension(name: str, default: Any = None) -> Callable[[_Reading], Any]:
    url = EXT[name]
    return lambda r: r.x(url, default)


def _money_of(name: str) -> Callable[[_Reading], float | None]:
    url = EXT[name]
    return lambda r: _money(r.x(url))


def _identifier(system: str) -> Callable[[_Reading], str | None]:
    return lambda r: ident(r.res, system)


# Each field of the record from the FHIR Patient: ``from_fhir`` reads them all, ``LazyPatient`` each when first asked.
FIELDS: dict[str, Callable[[_Reading], Any]] = {
    "id": lambda r: r.res["id"],
    "version": lambda r: version(r.res),
    "created_at": _created_at,
    "updated_at": lambda r: r.meta.get("lastUpdated"),
    "deleted_at": lambda r: r.x(EXT["deleted-at"]) if r.status == "archived" else None,
    "status": lambda r: _STATUS.get(r.status, PatientStatus.ACTIVE),
    "first_name": lambda r: r.first,
    "middle_name": lambda r: " ".join(r.given[1:]) or None,
    "last_name": lambda r: r.named[0].get("family"),
    "preferred_name": lambda r: (r.named[1].get("given") or [None])[0] if r.named[1] else None,
    "title": lambda r: (r.named[0].get("prefix") or [None])[0],
    "salutation": _extension("salutation"),
    "full_name": lambda r: " ".join(x for x in (r.first, r.named[0].get("family")) if x) or r.named[0].get("text")
    or "",
    "date_of_birth": lambda r: r.res.get("birthDate"),
    "gender": lambda r: _GENDER.get(gender_of(r.res) or ""),
    "pronoun": lambda r: _PRONOUN.get(r.x(EXT["pronouns"]) or ""),
    "marital_status": lambda r: _MARITAL.get(_marital(r.res) or ""),
    "preferred_language": lambda r: _language(r.res),
    "email": lambda r: r.tel.get("email"),
    "mobile_phone": lambda r: r.tel.get("mobile"),
    "home_phone": lambda r: r.tel.get("home"),
    "work_phone": lambda r: r.tel.get("work"),
    "address_line1": lambda r: r.lines[0] if r.lines else None,
    "address_line2": lambda r: r.lines[1] if len(r.lines) > 1 else None,
    "city": lambda r: r.addr.get("city"),
    "state": lambda r: r.addr.get("state"),
    "postal_code": lambda r: r.addr.get("postalCode"),
    "country": lambda r: r.addr.get("country"),
    "address_note": _extension("address-note"),
    "chart_number": _identifier(SID["chart-number"]),
    "mrn": _identifier(SID["mrn"]),
    "social_security_number": _identifier(SSN_SYSTEM),
    "medicaid_id": _identifier(MEDICAID_SYSTEM),
    "spid": _identifier(SID["spid"]),
    "hsid": _identifier(SID["hsid"]),
    "account_number": _identifier(SID["account-number"]),
    "premedication_required": lambda r: bool(r.x(EXT["premedication-required"], False)),
    "medical_urgent_note": _extension("medical-urgent-note"),
    "medical_summary_text": _extension("medical-summary"),
    "treatment_notes": _extension("treatment-notes"),
    "appointment_module_note": _extension("appointment-module-note"),
    "ask_to_arrive_early_mins": lambda r: _int(r.x(EXT["arrive-early-minutes"])),
    "allergy_review_status": lambda r: _REVIEW.get(r.x(EXT["allergy-review-status"]) or "",
                                                   AllergyReviewStatus.NOT_REVIEWED),
    "preferred_contact_method": lambda r: _CONTACT.get(r.x(EXT["preferred-contact-method"]) or ""),
    "preferred_confirmation_method": lambda r: _CONTACT.get(r.x(EXT["preferred-confirmation-method"]) or ""),
    "receives_email": lambda r: bool(r.x(EXT["receives-email"], False)),
    "receives_sms": lambda r: bool(r.x(EXT["receives-sms"], False)),
    "consent_flags": lambda r: int(r.x(EXT["consent-flags"], 0) or 0),
    "date_first_visit": _extension("date-first-visit"),
    "balance_total": lambda r: r.balance,
    "balance_0_30": lambda r: _money(r.x(EXT["balance-0-30"])) or 0.0,
    "balance_31_60": lambda r: _money(r.x(EXT["balance-31-60"])) or 0.0,
    "balance_61_90": lambda r: _money(r.x(EXT["balance-61-90"])) or 0.0,
    "balance_over_90": lambda r: _money(r.x(EXT["balance-over-90"])) or 0.0,
    "estimated_balance": _money_of("estimated-balance"),
    "insurance_estimate": _money_of("insurance-estimate"),
    "payment_plan_due": _money_of("payment-plan-due"),
    "billing_cycle_day": lambda r: _int(r.x(EXT["billing-cycle-day"])),
    "scheduling_restricted": lambda r: r.status == "inactive" or r.balance > BALANCE_HOLD,
    "date_time_deceased": lambda r: r.res.get("deceasedDateTime"),
    "emergency_contact_name": lambda r: r.emergency[0],
    "emergency_contact_phone": lambda r: r.emergency[1],
    "tags": lambda r: [Tag(code=t["code"], display=t.get("display")) for t in r.meta.get("tag") or ()
                       if t.get("system") == CS["patient-tag"] and t.get("code")],
    "primary_provider_id": lambda r: ref_id(r.gp[0], "Practitioner") if r.gp else None,
    "secondary_provider_id": lambda r: ref_id(r.gp[1], "Practitioner") if len(r.gp) > 1 else None,
    "location_id": lambda r: _ref(r.loc, "Location"),
    "location_display": lambda r: r.loc.get("display") if isinstance(r.loc, dict) else None,
    "billing_type_id": lambda r: _ref(r.x(EXT["billing-type"]), "Basic"),
    "fee_schedule_id": lambda r: _ref(r.x(EXT["fee-schedule"]), "Basic"),
    "employer_id": lambda r: _ref(r.x(EXT["employer"]), "Organization"),
}


def from_fhir(res: Resource) -> Patient:
    """The whole record, every field read now (``lazy_from_fhir``: each when first asked for)."""
    reading = _Reading(res)
    return Patient(**{name: field(reading) for name, field in FIELDS.items()})


class LazyPatient(Lazy, Patient):
    """A patient record whose fields are read from its FHIR Patient when first asked for (a list or a chart reads a
    handful of the record's ~70 fields: names, date of birth, status). Equal field by field to ``from_fhir``'s
    (tests/resolvers/test_patient_lazy.py)."""

    READING = _Reading
    FIELDS = FIELDS


class NamedPatient(LazyPatient):
    """A ``LazyPatient`` of a Patient read for its names alone (its ``id`` and ``name`` elements: a list of a
    family's names): a field read from anything else is an error, never a wrong null."""

    NAMED = frozenset({"first_name", "last_name"})

    def __getattr__(self, name: str) -> Any:
        if name not in self.NAMED:
            raise AttributeError(f"{name} is not read for a patient's names")
        return super().__getattr__(name)


def lazy_from_fhir(res: Resource) -> Patient:
    return LazyPatient(res)


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


def set_status(res: Resource, status: str, *, now: str | None = None) -> None:
    """Set the lifecycle status; archiving records when (``now``), anything else forgets it."""
    set_ext(res, "patient-status", "valueCode", status)
    set_ext(res, "deleted-at", "valueDateTime", now if status == "archived" else None)
    res["active"] = status not in ("inactive", "archived")
    if status == "deceased" and not res.get("deceasedDateTime"):
        res["deceasedBoolean"] = True
