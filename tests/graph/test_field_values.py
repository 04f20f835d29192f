"""Custom fields over GraphQL (seed 003 patient-field-definitions, patients/{id}/field-values and /form): the
definitions' type rules, the bulk upsert typed and validated against each definition, the values list and the
form view — the values living on the FHIR Patient."""

from __future__ import annotations

from typing import Any

from store.naming import EXT
from tests.graph.conftest import GQL

CREATE_DEF = """mutation($i: FieldDefinitionInput!) { createFieldDefinition(input: $i) {
  id version name fieldType dropdownOptions isRequired itemOrder } }"""
UPSERT = """mutation($p: ID!, $f: [FieldValueInput!]!) { upsertPatientFieldValues(patientId: $p, fields: $f) {
  definition { id name fieldType } value updatedAt } }"""
VALUES = """query($p: ID!) { patientFieldValues(patientId: $p) { totalCount nodes { definition { id } value } } }"""
FORM = """query($p: ID!) { patientFieldForm(patientId: $p) { missingRequired
  items { definition { id name isRequired } value } } }"""


async def field(gql: GQL, name: str, field_type: str, **fields: Any) -> str:
    out = await gql.run(CREATE_DEF, {"i": {"name": name, "fieldType": field_type, **fields}})
    fid: str = out["createFieldDefinition"]["id"]
    return fid


async def patient(gql: GQL, tag: str) -> str:
    out = await gql.run('mutation($l: String!) { createPatient(input: {firstName: "Cy", lastName: $l}) '
                        '{ patient { id } } }', {"l": tag})
    pid: str = out["createPatient"]["patient"]["id"]
    return pid


async def test_field_definition_type_rules(gql: GQL, tag: str) -> None:
    made = (await gql.run(CREATE_DEF, {"i": {"name": f"Shirt {tag}", "fieldType": "DROPDOWN",
                                             "dropdownOptions": [" S ", "M", "L"], "isRequired": True,
                                             "itemOrder": 3}}))["createFieldDefinition"]
    assert made["dropdownOptions"] == ["S", "M", "L"] and made["isRequired"] is True and made["itemOrder"] == 3
    for fields in ({"fieldType": "DROPDOWN"}, {"fieldType": "DROPDOWN", "dropdownOptions": []},
                   {"fieldType": "TEXT", "dropdownOptions": ["a"]},
                   {"fieldType": "DROPDOWN", "dropdownOptions": ["a", "A"]},
                   {"fieldType": "DROPDOWN", "dropdownOptions": ["a", " "]}):
        err = await gql.error(CREATE_DEF, {"i": {"name": f"Bad {tag}", **fields}})
        assert err["extensions"] == {"code": "VALIDATION", "field": "input.dropdownOptions"}, fields
    # turning a DROPDOWN into TEXT needs its options cleared in the same PATCH
    patch = """mutation($id: ID!, $v: Int!, $i: FieldDefinitionPatch!) {
      updateFieldDefinition(id: $id, baseVersion: $v, input: $i) { version fieldType dropdownOptions } }"""
    err = await gql.error(patch, {"id": made["id"], "v": 1, "i": {"fieldType": "TEXT"}})
    assert err["extensions"]["code"] == "VALIDATION"
    out = await gql.run(patch, {"id": made["id"], "v": 1, "i": {"fieldType": "TEXT", "dropdownOptions": None}})
    assert out["updateFieldDefinition"] == {"version": 2, "fieldType": "TEXT", "dropdownOptions": []}
    listed = await gql.run('query($s: String) { fieldDefinitions(search: $s) { nodes { id } } }', {"s": tag})
    assert [n["id"] for n in listed["fieldDefinitions"]["nodes"]] == [made["id"]]


