"""The FHIR R4 route table, mounted at ``/fhir/r4`` and (seed 004) ``/r4``. What matches no route (404) or
no method of its route (405) is answered by the composition root's routing handler, as an OperationOutcome."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from fhir_rest import docref, openapi
from fhir_rest import endpoints as ep
from fhir_rest import operations as ops
from fhir_rest.bulk import endpoints as bulk
from fhir_rest.negotiation import Negotiated
from fhir_rest.routing import PathRoute, table

PREFIXES = ("/fhir/r4", "/r4")
TYPE = "{type:str}"
ID = "{id:str}"


ROUTES = table([
    PathRoute("/metadata", ep.metadata, methods=["GET"]),
    # The OpenAPI description of this API and its page (fhir_rest/openapi.py): before the type routes.
    PathRoute("/openapi.json", openapi.openapi_json, methods=["GET"]),
    PathRoute("/docs", openapi.docs_page, methods=["GET"]),
    PathRoute("/docs/assets/{name:str}", openapi.docs_asset, methods=["GET"]),
    # Bulk Data (fhir_rest/bulk/): before the type routes, which would take "$export" for a type or an id.
    PathRoute("/$export", bulk.kickoff, methods=["GET", "POST"]),
    PathRoute("/Patient/$export", bulk.kickoff, methods=["GET", "POST"]),
    PathRoute(f"/Group/{ID}/$export", bulk.kickoff, methods=["GET", "POST"]),
    PathRoute("/$bulkdata-status", bulk.status, methods=["GET"]),
    PathRoute("/$bulkdata-status", bulk.cancel, methods=["DELETE"]),
    # The type's own routes (search: the most asked for of them) after the other one-segment paths, ahead of the
    # longer paths, which no one-segment path can match: the same routing, a search not tried on those first.
    PathRoute(f"/{TYPE}", ep.search, methods=["GET"]),
    PathRoute(f"/{TYPE}", ep.create, methods=["POST"]),
    PathRoute(f"/{TYPE}", ep.conditional_update, methods=["PUT"]),
    PathRoute(f"/{TYPE}", ep.conditional_delete, methods=["DELETE"]),
    PathRoute(f"/Document/{ID}/Binary", bulk.download, methods=["GET"]),
    # Operations (fhir_rest/operations.py): before the type routes too.
    PathRoute(f"/Patient/{ID}/$everything", ops.everything, methods=["GET", "POST"]),
    PathRoute("/DocumentReference/$docref", docref.docref, methods=["GET", "POST"]),
    PathRoute(f"/{TYPE}/$validate", ops.validate, methods=["POST"]),
    PathRoute(f"/{TYPE}/{ID}/$validate", ops.validate, methods=["POST"]),
    PathRoute(f"/{TYPE}/_history", ep.type_history, methods=["GET"]),
    PathRoute(f"/{TYPE}/_search", ep.search, methods=["POST"]),
    PathRoute(f"/{TYPE}/{ID}/_history/{{vid:str}}", ep.vread, methods=["GET"]),
    PathRoute(f"/{TYPE}/{ID}/_history", ep.instance_history, methods=["GET"]),
    PathRoute(f"/{TYPE}/{ID}", ep.read, methods=["GET"]),
    PathRoute(f"/{TYPE}/{ID}", ep.update, methods=["PUT"]),
    PathRoute(f"/{TYPE}/{ID}", ep.patch, methods=["PATCH"]),
    PathRoute(f"/{TYPE}/{ID}", ep.delete, methods=["DELETE"]),
    PathRoute("/", ep.system, methods=["POST"]),
])


class _Prefixed:
    """Records the mount prefix so links and Location headers use the door the client came through."""

    def __init__(self, app: ASGIApp, prefix: str, path: str | None = None):
        self.app, self.prefix, self.path = app, prefix, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["fhir_prefix"] = self.prefix
        if self.path is not None:  # the bare base: routed as the mount would route "<prefix>/"
            scope = {**scope, "root_path": scope.get("root_path", "") + self.prefix, "path": self.prefix + self.path}
        await self.app(scope, receive, send)


def mounts() -> list[BaseRoute]:
    from starlette.routing import Router

    router = Router(routes=ROUTES)
    # The base itself without its trailing slash (``POST [base]``: transactions and batches), answered in place
    # rather than redirected: clients post to the base URL as they were given it.
    # Every route's _format/Accept is checked in front of it (fhir_rest/negotiation.py).
    negotiated = {prefix: Negotiated(router, prefix) for prefix in PREFIXES}
    bare: list[BaseRoute] = [Route(prefix, _Prefixed(negotiated[prefix], prefix, path="/"), methods=["POST"])
                             for prefix in PREFIXES]
    return [*bare, *(Mount(prefix, app=_Prefixed(negotiated[prefix], prefix)) for prefix in PREFIXES)]
