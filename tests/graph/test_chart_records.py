"""Updating and archiving chart records through GraphQL (seed 003): allergies, medications (discontinue),
problems (status lifecycle) and vital signs (one by id, flags recomputed). Each write is a store write: a new
version, seen through FHIR REST; archived records leave the lists and the medical summary."""

from __future__ import annotations

from typing import Any

from store.naming import EXT
from tests.factories import make_patient, make_practitioner
from tests.graph.conftest import GQL
from tests.graph.test_chart import post

ALLERGY = "id version allergen severity reaction isActive category dateAdverseReaction createdAt updatedAt deletedAt"


async def patient(fhir_a, tag: str, given: str = "Ana") -> str:
    return await post(fhir_a, make_patient(family=f"Chart{tag}", given=[given], tag=tag))


def ext_value(res: dict[str, Any], name: str) -> Any:
    return next((v for e in res.get("extension") or () if e["url"] == EXT[name]
                 for k, v in e.items() if k.startswith("value")), None)


async def test_record_allergy_keeps_severity_without_reaction(gql: GQL, fhir_a, tag: str) -> None:
    """Regression: recordAllergy dropped `severity` when no reaction was given."""
    pid = await patient(fhir_a, tag)
    made = (await gql.run(f"""mutation($p: ID!) {{ recordAllergy(patientId: $p, input: {{
        allergen: "Peanuts", severity: "severe", category: "food" }}) {{ {ALLERGY} }} }}""",
                          {"p": pid}))["recordAllergy"]
    assert made["severity"] == "severe" and made["reaction"] is None and made["version"] == 1
    listed = (await gql.run("query($p: ID!) { patient(id: $p) { allergies { edges { node { severity } } } } }",
                            {"p": pid}))["patient"]["allergies"]["edges"]
    assert listed == [{"node": {"severity": "severe"}}]
    bad = await gql.error('mutation($p: ID!) { recordAllergy(patientId: $p, input: {allergen: "Dust", '
                          'severity: "deadly"}) { id } }', {"p": pid})
    assert bad["extensions"] == {"code": "VALIDATION", "field": "input.severity"}


async def test_update_and_archive_allergy(gql: GQL, fhir_a, tag: str) -> None:
    pid = await patient(fhir_a, tag)
    made = (await gql.run("""mutation($p: ID!) { recordAllergy(patientId: $p, input: {
        allergen: "Latex", reaction: "Rash", severity: "mild" }) { id version createdAt } }""", {"p": pid}))
    made = made["recordAllergy"]
    upd = """mutation($p: ID!, $id: ID!, $v: Int!, $i: AllergyPatch!) {
        updateAllergy(patientId: $p, id: $id, baseVersion: $v, input: $i) { SEL } }""".replace("SEL", ALLERGY)
    out = (await gql.run(upd, {"p": pid, "id": made["id"], "v": 1,
                               "i": {"severity": "severe", "dateAdverseReaction": "2026-03-01"}}))["updateAllergy"]
    assert out["version"] == 2 and out["severity"] == "severe" and out["reaction"] == "Rash"
    assert out["dateAdverseReaction"] == "2026-03-01" and out["allergen"] == "Latex"
    assert out["createdAt"] == made["createdAt"] and out["updatedAt"] > made["createdAt"]
    # the reaction is cleared: the severity stays, now without a reaction
    out = (await gql.run(upd, {"p": pid, "id": made["id"], "v": 2, "i": {"reaction": None}}))["updateAllergy"]
    assert out["reaction"] is None and out["severity"] == "severe"
    stale = await gql.error(upd, {"p": pid, "id": made["id"], "v": 1, "i": {"isActive": False}})
    assert stale["extensions"]["code"] == "VERSION_CONFLICT"
    invalid = await gql.error(upd, {"p": pid, "id": made["id"], "v": 3, "i": {"allergen": " "}})
    assert invalid["extensions"] == {"code": "VALIDATION", "field": "input.allergen"}
    other = await patient(fhir_a, tag, "Other")
    elsewhere = await gql.error(upd, {"p": other, "id": made["id"], "v": 3, "i": {"isActive": False}})
    assert elsewhere["extensions"]["code"] == "NOT_FOUND"
    for missing, field in (({"p": pid, "id": "no-such-allergy"}, "id"),
                           ({"p": "no-such-patient", "id": made["id"]}, "patientId")):
        err = await gql.error(upd, {**missing, "v": 3, "i": {"isActive": False}})
        assert err["extensions"] == {"code": "NOT_FOUND", "field": field}
    rest = (await fhir_a.get(f"/AllergyIntolerance/{made['id']}")).json()
    assert rest["meta"]["versionId"] == "3" and ext_value(rest, "allergy-severity") == "severe"
    arch = """mutation($p: ID!, $id: ID!) { archiveAllergy(patientId: $p, id: $id) { id deletedAt } }"""
    archived = (await gql.run(arch, {"p": pid, "id": made["id"]}))["archiveAllergy"]
    assert archived["deletedAt"]
    after = (await gql.run("""query($p: ID!) { patient(id: $p) { allergies { totalCount }
        medicalSummary { allergies { id } } } }""", {"p": pid}))["patient"]
    assert after == {"allergies": {"totalCount": 0}, "medicalSummary": {"allergies": []}}
    again = await gql.error(arch, {"p": pid, "id": made["id"]})
    assert again["extensions"]["code"] == "NOT_FOUND"
    assert ext_value((await fhir_a.get(f"/AllergyIntolerance/{made['id']}")).json(), "archived-at")


