"""The chart: medical summary (seed 003), family, and the per-patient lists, all computed from FHIR resources
written through the REST door."""

from __future__ import annotations

from typing import Any

from store.naming import (
    ALLERGY_CLINICAL,
    CONDITION_CLINICAL,
    CS,
    EXT,
    LOINC,
    OBS_CATEGORY,
    SNOMED,
    V3_INTERPRETATION,
    V3_ROLE,
    VITAL_CODES,
    VITALS_PANEL,
)
from tests.factories import make_allergy, make_patient
from tests.graph.conftest import GQL


def cc(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"system": system, "code": code}
    if display:
        c["display"] = display
    return {"coding": [c]}


def vitals(pid: str, when: str, values: dict[str, float], flags: dict[str, str]) -> dict[str, Any]:
    comps = []
    for key, value in values.items():
        comp: dict[str, Any] = {"code": cc(LOINC, VITAL_CODES[key]), "valueQuantity": {"value": value}}
        if key in flags:
            comp["interpretation"] = [cc(V3_INTERPRETATION, flags[key])]
        comps.append(comp)
    return {"resourceType": "Observation", "status": "final", "category": [cc(OBS_CATEGORY, "vital-signs")],
            "code": cc(LOINC, VITALS_PANEL), "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when,
            "component": comps}


def social(pid: str, code: str, when: str, value: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "category": [cc(OBS_CATEGORY, "social-history")],
            "code": cc(LOINC, code), "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when,
            "valueCodeableConcept": {"text": value}}


def flag(pid: str, name: str, scope: str, status: str = "active", urgent: bool = False) -> dict[str, Any]:
    return {"resourceType": "Flag", "status": status,
            "code": {"coding": [{"system": CS["alert-type"], "code": name.lower(), "display": name}], "text": name},
            "subject": {"reference": f"Patient/{pid}"}, "period": {"start": "2026-01-01T00:00:00Z"},
            "extension": [{"url": EXT["alert-scope"], "valueCode": scope},
                          {"url": EXT["alert-urgent"], "valueBoolean": urgent}]}


async def post(fhir_a, body: dict[str, Any]) -> str:
    r = await fhir_a.post(f"/{body['resourceType']}", json=body)
    assert r.status_code == 201, r.text
    rid: str = r.json()["id"]
    return rid


async def household(fhir_a, tag: str) -> dict[str, str]:
    parent = make_patient(family=f"Home{tag}", given=["Pat"], tag=tag)
    parent["extension"] = [{"url": EXT["premedication-required"], "valueBoolean": True},
                           {"url": EXT["medical-urgent-note"], "valueString": "On warfarin"},
                           {"url": EXT["allergy-review-status"], "valueCode": "reviewed"}]
    ids = {"parent": await post(fhir_a, parent),
           "child": await post(fhir_a, make_patient(family=f"Home{tag}", given=["Kim"], tag=tag)),
           "other": await post(fhir_a, make_patient(family=f"Else{tag}", given=["Out"], tag=tag))}
    await post(fhir_a, {"resourceType": "Account", "status": "active",
                        "subject": [{"reference": f"Patient/{ids['parent']}"},
                                    {"reference": f"Patient/{ids['child']}"}],
                        "guarantor": [{"party": {"reference": f"Patient/{ids['parent']}"}}]})
    await post(fhir_a, {"resourceType": "RelatedPerson", "active": True,
                        "patient": {"reference": f"Patient/{ids['child']}"},
                        "relationship": [cc(V3_ROLE, "MTH", "mother")],
                        "extension": [{"url": EXT["related-patient"],
                                       "valueReference": {"reference": f"Patient/{ids['parent']}"}},
                                      {"url": EXT["is-guardian"], "valueBoolean": True}]})
    return ids


