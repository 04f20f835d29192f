"""Relationships as seed 003 directs them (from a source patient to a target; `isGuardian`: the source is the
target's legal guardian), their update and archive; communication logs (append-only, with their source);
drug–allergy interaction warnings on recording an allergy or a medication."""

from __future__ import annotations

from store.naming import CS, EXT
from tests.conftest import fhir_calls
from tests.factories import make_practitioner
from tests.graph.conftest import GQL
from tests.graph.test_chart import cc, post
from tests.graph.test_chart_records import patient

REL = "id version relationshipType isGuardian note patientId patientName relatedPatientId relatedPatientName " \
      "relatedPatient { firstName } deletedAt"
CREATE_REL = """mutation($p: ID!, $q: ID!, $t: String!, $g: Boolean, $n: String) {
  createRelationship(patientId: $p, input: {relatedPatientId: $q, relationshipType: $t, isGuardian: $g, note: $n}) {
    SEL } }""".replace("SEL", REL)
FAMILY = """query($p: ID!) { patient(id: $p) {
  relationships { id relationshipType }
  family { guardians { patientId relationshipType isGuardian } dependents { relatedPatientId relationshipType
           relatedPatientName } relationships { id } } } }"""


async def test_relationship_direction_guardians_and_dependents(gql: GQL, fhir_a, tag: str) -> None:
    """Regressions: dependents were reported from the wrong side, isGuardian meant the reverse of the seed,
    relatedPatientName was null for relationships created through the API."""
    mom = await patient(fhir_a, tag, "Mom")
    kid = await patient(fhir_a, tag, "Kid")
    made = (await gql.run(CREATE_REL, {"p": mom, "q": kid, "t": "parent", "g": True, "n": "Custodial"}))
    rel = made["createRelationship"]
    assert rel | {"id": None} == {
        "id": None, "version": 1, "relationshipType": "parent", "isGuardian": True, "note": "Custodial",
        "patientId": mom, "patientName": f"Mom Chart{tag}", "relatedPatientId": kid,
        "relatedPatientName": f"Kid Chart{tag}", "relatedPatient": {"firstName": "Kid"}, "deletedAt": None}
    of_mom = (await gql.run(FAMILY, {"p": mom}))["patient"]
    assert of_mom["relationships"] == [{"id": rel["id"], "relationshipType": "parent"}]
    assert of_mom["family"]["dependents"] == [{"relatedPatientId": kid, "relationshipType": "parent",
                                               "relatedPatientName": f"Kid Chart{tag}"}]
    assert of_mom["family"]["guardians"] == []
    of_kid = (await gql.run(FAMILY, {"p": kid}))["patient"]
    assert of_kid["relationships"] == [] and of_kid["family"]["dependents"] == []
    assert of_kid["family"]["guardians"] == [{"patientId": mom, "relationshipType": "parent", "isGuardian": True}]
    # in FHIR: the source is the related person, the target its patient
    rp = (await fhir_a.get(f"/RelatedPerson/{rel['id']}")).json()
    assert rp["patient"]["reference"] == f"Patient/{kid}"
    assert {e["url"]: e.get("valueReference", e.get("valueBoolean", e.get("valueString"))) for e in rp["extension"]} \
        == {EXT["related-patient"]: {"reference": f"Patient/{mom}", "display": f"Mom Chart{tag}"},
            EXT["is-guardian"]: True, EXT["relationship-note"]: "Custodial"}
    # a guardian type is a guardian unless told otherwise; a sibling is not
    aunt = await patient(fhir_a, tag, "Aunt")
    assert (await gql.run(CREATE_REL, {"p": aunt, "q": kid, "t": "guardian"}))["createRelationship"]["isGuardian"]
    assert not (await gql.run(CREATE_REL, {"p": kid, "q": aunt, "t": "sibling"}))["createRelationship"]["isGuardian"]
    guardians = (await gql.run(FAMILY, {"p": kid}))["patient"]["family"]["guardians"]
    assert sorted(g["patientId"] for g in guardians) == sorted([mom, aunt])
    missing = await gql.error(CREATE_REL, {"p": mom, "q": "no-such-patient", "t": "parent"})
    assert missing["extensions"] == {"code": "NOT_FOUND", "field": "input.relatedPatientId"}


