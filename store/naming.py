"""URLs and code systems for what FHIR R4 does not define (shared/DESIGN.md, "Naming").

Every door (FHIR REST, qapi, GraphQL) and the demo data read and write these same names, so what one door
writes the others see. How a seed concept lands on FHIR:

Patient
  lifecycle status        extension EXT["patient-status"] valueCode active|inactive|prospective|deceased|archived
                          (Patient.active is false for inactive/archived; deceased sets deceasedBoolean/DateTime)
  preferred name          name[use=nickname]; legal name name[use=official]
  chart number, MRN, SSN  identifier SID["chart-number"], SID["mrn"], SSN_SYSTEM; qapi id SID["spid"]
  primary/secondary prov. generalPractitioner[0] / [1] (Practitioner refs)
  location                extension EXT["patient-location"] valueReference Location
  pronouns, premedication, urgent note, allergy review status, contact preferences, consent flags,
  date of first visit, balance  extensions EXT[...] (see names below)
  tags                    meta.tag with system CS["patient-tag"]
  aging balances, estimated balance, insurance estimate, payment plan due
                          extensions valueDecimal beside balance-total (R4 Account has no balance element)
  billing cycle day, arrive-early minutes  valueInteger; salutation, address/appointment-module/treatment
                          notes, free-text medical summary valueString; deleted-at valueDateTime (archive time)
  billing type, fee schedule  extension valueReference Basic; employer valueReference Organization
  seed genders            gender male|female|other|unknown; non_binary → other, prefer_not_to_say → unknown,
                          the seed's word kept in EXT["gender-detail"] valueCode
  responsible party       the guarantor of the patient's Account (see Family)
  billing account (create) createPatient billingAccount: OWN = an Account of its own (guarantor = the patient,
                          name as given), JOIN = the Account guaranteed by guarantorId (as responsible party)
  smoking status          Observation social-history 72166-2, valueCodeableConcept SNOMED
Family      Account(subject=[patients], guarantor[0].party=Patient/RelatedPerson) — same guarantor = same family
Relations   RelatedPerson(patient=P, EXT["related-patient"]=Patient/Q, relationship=v3 RoleCode,
            EXT["is-guardian"]=true when Q is the legal guardian of P). Seed 003's directed relationship
            "from Q to P" (Q is P's <type>; is_guardian: Q is P's guardian) is this one resource: the source
            Q is the related person, the target P its patient; EXT["relationship-note"] valueString its note
Archived    chart records (allergies, problems, medications, vitals, relationships) are soft-deleted with
            EXT["archived-at"] valueDateTime (the seed's deleted_at; RelatedPerson also gets active=false):
            kept and visible through FHIR REST, left out of every GraphQL list
Vitals      Observation category vital-signs, code LOINC 85353-1 (panel) with components; interpretation H/L/HH/LL
Alerts      Flag(subject=P, EXT["alert-scope"] patient|family, EXT["alert-urgent"] boolean)
Catalogs    Basic(code CS["catalog"] alert-definition|tag-definition|field-definition, created, EXT["catalog-name"],
            EXT["catalog-description"|"catalog-category"|"catalog-order"|"archived-at"], for alert
            definitions EXT["alert-default-scope"|"alert-default-urgent"], for tags EXT["catalog-color"], for
            custom fields EXT["field-type"|"field-option" (one per option)|"field-required"]); the clinical
            catalogs allergy-definition|medication-definition|disease-definition|communication-type keep their
            codes as EXT["definition-code"] valueCoding (allergen: SNOMED CT or the system given; medication:
            RxNorm; disease: SNOMED CT and ICD-10-CM; communication type: communication-category or
            CS["communication-type"]), allergy definitions EXT["allergy-category"] valueCode
Def. link   a chart record recorded from a clinical definition copies its codings and name into its own
            code (AllergyIntolerance.code, MedicationStatement.medicationCodeableConcept, Condition.code,
            Communication.category) and refers to it by EXT["allergy-definition"|"medication-definition"|
            "disease-definition"|"communication-type"] valueReference Basic/<id> (display: its name)
Alert link  Flag EXT["alert-definition"] valueReference Basic/<id>; Flag.code coding CS["alert-type"] code = that id,
            display and text = the definition's name; EXT["alert-note"], EXT["alert-disabled-at"],
            EXT["alert-created-by"] valueReference (who created it, as EXT["communication-recorder"]);
            archived (dismissed): status inactive + EXT["archived-at"]
Tag link    Patient meta.tag system CS["patient-tag"], code = the tag definition's id, display = its name
Field value Patient EXT["custom-field"] (complex): "definition" valueReference Basic/<id>, "value" value[x]
            (valueString|valueDecimal|valueDate|valueBoolean by field type), "updated" valueDateTime
Referral    Basic(code CS["catalog"] referral-attribution, subject Patient, author = the source, created,
            EXT["attribution-role"|"attribution-source-kind"|"attribution-note"|"archived-at"])
Episodes    EpisodeOfCare(EXT["episode-name"], type, period, status, EXT["episode-objective"],
            EXT["episode-reason-incomplete"]); an Appointment joins one by EXT["episode-of-care"] valueReference

Value types and codes (as app/demo.py writes them; the other doors read the same):
  Patient extensions      pronouns valueCode he_him|she_her|they_them|other|not_specified;
                          premedication-required, receives-email, receives-sms valueBoolean;
                          medical-urgent-note valueString; allergy-review-status valueCode
                          not_reviewed|nkda|reviewed; preferred-contact-method, preferred-confirmation-method
                          valueCode email|mail|none|phone|text; consent-flags valueInteger bitmask (1 HIPAA
                          notice, 2 consent to treat, 4 financial policy, 8 telehealth); date-first-visit
                          valueDate; balance-total valueDecimal
  Patient identifiers     also SID["account-number"] = the household Account's number; SPID and SAID are
                          per-tenant integer sequences written as strings ("1", "2", ...)
  Account                 identifier SID["account-number"] ("A-000123"), name "<surname> household", owner =
                          clinic
  RelatedPerson           relationship MTH|FTH|PRN (Q is P's parent), CHILD, SPS, SIB; a grandparent raising P
                          is GRPRN + GUARD (inverse GRNDCHILD); EXT["is-guardian"] is always present
                          (true|false)
  Shared-email family     Group(type person, actual true, code.text "family", member.entity = Patients); the qapi's
                          groups (groupType, groupName) also carry identifier SID["email-group"] "<type>|<name>"
  Waiting room            HealthcareService(name "<X> waiting room", category.text = service line, type.text =
                          service type, location, availableTime, EXT["slot-duration"] valueDuration (UCUM
                          min))
  Schedule / Slot         one Schedule per (waiting room, practitioner): actor [HealthcareService,
                          Practitioner]. Appointments that hold time (booked, arrived, checked-in, fulfilled,
                          noshow) reference a Slot with status busy; pending -> busy-tentative; others hold no
                          Slot
  Appointment             identifier SID["said"] (+ SID["external-id"]); participants Patient, Practitioner
                          (type PPRF), Location, HealthcareService (the waiting room);
                          EXT["appointment-workflow-status"] valueCode = the qapi status verbatim
                          ("scheduled", "arrived", "in progress.intake.ready", ..., "completed", "sign off",
                          "cancelled", "not showed up")
  Encounter               class v3-ActCode AMB or VR (video); appointment, episodeOfCare; status finished for
                          a fulfilled appointment, arrived for arrived, in-progress for checked-in
  SOAP note               DocumentReference(type LOINC 11506-3 or 34109-9, category us-core clinical-note,
                          context.encounter, content text/plain base64); signed = docStatus final +
                          authenticator, unsigned draft = docStatus preliminary without authenticator
  Surveys, social history Observation category survey: PHQ9 / GAD7 valueInteger; category social-history, one
                          per category: 72166-2 tobacco (SNOMED value), 74013-4 alcohol ({drinks}/d), 11341-5
                          occupation
  Vital flags             component interpretation (V3_INTERPRETATION) on abnormal components only.
                          Adults: BP > 140/90 H, > 180/120 HH, < 90/60 L, < 70/40 LL; pulse > 100 H, > 130 HH,
                          < 50 L, < 40 LL; resp > 20 H, > 30 HH, < 12 L, < 8 LL; BMI > 30 H, < 18.5 L.
                          All ages: temp >= 100.4 F H, >= 103 HH, < 96.5 L, < 95 LL; SpO2 < 96 L, < 94 LL.
                          HH/LL = critical ("procedure blocking", derived, not stored)
  Alerts                  Flag.category flag-category; Flag.code coding CS["alert-type"] + text; status
                          active|inactive
  Episodes                EpisodeOfCare.type coding CS["episode-type"]; name/objective/reason-incomplete
                          valueString
  Communication log       status completed; medium v3-ParticipationMode (PHONE, EMAILWRIT, SMSWRIT, MAILWRIT,
                          FACE, FAXWRIT); category communication-category; EXT["communication-direction"]
                          valueCoding CS["communication-direction"] inbound|outbound; about = the Appointment
                          it concerns; EXT["communication-source"] valueCode user|automated|integration (when
                          absent: sender Device or category reminder → automated, meta.source set →
                          integration, else user); EXT["communication-recorder"] valueReference who logged
                          it (the caller's fhirUser when known, display its subject)
  Allergies               severity without a reaction: EXT["allergy-severity"] valueCode mild|moderate|severe
                          (FHIR keeps severity on a reaction, which needs a manifestation)
  Problems                EXT["problem-function-status"] valueCode problem|cognitive_result|...
  Vitals                  EXT["vitals-followup-plan"] valueBoolean (an abnormal-vitals follow-up plan exists);
                          EXT["vitals-recorder"] valueReference who recorded it (as EXT["communication-recorder"])
  Medications             MedicationStatement status active|completed|stopped (basedOn the MedicationRequest
                          when prescribed here); MedicationRequest intent order, status
                          active|completed|stopped|on-hold; dosage[0] text (dosage), timing.code.text
                          (frequency), route.text; note[0] the patient note; statusReason[0].text the
                          discontinuation reason; EXT["medication-cpoe"] valueBoolean entered through CPOE.
                          A CPOE entry (GraphQL isCpoe) is written with its order in one transaction: a
                          MedicationRequest (intent order) the MedicationStatement is basedOn, whose status
                          (and statusReason) follows the statement's
"""