MED = "id version name status isActive dosage frequency route dateStart dateStop discontinuationReason providerId"


async def test_update_discontinue_and_archive_medication(gql: GQL, fhir_a, tag: str) -> None:
    pid = await patient(fhir_a, tag)
    doc = await post(fhir_a, make_practitioner(family=f"Doc{tag}", tag=tag))
    made = (await gql.run("""mutation($p: ID!, $d: ID!) { recordMedication(patientId: $p, input: {
        name: "Lisinopril 10 MG Oral Tablet", rxCui: "314076", dosage: "10 mg", frequency: "once daily",
        route: "oral", dateStart: "2026-01-01", providerId: $d }) { SEL } }""".replace("SEL", MED),
                          {"p": pid, "d": doc}))["recordMedication"]
    assert made["frequency"] == "once daily" and made["route"] == "oral" and made["providerId"] == doc
    upd = """mutation($p: ID!, $id: ID!, $v: Int!, $i: MedicationPatch!) {
        updateMedication(patientId: $p, id: $id, baseVersion: $v, input: $i) { SEL } }""".replace("SEL", MED)
    out = (await gql.run(upd, {"p": pid, "id": made["id"], "v": 1, "i": {"dosage": "20 mg", "route": None}}))
    assert out["updateMedication"]["dosage"] == "20 mg" and out["updateMedication"]["route"] is None
    assert out["updateMedication"]["frequency"] == "once daily" and out["updateMedication"]["version"] == 2
    for bad, field in (({"status": "paused"}, "status"), ({"dateStop": "2025-01-01"}, "dateStop")):
        err = await gql.error(upd, {"p": pid, "id": made["id"], "v": 2, "i": bad})
        assert err["extensions"] == {"code": "VALIDATION", "field": f"input.{field}"}
    nobody = await gql.error(upd, {"p": pid, "id": made["id"], "v": 2, "i": {"providerId": "no-such-doc"}})
    assert nobody["extensions"] == {"code": "NOT_FOUND", "field": "input.providerId"}
    stop = """mutation($p: ID!, $id: ID!, $v: Int!, $r: String!) {
        discontinueMedication(patientId: $p, id: $id, baseVersion: $v, reason: $r, dateStop: "2026-06-01") { SEL } }"""
    empty = await gql.error(stop.replace("SEL", MED), {"p": pid, "id": made["id"], "v": 2, "r": "  "})
    assert empty["extensions"] == {"code": "VALIDATION", "field": "reason"}
    done = (await gql.run(stop.replace("SEL", MED), {"p": pid, "id": made["id"], "v": 2, "r": "Cough"}))
    done = done["discontinueMedication"]
    assert done["status"] == "discontinued" and done["isActive"] is False
    assert done["discontinuationReason"] == "Cough" and done["dateStop"] == "2026-06-01"
    twice = await gql.error(stop.replace("SEL", "id"), {"p": pid, "id": made["id"], "v": 3, "r": "Again"})
    assert twice["extensions"]["code"] == "INVALID_TRANSITION"
    rest = (await fhir_a.get(f"/MedicationStatement/{made['id']}")).json()
    assert rest["status"] == "stopped" and rest["statusReason"] == [{"text": "Cough"}]
    summary = """query($p: ID!) { patient(id: $p) { medicalSummary { currentMedications { id }
        pastMedications { id } onHoldMedications { id } } medications { totalCount } } }"""
    assert (await gql.run(summary, {"p": pid}))["patient"]["medicalSummary"]["pastMedications"] == [
        {"id": made["id"]}]
    await gql.run("mutation($p: ID!, $id: ID!) { archiveMedication(patientId: $p, id: $id, baseVersion: 3) { id } }",
                  {"p": pid, "id": made["id"]})
    after = (await gql.run(summary, {"p": pid}))["patient"]
    assert after == {"medicalSummary": {"currentMedications": [], "pastMedications": [], "onHoldMedications": []},
                     "medications": {"totalCount": 0}}


