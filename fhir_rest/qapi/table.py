"""One row per qapi operation — the single source of the route table (``routes.py``) and of the OpenAPI
document (``openapi.py``): its method and path, the endpoint, what it is for, and the JSON Schemas of its
parameters, body and answer."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

Schema = dict[str, Any]
Endpoint = Callable[[Request], Awaitable[Response]]
PATH_PARAM = re.compile(r"\{([a-zA-Z_]+)\}")


@dataclass(frozen=True)
class Param:
    name: str
    schema: Schema
    description: str = ""
    required: bool = False
    where: str = "query"  # query | header


@dataclass(frozen=True)
class Op:
    method: str
    path: str  # relative to /qapi/v1; ``{name}`` path parameters
    endpoint: Endpoint
    summary: str
    tag: str
    ok: int = 200
    reply: Schema | None = None  # the JSON Schema of the answer; None: no body
    reply_type: str = "application/json"
    body: Schema | None = None  # the JSON Schema of a JSON body
    body_type: str = "application/json"  # media types a body may have, "|"-separated
    body_required: bool = True
    params: tuple[Param, ...] = ()
    path_types: dict[str, Schema] = field(default_factory=dict)  # path parameter name → schema (default string)
    errors: tuple[int, ...] = (400, 404)
    description: str = ""
    extra: bool = False  # beyond seed 002 (operators' additions)
    # Seed 002 answers most errors as {"error": {"message"}}, but the assistance routes as a bare {"message"}.
    bare_errors: bool = False

    @property
    def path_params(self) -> list[str]:
        return PATH_PARAM.findall(self.path)
