"""The FHIR route table (fhir_rest/routes.py): the type's own routes sit early for speed, and route every request
as they did at the end of the table, next to the system route."""

from __future__ import annotations

from starlette.routing import BaseRoute, Match, Route

from fhir_rest.routes import ROUTES, TYPE


def routed(routes: list[BaseRoute], method: str, path: str) -> tuple[object, str] | None:
    """What Starlette's router picks: the first full match, else the first partial one (its 405)."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return route.endpoint, "full"  # type: ignore[attr-defined]
        if match == Match.PARTIAL and partial is None:
            partial = route
    return None if partial is None else (partial.endpoint, "partial")  # type: ignore[attr-defined]


def test_the_type_routes_route_as_they_would_last() -> None:
    own = [r for r in ROUTES if isinstance(r, Route) and r.path == f"/{TYPE}"]
    assert [sorted(r.methods or ()) for r in own][0] == ["GET", "HEAD"]
    last = [r for r in ROUTES if r not in own]
    last[-1:-1] = own  # before the system route "/", as the table had them
    paths = ["/Patient", "/metadata", "/openapi.json", "/docs", "/docs/assets/x.js", "/$export", "/$bulkdata-status",
             "/Patient/$export", "/Group/g1/$export", "/Document/d1/Binary", "/Patient/p1/$everything",
             "/DocumentReference/$docref", "/Patient/$validate", "/Patient/p1/$validate", "/Patient/_history",
             "/Patient/_search", "/Patient/p1/_history/2", "/Patient/p1/_history", "/Patient/p1", "/", "/a/b/c/d/e"]
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        for path in paths:
            assert routed(ROUTES, method, path) == routed(last, method, path), (method, path)