async def test_on_hold_medications_are_not_past(gql: GQL, fhir_a, tag: str) -> None:
    """Regression: on-hold medications were listed as past medications."""
    pid = await patient(fhir_a, tag)
    for name, status in (("Warfarin", "on_hold"), ("Amoxicillin", "completed"), ("Metformin", "active")):
        await gql.run("""mutation($p: ID!, $n: String!, $s: String!) {
            recordMedication(patientId: $p, input: {name: $n, status: $s}) { id } }""",
                      {"p": pid, "n": name, "s": status})
    s = (await gql.run("""query($p: ID!) { patient(id: $p) { medicalSummary { currentMedications { name }
        pastMedications { name } onHoldMedications { name status } } } }""", {"p": pid}))["patient"]["medicalSummary"]
    assert s == {"currentMedications": [{"name": "Metformin"}], "pastMedications": [{"name": "Amoxicillin"}],
                 "onHoldMedications": [{"name": "Warfarin", "status": "on_hold"}]}


PROBLEM = "id version name status functionStatus snomedProblemType dateStart dateStop note"


async def test_problem_status_lifecycle(gql: GQL, fhir_a, tag: str) -> None:
    pid = await patient(fhir_a, tag)
    made = (await gql.run("""mutation($p: ID!) { recordProblem(patientId: $p, input: {
        name: "Bronchitis", dateStart: "2026-01-05", functionStatus: FUNCTIONAL_PROBLEM,
        snomedProblemType: "282291009" }) { SEL } }"""
                          .replace("SEL", PROBLEM),
                          {"p": pid}))["recordProblem"]
    assert made["status"] == "ACTIVE" and made["functionStatus"] == "FUNCTIONAL_PROBLEM"
    upd = """mutation($p: ID!, $id: ID!, $v: Int!, $i: ProblemPatch!) {
        updateProblem(patientId: $p, id: $id, baseVersion: $v, input: $i) { SEL } }""".replace("SEL", PROBLEM)
    active_stop = await gql.error(upd, {"p": pid, "id": made["id"], "v": 1, "i": {"dateStop": "2026-02-01"}})
    assert active_stop["extensions"] == {"code": "VALIDATION", "field": "input.dateStop"}
    resolved = (await gql.run(upd, {"p": pid, "id": made["id"], "v": 1,
                                    "i": {"status": "RESOLVED", "dateStop": "2026-02-01", "note": "Cleared"}}))
    assert resolved["updateProblem"] | {"id": None} == {
        "id": None, "version": 2, "name": "Bronchitis", "status": "RESOLVED", "functionStatus": "FUNCTIONAL_PROBLEM",
        "snomedProblemType": "282291009", "dateStart": "2026-01-05", "dateStop": "2026-02-01", "note": "Cleared"}
    listed = """query($p: ID!) { patient(id: $p) { active: problems(status: ACTIVE) { totalCount }
        resolved: problems(status: RESOLVED) { totalCount } medicalSummary { activeProblems { id } } } }"""
    assert (await gql.run(listed, {"p": pid}))["patient"] == {"active": {"totalCount": 0},
                                                              "resolved": {"totalCount": 1},
                                                              "medicalSummary": {"activeProblems": []}}
    inactive = (await gql.run(upd, {"p": pid, "id": made["id"], "v": 2, "i": {"status": "INACTIVE"}}))
    assert inactive["updateProblem"]["status"] == "INACTIVE"
    backwards = await gql.error(upd, {"p": pid, "id": made["id"], "v": 3, "i": {"status": "RESOLVED"}})
    assert backwards["extensions"] == {"code": "INVALID_TRANSITION", "current": "inactive", "target": "resolved"}
    # seed 003's lifecycle goes forward only: no way back to active (a problem that comes back is recorded again)
    relapse = await gql.error(upd, {"p": pid, "id": made["id"], "v": 3, "i": {"status": "ACTIVE"}})
    assert relapse["extensions"] == {"code": "INVALID_TRANSITION", "current": "inactive", "target": "active"}
    rest = (await fhir_a.get(f"/Condition/{made['id']}")).json()
    assert rest["clinicalStatus"]["coding"][0]["code"] == "inactive" and rest["abatementDateTime"] == "2026-02-01"
    await gql.run("mutation($p: ID!, $id: ID!) { archiveProblem(patientId: $p, id: $id) { deletedAt } }",
                  {"p": pid, "id": made["id"]})
    assert (await gql.run(listed, {"p": pid}))["patient"]["medicalSummary"]["activeProblems"] == []
    gone = await gql.error(upd, {"p": pid, "id": made["id"], "v": 4, "i": {"note": "x"}})
    assert gone["extensions"]["code"] == "NOT_FOUND"


