"""FHIR R4 REST endpoints: thin — parse the request, call the store, shape the response.

Every handler answers ``application/fhir+json``; every error is an OperationOutcome (fhir_rest/outcomes.py).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import MutableMapping
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from auth.audit_doors import tell
from auth.policy import Decision, authorize
from fhir_rest import batches, bundles, negotiation
from fhir_rest.capability import capability_statement
from fhir_rest.outcomes import FHIR_JSON, FhirResponse, error_reply
from fhir_rest.services import RestServices, services
from store.errors import Conflict, DomainError, Forbidden, Invalid, NotAllowed, NotFound, UnsupportedMediaType
from store.includes import ITERATE_MODIFIERS
from store.params import APPEND_ONLY, READ_ONLY
from store.repository import Repository
from store.types import Confinement, PrincipalLike, Resource, WriteResult
from store.validation import is_resource_type

# type/subtype (RFC 6838 restricted names), lower-cased
MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
PATCH_TYPES = frozenset({"application/json-patch+json"})
FORM = frozenset({"application/x-www-form-urlencoded"})
MAX_COUNT = 1000


def _repo(request: Request) -> Repository:
    return services(request).repo


def _principal(request: Request) -> PrincipalLike:
    principal: PrincipalLike = request.scope["auth"]
    return principal


def base_url(request: Request) -> str:
    return scope_base_url(services(request), request.scope)


def scope_base_url(rest: RestServices, scope: Scope) -> str:
    """``base_url`` from the ASGI scope (the read lane answers in front of the route table)."""
    configured = rest.settings.base_url
    prefix: str = scope.get("fhir_prefix", "/fhir/r4")
    if configured:
        return configured.rstrip("/") + prefix
    host = next((v for k, v in scope["headers"] if k == b"host"), None)
    server = scope.get("server")
    return _origin(scope.get("scheme", "http"), host, tuple(server) if server else None) + prefix


@lru_cache(maxsize=256)
def _origin(scheme: str, host: bytes | None, server: tuple[str, int | None] | None) -> str:
    """``scheme://netloc`` as Starlette's ``request.url`` gives it, built once per host and scheme (building and
    parsing the request's URL was ~5 % of a search page's CPU)."""
    url = URL(scope={"type": "http", "scheme": scheme, "server": server, "path": "/", "query_string": b"",
                     "headers": [] if host is None else [(b"host", host)]})
    return f"{url.scheme}://{url.netloc}"


def _type(request: Request) -> str:
    rt: str = request.path_params["type"]
    if not is_resource_type(rt):
        raise NotFound(f"Unknown resource type '{rt[:64]}'")
    return rt


def _append_only(rt: str) -> NotAllowed:
    return NotAllowed(f"{rt} is append-only: its records are never changed or deleted", allow=READ_ONLY)


def _changeable_type(request: Request) -> str:
    """``_type`` of a patch or delete: an append-only type (AuditEvent …) answers 405 before anything else,
    whoever asks (its records are never changed once written: store/layout.py)."""
    rt = _type(request)
    if rt in APPEND_ONLY:
        raise _append_only(rt)
    return rt


def _authorize_put(principal: PrincipalLike, rt: str) -> Decision:
    """A PUT's authorization. Of an append-only type a PUT only creates (an importer holding its create scope
    gives the records their own ids; the store refuses changing one): to anyone else it is a 405, not a 403."""
    try:
        return authorize(principal, "update", rt)
    except Forbidden:
        if rt in APPEND_ONLY:
            raise _append_only(rt) from None
        raise


async def read_body(request: Request, *, patch: bool = False, rt: str | None = None) -> Any:
    ctype = negotiation.body_type(request.headers.get("content-type"))
    if patch:
        negotiation.require_body_type(request.headers.get("content-type"), PATCH_TYPES,
                                      "a JSON Patch document (application/json-patch+json)", default="")
    elif ctype not in negotiation.BODY_TYPES:
        if rt == "Binary":
            return await _binary_body(request, ctype)
        raise UnsupportedMediaType(f"Unsupported Content-Type '{ctype[:60]}': send application/fhir+json",
                                   paths=["Content-Type"])
    raw = await request.body()
    if not raw:
        raise Invalid("The request body is empty")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Invalid("The request body is not valid JSON") from None
    if not patch and not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object (a FHIR resource)")
    return body


async def _binary_body(request: Request, ctype: str) -> Resource:
    """FHIR R4 Binary (§ REST): content of any other type is the Binary's data, ``X-Security-Context`` its
    security context."""
    full = request.headers.get("content-type", "").strip()
    if not _media_type(full):
        raise Invalid(f"Content-Type '{ctype[:60]}' is not a media type", paths=["Content-Type"])
    binary: Resource = {"resourceType": "Binary", "contentType": full}
    context = request.headers.get("x-security-context")
    if context:
        binary["securityContext"] = {"reference": context.strip()}
    raw = await request.body()
    if raw:
        binary["data"] = base64.b64encode(raw).decode("ascii")
    if "id" in request.path_params:
        binary["id"] = request.path_params["id"]
    return binary


def _media_type(value: str) -> bool:
    """``type/subtype`` with optional parameters, in printable ASCII (safe to send back as a header)."""
    return (value.isascii() and value.isprintable() and len(value) <= 255
            and MEDIA_TYPE.fullmatch(value.split(";")[0].strip().lower()) is not None)


def _wants_native(rt: str, query: bytes, accept: str | None) -> bool:
    """Whether a read should answer a Binary's content rather than the resource: no query parameters, and the
    client's Accept names media types none of which is FHIR or JSON (``*/*`` alone, or no Accept, means the
    resource)."""
    if rt != "Binary" or query or not accept:
        return False
    ranges = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    ranges = [r for r in ranges if r]
    return bool(ranges) and ranges != ["*/*"] and not any("json" in r or "fhir" in r for r in ranges)


def _native(resource: Resource, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """A Binary's content as the response, under headers that stop a browser from running it as our page."""
    ctype = resource.get("contentType") or "application/octet-stream"
    try:
        body = base64.b64decode(resource.get("data") or "", validate=True)
    except (ValueError, TypeError):
        body = b""
    return 200, {**headers, "Content-Type": ctype if _media_type(ctype) else "application/octet-stream",
                 "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}, body


def _version_header(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    v = value.strip()
    if v.startswith("W/"):
        v = v[2:]
    v = v.strip('"')
    if not (v.isascii() and v.isdigit() and len(v) <= 18):  # str.isdigit alone takes "²" and "٣"
        raise Invalid(f"{name} must be a version ETag like W/\"3\"", paths=[name])
    return v


def _headers(resource: Resource, base: str | None = None) -> dict[str, str]:
    meta = resource.get("meta", {})
    headers = {"ETag": f'W/"{meta.get("versionId")}"'}
    if meta.get("lastUpdated"):
        headers["Last-Modified"] = _http_date(meta["lastUpdated"])
    if base:
        headers["Location"] = f"{base}/{resource['resourceType']}/{resource['id']}/_history/{meta.get('versionId')}"
    return headers


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


_DAY_PARTS: dict[str, str] = {}  # "2026-11-21" → "Sat, 21 Nov 2026"
_UTC_STAMP = re.compile(r"\d{4}-\d\d-\d\dT[0-5]\d:[0-5]\d:[0-5]\d(?:\.\d{1,9})?Z", re.ASCII)


def _http_date(instant: str) -> str:
    """An RFC 9110 IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``) of a FHIR instant, in English whatever the
    process locale (what ``email.utils.format_datetime(usegmt=True)`` gives, a few times faster)."""
    if _UTC_STAMP.fullmatch(instant) and instant[11:13] < "24":
        # The server's own stamps (``2026-11-21T21:08:04.534Z``) are UTC already: their digits are the date's,
        # and the day's part (``Sat, 21 Nov 2026``) is shared by every stamp of that day.
        day_part = _DAY_PARTS.get(instant[:10])
        if day_part is None:
            year, month, day = instant[:4], int(instant[5:7]), instant[8:10]
            day_part = f"{_DAYS[date(int(year), month, int(day)).weekday()]}, {day} {_MONTHS[month - 1]} {year}"
            if len(_DAY_PARTS) < 4096:
                _DAY_PARTS[instant[:10]] = day_part
        return f"{day_part} {instant[11:19]} GMT"
    moment = datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(UTC)
    return (f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} {moment.year:04d} "
            f"{moment:%H:%M:%S} GMT")


def _write_response(request: Request, result: WriteResult, *, status: int) -> Response:
    tell(request.scope, resource=result.resource)
    headers = _headers(result.resource, base_url(request))
    prefer = request.headers.get("prefer", "")
    if "return=minimal" in prefer:
        return FhirResponse(None, status_code=status, headers=headers)
    if "return=OperationOutcome" in prefer:
        return FhirResponse({"resourceType": "OperationOutcome", "issue": [
            {"severity": "information", "code": "informational", "diagnostics": "OK"}]},
            status_code=status, headers=headers)
    return FhirResponse(result.resource, status_code=status, headers=headers)


# ---------------------------------------------------------------------- capability


async def metadata(request: Request) -> Response:
    base = base_url(request)
    return FhirResponse(capability_statement(base, base.removesuffix(request.scope.get("fhir_prefix", "/fhir/r4"))))


# ---------------------------------------------------------------------- instance level


async def read(request: Request) -> Response:
    """Reads the read lane (fhir_rest/read_lane.py) leaves to the route table: HEAD, ids outside the FHIR id
    alphabet (they are 404s)."""
    status, headers, body = await read_reply(_repo(request), _principal(request), request.path_params["type"],
                                             request.path_params["id"], request.scope.get("query_string", b""),
                                             request.headers.get("if-none-match"), request.headers.get("accept"),
                                             scope=request.scope)
    return Response(body or None, status_code=status, headers=headers)


async def read_reply(repo: Repository, principal: PrincipalLike, rt: str, rid: str, query: bytes,
                     if_none_match: str | None, accept: str | None = None, *,
                     scope: MutableMapping[str, Any] | None = None) -> tuple[int, dict[str, str], bytes]:
    """FHIR R4 §3.1.0.4 read, as (status, headers with Content-Type unless 304, body): the resource, 304 for a
    matching If-None-Match, or the OperationOutcome of a domain error. ``_summary`` and ``_elements`` subset the
    resource; a Binary read whose Accept asks for other media types answers the Binary's content."""
    try:
        native = _wants_native(rt, query, accept)
        if not native:  # before the store is asked: a cached check of the header on the hot path
            negotiation.negotiate(accept, query)
        # Refused: 403; outside the caller's compartment or granular scope: the store's 404.
        within = authorize(principal, "read", rt).within
        # An unknown type is the store's NotFound. Shared: nothing below changes the resource (subset copies).
        resource = await repo.read(principal, rt, rid, within=within, shared=True)
        if scope is not None:
            tell(scope, resource=resource)  # the audit trail records the Patient it is about
        headers = _headers(resource)
        if if_none_match == headers["ETag"]:
            return 304, headers, b""
        if native:
            return _native(resource, headers)
        if query:
            params = dict(parse_qsl(query.decode("latin-1")))
            summary = params.get("_summary")
            if summary is not None and summary not in bundles.READ_SUMMARY_MODES:
                raise Invalid(f"_summary={summary[:20]} is not one of {', '.join(bundles.READ_SUMMARY_MODES)} "
                              "on a read", paths=["_summary"])
            resource = bundles.subset(resource, _elements(params.get("_elements")), summary)
    except DomainError as exc:
        return error_reply(exc)
    headers["Content-Type"] = FHIR_JSON
    return 200, headers, orjson.dumps(resource)


async def vread(request: Request) -> Response:
    rt = _type(request)
    native = _wants_native(rt, request.scope.get("query_string", b""), request.headers.get("accept"))
    if not native:  # a Binary's route negotiates itself (fhir_rest/negotiation.py)
        negotiation.negotiate(request.headers.get("accept"), request.scope.get("query_string", b""))
    principal = _principal(request)
    resource = await _repo(request).vread(principal, rt, request.path_params["id"], request.path_params["vid"],
                                          within=authorize(principal, "read", rt).within)
    tell(request.scope, resource=resource)
    if native:
        status, headers, body = _native(resource, _headers(resource))
        return Response(body, status_code=status, headers=headers)
    return FhirResponse(resource, headers=_headers(resource))


async def system(request: Request) -> Response:
    """``POST [base]``: a transaction or batch Bundle (fhir_rest/batches.py)."""
    body = await read_body(request)
    status, answer = await batches.bundle(request, base_url(request), body)
    return FhirResponse(answer, status_code=status)


async def conditional_update(request: Request) -> Response:
    """FHIR R4 §3.1.0.9.2 ``PUT [type]?[search parameters]``."""
    rt = _type(request)
    conditions = list(request.query_params.multi_items())
    if not conditions:
        raise NotAllowed("PUT needs [type]/[id], or search parameters for a conditional update", allow=("GET", "POST"))
    body = await read_body(request, rt=rt)
    _check_body_type(body, rt)
    if_match = _version_header(request.headers.get("if-match"), "If-Match")
    principal = _principal(request)
    result = await _repo(request).conditional_update(principal, rt, conditions, body, if_match=if_match,
                                                     within=_authorize_put(principal, rt).within)
    return _write_response(request, result, status=201 if result.created else 200)


async def conditional_delete(request: Request) -> Response:
    """FHIR R4 §3.1.0.12.1 ``DELETE [type]?[search parameters]`` (single: 412 when several match)."""
    rt = _changeable_type(request)
    conditions = list(request.query_params.multi_items())
    if not conditions:
        raise NotAllowed("DELETE needs [type]/[id], or search parameters for a conditional delete",
                         allow=("GET", "POST"))
    principal = _principal(request)
    await _repo(request).conditional_delete(principal, rt, conditions,
                                            within=authorize(principal, "delete", rt).within)
    return Response(status_code=204)


async def update(request: Request) -> Response:
    rt = _type(request)
    body = await read_body(request, rt=rt)
    _check_body_type(body, rt)
    if "id" not in body:
        # FHIR R4 §3.1.0.9.1: the body SHALL carry an id equal to the URL's (the store checks they agree).
        raise Invalid(f"The body of an update must carry the {rt}'s id, the same as the URL's",
                      paths=[f"{rt}.id"])
    if_match = _version_header(request.headers.get("if-match"), "If-Match")
    principal = _principal(request)
    result = await _repo(request).update(principal, rt, request.path_params["id"], body, if_match=if_match,
                                         within=_authorize_put(principal, rt).within)
    return _write_response(request, result, status=201 if result.created else 200)


async def patch(request: Request) -> Response:
    rt = _changeable_type(request)
    ops = await read_body(request, patch=True)
    if_match = _version_header(request.headers.get("if-match"), "If-Match")
    principal = _principal(request)
    result = await _repo(request).patch(principal, rt, request.path_params["id"], ops, if_match=if_match,
                                        within=authorize(principal, "update", rt).within)
    return _write_response(request, result, status=200)


async def delete(request: Request) -> Response:
    rt = _changeable_type(request)
    if_match = _version_header(request.headers.get("if-match"), "If-Match")
    principal = _principal(request)
    await _repo(request).delete(principal, rt, request.path_params["id"], if_match=if_match,
                                within=authorize(principal, "delete", rt).within)
    return Response(status_code=204)


async def instance_history(request: Request) -> Response:
    rt = _type(request)
    rid = request.path_params["id"]
    count = page_count(request)
    principal = _principal(request)
    since = request.query_params.get("_since")
    page = await _repo(request).history(principal, rt, rid, count=count,
                                        after=request.query_params.get("_cursor"), since=since,
                                        within=authorize(principal, "read", rt).within)
    return FhirResponse(bundles.history(base_url(request), f"{rt}/{rid}/_history", page, count=count, since=since))


async def type_history(request: Request) -> Response:
    rt = _type(request)
    count = page_count(request)
    principal = _principal(request)
    since = request.query_params.get("_since")
    page = await _repo(request).history(principal, rt, None, count=count,
                                        after=request.query_params.get("_cursor"), since=since,
                                        within=authorize(principal, "search", rt).within)
    return FhirResponse(bundles.history(base_url(request), f"{rt}/_history", page, count=count, since=since))


# ---------------------------------------------------------------------- type level


async def create(request: Request) -> Response:
    rt = _type(request)
    body = await read_body(request, rt=rt)
    _check_body_type(body, rt)
    repo, principal = _repo(request), _principal(request)
    within = authorize(principal, "create", rt).within
    key = request.headers.get("idempotency-key")
    if key:
        return await _idempotent_create(request, repo, principal, rt, body, key, within)
    return await _create(request, repo, principal, body, within)


def _check_body_type(body: Resource, rt: str) -> None:
    found = body.get("resourceType")
    if found == rt:
        return
    if "resourceType" not in body:
        message = f"The body has no resourceType: expected {rt}"
    elif isinstance(found, str) and is_resource_type(found):
        message = f"Body resourceType '{found}' does not match the URL's {rt}"
    else:
        message = f"The body's resourceType is not a FHIR resource type: expected {rt}"
    raise Invalid(message, paths=["resourceType"])


async def _create(request: Request, repo: Repository, principal: PrincipalLike, body: Resource,
                  within: Confinement | None) -> Response:
    cond = request.headers.get("if-none-exist")
    if_none_exist = None
    if cond:
        if_none_exist = parse_qsl(cond.split("?", 1)[-1], keep_blank_values=True)
        if not if_none_exist:
            raise Invalid("If-None-Exist must hold search parameters", paths=["If-None-Exist"])
    result = await repo.create(principal, body, if_none_exist=if_none_exist, within=within)
    return _write_response(request, result, status=201 if result.created else 200)


def request_fingerprint(rt: str, body: Resource) -> str:
    """What makes two creates under one Idempotency-Key the same request: the type and the body."""
    try:
        canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # nested past orjson's depth: far past what the store takes anyway
        raise Invalid("The request body nests too deeply") from None
    return hashlib.sha256(rt.encode() + b"\0" + canonical).hexdigest()


async def _idempotent_create(request: Request, repo: Repository, principal: PrincipalLike, rt: str,
                             body: Resource, key: str, within: Confinement | None) -> Response:
    if len(key) > 255:
        raise Invalid("Idempotency-Key is longer than 255 characters", paths=["Idempotency-Key"])
    fingerprint = request_fingerprint(rt, body)
    claim = await repo.claim_idempotency(principal, key, fingerprint)
    owner, earlier = claim.owner, claim.earlier
    if owner is None:
        earlier = earlier or {}
        if earlier.get("fp") != fingerprint:
            raise Invalid("This Idempotency-Key was used with a different request body", unprocessable=True,
                          paths=["Idempotency-Key"])
        if earlier.get("state") != "done":
            # The duplicate of a request still in flight: nothing is stale, the two conflict (409).
            raise Conflict("A request with this Idempotency-Key is still in progress; retry shortly",
                           paths=["Idempotency-Key"])
        return Response(earlier["body"], status_code=earlier["status"], headers=earlier["headers"],
                        media_type=None)
    try:
        response = await _create(request, repo, principal, body, within)
    except BaseException:
        await repo.release_idempotency(principal, key, owner)
        raise
    headers = {k: v for k, v in response.headers.items() if k.lower() in ("etag", "location", "last-modified",
                                                                           "content-type")}
    await repo.complete_idempotency(principal, key, owner, {"status": response.status_code, "headers": headers,
                                                            "body": bytes(response.body)})
    return response


async def search(request: Request) -> Response:
    rt = _type(request)
    params = list(request.query_params.multi_items())
    if request.method == "POST":
        negotiation.require_body_type(request.headers.get("content-type"), FORM,
                                      "search parameters as application/x-www-form-urlencoded", default="")
        try:
            form = parse_qsl((await request.body()).decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise Invalid("Search parameters must be UTF-8") from None
        params += form
        tell(request.scope, query=urlencode(form))  # recorded (redacted) beside the URL's
    return await _search(request, rt, params)


async def _search(request: Request, rt: str, params: list[tuple[str, str]]) -> Response:
    return FhirResponse(await search_page(services(request), request.scope, _principal(request), rt, params,
                                          request.headers.get("prefer", "")))


async def search_page(rest: RestServices, scope: Scope, principal: PrincipalLike, rt: str,
                      params: list[tuple[str, str]], prefer: str) -> bytes:
    """FHIR R4 §3.1.1 search of ``rt``: the searchset Bundle's JSON; a domain error raised for bad parameters.
    The routed search and the read lane's (fhir_rest/read_lane.py) both answer with it."""
    # FHIR R4 §3.1.1.2: unknown parameters are ignored (the self link shows what was applied) unless the client
    # asks for strict handling; lenient handling ignores invalid values of known parameters too.
    strict, lenient = "handling=strict" in prefer, "handling=lenient" in prefer
    get = dict(params).get
    count = _page_count(rest.settings.default_page_size, get("_count"))
    summary = get("_summary")
    if summary is not None and summary not in bundles.SUMMARY_MODES:
        raise Invalid(f"_summary={summary[:20]} is not one of {', '.join(bundles.SUMMARY_MODES)}",
                      paths=["_summary"])
    total_param = get("_total")
    if total_param not in (None, "none", "estimate", "accurate"):
        raise Invalid("_total takes none, estimate or accurate", paths=["_total"])
    want_total = summary == "count" or total_param in ("accurate", "estimate")
    include, revinclude, include_iterate, revinclude_iterate = _include_specs(params)
    within = authorize(principal, "search", rt).within

    def readable(t: str) -> Confinement | None:  # included types: only those the caller may read, within that
        return authorize(principal, "read", t).within

    elements = _elements(get("_elements"))
    whole = not elements and summary in (None, "false")  # each resource as stored: spliced in as its JSON
    page = await rest.repo.search(
        principal, rt, params, count=0 if summary == "count" else count,
        after=get("_cursor"), before=get("_before"), sort=get("_sort"), total=want_total, strict=strict,
        lenient=lenient,
        include=include, revinclude=revinclude, include_iterate=include_iterate,
        revinclude_iterate=revinclude_iterate, within=within, within_of=readable, as_json=whole)
    echo: list[tuple[str, str]] = [("_count", str(count))]
    for name in ("_sort", "_summary", "_elements", "_total"):
        if get(name):
            echo.append((name, get(name)))  # type: ignore[arg-type]
    echo += [(k, v) for k, v in params if k.partition(":")[0] in ("_include", "_revinclude")]
    if page.json is not None:  # as stored: spliced in as their JSON
        return bundles.searchset_json(scope_base_url(rest, scope), rt, page, params=echo)
    return orjson.dumps(bundles.searchset(scope_base_url(rest, scope), rt, page, params=echo, count=count,
                                          elements=elements, summary=summary))


def _include_specs(params: list[tuple[str, str]]) -> tuple[list[str], list[str], list[str], list[str]]:
    """``_include``, ``_revinclude`` and their ``:iterate`` forms (R3's ``:recurse`` too)."""
    found: dict[str, list[str]] = {"_include": [], "_revinclude": [], "_include:iterate": [],
                                   "_revinclude:iterate": []}
    for k, v in params:
        name, _, modifier = k.partition(":")
        if name in ("_include", "_revinclude"):
            if modifier and modifier not in ITERATE_MODIFIERS:
                raise Invalid(f"{name}:{modifier[:20]} is not supported (:iterate is)", paths=[k[:40]])
            found[f"{name}:iterate" if modifier else name].append(v)
    return found["_include"], found["_revinclude"], found["_include:iterate"], found["_revinclude:iterate"]


def page_count(request: Request, raw: str | None = None) -> int:
    raw = raw if raw is not None else request.query_params.get("_count")
    return _page_count(services(request).settings.default_page_size, raw)


def _page_count(default: int, raw: str | None) -> int:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()):  # str.isdigit alone takes "²", which int() refuses
        raise Invalid("_count must be a non-negative integer", paths=["_count"])
    return min(int(raw), MAX_COUNT) if len(raw) <= 9 else MAX_COUNT


def _elements(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    return [e.strip().split(".")[-1] for e in raw.split(",") if e.strip()]