async def test_update_and_archive_relationship(gql: GQL, fhir_a, tag: str) -> None:
    a, b = await patient(fhir_a, tag, "Ann"), await patient(fhir_a, tag, "Bob")
    rel = (await gql.run(CREATE_REL, {"p": a, "q": b, "t": "spouse"}))["createRelationship"]
    upd = """mutation($p: ID!, $id: ID!, $v: Int!, $i: RelationshipPatch!) {
        updateRelationship(patientId: $p, id: $id, baseVersion: $v, input: $i) { SEL } }""".replace("SEL", REL)
    out = (await gql.run(upd, {"p": a, "id": rel["id"], "v": 1,
                               "i": {"relationshipType": "caregiver", "isGuardian": True, "note": "POA"}}))
    out = out["updateRelationship"]
    assert (out["version"], out["relationshipType"], out["isGuardian"], out["note"]) == (2, "caregiver", True, "POA")
    for bad in ({"relationshipType": "frenemy"}, {"relationshipType": None}):
        err = await gql.error(upd, {"p": a, "id": rel["id"], "v": 2, "i": bad})
        assert err["extensions"] == {"code": "VALIDATION", "field": "input.relationshipType"}
    stale = await gql.error(upd, {"p": a, "id": rel["id"], "v": 1, "i": {"note": None}})
    assert stale["extensions"]["code"] == "VERSION_CONFLICT"
    # listed under its source only: the target cannot change it
    wrong_side = await gql.error(upd, {"p": b, "id": rel["id"], "v": 2, "i": {"note": None}})
    assert wrong_side["extensions"]["code"] == "NOT_FOUND"
    cleared = (await gql.run(upd, {"p": a, "id": rel["id"], "v": 2, "i": {"note": None}}))["updateRelationship"]
    assert cleared["note"] is None
    arch = "mutation($p: ID!, $id: ID!) { archiveRelationship(patientId: $p, id: $id) { deletedAt } }"
    assert (await gql.run(arch, {"p": a, "id": rel["id"]}))["archiveRelationship"]["deletedAt"]
    assert (await gql.run(FAMILY, {"p": a}))["patient"]["relationships"] == []
    assert (await gql.run(FAMILY, {"p": b}))["patient"]["family"]["guardians"] == []
    assert (await gql.error(arch, {"p": a, "id": rel["id"]}))["extensions"]["code"] == "NOT_FOUND"
    assert (await fhir_a.get(f"/RelatedPerson/{rel['id']}")).json()["active"] is False


LOG = """mutation($p: ID!, $i: CommunicationLogInput!) { createCommunicationLog(patientId: $p, input: $i) {
  id communicationDatetime mode direction source category note appointmentId createdAt createdBy { id name } } }"""