async def test_upsert_typed_values_and_read_them_back(gql: GQL, fhir_a, tag: str) -> None:
    pid = await patient(gql, tag)
    text = await field(gql, f"Nickname {tag}", "TEXT", itemOrder=5)
    number = await field(gql, f"Shoe size {tag}", "NUMBER", itemOrder=1)
    day = await field(gql, f"Intake {tag}", "DATE", itemOrder=2)
    flag = await field(gql, f"Newsletter {tag}", "BOOLEAN", itemOrder=3)
    pick = await field(gql, f"Channel {tag}", "DROPDOWN", dropdownOptions=["Web", "Phone"], itemOrder=4)
    out = (await gql.run(UPSERT, {"p": pid, "f": [
        {"fieldDefinitionId": text, "value": "  Ace "}, {"fieldDefinitionId": number, "value": "10.50"},
        {"fieldDefinitionId": day, "value": "2026-05-01"}, {"fieldDefinitionId": flag, "value": "TRUE"},
        {"fieldDefinitionId": pick, "value": "web"}]}))["upsertPatientFieldValues"]
    assert [(v["definition"]["id"], v["value"]) for v in out] == [
        (text, "Ace"), (number, "10.5"), (day, "2026-05-01"), (flag, "true"), (pick, "Web")]
    assert all(v["updatedAt"] for v in out)
    values = (await gql.run(VALUES, {"p": pid}))["patientFieldValues"]
    assert values["totalCount"] == 5
    assert [n["definition"]["id"] for n in values["nodes"]] == [number, day, flag, pick, text]  # form order
    # stored typed on the FHIR Patient
    fhir = (await fhir_a.get(f"/Patient/{pid}")).json()
    custom = [e for e in fhir["extension"] if e["url"] == EXT["custom-field"]]
    typed = {p["valueReference"]["reference"]: v for e in custom
             for p in e["extension"] if p["url"] == "definition"
             for v in [next(x for x in e["extension"] if x["url"] == "value")]}
    assert typed[f"Basic/{number}"] == {"url": "value", "valueDecimal": 10.5}
    assert typed[f"Basic/{flag}"] == {"url": "value", "valueBoolean": True}
    assert typed[f"Basic/{day}"] == {"url": "value", "valueDate": "2026-05-01"}

    # upsert: a value changes, a null clears, the others stay
    again = (await gql.run(UPSERT, {"p": pid, "f": [{"fieldDefinitionId": number, "value": "11"},
                                                    {"fieldDefinitionId": text, "value": None}]}))
    assert [v["value"] for v in again["upsertPatientFieldValues"]] == ["11", None]
    values = (await gql.run(VALUES, {"p": pid}))["patientFieldValues"]
    assert {n["definition"]["id"]: n["value"] for n in values["nodes"]} == {
        number: "11", day: "2026-05-01", flag: "true", pick: "Web"}


async def test_upsert_validation(gql: GQL, tag: str) -> None:
    pid = await patient(gql, tag)
    number = await field(gql, f"Count {tag}", "NUMBER")
    day = await field(gql, f"Day {tag}", "DATE")
    flag = await field(gql, f"Yes {tag}", "BOOLEAN")
    pick = await field(gql, f"Pick {tag}", "DROPDOWN", dropdownOptions=["A", "B"])
    must = await field(gql, f"Must {tag}", "TEXT", isRequired=True)
    ok = {"fieldDefinitionId": await field(gql, f"Fine {tag}", "TEXT"), "value": "fine"}
    for bad, value in ((number, "ten"), (number, "NaN"), (day, "05/01/2026"), (day, "20260501"), (flag, "yes"),
                       (pick, "C"), (must, None), (must, "  ")):
        err = await gql.error(UPSERT, {"p": pid, "f": [ok, {"fieldDefinitionId": bad, "value": value}]})
        assert err["extensions"]["code"] == "VALIDATION", (bad, value)
        assert err["extensions"]["field"] == "fields.1.value"
    twice = await gql.error(UPSERT, {"p": pid, "f": [ok, ok]})
    assert twice["extensions"] == {"code": "VALIDATION", "field": "fields.1.fieldDefinitionId"}
    empty = await gql.error(UPSERT, {"p": pid, "f": []})
    assert empty["extensions"]["code"] == "VALIDATION"
    unknown = await gql.error(UPSERT, {"p": pid, "f": [{"fieldDefinitionId": "nope", "value": "x"}]})
    assert unknown["extensions"] == {"code": "NOT_FOUND", "field": "fields.0.fieldDefinitionId"}
    nobody = await gql.error(UPSERT, {"p": "no-such-patient", "f": [ok]})
    assert nobody["extensions"]["code"] == "NOT_FOUND"
    # nothing was written by the refused calls
    assert (await gql.run(VALUES, {"p": pid}))["patientFieldValues"]["totalCount"] == 0
    for query in (VALUES, FORM):
        err = await gql.error(query, {"p": "no-such-patient"})
        assert err["extensions"]["code"] == "NOT_FOUND"


async def test_form_view_lists_every_active_definition_in_order(gql: GQL, tag: str) -> None:
    pid = await patient(gql, tag)
    b = await field(gql, f"B {tag}", "TEXT", itemOrder=1)
    a = await field(gql, f"A {tag}", "TEXT", itemOrder=1, isRequired=True)
    first = await field(gql, f"Z {tag}", "NUMBER", itemOrder=0)
    gone = await field(gql, f"Gone {tag}", "TEXT")
    await gql.run(UPSERT, {"p": pid, "f": [{"fieldDefinitionId": b, "value": "bee"},
                                           {"fieldDefinitionId": gone, "value": "old"}]})
    await gql.run("mutation($id: ID!) { archiveFieldDefinition(id: $id, baseVersion: 1) { id } }", {"id": gone})
    form = (await gql.run(FORM, {"p": pid}))["patientFieldForm"]
    mine = [(i["definition"]["id"], i["value"]) for i in form["items"] if i["definition"]["id"] in (a, b, first, gone)]
    assert mine == [(first, None), (a, None), (b, "bee")]
    assert a in form["missingRequired"] and b not in form["missingRequired"]
    archived = await gql.error(UPSERT, {"p": pid, "f": [{"fieldDefinitionId": gone, "value": "new"}]})
    assert archived["extensions"]["code"] == "NOT_FOUND"