from __future__ import annotations

BASE = "https://fhirgraph.dev/fhir"


def ext(name: str) -> str:
    return f"{BASE}/StructureDefinition/{name}"


def cs(name: str) -> str:
    return f"{BASE}/CodeSystem/{name}"


def sid(name: str) -> str:
    return f"{BASE}/sid/{name}"


EXT = {
    name: ext(name)
    for name in (
        "patient-status",
        "patient-location",
        "pronouns",
        "premedication-required",
        "medical-urgent-note",
        "allergy-review-status",
        "preferred-contact-method",
        "preferred-confirmation-method",
        "receives-email",
        "receives-sms",
        "consent-flags",
        "date-first-visit",
        "balance-total",
        # seed 003 patient record, billing side (read-only here: written by billing) and registration notes
        "balance-0-30",
        "balance-31-60",
        "balance-61-90",
        "balance-over-90",
        "estimated-balance",
        "insurance-estimate",
        "payment-plan-due",
        "billing-cycle-day",
        "billing-type",
        "fee-schedule",
        "employer",
        "salutation",
        "address-note",
        "appointment-module-note",
        "treatment-notes",
        "arrive-early-minutes",
        "medical-summary",
        "gender-detail",
        "deleted-at",
        "custom-field",
        "related-patient",
        "is-guardian",
        "alert-scope",
        "alert-urgent",
        "alert-definition",
        "alert-note",
        "alert-disabled-at",
        "catalog-name",
        "catalog-description",
        "catalog-category",
        "catalog-order",
        "catalog-color",
        "alert-default-scope",
        "alert-default-urgent",
        "field-type",
        "field-option",
        "field-required",
        "definition-code",
        "allergy-category",
        "allergy-definition",
        "medication-definition",
        "disease-definition",
        "communication-type",
        "attribution-role",
        "attribution-source-kind",
        "attribution-note",
        "episode-name",
        "episode-objective",
        "episode-reason-incomplete",
        "episode-of-care",
        "appointment-workflow-status",
        "webhook-secret",
        "procedure-blocking",
        "created",
        "slot-duration",
        "communication-direction",
        "communication-source",
        "communication-recorder",
        "alert-created-by",
        "archived-at",
        "allergy-severity",
        "relationship-note",
        "problem-function-status",
        "vitals-followup-plan",
        "vitals-recorder",
        "vitals-weight-code",
        "medication-cpoe",
        "name-alias",
        "address-apartment",
        "assistance-bed",
        "attachment-deleted",
        "appointment",
        "visit-note-template",
    )
}
SID = {name: sid(name) for name in ("mrn", "chart-number", "spid", "said", "hsid", "account-number", "external-id",
                                    "email-group", "device-serial", "geolocation")}
