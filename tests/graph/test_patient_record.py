"""The seed 003 patient record through GraphQL: the fields added to it (read and written, stored on FHIR), and the
regressions found by trying the API — phone search, duplicate signals, location names, createPatient's checks
and idempotency, error messages and ``extensions.field``, unknown ids in filters, numbered pages."""

from __future__ import annotations

import uuid
from typing import Any

from store.naming import EXT, LOINC, SNOMED
from tests.factories import make_patient, make_practitioner
from tests.graph.conftest import GQL

CREATE = """mutation($i: PatientInput!, $k: String) { createPatient(input: $i, idempotencyKey: $k) {
  patient { id version chartNumber } potentialDuplicates { id } } }"""
UPDATE = """mutation($id: ID!, $v: Int!, $i: PatientPatch!) { updatePatient(id: $id, baseVersion: $v, input: $i) {
  patient { id version } } }"""
RECORD = """query($id: ID!) { patient(id: $id) {
  gender salutation addressNote appointmentModuleNote treatmentNotes medicalSummaryText askToArriveEarlyMins
  billingCycleDay balance0To30 balance31To60 balance61To90 balanceOver90 estimatedBalance insuranceEstimate
  paymentPlanDue smokingSnomed deletedAt status location { id name } employer { id name } feeSchedule { id name }
  billingType { id name } responsibleParty { id name } } }"""


def name(tag: str, suffix: str = "") -> dict[str, str]:
    return {"firstName": "Ana", "lastName": f"Rec{tag}{suffix}"}


async def create(gql: GQL, tag: str, key: str | None = None, **fields: Any) -> dict[str, Any]:
    out = await gql.run(CREATE, {"i": {**name(tag), **fields}, "k": key})
    made: dict[str, Any] = out["createPatient"]
    return made


async def post(fhir: Any, body: dict[str, Any]) -> str:
    r = await fhir.post(f"/{body['resourceType']}", json=body)
    assert r.status_code == 201, r.text
    rid: str = r.json()["id"]
    return rid


async def test_new_fields_are_written_and_read_back_from_fhir(gql: GQL, fhir_a: Any, tag: str) -> None:
    loc = await post(fhir_a, {"resourceType": "Location", "name": f"Downtown {tag}"})
    emp = await post(fhir_a, {"resourceType": "Organization", "name": f"Acme {tag}"})
    fee = await post(fhir_a, {"resourceType": "Basic", "code": {"text": "Standard fees"}})
    btype = await post(fhir_a, {"resourceType": "Basic", "code": {"text": "Cash"}})
    head = (await create(gql, tag, lastName=f"Head{tag}"))["patient"]["id"]
    made = await create(gql, tag, gender="NON_BINARY", salutation="Dear Ana", addressNote="Gate 4",
                        appointmentModuleNote="Needs wheelchair", treatmentNotes="Sensitive molars",
                        medicalSummaryText="Healthy adult", askToArriveEarlyMins=15, billingCycleDay=10,
                        locationId=loc, employerId=emp, feeScheduleId=fee, billingTypeId=btype,
                        responsiblePartyId=head)
    pid = made["patient"]["id"]
    p = (await gql.run(RECORD, {"id": pid}))["patient"]
    assert p["gender"] == "NON_BINARY" and p["salutation"] == "Dear Ana" and p["addressNote"] == "Gate 4"
    assert (p["appointmentModuleNote"], p["treatmentNotes"], p["medicalSummaryText"]) == \
        ("Needs wheelchair", "Sensitive molars", "Healthy adult")
    assert p["askToArriveEarlyMins"] == 15 and p["billingCycleDay"] == 10
    assert p["location"] == {"id": loc, "name": f"Downtown {tag}"}  # the name was always null
    assert p["employer"] == {"id": emp, "name": f"Acme {tag}"}
    assert p["feeSchedule"] == {"id": fee, "name": "Standard fees"} and p["billingType"]["name"] == "Cash"
    assert p["responsibleParty"] == {"id": head, "name": f"Ana Head{tag}"}
    assert p["balance0To30"] == 0 and p["estimatedBalance"] is None and p["smokingSnomed"] is None
    fhir = (await fhir_a.get(f"/Patient/{pid}")).json()
    assert fhir["gender"] == "other"  # FHIR's nearest code, the seed's word in its extension
    assert {"url": EXT["gender-detail"], "valueCode": "non_binary"} in fhir["extension"]
    assert {"url": EXT["arrive-early-minutes"], "valueInteger": 15} in fhir["extension"]
    accounts = (await fhir_a.get("/Account", params={"subject": f"Patient/{pid}"})).json()["entry"]
    assert [a["resource"]["guarantor"][0]["party"]["reference"] for a in accounts] == [f"Patient/{head}"]
    # the other genders, and prefer_not_to_say round trip
    for gender in ("MALE", "FEMALE", "OTHER", "UNKNOWN", "PREFER_NOT_TO_SAY"):
        pid2 = (await create(gql, tag, gender=gender))["patient"]["id"]
        assert (await gql.run(RECORD, {"id": pid2}))["patient"]["gender"] == gender


