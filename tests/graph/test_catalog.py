"""Org catalogs over GraphQL (seed 003 patient-alert-, patient-tag- and patient-field-definitions): list with
archived ones hidden by default, get, create, update with baseVersion, archive — each a FHIR Basic written
through the store (versioned, emitting its event, visible through FHIR REST) — and patient tags referring to
their definitions. Tests share a tenant, so each names its definitions after its own marker."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from app.settings import Settings
from store.naming import CS
from store.outbox import Outbox
from tests.conftest import fhir_calls
from tests.graph.conftest import GQL

TAG_FIELDS = "id version name color description category itemOrder createdAt updatedAt archivedAt"
CREATE_TAG = f"""mutation($i: TagDefinitionInput!) {{ createTagDefinition(input: $i) {{ {TAG_FIELDS} }} }}"""
UPDATE_TAG = f"""mutation($id: ID!, $v: Int!, $i: TagDefinitionPatch!) {{
  updateTagDefinition(id: $id, baseVersion: $v, input: $i) {{ {TAG_FIELDS} }} }}"""
ARCHIVE_TAG = f"""mutation($id: ID!, $v: Int!) {{
  archiveTagDefinition(id: $id, baseVersion: $v) {{ {TAG_FIELDS} }} }}"""
LIST_TAGS = """query($s: String, $c: String, $all: Boolean! = false, $first: Int, $after: String) {
  tagDefinitions(search: $s, category: $c, includeArchived: $all, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { id name itemOrder archivedAt } } }"""
CREATE_ALERT_DEF = """mutation($i: AlertDefinitionInput!) { createAlertDefinition(input: $i) {
  id version name category defaultScope defaultIsUrgent itemOrder archivedAt } }"""
CREATE_PATIENT = """mutation($i: PatientInput!) { createPatient(input: $i) { patient { id version
  tags { code display name color definition { id name } } } } }"""


async def tag_def(gql: GQL, name: str, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = (await gql.run(CREATE_TAG, {"i": {"name": name, **fields}}))["createTagDefinition"]
    return out


async def names(gql: GQL, query: str, root: str, **variables: Any) -> list[str]:
    return [n["name"] for n in (await gql.run(query, variables))[root]["nodes"]]


async def test_tag_definitions_crud_through_fhir_basic(gql: GQL, fhir_a, graph_settings: Settings, tag: str) -> None:
    made = await tag_def(gql, f"VIP {tag}", color="#1E90FF", description=" Priority patient ", category="Billing",
                         itemOrder=2)
    assert made["version"] == 1 and made["color"] == "#1E90FF" and made["description"] == "Priority patient"
    assert made["category"] == "Billing" and made["itemOrder"] == 2 and made["archivedAt"] is None
    assert made["createdAt"] and made["updatedAt"]
    # the same resource through FHIR REST
    fhir = (await fhir_a.get(f"/Basic/{made['id']}")).json()
    assert fhir["code"]["coding"][0] == {"system": CS["catalog"], "code": "tag-definition", "display": "Tag definition"}
    listed = (await fhir_a.get("/Basic", params={"code": f"{CS['catalog']}|tag-definition", "_count": 500})).json()
    assert made["id"] in {e["resource"]["id"] for e in listed.get("entry", ())}

    got = (await gql.run("query($id: ID!) { tagDefinition(id: $id) { name color } }", {"id": made["id"]}))
    assert got["tagDefinition"] == {"name": f"VIP {tag}", "color": "#1E90FF"}
    unknown = await gql.error('{ tagDefinition(id: "nope") { id } }')
    assert unknown["extensions"] == {"code": "NOT_FOUND", "field": "id"} and unknown["path"] == ["tagDefinition"]
    # an alert definition id is not a tag definition
    alert = (await gql.run(CREATE_ALERT_DEF, {"i": {"name": f"A {tag}"}}))["createAlertDefinition"]
    other = await gql.error("query($id: ID!) { tagDefinition(id: $id) { id } }", {"id": alert["id"]})
    assert other["extensions"]["code"] == "NOT_FOUND"

    # PATCH with baseVersion: only the fields sent change; null clears
    upd = (await gql.run(UPDATE_TAG, {"id": made["id"], "v": 1, "i": {"name": f"VIP+ {tag}", "color": None}}))[
        "updateTagDefinition"]
    assert upd["version"] == 2 and upd["name"] == f"VIP+ {tag}" and upd["color"] is None
    assert upd["description"] == "Priority patient" and upd["category"] == "Billing"
    stale = await gql.error(UPDATE_TAG, {"id": made["id"], "v": 1, "i": {"name": "x"}})
    assert stale["extensions"]["code"] == "VERSION_CONFLICT"
    missing = await gql.error(UPDATE_TAG, {"id": "nope", "v": 1, "i": {"name": "x"}})
    assert missing["extensions"]["code"] == "NOT_FOUND"

    # archive: hidden by default, listed with includeArchived; twice → VALIDATION
    arch = (await gql.run(ARCHIVE_TAG, {"id": made["id"], "v": 2}))["archiveTagDefinition"]
    assert arch["version"] == 3 and arch["archivedAt"]
    assert await names(gql, LIST_TAGS, "tagDefinitions", s=tag) == []
    assert await names(gql, LIST_TAGS, "tagDefinitions", s=tag, all=True) == [f"VIP+ {tag}"]
    again = await gql.error(ARCHIVE_TAG, {"id": made["id"], "v": 3})
    assert again["extensions"]["code"] == "VALIDATION"
    stale_archive = await gql.error(ARCHIVE_TAG, {"id": alert["id"], "v": 1})
    assert stale_archive["extensions"]["code"] == "NOT_FOUND"  # not a tag definition

    history = (await fhir_a.get(f"/Basic/{made['id']}/_history")).json()
    assert len(history["entry"]) == 3
    client: AsyncMongoClient[Any] = AsyncMongoClient(graph_settings.mongodb_uri)
    try:
        events = await Outbox(client[graph_settings.db_name]).newest("graph-a", 200)
    finally:
        await client.close()
    assert sorted(e["versionId"] for e in events if e["resourceId"] == made["id"]) == ["1", "2", "3"]


async def test_catalog_validation_names_the_field(gql: GQL, tag: str) -> None:
    for fields, field in (({"name": "  "}, "name"), ({"name": "x" * 121}, "name"),
                          ({"name": tag, "color": "blue"}, "color"), ({"name": tag, "color": "#12345"}, "color"),
                          ({"name": tag, "itemOrder": -1}, "itemOrder")):
        err = await gql.error(CREATE_TAG, {"i": fields})
        assert err["extensions"]["code"] == "VALIDATION", fields
        assert err["extensions"]["field"] == f"input.{field}"
    made = await tag_def(gql, f"T {tag}")
    err = await gql.error(UPDATE_TAG, {"id": made["id"], "v": 1, "i": {"name": None}})
    assert err["extensions"] == {"code": "VALIDATION", "field": "input.name"}
    err = await gql.error(CREATE_ALERT_DEF, {"i": {"name": ""}})
    assert err["extensions"]["code"] == "VALIDATION"


async def test_catalog_order_search_category_and_pages(gql: GQL, tag: str) -> None:
    await tag_def(gql, f"Zeta {tag}", itemOrder=1, category="Clinical")
    await tag_def(gql, f"alpha {tag}", itemOrder=1, category="clinical")
    await tag_def(gql, f"Omega {tag}", itemOrder=0, category="Billing")
    assert await names(gql, LIST_TAGS, "tagDefinitions", s=tag) == [f"Omega {tag}", f"alpha {tag}", f"Zeta {tag}"]
    assert await names(gql, LIST_TAGS, "tagDefinitions", s=f"ALPHA {tag}") == [f"alpha {tag}"]
    assert await names(gql, LIST_TAGS, "tagDefinitions", s=tag, c="CLINICAL") == [f"alpha {tag}", f"Zeta {tag}"]
    first = (await gql.run(LIST_TAGS, {"s": tag, "first": 2}))["tagDefinitions"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"] is True
    rest = (await gql.run(LIST_TAGS, {"s": tag, "first": 2, "after": first["pageInfo"]["endCursor"]}))
    assert [n["name"] for n in rest["tagDefinitions"]["nodes"]] == [f"Zeta {tag}"]


async def test_alert_definitions_crud(gql: GQL, tag: str) -> None:
    made = (await gql.run(CREATE_ALERT_DEF, {"i": {"name": f"Latex {tag}", "category": "clinical"}}))[
        "createAlertDefinition"]
    assert made["defaultScope"] == "PATIENT" and made["defaultIsUrgent"] is False and made["itemOrder"] == 0
    upd = (await gql.run("""mutation($id: ID!) { updateAlertDefinition(id: $id, baseVersion: 1, input: {
        defaultScope: FAMILY, defaultIsUrgent: true }) { version name defaultScope defaultIsUrgent } }""",
                         {"id": made["id"]}))["updateAlertDefinition"]
    assert upd == {"version": 2, "name": f"Latex {tag}", "defaultScope": "FAMILY", "defaultIsUrgent": True}
    listed = await gql.run('query($s: String, $c: String) { alertDefinitions(search: $s, category: $c) { '
                           'nodes { id } } }', {"s": tag, "c": "Clinical"})
    assert [n["id"] for n in listed["alertDefinitions"]["nodes"]] == [made["id"]]
    arch = await gql.run('mutation($id: ID!) { archiveAlertDefinition(id: $id, baseVersion: 2) { archivedAt } }',
                         {"id": made["id"]})
    assert arch["archiveAlertDefinition"]["archivedAt"]
    got = await gql.run('query($id: ID!) { alertDefinition(id: $id) { name archivedAt } }', {"id": made["id"]})
    assert got["alertDefinition"]["archivedAt"]  # get still answers for an archived definition


async def test_patient_tags_refer_to_tag_definitions(gql: GQL, fhir_a, tag: str) -> None:
    vip = await tag_def(gql, f"VIP {tag}", color="#FFD700")
    late = await tag_def(gql, f"Late payer {tag}")
    p = (await gql.run(CREATE_PATIENT, {"i": {"firstName": "Tia", "lastName": tag, "tags": [vip["id"], late["id"]]}}))[
        "createPatient"]["patient"]
    assert p["tags"] == [
        {"code": vip["id"], "display": None, "name": f"VIP {tag}", "color": "#FFD700",
         "definition": {"id": vip["id"], "name": f"VIP {tag}"}},
        {"code": late["id"], "display": None, "name": f"Late payer {tag}", "color": None,
         "definition": {"id": late["id"], "name": f"Late payer {tag}"}}]
    # the tag list filter takes the definition's id; a rename shows on every tagged patient
    found = await gql.run("query($t: String) { patients(filter: {tag: $t}) { nodes { id } } }", {"t": vip["id"]})
    assert [n["id"] for n in found["patients"]["nodes"]] == [p["id"]]
    await gql.run(UPDATE_TAG, {"id": vip["id"], "v": 1, "i": {"name": f"Gold {tag}"}})
    again = await gql.run("query($id: ID!) { patient(id: $id) { tags { name } } }", {"id": p["id"]})
    assert again["patient"]["tags"][0] == {"name": f"Gold {tag}"}
    fhir = (await fhir_a.get(f"/Patient/{p['id']}")).json()
    assert {"system": CS["patient-tag"], "code": late["id"]} in fhir["meta"]["tag"]

    unknown = await gql.error(CREATE_PATIENT, {"i": {"firstName": "A", "lastName": tag, "tags": ["no-such-tag"]}})
    assert unknown["extensions"] == {"code": "NOT_FOUND", "field": "input.tags.0"}
    await gql.run(ARCHIVE_TAG, {"id": late["id"], "v": 1})
    archived = await gql.error("""mutation($id: ID!, $t: [String!]) { updatePatient(id: $id, baseVersion: 1,
        input: {tags: $t}) { patient { id } } }""", {"id": p["id"], "t": [vip["id"], late["id"]]})
    assert archived["extensions"] == {"code": "NOT_FOUND", "field": "input.tags.1"}
    # the archived definition still resolves on the patient who has it
    still = await gql.run("query($id: ID!) { patient(id: $id) { tags { name definition { archivedAt } } } }",
                          {"id": p["id"]})
    assert still["patient"]["tags"][1]["definition"]["archivedAt"]


async def test_tag_definitions_of_a_patient_page_load_in_one_batch(gql: GQL, tag: str) -> None:
    defs = [await tag_def(gql, f"B{n} {tag}") for n in range(3)]
    for n in range(4):
        await gql.run(CREATE_PATIENT, {"i": {"firstName": f"P{n}", "lastName": tag,
                                             "tags": [d["id"] for d in defs[: n % 3 + 1]]}})
    query = """query($s: String) { patients(filter: {search: $s}) { nodes { tags { name color definition {
        name } } } } }"""
    before = fhir_calls()
    data = await gql.run(query, {"s": tag})
    after = fhir_calls()
    assert len(data["patients"]["nodes"]) == 4
    assert all(t["definition"] for n in data["patients"]["nodes"] for t in n["tags"])
    basic = {k: v - before.get(k, 0) for k, v in after.items() if k[1] == "Basic" and v - before.get(k, 0)}
    assert basic == {("find", "Basic"): 1}, basic
