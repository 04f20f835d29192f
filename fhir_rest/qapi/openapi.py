"""The OpenAPI 3.1 document of ``/qapi/v1``, generated from the operation table (table.py) and the body schemas
(schemas.py): ``GET /qapi/v1/openapi.json``, and ``GET /qapi/v1/docs``, an interactive page (Swagger UI 5, which
reads OpenAPI 3.1, served from the static files the ``swagger-ui-py`` package ships: no request leaves the
server, and the page runs no inline script)."""

from __future__ import annotations

import functools
import html
import importlib.util
import mimetypes
import re
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from fhir_rest.qapi.table import Op
from store.errors import NotFound

TITLE = "fhirgraph vendor API (qapi v1)"
REASONS = {400: "Bad Request: a parameter or the body is invalid", 401: "Missing or invalid Api-Key",
           403: "The key's scopes do not cover this operation", 404: "Not found", 405: "Method not allowed",
           409: "Conflict with the current state", 413: "Body too large", 415: "Unsupported Content-Type",
           429: "Rate limit exceeded", 503: "Temporarily unavailable; retry"}
ALWAYS = (401, 403, 429, 503)
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}}}
BARE_ERROR = {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}
ASSET = re.compile(r"[A-Za-z0-9._-]{1,100}")


def document(ops: list[Op], *, server: str = "/qapi/v1") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": "1",
                 "description": "The vendor REST API of seed 002 over the FHIR store: every patient, appointment, "
                                "note and webhook is an ordinary FHIR resource, visible through FHIR REST and "
                                "GraphQL. Errors are {\"error\": {\"message\": ...}} (the assistance routes: "
                                "{\"message\": ...}, as seed 002 shows them)."},
        "servers": [{"url": server}],
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "Api-Key"}},
            "schemas": {"Error": ERROR, "BareError": BARE_ERROR},
        },
    }


def _operation(op: Op) -> dict[str, Any]:
    words = re.sub(r"[^A-Za-z0-9]+", " ", op.summary).title().replace(" ", "")
    method = "" if op.method == "GET" else op.method.title()
    out: dict[str, Any] = {"operationId": words[:1].lower() + words[1:] + method, "summary": op.summary,
                           "tags": [op.tag]}
    if op.description:
        out["description"] = op.description
    params = [{"name": name, "in": "path", "required": True, "schema": op.path_types.get(name, {"type": "string",
                                                                                                  "minLength": 1})}
              for name in op.path_params]
    params += [{"name": p.name, "in": p.where, "required": p.required, "schema": p.schema,
                **({"description": p.description} if p.description else {})} for p in op.params]
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": op.body_required,
                              "content": {kind: {"schema": op.body} for kind in op.body_type.split("|")}}
    ok: dict[str, Any] = {"description": "OK" if op.ok == 200 else "Created" if op.ok == 201 else "Done"}
    if op.reply is not None:
        ok["content"] = {op.reply_type: {"schema": op.reply}}
    responses: dict[str, Any] = {str(op.ok): ok}
    extra = (413,) if op.body is not None else ()
    error_schema = "#/components/schemas/" + ("BareError" if op.bare_errors else "Error")
    for code in sorted({*op.errors, *ALWAYS, *extra}):
        responses[str(code)] = {"description": REASONS.get(code, "Error"),
                                "content": {"application/json": {"schema": {"$ref": error_schema}}}}
    out["responses"] = responses
    return out


@functools.cache
def _rendered(base: str) -> bytes:
    from fhir_rest.qapi.routes import operations

    return orjson.dumps(document(operations(), server=base))


async def openapi_json(request: Request) -> Response:
    return Response(_rendered(request.scope.get("root_path", "") + "/qapi/v1"), media_type="application/json")


@functools.cache
def _assets() -> Path | None:
    # Only its static files are used: found without importing the package (its framework glue is not needed).
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    return static if (static / "swagger-ui-bundle.js").is_file() else None


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/docs-init.js"></script>
</body></html>"""
# The page's one script of ours, as a file (the page allows no inline script).
INIT = b"window.ui = SwaggerUIBundle({url: 'openapi.json', dom_id: '#ui', deepLinking: true});\n"
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'"


def page(title: str) -> Response:
    """The Swagger UI page of the ``openapi.json`` beside it (the FHIR REST API's too: fhir_rest/openapi.py)."""
    if _assets() is None:
        return Response(b"The interactive page needs the swagger-ui-py package; the document is openapi.json",
                        status_code=503, media_type="text/plain")
    body = PAGE.format(title=html.escape(title)).encode()
    return Response(body, media_type="text/html", headers={"Content-Security-Policy": CSP})


async def docs_page(request: Request) -> Response:
    return page(TITLE)


async def docs_asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name == "docs-init.js":
        return Response(INIT, media_type="text/javascript", headers={"Cache-Control": "max-age=3600"})
    root = _assets()
    if root is None or not ASSET.fullmatch(name) or not (root / name).is_file():
        raise NotFound("No such asset")
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(root / name, media_type=kind, headers={"Cache-Control": "max-age=86400",
                                                                "X-Content-Type-Options": "nosniff"})
