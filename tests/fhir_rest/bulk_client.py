"""A Bulk Data client written from the Bulk Data Access IG v2 (https://hl7.org/fhir/uv/bulkdata/export.html), as
an EHR integrator would write one: kick-off with ``Prefer: respond-async``, poll the ``Content-Location`` with
back-off honouring ``Retry-After`` (and 429s), download every file with the access token and
``Accept: application/fhir+ndjson``, and check that every line is a valid resource of the file's type."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
from fhir.resources.R4B import get_fhir_model_class

NDJSON = "application/fhir+ndjson"


class BulkError(Exception):
    def __init__(self, response: httpx.Response):
        super().__init__(f"{response.status_code}: {response.text[:300]}")
        self.response = response


class BulkClient:
    def __init__(self, http: httpx.AsyncClient, *, max_wait_s: float = 120.0):
        self.http = http  # base_url = the FHIR base; headers carry the credentials
        self.max_wait_s = max_wait_s
        self.polls = 0

    async def kickoff(self, path: str = "/$export", params: dict[str, str] | None = None,
                      parameters: dict[str, Any] | None = None) -> str:
        """IG §Kick-off: the status URL (``Content-Location``, absolute)."""
        headers = {"Accept": "application/fhir+json", "Prefer": "respond-async"}
        if parameters is not None:
            r = await self.http.post(path, params=params, json=parameters, headers=headers)
        else:
            r = await self.http.get(path, params=params, headers=headers)
        if r.status_code != 202:
            raise BulkError(r)
        location = r.headers["content-location"]
        assert location.startswith("http"), location
        return location

    async def wait(self, status_url: str) -> dict[str, Any]:
        """IG §Status: poll until complete, honouring Retry-After; the manifest."""
        deadline = time.monotonic() + self.max_wait_s
        backoff = 0.5
        while time.monotonic() < deadline:
            r = await self.http.get(status_url, headers={"Accept": "application/json"})
            self.polls += 1
            if r.status_code == 200:
                manifest: dict[str, Any] = r.json()
                return manifest
            if r.status_code in (202, 429):
                if r.status_code == 202:
                    assert r.headers.get("x-progress") is not None
                retry = r.headers.get("retry-after")
                await asyncio.sleep(float(retry) if retry else backoff)
                backoff = min(backoff * 2, 10)
                continue
            raise BulkError(r)
        raise TimeoutError("the export did not complete")

    async def download(self, manifest: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """IG §File Request: every output file, each line validated as a resource of its file's type."""
        assert manifest["requiresAccessToken"] is True
        found: dict[str, list[dict[str, Any]]] = {}
        for item in manifest["output"]:
            r = await self.http.get(item["url"], headers={"Accept": NDJSON})
            if r.status_code != 200:
                raise BulkError(r)
            assert r.headers["content-type"].startswith(NDJSON)
            lines = [line for line in r.content.split(b"\n") if line]
            assert len(lines) == item["count"], (item, len(lines))
            model = get_fhir_model_class(item["type"])
            for line in lines:
                resource = orjson.loads(line)
                assert resource["resourceType"] == item["type"]
                model.model_validate(resource)  # a valid FHIR R4 resource of that type
                found.setdefault(item["type"], []).append(resource)
        return found

    async def export(self, path: str = "/$export", params: dict[str, str] | None = None,
                     parameters: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        manifest = await self.wait(await self.kickoff(path, params, parameters))
        return manifest, await self.download(manifest)
