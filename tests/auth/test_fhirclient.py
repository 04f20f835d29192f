"""fhirclient (SMART on FHIR's Python client) completes a standalone launch against the server, finding the
endpoints in the CapabilityStatement's security, then reads with its token."""

from __future__ import annotations

import asyncio

import httpx
from fhirclient import client as smart_client
from fhirclient.models.patient import Patient

from app.settings import Settings
from tests.auth.oauth_helpers import REDIRECT, register_app, register_user, sign_in


async def test_fhirclient_standalone_launch(base_url: str, settings: Settings, fhir: httpx.AsyncClient) -> None:
    made = await fhir.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Smart",
                                                                                  "given": ["Client"]}]})
    pid = made.json()["id"]
    app = await register_app(settings)
    user = await register_user(settings, f"Patient/{pid}")
    smart = smart_client.FHIRClient(settings={
        "app_id": app.client_id, "api_base": f"{base_url}/fhir/r4", "redirect_uri": REDIRECT,
        "scope": "launch/patient openid fhirUser patient/*.rs"})
    url = await asyncio.to_thread(lambda: smart.authorize_url)  # reads /metadata (blocking client)
    assert url.startswith(f"{base_url}/auth/authorize")
    done = await sign_in(base_url, url, user)
    assert done.status_code == 302, done.text
    await asyncio.to_thread(smart.handle_callback, done.headers["location"])
    assert smart.ready and smart.patient_id == pid
    patient = await asyncio.to_thread(Patient.read, pid, smart.server)
    assert patient.name[0].family == "Smart"
