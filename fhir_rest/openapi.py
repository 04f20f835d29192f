"""The OpenAPI 3.1 document of the FHIR R4 REST API, generated from the CapabilityStatement's data
(capability.py): every resource type, interaction, search parameter and operation it lists becomes a path
operation, and nothing else does — ``GET [base]/openapi.json``; ``GET [base]/docs`` is the interactive page
(Swagger UI from ``swagger-ui-py``'s static files, as the vendor API's: no request leaves the server).

Each operation names what it stands for in the statement: ``x-fhir-type`` (absent at system level) and
``x-fhir-interaction`` (a ``CapabilityStatement.rest.resource.interaction`` or ``rest.interaction`` code) or
``x-fhir-operation`` (an operation's ``name``). Both documents are readable without credentials, like
``metadata``.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fhir_rest.capability import capability_statement
from fhir_rest.qapi import openapi as qapi_docs

TITLE = "fhirgraph FHIR R4 REST API"
FHIR_JSON = "application/fhir+json"
# Operations invoked on an instance ([base]/[type]/[id]/$name); the others of a type on the type, and the
# system's on the base. Methods: GET and POST unless listed (a status poll is read and cancelled).
INSTANCE_OPERATIONS = frozenset({("Group", "export"), ("Patient", "everything")})
OPERATION_METHODS = {"bulkdata-status": ("get", "delete"), "everything": ("get", "post"), "validate": ("post",)}
REASONS = {400: "Bad request (an OperationOutcome says why)", 401: "Missing or invalid credentials",
           403: "The token's scopes do not cover this interaction", 404: "Not found", 405: "Method not allowed",
           409: "Conflict with the current state", 410: "Deleted", 412: "Version conflict (If-Match)",
           413: "Body too large", 415: "Unsupported Content-Type", 422: "Invalid resource",
           429: "Rate limit exceeded", 503: "Temporarily unavailable; retry"}
ALWAYS = (401, 403, 429, 503)
ERRORS = {
    "read": (404, 410), "vread": (404, 410), "update": (400, 409, 412, 415, 422), "patch": (400, 404, 412, 415, 422),
    "delete": (404, 409), "history-instance": (404,), "history-type": (400,), "create": (400, 409, 412, 415, 422),
    "search-type": (400,), "conditional-update": (400, 412, 422), "conditional-delete": (400, 412),
    "transaction": (400, 409, 412, 422), "batch": (400,), "capabilities": (), "operation": (400, 404),
}
ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": r"^[A-Za-z0-9\-.]{1,64}$"}}


def document(base: str) -> dict[str, Any]:
    """The document for a server at ``base`` (the path clients call, e.g. ``/fhir/r4``)."""
    rest = capability_statement(base, "")["rest"][0]
    paths: dict[str, dict[str, Any]] = {}
    ids: set[str] = set()

    def add(path: str, method: str, op: dict[str, Any]) -> None:
        if op["operationId"] in ids:  # one interaction by two methods (search by GET and POST _search)
            op["operationId"] += method.title()
        ids.add(op["operationId"])
        paths.setdefault(path, {})[method] = op

    add("/metadata", "get", _op("capabilities", None, "The CapabilityStatement: what this server supports",
                                reply="CapabilityStatement"))
    for entry in rest["resource"]:
        rt = entry["type"]
        codes = {i["code"] for i in entry.get("interaction") or ()}
        search = [_search_param(p) for p in entry.get("searchParam") or ()] + \
                 [_search_param(p) for p in rest.get("searchParam") or ()] + _includes(entry)
        if "read" in codes:
            add(f"/{rt}/{{id}}", "get", _op("read", rt, f"Read a {rt}", params=[ID], reply=rt))
        if "vread" in codes:
            add(f"/{rt}/{{id}}/_history/{{vid}}", "get", _op("vread", rt, f"Read a version of a {rt}", reply=rt,
                params=[ID, {"name": "vid", "in": "path", "required": True, "schema": {"type": "string"}}]))
        if "update" in codes:
            add(f"/{rt}/{{id}}", "put", _op("update", rt, f"Update (or create with this id) a {rt}", params=[
                ID, _header("If-Match", 'Only if the current version is this one: W/"<versionId>"')],
                body=rt, reply=rt))
        if "patch" in codes:
            add(f"/{rt}/{{id}}", "patch", _op("patch", rt, f"Change a {rt} with a JSON Patch", reply=rt, params=[
                ID, _header("If-Match", 'Only if the current version is this one: W/"<versionId>"')],
                body="JsonPatch"))
        if "delete" in codes:
            add(f"/{rt}/{{id}}", "delete", _op("delete", rt, f"Delete a {rt}", params=[ID], reply=None))
        if "history-instance" in codes:
            add(f"/{rt}/{{id}}/_history", "get", _op("history-instance", rt, f"The versions of a {rt}",
                                                      params=[ID, *_history_params()], reply="Bundle"))
        if "history-type" in codes:
            add(f"/{rt}/_history", "get", _op("history-type", rt, f"The changes to every {rt}",
                                              params=_history_params(), reply="Bundle"))
        if "search-type" in codes:
            add(f"/{rt}", "get", _op("search-type", rt, f"Search {rt} resources", params=search, reply="Bundle"))
            add(f"/{rt}/_search", "post", _op("search-type", rt, f"Search {rt} resources (parameters in a form)",
                                              body="SearchForm", reply="Bundle"))
        if "create" in codes:
            add(f"/{rt}", "post", _op("create", rt, f"Create a {rt}", body=rt, reply=rt, params=[
                _header("If-None-Exist", "Conditional create: a search; when one resource matches, it is answered"),
                _header("Idempotency-Key", "A retried request with the same key gets the first one's answer")]))
        if entry.get("conditionalUpdate"):
            add(f"/{rt}", "put", _op("conditional-update", rt, f"Update the {rt} a search finds (or create it)",
                                     params=search, body=rt, reply=rt))
        if entry.get("conditionalDelete") not in (None, "not-supported"):
            add(f"/{rt}", "delete", _op("conditional-delete", rt, f"Delete the {rt} a search finds",
                                        params=search, reply=None))
        for operation in entry.get("operation") or ():
            name = operation["name"]
            path = f"/{rt}/{{id}}/${name}" if (rt, name) in INSTANCE_OPERATIONS else f"/{rt}/${name}"
            for method in OPERATION_METHODS.get(name, ("get", "post")):
                add(path, method, _operation(operation, rt, path))
    system = [i["code"] for i in rest.get("interaction") or ()]  # transaction, batch: both POST [base]
    if system:
        add("/", "post", _op("-".join(system), None, f"A {' or '.join(system)} Bundle", body="Bundle",
                             reply="Bundle", interaction_codes=system))
    for operation in rest.get("operation") or ():
        path = f"/${operation['name']}"
        for method in OPERATION_METHODS.get(operation["name"], ("get", "post")):
            add(path, method, _operation(operation, None, path))
    types = [e["type"] for e in rest["resource"]]
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": "4.0.1",
                 "description": "FHIR R4 (4.0.1) REST, generated from this server's CapabilityStatement "
                                "(GET metadata). Resources are FHIR JSON (http://hl7.org/fhir/R4/); errors are "
                                "OperationOutcomes. Credentials: an OAuth 2.0 / SMART on FHIR bearer token "
                                "(.well-known/smart-configuration) or an API key in X-API-Key."},
        "servers": [{"url": base}],
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
            "schemas": {
                "Resource": {"type": "object", "required": ["resourceType"],
                             "properties": {"resourceType": {"type": "string"}, "id": {"type": "string"},
                                            "meta": {"type": "object"}},
                             "description": "A FHIR R4 resource (http://hl7.org/fhir/R4/resourcelist.html)"},
                **{rt: {"allOf": [{"$ref": "#/components/schemas/Resource"}],
                        "properties": {"resourceType": {"const": rt}},
                        "description": f"http://hl7.org/fhir/R4/{rt.lower()}.html"} for rt in types},
                **{rt: {"allOf": [{"$ref": "#/components/schemas/Resource"}],
                        "properties": {"resourceType": {"const": rt}}}
                   for rt in ("Bundle", "CapabilityStatement", "OperationOutcome", "Parameters") if rt not in types},
                "JsonPatch": {"type": "array", "items": {
                    "type": "object", "required": ["op", "path"],
                    "properties": {"op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]},
                                   "path": {"type": "string"}, "from": {"type": "string"}, "value": {}}}},
                "SearchForm": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    }


def _op(interaction: str, rt: str | None, summary: str, *, params: list[dict[str, Any]] | None = None,
        body: str | None = None, reply: str | None, interaction_codes: list[str] | None = None) -> dict[str, Any]:
    words = "".join(w.title() for w in interaction.split("-"))
    out: dict[str, Any] = {"operationId": (rt[:1].lower() + rt[1:] if rt else "system") + words,
                           "summary": summary, "tags": [rt or "System"]}
    if rt is not None:
        out["x-fhir-type"] = rt
    out["x-fhir-interaction"] = interaction_codes or interaction
    if params:
        out["parameters"] = params
    if body is not None:
        kind = ("application/json-patch+json" if body == "JsonPatch"
                else "application/x-www-form-urlencoded" if body == "SearchForm" else FHIR_JSON)
        out["requestBody"] = {"required": True, "content": {kind: {"schema": _ref(body)}}}
    ok: dict[str, Any] = {"description": "OK"}
    if reply is not None:
        ok["content"] = {FHIR_JSON: {"schema": _ref(reply)}, "application/json": {"schema": _ref(reply)}}
    codes = {"create": "201"}.get(interaction, "200")
    responses: dict[str, Any] = {codes: ok}
    if interaction in ("update", "conditional-update"):
        responses["201"] = {"description": "Created", **({"content": ok["content"]} if "content" in ok else {})}
    if interaction in ("delete", "conditional-delete"):
        responses["204"] = {"description": "Deleted"}
    for code in sorted({*ERRORS.get(interaction, ()), *ALWAYS}):
        responses[str(code)] = {"description": REASONS.get(code, "Error"),
                                "content": {FHIR_JSON: {"schema": _ref("OperationOutcome")}}}
    out["responses"] = responses
    return out


def _operation(operation: dict[str, Any], rt: str | None, path: str) -> dict[str, Any]:
    name = operation["name"]
    out = _op("operation", rt, f"${name}", reply=None, params=[ID] if "{id}" in path else None)
    out["operationId"] = (rt[:1].lower() + rt[1:] if rt else "system") + "".join(
        w.title() for w in name.split("-")) + ("Instance" if "{id}" in path else "")
    del out["x-fhir-interaction"]
    out["x-fhir-operation"] = name
    out["description"] = operation.get("documentation") or f"Defined by {operation.get('definition')}"
    out["responses"]["202"] = {"description": "Accepted: a job was started or is still running (Content-Location)"}
    return out


def _search_param(p: dict[str, Any]) -> dict[str, Any]:
    kind = {"number": "a number, with a prefix (ge, lt, ...)", "date": "a date, with a prefix (ge, lt, ...)",
            "token": "[system|]code", "reference": "[Type/]id", "string": "text (starts with, accents and case "
            "ignored)"}.get(p["type"], p["type"])
    return {"name": p["name"], "in": "query", "required": False, "schema": {"type": "string"},
            "description": f"{p['type']} search parameter: {kind}"}


def _includes(entry: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, values in (("_include", entry.get("searchInclude")), ("_revinclude", entry.get("searchRevInclude"))):
        if values:
            out.append({"name": name, "in": "query", "required": False, "style": "form", "explode": True,
                        "schema": {"type": "array", "items": {"enum": list(values)}}})
    return out


def _history_params() -> list[dict[str, Any]]:
    return [{"name": "_count", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
            {"name": "_since", "in": "query", "required": False, "schema": {"type": "string"}}]


def _header(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "schema": {"type": "string"},
            "description": description}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


@functools.cache
def _rendered(base: str) -> bytes:
    return orjson.dumps(document(base))


async def openapi_json(request: Request) -> Response:
    # Servers as the client called them (``/fhir/r4`` or ``/r4``): one rendering per mount.
    return Response(_rendered(str(request.scope.get("fhir_prefix", "/fhir/r4"))), media_type="application/json")


async def docs_page(request: Request) -> Response:
    return qapi_docs.page(TITLE)


async def docs_asset(request: Request) -> Response:
    return await qapi_docs.docs_asset(request)
