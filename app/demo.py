"""The demo clinic: a deterministic, streaming generator of realistic FHIR R4 data, and its loader.

``generate_clinic`` yields plain FHIR JSON dicts (each with ``resourceType`` and ``id``, never ``meta``
apart from ``Patient.meta.tag``) in an order a loader can insert as it goes: every reference points at a
resource yielded earlier. It keeps only per-household state (plus a few counters per practitioner), so
10,000 patients stream in constant memory. The FHIR shapes follow ``store.naming`` (its docstring lists
the conventions).

How time is laid out: ``anchor`` is "today"; "now" is ``anchor`` at 12:00 UTC. Each practitioner books out of
their own slot grid (weekdays 08:00-12:00 and 13:00-17:00 UTC, the waiting room's slot length). The grid is
split into past (the two years before today), this morning, this afternoon and future (the next 90 days);
appointments take positions in each grid through an affine permutation ``(a*k + b) mod size`` of a per-grid
counter, so no two appointments of a practitioner share a slot and nothing but the counters is remembered.
After the last patient, the unused positions of the next two weeks are emitted as free Slots.
"""

from __future__ import annotations

import base64
import datetime as dt
import inspect
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from store.naming import (
    ALLERGY_CLINICAL,
    CONDITION_CLINICAL,
    CS,
    EXT,
    GAD7,
    LOINC,
    OBS_CATEGORY,
    PHQ9,
    RXNORM,
    SID,
    SNOMED,
    SSN_SYSTEM,
    V3_INTERPRETATION,
    V3_ROLE,
    VITAL_CODES,
    VITALS_PANEL,
)

Resource = dict[str, Any]

# Standard systems used here and not (yet) in store.naming.
UCUM = "http://unitsofmeasure.org"
BCP47 = "urn:ietf:bcp:47"
NPI = "http://hl7.org/fhir/sid/us-npi"
V3_ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
V3_MODE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"
V3_PART_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V2_DEGREE = "http://terminology.hl7.org/CodeSystem/v2-0360"
V2_APPT_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0276"
V2_CONTACT_ROLE = "http://terminology.hl7.org/CodeSystem/v2-0131"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_VER = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
COMM_CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"
CANCEL_REASON = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
PRAC_ROLE = "http://terminology.hl7.org/CodeSystem/practitioner-role"
PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
MED_REQ_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
DOC_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
US_CORE_ETHNICITY = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
US_CORE_BIRTHSEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
OMB = "urn:oid:2.16.840.1.113883.6.238"

# ----------------------------------------------------------------------------------------------------------
# Vocabulary (real codes; RxNorm / SNOMED displays as the terminologies spell them)


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


FEMALE_NAMES = _words(
    "Olivia Emma Ava Sophia Isabella Mia Amelia Harper Evelyn Abigail Emily Elizabeth Sofia Avery "
    "Ella Scarlett Grace Chloe Victoria Riley Aria Lily Zoey Nora Hannah Layla Zoe Maria Jennifer "
    "Patricia Linda Barbara Susan Jessica Sarah Karen Nancy Margaret Lisa Betty Sandra Ashley "
    "Kimberly Donna Michelle Carol Amanda Melissa Deborah Stephanie Rebecca Laura Katherine Samantha "
    "Josephine Guadalupe Mei Priya Aisha Fatima Nguyet Yuki"
)
MALE_NAMES = _words(
    "Liam Noah Oliver Elijah James William Benjamin Lucas Henry Alexander Mason Michael Ethan Daniel "
    "Jacob Logan Jackson Levi Sebastian Mateo Jack Owen Theodore Aiden Samuel Joseph John David Wyatt "
    "Matthew Luke Asher Carter Julian Grayson Leo Jayden Gabriel Isaac Lincoln Anthony Robert Richard "
    "Thomas Charles Christopher Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George "
    "Edward Ronald Timothy Jose Carlos Wei Arjun Omar Minh Hiroshi Kwame Dmitri Zachary Nicholas "
    "Jonathan"
)
NEUTRAL_NAMES = _words("Alex Jordan Taylor Morgan Casey Riley Jamie Quinn Avery Rowan Sage Emerson")
SURNAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips "
    "Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers "
    "Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson "
    "Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders "
    "Patel Myers Long Ross Foster Jimenez O'Brien Kowalski Okafor Tanaka Chen Singh Haddad Novak "
    "Schmidt Larsen Dubois Rossi Yamamoto Park Tran Mensah Ivanova"
)
NICKNAMES = {
    "William": "Bill",
    "Robert": "Bob",
    "Elizabeth": "Liz",
    "Katherine": "Kate",
    "James": "Jim",
    "Michael": "Mike",
    "Jennifer": "Jen",
    "Christopher": "Chris",
    "Alexander": "Alex",
    "Margaret": "Maggie",
    "Richard": "Rick",
    "Thomas": "Tom",
    "Daniel": "Dan",
    "Joseph": "Joe",
    "Samantha": "Sam",
    "Benjamin": "Ben",
    "Nicholas": "Nick",
    "Victoria": "Vicky",
    "Patricia": "Pat",
    "Jonathan": "Jon",
    "Matthew": "Matt",
    "Anthony": "Tony",
    "Rebecca": "Becky",
    "Abigail": "Abby",
    "Isabella": "Bella",
    "Theodore": "Teddy",
    "Zachary": "Zach",
    "Gabriel": "Gabe",
    "Josephine": "Josie",
    "Andrew": "Drew",
    "Deborah": "Debbie",
    "Kimberly": "Kim",
    "Edward": "Ed",
    "Timothy": "Tim",
    "Kenneth": "Ken",
    "Stephanie": "Steph",
    "Guadalupe": "Lupe",
}
STREETS = _words(
    "Maple Ave|Oak St|High St|Elm St|Broad St|Park Ave|Cedar Ln|Walnut St|Lake Dr|Hillcrest Rd|"
    "Sunset Blvd|Riverside Dr|Chestnut St|Willow Way|Meadow Ln|Church St|Spring St|Washington Ave|"
    "Lincoln Rd|Pine Ct|Summit St|Franklin Ave|Birch Rd|Highland Ave|Cherry Ln|Orchard Dr|Mill Rd|"
    "Forest Ave|Grandview Ave|King Ave",
    sep="|",
)
CITIES = (  # (city, state, zip codes)
    ("Columbus", "OH", ("43201", "43202", "43206", "43214", "43215", "43221", "43224", "43229")),
    ("Dublin", "OH", ("43016", "43017")),
    ("Westerville", "OH", ("43081", "43082")),
    ("Worthington", "OH", ("43085",)),
    ("Grove City", "OH", ("43123",)),
    ("Hilliard", "OH", ("43026",)),
    ("Gahanna", "OH", ("43230",)),
    ("Reynoldsburg", "OH", ("43068",)),
    ("Bexley", "OH", ("43209",)),
)
AREA_CODES = ("614", "380", "740")
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
LANGUAGES = (  # (bcp47, display, weight)
    ("en-US", "English (United States)", 84),
    ("es", "Spanish", 9),
    ("vi", "Vietnamese", 2),
    ("zh", "Chinese", 2),
    ("ar", "Arabic", 1),
    ("ru", "Russian", 1),
    ("so", "Somali", 1),
)
RACES = (  # OMB race category (code, display, weight)
    ("2106-3", "White", 62),
    ("2054-5", "Black or African American", 18),
    ("2028-9", "Asian", 7),
    ("1002-5", "American Indian or Alaska Native", 1),
    ("2076-8", "Native Hawaiian or Other Pacific Islander", 1),
    ("2131-1", "Other Race", 11),
)
OCCUPATIONS = (
    "Teacher",
    "Registered nurse",
    "Software developer",
    "Retail sales associate",
    "Truck driver",
    "Accountant",
    "Electrician",
    "Warehouse associate",
    "Student",
    "Retired",
    "Homemaker",
    "Construction worker",
    "Chef",
    "Customer service representative",
    "Mechanic",
    "Police officer",
    "Pharmacist",
    "Graphic designer",
)
PATIENT_TAGS = (  # (code, display)
    ("vip", "VIP"),
    ("payment-plan", "Payment plan"),
    ("high-risk", "High risk"),
    ("referral", "Referred by partner"),
    ("portal-user", "Patient portal user"),
    ("needs-interpreter", "Needs interpreter"),
    ("collections", "Collections"),
    ("new-patient", "New patient"),
)
URGENT_NOTES = (
    "Severe latex allergy - use non-latex gloves and equipment.",
    "On warfarin - check INR before any invasive procedure.",
    "Cardiac pacemaker - avoid ultrasonic and electromagnetic devices.",
    "History of syncope with injections - keep patient supine.",
    "Hearing impaired - provide written instructions.",
    "Wheelchair user - book an accessible room.",
    "Bisphosphonate therapy - consult before extractions.",
)

