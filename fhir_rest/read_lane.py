"""The read lane: ``GET [base]/[type]/[id]`` — the interaction clients make most — and the plain JSON search
``GET [base]/[type]?…`` answered in front of the route table.

A read through Starlette's router walks the route list, the mount, its twelve FHIR routes, then builds a
``Request`` and a ``Response``: about a fifth of the CPU time of a read served from a batched store call. This
ASGI middleware, placed right after authentication (so ``scope["auth"]`` is the principal), recognises the
read's path itself and answers with ``endpoints.read_reply`` — the same code the routed ``read`` uses — so both
give identical responses, under the same store deadline as every request (it sits in front of the middleware
that sets it for the others: a read has no body to limit or wait for). Everything else (HEAD, ids outside the
FHIR id alphabet, every other interaction) passes through unchanged; unexpected exceptions propagate to the same
error middleware as any route's.

A search of a type the store keeps, without ``_format`` and with an ``Accept`` that admits FHIR JSON, is answered
with ``endpoints.search_page`` — the routed search's code — under the same deadline; its domain errors (bad
parameters) are raised to the same error middleware the route's reach. Anything else (HEAD, ``_format``, an
Accept refused, an unknown type, a root path set by a proxy, a body) goes to the route table, which answers as before.
"""

from __future__ import annotations

import contextlib
import re

from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from fhir_rest.endpoints import read_reply, search_page
from fhir_rest.negotiation import admits_json
from fhir_rest.outcomes import FHIR_JSON
from fhir_rest.routes import PREFIXES
from fhir_rest.services import RestServices, services_of
from store.client import deadline
from store.params import PARAMS
from store.types import PrincipalLike

# [base]/[type]/[id] with a FHIR id ([A-Za-z0-9-.]{1,64}): "_history", "_search", "$op" and "metadata" never match.
READ_PATH = re.compile("(?:" + "|".join(map(re.escape, PREFIXES)) + r")/([A-Z][A-Za-z]{0,63})/([A-Za-z0-9\-.]{1,64})")

# [base]/[type]: a search (the prefix captured: the mount's, for links and the route label).
SEARCH_PATH = re.compile("(" + "|".join(map(re.escape, PREFIXES)) + r")/([A-Z][A-Za-z]{0,63})")
_SEARCH_ROUTES = {prefix: f"{prefix}/{{type}}" for prefix in PREFIXES}
_JSON = FHIR_JSON.encode("latin-1")


# The route label of a read the lane answered (app/telemetry.py ``route_of``), left in the scope: what the label
# would be found to be from the path, without matching it again.
ROUTE = "fhirgraph.read_route"
_ROUTES = tuple((f"{prefix}/", f"{prefix}/{{type}}/{{id}}") for prefix in PREFIXES)

# ASGI header names are lower-case bytes; these are on every read.
_NAMES = {"ETag": b"etag", "Last-Modified": b"last-modified", "Content-Type": b"content-type"}


class ReadLane:
    def __init__(self, app: ASGIApp, *, deadline_s: float):
        self.app = app
        self.deadline_s = deadline_s
        self.services: RestServices | None = None  # the app's, found on the first read (this lane is the app's)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root):]
            match = READ_PATH.fullmatch(path)
            principal = scope.get("auth")
            if match is not None and principal is not None:
                if not root:
                    for under, label in _ROUTES:  # a plain loop: every read passes here
                        if path.startswith(under):
                            scope[ROUTE] = label
                            break
                if_none_match = accept = None
                for name, value in scope["headers"]:
                    if name == b"if-none-match":
                        if_none_match = value.decode("latin-1")
                    elif name == b"accept":
                        accept = value.decode("latin-1")
                if self.services is None:
                    self.services = services_of(scope)
                rt = match.group(1)
                # A type the store does not keep is answered (404) without asking it: no deadline to set.
                with deadline(self.deadline_s) if rt in PARAMS else contextlib.nullcontext():
                    status, headers, body = await read_reply(
                        self.services.repo, principal, rt, match.group(2), scope.get("query_string", b""),
                        if_none_match, accept, scope=scope)
                raw = [(_NAMES.get(name) or name.lower().encode("latin-1"), value.encode("latin-1"))
                       for name, value in headers.items()]
                if status != 304:
                    raw.append((b"content-length", b"%d" % len(body)))
                await send({"type": "http.response.start", "status": status, "headers": raw})
                await send({"type": "http.response.body", "body": body})
                return
            if match is None and not root and principal is not None and await self._search(scope, path, principal,
                                                                                         send):
                return
        await self.app(scope, receive, send)

    async def _search(self, scope: Scope, path: str, principal: PrincipalLike, send: Send) -> bool:
        """Answer ``GET [base]/[type]?…`` as the routed search would; False (nothing sent) to leave it to it."""
        match = SEARCH_PATH.fullmatch(path)
        if match is None:
            return False
        prefix, rt = match.groups()
        query: bytes = scope.get("query_string", b"")
        if rt not in PARAMS or b"_format" in query:
            return False
        accept = prefer = None  # the first of each, as the route's negotiation and Request.headers take them
        for name, value in scope["headers"]:
            if name == b"accept" and accept is None:
                accept = value.decode("latin-1")
            elif name == b"prefer" and prefer is None:
                prefer = value.decode("latin-1")
            elif name == b"content-length" or name == b"transfer-encoding":
                return False  # a GET with a body: the body limit and timeout in front of the route have a say
        if accept is not None and not admits_json(accept):
            return False
        if self.services is None:
            self.services = services_of(scope)
        scope["fhir_prefix"] = prefix  # as the mount's _Prefixed records it: links name the door used
        scope[ROUTE] = _SEARCH_ROUTES[prefix]
        with deadline(self.deadline_s):
            body = await search_page(self.services, scope, principal, rt,
                                     QueryParams(query).multi_items(), prefer or "")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"%d" % len(body)), (b"content-type", _JSON)]})
        await send({"type": "http.response.body", "body": body})
        return True