async def test_billing_values_and_smoking_status_are_read_from_fhir(gql: GQL, fhir_a: Any, tag: str) -> None:
    body = make_patient(family=f"Bal{tag}", tag=tag)
    body["extension"] = [{"url": EXT[k], "valueDecimal": v} for k, v in (
        ("balance-0-30", 10.5), ("balance-31-60", 20), ("balance-61-90", 30), ("balance-over-90", 40),
        ("estimated-balance", 75.25), ("insurance-estimate", 25), ("payment-plan-due", 50))]
    pid = await post(fhir_a, body)
    for when, code in (("2023-01-01", "77176002"), ("2024-06-01", "8517006")):
        await post(fhir_a, {"resourceType": "Observation", "status": "final", "effectiveDateTime": when,
                            "category": [{"coding": [{"code": "social-history"}]}],
                            "code": {"coding": [{"system": LOINC, "code": "72166-2"}]},
                            "subject": {"reference": f"Patient/{pid}"},
                            "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": code}]}})
    p = (await gql.run(RECORD, {"id": pid}))["patient"]
    assert (p["balance0To30"], p["balance31To60"], p["balance61To90"], p["balanceOver90"]) == (10.5, 20, 30, 40)
    assert (p["estimatedBalance"], p["insuranceEstimate"], p["paymentPlanDue"]) == (75.25, 25, 50)
    assert p["smokingSnomed"] == "8517006"  # the latest entry (ex-smoker)


async def test_archive_sets_deleted_at_and_restore_clears_it(gql: GQL, tag: str) -> None:
    pid = (await create(gql, tag))["patient"]["id"]
    out = await gql.run('mutation($id: ID!) { archivePatient(id: $id) { status deletedAt } }', {"id": pid})
    assert out["archivePatient"]["status"] == "ARCHIVED" and out["archivePatient"]["deletedAt"].startswith("20")
    out = await gql.run('mutation($id: ID!) { restorePatient(id: $id) { status deletedAt } }', {"id": pid})
    assert out["restorePatient"] == {"status": "INACTIVE", "deletedAt": None}