async def test_communication_log_created_by_is_the_practitioner_read_in_one_batch(gql: GQL, fhir_a, tag: str
                                                                                   ) -> None:
    """createdBy is {id, name} (seed 003), the name read from the practitioner the entry's recorder (or, for an
    entry written elsewhere, its practitioner sender) names: one batched read for every entry's."""
    docs = [await post(fhir_a, make_practitioner(family=f"Doc{i}{tag}", tag=tag)) for i in range(3)]
    pids = [await patient(fhir_a, tag, f"Log{i}") for i in range(3)]

    def entry(pid: str, **more: object) -> dict[str, object]:
        return {"resourceType": "Communication", "status": "completed", "subject": {"reference": f"Patient/{pid}"},
                "sent": "2026-10-01T08:00:00Z", **more}

    for pid, doc in zip(pids, docs, strict=True):
        await post(fhir_a, entry(pid, extension=[{"url": EXT["communication-recorder"], "valueReference": {
            "reference": f"Practitioner/{doc}", "display": "staff-login"}}]))
    await post(fhir_a, entry(pids[0], sent="2026-10-02T08:00:00Z", sender={"reference": f"Practitioner/{docs[1]}"}))
    await post(fhir_a, entry(pids[0], sent="2026-10-03T08:00:00Z", sender={"reference": f"Patient/{pids[0]}"}))
    q = "query { " + " ".join(f'p{i}: patient(id: "{pid}") {{ communicationLogs {{ nodes {{ createdBy {{ id name }} '
                              '} } }' for i, pid in enumerate(pids)) + " }"
    before = fhir_calls()
    data = await gql.run(q)
    after = fhir_calls()
    assert after.get(("find", "Practitioner"), 0) - before.get(("find", "Practitioner"), 0) == 1
    by = [[n["createdBy"] for n in data[f"p{i}"]["communicationLogs"]["nodes"]] for i in range(3)]
    assert by[0] == [None, {"id": docs[1], "name": f"Dr. Wei Doc1{tag}"}, {"id": docs[0], "name": f"Dr. Wei Doc0{tag}"}]
    assert by[1] == [{"id": docs[1], "name": f"Dr. Wei Doc1{tag}"}]
    assert by[2] == [{"id": docs[2], "name": f"Dr. Wei Doc2{tag}"}]


async def test_vital_signs_created_by_on_every_answer_read_in_one_batch(gql: GQL, fhir_a, tag: str) -> None:
    """Seed 003 gives vital signs a created_by: {id, name} as communication logs have it, on the list, the
    one-by-id read and every write's answer; the practitioners named are read in one batch."""
    pid = await patient(fhir_a, tag, "Vit")
    by_key = {"id": "api-key:graph-a", "name": "api-key:graph-a"}
    made = (await gql.run("""mutation($p: ID!) { recordVitalSigns(patientId: $p, input: {
        dateTaken: "2026-10-01", pulse: 72 }) { id createdBy { id name } } }""", {"p": pid}))["recordVitalSigns"]
    assert made["createdBy"] == by_key
    upd = (await gql.run("""mutation($p: ID!, $id: ID!) { updateVitalSigns(patientId: $p, id: $id, baseVersion: 1,
        input: {pulse: 75}) { createdBy { id } } }""", {"p": pid, "id": made["id"]}))["updateVitalSigns"]
    assert upd["createdBy"] == {"id": "api-key:graph-a"}  # who recorded it, not who changed it
    one = (await gql.run("query($p: ID!, $id: ID!) { vitalSigns(patientId: $p, id: $id) { createdBy { name } } }",
                         {"p": pid, "id": made["id"]}))["vitalSigns"]
    assert one["createdBy"] == {"name": "api-key:graph-a"}
    docs = [await post(fhir_a, make_practitioner(family=f"Vit{i}{tag}", tag=tag)) for i in range(2)]
    for i, doc in enumerate(docs):
        await post(fhir_a, {"resourceType": "Observation", "status": "final", "subject": {"reference":
                   f"Patient/{pid}"}, "effectiveDateTime": f"2026-10-0{i + 2}T08:00:00Z",
                   "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")],
                   "code": cc("http://loinc.org", "85353-1"),
                   "component": [{"code": cc("http://loinc.org", "8867-4"),
                                  "valueQuantity": {"value": 70 + i, "unit": "/min"}}],
                   "extension": [{"url": EXT["vitals-recorder"], "valueReference": {
                       "reference": f"Practitioner/{doc}", "display": "staff-login"}}]})
    before = fhir_calls()
    rows = (await gql.run("""query($p: ID!) { patient(id: $p) {
        vitalSigns { nodes { pulse createdBy { id name } } } } }""", {"p": pid}))["patient"]["vitalSigns"]["nodes"]
    after = fhir_calls()
    assert after.get(("find", "Practitioner"), 0) - before.get(("find", "Practitioner"), 0) == 1
    assert [r["createdBy"] for r in rows] == [{"id": docs[1], "name": f"Dr. Wei Vit1{tag}"},
                                              {"id": docs[0], "name": f"Dr. Wei Vit0{tag}"}, by_key]
    archived = (await gql.run("""mutation($p: ID!, $id: ID!) { archiveVitalSigns(patientId: $p, id: $id) {
        createdBy { id } } }""", {"p": pid, "id": made["id"]}))["archiveVitalSigns"]
    assert archived["createdBy"] == {"id": "api-key:graph-a"}