CS = {name: cs(name) for name in ("patient-tag", "alert-type", "episode-type", "communication-direction",
                                  "communication-type",
                                  "group-kind", "assistance-request",
                                  # Basic.code of the org catalogs and of referral attributions
                                  "catalog")}

SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V3_ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
V3_MODE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"
COMM_CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
BCP47 = "urn:ietf:bcp:47"
# Patient.maritalStatus: v3 MaritalStatus codes and the words the seeds use for them (GraphQL, qapi); "other",
# which v3 MaritalStatus lacks, is v3 NullFlavor OTH (the value set's binding is extensible). Any other code read
# (A, C, I, P, U, NullFlavor UNK …) is "other".
V3_MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
V3_NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
MARITAL = {"D": "divorced", "M": "married", "S": "single", "W": "widowed", "L": "separated", "T": "domestic_partner"}
MARITAL_CODE = {v: k for k, v in MARITAL.items()} | {"other": "OTH"}


def marital_status(word: str) -> dict[str, object]:
    """Patient.maritalStatus for one of the seeds' words (a key of ``MARITAL_CODE``)."""
    code = MARITAL_CODE[word]
    return {"coding": [{"system": V3_NULL_FLAVOR if code == "OTH" else V3_MARITAL, "code": code}], "text": word}
# US Core race and ethnicity (complex extensions: ombCategory codings of OMB_RACE and a required text).
US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
US_CORE_ETHNICITY = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
OMB_RACE = "urn:oid:2.16.840.1.113883.6.238"
OMB_CATEGORIES = {  # display -> code, for both extensions
    "American Indian or Alaska Native": "1002-5", "Asian": "2028-9", "Black or African American": "2054-5",
    "Native Hawaiian or Other Pacific Islander": "2076-8", "White": "2106-3",
    "Hispanic or Latino": "2135-2", "Not Hispanic or Latino": "2186-5",
}

VITALS_PANEL = "85353-1"
VITAL_CODES = {
    "bp_systolic": "8480-6",
    "bp_diastolic": "8462-4",
    "pulse": "8867-4",
    "temperature_f": "8310-5",
    "respiration_rate": "9279-1",
    "oxygen_saturation": "59408-5",
    "height_inches": "8302-2",
    "weight_lbs": "29463-7",
    "bmi": "39156-5",
    "bmi_percentile": "59576-9",
}
PHQ9 = "44249-1"
GAD7 = "69737-5"
