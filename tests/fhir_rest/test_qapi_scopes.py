"""qapi webhooks need Subscription scopes (read to look, write to change), v1 or v2 spelling; a refusal is 403
in the vendor API's shape."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

HOOK = {"endpoint": "http://127.0.0.1:9/hook", "events": ["patient:created"]}


async def test_webhook_crud_needs_subscription_scopes(scoped: Any) -> None:
    tenant = f"qscopes-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=f"{scoped.url}/qapi/v1", timeout=30) as qapi:
        def as_(*scopes: str) -> dict[str, str]:
            return {"Api-Key": scoped.key(tenant, *scopes)}

        patients_only = as_("user/Patient.rs")
        for method, path in (("GET", "/webhooks"), ("POST", "/webhooks"), ("GET", "/webhooks/x"),
                             ("PUT", "/webhooks/x"), ("DELETE", "/webhooks/x")):
            r = await qapi.request(method, path, json=HOOK, headers=patients_only)
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["error"]["message"].startswith("insufficient_scope:")
            assert "Subscription" in r.json()["error"]["message"]
        reader = as_("system/Subscription.read")
        assert (await qapi.get("/webhooks", headers=reader)).json() == []
        assert (await qapi.post("/webhooks", json=HOOK, headers=reader)).status_code == 403
        for writer in (as_("system/Subscription.read", "system/Subscription.write"),
                       as_("system/Subscription.cruds")):
            made = await qapi.post("/webhooks", json=HOOK, headers=writer)
            assert made.status_code == 201, made.text
            hook = made.json()["id"]
            assert (await qapi.get(f"/webhooks/{hook}", headers=reader)).status_code == 200
            assert (await qapi.put(f"/webhooks/{hook}", json=HOOK, headers=reader)).status_code == 403
            assert (await qapi.delete(f"/webhooks/{hook}", headers=reader)).status_code == 403
            assert (await qapi.put(f"/webhooks/{hook}", json=HOOK, headers=writer)).status_code == 200
            assert (await qapi.delete(f"/webhooks/{hook}", headers=writer)).status_code == 204

