"""The demo clinic's vocabulary: code systems, names and places, and the clinical tables it draws from (real
codes; RxNorm / SNOMED displays as the terminologies spell them)."""

from __future__ import annotations

import datetime as dt

from store.naming import OMB_RACE as OMB
from store.naming import RXNORM, SNOMED, US_CORE_ETHNICITY, US_CORE_RACE, V3_MARITAL

# Shared with the other doors (store/naming.py), re-exported for the demo writers.
__all__ = ["OMB", "US_CORE_ETHNICITY", "US_CORE_RACE", "V3_MARITAL"]

# Standard systems used here and not (yet) in store.naming.
UCUM = "http://unitsofmeasure.org"
BCP47 = "urn:ietf:bcp:47"
NPI = "http://hl7.org/fhir/sid/us-npi"
V3_ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
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
US_CORE_BIRTHSEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"


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
# ICD-10-CM code of each condition above and below, by SNOMED CT code (the demo's disease definitions carry both).
ICD10 = {
    "59621000": "I10", "44054006": "E11.9", "15777000": "R73.03", "55822004": "E78.5", "40930008": "E03.9",
    "35489007": "F32.A", "197480006": "F41.9", "195967001": "J45.909", "61582004": "J30.9", "53741008": "I25.10",
    "239873007": "M17.9", "235595009": "K21.9", "37796009": "G43.909", "73430006": "G47.30",
    "444814009": "J01.90", "10509002": "J20.9", "43878008": "J02.0", "65363002": "H66.90", "195662009": "J02.9",
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
COMMUNICATION_TYPES = (  # (code, name): the org communication types; the demo's entries use the first two
    ("reminder", "Reminder"),
    ("notification", "Notification"),
    ("billing", "Billing"),
    ("recall", "Recall"),
)
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