async def test_a_resolved_problem_does_not_become_active_again(gql: GQL, fhir_a, tag: str) -> None:
    """Seen by a review: RESOLVED → ACTIVE was accepted and cleared dateStop."""
    pid = await patient(fhir_a, tag)
    made = (await gql.run("""mutation($p: ID!) { recordProblem(patientId: $p, input: {name: "Gout",
        dateStart: "2026-01-05"}) { id } }""", {"p": pid}))["recordProblem"]
    upd = """mutation($p: ID!, $id: ID!, $v: Int!, $i: ProblemPatch!) {
        updateProblem(patientId: $p, id: $id, baseVersion: $v, input: $i) { status dateStop version } }"""
    done = await gql.run(upd, {"p": pid, "id": made["id"], "v": 1, "i": {"status": "RESOLVED",
                                                                         "dateStop": "2026-02-01"}})
    assert done["updateProblem"] == {"status": "RESOLVED", "dateStop": "2026-02-01", "version": 2}
    err = await gql.error(upd, {"p": pid, "id": made["id"], "v": 2, "i": {"status": "ACTIVE"}})
    assert err["extensions"] == {"code": "INVALID_TRANSITION", "current": "resolved", "target": "active"}
    assert "recordProblem" in err["message"]
    kept = (await gql.run("""query($p: ID!) { patient(id: $p) { problems { nodes { status dateStop version } } } }""",
                          {"p": pid}))["patient"]["problems"]["nodes"]
    assert kept == [{"status": "RESOLVED", "dateStop": "2026-02-01", "version": 2}]


