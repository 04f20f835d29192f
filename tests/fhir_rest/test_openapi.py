"""The FHIR REST API's OpenAPI 3.1 document: generated from the CapabilityStatement's data, valid under
openapi-spec-validator, in agreement with ``metadata`` both ways (every type, interaction and operation of one is
in the other), served under both mounts with an interactive page that needs no internet (readable without
credentials: tests/app/test_errors.py)."""

from __future__ import annotations

import re

import httpx
from openapi_spec_validator import validate

from fhir_rest.openapi import INSTANCE_OPERATIONS, OPERATION_METHODS
from tests.pages import assert_served_offline

# What each interaction of the statement is, as (method, path) under the base.
PATHS = {"read": ("get", "/{rt}/{{id}}"), "vread": ("get", "/{rt}/{{id}}/_history/{{vid}}"),
         "update": ("put", "/{rt}/{{id}}"), "patch": ("patch", "/{rt}/{{id}}"), "delete": ("delete", "/{rt}/{{id}}"),
         "history-instance": ("get", "/{rt}/{{id}}/_history"), "history-type": ("get", "/{rt}/_history"),
         "create": ("post", "/{rt}"), "search-type": ("get", "/{rt}")}


async def test_document_is_valid_and_agrees_with_the_capability_statement(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/fhir/r4/metadata")).json()
    r = await client.get("/fhir/r4/openapi.json")  # no credentials, like metadata
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    validate(doc)
    assert doc["openapi"] == "3.1.0" and doc["servers"] == [{"url": "/fhir/r4"}]
    ops = [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]
    rest = statement["rest"][0]

    # statement → document: every type's interactions, search parameters and operations
    expected: set[tuple[str | None, str]] = set()
    for entry in rest["resource"]:
        rt = entry["type"]
        for interaction in entry["interaction"]:
            method, path = PATHS[interaction["code"]]
            op = doc["paths"][path.format(rt=rt)][method]
            assert (op["x-fhir-type"], op["x-fhir-interaction"]) == (rt, interaction["code"])
            expected.add((rt, interaction["code"]))
        search = doc["paths"][f"/{rt}"]["get"]
        assert {p["name"] for p in entry["searchParam"]} <= {p["name"] for p in search["parameters"]}
        for operation in entry.get("operation", []):
            path = (f"/{rt}/{{id}}/${operation['name']}" if (rt, operation["name"]) in INSTANCE_OPERATIONS
                    else f"/{rt}/${operation['name']}")
            methods = OPERATION_METHODS.get(operation["name"], ("get", "post"))
            assert {doc["paths"][path][m]["x-fhir-operation"] for m in methods} == {operation["name"]}
            expected.add((rt, "$" + operation["name"]))
    for operation in rest["operation"]:
        assert doc["paths"][f"/${operation['name']}"]["get"]["x-fhir-operation"] == operation["name"]
        expected.add((None, "$" + operation["name"]))
    assert doc["paths"]["/"]["post"]["x-fhir-interaction"] == [i["code"] for i in rest["interaction"]]

    # document → statement: nothing in it the statement does not list
    found: set[tuple[str | None, str]] = set()
    conditional = {"conditional-update": "conditionalUpdate", "conditional-delete": "conditionalDelete"}
    by_type = {e["type"]: e for e in rest["resource"]}
    for path, method, op in ops:
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", op["operationId"])
        rt = op.get("x-fhir-type")
        assert rt is None or rt in by_type, path
        if "x-fhir-operation" in op:
            found.add((rt, "$" + op["x-fhir-operation"]))
        elif rt is not None and op["x-fhir-interaction"] in conditional:
            assert by_type[rt][conditional[op["x-fhir-interaction"]]] not in (False, "not-supported")
        elif rt is not None:
            found.add((rt, op["x-fhir-interaction"]))
        else:
            assert (path, method) in {("/metadata", "get"), ("/", "post")}
    assert found == expected
    assert len({op["operationId"] for _, _, op in ops}) == len(ops)  # unique, as OpenAPI requires


async def test_both_mounts_and_the_page_need_no_internet_or_credentials(client: httpx.AsyncClient) -> None:
    r4 = (await client.get("/r4/openapi.json")).json()
    assert r4["servers"] == [{"url": "/r4"}] and "/Patient/{id}" in r4["paths"]
    await assert_served_offline(client, "/fhir/r4")
    assert (await client.get("/fhir/r4/docs/assets/..%2Fopenapi.py")).status_code == 404
    # without credentials where anonymous callers are refused: tests/app/test_errors.py
