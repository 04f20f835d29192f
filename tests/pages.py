"""Checks shared by the API documentation pages (FHIR REST and qapi Swagger UI, GraphiQL)."""

from __future__ import annotations

import re

import httpx


async def assert_served_offline(client: httpx.AsyncClient, base: str, page_path: str = "docs") -> str:
    """``{base}/{page_path}`` is an HTML page under a strict script policy whose every asset is served by this
    server (no CDN); returns the page's text."""
    url = f"{base}/{page_path}"
    page = await client.get(url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    sources = [s for s in re.findall(r'(?:src|href)="([^"]+)"', page.text) if not s.startswith("data:")]
    assert sources and all(not s.startswith(("http:", "https:", "//")) for s in sources)
    for source in sources:
        # relative to the page's folder (base), or a path of this server
        asset = await client.get(source if source.startswith("/") else f"{base}/{source}")
        assert asset.status_code == 200 and asset.content, source
    return page.text
