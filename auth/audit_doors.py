"""What each door's request is, for the audit trail: one ASGI middleware notes every PHI access — FHIR REST
interactions, GraphQL operations and subscriptions, vendor-API requests — and every refusal (401/403), as an
``Access`` for the trail (auth/audit.py). On the request it only classifies the path (a split, no regex),
remembers the status the app answered and appends a tuple; the AuditEvent is built off the request path.

It sits outside authentication, so refusals are seen too: the principal is read from ``scope["auth"]`` once the
inner app has set it. What only the door serving the request knows, it tells the middleware through ``tell``
(a dict in the scope, read when the request ends): the Patient a resource it read or wrote is about (a read of an
Observation names its subject), the parameters of a POST ``_search`` body, the FHIR types a GraphQL operation
touched and whether it wrote, and the principal a websocket authenticated in ``connection_init``. What is not
PHI is not noted: the CapabilityStatement, discovery, health, metrics, the
authorization server's pages (its token endpoint notes issuance itself), unknown resource types.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth.audit import AuditTrail
from auth.balp import Access
from store.errors import DomainError
from store.events import patient_ref
from store.params import SUPPORTED_TYPES
from store.types import PrincipalLike, Resource

FHIR_PREFIXES = ("/fhir/r4/", "/r4/")
QAPI = "/qapi/v1/"
QAPI_DOCS = ("/qapi/v1/openapi.json", "/qapi/v1/docs")
GRAPHQL = "/graphql"
QAPI_ACTIONS = {"GET": "R", "HEAD": "R", "POST": "C", "PUT": "U", "PATCH": "U", "DELETE": "D"}
Kind = tuple[str, str | None, str | None, str | None, str | None]  # interaction, type, id, version, action
NOTES = "fhirgraph.audit"  # the scope's entry through which a door tells the middleware what it served


def tell(scope: MutableMapping[str, Any], *, resource: Resource | None = None, query: str | None = None,
         principal: PrincipalLike | None = None, touched: str | None = None, wrote: bool = False,
         operation: str | None = None, outcome: int | None = None) -> None:
    """A door's word about the request it serves, for its AuditEvent (module docstring); nothing when the request
    is not audited. ``resource``: read or written (the first one that names a Patient gives the record its
    Patient); ``query``: search parameters that came in the body, urlencoded; ``touched``: a FHIR type a GraphQL
    operation read (``wrote``: or wrote); ``operation``: a GraphQL operation's type (``mutation`` is recorded as
    one whether or not it wrote); ``outcome``: the HTTP status its errors amount to when the response's own is 200
    (a GraphQL operation refused with FORBIDDEN is a 403 to the trail)."""
    notes = scope.get(NOTES)
    if notes is None:
        return
    if operation is not None:
        notes["operation"] = operation
    if outcome is not None:
        notes["outcome"] = outcome
    if resource is not None and "patient" not in notes:
        ref = patient_ref(resource)
        if ref is not None:
            notes["patient"] = ref.removeprefix("Patient/")
    if query is not None:
        notes["query"] = query
    if principal is not None:
        notes["principal"] = principal
    if touched is not None:
        notes.setdefault("types", set()).add(touched)
    if wrote:
        notes["wrote"] = True


def classify(method: str, path: str, websocket: bool = False) -> Kind | None:
    """The audited interaction of a request (module docstring), or None when it touches no PHI."""
    if path.startswith(FHIR_PREFIXES):
        return _fhir(method, path.split("/", 3)[3] if path.startswith("/fhir/") else path.split("/", 2)[2])
    if path == GRAPHQL or path == GRAPHQL + "/":
        if websocket:
            return ("graphql-subscribe", None, None, None, None)
        return ("graphql-query", None, None, None, None)
    if path.startswith(QAPI):
        if path.startswith(QAPI_DOCS):
            return None  # the API's description: no PHI
        action = QAPI_ACTIONS.get(method, "E")
        parts = path[len(QAPI):].split("/", 2)
        if parts[0] == "patients" and len(parts) > 1 and parts[1] not in ("", "id", "HSID"):
            return ("qapi", "Patient", parts[1][:64], None, action)  # a qapi patient id is its FHIR id
        return ("qapi", None, None, None, action)
    return None


def _fhir(method: str, rest: str) -> Kind | None:
    parts = rest.split("/")
    rt = parts[0]
    n = len(parts)
    if any(p.startswith("$") for p in parts):  # an operation ($export, $bulkdata-status …): named in _note
        return ("operation", rt if rt in SUPPORTED_TYPES else None, parts[1] if n == 3 else None, None,
                "R" if method == "GET" else None)
    if rt == "Document" and n == 3 and parts[2] == "Binary":  # a Bulk Data file: PHI
        return ("operation", None, None, None, "R")
    if rt not in SUPPORTED_TYPES:
        return None  # metadata, .well-known, an unknown type (404): no PHI
    if n == 1:
        found = {"GET": "search-type", "HEAD": "search-type", "POST": "create"}.get(method)
        return (found, rt, None, None, None) if found else None
    second = parts[1]
    if n == 2:
        if second == "_search":
            return ("search-type", rt, None, None, None)
        if second == "_history":
            return ("history-type", rt, None, None, None)
        interaction = {"GET": "read", "HEAD": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
        found = interaction.get(method)
        return (found, rt, second, None, None) if found else None
    if parts[2] == "_history":
        if n == 3:
            return ("history-instance", rt, second, None, None)
        return ("vread", rt, second, parts[3], None)
    return None


class AuditMiddleware:
    """``status_of``: the HTTP status of a domain error, the doors' one mapping (fhir_rest/statuses.py), for
    what is raised past this middleware to be rendered outside it (a refusal by authentication, a 412 …)."""

    def __init__(self, app: ASGIApp, *, trail: AuditTrail, status_of: Callable[[DomainError], int]):
        self.app = app
        self.trail = trail
        self.status_of = status_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = None
        if self.trail.enabled and scope["type"] in ("http", "websocket"):
            kind = classify(scope.get("method", "GET"), scope["path"], scope["type"] == "websocket")
        if kind is None:
            await self.app(scope, receive, send)
            return
        found: Kind = kind
        scope[NOTES] = {}
        if not self.trail.has_room():
            await self.trail.admit()  # backpressure: an access that cannot be recorded is not served
        status = 0
        created: str | None = None

        def tracked(message: Message) -> Awaitable[None]:  # no coroutine of its own (app/middleware.py _TrackedSend)
            nonlocal status, created
            kind_of = message["type"]
            if kind_of == "http.response.start":
                status = message["status"]
                if found[0] == "create" and status == 201:  # the id the server assigned, from Location
                    created = next((v.decode("latin-1") for k, v in message.get("headers", ()) if k == b"location"),
                                   None)
            elif kind_of == "websocket.accept":
                status = 101
            elif kind_of == "websocket.close" and (not status or message.get("code") in (4401, 4403)):
                status = 403  # refused: before it was accepted, or at connection_init (graphql-transport-ws)
            return send(message)

        try:
            await self.app(scope, receive, tracked)
        except BaseException as exc:
            self._note(scope, found, status or (self.status_of(exc) if isinstance(exc, DomainError) else 500))
            raise
        if created is not None:
            parts = created.split("/_history/")[0].rsplit("/", 1)
            found = (found[0], found[1], parts[-1] if len(parts) == 2 else None, None, found[4])
        if status and (scope["type"] == "http" or status == 101):
            self._note(scope, found, status)

    def _note(self, scope: Scope, kind: Kind, status: int) -> None:
        interaction, rt, rid, vid, action = kind
        notes: dict[str, Any] = scope.get(NOTES) or {}
        # A websocket's connection_init credentials override its handshake's (graph/subscription.py).
        principal: Any = notes.get("principal") or scope.get("auth")
        query = None
        if interaction.startswith(("search", "history")) or interaction in ("qapi", "operation"):
            query = scope.get("query_string", b"").decode("latin-1")
            if "query" in notes:
                query = f"{query}&{notes['query']}" if query else notes["query"]
        types: tuple[str, ...] = tuple(sorted(notes.get("types", ())))
        if interaction == "graphql-query" and (notes.get("wrote") or notes.get("operation") == "mutation"):
            interaction = "graphql-mutation"
        if status < 400 and notes.get("outcome"):
            status = notes["outcome"]  # what the operation's errors amount to, under a 200
        description = None
        if interaction == "operation":  # the operation's name, or what a Bulk Data file is
            path: str = scope["path"]
            description = next((p for p in path.split("/") if p.startswith("$")), "bulk-data-file")[:40]
        self.trail.note(Access(time.time(), principal, interaction, status, rt, rid, vid, query,
                               notes.get("patient"), types, action, description))