async def test_create_communication_log_and_filters(gql: GQL, fhir_a, tag: str) -> None:
    pid = await patient(fhir_a, tag)
    made = (await gql.run(LOG, {"p": pid, "i": {"communicationDatetime": "2026-10-03T09:00Z", "mode": "phone",
                                                "direction": "received", "note": "Asked about the bill",
                                                "category": "billing"}}))["createCommunicationLog"]
    assert made["createdAt"]
    assert made | {"id": None, "createdAt": None} == {
        "id": None, "createdAt": None, "createdBy": {"id": "api-key:graph-a", "name": "api-key:graph-a"},
        "communicationDatetime": "2026-10-03T09:00:00Z", "mode": "phone",
        "direction": "RECEIVED", "source": "user", "category": "billing", "note": "Asked about the bill",
        "appointmentId": None}
    # written elsewhere: a system reminder, and an external system's entry (meta.source)
    subject = {"reference": f"Patient/{pid}"}
    outbound = [{"url": EXT["communication-direction"],
                 "valueCoding": {"system": CS["communication-direction"], "code": "outbound"}}]
    await post(fhir_a, {"resourceType": "Communication", "status": "completed", "subject": subject,
                        "sent": "2026-10-01T08:00:00Z", "extension": outbound,
                        "category": [cc("http://terminology.hl7.org/CodeSystem/communication-category", "reminder")],
                        "payload": [{"contentString": "Reminder: visit tomorrow"}]})
    await post(fhir_a, {"resourceType": "Communication", "status": "completed", "subject": subject,
                        "meta": {"source": "https://crm.example.com"}, "sent": "2026-10-02T08:00:00Z",
                        "payload": [{"contentString": "Synced from CRM"}]})
    q = """query($p: ID!) { patient(id: $p) {
      all: communicationLogs { edges { node { source note } } }
      user: communicationLogs(communicationSource: "user") { edges { node { note } } }
      automated: communicationLogs(communicationSource: "automated") { edges { node { note } } }
      integration: communicationLogs(communicationSource: "integration") { edges { node { note } } } } }"""
    logs = (await gql.run(q, {"p": pid}))["patient"]
    assert [e["node"]["source"] for e in logs["all"]["edges"]] == ["user", "integration", "automated"]
    assert logs["user"]["edges"] == [{"node": {"note": "Asked about the bill"}}]
    assert logs["automated"]["edges"] == [{"node": {"note": "Reminder: visit tomorrow"}}]
    assert logs["integration"]["edges"] == [{"node": {"note": "Synced from CRM"}}]
    bad_filter = await gql.error('query($p: ID!) { patient(id: $p) { communicationLogs(communicationSource: "fax") '
                                 '{ totalCount } } }', {"p": pid})
    assert bad_filter["extensions"] == {"code": "VALIDATION", "field": "communicationSource"}
    bad_mode = await gql.error('query($p: ID!) { patient(id: $p) { communicationLogs(mode: "pigeon") '
                               '{ totalCount } } }', {"p": pid})
    assert bad_mode["extensions"] == {"code": "VALIDATION", "field": "mode"}
    by_mode = (await gql.run('query($p: ID!) { patient(id: $p) { communicationLogs(mode: "phone") '
                             '{ edges { node { note } } } } }', {"p": pid}))["patient"]["communicationLogs"]
    assert by_mode["edges"] == [{"node": {"note": "Asked about the bill"}}]
    for bad, field in (({"communicationDatetime": "yesterday"}, "communicationDatetime"),
                       ({"mode": "pigeon"}, "mode"), ({"direction": "sideways"}, "direction")):
        err = await gql.error(LOG, {"p": pid, "i": {"communicationDatetime": "2026-10-03T09:00:00Z", **bad}})
        assert err["extensions"] == {"code": "VALIDATION", "field": f"input.{field}"}
    for missing, field in (({"p": "no-such-patient"}, "patientId"),
                           ({"p": pid, "appointment": "no-such-appointment"}, "input.appointmentId")):
        err = await gql.error(LOG, {"p": missing["p"], "i": {"communicationDatetime": "2026-10-03T09:00:00Z",
                                                             "appointmentId": missing.get("appointment")}})
        assert err["extensions"]["code"] == "NOT_FOUND" and err["extensions"].get("field") == field
    # append-only: no door changes an entry once written
    put = await fhir_a.put(f"/Communication/{made['id']}", json={"resourceType": "Communication", "id": made["id"],
                                                                 "status": "completed", "subject": subject})
    assert put.status_code == 405