async def test_validation_errors_name_the_input_in_graphql_terms(gql: GQL, tag: str) -> None:
    cases = [({"dateOfBirth": "genot-a-date"}, "input.dateOfBirth"), ({"email": "not-an-email"}, "input.email"),
             ({"askToArriveEarlyMins": 121}, "input.askToArriveEarlyMins"),
             ({"askToArriveEarlyMins": -1}, "input.askToArriveEarlyMins"),
             ({"billingCycleDay": 32}, "input.billingCycleDay"),
             ({"lastName": " "}, "input.lastName"), ({"socialSecurityNumber": "12-34"}, "input.socialSecurityNumber"),
             ({"dateTimeDeceased": "yesterday"}, "input.dateTimeDeceased")]
    for fields, path in cases:
        err = await gql.error(CREATE, {"i": {**name(tag), **fields}})
        assert err["extensions"]["code"] == "VALIDATION" and err["extensions"]["field"] == path, (fields, err)
        assert "_" not in err["message"].split(" ")[0] and "FHIR" not in err["message"], err
        assert "birthdate" not in err["message"], err  # a search parameter's name: the store's, not the API's
    err = await gql.error(CREATE, {"i": {**name(tag), "askToArriveEarlyMins": 121}})
    assert "askToArriveEarlyMins" in err["message"] and "120" in err["message"]
    pid = (await create(gql, tag, askToArriveEarlyMins=120))["patient"]["id"]  # the bounds are allowed
    err = await gql.error(UPDATE, {"id": pid, "v": 1, "i": {"lastName": None}})
    assert err["extensions"]["field"] == "input.lastName" and err["message"].startswith("lastName")
    for q in ('{ patients(filter: {dobFrom: "genot-a-date"}) { edges { cursor } } }',
              '{ checkDuplicatePatients(lastName: "X", dateOfBirth: "genot-a-date") { id } }'):
        err = await gql.error(q)
        assert err["extensions"]["code"] == "VALIDATION" and "birthdate" not in err["message"], err
        assert err["extensions"]["field"] in ("filter.dobFrom", "dateOfBirth")


async def test_create_refuses_unknown_references_and_duplicate_chart_numbers(gql: GQL, fhir_a: Any,
                                                                            tag: str) -> None:
    for field in ("primaryProviderId", "secondaryProviderId", "locationId", "employerId", "feeScheduleId",
                  "billingTypeId", "responsiblePartyId"):
        err = await gql.error(CREATE, {"i": {**name(tag), field: str(uuid.uuid4())}})
        assert err["extensions"] == {**err["extensions"], "code": "NOT_FOUND", "field": f"input.{field}"}, err
    prac = await post(fhir_a, make_practitioner(tag=tag))
    made = await create(gql, tag, chartNumber=f"C-{tag}", primaryProviderId=prac)
    assert made["patient"]["chartNumber"] == f"C-{tag}"
    err = await gql.error(CREATE, {"i": {**name(tag, "b"), "chartNumber": f"C-{tag}"}})
    assert err["extensions"]["code"] == "CONFLICT" and err["extensions"]["field"] == "input.chartNumber"
    other = (await create(gql, tag, lastName=f"Other{tag}"))["patient"]
    err = await gql.error(UPDATE, {"id": other["id"], "v": 1, "i": {"chartNumber": f"C-{tag}"}})
    assert err["extensions"]["code"] == "CONFLICT"
    # a missing patient is NOT_FOUND without any id in the message
    err = await gql.error(UPDATE, {"id": "no-such", "v": 1, "i": {"city": "X"}})
    assert err["extensions"]["code"] == "NOT_FOUND"


async def test_double_submit_with_an_idempotency_key_creates_one_patient(gql: GQL, fhir_a: Any, tag: str) -> None:
    key = f"form-{tag}"
    first = await create(gql, tag, key, lastName=f"Once{tag}")
    again = await create(gql, tag, key, lastName=f"Once{tag}")
    assert again["patient"]["id"] == first["patient"]["id"]
    found = (await fhir_a.get("/Patient", params={"family": f"Once{tag}"})).json()
    assert len(found.get("entry", [])) == 1
    err = await gql.error(CREATE, {"i": {**name(tag), "lastName": f"Twice{tag}"}, "k": key})
    assert err["extensions"] == {"code": "CONFLICT", "field": "idempotencyKey"}
    # without a key, the same input twice is two patients (and the second sees the first as a duplicate)
    a = await create(gql, tag, lastName=f"NoKey{tag}", dateOfBirth="1990-01-02")
    b = await create(gql, tag, lastName=f"NoKey{tag}", dateOfBirth="1990-01-02")
    assert a["patient"]["id"] != b["patient"]["id"] and b["potentialDuplicates"] == [{"id": a["patient"]["id"]}]


