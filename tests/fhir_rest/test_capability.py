"""The CapabilityStatement (fhir_rest/capability.py) says exactly what works: every interaction and operation it
lists has a route, every route is listed, and every search parameter, include, revinclude and chain it lists is
accepted by a strict search of the running server."""

from __future__ import annotations

from typing import Any

import httpx
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from starlette.routing import Match, Route

from fhir_rest.capability import capability_statement
from fhir_rest.routes import ROUTES
from store.params import PARAMS

STRICT = {"Prefer": "handling=strict"}
# What a route serves, as (method, path with sample values) per interaction (FHIR restful-interaction codes).
INTERACTION_PATHS = {
    "read": [("GET", "/{type}/x1")], "vread": [("GET", "/{type}/x1/_history/1")], "update": [("PUT", "/{type}/x1")],
    "patch": [("PATCH", "/{type}/x1")], "delete": [("DELETE", "/{type}/x1")],
    "history-instance": [("GET", "/{type}/x1/_history")], "history-type": [("GET", "/{type}/_history")],
    "create": [("POST", "/{type}")], "search-type": [("GET", "/{type}"), ("POST", "/{type}/_search")],
}


def statement() -> dict[str, Any]:
    return capability_statement("http://server.test/fhir/r4", "http://server.test")


def route_for(method: str, path: str) -> Route | None:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    for route in ROUTES:
        if isinstance(route, Route) and route.matches(scope)[0] == Match.FULL:
            return route
    return None


def test_the_statement_is_a_valid_r4_capability_statement() -> None:
    CapabilityStatement.model_validate(statement())


def test_every_listed_interaction_and_operation_has_a_route() -> None:
    rest = statement()["rest"][0]
    assert {r["type"] for r in rest["resource"]} == set(PARAMS)
    for resource in rest["resource"]:
        rt = resource["type"]
        for interaction in resource["interaction"]:
            for method, template in INTERACTION_PATHS[interaction["code"]]:
                assert route_for(method, template.format(type=rt)) is not None, (rt, interaction)
        for op in resource.get("operation", []):
            found = [route_for(m, f"/{rt}/${op['name']}") or route_for(m, f"/{rt}/x1/${op['name']}")
                     for m in ("GET", "POST")]
            assert any(found), (rt, op["name"])
    for op in rest["operation"]:
        assert route_for("GET", f"/${op['name']}") is not None, op["name"]
    codes = {i["code"] for i in rest["interaction"]}
    assert codes == {"transaction", "batch"} and route_for("POST", "/") is not None


def test_every_route_is_listed() -> None:
    rest = statement()["rest"][0]
    by_type = {r["type"]: r for r in rest["resource"]}
    system_ops = {op["name"] for op in rest["operation"]}
    type_ops = {(rt, op["name"]) for rt, r in by_type.items() for op in r.get("operation", [])}
    listed = {(rt, i["code"]) for rt, r in by_type.items() for i in r["interaction"]}
    for route in ROUTES:
        assert isinstance(route, Route)
        path = route.path
        if path in ("/metadata", "/", "/Document/{id:str}/Binary", "/openapi.json", "/docs", "/docs/assets/{name:str}"):
            # the statement itself, the base, export files, the statement as OpenAPI and its page
            continue
        operation = next((seg[1:] for seg in path.split("/") if seg.startswith("$")), None)
        if operation is not None:
            head = path.split("/")[1]
            if head.startswith("$"):
                assert operation in system_ops, path
            elif head == "{type:str}":
                assert all((rt, operation) in type_ops for rt in PARAMS), path
            else:
                assert (head, operation) in type_ops, path
            continue
        for method in route.methods or ():
            if method == "HEAD":
                continue
            served = [code for code, forms in INTERACTION_PATHS.items() for m, template in forms
                      if m == method and route_for(m, template.format(type="Patient")) is route]
            if not served:  # conditional update / delete: flags of the statement, not interactions
                assert path == "/{type:str}" and method in ("PUT", "DELETE"), (method, path)
                assert by_type["Patient"]["conditionalUpdate"] and by_type["Patient"]["conditionalDelete"] == "single"
                continue
            assert all((rt, served[0]) in listed for rt in PARAMS if rt not in ("AuditEvent", "Communication",
                                                                                "Provenance")), (method, path)


async def test_every_listed_search_feature_is_accepted_strictly(fhir: httpx.AsyncClient) -> None:
    rest = (await fhir.get("/metadata")).json()["rest"][0]
    assert rest == statement()["rest"][0] | {"security": rest["security"]}
    none = ("_id", "nothing-here")  # nothing matches: every check is a cheap empty search
    for resource in rest["resource"]:
        rt = resource["type"]
        for param in resource["searchParam"]:
            r = await fhir.get(f"/{rt}", params=[none, (f"{param['name']}:missing", "true")], headers=STRICT)
            assert r.status_code == 200, (rt, param["name"], r.text[:200])
            if param["type"] == "reference":
                p = next(p for p in PARAMS[rt] if p.name == param["name"])
                for target in (t for t in p.targets if t in PARAMS):
                    r = await fhir.get(f"/{rt}", params=[none, (f"{p.name}:{target}._id", "x")], headers=STRICT)
                    assert r.status_code == 200, (rt, p.name, target, r.text[:200])
        for name, key in (("searchInclude", "_include"), ("searchRevInclude", "_revinclude")):
            for spec in resource[name]:
                for form in (key, f"{key}:iterate"):
                    r = await fhir.get(f"/{rt}", params=[none, (form, spec)], headers=STRICT)
                    assert r.status_code == 200, (rt, form, spec, r.text[:200])
    samples = {"_count": ("_count", "5"), "_sort": ("_sort", "_id"), "_summary": ("_summary", "true"),
               "_elements": ("_elements", "id"), "_total": ("_total", "accurate"),
               "_has": ("_has:Observation:patient:code", "x")}
    assert {p["name"] for p in rest["searchParam"]} == set(samples)
    for param in rest["searchParam"]:
        r = await fhir.get("/Patient", params=[none, samples[param["name"]]], headers=STRICT)
        assert r.status_code == 200, (param, r.text[:200])


async def test_what_is_not_listed_is_not_served(fhir: httpx.AsyncClient) -> None:
    rest = statement()["rest"][0]
    codes = {i["code"] for r in rest["resource"] for i in r["interaction"]} | {i["code"] for i in rest["interaction"]}
    assert not codes & {"history-system", "search-system"}
    assert (await fhir.get("/_history")).status_code in (404, 405)
    assert rest["resource"][0]["conditionalRead"] == "not-supported"
    append_only = {r["type"]: {i["code"] for i in r["interaction"]} for r in rest["resource"]
                   if r["type"] in ("AuditEvent", "Communication", "Provenance")}
    for codes_of in append_only.values():
        assert not codes_of & {"update", "patch", "delete"}
    assert statement()["format"] == ["application/fhir+json", "json"]
    assert (await fhir.get("/metadata", params={"_format": "xml"})).status_code == 406


def test_the_audit_trail_says_which_scopes_read_it() -> None:
    rest = statement()["rest"][0]
    audit = next(r for r in rest["resource"] if r["type"] == "AuditEvent")
    assert "user/AuditEvent.rs" in audit["documentation"] and "system/AuditEvent.c" in audit["documentation"]
    assert "patient/* and user/* wildcards do not grant it" in audit["documentation"]
    assert "AuditEvent" in rest["security"]["description"]
