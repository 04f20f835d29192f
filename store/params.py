"""The resource types this server supports and their search parameters: one table, one source of truth.

``PARAMS`` feeds search-key extraction on write (store/keys.py), the indexes made at start-up
(store/indexes.py), FHIR search (store/search.py) and the CapabilityStatement (fhir_rest/capability.py). To add a
search parameter, add a ``_p(...)`` line for its resource type: the key is extracted on every later write,
indexed at the next start-up, accepted by search and listed in ``/metadata``. Existing documents get it on their
next write (or by ``fhirgraph reindex``). To add a resource type, add an entry (possibly with no parameters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from store.errors import Invalid, NotFound
from store.naming import EXT, SID
from store.validation import is_resource_type


@dataclass(frozen=True)
class P:
    """One search parameter: its FHIR type and the element paths it indexes (``a.b`` walks lists)."""

    name: str
    type: str  # string | token | reference | date | number
    paths: tuple[str, ...]
    sortable: bool = False
    targets: tuple[str, ...] = ()  # reference targets, for bare-id searches and _include
    doc: str = ""


def _p(name: str, type_: str, *paths: str, sortable: bool = False, targets: tuple[str, ...] = ()) -> P:
    return P(name, type_, tuple(paths), sortable, targets)


# Parameters every resource type has (FHIR R4 §3.1.1.5 "Parameters for all resources").
COMMON = (
    _p("_id", "token", "id", sortable=True),
    _p("_lastUpdated", "date", "meta.lastUpdated", sortable=True),
    _p("_tag", "token", "meta.tag"),
    _p("_profile", "token", "meta.profile"),
    _p("_security", "token", "meta.security"),
)

PAT = ("Patient",)

PARAMS: dict[str, tuple[P, ...]] = {
    "Patient": (
        _p("identifier", "token", "identifier"),
        _p("name", "string", "name", sortable=True),
        _p("family", "string", "name[official].family", "name.family", sortable=True),
        _p("given", "string", "name[official].given", "name.given", sortable=True),
        _p("birthdate", "date", "birthDate", sortable=True),
        _p("gender", "token", "gender", sortable=True),
        _p("phone", "token", "telecom[phone]"),
        _p("email", "token", "telecom[email]"),
        _p("telecom", "token", "telecom"),
        _p("address", "string", "address"),
        _p("address-postalcode", "string", "address.postalCode"),
        _p("address-city", "string", "address.city"),
        _p("general-practitioner", "reference", "generalPractitioner",
           targets=("Practitioner", "Organization", "PractitionerRole")),
        _p("active", "token", "active"),
        _p("deceased", "token", "deceasedBoolean", "deceasedDateTime"),
        _p("organization", "reference", "managingOrganization", targets=("Organization",)),
        # fhirgraph parameters (seed 003): lifecycle status, chart number, location, preferred name,
        # free text over names/phones/emails/chart number/birth date.
        _p("lifecycle-status", "token", f"extension[{EXT['patient-status']}].valueCode", sortable=True),
        _p("chart-number", "token", f"identifier[{SID['chart-number']}].value", sortable=True),
        _p("location", "reference", f"extension[{EXT['patient-location']}].valueReference",
           targets=("Location",)),
        _p("preferred-name", "string", "name[nickname]"),
        _p("date-first-visit", "date", f"extension[{EXT['date-first-visit']}].valueDate"),
        _p("_content", "string", "name", "telecom.value", f"identifier[{SID['chart-number']}].value",
           "birthDate"),
        _p("_created", "date", f"meta.extension[{EXT['created']}].valueInstant", sortable=True),
    ),
    "Appointment": (
        _p("date", "date", "start", sortable=True),
        _p("patient", "reference", "participant.actor[Patient]", targets=PAT),
        _p("actor", "reference", "participant.actor",
           targets=("Patient", "Practitioner", "PractitionerRole", "Location", "HealthcareService",
                    "RelatedPerson", "Device")),
        _p("practitioner", "reference", "participant.actor[Practitioner]", targets=("Practitioner",)),
        _p("location", "reference", "participant.actor[Location]", targets=("Location",)),
        _p("status", "token", "status", sortable=True),
        _p("service-type", "token", "serviceType"),
        _p("slot", "reference", "slot", targets=("Slot",)),
        _p("identifier", "token", "identifier"),
        _p("episode-of-care", "reference", f"extension[{EXT['episode-of-care']}].valueReference",
           targets=("EpisodeOfCare",)),
    ),
    "Encounter": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group")),
        _p("date", "date", "period", sortable=True),
        _p("status", "token", "status"),
        _p("class", "token", "class"),
        _p("episode-of-care", "reference", "episodeOfCare", targets=("EpisodeOfCare",)),
        _p("appointment", "reference", "appointment", targets=("Appointment",)),
        _p("participant", "reference", "participant.individual",
           targets=("Practitioner", "PractitionerRole", "RelatedPerson")),
        _p("identifier", "token", "identifier"),
    ),
    "Observation": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group", "Device", "Location")),
        _p("code", "token", "code"),
        _p("category", "token", "category"),
        _p("date", "date", "effectiveDateTime", "effectivePeriod", "effectiveInstant", sortable=True),
        _p("encounter", "reference", "encounter", targets=("Encounter",)),
        _p("status", "token", "status"),
        _p("component-code", "token", "component.code"),
    ),
    # https://hl7.org/fhir/R4/diagnosticreport.html#search (US Core's DiagnosticReport profiles search these)
    "DiagnosticReport": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group", "Device", "Location")),
        _p("code", "token", "code"),
        _p("category", "token", "category"),
        _p("date", "date", "effectiveDateTime", "effectivePeriod", sortable=True),
        _p("issued", "date", "issued", sortable=True),
        _p("encounter", "reference", "encounter", targets=("Encounter",)),
        _p("status", "token", "status"),
        _p("identifier", "token", "identifier"),
        _p("result", "reference", "result", targets=("Observation",)),
        _p("based-on", "reference", "basedOn", targets=("ServiceRequest", "MedicationRequest")),
        _p("performer", "reference", "performer", targets=("Practitioner", "PractitionerRole", "Organization")),
        _p("conclusion", "token", "conclusionCode"),
    ),
    # https://hl7.org/fhir/R4/molecularsequence.html#search
    "MolecularSequence": (
        _p("patient", "reference", "patient", targets=PAT),
        _p("identifier", "token", "identifier"),
        _p("type", "token", "type"),
        _p("referenceseqid", "token", "referenceSeq.referenceSeqId"),
    ),
    "DocumentReference": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group", "Practitioner", "Device")),
        _p("encounter", "reference", "context.encounter", targets=("Encounter", "EpisodeOfCare")),
        _p("date", "date", "date", sortable=True),
        _p("status", "token", "status"),
        _p("type", "token", "type"),
        _p("category", "token", "category"),
        _p("author", "reference", "author", targets=("Practitioner", "Organization", "PractitionerRole")),
        _p("related", "reference", "context.related", targets=("Appointment", "Encounter", "ServiceRequest")),
    ),
    "MedicationRequest": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group")),
        _p("status", "token", "status"),
        _p("intent", "token", "intent"),
        _p("authoredon", "date", "authoredOn", sortable=True),
        _p("code", "token", "medicationCodeableConcept"),
        _p("requester", "reference", "requester", targets=("Practitioner", "PractitionerRole", "Organization")),
    ),
    "MedicationStatement": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group")),
        _p("status", "token", "status"),
        _p("code", "token", "medicationCodeableConcept"),
        _p("effective", "date", "effectiveDateTime", "effectivePeriod", sortable=True),
    ),
    "AllergyIntolerance": (
        _p("patient", "reference", "patient", targets=PAT),
        _p("clinical-status", "token", "clinicalStatus"),
        _p("verification-status", "token", "verificationStatus"),
        _p("code", "token", "code"),
        _p("date", "date", "recordedDate", sortable=True),
    ),
    "Condition": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group")),
        _p("clinical-status", "token", "clinicalStatus"),
        _p("verification-status", "token", "verificationStatus"),
        _p("code", "token", "code"),
        _p("category", "token", "category"),
        _p("onset-date", "date", "onsetDateTime", "onsetPeriod", sortable=True),
    ),
    "Flag": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Location", "Group", "Organization",
                                                        "Practitioner")),
        _p("status", "token", "status"),
        _p("date", "date", "period", sortable=True),
    ),
    "EpisodeOfCare": (
        _p("patient", "reference", "patient", targets=PAT),
        _p("status", "token", "status"),
        _p("type", "token", "type"),
        _p("date", "date", "period", sortable=True),
        _p("organization", "reference", "managingOrganization", targets=("Organization",)),
        _p("care-manager", "reference", "careManager", targets=("Practitioner",)),
    ),
    "RelatedPerson": (
        _p("patient", "reference", "patient", targets=PAT),
        _p("related-patient", "reference", f"extension[{EXT['related-patient']}].valueReference", targets=PAT),
        _p("relationship", "token", "relationship"),
        _p("active", "token", "active"),
        _p("name", "string", "name"),
    ),
    "Account": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Device", "Practitioner", "Location",
                                                        "HealthcareService", "Organization")),
        _p("guarantor", "reference", "guarantor.party", targets=("Patient", "RelatedPerson", "Organization")),
        _p("status", "token", "status"),
        _p("identifier", "token", "identifier"),
    ),
    "Practitioner": (
        _p("identifier", "token", "identifier"),
        _p("name", "string", "name", sortable=True),
        _p("family", "string", "name.family", sortable=True),
        _p("given", "string", "name.given"),
        _p("active", "token", "active"),
        _p("email", "token", "telecom[email]"),
    ),
    "PractitionerRole": (
        _p("practitioner", "reference", "practitioner", targets=("Practitioner",)),
        _p("organization", "reference", "organization", targets=("Organization",)),
        _p("location", "reference", "location", targets=("Location",)),
        _p("role", "token", "code"),
        _p("specialty", "token", "specialty"),
    ),
    "Organization": (
        _p("name", "string", "name", "alias", sortable=True),
        _p("identifier", "token", "identifier"),
        _p("active", "token", "active"),
    ),
    "Location": (
        _p("name", "string", "name", "alias", sortable=True),
        _p("identifier", "token", "identifier"),
        _p("organization", "reference", "managingOrganization", targets=("Organization",)),
        _p("status", "token", "status"),
        _p("partof", "reference", "partOf", targets=("Location",)),
        _p("type", "token", "type"),
    ),
    "HealthcareService": (
        _p("name", "string", "name", sortable=True),
        _p("location", "reference", "location", targets=("Location",)),
        _p("organization", "reference", "providedBy", targets=("Organization",)),
        _p("active", "token", "active"),
    ),
    "Schedule": (
        _p("actor", "reference", "actor", targets=("Practitioner", "Location", "HealthcareService",
                                                   "PractitionerRole")),
        _p("active", "token", "active"),
        _p("date", "date", "planningHorizon", sortable=True),
    ),
    "Slot": (
        _p("schedule", "reference", "schedule", targets=("Schedule",)),
        _p("status", "token", "status"),
        _p("start", "date", "start", sortable=True),
        _p("service-type", "token", "serviceType"),
    ),
    "QuestionnaireResponse": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=PAT),
        _p("encounter", "reference", "encounter", targets=("Encounter",)),
        _p("status", "token", "status"),
        _p("authored", "date", "authored", sortable=True),
        # fhirgraph: the appointment a qapi visit note is of (seed 002)
        _p("appointment", "reference", f"extension[{EXT['appointment']}].valueReference", targets=("Appointment",)),
    ),
    "Communication": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group")),
        _p("sent", "date", "sent", sortable=True),
        _p("status", "token", "status"),
        _p("medium", "token", "medium"),
        _p("category", "token", "category"),
    ),
    "Group": (
        _p("type", "token", "type"),
        _p("member", "reference", "member.entity", targets=("Patient", "Practitioner", "Group")),
        _p("identifier", "token", "identifier"),
        _p("managing-entity", "reference", "managingEntity",
           targets=("Practitioner", "Organization", "PractitionerRole", "RelatedPerson")),
    ),
    "Basic": (
        _p("code", "token", "code"),
        _p("subject", "reference", "subject", targets=()),
        _p("created", "date", "created", sortable=True),
    ),
    "ServiceRequest": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group", "Location", "Device")),
        _p("status", "token", "status"),
        _p("intent", "token", "intent"),
        _p("authored", "date", "authoredOn", sortable=True),
        _p("performer", "reference", "performer", targets=("Device", "Practitioner", "Organization")),
        _p("code", "token", "code"),
    ),
    "Device": (
        _p("identifier", "token", "identifier"),
        _p("patient", "reference", "patient", targets=PAT),
        _p("status", "token", "status"),
        _p("location", "reference", "location", targets=("Location",)),
    ),
    "Claim": (
        _p("patient", "reference", "patient", targets=PAT),
        _p("status", "token", "status"),
        _p("created", "date", "created", sortable=True),
    ),
    "PaymentNotice": (
        _p("status", "token", "status"),
        _p("created", "date", "created", sortable=True),
        _p("request", "reference", "request", targets=()),
    ),
    "Subscription": (
        _p("status", "token", "status"),
        _p("criteria", "string", "criteria"),
        _p("url", "token", "channel.endpoint"),
        _p("type", "token", "channel.type"),
    ),
    "Provenance": (
        _p("target", "reference", "target", targets=()),
        _p("patient", "reference", "target[Patient]", targets=PAT),
        _p("agent", "reference", "agent.who", targets=("Practitioner", "Organization", "Patient", "Device")),
        _p("recorded", "date", "recorded", sortable=True),
    ),
    "AuditEvent": (
        _p("date", "date", "recorded", sortable=True),
        _p("agent", "reference", "agent.who", targets=()),
        _p("agent-name", "string", "agent.name"),
        _p("altid", "token", "agent.altId"),
        _p("entity", "reference", "entity.what", targets=()),
        # R4: agent.who or entity.what that is a Patient (a patient's own accesses name them as the agent)
        _p("patient", "reference", "entity.what", "agent.who[Patient]", targets=PAT),
        _p("type", "token", "type"),
        _p("subtype", "token", "subtype"),
        _p("action", "token", "action"),
        _p("outcome", "token", "outcome"),
    ),
    "Binary": (
        # fhirgraph: whose data the Binary is (Binary.securityContext, FHIR R4 §2.47): puts a patient's documents'
        # content ($docref's CCD) in that patient's compartment, so a patient-context token can download it.
        _p("security-context", "reference", "securityContext", targets=PAT),
    ),
}

# Types the server refuses to update or delete once written (append-only logs).
APPEND_ONLY = frozenset({"AuditEvent", "Communication", "Provenance"})
# What may be asked of a resource of those types once written: reading it (the ``Allow`` of their 405).
READ_ONLY = ("GET", "HEAD")

# Writes of these types are clinical: each gets a Provenance (seed 004, `_revinclude=Provenance:target`).
CLINICAL_TYPES = frozenset({
    "Patient", "AllergyIntolerance", "Condition", "Observation", "MedicationRequest", "MedicationStatement",
    "DocumentReference", "Encounter", "Flag", "EpisodeOfCare", "Appointment", "QuestionnaireResponse",
    "ServiceRequest", "Communication", "RelatedPerson", "Account",
})

SUPPORTED_TYPES: tuple[str, ...] = tuple(sorted(PARAMS))


def params_for(resource_type: str) -> dict[str, P]:
    """The search parameters of ``resource_type`` by name, the common ones included."""
    return {p.name: p for p in (*COMMON, *PARAMS.get(resource_type, ()))}


_PARAM_CACHE = {rt: params_for(rt) for rt in SUPPORTED_TYPES}


def param_table(resource_type: str) -> dict[str, P]:
    """``params_for``, computed once per supported type."""
    return _PARAM_CACHE.get(resource_type) or params_for(resource_type)


def check_type(rt: str) -> None:
    """``NotFound`` unless ``rt`` is a FHIR resource type this server serves."""
    if not is_resource_type(rt):
        raise NotFound(f"Unknown resource type '{rt[:64]}'")
    if rt not in PARAMS:
        raise NotFound(f"Resource type {rt} is not supported by this server")


def type_of(resource: Any) -> str:
    """The resource type of a body, which must be a JSON object of a type this server serves."""
    if not isinstance(resource, dict):
        raise Invalid("A FHIR resource must be a JSON object")
    rt = resource.get("resourceType")
    if not isinstance(rt, str):
        raise Invalid("Missing resourceType", paths=["resourceType"])
    check_type(rt)
    return rt
