"""Builders for FHIR resources used in tests: ``make_patient(**overrides)``, not JSON pasted everywhere."""

from __future__ import annotations

from typing import Any

TAG_SYSTEM = "https://fhirgraph.dev/fhir/CodeSystem/test-run"


def tagged(resource: dict[str, Any], tag: str | None) -> dict[str, Any]:
    if tag:
        resource.setdefault("meta", {}).setdefault("tag", []).append({"system": TAG_SYSTEM, "code": tag})
    return resource


def make_patient(*, family: str = "Reyes", given: list[str] | None = None, tag: str | None = None,
                 **overrides: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": family, "given": given or ["Maria", "Elena"]}],
        "gender": "female",
        "birthDate": "1988-03-14",
        "telecom": [{"system": "phone", "value": "415-555-0101", "use": "mobile"},
                    {"system": "email", "value": "maria.reyes@example.com"}],
        "address": [{"use": "home", "line": ["342 Haight St"], "city": "San Francisco", "state": "CA",
                     "postalCode": "94103", "country": "US"}],
        "identifier": [{"system": "https://fhirgraph.dev/fhir/sid/mrn", "value": "MRN-1"}],
    }
    p.update(overrides)
    return tagged(p, tag)


def make_practitioner(*, family: str = "Chen", tag: str | None = None, **overrides: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"resourceType": "Practitioner", "active": True,
                         "name": [{"family": family, "given": ["Wei"], "prefix": ["Dr."]}]}
    p.update(overrides)
    return tagged(p, tag)


def make_appointment(patient_id: str, *, practitioner_id: str | None = None, start: str = "2026-12-01T09:00:00Z",
                     end: str = "2026-12-01T09:30:00Z", status: str = "booked", tag: str | None = None,
                     **overrides: Any) -> dict[str, Any]:
    participants = [{"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}]
    if practitioner_id:
        participants.append({"actor": {"reference": f"Practitioner/{practitioner_id}"}, "status": "accepted"})
    a: dict[str, Any] = {"resourceType": "Appointment", "status": status, "start": start, "end": end,
                         "participant": participants,
                         "serviceType": [{"coding": [{"system": "http://snomed.info/sct", "code": "11429006",
                                                      "display": "Consultation"}]}]}
    a.update(overrides)
    return tagged(a, tag)


def make_observation(patient_id: str, *, code: str = "44249-1", value: int = 12, date: str = "2026-04-13T08:30:00Z",
                     category: str = "survey", tag: str | None = None, **overrides: Any) -> dict[str, Any]:
    o: dict[str, Any] = {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": category}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": date,
        "valueInteger": value,
    }
    o.update(overrides)
    return tagged(o, tag)


def make_allergy(patient_id: str, *, tag: str | None = None, **overrides: Any) -> dict[str, Any]:
    a: dict[str, Any] = {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                       "code": "active"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "764146007", "display": "Penicillin"}]},
        "patient": {"reference": f"Patient/{patient_id}"},
    }
    a.update(overrides)
    return tagged(a, tag)


def make_audit_event(patient_id: str, *, tag: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A read of ``patient_id``'s record, as an imported audit trail entry (``system/AuditEvent.c``) would say it."""
    e: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "action": "R",
        "recorded": "2026-04-13T08:30:00Z",
        "outcome": "0",
        "agent": [{"requestor": True, "who": {"display": "imported"}}],
        "source": {"observer": {"display": "another system"}},
        "entity": [{"what": {"reference": f"Patient/{patient_id}"}}],
    }
    e.update(overrides)
    return tagged(e, tag)