# Chronic conditions: key -> (SNOMED code, display, minimum age, yearly-ish prevalence weight)
CONDITIONS: dict[str, tuple[str, str, int, float]] = {
    "htn": ("59621000", "Essential hypertension (disorder)", 30, 0.30),
    "t2dm": ("44054006", "Diabetes mellitus type 2 (disorder)", 35, 0.12),
    "prediabetes": ("15777000", "Prediabetes (finding)", 30, 0.08),
    "hld": ("55822004", "Hyperlipidemia (disorder)", 35, 0.22),
    "hypothyroid": ("40930008", "Hypothyroidism (disorder)", 25, 0.06),
    "depression": ("35489007", "Depressive disorder (disorder)", 12, 0.10),
    "anxiety": ("197480006", "Anxiety disorder (disorder)", 10, 0.11),
    "asthma": ("195967001", "Asthma (disorder)", 2, 0.08),
    "rhinitis": ("61582004", "Allergic rhinitis (disorder)", 3, 0.12),
    "cad": ("53741008", "Coronary arteriosclerosis (disorder)", 50, 0.07),
    "oa_knee": ("239873007", "Osteoarthritis of knee (disorder)", 45, 0.12),
    "gerd": ("235595009", "Gastroesophageal reflux disease (disorder)", 20, 0.09),
    "migraine": ("37796009", "Migraine (disorder)", 12, 0.06),
    "sleep_apnea": ("73430006", "Sleep apnea (disorder)", 30, 0.05),
}
ACUTE_CONDITIONS = (  # (SNOMED code, display, max age or 200)
    ("444814009", "Viral sinusitis (disorder)", 200),
    ("10509002", "Acute bronchitis (disorder)", 200),
    ("43878008", "Streptococcal sore throat (disorder)", 200),
    ("65363002", "Otitis media (disorder)", 12),
    ("195662009", "Acute viral pharyngitis (disorder)", 200),
)
MEDS: dict[str, tuple[str, str, str]] = {  # key -> (RxNorm code, display, sig)
    "amlodipine": ("197361", "Amlodipine 5 MG Oral Tablet", "Take 1 tablet by mouth once daily"),
    "lisinopril": ("314076", "lisinopril 10 MG Oral Tablet", "Take 1 tablet by mouth once daily"),
    "hctz": ("310798", "Hydrochlorothiazide 25 MG Oral Tablet", "Take 1 tablet by mouth every morning"),
    "metformin": (
        "860975",
        "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
        "Take 1 tablet by mouth with the evening meal",
    ),
    "atorvastatin": ("259255", "atorvastatin 80 MG Oral Tablet", "Take 1 tablet by mouth at bedtime"),
    "levothyroxine": (
        "966222",
        "Levothyroxine Sodium 0.075 MG Oral Tablet",
        "Take 1 tablet by mouth every morning on an empty stomach",
    ),
    "sertraline": ("312938", "Sertraline 100 MG Oral Tablet", "Take 1 tablet by mouth once daily"),
    "albuterol": (
        "745679",
        "200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
        "Inhale 2 puffs every 4 to 6 hours as needed for wheezing",
    ),
    "fluticasone": (
        "895994",
        "120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler",
        "Inhale 2 puffs twice daily",
    ),
    "cetirizine": (
        "1014676",
        "cetirizine hydrochloride 5 MG Oral Tablet",
        "Take 1 tablet by mouth once daily",
    ),
    "aspirin": ("243670", "aspirin 81 MG Oral Tablet", "Take 1 tablet by mouth once daily"),
    "clopidogrel": ("309362", "Clopidogrel 75 MG Oral Tablet", "Take 1 tablet by mouth once daily"),
    "amoxicillin": (
        "308182",
        "Amoxicillin 250 MG Oral Capsule",
        "Take 1 capsule by mouth three times daily for 10 days",
    ),
    "ibuprofen": (
        "310965",
        "Ibuprofen 200 MG Oral Tablet",
        "Take 1-2 tablets by mouth every 6 hours as needed",
    ),
}
CONDITION_MEDS = {
    "htn": ("amlodipine", "lisinopril", "hctz"),
    "t2dm": ("metformin",),
    "hld": ("atorvastatin",),
    "hypothyroid": ("levothyroxine",),
    "depression": ("sertraline",),
    "anxiety": ("sertraline",),
    "asthma": ("albuterol", "fluticasone"),
    "rhinitis": ("cetirizine",),
    "cad": ("aspirin", "clopidogrel"),
    "oa_knee": ("ibuprofen",),
}
ALLERGENS = (  # (system, code, display, category, reaction codes)
    (SNOMED, "762952008", "Peanut (substance)", "food", ("247472004", "402387002", "39579001")),
    (SNOMED, "442571000124108", "Tree nut (substance)", "food", ("247472004", "418290006", "39579001")),
    (SNOMED, "735029006", "Shellfish (substance)", "food", ("271807003", "422587007", "39579001")),
    (SNOMED, "102263004", "Eggs (edible) (substance)", "food", ("247472004", "300359004")),
    (SNOMED, "412071004", "Wheat (substance)", "food", ("271807003", "62315008")),
    (SNOMED, "111088007", "Latex (substance)", "environment", ("271807003", "418290006", "39579001")),
    (SNOMED, "288328004", "Bee venom (substance)", "environment", ("271807003", "39579001")),
    (SNOMED, "264287008", "Animal dander (substance)", "environment", ("878820003", "49727002", "76067001")),
    (SNOMED, "256277009", "Grass pollen (substance)", "environment", ("878820003", "76067001")),
    (SNOMED, "260147004", "House dust mite (organism)", "environment", ("878820003", "56018004")),
    (SNOMED, "84489001", "Mold (organism)", "environment", ("76067001", "56018004")),
    (RXNORM, "7984", "Penicillin V", "medication", ("247472004", "271807003", "39579001")),
    (RXNORM, "1191", "Aspirin", "medication", ("247472004", "21522001")),
    (RXNORM, "5640", "Ibuprofen", "medication", ("418290006", "247472004")),
    (RXNORM, "10831", "Sulfamethoxazole / Trimethoprim", "medication", ("271807003", "402387002")),
    (RXNORM, "2231", "Cephalexin", "medication", ("247472004", "271807003")),
)
REACTIONS = {
    "247472004": "Wheal (finding)",
    "402387002": "Allergic angioedema (disorder)",
    "39579001": "Anaphylaxis (disorder)",
    "418290006": "Itching (finding)",
    "271807003": "Eruption of skin (disorder)",
    "422587007": "Nausea (finding)",
    "300359004": "Finding of vomiting (finding)",
    "62315008": "Diarrhea (finding)",
    "878820003": "Rhinoconjunctivitis (disorder)",
    "49727002": "Cough (finding)",
    "76067001": "Sneezing (finding)",
    "56018004": "Wheezing (finding)",
    "21522001": "Abdominal pain (finding)",
}
TOBACCO = (  # (SNOMED, display, weight)
    ("266919005", "Never smoked tobacco (finding)", 60),
    ("8517006", "Ex-smoker (finding)", 22),
    ("449868002", "Smokes tobacco daily (finding)", 13),
    ("428041000124106", "Occasional tobacco smoker (finding)", 5),
)
VITAL_DISPLAY = {
    "bp_systolic": ("Systolic blood pressure", "mm[Hg]"),
    "bp_diastolic": ("Diastolic blood pressure", "mm[Hg]"),
    "pulse": ("Heart rate", "/min"),
    "temperature_f": ("Body temperature", "[degF]"),
    "respiration_rate": ("Respiratory rate", "/min"),
    "oxygen_saturation": ("Oxygen saturation in Arterial blood by Pulse oximetry", "%"),
    "height_inches": ("Body height", "[in_i]"),
    "weight_lbs": ("Body weight", "[lb_av]"),
    "bmi": ("Body mass index (BMI) [Ratio]", "kg/m2"),
}
INTERPRETATION_DISPLAY = {"H": "High", "L": "Low", "HH": "Critical high", "LL": "Critical low"}
ALERTS = (  # (code, display, flag category, scope, urgent)
    ("fall-risk", "Fall risk", "safety", "patient", True),
    ("latex-precautions", "Latex precautions", "safety", "patient", True),
    ("hard-of-hearing", "Hard of hearing", "admin", "patient", False),
    ("interpreter", "Interpreter required", "admin", "patient", False),
    ("behavioral", "Behavioral concern - two staff in room", "behavioral", "patient", True),
    ("premedicate", "Antibiotic premedication before procedures", "clinical", "patient", True),
    ("billing-hold", "Billing hold - see guarantor before booking", "admin", "family", False),
    ("custody", "Custody arrangement on file - verify guardian", "admin", "family", True),
    ("insurance-update", "Insurance card needs updating", "admin", "family", False),
)
EPISODE_TYPES = (  # (code, display, names, objectives)
    ("behavioral-health", "Behavioral health", "Counseling program", "Reduce PHQ-9 below 10 within 12 weeks"),
    ("chronic-care", "Chronic care management", "Blood pressure management", "Reach BP below 130/80"),
    ("weight-management", "Weight management", "Weight loss program", "Lose 5% body weight in 6 months"),
    ("covid", "COVID-19 care", "Covid care", "Recover from COVID-19 and return to work"),
    ("physical-therapy", "Physical therapy", "Knee rehabilitation", "Walk 30 minutes without pain"),
    ("diabetes", "Diabetes care", "Diabetes education", "HbA1c below 7%"),
)
PLANS = (
    "Continue current medications.",
    "Follow up in 3 months.",
    "Labs ordered.",
    "Return if symptoms worsen.",
    "Referral placed.",
)
INCOMPLETE_REASONS = (
    "Patient moved out of area",
    "Insurance did not authorize",
    "Patient declined",
    "unknown",
)
REASONS_BY_SERVICE = {
    "primary": (
        "Annual physical",
        "Follow-up visit",
        "Cough",
        "Sore throat",
        "Back pain",
        "Medication refill",
        "Blood pressure check",
        "Headache",
        "Fatigue",
        "Rash",
    ),
    "pediatrics": ("Well-child visit", "Fever", "Ear pain", "Vaccinations", "Cough", "Sports physical"),
    "behavioral": ("Therapy session", "Medication management", "Anxiety follow-up", "Depression follow-up"),
}
WORKFLOW = {  # FHIR status -> qapi workflow status (EXT["appointment-workflow-status"] valueCode)
    "proposed": ("scheduled",),
    "pending": ("scheduled",),
    "booked": ("scheduled",),
    "waitlist": ("scheduled",),
    "arrived": ("arrived",),
    "checked-in": (
        "in progress.intake.ready",
        "in progress.intake.progress",
        "in progress.exam.ready",
        "in progress.exam.progress",
    ),
    "fulfilled": ("completed", "sign off"),
    "cancelled": ("cancelled",),
    "noshow": ("not showed up",),
    "entered-in-error": ("cancelled",),
}
MODES = {  # seed communication mode -> v3 ParticipationMode
    "phone": ("PHONE", "telephone"),
    "email": ("EMAILWRIT", "email"),
    "text": ("SMSWRIT", "SMS message"),
    "mail": ("MAILWRIT", "mail"),
    "in_person": ("FACE", "face-to-face"),
}

# Appointment status decks: drawing without replacement keeps every status present in small demos.
PAST_DECK = ("fulfilled",) * 30 + ("noshow",) * 3 + ("cancelled",) * 5 + ("entered-in-error",)
TODAY_DECK = ("arrived", "checked-in", "fulfilled", "booked", "checked-in", "arrived")
FUTURE_DECK = ("booked",) * 9 + ("pending",) * 3 + ("proposed",) * 2 + ("waitlist",) * 2 + ("cancelled",) * 3
HOUSEHOLD_STATUS_DECK = ("active",) * 7 + ("inactive", "archived", "prospective")
EPISODE_DECK = ("active", "active", "finished", "finished", "planned", "waitlist", "onhold", "cancelled")

SLOT_STATUSES_HELD = {
    "booked": "busy",
    "arrived": "busy",
    "checked-in": "busy",
    "fulfilled": "busy",
    "noshow": "busy",
    "pending": "busy-tentative",
}
NOON = dt.time(12, 0)


# ----------------------------------------------------------------------------------------------------------
# Small helpers