async def test_a_free_text_problem_carries_an_icd10_code(gql: GQL, fhir_a, tag: str) -> None:
    """Regression: an ICD-10-CM code could only come from a disease definition."""
    pid = await patient(fhir_a, tag)
    rec = """mutation($p: ID!, $i: ProblemInput!) { recordProblem(patientId: $p, input: $i) {
        id name snomedCode icd10Code } }"""
    made = (await gql.run(rec, {"p": pid, "i": {"name": "Essential hypertension", "icd10Code": " i10 "}}))
    made = made["recordProblem"]
    assert (made["name"], made["snomedCode"], made["icd10Code"]) == ("Essential hypertension", None, "I10")
    code = (await fhir_a.get(f"/Condition/{made['id']}")).json()["code"]
    assert code == {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I10",
                                "display": "Essential hypertension"}], "text": "Essential hypertension"}
    read = """query($p: ID!) { patient(id: $p) { problems { nodes { id icd10Code } }
        medicalSummary { activeProblems { icd10Code } } } }"""
    got = (await gql.run(read, {"p": pid}))["patient"]
    assert got == {"problems": {"nodes": [{"id": made["id"], "icd10Code": "I10"}]},
                   "medicalSummary": {"activeProblems": [{"icd10Code": "I10"}]}}
    for bad in ("hypertension", "I", "U07.1", "E11.12345"):
        err = await gql.error(rec, {"p": pid, "i": {"name": "X", "icd10Code": bad}})
        assert err["extensions"] == {"code": "VALIDATION", "field": "input.icd10Code"}, bad
    upd = """mutation($p: ID!, $id: ID!, $v: Int!, $i: ProblemPatch!) {
        updateProblem(patientId: $p, id: $id, baseVersion: $v, input: $i) { version snomedCode icd10Code } }"""
    changed = (await gql.run(upd, {"p": pid, "id": made["id"], "v": 1, "i": {"icd10Code": "i11.9",
                                                                             "snomedCode": "38341003"}}))
    assert changed["updateProblem"] == {"version": 2, "snomedCode": "38341003", "icd10Code": "I11.9"}
    bad = await gql.error(upd, {"p": pid, "id": made["id"], "v": 2, "i": {"icd10Code": "11.9"}})
    assert bad["extensions"] == {"code": "VALIDATION", "field": "input.icd10Code"}
    cleared = (await gql.run(upd, {"p": pid, "id": made["id"], "v": 2, "i": {"icd10Code": None}}))
    assert cleared["updateProblem"] == {"version": 3, "snomedCode": "38341003", "icd10Code": None}
    # a definition supplies its own code: sending one beside it is refused, as its name and SNOMED CT code are
    disease = (await gql.run('mutation($n: String!) { createDiseaseDefinition(input: {name: $n, icd10Code: "E11.9"}) '
                             '{ id } }', {"n": f"Diabetes {tag}"}))["createDiseaseDefinition"]
    both = await gql.error(rec, {"p": pid, "i": {"diseaseDefinitionId": disease["id"], "icd10Code": "E11.65"}})
    assert both["extensions"] == {"code": "VALIDATION", "field": "input.icd10Code"}


VITALS = "id version dateTaken timeTaken bpSystolic bpDiastolic pulse bmiPercentile hasFollowupPlan " \
         "isProcedureBlocking abnormalFlags { vital severity } deletedAt"


async def test_vital_signs_by_id_update_and_archive(gql: GQL, fhir_a, tag: str) -> None:
    pid = await patient(fhir_a, tag)
    made = (await gql.run("""mutation($p: ID!) { recordVitalSigns(patientId: $p, input: {
        dateTaken: "2026-10-01", timeTaken: "09:30", bpSystolic: 190, bpDiastolic: 85, pulse: 72 }) { id } }""",
                          {"p": pid}))["recordVitalSigns"]
    one = "query($p: ID!, $id: ID!) { vitalSigns(patientId: $p, id: $id) { SEL } }".replace("SEL", VITALS)
    got = (await gql.run(one, {"p": pid, "id": made["id"]}))["vitalSigns"]
    assert got["isProcedureBlocking"] is True and got["abnormalFlags"] == [{"vital": "bp_systolic",
                                                                            "severity": "CRITICAL"}]
    for missing in ({"p": pid, "id": "nope"}, {"p": "nobody", "id": made["id"]},
                    {"p": await patient(fhir_a, tag, "Other"), "id": made["id"]}):
        assert (await gql.error(one, missing))["extensions"]["code"] == "NOT_FOUND"
    upd = """mutation($p: ID!, $id: ID!, $v: Int!, $i: VitalSignsPatch!) {
        updateVitalSigns(patientId: $p, id: $id, baseVersion: $v, input: $i) { SEL } }""".replace("SEL", VITALS)
    fixed = (await gql.run(upd, {"p": pid, "id": made["id"], "v": 1,
                                 "i": {"bpSystolic": 130, "hasFollowupPlan": True, "bmiPercentile": 55}}))
    fixed = fixed["updateVitalSigns"]
    assert fixed["bpSystolic"] == 130 and fixed["pulse"] == 72 and fixed["timeTaken"] == "09:30:00"
    assert fixed["abnormalFlags"] == [] and fixed["isProcedureBlocking"] is False
    assert fixed["hasFollowupPlan"] is True and fixed["bmiPercentile"] == 55 and fixed["version"] == 2
    for bad, field in (({"oxygenSaturation": 101}, "oxygenSaturation"), ({"pulse": -1}, "pulse"),
                       ({"dateTaken": "yesterday"}, "dateTaken"), ({"timeTaken": "25:00"}, "timeTaken")):
        err = await gql.error(upd, {"p": pid, "id": made["id"], "v": 2, "i": bad})
        assert err["extensions"] == {"code": "VALIDATION", "field": f"input.{field}"}
    stale = await gql.error(upd, {"p": pid, "id": made["id"], "v": 1, "i": {"pulse": 80}})
    assert stale["extensions"]["code"] == "VERSION_CONFLICT"
    coded = (await gql.run(upd.replace(VITALS, "weightCode weightLbs"),
                           {"p": pid, "id": made["id"], "v": 2, "i": {"weightLbs": 150, "weightCode": "W2"}}))
    assert coded["updateVitalSigns"] == {"weightCode": "W2", "weightLbs": 150}
    cleared = (await gql.run(upd.replace(VITALS, "weightCode version"),
                             {"p": pid, "id": made["id"], "v": 3, "i": {"weightCode": None}}))["updateVitalSigns"]
    assert cleared == {"weightCode": None, "version": 4}
    rest = (await fhir_a.get(f"/Observation/{made['id']}")).json()
    assert rest["status"] == "amended" and rest["meta"]["versionId"] == "4"
    assert not any("interpretation" in c for c in rest["component"])
    archived = (await gql.run("""mutation($p: ID!, $id: ID!) { archiveVitalSigns(patientId: $p, id: $id,
        baseVersion: 4) { deletedAt } }""", {"p": pid, "id": made["id"]}))["archiveVitalSigns"]
    assert archived["deletedAt"]
    assert (await gql.error(one, {"p": pid, "id": made["id"]}))["extensions"]["code"] == "NOT_FOUND"
    lists = (await gql.run("""query($p: ID!) { patient(id: $p) { vitalSigns { totalCount }
        medicalSummary { latestVitals { id } } } }""", {"p": pid}))["patient"]
    assert lists == {"vitalSigns": {"totalCount": 0}, "medicalSummary": {"latestVitals": None}}


