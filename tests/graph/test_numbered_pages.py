"""Numbered pages (seed 003's page / page_size / total) of every classic list beside its Relay connection: the
same items in the same order, sliced by page, with the filters of the connection; bad paging is VALIDATION."""

from __future__ import annotations

from typing import Any

import pytest

from tests.graph.conftest import GQL
from tests.graph.test_chart_records import patient

# list field → (its numbered twin, the selection of an item's id, the filter both are asked with)
CHART_LISTS = {
    "allergies": ("allergyPage", "id", ""),
    "medications": ("medicationPage", "id", ""),
    "problems": ("problemPage", "id", "status: ACTIVE"),
    "vitalSigns": ("vitalSignsPage", "id", 'dateFrom: "2026-01-01"'),
    "alerts": ("alertPage", "id", ""),
    "communicationLogs": ("communicationLogPage", "id", 'mode: "phone"'),
}


async def chart_with_three_of_each(gql: GQL, fhir_a: Any, tag: str) -> tuple[str, str]:
    pid, kin = await patient(fhir_a, tag), await patient(fhir_a, tag, "Kin")
    alert_def = (await gql.run('mutation($n: String!) { createAlertDefinition(input: {name: $n}) { id } }',
                               {"n": f"Alert {tag}"}))["createAlertDefinition"]["id"]
    for i in range(1, 4):
        day = f"2026-01-0{i}"
        for write in (f'recordAllergy(patientId: $p, input: {{allergen: "A{i}"}})',
                      f'recordMedication(patientId: $p, input: {{name: "M{i}", dateStart: "{day}"}})',
                      f'recordProblem(patientId: $p, input: {{name: "P{i}", dateStart: "{day}"}})',
                      f'recordVitalSigns(patientId: $p, input: {{dateTaken: "{day}", pulse: 70}})',
                      f'createAlert(patientId: $p, input: {{alertDefinitionId: "{alert_def}"}})',
                      f'createCommunicationLog(patientId: $p, input: {{communicationDatetime: "{day}T09:00Z", '
                      f'mode: "phone"}})',
                      f'createRelationship(patientId: $p, input: {{relatedPatientId: $q, relationshipType: '
                      f'"{("sibling", "caregiver", "other_family")[i - 1]}"}})',
                      'createReferralAttribution(patientId: $p, input: {referringPatientId: $q})'):
            uses_q = "$q" in write
            await gql.run(f"mutation($p: ID!{', $q: ID!' if uses_q else ''}) {{ {write} {{ id }} }}",
                          {"p": pid, "q": kin} if uses_q else {"p": pid})
    # filtered out of both views alike
    await gql.run('mutation($p: ID!) { recordProblem(patientId: $p, input: {name: "Old", status: INACTIVE}) { id } }',
                  {"p": pid})
    await gql.run('mutation($p: ID!) { recordVitalSigns(patientId: $p, input: {dateTaken: "2025-06-01", pulse: 70}) '
                  '{ id } }', {"p": pid})
    await gql.run('mutation($p: ID!) { createCommunicationLog(patientId: $p, input: {communicationDatetime: '
                  '"2026-01-04T09:00Z", mode: "email"}) { id } }', {"p": pid})
    return pid, kin


def pages_query(lists: dict[str, tuple[str, str, str]], root: str) -> str:
    """One query asking each list whole and its pages 1, 2 and 3 of two items."""
    parts = []
    for name, (paged, sel, flt) in lists.items():
        args = f"({flt})" if flt else ""
        parts.append(f"{name}{args} {{ nodes {{ {sel} }} }}")
        for n in (1, 2, 3):
            both = f"{flt}, page: {n}, pageSize: 2" if flt else f"page: {n}, pageSize: 2"
            parts.append(f"{paged}_{n}: {paged}({both}) {{ page pageSize total items {{ {sel} }} }}")
    return root.replace("LISTS", "\n".join(parts))


def check_pages(data: dict[str, Any], lists: dict[str, tuple[str, str, str]], whole: dict[str, list[Any]]) -> None:
    for name, (paged, _, _) in lists.items():
        everything = whole[name]
        assert len(everything) == 3, (name, everything)
        for n in (1, 2, 3):
            got = data[f"{paged}_{n}"]
            assert (got["page"], got["pageSize"], got["total"]) == (n, 2, 3), (paged, got)
            assert got["items"] == everything[(n - 1) * 2:n * 2], (paged, n)


async def test_every_chart_list_has_numbered_pages_of_the_same_items(gql: GQL, fhir_a: Any, tag: str) -> None:
    pid, _ = await chart_with_three_of_each(gql, fhir_a, tag)
    lists = {**CHART_LISTS, "relationships": ("relationshipPage", "id relationshipType", "")}
    q = pages_query(lists, "query($p: ID!) { patient(id: $p) { LISTS } }")
    q = q.replace("relationships { nodes { id relationshipType } }", "relationships { id relationshipType }")
    data = (await gql.run(q, {"p": pid}))["patient"]
    whole = {name: data[name] if name == "relationships" else data[name]["nodes"] for name in lists}
    check_pages(data, lists, whole)
    # newest first, as the connection
    assert [v["id"] for v in whole["vitalSigns"]] == [v["id"] for v in data["vitalSignsPage_1"]["items"]
                                                      + data["vitalSignsPage_2"]["items"]]


