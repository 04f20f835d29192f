"""Mutations: each validates, checks baseVersion where seed 003 asks for it, writes FHIR through the store
(versioned, with its event) and returns the updated object; errors carry extensions.code."""

from __future__ import annotations

import uuid
from typing import Any

from store.naming import EXT
from tests.conftest import fhir_calls
from tests.factories import make_patient, make_practitioner
from tests.graph.conftest import GQL

CREATE = """mutation($i: PatientInput!) { createPatient(input: $i) {
  patient { id version status firstName lastName preferredName email mobilePhone dateOfBirth addressLine1 city
            allergyReviewStatus pronoun tags { code } maritalStatus }
  potentialDuplicates { id } } }"""
UPDATE = """mutation($id: ID!, $v: Int!, $i: PatientPatch!) { updatePatient(id: $id, baseVersion: $v, input: $i) {
  patient { id version firstName lastName email mobilePhone city premedicationRequired medicalUrgentNote }
  potentialDuplicates { id } } }"""
TRANSITION = """mutation($id: ID!, $v: Int!, $s: PatientStatus!) {
  transitionPatientStatus(id: $id, baseVersion: $v, newStatus: $s) { id version status schedulingRestricted } }"""


async def create(gql: GQL, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = (await gql.run(CREATE, {"i": {"firstName": "Ana", "lastName": "Lima", **fields}}))
    return out["createPatient"]


async def test_create_patient_and_see_it_through_fhir_rest(gql: GQL, fhir_a, tag: str) -> None:
    vip = (await gql.run('mutation { createTagDefinition(input: {name: "VIP"}) { id } }'))["createTagDefinition"]["id"]
    made = await create(gql, lastName=f"Lima{tag}", preferredName="Annie", email=f"{tag}@example.com",
                        mobilePhone="614-555-0100", dateOfBirth="1990-02-03", addressLine1="1 Main St",
                        city="Columbus", pronoun="SHE_HER", tags=[vip], maritalStatus="SINGLE")
    p = made["patient"]
    assert p["version"] == 1 and p["status"] == "ACTIVE" and p["preferredName"] == "Annie"
    assert p["allergyReviewStatus"] == "NOT_REVIEWED" and p["tags"] == [{"code": vip}]
    assert p["maritalStatus"] == "SINGLE" and p["city"] == "Columbus"
    assert made["potentialDuplicates"] == []
    fhir = (await fhir_a.get(f"/Patient/{p['id']}")).json()
    assert fhir["name"][0]["family"] == f"Lima{tag}" and fhir["active"] is True
    assert {"url": EXT["patient-status"], "valueCode": "active"} in fhir["extension"]
    # the same signals again: the new record comes back with its potential duplicate
    again = await create(gql, lastName=f"Lima{tag}", dateOfBirth="1990-02-03")
    assert [d["id"] for d in again["potentialDuplicates"]] == [p["id"]]


async def test_create_patient_validation(gql: GQL) -> None:
    err = await gql.error(CREATE, {"i": {"firstName": " ", "lastName": "X"}})
    assert err["extensions"]["code"] == "VALIDATION"
    err = await gql.error(CREATE, {"i": {"firstName": "A", "lastName": "X", "gender": "robot"}})
    # an enum now: refused before execution, as every enum input is (the value set in the message)
    assert err["extensions"]["code"] == "BAD_REQUEST" and "'robot' does not exist in 'Gender'" in err["message"]
    err = await gql.error(CREATE, {"i": {"firstName": "A", "lastName": "X", "status": "ARCHIVED"}})
    assert err["extensions"]["code"] == "VALIDATION"
    err = await gql.error(CREATE, {"i": {"firstName": "A", "lastName": "X", "dateOfBirth": "02/03/1990"}})
    assert err["extensions"]["code"] == "VALIDATION"  # FHIR validation at the store's one gate


async def test_future_birth_dates_and_overlong_names_are_refused(gql: GQL) -> None:
    """Seen by a review: dateOfBirth 2999-01-01 and a 100,000-character firstName were accepted."""
    for fields, field in (({"dateOfBirth": "2999-01-01"}, "input.dateOfBirth"),
                          ({"firstName": "A" * 100_000}, "input.firstName"),
                          ({"lastName": "B" * 101}, "input.lastName"),
                          ({"preferredName": "C" * 101}, "input.preferredName")):
        err = await gql.error(CREATE, {"i": {"firstName": "Ana", "lastName": "Lima", **fields}})
        assert err["extensions"] == {"code": "VALIDATION", "field": field}, fields
    p = (await create(gql, firstName="A" * 100, dateOfBirth="2020-02-29"))["patient"]
    assert len(p["firstName"]) == 100
    for fields, field in (({"dateOfBirth": "2999-01-01"}, "input.dateOfBirth"),
                          ({"firstName": "A" * 101}, "input.firstName")):
        err = await gql.error(UPDATE, {"id": p["id"], "v": 1, "i": fields})
        assert err["extensions"] == {"code": "VALIDATION", "field": field}, fields


async def test_update_patient_is_a_patch_with_optimistic_locking(gql: GQL, fhir_a, tag: str) -> None:
    p = (await create(gql, lastName=f"Patch{tag}", email="a@example.com", mobilePhone="614-555-0101"))["patient"]
    out = (await gql.run(UPDATE, {"id": p["id"], "v": 1, "i": {"city": "Dublin", "email": None,
                                                             "premedicationRequired": True,
                                                             "medicalUrgentNote": "On warfarin"}})
           )["updatePatient"]["patient"]
    assert out["version"] == 2 and out["city"] == "Dublin" and out["email"] is None
    assert out["mobilePhone"] == "614-555-0101" and out["lastName"] == f"Patch{tag}"  # untouched
    assert out["premedicationRequired"] is True and out["medicalUrgentNote"] == "On warfarin"
    stale = await gql.error(UPDATE, {"id": p["id"], "v": 1, "i": {"city": "Old"}})
    assert stale["extensions"]["code"] == "VERSION_CONFLICT"
    missing = await gql.error(UPDATE, {"id": "nope", "v": 1, "i": {"city": "X"}})
    assert missing["extensions"]["code"] == "NOT_FOUND"
    cleared = await gql.error(UPDATE, {"id": p["id"], "v": 2, "i": {"lastName": None}})
    assert cleared["extensions"]["code"] == "VALIDATION"
    history = (await fhir_a.get(f"/Patient/{p['id']}/_history")).json()
    assert history["total"] == 2 if "total" in history else len(history["entry"]) == 2


async def test_update_patient_warns_of_potential_duplicates_but_never_itself(gql: GQL, tag: str) -> None:
    n = uuid.uuid4().int
    phone, area = f"{n % 9000 + 1000}", f"{n % 900 + 100}"
    a = (await create(gql, lastName=f"Dup{tag}", dateOfBirth="1980-04-05", email=f"Dup.{tag}@Example.com",
                      mobilePhone=f"(614) 555-{phone}", socialSecurityNumber=f"{area}-12-3456"))["patient"]
    b = (await create(gql, lastName=f"Other{tag}"))["patient"]

    async def update(pid: str, v: int, **fields: Any) -> list[str]:
        out = (await gql.run(UPDATE, {"id": pid, "v": v, "i": fields}))["updatePatient"]
        assert out["patient"]["version"] == v + 1
        return [d["id"] for d in out["potentialDuplicates"]]

    # a patient matching no one else gets no warning, not even about itself
    assert await update(a["id"], 1, city="Dublin") == []
    # each signal of the seed, the same matching rules as on create
    assert await update(b["id"], 1, email=f"DUP.{tag}@example.COM") == [a["id"]]
    assert await update(b["id"], 2, email=None, mobilePhone=f"614555{phone}") == [a["id"]]
    assert await update(b["id"], 3, mobilePhone=None, socialSecurityNumber=f"{area}123456") == [a["id"]]
    assert await update(b["id"], 4, socialSecurityNumber=None, lastName=f"dup{tag}",
                        dateOfBirth="1980-04-05") == [a["id"]]
    assert await update(b["id"], 5, lastName=f"Other{tag}") == []
    # the write happened: the warning does not refuse it
    assert await update(a["id"], 2, email=None, mobilePhone=None, socialSecurityNumber=None) == []


async def test_every_patient_read_carries_its_potential_duplicates_in_one_batch(gql: GQL, tag: str) -> None:
    """Seed 003's get-patient (and archive, restore, transition) answer potential_duplicates: Patient has them,
    by the same signals as createPatient's, never the patient itself, and a list of patients asks the store
    once per signal kind, not once per patient."""
    n = uuid.uuid4().int
    phone = f"{n % 9000 + 1000}"
    a = (await create(gql, lastName=f"Twin{tag}", dateOfBirth="1970-01-02", email=f"twin.{tag}@example.com"))
    b = (await create(gql, lastName=f"TWIN{tag}", dateOfBirth="1970-01-02", mobilePhone=f"614-555-{phone}"))
    c = (await create(gql, lastName=f"Phone{tag}", mobilePhone=f"(614) 555 {phone}",
                      email=f"TWIN.{tag}@Example.com"))
    d = (await create(gql, lastName=f"Alone{tag}"))
    ids = [x["patient"]["id"] for x in (a, b, c, d)]
    q = "query { " + " ".join(f'p{i}: patient(id: "{pid}") {{ potentialDuplicates {{ id }} }}'
                              for i, pid in enumerate(ids)) + " }"
    before = fhir_calls()
    data = await gql.run(q)
    after = fhir_calls()
    assert after.get(("find", "Patient"), 0) - before.get(("find", "Patient"), 0) <= 4 + 1  # + the reads by id
    got = [sorted(x["id"] for x in data[f"p{i}"]["potentialDuplicates"]) for i in range(4)]
    assert got == [sorted([ids[1], ids[2]]), sorted([ids[0], ids[2]]), sorted([ids[0], ids[1]]), []]
    arch = (await gql.run('mutation($id: ID!) { archivePatient(id: $id) { potentialDuplicates { id } } }',
                          {"id": ids[0]}))["archivePatient"]
    assert sorted(x["id"] for x in arch["potentialDuplicates"]) == sorted([ids[1], ids[2]])
    back = (await gql.run('mutation($id: ID!) { restorePatient(id: $id) { status potentialDuplicates { id } } }',
                          {"id": ids[0]}))["restorePatient"]
    assert back["status"] == "INACTIVE" and len(back["potentialDuplicates"]) == 2
    moved = (await gql.run("""mutation($id: ID!) { transitionPatientStatus(id: $id, baseVersion: 3,
        newStatus: ACTIVE) { status potentialDuplicates { id } } }""", {"id": ids[0]}))["transitionPatientStatus"]
    assert moved["status"] == "ACTIVE" and len(moved["potentialDuplicates"]) == 2


async def test_create_patient_takes_the_billing_account_decision(gql: GQL, fhir_a, tag: str) -> None:
    """Seed 003's createPatient takes billing_account (the billing-account decision at registration): an
    account of the patient's own (a FHIR Account, the patient its guarantor) or another patient's."""
    family = 'query($id: ID!) { patient(id: $id) { family { guarantor { id } members { id } } } }'
    own = (await create(gql, lastName=f"Own{tag}",
                        billingAccount={"choice": "OWN", "name": f"Own {tag} account"}))["patient"]["id"]
    got = (await gql.run(family, {"id": own}))["patient"]["family"]
    assert got == {"guarantor": {"id": own}, "members": [{"id": own}]}
    accounts = (await fhir_a.get("/Account", params={"guarantor": f"Patient/{own}"})).json()["entry"]
    assert [e["resource"]["name"] for e in accounts] == [f"Own {tag} account"]
    kid = (await create(gql, lastName=f"Own{tag}",
                        billingAccount={"choice": "JOIN", "guarantorId": own}))["patient"]["id"]
    got = (await gql.run(family, {"id": kid}))["patient"]["family"]
    assert got["guarantor"] == {"id": own} and sorted(m["id"] for m in got["members"]) == sorted([own, kid])
    for account, field, code in (({"choice": "JOIN"}, "input.billingAccount.guarantorId", "VALIDATION"),
                                 ({"choice": "JOIN", "guarantorId": "nobody"}, "input.billingAccount.guarantorId",
                                  "NOT_FOUND"),
                                 ({"choice": "OWN", "guarantorId": own}, "input.billingAccount.guarantorId",
                                  "VALIDATION"),
                                 ({"choice": "JOIN", "guarantorId": own, "name": "x"}, "input.billingAccount.name",
                                  "VALIDATION"),
                                 ({"choice": "OWN", "name": "x" * 101}, "input.billingAccount.name", "VALIDATION")):
        err = await gql.error(CREATE, {"i": {"firstName": "Ana", "lastName": "Lima", "billingAccount": account}})
        assert err["extensions"] == {"code": code, "field": field}, account
    both = await gql.error(CREATE, {"i": {"firstName": "Ana", "lastName": "Lima", "responsiblePartyId": own,
                                          "billingAccount": {"choice": "OWN"}}})
    assert both["extensions"] == {"code": "VALIDATION", "field": "input.billingAccount"}


async def test_status_transitions(gql: GQL) -> None:
    p = (await create(gql, status="PROSPECTIVE"))["patient"]
    assert p["status"] == "PROSPECTIVE"
    bad = await gql.error(TRANSITION, {"id": p["id"], "v": 1, "s": "INACTIVE"})
    assert bad["extensions"]["code"] == "INVALID_TRANSITION"
    step = (await gql.run(TRANSITION, {"id": p["id"], "v": 1, "s": "ACTIVE"}))["transitionPatientStatus"]
    assert step == {"id": p["id"], "version": 2, "status": "ACTIVE", "schedulingRestricted": False}
    same = await gql.error(TRANSITION, {"id": p["id"], "v": 2, "s": "ACTIVE"})
    assert same["extensions"]["code"] == "INVALID_TRANSITION"
    archived = await gql.error(TRANSITION, {"id": p["id"], "v": 2, "s": "ARCHIVED"})
    assert archived["extensions"]["code"] == "INVALID_TRANSITION"
    stale = await gql.error(TRANSITION, {"id": p["id"], "v": 1, "s": "INACTIVE"})
    assert stale["extensions"]["code"] == "VERSION_CONFLICT"
    inactive = (await gql.run(TRANSITION, {"id": p["id"], "v": 2, "s": "INACTIVE"}))["transitionPatientStatus"]
    assert inactive["status"] == "INACTIVE" and inactive["schedulingRestricted"] is True
    back = (await gql.run(TRANSITION, {"id": p["id"], "v": 3, "s": "ACTIVE"}))["transitionPatientStatus"]
    dead = (await gql.run(TRANSITION, {"id": p["id"], "v": back["version"], "s": "DECEASED"}))
    assert dead["transitionPatientStatus"]["status"] == "DECEASED"
    terminal = await gql.error(TRANSITION, {"id": p["id"], "v": 5, "s": "ACTIVE"})
    assert terminal["extensions"]["code"] == "INVALID_TRANSITION"


async def test_archive_and_restore(gql: GQL, fhir_a) -> None:
    guarantor = (await create(gql, firstName="Gus"))["patient"]
    child = (await create(gql, firstName="Kid"))["patient"]
    account = {"resourceType": "Account", "status": "active",
               "subject": [{"reference": f"Patient/{guarantor['id']}"}, {"reference": f"Patient/{child['id']}"}],
               "guarantor": [{"party": {"reference": f"Patient/{guarantor['id']}"}}]}
    assert (await fhir_a.post("/Account", json=account)).status_code == 201
    archive = 'mutation($id: ID!) { archivePatient(id: $id) { id status version } }'
    restore = 'mutation($id: ID!) { restorePatient(id: $id) { id status version } }'
    refused = await gql.error(archive, {"id": guarantor["id"]})
    assert refused["extensions"]["code"] == "VALIDATION" and "guarantor" in refused["message"]
    kid = (await gql.run(archive, {"id": child["id"]}))["archivePatient"]
    assert kid["status"] == "ARCHIVED"
    # an archived dependent no longer blocks its guarantor
    assert (await gql.run(archive, {"id": guarantor["id"]}))["archivePatient"]["status"] == "ARCHIVED"
    listed = await gql.run('query($id: ID!) { patient(id: $id) { status } }', {"id": child["id"]})
    assert listed["patient"]["status"] == "ARCHIVED"
    again = await gql.error(archive, {"id": child["id"]})
    assert again["extensions"]["code"] == "VALIDATION"
    restored = (await gql.run(restore, {"id": child["id"]}))["restorePatient"]
    assert restored["status"] == "INACTIVE"
    not_archived = await gql.error(restore, {"id": child["id"]})
    assert not_archived["extensions"]["code"] == "VALIDATION"


async def test_record_clinical_data(gql: GQL) -> None:
    pid = (await create(gql))["patient"]["id"]
    vitals = (await gql.run("""mutation($p: ID!) { recordVitalSigns(patientId: $p, input: {
        dateTaken: "2026-10-01", timeTaken: "09:30", bpSystolic: 185, bpDiastolic: 95, pulse: 72,
        oxygenSaturation: 97, temperatureF: 100.6 }) {
          id version dateTaken timeTaken bpSystolic isProcedureBlocking abnormalFlags { vital severity message } } }""",
                              {"p": pid}))["recordVitalSigns"]
    assert vitals["dateTaken"] == "2026-10-01" and vitals["timeTaken"] == "09:30:00" and vitals["bpSystolic"] == 185
    flags = {f["vital"]: f["severity"] for f in vitals["abnormalFlags"]}
    assert flags == {"bp_systolic": "CRITICAL", "bp_diastolic": "WARNING", "temperature_f": "WARNING"}
    assert vitals["isProcedureBlocking"] is True
    empty = await gql.error('mutation($p: ID!) { recordVitalSigns(patientId: $p, input: {dateTaken: "2026-10-01"}) '
                            '{ id } }', {"p": pid})
    assert empty["extensions"]["code"] == "VALIDATION"
    allergy = (await gql.run("""mutation($p: ID!) { recordAllergy(patientId: $p, input: {
        allergen: "Penicillin", code: "7980", codeSystem: "http://www.nlm.nih.gov/research/umls/rxnorm",
        reaction: "Hives", severity: "moderate", category: "medication" }) {
          allergen code isActive reaction severity category } }""", {"p": pid}))["recordAllergy"]
    assert allergy == {"allergen": "Penicillin", "code": "7980", "isActive": True, "reaction": "Hives",
                       "severity": "moderate", "category": "medication"}
    med = (await gql.run("""mutation($p: ID!) { recordMedication(patientId: $p, input: {
        name: "Lisinopril 10 MG Oral Tablet", rxCui: "314076", dosage: "1 daily", dateStart: "2026-01-01" }) {
          name rxCui status isActive dosage dateStart } }""", {"p": pid}))["recordMedication"]
    assert med["rxCui"] == "314076" and med["status"] == "active" and med["isActive"] is True
    past = (await gql.run("""mutation($p: ID!) { recordMedication(patientId: $p, input: {
        name: "Amoxicillin", status: "completed", dateStart: "2025-01-01", dateStop: "2025-01-10" }) {
          status isActive dateStop } }""", {"p": pid}))["recordMedication"]
    assert past == {"status": "completed", "isActive": False, "dateStop": "2025-01-10"}
    problem = (await gql.run("""mutation($p: ID!) { recordProblem(patientId: $p, input: {
        name: "Essential hypertension", snomedCode: "59621000", dateStart: "2020-05-01" }) {
          name snomedCode status dateStart } }""", {"p": pid}))["recordProblem"]
    assert problem == {"name": "Essential hypertension", "snomedCode": "59621000", "status": "ACTIVE",
                       "dateStart": "2020-05-01"}
    fall_risk = (await gql.run('mutation { createAlertDefinition(input: {name: "Fall risk"}) { id } }'))[
        "createAlertDefinition"]["id"]
    alert = (await gql.run("""mutation($p: ID!, $d: ID!) { createAlert(patientId: $p, input: {
        alertDefinitionId: $d, scope: FAMILY, isUrgent: true }) {
          name code status scope isUrgent patientId } }""", {"p": pid, "d": fall_risk}))["createAlert"]
    assert alert == {"name": "Fall risk", "code": fall_risk, "status": "ACTIVE", "scope": "FAMILY",
                     "isUrgent": True, "patientId": pid}
    summary = (await gql.run("""query($p: ID!) { patient(id: $p) { medicalSummary {
        allergies { allergen } currentMedications { name } pastMedications { name } activeProblems { name }
        latestVitals { isProcedureBlocking } alerts { name } } } }""", {"p": pid}))["patient"]["medicalSummary"]
    assert summary["allergies"] == [{"allergen": "Penicillin"}]
    assert summary["currentMedications"] == [{"name": "Lisinopril 10 MG Oral Tablet"}]
    assert summary["pastMedications"] == [{"name": "Amoxicillin"}]
    assert summary["activeProblems"] == [{"name": "Essential hypertension"}]
    assert summary["latestVitals"] == {"isProcedureBlocking": True}
    assert summary["alerts"] == [{"name": "Fall risk"}]
    nobody = await gql.error('mutation { recordProblem(patientId: "nope", input: {name: "x"}) { name } }')
    assert nobody["extensions"]["code"] == "NOT_FOUND"


async def test_create_relationship(gql: GQL) -> None:
    child = (await create(gql, firstName="Kid"))["patient"]["id"]
    mom = (await create(gql, firstName="Mom"))["patient"]["id"]
    # seed 003: from the source (mom) to the target (child): mom is the child's parent and legal guardian
    rel = (await gql.run("""mutation($p: ID!, $q: ID!) { createRelationship(patientId: $p, input: {
        relatedPatientId: $q, relationshipType: "parent", isGuardian: true }) {
          relationshipType isGuardian patientId relatedPatient { id firstName } } }""",
                         {"p": mom, "q": child}))["createRelationship"]
    assert rel == {"relationshipType": "parent", "isGuardian": True, "patientId": mom,
                   "relatedPatient": {"id": child, "firstName": "Kid"}}
    fam = (await gql.run("""query($p: ID!) {
        child: patient(id: $p) { family { guardians { patient { id } } relationships { relationshipType } } }
        }""", {"p": child}))
    assert fam["child"]["family"]["guardians"] == [{"patient": {"id": mom}}]
    assert fam["child"]["family"]["relationships"] == []
    bad = await gql.error('mutation($p: ID!) { createRelationship(patientId: $p, input: {relatedPatientId: $p, '
                          'relationshipType: "parent"}) { id } }', {"p": child})
    assert bad["extensions"]["code"] == "VALIDATION"
    unknown = await gql.error('mutation($p: ID!) { createRelationship(patientId: $p, input: {relatedPatientId: "x",'
                              ' relationshipType: "frenemy"}) { id } }', {"p": child})
    assert unknown["extensions"]["code"] == "VALIDATION"


async def test_episodes_and_appointments(gql: GQL, fhir_a, tag: str) -> None:
    pid = (await create(gql))["patient"]["id"]
    prac = (await fhir_a.post("/Practitioner", json=make_practitioner(tag=tag))).json()["id"]
    ep = (await gql.run("""mutation($p: ID!) { createEpisode(patientId: $p, input: {
        name: "Covid care", type: "covid", from: "2026-11-01", status: ACTIVE, objective: "Recover" }) {
          id version name type from to status objective reasonIncomplete patient { id } } }""",
                        {"p": pid}))["createEpisode"]
    assert (ep["name"], ep["type"], ep["from"], ep["status"], ep["objective"]) == ("Covid care", "covid",
                                                                                  "2026-11-01", "ACTIVE", "Recover")
    assert ep["patient"] == {"id": pid}
    missing = await gql.error('mutation($p: ID!) { createEpisode(patientId: $p, input: {name: "x"}) { id } }',
                              {"p": pid})
    assert missing["extensions"] == {"code": "VALIDATION", "field": "input.type"}
    upd = (await gql.run("""mutation($e: ID!) { updateEpisode(id: $e, baseVersion: 1, input: {
        status: CANCELLED, to: "2026-11-20", reasonIncomplete: "Patient moved" }) {
          version status to reasonIncomplete name } }""", {"e": ep["id"]}))["updateEpisode"]
    assert upd == {"version": 2, "status": "CANCELLED", "to": "2026-11-20", "reasonIncomplete": "Patient moved",
                   "name": "Covid care"}
    stale = await gql.error('mutation($e: ID!) { updateEpisode(id: $e, baseVersion: 1, input: {name: "y"}) '
                            '{ id } }', {"e": ep["id"]})
    assert stale["extensions"]["code"] == "VERSION_CONFLICT"

    book = """mutation($i: BookAppointmentInput!) { bookAppointment(input: $i) {
        id version status start end reasons practitioner { id } patient { id } episode { id } workflowStatus } }"""
    appt = (await gql.run(book, {"i": {"patientId": pid, "practitionerId": prac, "start": "2026-12-01T09:00:00Z",
                                       "minutesDuration": 30, "reasons": ["Cough"], "episodeId": ep["id"]}}))
    a = appt["bookAppointment"]
    assert (a["status"], a["start"], a["end"], a["reasons"]) == ("BOOKED", "2026-12-01T09:00:00Z",
                                                                 "2026-12-01T09:30:00Z", ["Cough"])
    assert a["practitioner"] == {"id": prac} and a["patient"] == {"id": pid} and a["episode"] == {"id": ep["id"]}
    second = (await gql.run(book, {"i": {"patientId": pid, "start": "2026-12-02T10:00:00Z"}}))["bookAppointment"]
    for bad, field in (({"start": "soon"}, "input.start"), ({}, "input.start"),
                       ({"start": "2026-12-02T10:00:00Z", "end": "2026-12-02T09:00:00Z"}, "input.end")):
        err = await gql.error(book, {"i": {"patientId": pid, **bad}})
        assert err["extensions"] == {"code": "VALIDATION", "field": field}, bad
    for unknown in ("slotId", "practitionerId"):
        err = await gql.error(book, {"i": {"patientId": pid, "start": "2026-12-03T10:00:00Z", unknown: "nope"}})
        assert err["extensions"] == {"code": "NOT_FOUND", "field": f"input.{unknown}"}, unknown
    assign = (await gql.run("""mutation($a: ID!, $e: ID) { assignAppointmentToEpisode(appointmentId: $a, episodeId: $e)
        { id episode { id name } } }""", {"a": second["id"], "e": ep["id"]}))["assignAppointmentToEpisode"]
    assert assign["episode"] == {"id": ep["id"], "name": "Covid care"}
    listed = (await gql.run("""query($p: ID!) { patient(id: $p) {
        episodes { totalCount edges { node { id appointments { totalCount edges { node { id } } } } } }
        appointments(first: 1) { totalCount edges { node { start } } pageInfo { hasNextPage endCursor } } } }""",
                            {"p": pid}))["patient"]
    assert listed["episodes"]["edges"][0]["node"]["appointments"]["totalCount"] == 2
    assert listed["appointments"]["totalCount"] == 2
    assert listed["appointments"]["edges"][0]["node"]["start"] == "2026-12-02T10:00:00Z"  # newest first
    resched = (await gql.run("""mutation($a: ID!) { rescheduleAppointment(id: $a, start: "2026-12-03T11:00:00Z",
        baseVersion: 1) { version start end status } }""", {"a": a["id"]}))["rescheduleAppointment"]
    assert resched == {"version": 2, "start": "2026-12-03T11:00:00Z", "end": "2026-12-03T11:30:00Z",
                       "status": "BOOKED"}
    cancelled = (await gql.run("""mutation($a: ID!) { cancelAppointment(id: $a, reason: "Feeling better") {
        status cancelationReason workflowStatus } }""", {"a": a["id"]}))["cancelAppointment"]
    assert cancelled == {"status": "CANCELLED", "cancelationReason": "Feeling better", "workflowStatus": "cancelled"}
    again = await gql.error('mutation($a: ID!) { cancelAppointment(id: $a) { id } }', {"a": a["id"]})
    assert again["extensions"]["code"] == "VALIDATION"
    unassign = (await gql.run('mutation($a: ID!) { assignAppointmentToEpisode(appointmentId: $a) { episode { id } } }',
                              {"a": second["id"]}))
    assert unassign["assignAppointmentToEpisode"]["episode"] is None


async def test_booking_a_taken_slot(gql: GQL, fhir_a, tag: str) -> None:
    pid = (await create(gql))["patient"]["id"]
    other = (await create(gql, firstName="Other"))["patient"]["id"]
    sched = (await fhir_a.post("/Schedule", json={"resourceType": "Schedule", "active": True,
                                                  "actor": [{"reference": "Location/loc-1"}]})).json()["id"]
    slot = (await fhir_a.post("/Slot", json={"resourceType": "Slot", "schedule": {"reference": f"Schedule/{sched}"},
                                             "status": "free", "start": "2026-12-05T09:00:00Z",
                                             "end": "2026-12-05T09:20:00Z"})).json()["id"]
    book = 'mutation($i: BookAppointmentInput!) { bookAppointment(input: $i) { id start end slotId } }'
    first = (await gql.run(book, {"i": {"patientId": pid, "slotId": slot}}))["bookAppointment"]
    assert (first["start"], first["end"], first["slotId"]) == ("2026-12-05T09:00:00Z", "2026-12-05T09:20:00Z", slot)
    taken = await gql.error(book, {"i": {"patientId": other, "slotId": slot}})
    assert taken["extensions"]["code"] == "SLOT_TAKEN"
    no_slot = await gql.error(book, {"i": {"patientId": other, "slotId": "nope"}})
    assert no_slot["extensions"]["code"] == "NOT_FOUND"


async def test_mutations_write_events(gql: GQL, fhir_a) -> None:
    """Every mutation is a normal store write: FHIR REST sees the version and the Provenance it left."""
    pid = (await create(gql))["patient"]["id"]
    await gql.run(TRANSITION, {"id": pid, "v": 1, "s": "INACTIVE"})
    res = (await fhir_a.get(f"/Patient/{pid}")).json()
    assert res["meta"]["versionId"] == "2" and res["active"] is False


async def test_tenant_isolation_on_writes(gql: GQL, gql_b: GQL) -> None:
    pid = (await create(gql))["patient"]["id"]
    err = await gql_b.error(UPDATE, {"id": pid, "v": 1, "i": {"city": "X"}})
    assert err["extensions"]["code"] == "NOT_FOUND"
    assert (await gql.run('query($id: ID!) { patient(id: $id) { city } }', {"id": pid}))["patient"]["city"] is None


async def test_patient_mutations_on_an_unknown_id_say_not_found_like_every_other_lookup(gql: GQL) -> None:
    """Seen by a review: these four answered the store's "Patient/pat-nope not found" with no field."""
    mutations = [(UPDATE, {"id": "pat-nope", "v": 1, "i": {"city": "x"}}),
                 (TRANSITION, {"id": "pat-nope", "v": 1, "s": "INACTIVE"}),
                 ('mutation { archivePatient(id: "pat-nope") { id } }', None),
                 ('mutation { restorePatient(id: "pat-nope") { id } }', None)]
    for query, variables in mutations:
        err = await gql.error(query, variables)
        assert err["message"] == "Patient pat-nope not found"
        assert err["extensions"] == {"code": "NOT_FOUND", "field": "id"}


async def test_fhir_rest_and_graphql_agree(gql: GQL, fhir_a, tag: str) -> None:
    r = await fhir_a.post("/Patient", json=make_patient(family=f"Agree{tag}", tag=tag))
    pid, etag = r.json()["id"], r.headers.get("etag")
    out = (await gql.run(UPDATE, {"id": pid, "v": 1, "i": {"firstName": "Changed"}}))["updatePatient"]["patient"]
    assert out["version"] == 2 and etag
    assert (await fhir_a.get(f"/Patient/{pid}")).json()["name"][0]["given"][0] == "Changed"
