"""What every qapi endpoint does at its edge: who is calling and what they may do (the one policy,
auth/policy.py), the JSON body and its fields (shape only: FHIR validity is the store's), the response, and
the seed's two time shapes (unix seconds, FHIR instants). Errors are domain errors (store/errors.py), rendered
once by ``errors.py``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from auth.policy import Decision, authorize
from auth.principal import Principal
from store.errors import Invalid, Unauthorized, UnsupportedMediaType

JSON = "application/json"
# The seed's time stamps are unix seconds; the store keeps FHIR instants. Bounds keep both representable.
MIN_UNIX = 0
MAX_UNIX = 253_402_300_799  # 9999-12-31T23:59:59Z


def caller(request: Request) -> Principal:
    """The authenticated caller (the auth middleware read its ``Api-Key``, X-API-Key or bearer token)."""
    principal: Principal | None = request.scope.get("auth")
    if principal is None:
        raise Unauthorized("Missing or invalid Api-Key")
    return principal


def allowed(request: Request, *needs: tuple[str, str]) -> tuple[Principal, dict[str, Decision]]:
    """The caller and one decision per resource type, when its scopes grant each ``(interaction, type)`` the
    route performs — all of them, before anything is read or written (else ``Forbidden`` naming the scope)."""
    principal = caller(request)
    decisions: dict[str, Decision] = {}
    for interaction, rt in needs:
        decision = authorize(principal, interaction, rt)
        decisions.setdefault(rt, decision)
    return principal, decisions


def reply(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body. A body of another media type is 415; no body, an empty object."""
    raw = await request.body()
    ctype = request.headers.get("content-type", JSON).split(";")[0].strip().lower()
    if raw.strip() and ctype not in (JSON, "text/json", "application/*+json") and not ctype.endswith("+json"):
        raise UnsupportedMediaType(f"Content-Type must be {JSON}")
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Invalid("The body must be JSON") from None
    if not isinstance(data, dict):
        raise Invalid("The body must be a JSON object")
    return data


# ---------------------------------------------------------------------------------------------- fields


def opt_str(body: dict[str, Any], name: str, *, max_len: int = 1024) -> str | None:
    """A string field: absent or null → None; an empty string stays empty (the caller decides what it means)."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a string", field=name)
    if len(value) > max_len:
        raise Invalid(f"{name} must be at most {max_len} characters", field=name)
    return value


def req_str(body: dict[str, Any], name: str, *, max_len: int = 1024) -> str:
    value = opt_str(body, name, max_len=max_len)
    if value is None or not value.strip():
        raise Invalid(f"{name} is required", field=name)
    return value


def opt_bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise Invalid(f"{name} must be true or false", field=name)
    return value


def opt_int(body: dict[str, Any], name: str, *, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{name} must be an integer", field=name)
    if not low <= value <= high:
        raise Invalid(f"{name} should be in range [{low}, {high}]", field=name)
    return value


def opt_strings(body: dict[str, Any], name: str, *, max_items: int = 100, max_len: int = 1024) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(f"{name} must be a list of strings", field=name)
    if len(value) > max_items or any(len(v) > max_len for v in value):
        raise Invalid(f"{name} must hold at most {max_items} strings of at most {max_len} characters", field=name)
    return [v for v in value if v.strip()]


def int_param(value: str, name: str) -> int:
    """An integer path or query parameter (a SPID, a SAID)."""
    if not value.isdigit() or len(value) > 18:
        raise Invalid(f"{name} must be a positive integer", field=name)
    return int(value)


# ---------------------------------------------------------------------------------------------- time


def unix_instant(seconds: int) -> str:
    """Unix seconds as a FHIR instant (UTC, to the second)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def instant(value: Any) -> datetime | None:
    """A FHIR instant or dateTime as an aware UTC datetime (None when absent or unreadable; no zone: UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def seed_stamp(value: Any) -> str | None:
    """A FHIR dateTime as seed 002 shows one: ``2022-07-22T09:43:53+00:00``."""
    moment = instant(value)
    return None if moment is None else moment.isoformat(timespec="seconds")


def instant_unix(value: Any) -> int | None:
    """A FHIR instant or dateTime as unix seconds (None when absent or unreadable)."""
    moment = instant(value)
    return None if moment is None else int(moment.timestamp())
