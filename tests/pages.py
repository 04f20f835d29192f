"""Checks shared by the API documentation pages (FHIR REST and qapi Swagger UI)."""

from __future__ import annotations

import re

import httpx


async def assert_served_offline(client: httpx.AsyncClient, base: str) -> str:
    """``{base}/docs`` is an HTML page under a strict script policy whose every asset is served from ``base`` (no
    CDN); returns the page's text."""
    page = await client.get(f"{base}/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(not s.startswith(("http:", "https:", "//")) for s in sources)
    for source in sources:
        asset = await client.get(f"{base}/{source}")
        assert asset.status_code == 200 and asset.content, source
    return page.text