async def test_patient_root_lists_and_catalogs_have_numbered_pages(gql: GQL, fhir_a: Any, tag: str) -> None:
    pid, _ = await chart_with_three_of_each(gql, fhir_a, tag)
    fields = []
    for i in range(3):
        made = await gql.run('mutation($n: String!) { createFieldDefinition(input: {name: $n, fieldType: TEXT}) '
                             '{ id } }', {"n": f"Field {i} {tag}"})
        fields.append(made["createFieldDefinition"]["id"])
        await gql.run('mutation($n: String!) { createTagDefinition(input: {name: $n}) { id } }',
                      {"n": f"Tag {i} {tag}"})
    await gql.run("""mutation($p: ID!, $f: [FieldValueInput!]!) { upsertPatientFieldValues(patientId: $p,
        fields: $f) { value } }""", {"p": pid, "f": [{"fieldDefinitionId": f, "value": "x"} for f in fields]})
    lists = {"patientFieldValues": ("patientFieldValuePage", "definition { id }", "patientId: $p"),
             "patientReferralAttributions": ("patientReferralAttributionPage", "id", "patientId: $p"),
             "tagDefinitions": ("tagDefinitionPage", "id name", "search: $t"),
             "fieldDefinitions": ("fieldDefinitionPage", "id", "search: $t"),
             "alertDefinitions": ("alertDefinitionPage", "id", "search: $t")}
    data = await gql.run(pages_query(lists, "query($p: ID!, $t: String) { LISTS }"), {"p": pid, "t": tag})
    data["alertDefinitions"]["nodes"] *= 3  # one alert definition: checked apart below
    whole = {name: data[name]["nodes"] for name in lists}
    check_pages(data, {k: v for k, v in lists.items() if k != "alertDefinitions"}, whole)
    assert [n["name"] for n in whole["tagDefinitions"]] == [f"Tag {i} {tag}" for i in range(3)]
    one = data["alertDefinitionPage_1"]
    assert (one["total"], len(one["items"]), data["alertDefinitionPage_2"]["items"]) == (1, 1, [])


@pytest.mark.parametrize(("args", "field"), [("page: 0", "page"), ("pageSize: 0", "pageSize"),
                                             ("pageSize: 101", "pageSize"), ("page: -1, pageSize: 5", "page")])
async def test_bad_paging_is_a_validation_error_naming_the_argument(gql: GQL, fhir_a: Any, tag: str, args: str,
                                                                    field: str) -> None:
    pid = await patient(fhir_a, tag)
    for q in (f"query($p: ID!) {{ patient(id: $p) {{ allergyPage({args}) {{ total }} }} }}",
              f"query($p: ID!) {{ patientReferralAttributionPage(patientId: $p, {args}) {{ total }} }}",
              f"query {{ tagDefinitionPage({args}) {{ total }} }}",
              f"query {{ patientPage({args}) {{ total }} }}"):
        err = await gql.error(q, {"p": pid} if "$p" in q else None)
        assert err["extensions"] == {"code": "VALIDATION", "field": field}, (q, err)


async def test_a_page_past_the_end_is_empty_and_the_patient_must_exist(gql: GQL, fhir_a: Any, tag: str) -> None:
    pid = await patient(fhir_a, tag)
    page = (await gql.run("query($p: ID!) { patient(id: $p) { problemPage(page: 7) { page pageSize total items "
                          "{ id } } } }", {"p": pid}))["patient"]["problemPage"]
    assert page == {"page": 7, "pageSize": 50, "total": 0, "items": []}
    err = await gql.error("query { patientFieldValuePage(patientId: \"nobody\") { total } }")
    assert err["extensions"]["code"] == "NOT_FOUND"


async def test_default_page_sizes_are_the_seeds(gql: GQL, fhir_a: Any, tag: str) -> None:
    # seed 003: a patient's field values come 100 to a page; the patients' cursor list 50 (as the numbered list)
    pid = await patient(fhir_a, tag)
    page = (await gql.run("query($p: ID!) { patientFieldValuePage(patientId: $p) { page pageSize } }",
                          {"p": pid}))["patientFieldValuePage"]
    assert page == {"page": 1, "pageSize": 100}
    for _ in range(51 - len((await gql.run("query { patients(first: 51) { edges { cursor } } }"))["patients"]
                                ["edges"])):
        await patient(fhir_a, tag)
    edges = (await gql.run("query { patients { edges { cursor } } }"))["patients"]["edges"]
    assert len(edges) == 50
