"""``POST [base]`` with a ``transaction`` or ``batch`` Bundle (FHIR R4 §3.1.0.11, http.html#transaction).

- **transaction**: every write entry goes to the store as one transaction (store/transactions.py: all or
  nothing, ``urn:uuid`` references resolved, conditional create/update/delete); a failing entry fails the whole
  Bundle with its OperationOutcome naming ``Bundle.entry[i]``. Reads (GET/HEAD entries) run after the writes,
  as FHIR orders them. Each write entry is authorized as its own interaction before anything is written.
- **batch**: each entry is independent and answered with its own status. An entry is served as the request it
  describes: dispatched through the app itself (``subrequest``), so it gets exactly what the same request sent
  alone would — authentication, scopes, the audit trail, the rate limit, every interaction and its errors.

At most ``bundle_max_entries`` entries (settings; over it → 400). A Bundle inside an entry aimed at the base is
refused (no nesting).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from starlette.requests import Request
from starlette.types import Message

from auth.policy import authorize
from fhir_rest.outcomes import operation_outcome
from fhir_rest.services import services
from fhir_rest.statuses import status_of
from store.errors import DomainError, Invalid
from store.params import check_type
from store.transactions import Entry, Outcome, at_entry
from store.types import PrincipalLike, Resource

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
WRITE_INTERACTION = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
REASONS = {200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 400: "Bad Request",
           401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
           409: "Conflict", 410: "Gone", 412: "Precondition Failed", 413: "Payload Too Large",
           415: "Unsupported Media Type", 422: "Unprocessable Entity", 429: "Too Many Requests",
           500: "Internal Server Error", 503: "Service Unavailable"}
# Request headers a sub-request inherits from the Bundle's request: who is asking, and where.
INHERITED = (b"authorization", b"x-api-key", b"api-key", b"host", b"x-forwarded-for", b"user-agent")


@dataclass
class EntryRequest:
    """``Bundle.entry[i].request`` read: method, the path relative to the base, its query and the headers."""

    index: int
    method: str
    path: str  # "Patient", "Patient/1", "Patient/1/_history/2" …
    query: str
    headers: dict[str, str]
    resource: Resource | None
    full_url: str | None

    @property
    def parts(self) -> list[str]:
        return [p for p in self.path.split("/") if p]


async def bundle(request: Request, base: str, body: Any) -> tuple[int, Resource]:
    """The response Bundle (and its status) of a transaction or batch ``body``."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise Invalid("POST to the base takes a Bundle of type transaction or batch", paths=["resourceType"])
    kind = body.get("type")
    if kind not in ("transaction", "batch"):
        raise Invalid(f"Bundle.type must be transaction or batch, not {str(kind)[:20]}", paths=["Bundle.type"])
    entries = body.get("entry") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise Invalid("Bundle.entry must be a list of entries", paths=["Bundle.entry"])
    cap = services(request).settings.bundle_max_entries
    if len(entries) > cap:
        raise Invalid(f"A {kind} may hold at most {cap} entries; this one holds {len(entries)}",
                      paths=["Bundle.entry"])
    audit = services(request).audit
    status = 500
    try:
        answer = await (_batch(request, base, entries) if kind == "batch" else _transaction(request, base, entries))
        status = 200
    except DomainError as exc:
        status = status_of(exc)
        raise
    finally:
        if audit is not None:  # the Bundle itself; its entries are noted as the interactions they are
            audit.record(request.scope["auth"], kind, status, description=f"{len(entries)} entries")
    return status, answer


# ---------------------------------------------------------------------------------------------- parsing


def parse_entry(index: int, entry: dict[str, Any], base: str) -> EntryRequest:
    where = f"Bundle.entry[{index}].request"
    req = entry.get("request")
    if not isinstance(req, dict):
        raise Invalid(f"Bundle.entry[{index}] has no request", paths=[where])
    method = req.get("method")
    if method not in METHODS:
        raise Invalid(f"Bundle.entry[{index}].request.method must be one of {', '.join(METHODS)}",
                      paths=[f"{where}.method"])
    url = req.get("url")
    if not isinstance(url, str) or not url.strip():
        raise Invalid(f"Bundle.entry[{index}].request.url is missing", paths=[f"{where}.url"])
    url = url.strip()
    if urlsplit(url).scheme:
        if not url.startswith(base + "/"):
            raise Invalid(f"Bundle.entry[{index}].request.url is not on this server", paths=[f"{where}.url"])
        url = url[len(base):]
    split = urlsplit(url)
    path = split.path.strip("/")
    if not path:
        raise Invalid(f"Bundle.entry[{index}].request.url names no resource type (a Bundle cannot nest)",
                      paths=[f"{where}.url"])
    headers = {}
    for field, header in (("ifMatch", "If-Match"), ("ifNoneMatch", "If-None-Match"),
                          ("ifNoneExist", "If-None-Exist"), ("ifModifiedSince", "If-Modified-Since")):
        value = req.get(field)
        if isinstance(value, str) and value:
            headers[header] = value
    resource = entry.get("resource")
    if resource is not None and not isinstance(resource, dict):
        raise Invalid(f"Bundle.entry[{index}].resource must be a resource", paths=[f"Bundle.entry[{index}].resource"])
    full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
    return EntryRequest(index, method, path, split.query, headers, resource, full_url)


