"""GraphiQL served by us (graph/ide.py): the page and its assets from this server alone, the example query valid
for this schema, and — in headless Chromium with the network off — the page renders, refuses to run without a
token when anonymous access is off, and runs the example query with a pasted OAuth access token."""

from __future__ import annotations

from pathlib import Path

import httpx
from graphql import parse, validate

from app.settings import Settings
from graph.ide import example_query
from graph.schema import build_schema
from tests.auth.oauth_helpers import backend_client, backend_token
from tests.browser import browser_page
from tests.conftest import ServerThread
from tests.graph.conftest import GQL
from tests.pages import assert_served_offline

# The editors' whole text, from CodeMirror (the page shows only the lines in view).
RESULT = ("(() => { const r = document.querySelector('.result-window .CodeMirror'); "
          "return r ? r.CodeMirror.getValue() : ''; })()")
EDITOR = ("(() => { const q = document.querySelector('.graphiql-query-editor .CodeMirror'); "
          "return q ? q.CodeMirror.getValue() : ''; })()")
RUN = "document.querySelector('.graphiql-execute-button').click(), true"


def paste_token(token: str) -> str:
    return ("(() => { const i = document.getElementById('token'); i.value = " + repr(token)
            + "; i.dispatchEvent(new Event('input', {bubbles: true})); return true; })()")


def test_example_query_is_valid_for_the_schema() -> None:
    errors = validate(build_schema()._schema, parse(example_query()))
    assert errors == []


async def test_example_query_runs(demo: GQL) -> None:
    data = await demo.run(example_query())
    page = data["patients"]
    assert page["totalCount"] > 0 and page["nodes"][0]["fullName"] and page["pageInfo"]["hasNextPage"] is True


async def test_page_and_assets_are_served_by_this_server(graph_server: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=graph_server.url) as http:
        text = await assert_served_offline(http, "/graphql", "ide")  # open path: no credentials needed
        assert "Anonymous access is off" in text and "query FirstPatients" in text
        browser = await http.get("/graphql", headers={"Accept": "text/html"})
        assert browser.status_code == 401  # /graphql itself needs credentials here: the page is /graphql/ide
        missing = await http.get("/graphql/ide/nothing.js")
        assert missing.status_code == 404
        assert (await http.get("/graphql/ide/..%2Fide.py")).status_code == 404


async def test_no_page_when_graphiql_is_off(graph_settings: Settings) -> None:
    from tests.conftest import running_app

    with running_app(graph_settings.model_copy(update={"graphiql": False})) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as http:
            assert (await http.get("/graphql/ide")).status_code == 404
            assert (await http.get("/graphql", headers={"Accept": "text/html"},
                                   params={"apiKey": "none"})).status_code in (400, 401, 404)


async def test_graphiql_runs_the_example_offline_in_a_browser(graph_server: ServerThread, graph_settings: Settings,
                                                              demo_clinic: dict[str, int], tmp_path: Path) -> None:
    client = await backend_client(graph_settings, tenant="graph-demo", scopes=("system/*.rs",), name="GraphiQL test")
    token = await backend_token(graph_server.url, client)
    async with browser_page() as page:
        await page.goto(f"{graph_server.url}/graphql/ide")
        await page.wait_for("!!document.querySelector('.graphiql-execute-button')")
        assert "query FirstPatients" in await page.wait_for(EDITOR)
        await page.screenshot(tmp_path / "graphiql-opened.png")

        await page.evaluate(RUN)  # no token, anonymous access off: the API says so
        refused = await page.wait_for(f"(() => {{ const t = {RESULT}; return /rror/.test(t) ? t : ''; }})()")
        assert "UNAUTHENTICATED" in refused or "credentials" in refused.lower(), refused

        await page.evaluate(paste_token(f"Bearer {token}"))
        await page.evaluate(RUN)
        answer = await page.wait_for(f"(() => {{ const t = {RESULT}; return t.includes('totalCount') ? t : ''; }})()")
        assert '"fullName"' in answer and '"hasNextPage": true' in answer and "errors" not in answer
        shot = await page.screenshot(tmp_path / "graphiql-ran.png")
        assert shot.stat().st_size > 10_000

        offsite = [u for u in page.requested if not u.startswith((graph_server.url, "data:"))]
        assert offsite == [], offsite  # every script, style and call went to this server
        assert page.problems == [] or all("401" in p for p in page.problems), page.problems