async def test_chart_creates_take_an_idempotency_key(gql: GQL, fhir_a, tag: str) -> None:
    """Seed 003: a create repeated with the same key answers the first record (409 when the key is misused)."""
    pid = await patient(fhir_a, tag)
    rec = """mutation($p: ID!, $a: String!, $k: String) {
        recordAllergy(patientId: $p, input: {allergen: $a}, idempotencyKey: $k) { id allergen } }"""
    first = (await gql.run(rec, {"p": pid, "a": "Sulfa", "k": f"{tag}-a"}))["recordAllergy"]
    again = (await gql.run(rec, {"p": pid, "a": "Sulfa", "k": f"{tag}-a"}))["recordAllergy"]
    assert again == first
    other = await gql.error(rec, {"p": pid, "a": "Latex", "k": f"{tag}-a"})
    assert other["extensions"] == {"code": "CONFLICT", "field": "idempotencyKey"}
    assert (await gql.error(rec, {"p": pid, "a": "Latex", "k": ""}))["extensions"]["code"] == "VALIDATION"
    log = """mutation($p: ID!, $k: String) { createCommunicationLog(patientId: $p, idempotencyKey: $k,
        input: {communicationDatetime: "2026-10-03T09:00:00Z", note: "Called"}) { id } }"""
    logged = [(await gql.run(log, {"p": pid, "k": f"{tag}-c"}))["createCommunicationLog"]["id"] for _ in range(2)]
    assert logged[0] == logged[1]
    counts = (await gql.run("""query($p: ID!) { patient(id: $p) { allergies { totalCount }
        communicationLogs { totalCount } } }""", {"p": pid}))["patient"]
    assert counts == {"allergies": {"totalCount": 1}, "communicationLogs": {"totalCount": 1}}


