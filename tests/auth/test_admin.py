"""The admin API (fhirgraph/admin) and what ends tokens: disabling a client, revoking a user's grant."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from app.settings import Settings
from auth.registry import add_client
from tests.auth.oauth_helpers import (
    App,
    authorize,
    backend_client,
    backend_token,
    identity_store,
)
from tests.auth.test_oauth import SCOPE, _patient_user, _refused_soon


async def _admin_token(base_url: str, settings: Settings, tenant: str = "tenant-a") -> str:
    admin = await backend_client(settings, scopes=("fhirgraph/admin",), tenant=tenant, name="Clinic admin")
    return await backend_token(base_url, admin)


async def test_admin_api_needs_the_admin_scope(base_url: str, fhir: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        assert (await http.get("/auth/admin/clients")).status_code == 401
        refused = await http.get("/auth/admin/clients", headers={"X-API-Key": fhir.headers["X-API-Key"]})
        assert refused.status_code == 403  # system/*.* is not the admin scope
        assert refused.json()["error"]["message"].startswith("insufficient_scope")


async def test_admin_registers_lists_and_disables(base_url: str, settings: Settings, fhir: httpx.AsyncClient) -> None:
    token = await _admin_token(base_url, settings)
    admin = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=admin) as http:
        made = await http.post("/auth/admin/clients", json={"name": "Portal", "redirect_uris":
                                                            ["https://portal.example/cb"], "public": True})
        assert made.status_code == 201, made.text
        client_id = made.json()["client_id"]
        bad = await http.post("/auth/admin/clients", json={"name": "X", "scope": "fhirgraph/admin", "grant":
                                                           "client_credentials"})
        assert bad.status_code == 403
        resource = await http.post("/auth/admin/clients", json={"name": "Resource", "scope": "introspect",
                                                                "grant": "client_credentials"})
        assert resource.status_code == 201 and resource.json()["scope"] == "introspect", resource.text
        junk = await http.post("/auth/admin/clients", content=b"[1]")
        assert junk.status_code == 400 and "error" in junk.json()
        listed = (await http.get("/auth/admin/clients")).json()
        assert client_id in [c["client_id"] for c in listed["clients"]]
        user = await http.post("/auth/admin/users", json={"username": "nurse-1", "password": "long enough pw",
                                                          "fhirUser": "Practitioner/p1"})
        assert user.status_code == 201
        again = await http.post("/auth/admin/users", json={"username": "nurse-1", "password": "long enough pw",
                                                           "fhirUser": "Practitioner/p1"})
        assert again.status_code == 409
        gone = await http.post("/auth/admin/clients/nope/disable")
        assert gone.status_code == 404


async def _signed_in(base_url: str, settings: Settings, fhir: httpx.AsyncClient
                     ) -> tuple[str, App, str, dict[str, Any], str]:
    """A patient signed in to a fresh app: (patient id, app, username, token response, an admin's token)."""
    pid, app, user = await _patient_user(settings, fhir)
    token, _ = await authorize(app, base_url, user, SCOPE)
    return pid, app, user, token, await _admin_token(base_url, settings)


async def test_disabling_a_client_ends_its_tokens(base_url: str, settings: Settings, fhir: httpx.AsyncClient) -> None:
    pid, app, _, token, admin = await _signed_in(base_url, settings, fhir)
    async with httpx.AsyncClient(base_url=base_url) as http:
        off = await http.post(f"/auth/admin/clients/{app.client_id}/disable",
                              headers={"Authorization": f"Bearer {admin}"})
        assert off.status_code == 200
        refresh = await http.post("/auth/token", data={"grant_type": "refresh_token", "client_id": app.client_id,
                                                       "refresh_token": token["refresh_token"]})
        assert refresh.status_code in (400, 401) and refresh.json()["error"] in ("invalid_client", "invalid_grant")
    assert (await _refused_soon(base_url, token["access_token"], f"/fhir/r4/Patient/{pid}")).status_code == 401


async def test_revoking_a_grant_ends_the_users_tokens(base_url: str, settings: Settings,
                                                     fhir: httpx.AsyncClient) -> None:
    pid, app, user, token, admin = await _signed_in(base_url, settings, fhir)
    async with httpx.AsyncClient(base_url=base_url) as http:
        done = await http.post("/auth/admin/grants/revoke", json={"client_id": app.client_id, "username": user},
                               headers={"Authorization": f"Bearer {admin}"})
        assert done.status_code == 200
        refresh = await http.post("/auth/token", data={"grant_type": "refresh_token", "client_id": app.client_id,
                                                       "refresh_token": token["refresh_token"]})
        assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    assert (await _refused_soon(base_url, token["access_token"], f"/fhir/r4/Patient/{pid}")).status_code == 401
    # Signing in again afterwards gives working tokens.
    fresh, _ = await authorize(app, base_url, user, SCOPE)
    async with httpx.AsyncClient(base_url=base_url) as http:
        read = await http.get(f"/fhir/r4/Patient/{pid}", headers={"Authorization": f"Bearer {fresh['access_token']}"})
    assert read.status_code == 200


async def test_registered_api_keys_for_the_vendor_api(base_url: str, settings: Settings) -> None:
    async with identity_store(settings) as identity:
        shown = await add_client(identity, name="Integrator", tenant="tenant-b", redirect_uris=[], grant="api_key",
                                 scopes=["system/Subscription.cruds"])
    key = shown["api_key"]
    assert key.startswith("fgk_") and "client_secret" not in shown
    async with httpx.AsyncClient(base_url=base_url) as http:
        listed = await http.get("/qapi/v1/webhooks", headers={"Api-Key": key})
        assert listed.status_code == 200, listed.text
        wrong = await http.get("/qapi/v1/webhooks", headers={"Api-Key": "fgk_" + "x" * 43})
        assert wrong.status_code == 401 and "message" in wrong.json()["error"]
        admin = await _admin_token(base_url, settings, tenant="tenant-b")
        off = await http.post(f"/auth/admin/clients/{shown['client_id']}/disable",
                              headers={"Authorization": f"Bearer {admin}"})
        assert off.status_code == 200, off.text
        started = asyncio.get_running_loop().time()
        while (await http.get("/qapi/v1/webhooks", headers={"Api-Key": key})).status_code != 401:
            assert asyncio.get_running_loop().time() - started < 3
            await asyncio.sleep(0.05)