async def test_medical_summary(gql: GQL, fhir_a, tag: str) -> None:
    ids = await household(fhir_a, tag)
    p = ids["parent"]
    await post(fhir_a, make_allergy(p, tag=tag, recordedDate="2025-01-01T00:00:00Z",
                                    reaction=[{"manifestation": [cc(SNOMED, "247472004", "Wheal")],
                                               "severity": "moderate"}]))
    inactive = make_allergy(p, tag=tag)
    inactive["clinicalStatus"] = cc(ALLERGY_CLINICAL, "inactive")
    await post(fhir_a, inactive)
    for status, name in (("active", "Lisinopril"), ("stopped", "Amlodipine"), ("completed", "Amoxicillin")):
        await post(fhir_a, {"resourceType": "MedicationStatement", "status": status,
                            "medicationCodeableConcept": {"text": name}, "subject": {"reference": f"Patient/{p}"}})
    for status, name in (("active", "Hypertension"), ("resolved", "Bronchitis")):
        await post(fhir_a, {"resourceType": "Condition", "clinicalStatus": cc(CONDITION_CLINICAL, status),
                            "code": {"text": name}, "subject": {"reference": f"Patient/{p}"}})
    await post(fhir_a, vitals(p, "2026-09-01T09:00:00Z", {"bp_systolic": 190, "bp_diastolic": 125},
                              {"bp_systolic": "HH", "bp_diastolic": "HH"}))
    await post(fhir_a, vitals(p, "2026-10-01T09:00:00Z", {"bp_systolic": 150, "oxygen_saturation": 97, "pulse": 70},
                              {"bp_systolic": "H"}))
    await post(fhir_a, social(p, "72166-2", "2025-01-01T00:00:00Z", "Smokes daily"))
    await post(fhir_a, social(p, "72166-2", "2026-01-01T00:00:00Z", "Ex-smoker"))
    await post(fhir_a, social(p, "74013-4", "2026-01-01T00:00:00Z", "1 drink/day"))
    await post(fhir_a, flag(p, "Fall risk", "patient", urgent=True))
    await post(fhir_a, flag(p, "Old alert", "patient", status="inactive"))
    await post(fhir_a, flag(ids["child"], "Billing hold", "family"))
    await post(fhir_a, flag(ids["child"], "Kid only", "patient"))
    await post(fhir_a, flag(ids["other"], "Not family", "family"))
    q = """query($id: ID!) { patient(id: $id) { medicalSummary {
      allergyReviewStatus medicalUrgentNote premedicationRequired
      allergies { allergen reactions severity isActive }
      currentMedications { name isActive } pastMedications { name status }
      activeProblems { name status }
      latestVitals { dateTaken bpSystolic oxygenSaturation pulse isProcedureBlocking abnormalFlags { vital severity } }
      socialHistory { category value }
      alerts { name scope isUrgent fromFamilyMember } } } }"""
    s = (await gql.run(q, {"id": p}))["patient"]["medicalSummary"]
    assert s["allergyReviewStatus"] == "REVIEWED" and s["medicalUrgentNote"] == "On warfarin"
    assert s["premedicationRequired"] is True
    assert s["allergies"] == [{"allergen": "Penicillin", "reactions": ["Wheal"], "severity": "moderate",
                               "isActive": True}]
    assert s["currentMedications"] == [{"name": "Lisinopril", "isActive": True}]
    assert sorted(m["name"] for m in s["pastMedications"]) == ["Amlodipine", "Amoxicillin"]
    assert {m["status"] for m in s["pastMedications"]} == {"discontinued", "completed"}
    assert s["activeProblems"] == [{"name": "Hypertension", "status": "ACTIVE"}]
    assert s["latestVitals"] == {"dateTaken": "2026-10-01", "bpSystolic": 150, "oxygenSaturation": 97, "pulse": 70,
                                 "isProcedureBlocking": False,
                                 "abnormalFlags": [{"vital": "bp_systolic", "severity": "WARNING"}]}
    assert sorted((h["category"], h["value"]) for h in s["socialHistory"]) == [("alcohol", "1 drink/day"),
                                                                               ("tobacco", "Ex-smoker")]
    assert sorted((a["name"], a["scope"], a["fromFamilyMember"]) for a in s["alerts"]) == [
        ("Billing hold", "FAMILY", True), ("Fall risk", "PATIENT", False)]
    # the child sees the family alert as its own, but not the parent's patient-scope alert
    kid = (await gql.run(q, {"id": ids["child"]}))["patient"]["medicalSummary"]
    assert sorted(a["name"] for a in kid["alerts"]) == ["Billing hold", "Kid only"]
    assert kid["latestVitals"] is None and kid["allergyReviewStatus"] == "NOT_REVIEWED"
    alerts = (await gql.run("""query($id: ID!) { patient(id: $id) {
        all: alerts { totalCount } active: alerts(status: ACTIVE, includeFamily: true) { edges { node { name } } }
        disabled: alerts(status: DISABLED) { edges { node { name } } } } }""", {"id": p}))["patient"]
    assert alerts["all"]["totalCount"] == 2
    assert sorted(e["node"]["name"] for e in alerts["active"]["edges"]) == ["Billing hold", "Fall risk"]
    assert [e["node"]["name"] for e in alerts["disabled"]["edges"]] == ["Old alert"]
    lists = (await gql.run("""query($id: ID!) { patient(id: $id) {
        vitalSigns(dateFrom: "2026-09-15") { totalCount edges { node { dateTaken } } }
        allVitals: vitalSigns(first: 1) { totalCount pageInfo { hasNextPage endCursor } edges { node { dateTaken } } }
        allergies(isActive: false) { totalCount } medications(isActive: true) { totalCount }
        problems(status: RESOLVED) { edges { node { name status } } } } }""", {"id": p}))["patient"]
    assert lists["vitalSigns"]["totalCount"] == 1 and lists["allVitals"]["totalCount"] == 2
    assert lists["allVitals"]["edges"][0]["node"]["dateTaken"] == "2026-10-01"
    assert lists["allergies"]["totalCount"] == 1 and lists["medications"]["totalCount"] == 1
    assert lists["problems"]["edges"] == [{"node": {"name": "Bronchitis", "status": "RESOLVED"}}]
    nxt = (await gql.run('query($id: ID!, $a: String) { patient(id: $id) { vitalSigns(first: 1, after: $a) '
                         '{ edges { node { dateTaken } } pageInfo { hasNextPage hasPreviousPage } } } }',
                         {"id": p, "a": lists["allVitals"]["pageInfo"]["endCursor"]}))["patient"]["vitalSigns"]
    assert nxt["edges"] == [{"node": {"dateTaken": "2026-09-01"}}]
    assert nxt["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}


async def test_family(gql: GQL, fhir_a, tag: str) -> None:
    # household(): a RelatedPerson written through FHIR REST saying the parent is the child's mother and guardian,
    # i.e. the seed's relationship from the parent (source) to the child (target)
    ids = await household(fhir_a, tag)
    q = """query($id: ID!) { patient(id: $id) { family {
      guarantor { id firstName } members { id firstName }
      guardians { relationshipType isGuardian patient { id firstName } patientName relatedPatientId }
      dependents { relationshipType relatedPatient { firstName } relatedPatientName }
      relationships { relationshipType isGuardian } } } }"""
    kid = (await gql.run(q, {"id": ids["child"]}))["patient"]["family"]
    assert kid["guarantor"] == {"id": ids["parent"], "firstName": "Pat"}
    assert sorted(m["firstName"] for m in kid["members"]) == ["Kim", "Pat"]
    assert kid["guardians"] == [{"relationshipType": "parent", "isGuardian": True,
                                 "patient": {"id": ids["parent"], "firstName": "Pat"},
                                 "patientName": f"Pat Home{tag}", "relatedPatientId": ids["child"]}]
    assert kid["relationships"] == [] and kid["dependents"] == []
    parent = (await gql.run(q, {"id": ids["parent"]}))["patient"]["family"]
    assert parent["guarantor"]["id"] == ids["parent"] and len(parent["members"]) == 2
    assert parent["relationships"] == [{"relationshipType": "parent", "isGuardian": True}]
    assert parent["dependents"] == [{"relationshipType": "parent", "relatedPatient": {"firstName": "Kim"},
                                     "relatedPatientName": f"Kim Home{tag}"}]
    assert parent["guardians"] == []
    loner = (await gql.run(q, {"id": ids["other"]}))["patient"]["family"]
    assert loner == {"guarantor": None, "members": [{"id": ids["other"], "firstName": "Out"}], "guardians": [],
                     "dependents": [], "relationships": []}


async def test_encounters_documents_and_communication_logs(gql: GQL, fhir_a, tag: str) -> None:
    pid = await post(fhir_a, make_patient(family=f"Lists{tag}", tag=tag))
    subject = {"reference": f"Patient/{pid}"}
    enc = await post(fhir_a, {"resourceType": "Encounter", "status": "finished",
                              "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                              "subject": subject, "period": {"start": "2026-10-01T09:00:00Z",
                                                             "end": "2026-10-01T09:30:00Z"}})
    await post(fhir_a, {"resourceType": "DocumentReference", "status": "current", "docStatus": "final",
                        "authenticator": {"reference": "Practitioner/x"}, "subject": subject,
                        "date": "2026-10-01T10:00:00Z", "description": "SOAP note",
                        "content": [{"attachment": {"contentType": "text/plain", "title": "Note"}}]})
    for when, direction, mode, text in (("2026-10-01T08:00:00Z", "outbound", "SMSWRIT", "Reminder sent"),
                                        ("2026-10-02T08:00:00Z", "inbound", "PHONE", "Asked for refill")):
        await post(fhir_a, {"resourceType": "Communication", "status": "completed", "subject": subject,
                            "sent": when, "medium": [cc("http://terminology.hl7.org/CodeSystem/v3-ParticipationMode",
                                                        mode)],
                            "payload": [{"contentString": text}],
                            "extension": [{"url": EXT["communication-direction"],
                                           "valueCoding": {"system": CS["communication-direction"],
                                                           "code": direction}}]})
    data = (await gql.run("""query($id: ID!) { patient(id: $id) {
      encounters { totalCount edges { node { id status classCode start end patient { id } } } }
      documents { edges { node { title description signed contentType } } }
      communicationLogs { totalCount edges { node { mode direction note } } }
      sent: communicationLogs(direction: SENT) { edges { node { note } } }
      searched: communicationLogs(q: "REFILL", dateFrom: "2026-10-02") { edges { node { mode } } } } }""",
                          {"id": pid}))["patient"]
    assert data["encounters"]["edges"][0]["node"] == {"id": enc, "status": "finished", "classCode": "AMB",
                                                      "start": "2026-10-01T09:00:00Z", "end": "2026-10-01T09:30:00Z",
                                                      "patient": {"id": pid}}
    assert data["documents"]["edges"] == [{"node": {"title": "Note", "description": "SOAP note", "signed": True,
                                                    "contentType": "text/plain"}}]
    assert data["communicationLogs"]["totalCount"] == 2
    assert data["communicationLogs"]["edges"][0]["node"] == {"mode": "phone", "direction": "RECEIVED",
                                                             "note": "Asked for refill"}
    assert data["sent"]["edges"] == [{"node": {"note": "Reminder sent"}}]
    assert data["searched"]["edges"] == [{"node": {"mode": "phone"}}]
    # seed 003 filters by date-time: an instant bounds it, a date is its whole day (both ends inclusive)
    window = """query($id: ID!, $from: String, $to: String) { patient(id: $id) {
      communicationLogs(dateFrom: $from, dateTo: $to) { edges { node { note } } } } }"""
    for bounds, notes in ((("2026-10-01T08:00:01Z", None), ["Asked for refill"]),
                          (("2026-10-01T10:00:00+02:00", "2026-10-02T07:59:59Z"), ["Reminder sent"]),
                          ((None, "2026-10-01"), ["Reminder sent"]),
                          (("2026-10-01", "2026-10-02"), ["Asked for refill", "Reminder sent"])):
        got = (await gql.run(window, {"id": pid, "from": bounds[0], "to": bounds[1]}))["patient"]
        assert [e["node"]["note"] for e in got["communicationLogs"]["edges"]] == notes, bounds
    for bad in ("2026-10-01T08:00:00", "yesterday"):
        err = await gql.error(window, {"id": pid, "from": bad})
        assert err["extensions"] == {"code": "VALIDATION", "field": "dateFrom"}
    one = (await gql.run('query($e: ID!) { encounter(id: $e) { id patient { lastName } } }', {"e": enc}))
    assert one["encounter"] == {"id": enc, "patient": {"lastName": f"Lists{tag}"}}
