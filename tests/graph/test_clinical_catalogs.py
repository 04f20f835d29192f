"""The clinical catalogs over GraphQL (seed 003's "org settings catalog" of allergy, medication, disease/problem
and communication-type definitions): list with archived ones hidden by default, get (unknown → NOT_FOUND), create
once per idempotency key, update with baseVersion, archive — each a FHIR Basic written through the store
(versioned, emitting its event, visible through FHIR REST) — and the chart records recorded from them
(recordAllergy, recordMedication, recordProblem, createCommunicationLog, and their updates), which carry the
definition's name and codes and link to it. Tests share a tenant, so each names its entries after its marker."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from app.settings import Settings
from store.naming import CS, EXT, ICD10CM, RXNORM, SNOMED
from store.outbox import Outbox
from tests.conftest import fhir_calls
from tests.factories import make_patient
from tests.graph.conftest import GQL
from tests.graph.test_chart import post

COMMON = "id version name description itemOrder createdAt updatedAt archivedAt"
FIELDS = {
    "Allergy": f"{COMMON} code codeSystem allergyCategory",
    "Medication": f"{COMMON} category rxCui",
    "Disease": f"{COMMON} category snomedCode icd10Code",
    "CommunicationType": f"{COMMON} code",
}


def root(kind: str) -> str:
    return kind[0].lower() + kind[1:] + "Definition"


async def create(gql: GQL, kind: str, key: str | None = None, **fields: Any) -> dict[str, Any]:
    query = f"""mutation($i: {kind}DefinitionInput!, $k: String) {{
        create{kind}Definition(input: $i, idempotencyKey: $k) {{ {FIELDS[kind]} }} }}"""
    out: dict[str, Any] = (await gql.run(query, {"i": fields, "k": key}))[f"create{kind}Definition"]
    return out


def update_query(kind: str) -> str:
    return f"""mutation($id: ID!, $v: Int!, $i: {kind}DefinitionPatch!) {{
        update{kind}Definition(id: $id, baseVersion: $v, input: $i) {{ {FIELDS[kind]} }} }}"""


def archive_query(kind: str) -> str:
    return f"""mutation($id: ID!, $v: Int!) {{ archive{kind}Definition(id: $id, baseVersion: $v) {{ archivedAt }} }}"""


async def listed(gql: GQL, kind: str, search: str, include_archived: bool = False) -> list[str]:
    query = f"""query($s: String, $all: Boolean!) {{ {root(kind)}s(search: $s, includeArchived: $all) {{
        nodes {{ name }} }} }}"""
    data = await gql.run(query, {"s": search, "all": include_archived})
    return [n["name"] for n in data[f"{root(kind)}s"]["nodes"]]


async def patient(fhir_a: Any, tag: str) -> str:
    return await post(fhir_a, make_patient(family=f"Defs{tag}", given=["Ivy"], tag=tag))


async def test_each_catalog_lists_gets_creates_updates_and_archives_through_fhir_basic(
        gql: GQL, fhir_a: Any, graph_settings: Settings, tag: str) -> None:
    cases = {  # kind: (create fields, what they read back as, a patch, the catalog's Basic code)
        "Allergy": ({"code": "762952008", "allergyCategory": "food"},
                    {"code": "762952008", "codeSystem": SNOMED, "allergyCategory": "food"},
                    {"code": "7984", "codeSystem": RXNORM}, "allergy-definition"),
        "Medication": ({"rxCui": "314076", "category": "ACE inhibitor"},
                       {"rxCui": "314076", "category": "ACE inhibitor"}, {"rxCui": None}, "medication-definition"),
        "Disease": ({"snomedCode": "44054006", "icd10Code": "e11.9"},
                    {"snomedCode": "44054006", "icd10Code": "E11.9"}, {"icd10Code": "E11.65"}, "disease-definition"),
        "CommunicationType": ({"code": "reminder"}, {"code": "reminder"}, {"code": "billing"}, "communication-type"),
    }
    made_ids = []
    for kind, (fields, expect, patch, code) in cases.items():
        made = await create(gql, kind, name=f"{kind} {tag}", description=" For staff ", itemOrder=1, **fields)
        made_ids.append(made["id"])
        assert made["version"] == 1 and made["description"] == "For staff" and made["archivedAt"] is None
        assert {k: made[k] for k in expect} == expect, kind
        # the same resource through FHIR REST, listed under its catalog's code
        fhir = (await fhir_a.get(f"/Basic/{made['id']}")).json()
        assert fhir["code"]["coding"][0]["code"] == code
        found = (await fhir_a.get("/Basic", params={"code": f"{CS['catalog']}|{code}", "_count": 500})).json()
        assert made["id"] in {e["resource"]["id"] for e in found.get("entry", ())}
        # get, and an id of another catalog
        got = await gql.run(f"query($id: ID!) {{ {root(kind)}(id: $id) {{ id name }} }}", {"id": made["id"]})
        assert got[root(kind)] == {"id": made["id"], "name": f"{kind} {tag}"}
        other = "Medication" if kind == "Allergy" else "Allergy"
        err = await gql.error(f"query($id: ID!) {{ {root(other)}(id: $id) {{ id }} }}", {"id": made["id"]})
        assert err["extensions"] == {"code": "NOT_FOUND", "field": "id"}
        # PATCH with baseVersion: only the fields sent change
        upd = (await gql.run(update_query(kind), {"id": made["id"], "v": 1, "i": patch}))[f"update{kind}Definition"]
        assert upd["version"] == 2 and upd["name"] == f"{kind} {tag}" and upd["description"] == "For staff"
        assert all(upd[k] == v for k, v in patch.items()), (kind, upd)
        stale = await gql.error(update_query(kind), {"id": made["id"], "v": 1, "i": {"name": "x"}})
        assert stale["extensions"]["code"] == "VERSION_CONFLICT"
        # archive: hidden by default, listed with includeArchived, get still answers; twice → VALIDATION
        assert await listed(gql, kind, tag) == [f"{kind} {tag}"]
        await gql.run(archive_query(kind), {"id": made["id"], "v": 2})
        assert await listed(gql, kind, tag) == []
        assert await listed(gql, kind, tag, include_archived=True) == [f"{kind} {tag}"]
        got = await gql.run(f"query($id: ID!) {{ {root(kind)}(id: $id) {{ archivedAt }} }}", {"id": made["id"]})
        assert got[root(kind)]["archivedAt"]
        again = await gql.error(archive_query(kind), {"id": made["id"], "v": 3})
        assert again["extensions"]["code"] == "VALIDATION"
        assert len((await fhir_a.get(f"/Basic/{made['id']}/_history")).json()["entry"]) == 3
    client: AsyncMongoClient[Any] = AsyncMongoClient(graph_settings.mongodb_uri)
    try:
        events = await Outbox(client[graph_settings.db_name]).newest("graph-a", 400)
    finally:
        await client.close()
    for rid in made_ids:
        assert sorted(e["versionId"] for e in events if e["resourceId"] == rid) == ["1", "2", "3"]


async def test_a_create_is_done_once_per_idempotency_key(gql: GQL, fhir_a: Any, tag: str) -> None:
    first = await create(gql, "Medication", key=f"k-{tag}", name=f"Lisinopril {tag}", rxCui="314076")
    again = await create(gql, "Medication", key=f"k-{tag}", name=f"Lisinopril {tag}", rxCui="314076")
    assert again == first
    assert await listed(gql, "Medication", tag) == [f"Lisinopril {tag}"]
    query = """mutation($k: String) { createMedicationDefinition(input: {name: "Other"}, idempotencyKey: $k) {
        id } }"""
    misused = await gql.error(query, {"k": f"k-{tag}"})
    assert misused["extensions"] == {"code": "CONFLICT", "field": "idempotencyKey"}
    # the org catalogs that were there before take one too
    tags = [(await gql.run("""mutation($n: String!, $k: String) { createTagDefinition(input: {name: $n},
        idempotencyKey: $k) { id } }""", {"n": f"T {tag}", "k": f"t-{tag}"}))["createTagDefinition"]["id"]
            for _ in range(2)]
    assert tags[0] == tags[1]


async def test_catalog_validation_names_the_field(gql: GQL, tag: str) -> None:
    cases = [
        ("Allergy", {"allergyCategory": "drug"}, "allergyCategory"),
        ("Allergy", {"code": "has space"}, "code"),
        ("Allergy", {"code": "1", "codeSystem": "snomed"}, "codeSystem"),
        ("Allergy", {"codeSystem": "http://snomed.info/sct"}, "codeSystem"),  # a system needs a code
        ("Medication", {"rxCui": "RX-1"}, "rxCui"),
        ("Disease", {"snomedCode": "12"}, "snomedCode"),
        ("Disease", {"icd10Code": "diabetes"}, "icd10Code"),
        ("CommunicationType", {"code": "Appointment Reminder"}, "code"),
        ("CommunicationType", {"itemOrder": -1}, "itemOrder"),
    ]
    for kind, fields, field in cases:
        query = f"""mutation($i: {kind}DefinitionInput!) {{ create{kind}Definition(input: $i) {{ id }} }}"""
        err = await gql.error(query, {"i": {"name": f"{kind} {tag}", **fields}})
        assert err["extensions"] == {"code": "VALIDATION", "field": f"input.{field}"}, (kind, fields, err)
    blank = await gql.error("""mutation { createDiseaseDefinition(input: {name: "  "}) { id } }""")
    assert blank["extensions"] == {"code": "VALIDATION", "field": "input.name"}
    made = await create(gql, "Disease", name=f"D {tag}")
    cleared = await gql.error(update_query("Disease"), {"id": made["id"], "v": 1, "i": {"name": None}})
    assert cleared["extensions"] == {"code": "VALIDATION", "field": "input.name"}
    missing = await gql.error(update_query("Disease"), {"id": "no-such-definition", "v": 1, "i": {"name": "x"}})
    assert missing["extensions"] == {"code": "NOT_FOUND", "field": "id"}


ALLERGY = """id allergen code codeSystem category allergyDefinitionId allergyDefinition { id name archivedAt }"""
RECORD_ALLERGY = f"""mutation($p: ID!, $i: AllergyInput!, $k: String) {{
    recordAllergy(patientId: $p, input: $i, idempotencyKey: $k) {{ {ALLERGY} }} }}"""
UPDATE_ALLERGY = f"""mutation($p: ID!, $id: ID!, $v: Int!, $i: AllergyPatch!) {{
    updateAllergy(patientId: $p, id: $id, baseVersion: $v, input: $i) {{ version {ALLERGY} }} }}"""


async def test_an_allergy_recorded_from_a_definition_carries_its_code(gql: GQL, fhir_a: Any, tag: str) -> None:
    peanut = await create(gql, "Allergy", name=f"Peanut {tag}", code="762952008", allergyCategory="food")
    latex = await create(gql, "Allergy", name=f"Latex {tag}", code="111088007", allergyCategory="environment")
    pid = await patient(fhir_a, tag)
    made = (await gql.run(RECORD_ALLERGY, {"p": pid, "i": {"allergyDefinitionId": peanut["id"],
                                                           "severity": "severe"}, "k": f"a-{tag}"}))["recordAllergy"]
    assert (made["allergen"], made["code"], made["codeSystem"], made["category"]) == \
        (f"Peanut {tag}", "762952008", SNOMED, "food")
    assert made["allergyDefinitionId"] == peanut["id"]
    assert made["allergyDefinition"] == {"id": peanut["id"], "name": f"Peanut {tag}", "archivedAt": None}
    fhir = (await fhir_a.get(f"/AllergyIntolerance/{made['id']}")).json()
    assert fhir["code"]["coding"][0] == {"system": SNOMED, "code": "762952008", "display": f"Peanut {tag}"}
    assert {"url": EXT["allergy-definition"],
            "valueReference": {"reference": f"Basic/{peanut['id']}", "display": f"Peanut {tag}"}} in fhir["extension"]
    again = (await gql.run(RECORD_ALLERGY, {"p": pid, "i": {"allergyDefinitionId": peanut["id"], "severity": "severe"},
                                            "k": f"a-{tag}"}))["recordAllergy"]
    assert again["id"] == made["id"]  # once per idempotency key
    listed_ = await gql.run("""query($p: ID!) { patient(id: $p) { allergies { nodes { allergyDefinition { name } } }
        medicalSummary { allergies { allergyDefinition { id } } } } }""", {"p": pid})
    assert listed_["patient"]["allergies"]["nodes"] == [{"allergyDefinition": {"name": f"Peanut {tag}"}}]
    assert listed_["patient"]["medicalSummary"]["allergies"] == [{"allergyDefinition": {"id": peanut["id"]}}]

    # the definition supplies the allergen: sending one too, or editing it on a linked allergy → VALIDATION
    both = await gql.error(RECORD_ALLERGY, {"p": pid, "i": {"allergyDefinitionId": peanut["id"], "allergen": "Nuts"}})
    assert both["extensions"] == {"code": "VALIDATION", "field": "input.allergen"}
    edit = await gql.error(UPDATE_ALLERGY, {"p": pid, "id": made["id"], "v": 1, "i": {"code": "1"}})
    assert edit["extensions"] == {"code": "VALIDATION", "field": "input.code"}
    neither = await gql.error(RECORD_ALLERGY, {"p": pid, "i": {"severity": "mild"}})
    assert neither["extensions"] == {"code": "VALIDATION", "field": "input.allergen"}
    # another definition rewrites allergen, code and category; null unlinks it and frees the allergen
    moved = (await gql.run(UPDATE_ALLERGY, {"p": pid, "id": made["id"], "v": 1,
                                            "i": {"allergyDefinitionId": latex["id"]}}))["updateAllergy"]
    assert (moved["version"], moved["allergen"], moved["code"], moved["category"]) == \
        (2, f"Latex {tag}", "111088007", "environment")
    freed = (await gql.run(UPDATE_ALLERGY, {"p": pid, "id": made["id"], "v": 2,
                                            "i": {"allergyDefinitionId": None, "allergen": "Latex gloves"}}))
    freed = freed["updateAllergy"]
    assert freed["allergyDefinition"] is None and freed["allergen"] == "Latex gloves" and freed["code"] is None
    unlinked = (await fhir_a.get(f"/AllergyIntolerance/{made['id']}")).json()
    assert EXT["allergy-definition"] not in {e["url"] for e in unlinked.get("extension", ())}

    # unknown or archived definitions are NOT_FOUND, naming the input field
    unknown = await gql.error(RECORD_ALLERGY, {"p": pid, "i": {"allergyDefinitionId": "no-such-definition"}})
    assert unknown["extensions"] == {"code": "NOT_FOUND", "field": "input.allergyDefinitionId"}
    not_allergy = await create(gql, "Disease", name=f"D {tag}")
    wrong = await gql.error(RECORD_ALLERGY, {"p": pid, "i": {"allergyDefinitionId": not_allergy["id"]}})
    assert wrong["extensions"] == {"code": "NOT_FOUND", "field": "input.allergyDefinitionId"}
    await gql.run(archive_query("Allergy"), {"id": latex["id"], "v": 1})
    archived = await gql.error(UPDATE_ALLERGY, {"p": pid, "id": made["id"], "v": 3,
                                                "i": {"allergyDefinitionId": latex["id"]}})
    assert archived["extensions"] == {"code": "NOT_FOUND", "field": "input.allergyDefinitionId"}


async def test_rx_cui_beside_a_medication_definition(gql: GQL, fhir_a: Any, tag: str) -> None:
    """Seed 003's medication body takes rx_cui beside medication_definition_uuid: the definition's own code (or
    one it lacks) is accepted, another is refused; an RXCUI alone is no medication name (free text is)."""
    pid = await patient(fhir_a, tag)
    coded = await create(gql, "Medication", name=f"Ibuprofen 400 MG {tag}", rxCui="310965")
    bare = await create(gql, "Medication", name=f"House remedy {tag}")
    record = """mutation($p: ID!, $i: MedicationInput!) { recordMedication(patientId: $p, input: $i) {
        id version name rxCui medicationDefinition { id } } }"""
    same = (await gql.run(record, {"p": pid, "i": {"medicationDefinitionId": coded["id"], "rxCui": "310965"}}))
    assert same["recordMedication"] | {"id": None} == {"id": None, "version": 1, "name": f"Ibuprofen 400 MG {tag}",
                                                       "rxCui": "310965", "medicationDefinition": {"id": coded["id"]}}
    filled = (await gql.run(record, {"p": pid, "i": {"medicationDefinitionId": bare["id"], "rxCui": "243670"}}))
    assert (filled["recordMedication"]["name"], filled["recordMedication"]["rxCui"]) == (f"House remedy {tag}",
                                                                                        "243670")
    other = await gql.error(record, {"p": pid, "i": {"medicationDefinitionId": coded["id"], "rxCui": "197806"}})
    assert other["extensions"] == {"code": "VALIDATION", "field": "input.rxCui"} and "310965" in other["message"]
    alone = await gql.error(record, {"p": pid, "i": {"rxCui": "243670"}})
    assert alone["extensions"] == {"code": "VALIDATION", "field": "input.name"}
    update = """mutation($p: ID!, $id: ID!, $v: Int!, $i: MedicationPatch!) { updateMedication(patientId: $p,
        id: $id, baseVersion: $v, input: $i) { version rxCui medicationDefinition { id } } }"""
    med = same["recordMedication"]
    again = (await gql.run(update, {"p": pid, "id": med["id"], "v": 1, "i": {"rxCui": "310965", "dosage": "1"}}))
    assert again["updateMedication"] == {"version": 2, "rxCui": "310965", "medicationDefinition": {"id": coded["id"]}}
    changed = await gql.error(update, {"p": pid, "id": med["id"], "v": 2, "i": {"rxCui": "197806"}})
    assert changed["extensions"] == {"code": "VALIDATION", "field": "input.rxCui"}
    unlinked = (await gql.run(update, {"p": pid, "id": med["id"], "v": 2,
                                       "i": {"medicationDefinitionId": None, "rxCui": "197806"}}))["updateMedication"]
    assert unlinked == {"version": 3, "rxCui": "197806", "medicationDefinition": None}


async def test_medications_problems_and_communications_from_definitions(gql: GQL, fhir_a: Any, tag: str) -> None:
    pid = await patient(fhir_a, tag)
    med_def = await create(gql, "Medication", name=f"Amoxicillin 250 MG {tag}", rxCui="308182")
    med = (await gql.run("""mutation($p: ID!, $d: ID!) { recordMedication(patientId: $p, input: {
        medicationDefinitionId: $d, dosage: "1 capsule" }) { id name rxCui dosage medicationDefinition { id } } }""",
                         {"p": pid, "d": med_def["id"]}))["recordMedication"]
    assert (med["name"], med["rxCui"], med["dosage"]) == (f"Amoxicillin 250 MG {tag}", "308182", "1 capsule")
    assert med["medicationDefinition"] == {"id": med_def["id"]}
    statement = (await fhir_a.get(f"/MedicationStatement/{med['id']}")).json()
    assert statement["medicationCodeableConcept"]["coding"][0]["code"] == "308182"
    assert statement["extension"][0]["valueReference"]["reference"] == f"Basic/{med_def['id']}"
    renamed = await gql.error("""mutation($p: ID!, $id: ID!) { updateMedication(patientId: $p, id: $id,
        baseVersion: 1, input: {name: "Amoxil"}) { id } }""", {"p": pid, "id": med["id"]})
    assert renamed["extensions"] == {"code": "VALIDATION", "field": "input.name"}
    unknown = await gql.error("""mutation($p: ID!) { recordMedication(patientId: $p, input: {
        medicationDefinitionId: "no-such-definition" }) { id } }""", {"p": pid})
    assert unknown["extensions"] == {"code": "NOT_FOUND", "field": "input.medicationDefinitionId"}

    disease = await create(gql, "Disease", name=f"Type 2 diabetes {tag}", snomedCode="44054006", icd10Code="E11.9")
    problem = (await gql.run("""mutation($p: ID!, $d: ID!) { recordProblem(patientId: $p, input: {
        diseaseDefinitionId: $d, dateStart: "2024-01-02" }) { id name snomedCode icd10Code status
        diseaseDefinition { name icd10Code } } }""", {"p": pid, "d": disease["id"]}))["recordProblem"]
    assert (problem["name"], problem["snomedCode"], problem["icd10Code"], problem["status"]) == \
        (f"Type 2 diabetes {tag}", "44054006", "E11.9", "ACTIVE")
    assert problem["diseaseDefinition"] == {"name": f"Type 2 diabetes {tag}", "icd10Code": "E11.9"}
    condition = (await fhir_a.get(f"/Condition/{problem['id']}")).json()
    assert [(c["system"], c["code"]) for c in condition["code"]["coding"]] == [(SNOMED, "44054006"),
                                                                                (ICD10CM, "E11.9")]
    resolved = (await gql.run("""mutation($p: ID!, $id: ID!) { updateProblem(patientId: $p, id: $id, baseVersion: 1,
        input: {status: RESOLVED, dateStop: "2025-01-01"}) { status icd10Code diseaseDefinition { id } } }""",
                              {"p": pid, "id": problem["id"]}))["updateProblem"]
    assert resolved == {"status": "RESOLVED", "icd10Code": "E11.9", "diseaseDefinition": {"id": disease["id"]}}

    comm_type = await create(gql, "CommunicationType", name=f"Recall {tag}", code="recall")
    log = """mutation($p: ID!, $i: CommunicationLogInput!) { createCommunicationLog(patientId: $p, input: $i) {
        id category communicationTypeId communicationType { name code } } }"""
    entry = (await gql.run(log, {"p": pid, "i": {"communicationDatetime": "2026-01-15T09:00:00Z", "mode": "mail",
                                                 "communicationTypeId": comm_type["id"]}}))["createCommunicationLog"]
    assert entry["category"] == "recall" and entry["communicationTypeId"] == comm_type["id"]
    assert entry["communicationType"] == {"name": f"Recall {tag}", "code": "recall"}
    communication = (await fhir_a.get(f"/Communication/{entry['id']}")).json()
    assert communication["category"][0]["coding"][0] == {"system": CS["communication-type"], "code": "recall",
                                                         "display": f"Recall {tag}"}
    both = await gql.error(log, {"p": pid, "i": {"communicationDatetime": "2026-01-15T09:00:00Z",
                                                 "communicationTypeId": comm_type["id"], "category": "billing"}})
    assert both["extensions"] == {"code": "VALIDATION", "field": "input.category"}
    missing = await gql.error(log, {"p": pid, "i": {"communicationDatetime": "2026-01-15T09:00:00Z",
                                                    "communicationTypeId": "no-such-type"}})
    assert missing["extensions"] == {"code": "NOT_FOUND", "field": "input.communicationTypeId"}


async def test_demo_charts_refer_to_the_demo_catalogs_in_one_batch(demo: GQL) -> None:
    names = [n["name"] for n in (await demo.run("{ communicationTypeDefinitions { nodes { name code } } }"))[
        "communicationTypeDefinitions"]["nodes"]]
    assert names == ["Reminder", "Notification", "Billing", "Recall"]
    penicillin = (await demo.run('{ allergyDefinition(id: "allergydef-7984") { name code codeSystem '
                                 'allergyCategory } }'))["allergyDefinition"]
    assert penicillin == {"name": "Penicillin V", "code": "7984", "codeSystem": RXNORM, "allergyCategory": "medication"}
    lists = {"allergies": "allergen allergyDefinition { name }", "problems": "name diseaseDefinition { snomedCode }",
             "medications": "rxCui medicationDefinition { rxCui }"}
    records: dict[str, list[dict[str, Any]]] = {}
    for field, selection in lists.items():
        before = fhir_calls()
        data = await demo.run(f"{{ patients(first: 40) {{ nodes {{ {field} {{ nodes {{ {selection} }} }} }} }} }}")
        after = fhir_calls()
        records[field] = [r for p in data["patients"]["nodes"] for r in p[field]["nodes"]]
        basic = {k: v - before.get(k, 0) for k, v in after.items() if k[1] == "Basic" and v - before.get(k, 0)}
        assert records[field] and basic == {("find", "Basic"): 1}, (field, basic)  # every record's, in one read
    assert all(a["allergen"] == a["allergyDefinition"]["name"] for a in records["allergies"])
    assert all(c["diseaseDefinition"] for c in records["problems"])
    assert all(m["medicationDefinition"]["rxCui"] == m["rxCui"] for m in records["medications"])
