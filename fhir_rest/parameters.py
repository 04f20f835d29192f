"""The parameters of an operation invoked over HTTP (FHIR R4 §3.1.0.12 operations): the query string, and for a
POST the ``Parameters`` resource in the body, as (name, value) pairs in order."""

from __future__ import annotations

import orjson
from starlette.requests import Request

from fhir_rest.negotiation import JSON_TYPES, require_body_type
from store.errors import Invalid


async def operation_parameters(request: Request, operation: str) -> list[tuple[str, str]]:
    """``operation`` names the call in errors ("A POST $docref takes a Parameters resource"). Values are read
    as text: a primitive ``value[x]``, a Reference's ``reference``, a Coding as ``system|code``, a boolean as
    ``true``/``false``, a number as its decimal text; a parameter without one is ``Invalid``."""
    params = list(request.query_params.multi_items())
    if request.method != "POST":
        return params
    raw = await request.body()
    if not raw:
        return params
    require_body_type(request.headers.get("content-type"), JSON_TYPES, "a Parameters resource (application/fhir+json)")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Invalid("The request body is not valid JSON") from None
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise Invalid(f"A POST {operation} takes a Parameters resource", paths=["resourceType"])
    for i, item in enumerate(body.get("parameter") or []):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise Invalid(f"Parameters.parameter[{i}] has no name", paths=[f"Parameters.parameter[{i}]"])
        value = next((v for k, v in item.items() if k.startswith("value")), None)
        if isinstance(value, dict):  # valueReference, valueCoding
            value = value.get("reference") or (f"{value.get('system', '')}|{value['code']}" if value.get("code")
                                               else None)
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):  # valueInteger, valuePositiveInt, valueDecimal
            value = str(value)
        if not isinstance(value, str):
            raise Invalid(f"Parameters.parameter[{i}] ({item['name'][:40]}) has no value",
                          paths=[f"Parameters.parameter[{i}]"])
        params.append((item["name"], value))
    return params