def _version(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.strip().removeprefix("W/").strip('"')
    if not (v.isascii() and v.isdigit() and len(v) <= 18):
        raise Invalid("ifMatch must be a version ETag like W/\"3\"", paths=["ifMatch"])
    return v


def _patch_document(resource: Resource | None) -> Any:
    """A PATCH entry's JSON Patch: in a transaction it travels as a Binary (FHIR R4 §3.1.0.11.1)."""
    if not resource or resource.get("resourceType") != "Binary":
        raise Invalid("A PATCH entry carries its JSON Patch as a Binary (contentType application/json-patch+json)")
    if str(resource.get("contentType", "")).split(";")[0].strip() != "application/json-patch+json":
        raise Invalid("Only JSON Patch (application/json-patch+json) is supported")
    try:
        return orjson.loads(base64.b64decode(resource.get("data") or "", validate=True))
    except (ValueError, orjson.JSONDecodeError):
        raise Invalid("The Binary's data is not a base64 JSON Patch document") from None


def write_entry(req: EntryRequest, principal: PrincipalLike) -> Entry:
    """The store's view of a write entry, authorized as the interaction it is."""
    parts = req.parts
    rt = parts[0]
    check_type(rt)
    if len(parts) > 2 or (len(parts) == 2 and req.method == "POST"):
        raise Invalid("Operations and history are not supported inside a transaction", paths=["request.url"])
    decision = authorize(principal, WRITE_INTERACTION[req.method], rt)
    query = parse_qsl(req.query, keep_blank_values=True)
    entry = Entry(req.index, req.method, rt, full_url=req.full_url, within=decision.within,
                  if_match=_version(req.headers.get("If-Match")))
    if req.method == "POST":
        entry.resource = req.resource
        cond = req.headers.get("If-None-Exist")
        if cond:
            entry.if_none_exist = parse_qsl(cond.split("?", 1)[-1], keep_blank_values=True)
        return entry
    if len(parts) == 2:
        entry.rid = parts[1]
    elif query:
        entry.conditions = query
    else:
        raise Invalid(f"{req.method} needs [type]/[id] or [type]?[search parameters]", paths=["request.url"])
    if req.method == "PATCH":
        entry.patch = _patch_document(req.resource)
    elif req.method == "PUT":
        entry.resource = req.resource
    return entry


# ---------------------------------------------------------------------------------------------- transaction


async def _transaction(request: Request, base: str, raw: list[dict[str, Any]]) -> Resource:
    principal: PrincipalLike = request.scope["auth"]
    reqs: list[EntryRequest] = []
    writes: list[Entry] = []
    for i, item in enumerate(raw):
        req = parse_entry(i, item, base)
        reqs.append(req)
        if req.method in WRITE_INTERACTION:
            try:
                writes.append(write_entry(req, principal))
            except DomainError as exc:
                raise at_entry(exc, Entry(i, req.method, req.parts[0])) from None
    outcomes = {o_entry.index: o for o_entry, o in
                zip(writes, await services(request).repo.transaction(principal, writes), strict=True)}
    audit = services(request).audit
    prefer = request.headers.get("prefer", "")
    out: list[Resource] = []
    for req in reqs:
        if req.index in outcomes:
            outcome = outcomes[req.index]
            if audit is not None:
                audit.record(principal, WRITE_INTERACTION[req.method], outcome.status, rt=outcome.rt,
                             rid=outcome.rid)
            out.append(_write_response(base, outcome, prefer))
        else:
            out.append(await _served(request, req))  # reads, after every write (FHIR's order)
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": out}


def _write_response(base: str, outcome: Outcome, prefer: str) -> Resource:
    response: dict[str, Any] = {"status": _status_line(outcome.status)}
    entry: Resource = {}
    result = outcome.result
    if result is not None:
        res = result.resource
        vid = res.get("meta", {}).get("versionId")
        entry["fullUrl"] = f"{base}/{outcome.rt}/{res['id']}"
        response.update({"location": f"{outcome.rt}/{res['id']}/_history/{vid}", "etag": f'W/"{vid}"',
                         "lastModified": res.get("meta", {}).get("lastUpdated")})
        if "return=minimal" not in prefer and "return=OperationOutcome" not in prefer:
            entry["resource"] = res
    entry["response"] = response
    return entry


def _status_line(status: int) -> str:
    return f"{status} {REASONS.get(status, '')}".strip()


# ---------------------------------------------------------------------------------------------- batch


async def _batch(request: Request, base: str, raw: list[dict[str, Any]]) -> Resource:
    out: list[Resource] = []
    for i, item in enumerate(raw):
        try:
            req = parse_entry(i, item, base)
        except DomainError as exc:
            out.append({"response": {"status": "400 Bad Request", "outcome": operation_outcome(exc)}})
            continue
        out.append(await _served(request, req))
    return {"resourceType": "Bundle", "type": "batch-response", "entry": out}


async def _served(request: Request, req: EntryRequest) -> Resource:
    """The response entry of ``req``, served as the request it describes."""
    headers = dict(req.headers)
    body = b""
    if req.method in ("POST", "PUT", "PATCH"):
        if req.method == "PATCH":
            try:
                body = orjson.dumps(_patch_document(req.resource))
            except DomainError as exc:
                return {"response": {"status": "400 Bad Request", "outcome": operation_outcome(exc)}}
            headers["Content-Type"] = "application/json-patch+json"
        elif req.resource is not None:
            body = orjson.dumps(req.resource)
            headers["Content-Type"] = "application/fhir+json"
    prefer = request.headers.get("prefer")
    if prefer:
        headers["Prefer"] = prefer
    status, answer, payload = await subrequest(request, req.method, "/" + req.path, req.query, headers, body)
    response: dict[str, Any] = {"status": _status_line(status)}
    entry: Resource = {}
    for name, field in (("location", "location"), ("etag", "etag")):
        if name in answer:
            response[field] = answer[name]
    parsed: Any = None
    if payload and answer.get("content-type", "").startswith(("application/fhir+json", "application/json")):
        try:
            parsed = orjson.loads(payload)
        except orjson.JSONDecodeError:
            parsed = None
    if isinstance(parsed, dict):
        if status >= 400 and parsed.get("resourceType") == "OperationOutcome":
            response["outcome"] = parsed
        else:
            entry["resource"] = parsed
            updated = (parsed.get("meta") or {}).get("lastUpdated")
            if updated:
                response["lastModified"] = updated
            if parsed.get("resourceType") != "Bundle" and parsed.get("id"):
                entry["fullUrl"] = f"{_base_of(request)}/{parsed['resourceType']}/{parsed['id']}"
    entry["response"] = response
    return entry


def _base_of(request: Request) -> str:
    configured = services(request).settings.base_url
    prefix: str = request.scope.get("fhir_prefix", "/fhir/r4")
    return (configured.rstrip("/") if configured else f"{request.url.scheme}://{request.url.netloc}") + prefix


async def subrequest(request: Request, method: str, path: str, query: str, headers: dict[str, str],
                     body: bytes) -> tuple[int, dict[str, str], bytes]:
    """Serve ``method path?query`` as a request of the same caller, through the whole app (module docstring):
    (status, response headers by lower-case name, body)."""
    scope = request.scope
    raw = [(k, v) for k, v in scope["headers"] if k in INHERITED]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"accept", b"application/fhir+json"))
    if body:
        raw.append((b"content-length", str(len(body)).encode()))
    prefix: str = scope.get("fhir_prefix", "/fhir/r4")
    sub = {"type": "http", "asgi": scope.get("asgi", {"version": "3.0"}), "http_version": "1.1",
           "method": method, "scheme": scope.get("scheme", "http"), "server": scope.get("server"),
           "client": scope.get("client"),
           # the app's own root path: the mount added the FHIR prefix to the one the request came with
           "root_path": str(scope.get("root_path", "")).removesuffix(prefix),
           "path": str(scope.get("root_path", "")) + path, "raw_path": (prefix + path).encode(),
           "query_string": query.encode(),
           "headers": raw, "state": {}}
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status = 500
    answer: dict[str, str] = {}
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            answer.update({k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message.get("headers", ())})
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await request.app(sub, receive, send)
    return status, answer, b"".join(chunks)