async def test_phone_search_finds_any_spelling(gql: GQL, fhir_a: Any, tag: str) -> None:
    body = make_patient(family=f"Phone{tag}", tag=tag,
                        telecom=[{"system": "phone", "value": "(614) 555-9012", "use": "mobile"}])
    pid = await post(fhir_a, body)
    q = 'query($s: String) { patients(filter: {search: $s}) { edges { node { id } } } }'
    for spelling in ("(614) 555-9012", "614-555-9012", "6145559012", "555-9012", "+1 614 555 9012"):
        out = (await gql.run(q, {"s": spelling}))["patients"]["edges"]
        assert pid in [e["node"]["id"] for e in out], spelling
    out = (await gql.run(q, {"s": "614-555-0000"}))["patients"]["edges"]
    assert pid not in [e["node"]["id"] for e in out]


async def test_duplicate_checks_ignore_case_and_punctuation(gql: GQL, fhir_a: Any, tag: str) -> None:
    area = f"{uuid.uuid4().int % 900 + 100}"
    body = make_patient(family=f"Dup{tag}", tag=tag,
                        telecom=[{"system": "phone", "value": "(614) 555-7788", "use": "mobile"},
                                 {"system": "email", "value": f"Dup.{tag}@Example.com"}],
                        identifier=[{"system": "http://hl7.org/fhir/sid/us-ssn", "value": f"{area}-12-3456"}])
    pid = await post(fhir_a, body)
    q = """query($e: String, $m: String, $s: String) {
      checkDuplicatePatients(lastName: "Nobody", email: $e, mobilePhone: $m, ssn: $s) { id } }"""
    for args in ({"e": f"dup.{tag}@example.com"}, {"e": f"DUP.{tag}@EXAMPLE.COM"}, {"m": "614-555-7788"},
                 {"m": "6145557788"}, {"s": f"{area}123456"}, {"s": f"{area}-12-3456"}):
        found = (await gql.run(q, args))["checkDuplicatePatients"]
        assert [d["id"] for d in found] == [pid], args


async def test_unknown_provider_or_location_in_a_filter_is_not_found(gql: GQL) -> None:
    for flt, field in (({"primaryProviderId": "nope"}, "filter.primaryProviderId"),
                       ({"locationId": "nope"}, "filter.locationId")):
        for q in ('query($f: PatientFilter) { patients(filter: $f) { edges { cursor } } }',
                  'query($f: PatientFilter) { patientPage(filter: $f) { total } }'):
            err = await gql.error(q, {"f": flt})
            assert err["extensions"] == {"code": "NOT_FOUND", "field": field}, err


async def test_numbered_pages(gql: GQL, fhir_a: Any, tag: str) -> None:
    for i in range(5):
        await post(fhir_a, make_patient(family=f"Pg{tag}", given=[f"P{i}"], tag=tag,
                                        telecom=[], identifier=[]))
    q = """query($p: Int, $n: Int, $s: String) { patientPage(page: $p, pageSize: $n, filter: {search: $s},
             sort: {field: FIRST_NAME}) { page pageSize total items { firstName } } }"""
    pages = [(await gql.run(q, {"p": p, "n": 2, "s": f"Pg{tag}"}))["patientPage"] for p in (1, 2, 3, 4)]
    assert [p["total"] for p in pages] == [5, 5, 5, 5] and [p["page"] for p in pages] == [1, 2, 3, 4]
    assert [[i["firstName"] for i in p["items"]] for p in pages] == [["P0", "P1"], ["P2", "P3"], ["P4"], []]
    for args, field in (({"p": 0, "n": 2}, "page"), ({"p": 1, "n": 0}, "pageSize"), ({"p": 1, "n": 101}, "pageSize")):
        err = await gql.error(q, {**args, "s": f"Pg{tag}"})
        assert err["extensions"] == {"code": "VALIDATION", "field": field}