def _instant(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ref(rt: str, rid: str, display: str | None = None) -> dict[str, str]:
    r = {"reference": f"{rt}/{rid}"}
    if display:
        r["display"] = display
    return r


def _cc(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        c["text"] = text
    return c


def _qty(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _ext(name: str, **value: Any) -> dict[str, Any]:
    ((key, v),) = value.items()
    return {"url": EXT[name], key: v}


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _npi(base9: int) -> str:
    """A 10-digit NPI whose check digit is valid (Luhn over the 80840 prefix)."""
    digits = f"{base9:09d}"
    total = 24  # the constant contribution of the 80840 prefix
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return digits + str((10 - total % 10) % 10)


class _Deck:
    """Draws from a shuffled multiset without replacement, reshuffling when empty."""

    def __init__(self, rng: random.Random, cards: tuple[str, ...]) -> None:
        self._rng, self._cards, self._pile = rng, cards, list[str]()

    def draw(self) -> str:
        if not self._pile:
            self._pile = list(self._cards)
            self._rng.shuffle(self._pile)
        return self._pile.pop()


@dataclass
class _Room:
    id: str
    key: str  # primary | pediatrics | behavioral | telehealth
    name: str
    service: str
    minutes: int
    location: str
    location_name: str


@dataclass
class _Grid:
    days: list[dt.date]
    first: dt.time
    per_block: int  # slots per 4-hour block
    blocks: int  # 1 (a half day) or 2
    minutes: int
    a: int
    b: int
    used: int = 0

    @property
    def size(self) -> int:
        return len(self.days) * self.per_block * self.blocks

    def at(self, k: int) -> dt.datetime:
        pos = (self.a * k + self.b) % self.size
        day, slot = divmod(pos, self.per_block * self.blocks)
        block, idx = divmod(slot, self.per_block)
        start = dt.datetime.combine(self.days[day], self.first)
        return start + dt.timedelta(minutes=block * 300 + idx * self.minutes)  # 08:00 / 13:00 blocks

    def take(self) -> dt.datetime | None:
        """The next free position, or None when the grid is full (never double-book)."""
        if self.used >= self.size:
            return None
        t = self.at(self.used)
        self.used += 1
        return t


@dataclass
class _Prac:
    id: str
    name: str
    room: _Room
    schedules: dict[str, str]  # room key -> Schedule id: one per waiting room the practitioner works in
    grids: dict[str, _Grid]


@dataclass
class _Member:
    id: str
    given: str
    middle: str | None
    family: str
    gender: str
    birth: dt.date
    age: int
    kind: str  # adult | child
    parents: list[int] = field(default_factory=list)
    guardian_kind: str = "parent"  # parent | grandparent
    spouse: int | None = None
    status: str = "active"
    death: dt.datetime | None = None
    email: str | None = None
    mobile: str | None = None


@dataclass
class _Visit:
    start: dt.datetime
    status: str
    prac: _Prac
    video: bool
    appt_id: str = ""
    slot_id: str | None = None
    enc_id: str | None = None
    episode: str | None = None


# ----------------------------------------------------------------------------------------------------------
# The generator


def generate_clinic(patients: int, *, seed: int = 7, anchor: dt.date | None = None) -> Iterator[Resource]:
    """Yield one demo clinic with ``patients`` patients as FHIR R4 resources, referenced ones first."""
    if patients < 0:
        raise ValueError("patients must be >= 0")
    yield from _Clinic(patients, seed, anchor or dt.date.today()).run()


class _Clinic:
    def __init__(self, patients: int, seed: int, anchor: dt.date) -> None:
        self.n = patients
        self.rng = random.Random(seed)
        self.today = anchor
        self.now = dt.datetime.combine(anchor, NOON)
        self.spid = 0
        self.said = 0
        self.account_seq = 0
        self.deceased_candidates = 0
        self.household_status = _Deck(self.rng, HOUSEHOLD_STATUS_DECK)
        self.past_deck = _Deck(self.rng, PAST_DECK)
        self.today_deck = _Deck(self.rng, TODAY_DECK)
        self.future_deck = _Deck(self.rng, FUTURE_DECK)
        self.episode_deck = _Deck(self.rng, EPISODE_DECK)
        self.pracs: list[_Prac] = []
        self.rooms: dict[str, _Room] = {}
        self.virtual_location: str | None = None

    # -- ids and small random helpers --

    def last_moment(self, m: _Member) -> dt.datetime:
        """Nothing in a chart happens after this: the death of a deceased patient, else now."""
        return min(self.now, m.death) if m.death else self.now

    def id(self, prefix: str) -> str:
        return f"{prefix}-{self.rng.getrandbits(64):016x}"

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def weighted(self, items: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
        return self.rng.choices(items, weights=[i[-1] for i in items])[0]

    def phone(self) -> str:
        r = self.rng
        return f"({r.choice(AREA_CODES)}) 555-{r.randrange(200, 10000):04d}"

    def at_time(self, day: dt.date, lo: int = 8, hi: int = 17) -> dt.datetime:
        minutes = self.rng.randrange(lo * 60, hi * 60)
        return dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60))

    # -- the clinic --

    def run(self) -> Iterator[Resource]:
        yield from self.clinic()
        remaining = self.n
        while remaining > 0:
            members = self.household(remaining)
            remaining -= len(members)
            yield from self.emit_household(members)
        yield from self.free_slots()

    def clinic(self) -> Iterator[Resource]:
        rng = self.rng
        self.org = self.id("org")
        org_name = (
            rng.choice(("Maple Grove", "Riverbend", "Cedar Hill", "Lakeside", "Northfield"))
            + " Family Health"
        )
        self.org_name = org_name
        yield {
            "resourceType": "Organization",
            "id": self.org,
            "active": True,
            "identifier": [{"system": NPI, "value": _npi(rng.randrange(100_000_000, 200_000_000))}],
            "type": [_cc(ORG_TYPE, "prov", "Healthcare Provider")],
            "name": org_name,
            "alias": [org_name.split()[0] + " FH"],
            "telecom": [
                {"system": "phone", "value": self.phone(), "use": "work"},
                {"system": "email", "value": "frontdesk@clinic.example.com", "use": "work"},
            ],
            "address": [self.address(home=False)],
        }
        sites = [("Main Street", "bu"), ("Riverside", "bu")]
        if self.chance(0.6):
            sites.append(("Telehealth (virtual)", ""))
        locations: list[tuple[str, str]] = []
        for name, physical in sites:
            lid = self.id("loc")
            loc: Resource = {
                "resourceType": "Location",
                "id": lid,
                "status": "active",
                "name": f"{org_name} - {name}",
                "mode": "instance",
                "managingOrganization": _ref("Organization", self.org, org_name),
                "hoursOfOperation": [
                    {
                        "daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
                        "allDay": False,
                        "openingTime": "08:00:00",
                        "closingTime": "17:00:00",
                    }
                ],
            }
            if physical:
                loc["physicalType"] = _cc(PHYSICAL_TYPE, physical, "Building")
                loc["address"] = self.address(home=False)
                loc["telecom"] = [{"system": "phone", "value": self.phone(), "use": "work"}]
                loc["position"] = {
                    "latitude": round(39.96 + rng.uniform(-0.1, 0.1), 5),
                    "longitude": round(-83.0 + rng.uniform(-0.1, 0.1), 5),
                }
            else:
                loc["description"] = "Video visits; patients join from home."
                loc["telecom"] = [{"system": "url", "value": "https://visit.clinic.example.com"}]
                self.virtual_location = lid
            locations.append((lid, loc["name"]))
            yield loc
        main, branch = locations[0], locations[1]
        virtual = locations[2] if len(locations) > 2 else main
        room_specs = (  # key, name, service line, minutes, location
            ("primary", "Primary Care", "Primary care", 15, main),
            ("pediatrics", "Pediatrics", "Pediatrics", 20, branch),
            (
                "behavioral",
                "Behavioral Health",
                "Behavioral health",
                30,
                main if self.chance(0.5) else branch,
            ),
            ("telehealth", "Telehealth", "Virtual care", 15, virtual),
        )
        for key, name, service, minutes, (lid, lname) in room_specs:
            room = _Room(self.id("hs"), key, name, service, minutes, lid, lname)
            self.rooms[key] = room
            yield {
                "resourceType": "HealthcareService",
                "id": room.id,
                "active": True,
                "providedBy": _ref("Organization", self.org, org_name),
                "category": [{"text": service}],
                "type": [{"text": name}],
                "name": f"{name} waiting room",
                "location": [_ref("Location", lid, lname)],
                "appointmentRequired": True,
                "availableTime": [
                    {
                        "daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
                        "availableStartTime": "08:00:00",
                        "availableEndTime": "12:00:00",
                    },
                    {
                        "daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
                        "availableStartTime": "13:00:00",
                        "availableEndTime": "17:00:00",
                    },
                ],
                "extension": [_ext("slot-duration", valueDuration=_qty(minutes, "min"))],
            }
        yield from self.practitioners()

    def practitioners(self) -> Iterator[Resource]:
        rng = self.rng
        count = max(3, round(self.n / 50))
        past_days = [
            d for d in (self.today - dt.timedelta(days=i) for i in range(730, 0, -1)) if d.weekday() < 5
        ]
        future_days = [
            d for d in (self.today + dt.timedelta(days=i) for i in range(1, 91)) if d.weekday() < 5
        ]
        # every room gets someone; then mostly primary care
        keys = ["primary", "pediatrics", "behavioral"] + rng.choices(
            ["primary", "pediatrics", "behavioral"], weights=[6, 2, 2], k=max(0, count - 3)
        )
        degrees = {
            "primary": ("MD", "DO", "NP", "PA"),
            "pediatrics": ("MD", "DO", "NP"),
            "behavioral": ("PhD", "LCSW", "MD"),
        }
        specialty = {
            "primary": ("419772000", "Family practice"),
            "pediatrics": ("394537008", "Pediatric specialty"),
            "behavioral": ("394587001", "Psychiatry"),
        }
        for key in keys:
            room = self.rooms[key]
            gender = rng.choice(("female", "male"))
            given = rng.choice(FEMALE_NAMES if gender == "female" else MALE_NAMES)
            family = rng.choice(SURNAMES)
            degree = rng.choice(degrees[key])
            doctor = degree in ("MD", "DO", "PhD")
            display = f"{'Dr. ' if doctor else ''}{given} {family}, {degree}"
            pid = self.id("pra")
            yield {
                "resourceType": "Practitioner",
                "id": pid,
                "active": True,
                "identifier": [{"system": NPI, "value": _npi(rng.randrange(100_000_000, 200_000_000))}],
                "name": [
                    {
                        "use": "official",
                        "family": family,
                        "given": [given],
                        **({"prefix": ["Dr."]} if doctor else {}),
                        "suffix": [degree],
                        "text": display,
                    }
                ],
                "gender": gender,
                "telecom": [
                    {"system": "phone", "value": self.phone(), "use": "work"},
                    {
                        "system": "email",
                        "value": f"{given}.{family}@clinic.example.com".lower().replace("'", ""),
                        "use": "work",
                    },
                ],
                "qualification": [{"code": _cc(V2_DEGREE, degree, degree)}],
            }
            roles = [room] + ([self.rooms["telehealth"]] if key != "pediatrics" else [])
            for r in roles:
                code = (
                    ("doctor", "Doctor")
                    if doctor and degree != "PhD"
                    else ("nurse", "Nurse")
                    if degree == "NP"
                    else None
                )
                role: Resource = {
                    "resourceType": "PractitionerRole",
                    "id": self.id("prr"),
                    "active": True,
                    "practitioner": _ref("Practitioner", pid, display),
                    "organization": _ref("Organization", self.org, self.org_name),
                    "location": [_ref("Location", r.location, r.location_name)],
                    "healthcareService": [_ref("HealthcareService", r.id, r.name)],
                    "specialty": [_cc(SNOMED, *specialty[key])],
                    "availableTime": [
                        {
                            "daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
                            "availableStartTime": "08:00:00",
                            "availableEndTime": "17:00:00",
                        }
                    ],
                }
                if code:
                    role["code"] = [_cc(PRAC_ROLE, *code)]
                else:
                    role["code"] = [
                        {
                            "text": {
                                "PhD": "Psychologist",
                                "LCSW": "Clinical social worker",
                                "PA": "Physician assistant",
                            }.get(degree, degree)
                        }
                    ]
                yield role
            schedules = {}
            for r in roles:
                schedules[r.key] = self.id("sch")
                yield {
                    "resourceType": "Schedule",
                    "id": schedules[r.key],
                    "active": True,
                    "serviceType": [{"text": r.name}],
                    "specialty": [_cc(SNOMED, *specialty[key])],
                    "actor": [_ref("HealthcareService", r.id, r.name), _ref("Practitioner", pid, display)],
                    "planningHorizon": {
                        "start": past_days[0].isoformat(),
                        "end": future_days[-1].isoformat(),
                    },
                    "comment": f"{display} - {r.name}",
                }
            per_block = 240 // room.minutes
            grids = {}
            for name, days, first, blocks in (
                ("past", past_days, dt.time(8), 2),
                ("am", [self.today], dt.time(8), 1),
                ("pm", [self.today], dt.time(13), 1),
                ("future", future_days, dt.time(8), 2),
            ):
                size = len(days) * per_block * blocks
                a = rng.randrange(1, size) if size > 1 else 1
                while math.gcd(a, size) != 1:
                    a += 1
                grids[name] = _Grid(days, first, per_block, blocks, room.minutes, a, rng.randrange(size))
            self.pracs.append(_Prac(pid, display, room, schedules, grids))

    def free_slots(self) -> Iterator[Resource]:
        """The unbooked positions of today's afternoon and the next two weeks, as free (or blocked) Slots."""
        horizon = self.today + dt.timedelta(days=14)
        for prac in self.pracs:
            for name in ("pm", "future"):
                grid = prac.grids[name]
                for k in range(grid.used, grid.size):
                    start = grid.at(k)
                    if start.date() > horizon:
                        continue
                    blocked = self.chance(0.04)
                    video = "telehealth" in prac.schedules and self.chance(0.2)
                    slot = self.slot(prac, start, "busy-unavailable" if blocked else "free", video=video)
                    if blocked:
                        slot["comment"] = "Staff meeting"
                    yield slot

    def slot(self, prac: _Prac, start: dt.datetime, status: str, *, video: bool = False) -> Resource:
        room = self.rooms["telehealth"] if video else prac.room
        return {
            "resourceType": "Slot",
            "id": self.id("slot"),
            "schedule": _ref("Schedule", prac.schedules[room.key]),
            "status": status,
            "serviceType": [{"text": room.name}],
            "start": _instant(start),
            "end": _instant(start + dt.timedelta(minutes=prac.room.minutes)),
        }

    def address(self, *, home: bool = True) -> dict[str, Any]:
        city, state, zips = self.rng.choice(CITIES)
        line = [f"{self.rng.randrange(10, 9900)} {self.rng.choice(STREETS)}"]
        if home and self.chance(0.15):
            line.append(f"Apt {self.rng.randrange(1, 40)}{self.rng.choice('ABCD')}")
        elif not home:
            line.append(f"Suite {self.rng.randrange(100, 400)}")
        return {
            "use": "home" if home else "work",
            "type": "physical",
            "line": line,
            "city": city,
            "state": state,
            "postalCode": self.rng.choice(zips),
            "country": "US",
        }

    # -- households --

    def household(self, remaining: int) -> list[_Member]:
        rng = self.rng
        family = rng.choice(SURNAMES)
        kind = rng.choices(
            ("single", "couple", "family", "single-parent", "grandparents", "siblings"),
            weights=(30, 20, 30, 11, 4, 5),
        )[0]
        members: list[_Member] = []

        def add(age: int, gender: str | None = None, kind: str = "adult", surname: str | None = None) -> int:
            gender = gender or self.gender(adult=kind == "adult")
            pool = FEMALE_NAMES if gender == "female" else MALE_NAMES if gender == "male" else NEUTRAL_NAMES
            birth = self.today - dt.timedelta(days=age * 365 + rng.randrange(365))
            other = FEMALE_NAMES if gender == "female" else MALE_NAMES if gender == "male" else pool
            members.append(
                _Member(
                    id=self.id("pat"),
                    given=rng.choice(pool),
                    middle=rng.choice(other) if self.chance(0.55) else None,
                    family=surname or family,
                    gender=gender,
                    birth=birth,
                    age=_age(birth, self.today),
                    kind=kind,
                )
            )
            return len(members) - 1

        def children(parent_ages: list[int], parents: list[int], n: int, max_age: int = 21) -> None:
            top = min(max_age, min(parent_ages) - 18)
            for _ in range(n):
                c = add(rng.randrange(0, max(1, top + 1)), kind="child")
                members[c].parents = list(parents)
                if members[c].age >= 18:
                    members[c].kind = "adult"

        if kind == "single":
            add(rng.choice((rng.randrange(18, 40), rng.randrange(25, 70), rng.randrange(40, 92))))
        elif kind == "couple" or (kind == "grandparents" and self.chance(0.6)):
            age = rng.randrange(60, 76) if kind == "grandparents" else rng.randrange(22, 86)
            g1 = rng.choice(("female", "male"))
            g2 = ("male" if g1 == "female" else "female") if self.chance(0.9) else g1
            a = add(age, g1)
            b = add(
                max(18, age + rng.randrange(-5, 6)),
                g2,
                surname=rng.choice(SURNAMES) if self.chance(0.12) else None,
            )
            members[a].spouse, members[b].spouse = b, a
            if kind == "grandparents":
                children([age], [a, b], rng.randrange(1, 3), max_age=17)
                for m in members[2:]:
                    m.guardian_kind = "grandparent"
        elif kind == "grandparents":
            age = rng.randrange(55, 76)
            g = add(age, rng.choice(("female", "male")))
            children([age], [g], rng.randrange(1, 3), max_age=17)
            for m in members[1:]:
                m.guardian_kind = "grandparent"
        elif kind == "family":
            age = rng.randrange(28, 53)
            a = add(age, "female")
            b = add(max(20, age + rng.randrange(-4, 5)), "male" if self.chance(0.92) else "female")
            members[a].spouse, members[b].spouse = b, a
            children([members[a].age, members[b].age], [a, b], rng.choices((1, 2, 3), weights=(4, 4, 2))[0])
        elif kind == "single-parent":
            age = rng.randrange(22, 51)
            p = add(age, "female" if self.chance(0.75) else "male")
            children([age], [p], rng.choices((1, 2, 3), weights=(5, 3, 2))[0])
        else:  # adult siblings sharing a flat
            age = rng.randrange(18, 36)
            a = add(age)
            b = add(max(18, age + rng.randrange(-4, 5)))
            members[a].parents, members[b].parents = [-1], [-1]  # same (absent) parents: siblings
        members = members[:remaining]
        if any(m.spouse is not None and m.spouse >= len(members) for m in members):
            for m in members:
                m.spouse = None
        self.assign_statuses(members)
        return members

    def gender(self, *, adult: bool) -> str:
        r = self.rng.random()
        return (
            "female" if r < 0.49 else "male" if r < 0.98 else "other" if r < 0.995 or not adult else "unknown"
        )

    def assign_statuses(self, members: list[_Member]) -> None:
        status = self.household_status.draw()
        has_minor = any(m.age < 18 for m in members)
        for m in members:
            m.status = status
            if status == "active" and m.kind == "adult" and m.age >= 40 and not has_minor:
                self.deceased_candidates += 1
                if self.deceased_candidates % 12 == 2:
                    m.status = "deceased"
                    m.death = self.at_time(self.today - dt.timedelta(days=self.rng.randrange(20, 400)), 0, 24)

    # -- one household --

    def emit_household(self, members: list[_Member]) -> Iterator[Resource]:
        rng = self.rng
        self.account_seq += 1
        account_no = f"A-{self.account_seq:06d}"
        address = self.address()
        home_phone = self.phone() if self.chance(0.45) else None
        shared_email = None
        if len(members) > 1 and self.chance(0.45):
            surname = members[0].family.lower().replace("'", "")
            shared_email = f"the{surname}family{rng.randrange(1, 99)}@{rng.choice(EMAIL_DOMAINS)}"
        living_adults = [i for i, m in enumerate(members) if m.kind == "adult" and m.status != "deceased"]
        guarantor = max(living_adults, key=lambda i: members[i].age) if living_adults else 0
        home_location = self.rng.choice([r.location for r in self.rooms.values() if r.key != "telehealth"])
        for m in members:
            if shared_email:
                m.email = shared_email
            elif m.age >= 14 and self.chance(0.85):
                m.email = (
                    (
                        f"{m.given}.{m.family}{rng.randrange(1, 999) if self.chance(0.6) else ''}"
                        f"@{rng.choice(EMAIL_DOMAINS)}"
                    )
                    .lower()
                    .replace("'", "")
                )
            m.mobile = self.phone() if m.age >= 12 and self.chance(0.9) else None
        plans = [self.plan(m, members) for m in members]
        for m, plan in zip(members, plans, strict=True):
            yield self.patient(
                m, plan, members, account_no, address, home_phone, home_location, guarantor=members[guarantor]
            )
        yield {
            "resourceType": "Account",
            "id": self.id("acc"),
            "identifier": [{"system": SID["account-number"], "value": account_no}],
            "status": "active" if any(m.status in ("active", "prospective") for m in members) else "inactive",
            "name": f"{members[guarantor].family} household",
            "subject": [_ref("Patient", m.id, f"{m.given} {m.family}") for m in members],
            "owner": _ref("Organization", self.org, self.org_name),
            "guarantor": [
                {
                    "party": _ref(
                        "Patient",
                        members[guarantor].id,
                        f"{members[guarantor].given} {members[guarantor].family}",
                    ),
                    "onHold": any(p["balance"] > 500 for p in plans) and self.chance(0.3),
                }
            ],
        }
        yield from self.relations(members)
        if shared_email:
            yield {
                "resourceType": "Group",
                "id": self.id("grp"),
                "active": True,
                "type": "person",
                "actual": True,
                "code": {"text": "family"},
                "name": f"{members[0].family} family",
                "quantity": len(members),
                "managingEntity": _ref("Organization", self.org, self.org_name),
                "member": [{"entity": _ref("Patient", m.id, f"{m.given} {m.family}")} for m in members],
            }
        for m, plan in zip(members, plans, strict=True):
            guardian = members[guarantor] if m.age < 18 else None
            yield from self.clinical(
                m, plan, guardian, family_alert=len(members) > 1 and m is members[guarantor]
            )

    def relations(self, members: list[_Member]) -> Iterator[Resource]:
        for i, p in enumerate(members):
            for j, q in enumerate(members):
                if i == j:
                    continue
                codes: list[tuple[str, str]]
                guardian = False
                if j in p.parents:  # q is p's parent (or raising grandparent)
                    if p.guardian_kind == "grandparent":
                        codes = [("GRPRN", "grandparent"), ("GUARD", "guardian")]
                    else:
                        codes = [
                            {"female": ("MTH", "mother"), "male": ("FTH", "father")}.get(
                                q.gender, ("PRN", "parent")
                            )
                        ]
                    guardian = p.age < 18 and q.status != "deceased"
                elif i in q.parents:
                    codes = [
                        ("GRNDCHILD", "grandchild")
                        if q.guardian_kind == "grandparent"
                        else ("CHILD", "child")
                    ]
                elif p.spouse == j:
                    codes = [("SPS", "spouse")]
                elif p.parents and p.parents == q.parents:
                    codes = [("SIB", "sibling")]
                else:
                    continue
                yield {
                    "resourceType": "RelatedPerson",
                    "id": self.id("rp"),
                    "active": True,
                    "patient": _ref("Patient", p.id, f"{p.given} {p.family}"),
                    "relationship": [_cc(V3_ROLE, c, d) for c, d in codes],
                    "name": [{"use": "official", "family": q.family, "given": [q.given]}],
                    "gender": q.gender,
                    "birthDate": q.birth.isoformat(),
                    "extension": [
                        _ext(
                            "related-patient", valueReference=_ref("Patient", q.id, f"{q.given} {q.family}")
                        ),
                        _ext("is-guardian", valueBoolean=guardian),
                    ],
                }

    # -- planning one patient's history (kept until the household is written) --

    def plan(self, m: _Member, members: list[_Member]) -> dict[str, Any]:
        rng = self.rng
        conds: list[str] = []
        if m.status != "prospective":
            for key, (_c, _d, min_age, p) in CONDITIONS.items():
                if m.age >= min_age and self.chance(p * min(1.0, 0.4 + m.age / 70)):
                    conds.append(key)
            if "t2dm" in conds and "prediabetes" in conds:
                conds.remove("prediabetes")
        # providers
        room_key = "pediatrics" if m.age < 18 else "primary"
        own = [p for p in self.pracs if p.room.key == room_key] or self.pracs
        primary = rng.choice(own)
        secondary = None
        if ("depression" in conds or "anxiety" in conds) or self.chance(0.15):
            bh = [p for p in self.pracs if p.room.key == "behavioral" and p is not primary]
            others = [p for p in self.pracs if p is not primary]
            pool = bh if ("depression" in conds or "anxiety" in conds) and bh else others
            secondary = rng.choice(pool) if pool else None
        visits = self.visits(m, conds, primary, secondary)
        past = [v for v in visits if v.start < self.now]
        first_visit = None
        if past:
            first = min(v.start for v in past).date()
            first_visit = max(m.birth, first - dt.timedelta(days=rng.choice((0, 0, rng.randrange(0, 2500)))))
        r = rng.random()
        balance = (
            0.0
            if r < 0.6
            else round(rng.uniform(10, 500), 2)
            if r < 0.92
            else round(rng.uniform(500, 2600), 2)
        )
        if m.status == "prospective":
            balance = 0.0
        return {
            "conds": conds,
            "primary": primary,
            "secondary": secondary,
            "visits": visits,
            "first_visit": first_visit,
            "balance": balance,
        }

    def visits(self, m: _Member, conds: list[str], primary: _Prac, secondary: _Prac | None) -> list[_Visit]:
        rng = self.rng
        visits: list[_Visit] = []
        lo = dt.datetime.combine(m.birth, dt.time()) + dt.timedelta(days=1)
        hi = self.now
        if m.status == "inactive":
            hi = self.now - dt.timedelta(days=300)
        elif m.status == "archived":
            hi = self.now - dt.timedelta(days=450)
        elif m.status == "deceased" and m.death:
            hi = m.death - dt.timedelta(days=2)

        def who() -> _Prac:
            if secondary and self.chance(0.3):
                return secondary
            if self.chance(0.1):
                return rng.choice(self.pracs)
            return primary

        def video(p: _Prac) -> bool:
            return p.room.key != "pediatrics" and self.chance(0.35 if p.room.key == "behavioral" else 0.15)

        if m.status != "prospective":
            n_past = rng.randrange(1, 5) + min(4, len(conds)) + (1 if m.age < 3 else 0)
            for _ in range(n_past):
                p = who()
                start = p.grids["past"].take()
                if start is not None and lo <= start <= hi:
                    visits.append(_Visit(start, self.past_deck.draw(), p, video(p)))
        if m.status == "active":
            if self.chance(0.2):  # today's waiting room
                status = self.today_deck.draw()
                p = who()
                start = p.grids["pm" if status == "booked" else "am"].take()
                if start is not None:
                    visits.append(_Visit(start, status, p, video(p) and status != "arrived"))
            for _ in range(rng.choices((0, 1, 2, 3), weights=(3, 4, 2, 1))[0]):
                p = who()
                start = p.grids["future"].take()
                if start is not None:
                    visits.append(_Visit(start, self.future_deck.draw(), p, video(p)))
        elif m.status == "prospective":
            status = rng.choice(("booked", "booked", "pending", "proposed", "waitlist"))
            start = primary.grids["future"].take()
            if start is not None:
                visits.append(_Visit(start, status, primary, False))
        visits.sort(key=lambda v: v.start)
        return visits

    # -- Patient --

    def patient(
        self,
        m: _Member,
        plan: dict[str, Any],
        members: list[_Member],
        account_no: str,
        address: dict[str, Any],
        home_phone: str | None,
        home_location: str,
        *,
        guarantor: _Member,
    ) -> Resource:
        rng = self.rng
        self.spid += 1
        given = [m.given] + ([m.middle] if m.middle and m.middle != m.given else [])
        names: list[dict[str, Any]] = [{"use": "official", "family": m.family, "given": given}]
        if m.age >= 18 and self.chance(0.25):
            names[0]["prefix"] = [{"female": "Ms.", "male": "Mr."}.get(m.gender, "Mx.")]
        nickname = NICKNAMES.get(m.given)
        if nickname and self.chance(0.5):
            names.append({"use": "nickname", "given": [nickname], "family": m.family})
        telecom: list[dict[str, Any]] = []
        if m.mobile:
            telecom.append({"system": "phone", "value": m.mobile, "use": "mobile", "rank": 1})
        if home_phone:
            telecom.append({"system": "phone", "value": home_phone, "use": "home"})
        if m.age >= 22 and m.age < 67 and self.chance(0.3):
            telecom.append({"system": "phone", "value": self.phone(), "use": "work"})
        if m.email:
            telecom.append({"system": "email", "value": m.email, "use": "home"})
        identifiers = [
            {
                "use": "usual",
                "type": _cc("http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical record number"),
                "system": SID["mrn"],
                "value": f"MRN-{self.spid + 100000:07d}",
            },
            {
                "system": SID["chart-number"],
                "value": f"{m.family[:3].upper()}{m.given[:2].upper()}{self.spid:04d}".replace("'", "X"),
            },
            {"system": SID["spid"], "value": str(self.spid)},
            {"system": SID["account-number"], "value": account_no},
        ]
        if m.age >= 1 and self.chance(0.85):
            identifiers.append(
                {
                    "type": _cc(
                        "http://terminology.hl7.org/CodeSystem/v2-0203", "SS", "Social Security number"
                    ),
                    "system": SSN_SYSTEM,
                    "value": f"9{rng.randrange(0, 100):02d}-{rng.randrange(1, 100):02d}-"
                    f"{rng.randrange(1, 10000):04d}",
                }
            )
        if m.kind == "adult":
            if m.spouse is not None:
                dead_spouse = members[m.spouse].status == "deceased"
                marital = ("W", "Widowed") if dead_spouse else ("M", "Married")
            else:
                marital = self.weighted(
                    (
                        ("S", "Never Married", 5),
                        ("D", "Divorced", 2),
                        ("W", "Widowed", 2 if m.age > 60 else 0.2),
                        ("T", "Domestic partner", 1),
                        ("L", "Legally Separated", 0.5),
                    )
                )[:2]
        else:
            marital = ("S", "Never Married")
        lang = self.weighted(LANGUAGES)
        race = self.weighted(RACES)
        hispanic = self.chance(0.18 if lang[0] != "es" else 0.95)
        visits: list[_Visit] = plan["visits"]
        has_allergy_check = m.status != "prospective"
        allergy_review = (
            "reviewed"
            if has_allergy_check and self.chance(0.55)
            else "nkda"
            if has_allergy_check and self.chance(0.6)
            else "not_reviewed"
        )
        plan["allergy_review"] = allergy_review
        contact = rng.choice(("phone", "text", "email", "text", "phone", "mail", "none"))
        if contact == "email" and not m.email:
            contact = "phone"
        if contact == "text" and not m.mobile:
            contact = "phone"
        consent = 0
        if m.status != "prospective":
            consent = (
                1
                | 2
                | (4 if self.chance(0.9) else 0)
                | (8 if any(v.video for v in visits) or self.chance(0.3) else 0)
            )
        pronoun = {"female": "she_her", "male": "he_him"}.get(m.gender, "they_them")
        if m.age < 13 or self.chance(0.4):
            pronoun = "not_specified" if self.chance(0.5) else pronoun
        extensions = [
            _ext("patient-status", valueCode=m.status),
            _ext("patient-location", valueReference=_ref("Location", home_location)),
            _ext("pronouns", valueCode=pronoun),
            _ext("premedication-required", valueBoolean=self.chance(0.05)),
            _ext("allergy-review-status", valueCode=allergy_review),
            _ext("preferred-contact-method", valueCode=contact),
            _ext(
                "preferred-confirmation-method",
                valueCode="text" if m.mobile and self.chance(0.6) else contact,
            ),
            _ext("receives-email", valueBoolean=bool(m.email) and self.chance(0.8)),
            _ext("receives-sms", valueBoolean=bool(m.mobile) and self.chance(0.75)),
            _ext("consent-flags", valueInteger=consent),
            _ext("balance-total", valueDecimal=plan["balance"]),
        ]
        if self.chance(0.06):
            extensions.append(_ext("medical-urgent-note", valueString=rng.choice(URGENT_NOTES)))
        if plan["first_visit"]:
            extensions.append(_ext("date-first-visit", valueDate=plan["first_visit"].isoformat()))
        extensions.append(
            {
                "url": US_CORE_RACE,
                "extension": [
                    {
                        "url": "ombCategory",
                        "valueCoding": {"system": OMB, "code": race[0], "display": race[1]},
                    },
                    {"url": "text", "valueString": race[1]},
                ],
            }
        )
        eth = ("2135-2", "Hispanic or Latino") if hispanic else ("2186-5", "Not Hispanic or Latino")
        extensions.append(
            {
                "url": US_CORE_ETHNICITY,
                "extension": [
                    {"url": "ombCategory", "valueCoding": {"system": OMB, "code": eth[0], "display": eth[1]}},
                    {"url": "text", "valueString": eth[1]},
                ],
            }
        )
        if m.gender in ("female", "male"):
            extensions.append({"url": US_CORE_BIRTHSEX, "valueCode": "F" if m.gender == "female" else "M"})
        tags: list[tuple[str, str]] = []
        if m.status == "prospective" or (
            plan["first_visit"] and (self.today - plan["first_visit"]).days < 120
        ):
            tags.append(PATIENT_TAGS[7])
        if lang[0] != "en-US" and self.chance(0.6):
            tags.append(PATIENT_TAGS[5])
        if plan["balance"] > 500:
            tags.append(PATIENT_TAGS[6] if self.chance(0.4) else PATIENT_TAGS[1])
        for tag in (PATIENT_TAGS[0], PATIENT_TAGS[2], PATIENT_TAGS[3], PATIENT_TAGS[4]):
            if self.chance(0.06):
                tags.append(tag)
        gp = [_ref("Practitioner", plan["primary"].id, plan["primary"].name)]
        if plan["secondary"]:
            gp.append(_ref("Practitioner", plan["secondary"].id, plan["secondary"].name))
        res: Resource = {
            "resourceType": "Patient",
            "id": m.id,
            "extension": extensions,
            "identifier": identifiers,
            "active": m.status not in ("inactive", "archived"),
            "name": names,
            "telecom": telecom,
            "gender": m.gender,
            "birthDate": m.birth.isoformat(),
            "address": [dict(address, line=list(address["line"]))],
            "maritalStatus": _cc(V3_MARITAL, *marital),
            "communication": [{"language": _cc(BCP47, lang[0], lang[1]), "preferred": True}],
            "generalPractitioner": gp,
            "managingOrganization": _ref("Organization", self.org, self.org_name),
        }
        if tags:
            res["meta"] = {"tag": [{"system": CS["patient-tag"], "code": c, "display": d} for c, d in tags]}
        if m.death:
            res["deceasedDateTime"] = _instant(m.death)
        if m.age < 18 and guarantor is not m:
            res["contact"] = [
                {
                    "relationship": [_cc(V2_CONTACT_ROLE, "N", "Next-of-Kin")],
                    "name": {"family": guarantor.family, "given": [guarantor.given]},
                    "telecom": [
                        {"system": "phone", "value": guarantor.mobile or self.phone(), "use": "mobile"}
                    ],
                }
            ]
        elif self.chance(0.5):
            contact_given = rng.choice(FEMALE_NAMES + MALE_NAMES)
            res["contact"] = [
                {
                    "relationship": [_cc(V2_CONTACT_ROLE, "C", "Emergency Contact")],
                    "name": {"family": rng.choice(SURNAMES), "given": [contact_given]},
                    "telecom": [{"system": "phone", "value": self.phone(), "use": "mobile"}],
                }
            ]
        return res

    # -- the chart --

    def clinical(
        self, m: _Member, plan: dict[str, Any], guardian: _Member | None, *, family_alert: bool
    ) -> Iterator[Resource]:
        rng = self.rng
        visits: list[_Visit] = plan["visits"]
        primary: _Prac = plan["primary"]
        pat = _ref("Patient", m.id, f"{m.given} {m.family}")
        done = [v for v in visits if v.status == "fulfilled"]
        start_of_care = (
            dt.datetime.combine(plan["first_visit"], dt.time(9)) if plan["first_visit"] else self.now
        )
        # Conditions
        cond_ids: dict[str, str] = {}
        for key in plan["conds"]:
            code, display, min_age, _p = CONDITIONS[key]
            onset_age = rng.randrange(min_age, max(min_age, m.age) + 1)
            onset = min(
                self.today - dt.timedelta(days=30),
                m.birth + dt.timedelta(days=onset_age * 365 + rng.randrange(365)),
            )
            status = "active"
            if key in ("depression", "anxiety", "migraine", "gerd") and self.chance(0.25):
                status = rng.choice(("resolved", "inactive"))
            cid = self.id("cond")
            cond_ids[key] = cid
            c: Resource = {
                "resourceType": "Condition",
                "id": cid,
                "clinicalStatus": _cc(CONDITION_CLINICAL, status, status.capitalize()),
                "verificationStatus": _cc(CONDITION_VER, "confirmed", "Confirmed"),
                "category": [_cc(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
                "code": _cc(SNOMED, code, display, display.rsplit(" (", 1)[0]),
                "subject": pat,
                "onsetDateTime": onset.isoformat(),
                "recordedDate": _instant(
                    min(self.now, max(start_of_care, dt.datetime.combine(onset, dt.time(10))))
                ),
                "recorder": _ref("Practitioner", primary.id, primary.name),
            }
            if status != "active":
                c["abatementDateTime"] = (
                    (onset + dt.timedelta(days=rng.randrange(60, 900))).isoformat()
                    if (self.today - onset).days > 1000
                    else self.today.isoformat()
                )
            yield c
        for v in done:
            if self.chance(0.25):
                code, display, max_age = rng.choice(ACUTE_CONDITIONS)
                if m.age <= max_age:
                    yield {
                        "resourceType": "Condition",
                        "id": self.id("cond"),
                        "clinicalStatus": _cc(CONDITION_CLINICAL, "resolved", "Resolved"),
                        "verificationStatus": _cc(CONDITION_VER, "confirmed", "Confirmed"),
                        "category": [_cc(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")],
                        "code": _cc(SNOMED, code, display, display.rsplit(" (", 1)[0]),
                        "subject": pat,
                        "onsetDateTime": (
                            v.start.date() - dt.timedelta(days=rng.randrange(1, 6))
                        ).isoformat(),
                        "abatementDateTime": (
                            v.start.date() + dt.timedelta(days=rng.randrange(7, 21))
                        ).isoformat(),
                        "recordedDate": _instant(v.start),
                        "recorder": _ref("Practitioner", v.prac.id, v.prac.name),
                    }
        # Allergies
        if plan["allergy_review"] == "reviewed":
            for system, code, display, category, reactions in rng.sample(
                ALLERGENS, rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
            ):
                manifest = rng.sample(reactions, rng.randrange(1, min(2, len(reactions)) + 1))
                severe = "39579001" in manifest
                yield {
                    "resourceType": "AllergyIntolerance",
                    "id": self.id("alg"),
                    "clinicalStatus": _cc(
                        ALLERGY_CLINICAL,
                        *(("active", "Active") if self.chance(0.9) else ("inactive", "Inactive")),
                    ),
                    "verificationStatus": _cc(ALLERGY_VER, "confirmed", "Confirmed"),
                    "type": "allergy",
                    "category": [category],
                    "criticality": "high" if severe else rng.choice(("low", "low", "unable-to-assess")),
                    "code": _cc(system, code, display, display.split(" (")[0]),
                    "patient": pat,
                    "onsetDateTime": (
                        m.birth + dt.timedelta(days=rng.randrange(365, max(366, m.age * 365)))
                    ).isoformat()
                    if m.age > 1
                    else m.birth.isoformat(),
                    "recordedDate": _instant(start_of_care),
                    "recorder": _ref("Practitioner", primary.id, primary.name),
                    "reaction": [
                        {
                            "manifestation": [_cc(SNOMED, rc, REACTIONS[rc]) for rc in manifest],
                            "severity": "severe" if severe else rng.choice(("mild", "moderate")),
                        }
                    ],
                }
        # Social history: one per category, occasionally a newer reading
        if m.status != "prospective" and m.age >= 12:
            yield from self.social(m, pat, start_of_care, done)
        # Alerts: now and then one for this chart; a family-scope one sits on the guarantor's chart
        alerts = [rng.choice(ALERTS[:6])] if self.chance(0.14) else []
        if family_alert and self.chance(0.15):
            alerts.append(rng.choice(ALERTS[6:]))
        for code, display, category, scope, urgent in alerts:
            active = self.chance(0.75) and m.status != "deceased"
            since = min(self.last_moment(m), start_of_care + dt.timedelta(days=rng.randrange(0, 400)))
            period = {"start": _instant(since)}
            if not active:
                period = {"start": _instant(since - dt.timedelta(days=200)), "end": _instant(since)}
            yield {
                "resourceType": "Flag",
                "id": self.id("flag"),
                "status": "active" if active else "inactive",
                "category": [_cc(FLAG_CATEGORY, category, category.capitalize())],
                "code": {
                    "coding": [{"system": CS["alert-type"], "code": code, "display": display}],
                    "text": display,
                },
                "subject": pat,
                "period": period,
                "author": _ref("Practitioner", primary.id, primary.name),
                "extension": [
                    _ext("alert-scope", valueCode=scope),
                    _ext("alert-urgent", valueBoolean=urgent),
                ],
            }
        # Episodes of care, then the visits that may join them
        yield from self.episodes(m, pat, visits, cond_ids, primary)
        meds = self.medications(m, plan["conds"], cond_ids, done)
        notify = guardian or m
        for v in visits:
            yield from self.visit(m, pat, v, plan, cond_ids)
            for med in meds:  # prescriptions written at this visit
                if med["encounter_visit"] is v:
                    yield self.med_request(pat, med, v)
        # MedicationStatements (the medication list), after their prescriptions
        for med in meds:
            yield self.med_statement(m, pat, med)
        yield from self.communications(m, pat, visits, notify)

    def social(
        self, m: _Member, pat: dict[str, str], since: dt.datetime, done: list[_Visit]
    ) -> Iterator[Resource]:
        rng = self.rng
        when = rng.choice(done).start if done else since
        cat = [_cc(OBS_CATEGORY, "social-history", "Social History")]
        code, display, _w = self.weighted(TOBACCO) if m.age >= 16 else TOBACCO[0]
        obs = [
            (
                "tobacco",
                _cc(LOINC, "72166-2", "Tobacco smoking status"),
                {"valueCodeableConcept": _cc(SNOMED, code, display, display.rsplit(" (", 1)[0])},
            )
        ]
        if m.age >= 18:
            drinks = rng.choices((0, 1, 2, 3, 5), weights=(35, 35, 18, 8, 4))[0]
            obs.append(
                (
                    "alcohol",
                    _cc(LOINC, "74013-4", "Alcoholic drinks per day"),
                    {
                        "valueQuantity": {
                            "value": drinks,
                            "unit": "{drinks}/d",
                            "system": UCUM,
                            "code": "{drinks}/d",
                        }
                    },
                )
            )
        if m.age >= 16:
            job = "Student" if m.age < 22 else "Retired" if m.age >= 67 else rng.choice(OCCUPATIONS)
            obs.append(
                (
                    "occupation",
                    _cc(LOINC, "11341-5", "History of Occupation"),
                    {"valueCodeableConcept": {"text": job}},
                )
            )
        for kind, concept, value in obs:
            yield {
                "resourceType": "Observation",
                "id": self.id("obs"),
                "status": "final",
                "category": cat,
                "code": concept,
                "subject": pat,
                "effectiveDateTime": _instant(when),
                **value,
            }
            if kind == "tobacco" and code in ("449868002", "428041000124106") and done and self.chance(0.35):
                later = max(v.start for v in done)
                if later > when:
                    yield {
                        "resourceType": "Observation",
                        "id": self.id("obs"),
                        "status": "final",
                        "category": [_cc(OBS_CATEGORY, "social-history", "Social History")],
                        "code": _cc(LOINC, "72166-2", "Tobacco smoking status"),
                        "subject": pat,
                        "effectiveDateTime": _instant(later),
                        "valueCodeableConcept": _cc(SNOMED, "8517006", "Ex-smoker (finding)", "Ex-smoker"),
                    }

    def episodes(
        self, m: _Member, pat: dict[str, str], visits: list[_Visit], cond_ids: dict[str, str], primary: _Prac
    ) -> Iterator[Resource]:
        rng = self.rng
        if not visits or not self.chance(0.3 if m.status in ("active", "prospective") else 0.1):
            return
        status = self.episode_deck.draw()
        if m.status != "active":
            status = "waitlist" if m.status == "prospective" else rng.choice(("finished", "cancelled"))
        past = [v for v in visits if v.start < self.now]
        future = [v for v in visits if v.start >= self.now]
        if status in ("planned", "waitlist") and not future:
            status = "finished"
        if status in ("active", "onhold") and not past:
            status = "planned" if future else "finished"
        if status in ("finished", "cancelled") and not past:
            return
        end: dt.datetime | None = None
        if status in ("planned", "waitlist"):
            start = future[0].start - dt.timedelta(days=rng.randrange(0, 5))
            members = future
        elif status in ("active", "onhold"):
            start = past[len(past) // 2].start - dt.timedelta(days=rng.randrange(0, 20))
            members = [v for v in visits if v.start >= start]
        else:  # finished | cancelled: a closed stretch of past visits
            first = rng.randrange(len(past))
            last = min(len(past) - 1, first + rng.randrange(0, 3))
            start = past[first].start - dt.timedelta(days=rng.randrange(0, 10))
            end = min(self.now, past[last].start + dt.timedelta(days=rng.randrange(1, 30)))
            members = past[first : last + 1]
        if m.age < 18:
            choices = [e for e in EPISODE_TYPES if e[0] in ("behavioral-health", "covid", "physical-therapy")]
        else:
            choices = list(EPISODE_TYPES)
        if "depression" in cond_ids or "anxiety" in cond_ids:
            etype = EPISODE_TYPES[0]
        elif "htn" in cond_ids and m.age >= 18:
            etype = EPISODE_TYPES[1]
        elif "t2dm" in cond_ids and m.age >= 18:
            etype = EPISODE_TYPES[5]
        else:
            etype = rng.choice(choices)
        code, display, name, objective = etype
        eid = self.id("eoc")
        period: dict[str, str] = {"start": _instant(start)}
        if end:
            period["end"] = _instant(end)
        extensions = [
            _ext("episode-name", valueString=name),
            _ext("episode-objective", valueString=objective),
        ]
        if status == "cancelled":
            extensions.append(_ext("episode-reason-incomplete", valueString=rng.choice(INCOMPLETE_REASONS)))
        ep: Resource = {
            "resourceType": "EpisodeOfCare",
            "id": eid,
            "extension": extensions,
            "status": status,
            "type": [
                {
                    "coding": [{"system": CS["episode-type"], "code": code, "display": display}],
                    "text": display,
                }
            ],
            "patient": pat,
            "managingOrganization": _ref("Organization", self.org, self.org_name),
            "period": period,
            "careManager": _ref("Practitioner", primary.id, primary.name),
        }
        diag = {
            "behavioral-health": ("depression", "anxiety"),
            "chronic-care": ("htn",),
            "diabetes": ("t2dm",),
            "physical-therapy": ("oa_knee",),
        }.get(code, ())
        linked = [cond_ids[k] for k in diag if k in cond_ids]
        if linked:
            ep["diagnosis"] = [
                {"condition": _ref("Condition", cid), "rank": i + 1} for i, cid in enumerate(linked)
            ]
        yield ep
        for v in members:
            if v.status != "entered-in-error" and self.chance(0.8):
                v.episode = eid

    def visit(
        self, m: _Member, pat: dict[str, str], v: _Visit, plan: dict[str, Any], cond_ids: dict[str, str]
    ) -> Iterator[Resource]:
        rng = self.rng
        room = self.rooms["telehealth"] if v.video else v.prac.room
        minutes = v.prac.room.minutes
        end = v.start + dt.timedelta(minutes=minutes)
        prac = _ref("Practitioner", v.prac.id, v.prac.name)
        slot_status = SLOT_STATUSES_HELD.get(v.status)
        if slot_status:
            slot = self.slot(v.prac, v.start, slot_status, video=v.video)
            v.slot_id = slot["id"]
            yield slot
        elif v.status == "cancelled" and v.start > self.now:
            yield self.slot(v.prac, v.start, "free", video=v.video)  # the cancelled booking reopened its slot
        self.said += 1
        v.appt_id = self.id("apt")
        service_key = v.prac.room.key
        reason = rng.choice(REASONS_BY_SERVICE.get(service_key, REASONS_BY_SERVICE["primary"]))
        patient_part = (
            "needs-action"
            if v.status in ("proposed", "pending", "waitlist")
            else "declined"
            if v.status == "cancelled"
            else "accepted"
        )
        location_id = self.virtual_location if v.video and self.virtual_location else room.location
        appt: Resource = {
            "resourceType": "Appointment",
            "id": v.appt_id,
            "identifier": [{"system": SID["said"], "value": str(self.said)}],
            "status": v.status,
            "serviceCategory": [{"text": v.prac.room.service}],
            "serviceType": [{"text": "Telehealth visit" if v.video else v.prac.room.name}],
            "appointmentType": _cc(
                V2_APPT_TYPE,
                *rng.choice(
                    (
                        ("ROUTINE", "Routine appointment - default if not valued"),
                        ("FOLLOWUP", "A follow up visit from a previous appointment"),
                        ("CHECKUP", "A routine check-up, such as an annual physical"),
                        ("WALKIN", "A previously unscheduled walk-in visit"),
                    )
                ),
            ),
            "reasonCode": [{"text": reason}],
            "description": f"{reason} with {v.prac.name}",
            "start": _instant(v.start),
            "end": _instant(end),
            "minutesDuration": minutes,
            "created": _instant(
                min(self.now, v.start)
                - dt.timedelta(days=rng.randrange(1, 45), minutes=rng.randrange(0, 600))
            ),
            "participant": [
                {"actor": pat, "required": "required", "status": patient_part},
                {
                    "actor": prac,
                    "required": "required",
                    "status": "accepted",
                    "type": [_cc(V3_PART_TYPE, "PPRF", "primary performer")],
                },
                {
                    "actor": _ref("Location", location_id),
                    "required": "information-only",
                    "status": "accepted",
                },
                {
                    "actor": _ref("HealthcareService", room.id, room.name),
                    "required": "information-only",
                    "status": "accepted",
                },
            ],
            "extension": [_ext("appointment-workflow-status", valueCode=rng.choice(WORKFLOW[v.status]))],
        }
        if v.slot_id:
            appt["slot"] = [_ref("Slot", v.slot_id)]
        if v.episode:
            appt["extension"].append(_ext("episode-of-care", valueReference=_ref("EpisodeOfCare", v.episode)))
        if self.chance(0.1):
            appt["identifier"].append(
                {"system": SID["external-id"], "value": f"EXT-{rng.getrandbits(40):010x}"}
            )
        if v.status in ("proposed", "waitlist"):
            appt["requestedPeriod"] = [
                {
                    "start": _instant(v.start - dt.timedelta(days=rng.randrange(0, 4))),
                    "end": _instant(end + dt.timedelta(days=rng.randrange(3, 15))),
                }
            ]
        if v.status == "cancelled":
            by_patient = self.chance(0.75)
            appt["cancelationReason"] = _cc(
                CANCEL_REASON,
                *(("pat", "Patient") if by_patient else ("prov", "Provider")),
                rng.choice(("Feeling better", "Schedule conflict", "Transportation"))
                if by_patient
                else "Provider unavailable",
            )
        if v.video:
            appt["patientInstruction"] = (
                "Join the video visit from the link in your reminder 5 minutes early."
            )
        if v.status == "noshow":
            appt["comment"] = "Patient did not arrive; left voicemail."
        yield appt
        if v.status not in ("fulfilled", "arrived", "checked-in"):
            return
        enc_status = {"fulfilled": "finished", "arrived": "arrived", "checked-in": "in-progress"}[v.status]
        v.enc_id = self.id("enc")
        began = v.start + dt.timedelta(minutes=rng.randrange(0, 12))
        period = {"start": _instant(began)}
        if enc_status == "finished":
            period["end"] = _instant(began + dt.timedelta(minutes=minutes + rng.randrange(-5, 15)))
        enc: Resource = {
            "resourceType": "Encounter",
            "id": v.enc_id,
            "status": enc_status,
            "class": {"system": V3_ACT, "code": "VR", "display": "virtual"}
            if v.video
            else {"system": V3_ACT, "code": "AMB", "display": "ambulatory"},
            "serviceType": {"text": v.prac.room.service},
            "subject": pat,
            "participant": [
                {
                    "type": [_cc(V3_PART_TYPE, "PPRF", "primary performer")],
                    "individual": prac,
                    "period": dict(period),
                }
            ],
            "appointment": [_ref("Appointment", v.appt_id)],
            "period": period,
            "reasonCode": [{"text": reason}],
            "location": [{"location": _ref("Location", location_id)}],
            "serviceProvider": _ref("Organization", self.org, self.org_name),
        }
        if v.episode:
            enc["episodeOfCare"] = [_ref("EpisodeOfCare", v.episode)]
        yield enc
        enc_ref = _ref("Encounter", v.enc_id)
        vitals_text = ""
        if (
            not v.video
            and (service_key != "behavioral" or self.chance(0.3))
            and self.chance(0.8 if enc_status == "finished" else 0.6)
        ):
            panel, vitals_text = self.vitals(m, plan, pat, enc_ref, prac, began + dt.timedelta(minutes=3))
            yield panel
        scores = []
        if m.age >= 12 and enc_status == "finished" and (service_key == "behavioral" or self.chance(0.12)):
            mental = "depression" in cond_ids or "anxiety" in cond_ids
            for code, display, top in (
                (PHQ9, "PHQ-9 quick depression assessment panel [Reported.PHQ]", 27),
                (GAD7, "Generalized anxiety disorder 7 item (GAD-7)", 21),
            ):
                mean = top * (0.45 if mental else 0.15)
                score = max(0, min(top, round(rng.gauss(mean, top * 0.15))))
                scores.append(f"{'PHQ-9' if code == PHQ9 else 'GAD-7'} {score}")
                yield {
                    "resourceType": "Observation",
                    "id": self.id("obs"),
                    "status": "final",
                    "category": [_cc(OBS_CATEGORY, "survey", "Survey")],
                    "code": _cc(
                        LOINC, code, display, "PHQ-9 total score" if code == PHQ9 else "GAD-7 total score"
                    ),
                    "subject": pat,
                    "encounter": enc_ref,
                    "effectiveDateTime": _instant(began),
                    "performer": [prac],
                    "valueInteger": score,
                }
        if enc_status != "finished":
            return
        assessment = [CONDITIONS[k][1].rsplit(" (", 1)[0] for k in plan["conds"][:3]]
        acute = reason in ("Cough", "Sore throat", "Fever", "Ear pain")
        objective = vitals_text or f"Vitals not taken ({'video visit' if v.video else 'not indicated'})."
        if scores:
            objective += " Scores: " + ", ".join(scores) + "."
        soap = (
            f"S: {m.given} {m.family}, {m.age} y/o, presents for {reason.lower()}."
            f"{' Reports symptoms for a few days.' if acute else ''}\n"
            f"O: {objective}\n"
            f"A: {'; '.join(assessment) if assessment else 'Healthy; no active problems.'}\n"
            f"P: {rng.choice(PLANS)} Signed by {v.prac.name}.\n"
        )
        signed = self.chance(0.93) or (self.now - v.start).days > 7
        doc: Resource = {
            "resourceType": "DocumentReference",
            "id": self.id("doc"),
            "status": "current",
            "docStatus": "final" if signed else "preliminary",
            "type": _cc(LOINC, "11506-3", "Progress note")
            if self.chance(0.8)
            else _cc(LOINC, "34109-9", "Note"),
            "category": [_cc(DOC_CATEGORY, "clinical-note", "Clinical Note")],
            "subject": pat,
            "date": period.get("end", period["start"]),
            "author": [prac],
            "custodian": _ref("Organization", self.org, self.org_name),
            "description": f"SOAP note - {reason}",
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain",
                        "language": "en-US",
                        "data": base64.b64encode(soap.encode()).decode(),
                        "title": f"SOAP note {v.start.date().isoformat()}",
                        "creation": period.get("end", period["start"]),
                    }
                }
            ],
            "context": {"encounter": [enc_ref], "period": dict(period)},
        }
        if signed:
            doc["authenticator"] = prac
        yield doc

    def vitals(
        self,
        m: _Member,
        plan: dict[str, Any],
        pat: dict[str, str],
        enc: dict[str, str],
        prac: dict[str, str],
        when: dt.datetime,
    ) -> tuple[Resource, str]:
        rng = self.rng
        base = plan.setdefault("vitals_base", self.vitals_base(m, plan["conds"]))
        age = _age(m.birth, when.date())
        adult = age >= 18
        v: dict[str, float] = {}
        if age >= 3:
            sys_ = base["sys"] + rng.gauss(0, 9)
            dia = base["dia"] + rng.gauss(0, 6)
            if adult and self.chance(0.035 + (0.04 if "htn" in plan["conds"] else 0)):
                sys_, dia = rng.uniform(181, 210), rng.uniform(105, 128)
            v["bp_systolic"], v["bp_diastolic"] = round(sys_), round(min(dia, sys_ - 20))
        v["pulse"] = round(base["pulse"] + rng.gauss(0, 7))
        temp = 98.2 + rng.gauss(0, 0.4)
        r = rng.random()
        if r < 0.05:
            temp = rng.uniform(100.5, 102.6)
        elif r < 0.058:
            temp = rng.uniform(103.1, 104.2)
        v["temperature_f"] = round(temp, 1)
        v["respiration_rate"] = round(base["resp"] + rng.gauss(0, 1.5))
        r = rng.random()
        v["oxygen_saturation"] = (
            rng.randrange(96, 101)
            if r > 0.06
            else rng.randrange(94, 96)
            if r > 0.025
            else rng.randrange(88, 94)
        )
        growing = base["height"] + 2.3 * (age - m.age) if age >= 2 else 20 + 12 * age
        h = growing if age < 18 else base["height"]
        w = max(6.0, base["weight"] * (h / base["height"]) ** 2 * (1 + rng.gauss(0, 0.015)))
        v["height_inches"] = round(h, 1)
        v["weight_lbs"] = round(w, 1)
        if age >= 2:
            v["bmi"] = round(703 * w / (h * h), 1)
        components = []
        flags = []
        for key, value in v.items():
            display, unit = VITAL_DISPLAY[key]
            comp: dict[str, Any] = {
                "code": _cc(LOINC, VITAL_CODES[key], display),
                "valueQuantity": _qty(value, unit),
            }
            flag = _interpret(key, value, adult)
            if flag:
                comp["interpretation"] = [_cc(V3_INTERPRETATION, flag, INTERPRETATION_DISPLAY[flag])]
                flags.append(f"{display} {flag}")
            components.append(comp)
        summary = (
            ", ".join(
                s
                for s in (
                    f"BP {v['bp_systolic']:.0f}/{v['bp_diastolic']:.0f}" if "bp_systolic" in v else "",
                    f"HR {v['pulse']:.0f}",
                    f"T {v['temperature_f']}F",
                    f"RR {v['respiration_rate']:.0f}",
                    f"SpO2 {v['oxygen_saturation']:.0f}%",
                    f"Wt {v['weight_lbs']} lb",
                )
                if s
            )
            + "."
        )
        panel: Resource = {
            "resourceType": "Observation",
            "id": self.id("obs"),
            "status": "final",
            "category": [_cc(OBS_CATEGORY, "vital-signs", "Vital Signs")],
            "code": _cc(
                LOINC,
                VITALS_PANEL,
                "Vital signs, weight, height, head circumference, oxygen saturation and BMI panel",
                "Vital signs",
            ),
            "subject": pat,
            "encounter": enc,
            "effectiveDateTime": _instant(when),
            "performer": [prac],
            "component": components,
        }
        if flags:
            panel["note"] = [{"text": "Abnormal: " + "; ".join(flags)}]
        return panel, "Vitals: " + summary

    def vitals_base(self, m: _Member, conds: list[str]) -> dict[str, float]:
        rng = self.rng
        if m.age >= 18:
            height = rng.gauss(64.5 if m.gender == "female" else 69.5, 2.8)
            bmi = rng.gauss(28.5 if "t2dm" in conds or "sleep_apnea" in conds else 26.5, 4.5)
            pulse, resp = rng.gauss(72, 7), rng.gauss(15, 1.5)
        else:
            height = 20 + 12 * m.age if m.age < 2 else 30 + 2.3 * m.age
            bmi = rng.gauss(17 if m.age < 10 else 20, 2)
            pulse, resp = (
                max(75.0, 125 - 3.5 * m.age + rng.gauss(0, 6)),
                max(14.0, 30 - m.age + rng.gauss(0, 2)),
            )
        htn = "htn" in conds
        return {
            "height": height,
            "weight": max(7.0, min(bmi, 55) * height * height / 703),
            "sys": (112 if m.age < 18 else 118 + 0.25 * (m.age - 18)) + (18 if htn else 0) + rng.gauss(0, 6),
            "dia": (68 if m.age < 18 else 76) + (10 if htn else 0) + rng.gauss(0, 4),
            "pulse": pulse,
            "resp": resp,
        }

    def medications(
        self, m: _Member, conds: list[str], cond_ids: dict[str, str], done: list[_Visit]
    ) -> list[dict[str, Any]]:
        rng = self.rng
        meds: list[dict[str, Any]] = []
        for key in conds:
            options = CONDITION_MEDS.get(key)
            if not options or self.chance(0.15):
                continue
            picks = [rng.choice(options)]
            if key == "htn" and self.chance(0.25):  # a switched drug: the old one was stopped
                old = rng.choice([o for o in options if o != picks[0]])
                meds.append(self.med(m, old, "stopped", cond_ids.get(key), done))
            if key in ("asthma", "cad") and len(options) > 1 and self.chance(0.6):
                picks = list(options)
            for med in picks:
                if not any(x["key"] == med and x["status"] == "active" for x in meds):
                    meds.append(self.med(m, med, "active", cond_ids.get(key), done))
        if done and self.chance(0.3):
            meds.append(self.med(m, rng.choice(("amoxicillin", "ibuprofen")), "completed", None, done))
        return meds

    def med(
        self, m: _Member, key: str, status: str, reason: str | None, done: list[_Visit]
    ) -> dict[str, Any]:
        rng = self.rng
        visit = rng.choice(done) if done and self.chance(0.8) else None
        if visit:
            start = visit.start
        else:  # prescribed elsewhere, before this clinic's records
            days = rng.randrange(200, 1500)
            start = max(
                dt.datetime.combine(m.birth, dt.time(10)), self.last_moment(m) - dt.timedelta(days=days)
            )
        end = None
        if status == "active" and m.death:  # the medication list closes at death
            status, end = "stopped", m.death
        elif status != "active":
            end = max(
                start,
                min(
                    self.last_moment(m) - dt.timedelta(days=1),
                    start + dt.timedelta(days=rng.choice((10, 14, 90, 180))),
                ),
            )
        return {
            "key": key,
            "status": status,
            "reason": reason,
            "start": start,
            "end": end,
            "encounter_visit": visit,
            "request_id": None,
        }

    def med_request(self, pat: dict[str, str], med: dict[str, Any], v: _Visit) -> Resource:
        code, display, sig = MEDS[med["key"]]
        med["request_id"] = self.id("mr")
        res: Resource = {
            "resourceType": "MedicationRequest",
            "id": med["request_id"],
            "status": "active"
            if med["status"] == "active"
            else "completed"
            if med["status"] == "completed"
            else "stopped",
            "intent": "order",
            "category": [_cc(MED_REQ_CATEGORY, "outpatient", "Outpatient")],
            "medicationCodeableConcept": _cc(RXNORM, code, display, display),
            "subject": pat,
            "encounter": _ref("Encounter", v.enc_id) if v.enc_id else None,
            "authoredOn": _instant(med["start"]),
            "requester": _ref("Practitioner", v.prac.id, v.prac.name),
            "dosageInstruction": [{"sequence": 1, "text": sig}],
            "dispenseRequest": {
                "numberOfRepeatsAllowed": 0 if med["key"] in ("amoxicillin",) else 3,
                "expectedSupplyDuration": {
                    "value": 10 if med["key"] == "amoxicillin" else 30,
                    "unit": "days",
                    "system": UCUM,
                    "code": "d",
                },
            },
        }
        if res["encounter"] is None:
            del res["encounter"]
        if med["reason"]:
            res["reasonReference"] = [_ref("Condition", med["reason"])]
        return res

    def med_statement(self, m: _Member, pat: dict[str, str], med: dict[str, Any]) -> Resource:
        code, display, sig = MEDS[med["key"]]
        period = {"start": med["start"].date().isoformat()}
        if med["end"]:
            period["end"] = med["end"].date().isoformat()
        res: Resource = {
            "resourceType": "MedicationStatement",
            "id": self.id("ms"),
            "status": med["status"],
            "medicationCodeableConcept": _cc(RXNORM, code, display, display),
            "subject": pat,
            "effectivePeriod": period,
            "dateAsserted": _instant(min(self.now, med["start"] + dt.timedelta(days=1))),
            "informationSource": pat
            if med["request_id"] is None
            else _ref("Practitioner", med["encounter_visit"].prac.id),
            "dosage": [{"text": sig}],
        }
        if med["request_id"]:
            res["basedOn"] = [_ref("MedicationRequest", med["request_id"])]
        if med["reason"]:
            res["reasonReference"] = [_ref("Condition", med["reason"])]
        if med["status"] == "stopped":
            res["statusReason"] = [
                {"text": self.rng.choice(("Side effects", "Ineffective", "Switched therapy"))}
            ]
        return res

    def communications(
        self, m: _Member, pat: dict[str, str], visits: list[_Visit], notify: _Member
    ) -> Iterator[Resource]:
        rng = self.rng
        to = _ref("Patient", notify.id, f"{notify.given} {notify.family}")
        clinic = _ref("Organization", self.org, self.org_name)
        entries: list[tuple[dt.datetime, str, str, str, str, _Visit | None]] = []
        for v in visits:
            if v.status in (
                "booked",
                "pending",
                "fulfilled",
                "noshow",
                "arrived",
                "checked-in",
            ) and self.chance(0.6):
                sent = v.start - dt.timedelta(days=rng.choice((1, 2, 3)), hours=rng.randrange(0, 5))
                if sent < self.now:
                    mode = (
                        "text" if notify.mobile and self.chance(0.7) else "email" if notify.email else "phone"
                    )
                    entries.append(
                        (
                            sent,
                            "outbound",
                            mode,
                            "reminder",
                            f"Reminder: {m.given} has an appointment on {v.start:%b %d} at {v.start:%H:%M}. "
                            "Reply C to confirm.",
                            v,
                        )
                    )
            if v.status == "noshow":
                entries.append(
                    (
                        v.start + dt.timedelta(hours=2),
                        "outbound",
                        "phone",
                        "notification",
                        "Called about the missed appointment; left voicemail to reschedule.",
                        v,
                    )
                )
            if v.status == "cancelled" and v.start - dt.timedelta(days=1) < self.now and self.chance(0.5):
                entries.append(
                    (
                        min(self.now, v.start) - dt.timedelta(days=1),
                        "inbound",
                        rng.choice(("phone", "text")),
                        "notification",
                        "Patient asked to cancel the appointment.",
                        v,
                    )
                )
        if visits and self.chance(0.25):
            t = self.last_moment(m) - dt.timedelta(days=rng.randrange(2, 300), hours=rng.randrange(0, 8))
            entries.append(
                (
                    t,
                    "inbound",
                    rng.choice(("phone", "email", "in_person")),
                    "notification",
                    rng.choice(
                        (
                            "Question about the latest bill.",
                            "Requested a copy of visit records.",
                            "Asked for a prescription refill.",
                            "Updated insurance information.",
                        )
                    ),
                    None,
                )
            )
        if m.age >= 50 and self.chance(0.08):
            t = self.last_moment(m) - dt.timedelta(days=rng.randrange(2, 300))
            entries.append(
                (t, "outbound", "mail", "notification", "Mailed annual wellness visit recall letter.", None)
            )
        entries.sort(key=lambda e: e[0])
        for sent, direction, mode, category, text, about in entries:
            code, display = MODES[mode]
            res: Resource = {
                "resourceType": "Communication",
                "id": self.id("com"),
                "status": "completed",
                "category": [_cc(COMM_CATEGORY, category, category.capitalize())],
                "medium": [_cc(V3_MODE, code, display)],
                "subject": pat,
                "sent": _instant(sent),
                "sender": clinic if direction == "outbound" else to,
                "recipient": [to if direction == "outbound" else clinic],
                "payload": [{"contentString": text}],
                "extension": [
                    {
                        "url": EXT["communication-direction"],
                        "valueCoding": {
                            "system": CS["communication-direction"],
                            "code": direction,
                            "display": direction.capitalize(),
                        },
                    }
                ],
            }
            if about is not None:
                res["about"] = [_ref("Appointment", about.appt_id)]
            yield res


def _interpret(key: str, value: float, adult: bool) -> str | None:
    """Abnormal flag (v3 ObservationInterpretation) for one vital sign; critical = procedure blocking."""
    if key == "oxygen_saturation":
        return "LL" if value < 94 else "L" if value < 96 else None
    if key == "temperature_f":
        return (
            "HH"
            if value >= 103
            else "H"
            if value >= 100.4
            else "LL"
            if value < 95
            else "L"
            if value < 96.5
            else None
        )
    if not adult:
        return None
    limits = {  # (critical low, low, high, critical high): flag when < low / > high
        "bp_systolic": (70, 90, 140, 180),
        "bp_diastolic": (40, 60, 90, 120),
        "pulse": (40, 50, 100, 130),
        "respiration_rate": (8, 12, 20, 30),
        "bmi": (0, 18.5, 30, 1000),
    }.get(key)
    if not limits:
        return None
    ll, lo, hi, hh = limits
    return "HH" if value > hh else "H" if value > hi else "LL" if value < ll else "L" if value < lo else None


# ----------------------------------------------------------------------------------------------------------
# Loading


async def load_demo(
    store: Any,
    principal: Any,
    patients: int,
    *,
    seed: int = 7,
    anchor: dt.date | None = None,
    batch_size: int = 1000,
    progress: Callable[[int, int], Any] | None = None,
) -> dict[str, int]:
    """Stream the demo clinic into ``store.bulk_load(principal, batch)`` in batches; return counts per type.

    ``progress(patients_done, patients)`` is called after each batch (it may be a coroutine function).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    counts: Counter[str] = Counter()
    batch: list[Resource] = []

    async def flush(full: list[Resource]) -> None:
        await store.bulk_load(principal, full)  # a fresh list per call: the store may keep it
        if progress is not None:
            result = progress(counts["Patient"], patients)
            if inspect.isawaitable(result):
                await result

    for res in generate_clinic(patients, seed=seed, anchor=anchor):
        counts[res["resourceType"]] += 1
        batch.append(res)
        if len(batch) >= batch_size:
            await flush(batch)
            batch = []
    if batch:
        await flush(batch)
    return dict(counts)