async def test_cpoe_medication_has_an_order_that_follows_it(gql: GQL, fhir_a, tag: str) -> None:
    """A CPOE entry is an order (MedicationRequest) and the list entry based on it (MedicationStatement)."""
    pid = await patient(fhir_a, tag)
    made = (await gql.run("""mutation($p: ID!) { recordMedication(patientId: $p, input: {name: "Amoxicillin 500 MG",
        dosage: "500 mg", frequency: "three times daily", isCpoe: true}) { id version isCpoe } }""",
                          {"p": pid}))["recordMedication"]
    assert made["isCpoe"] is True
    statement = (await fhir_a.get(f"/MedicationStatement/{made['id']}")).json()
    [based_on] = statement["basedOn"]
    order_id = based_on["reference"].removeprefix("MedicationRequest/")
    order = (await fhir_a.get(f"/MedicationRequest/{order_id}")).json()
    assert (order["status"], order["intent"], order["subject"]) == ("active", "order", {"reference": f"Patient/{pid}"})
    assert order["dosageInstruction"][0]["text"] == "500 mg"
    await gql.run("""mutation($p: ID!, $id: ID!) { discontinueMedication(patientId: $p, id: $id, baseVersion: 1,
        reason: "Rash") { status } }""", {"p": pid, "id": made["id"]})
    order = (await fhir_a.get(f"/MedicationRequest/{order_id}")).json()
    assert order["status"] == "stopped" and order["statusReason"] == {"text": "Rash"}
    plain = (await gql.run("""mutation($p: ID!) { recordMedication(patientId: $p, input: {name: "Vitamin D"}) {
        id isCpoe } }""", {"p": pid}))["recordMedication"]
    assert plain["isCpoe"] is False
    assert "basedOn" not in (await fhir_a.get(f"/MedicationStatement/{plain['id']}")).json()


async def test_bmi_is_computed_from_height_and_weight(gql: GQL, fhir_a, tag: str) -> None:
    pid = await patient(fhir_a, tag)
    made = (await gql.run("""mutation($p: ID!) { recordVitalSigns(patientId: $p, input: {dateTaken: "2026-10-01",
        heightInches: 70, weightLbs: 154}) { id bmi } }""", {"p": pid}))["recordVitalSigns"]
    assert made["bmi"] == 22.1  # 703 × 154 lb / (70 in)²
    heavier = (await gql.run("""mutation($p: ID!, $id: ID!) { updateVitalSigns(patientId: $p, id: $id, baseVersion: 1,
        input: {weightLbs: 230}) { bmi abnormalFlags { vital severity } } }""", {"p": pid, "id": made["id"]}))
    assert heavier["updateVitalSigns"] == {"bmi": 33.0, "abnormalFlags": [{"vital": "bmi", "severity": "WARNING"}]}
    given = (await gql.run("""mutation($p: ID!) { recordVitalSigns(patientId: $p, input: {dateTaken: "2026-10-02",
        heightInches: 70, weightLbs: 154, bmi: 25}) { bmi } }""", {"p": pid}))["recordVitalSigns"]
    assert given["bmi"] == 25


async def test_a_provider_is_named_alike_on_the_patient_and_on_chart_records(gql: GQL, fhir_a, tag: str) -> None:
    doc_res = make_practitioner(family=f"Doc{tag}", tag=tag)
    doc_res["name"][0].update({"text": f"Dr. Ada Doc{tag}, DDS", "given": ["Ada"], "prefix": ["Dr."]})
    doc = await post(fhir_a, doc_res)
    pid = (await gql.run("mutation($d: ID!, $n: String!) { createPatient(input: {firstName: \"Ana\", lastName: $n, "
                         "dateOfBirth: \"1990-01-01\", primaryProviderId: $d}) { patient { id } } }",
                         {"d": doc, "n": f"Chart{tag}"}))["createPatient"]["patient"]["id"]
    await gql.run("mutation($p: ID!, $d: ID!) { recordMedication(patientId: $p, input: {name: \"Amoxicillin\", "
                  "dateStart: \"2026-01-01\", providerId: $d}) { id } "
                  "recordVitalSigns(patientId: $p, input: {dateTaken: \"2026-01-02\", pulse: 70, providerId: $d}) "
                  "{ id } }", {"p": pid, "d": doc})
    got = (await gql.run("query($p: ID!) { patient(id: $p) { primaryProvider { name } medications { edges { node { "
                         "provider { name } } } } vitalSigns { edges { node { provider { name } } } } } }",
                         {"p": pid}))["patient"]
    names = {got["primaryProvider"]["name"], got["medications"]["edges"][0]["node"]["provider"]["name"],
             got["vitalSigns"]["edges"][0]["node"]["provider"]["name"]}
    assert names == {f"Dr. Ada Doc{tag}, DDS"}