async def test_gender_and_marital_status_are_enums_mapped_to_fhir(gql: GQL, fhir_a: Any, tag: str) -> None:
    """Seed 003's six genders and seven marital statuses: GraphQL enums, stored as FHIR Patient.gender (the seed's
    word in an extension where FHIR has no code) and maritalStatus v3 codes (other: v3 NullFlavor OTH)."""
    fhir_gender = {"MALE": ("male", None), "FEMALE": ("female", None), "NON_BINARY": ("other", "non_binary"),
                   "OTHER": ("other", None), "UNKNOWN": ("unknown", None),
                   "PREFER_NOT_TO_SAY": ("unknown", "prefer_not_to_say")}
    marital = {"DIVORCED": ("D", "v3-MaritalStatus"), "DOMESTIC_PARTNER": ("T", "v3-MaritalStatus"),
               "MARRIED": ("M", "v3-MaritalStatus"), "SEPARATED": ("L", "v3-MaritalStatus"),
               "SINGLE": ("S", "v3-MaritalStatus"), "WIDOWED": ("W", "v3-MaritalStatus"),
               "OTHER": ("OTH", "v3-NullFlavor")}
    read = "query($id: ID!) { patient(id: $id) { gender maritalStatus } }"
    for (gender, (code, detail)), (status, (ms_code, ms_system)) in zip(fhir_gender.items(), marital.items(),
                                                                         strict=False):
        pid = (await create(gql, tag, gender=gender, maritalStatus=status))["patient"]["id"]
        assert (await gql.run(read, {"id": pid}))["patient"] == {"gender": gender, "maritalStatus": status}
        fhir = (await fhir_a.get(f"/Patient/{pid}")).json()
        assert fhir["gender"] == code
        assert [e.get("valueCode") for e in fhir.get("extension", ()) if e["url"] == EXT["gender-detail"]] == \
            ([detail] if detail else [])
        coding = fhir["maritalStatus"]["coding"][0]
        assert coding["code"] == ms_code and coding["system"].endswith(ms_system)
    pid = (await create(gql, tag, maritalStatus="OTHER"))["patient"]["id"]
    other = (await fhir_a.get(f"/Patient/{pid}")).json()
    assert other["maritalStatus"]["coding"][0] == {"system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
                                                   "code": "OTH"}
    # null clears both; codes written by other doors that the seed has no word for read as OTHER
    made = (await create(gql, tag, gender="NON_BINARY", maritalStatus="MARRIED"))["patient"]
    await gql.run(UPDATE, {"id": made["id"], "v": 1, "i": {"gender": None, "maritalStatus": None}})
    cleared = (await fhir_a.get(f"/Patient/{made['id']}")).json()
    assert "gender" not in cleared and "maritalStatus" not in cleared
    assert EXT["gender-detail"] not in {e["url"] for e in cleared.get("extension", ())}
    for code in ("U", "A", "UNK"):
        body = make_patient(tag=tag, maritalStatus={"coding": [{"system": "urn:x", "code": code}]})
        pid = (await fhir_a.post("/Patient", json=body)).json()["id"]
        assert (await gql.run(read, {"id": pid}))["patient"]["maritalStatus"] == "OTHER"
    # a gender another door changed without its detail reads as FHIR's own code
    body = make_patient(tag=tag, gender="unknown", extension=[{"url": EXT["gender-detail"], "valueCode": "non_binary"}])
    pid = (await fhir_a.post("/Patient", json=body)).json()["id"]
    assert (await gql.run(read, {"id": pid}))["patient"]["gender"] == "UNKNOWN"
