"""GraphiQL, served from this server alone: the page (``GET /graphql/ide``, and ``GET /graphql`` from a
browser), its assets (``/graphql/ide/<file>``: GraphiQL 3 and React 18 vendored in graph/graphiql/, see its
README), an example query of this schema (graph/example.graphql) and a field for an access token.

The page is static and carries no data, so it is an open path (auth/middleware.py): with anonymous access off,
the token pasted into it travels with every request GraphiQL sends, over HTTP and in the websocket's
``connection_init``. It runs under a strict policy: scripts from this server only, none inline.
"""

from __future__ import annotations

import functools
import html
import mimetypes
import re
from pathlib import Path

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from graph.services import GraphSettings
from store.errors import NotFound

ASSETS = Path(__file__).with_name("graphiql")
EXAMPLE = Path(__file__).with_name("example.graphql")
PATH = "/graphql/ide"
_NAME = re.compile(r"[a-z][a-z0-9.-]*\.(?:js|css)")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fhirgraph · GraphiQL</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{assets}/graphiql.min.css">
<link rel="stylesheet" href="{assets}/fhirgraph-ide.css">
</head><body>
<form id="token-bar" autocomplete="off">
<label for="token">Access token</label>
<input id="token" name="token" type="password" spellcheck="false" placeholder="{placeholder}">
<span id="token-note">{note}</span>
</form>
<div id="graphiql">Loading GraphiQL…</div>
<script src="{assets}/react.production.min.js"></script>
<script src="{assets}/react-dom.production.min.js"></script>
<script src="{assets}/graphiql.min.js"></script>
<script id="ide-config" type="application/json">{config}</script>
<script src="{assets}/fhirgraph-ide.js"></script>
</body></html>"""


@functools.cache
def example_query() -> str:
    return EXAMPLE.read_text()


def page(request: Request, settings: GraphSettings) -> Response:
    """The GraphiQL page; 404 when GraphiQL is off (production's default)."""
    if not settings.graphiql:
        raise NotFound("GraphiQL is off on this server (FHIRGRAPH_GRAPHIQL)")
    root = request.scope.get("root_path", "")
    # JSON inside a <script> element: "</" is escaped so no value can close it.
    config = orjson.dumps({"endpoint": f"{root}/graphql", "query": example_query(),
                           "anonymous": settings.allow_anonymous}).decode().replace("</", "<\\/")
    if settings.allow_anonymous:
        placeholder, note = "optional: runs as the trial principal without one", ""
    else:
        placeholder = "paste an OAuth access token (sent as Authorization: Bearer …)"
        note = "Anonymous access is off: a token is needed (an API key goes in the Headers tab as X-API-Key)."
    body = PAGE.format(assets=f"{root}{PATH}", placeholder=html.escape(placeholder), note=html.escape(note),
                       config=config)
    return Response(body, media_type="text/html", headers={"Content-Security-Policy": CSP,
                                                            "X-Content-Type-Options": "nosniff",
                                                            "Cache-Control": "no-cache"})


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if not _NAME.fullmatch(name) or not (ASSETS / name).is_file():
        raise NotFound("No such asset")
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(ASSETS / name, media_type=kind, headers={"Cache-Control": "max-age=86400",
                                                                  "X-Content-Type-Options": "nosniff"})


def routes(settings: GraphSettings) -> list[BaseRoute]:
    async def ide_page(request: Request) -> Response:
        return page(request, settings)

    return [Route(PATH, ide_page, methods=["GET"]), Route(PATH + "/{name}", asset, methods=["GET"])]
