"""The vendor API's route table (seed 002), mounted at ``/qapi/v1``, built from the operation table of each
concept's module (``table.Op``: the same rows the OpenAPI document is generated from). Every response of the
mount, its 404s and 405s included, is in seed 002's shape: errors are domain errors rendered by
``fhir_rest/qapi/errors.py`` (a path or method no route takes reaches the composition root's routing handler,
which renders it the same way). ``/integrations/linking`` (context-aware linking) is mounted beside it."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route

from fhir_rest.qapi import (
    appointments,
    assistance,
    attachments,
    episodes,
    notes,
    patients,
    perfect_answer,
    reports,
    rooms,
    webhooks,
)
from fhir_rest.qapi.table import Op
from fhir_rest.routing import PathRoute, table

PREFIX = "/qapi/v1"


def operations() -> list[Op]:
    """Every qapi operation, in the seed's order."""
    return [
        *patients.ops(),
        *appointments.ops(),
        *rooms.ops(),
        *notes.ops(),
        *attachments.ops(),
        *episodes.ops(),
        *reports.ops(),
        *perfect_answer.ops(),
        *webhooks.ops(),
        *assistance.ops(),
    ]


# The API's own description, open to anyone (auth/middleware.py OPEN_PATHS) and no PHI access.
DOCS = ("/openapi.json", "/docs")


def routes() -> list[BaseRoute]:
    from fhir_rest.qapi import openapi

    return table([
        PathRoute("/openapi.json", openapi.openapi_json, methods=["GET"]),
        PathRoute("/docs", openapi.docs_page, methods=["GET"]),
        PathRoute("/docs/assets/{name}", openapi.docs_asset, methods=["GET"]),
        *(PathRoute(op.path, op.endpoint, methods=[op.method]) for op in operations()),
    ])


def mount() -> Mount:
    return Mount(PREFIX, routes=routes())


def linking() -> Route:
    """``/integrations/linking`` (linking.py): a browser follows it, so it takes no Api-Key."""
    from fhir_rest.qapi import linking as link

    return link.route()
