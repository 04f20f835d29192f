"""The one FHIR validity gate (DESIGN.md decision 9): every write, from every door, passes through here.

Uses the ``fhir.resources.R4B`` models (the closest to R4 4.0.1 that run on pydantic 2).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from store.errors import Invalid, NotFound

ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@lru_cache(maxsize=256)
def model_for(resource_type: str) -> Any:
    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return None


def is_resource_type(name: str) -> bool:
    return bool(name) and name[0].isupper() and name.isalpha() and model_for(name) is not None


def check_id(resource_id: str) -> None:
    if not ID_RE.match(resource_id):
        raise Invalid(f"'{resource_id[:70]}' is not a valid FHIR id ([A-Za-z0-9-.]{{1,64}})", expression=["id"])


def validate(resource: dict[str, Any]) -> None:
    """Raise ``Invalid`` (422) naming every offending element path, or return quietly."""
    if not isinstance(resource, dict):
        raise Invalid("A FHIR resource must be a JSON object")
    rt = resource.get("resourceType")
    if not isinstance(rt, str) or not rt:
        raise Invalid("Missing resourceType", expression=["resourceType"])
    model = model_for(rt)
    if model is None:
        raise NotFound(f"Unknown resource type '{rt[:64]}'")
    if "id" in resource:
        if not isinstance(resource["id"], str):
            raise Invalid("id must be a string", unprocessable=True, expression=[f"{rt}.id"])
        check_id(resource["id"])
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        details = []
        paths = []
        for err in exc.errors()[:50]:
            path = _path(rt, err.get("loc", ()))
            paths.append(path)
            details.append({
                "severity": "error",
                "code": "structure" if err.get("type") == "extra_forbidden" else "value",
                "diagnostics": f"{path}: {_message(err)}",
                "expression": [path],
            })
        raise Invalid(f"{rt} failed validation ({len(exc.errors())} issue(s))", unprocessable=True,
                      expression=list(dict.fromkeys(paths)), details=details) from None
    except (ValueError, TypeError) as exc:
        raise Invalid(f"{rt} failed validation: {str(exc)[:200]}", unprocessable=True) from None


def _path(rt: str, loc: tuple[Any, ...]) -> str:
    out = rt
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not part.startswith("function-") and part not in ("__root__",):
            out += f".{part}"
    return out


def _message(err: Any) -> str:
    msg = str(err.get("msg", "invalid"))
    # Never echo input values: they may be patient data (names, SSNs) and end up in logs.
    return msg.replace("Value error, ", "")[:200]
