"""Route tables of one route per method and path, whose 405s name every method of the path.

Starlette answers a method no route of a path takes from the first route whose path matched, with that route's
methods alone (in set order): ``PATCH /Patient`` said ``Allow: GET, HEAD`` though the path also takes POST, PUT and
DELETE. RFC 9110 §15.5.6 asks a 405's ``Allow`` for the target resource's methods: here, those of every route of
the table with the same path template, sorted."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send


class PathRoute(Route):
    allow = ""  # set by table(): the methods of every route of the table with this path

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            raise HTTPException(status_code=405, headers={"Allow": self.allow})
        await super().handle(scope, receive, send)


def table(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """The routes as given, each ``PathRoute`` told the methods of its path's routes."""
    methods: defaultdict[str, set[str]] = defaultdict(set)
    for route in routes:
        if isinstance(route, Route):
            methods[route.path] |= route.methods or set()
    for route in routes:
        if isinstance(route, PathRoute):
            route.allow = ", ".join(sorted(methods[route.path]))
    return list(routes)