ALLERGY = """mutation($p: ID!, $a: String!) { recordAllergy(patientId: $p, input: {allergen: $a}) {
  id interactionWarnings { allergyId allergen medicationId medication drugClass severity message } } }"""
MEDICATION = """mutation($p: ID!, $n: String, $rx: String) { recordMedication(patientId: $p, input: {name: $n,
  rxCui: $rx}) { id interactionWarnings { allergyId medicationId medication drugClass severity } } }"""


async def test_drug_allergy_interaction_warnings(gql: GQL, fhir_a, tag: str) -> None:
    pid = await patient(fhir_a, tag)
    allergy = (await gql.run(ALLERGY, {"p": pid, "a": "Penicillin"}))["recordAllergy"]
    assert allergy["interactionWarnings"] == []  # no medications yet
    amox = (await gql.run(MEDICATION, {"p": pid, "n": "Amoxicillin 500 MG Oral Capsule"}))["recordMedication"]
    assert amox["interactionWarnings"] == [{"allergyId": allergy["id"], "medicationId": amox["id"],
                                            "medication": "Amoxicillin 500 MG Oral Capsule",
                                            "drugClass": "penicillins", "severity": "HIGH"}]
    # matched on the RxNorm ingredient code alone; a cephalosporin cross-reacts
    keflex = (await gql.run(MEDICATION, {"p": pid, "n": "Keflex", "rx": "2231"}))["recordMedication"]
    assert [(w["drugClass"], w["severity"]) for w in keflex["interactionWarnings"]] == [("cephalosporins",
                                                                                        "MODERATE")]
    plain = (await gql.run(MEDICATION, {"p": pid, "n": "Metformin 500 MG"}))["recordMedication"]
    assert plain["interactionWarnings"] == []
    # an allergy recorded later is checked against the current medications
    nsaid = await gql.run(MEDICATION, {"p": pid, "n": "Ibuprofen 400 MG Oral Tablet"})
    aspirin = (await gql.run(ALLERGY, {"p": pid, "a": "Aspirin"}))["recordAllergy"]
    [warning] = aspirin["interactionWarnings"]
    assert warning | {"message": None} == {
        "allergyId": aspirin["id"], "allergen": "Aspirin", "medicationId": nsaid["recordMedication"]["id"],
        "medication": "Ibuprofen 400 MG Oral Tablet", "drugClass": "nsaids", "severity": "HIGH", "message": None}
    assert "Aspirin" in warning["message"] and "Ibuprofen" in warning["message"]
    # seed: empty on subsequent reads
    listed = (await gql.run("""query($p: ID!) { patient(id: $p) { medications { edges { node {
        interactionWarnings { severity } } } } } }""", {"p": pid}))["patient"]["medications"]["edges"]
    assert all(e["node"]["interactionWarnings"] == [] for e in listed)
