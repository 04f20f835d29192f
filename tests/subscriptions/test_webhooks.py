"""TeleClinic-style webhooks (seed 000) registered as FHIR Subscriptions: signed, ordered, retried."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import shutil
import subprocess
from collections.abc import Iterator

import httpx
import orjson
import pytest

from app.settings import Settings
from tests.conftest import API_KEYS, ServerThread, free_port
from tests.factories import make_appointment, make_patient
from tests.subscriptions.conftest import Receiver, subscription

SECRET_EXT = "https://fhirgraph.dev/fhir/StructureDefinition/webhook-secret"


async def _register(fhir: httpx.AsyncClient, endpoint: str, criteria: str, **kw: object) -> dict:
    r = await fhir.post("/Subscription", json=subscription(endpoint, criteria, **kw))
    assert r.status_code == 201, r.text
    return r.json()


async def _book(fhir: httpx.AsyncClient, patient_id: str, **kw: object) -> dict:
    r = await fhir.post("/Appointment", json=make_appointment(patient_id, **kw))
    assert r.status_code == 201, r.text
    return r.json()


async def _patient(fhir: httpx.AsyncClient) -> str:
    r = await fhir.post("/Patient", json=make_patient())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _secret_of(created: dict) -> str:
    return next(e["valueString"] for e in created.get("extension", []) if e["url"] == SECRET_EXT)


async def test_signed_delivery_verified_by_hmac_and_openssl(fhir_a: httpx.AsyncClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint()
    created = await _register(fhir_a, endpoint, "appointment.booked,appointment.cancelled")
    secret = _secret_of(created)  # server-generated: shown in the create response only
    patient = await _patient(fhir_a)
    appt = await _book(fhir_a, patient)

    [got] = await receiver.wait(endpoint, 1)
    body = orjson.loads(got.body)
    assert body["type"] == "appointment.booked"
    assert body["resource"]["id"] == appt["id"] and body["resource"]["resourceType"] == "Appointment"
    assert body["id"] == got.headers["webhook-id"]

    expected = "sha256=" + hmac.new(secret.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-teleclinic-signature"] == expected
    if shutil.which("openssl"):
        out = (await asyncio.to_thread(subprocess.run, ["openssl", "dgst", "-sha256", "-hmac", secret, "-r"],
                                       input=got.body, capture_output=True, check=True)).stdout.decode()
        assert got.headers["x-teleclinic-signature"] == "sha256=" + out.split()[0].lower()

    # Standard Webhooks: v1,base64(HMAC(secret, "{id}.{timestamp}.{body}"))
    signed = f"{got.headers['webhook-id']}.{got.headers['webhook-timestamp']}.".encode() + got.body
    mac = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    assert got.headers["webhook-signature"] == f"v1,{mac}"


async def test_secret_is_client_supplied_and_never_read_back(fhir_a: httpx.AsyncClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint()
    created = await _register(fhir_a, endpoint, "patient.created", secret="my-own-secret-123")
    assert _secret_of(created) == "my-own-secret-123"
    read = (await fhir_a.get(f"/Subscription/{created['id']}")).json()
    assert SECRET_EXT not in orjson.dumps(read).decode()
    hist = (await fhir_a.get(f"/Subscription/{created['id']}/_history")).json()
    assert SECRET_EXT not in orjson.dumps(hist).decode()
    found = (await fhir_a.get("/Subscription", params={"_id": created["id"]})).json()
    assert SECRET_EXT not in orjson.dumps(found).decode()

    await _patient(fhir_a)
    [got] = await receiver.wait(endpoint, 1)
    assert got.headers["x-teleclinic-signature"] == "sha256=" + hmac.new(
        b"my-own-secret-123", got.body, hashlib.sha256).hexdigest()


async def test_only_subscribed_events_in_order(fhir_a: httpx.AsyncClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint()
    await _register(fhir_a, endpoint, "appointment.booked,appointment.cancelled")
    patient = await _patient(fhir_a)  # patient.created: not subscribed
    ids = []
    for i in range(5):
        day = f"2026-12-0{i + 1}"
        appt = await _book(fhir_a, patient, start=f"{day}T09:00:00Z", end=f"{day}T09:30:00Z")
        ids.append(appt["id"])
    cancelled = {**appt, "status": "cancelled"}
    assert (await fhir_a.put(f"/Appointment/{appt['id']}", json=cancelled)).status_code == 200

    got = await receiver.wait(endpoint, 6)
    await asyncio.sleep(0.3)
    got = receiver.at(endpoint)
    bodies = [orjson.loads(g.body) for g in got]
    assert [b["type"] for b in bodies] == ["appointment.booked"] * 5 + ["appointment.cancelled"]
    assert [b["resource"]["id"] for b in bodies] == [*ids, appt["id"]]
    seqs = [b["event"]["sequence"] for b in bodies]
    assert seqs == sorted(seqs)


async def test_tenant_isolation(fhir_a: httpx.AsyncClient, fhir_b2: httpx.AsyncClient,
                                receiver: Receiver) -> None:
    endpoint = receiver.endpoint()
    await _register(fhir_a, endpoint, "patient.created")
    await _patient(fhir_b2)
    mine = await _patient(fhir_a)
    [got] = await receiver.wait(endpoint, 1)
    await asyncio.sleep(0.3)
    assert len(receiver.at(endpoint)) == 1
    assert orjson.loads(got.body)["resource"]["id"] == mine


async def test_retries_on_500_and_429_with_retry_after(fhir_a: httpx.AsyncClient, receiver: Receiver,
                                                      events_url: str) -> None:
    endpoint = receiver.endpoint()
    receiver.answer(endpoint, (500, {}), (429, {"Retry-After": "1"}))
    created = await _register(fhir_a, endpoint, "patient.created")
    await _patient(fhir_a)
    got = await receiver.wait(endpoint, 3, within=10)
    assert len(got) == 3
    assert len({g.headers["webhook-id"] for g in got}) == 1  # same event id on every attempt
    assert got[2].at - got[1].at >= 0.9  # Retry-After: 1 honoured
    async with httpx.AsyncClient(base_url=events_url, headers={"X-API-Key": "test-key-tenant-a"}) as c:
        log = (await c.get(f"/qapi/v1/webhooks/{created['id']}/deliveries")).json()
    assert sorted(d["status"] for d in log) == [200, 429, 500]
    assert {d["attempt"] for d in log} == {1, 2, 3}


async def test_dead_letter_then_replay(fhir_a: httpx.AsyncClient, receiver: Receiver,
                                       events_url: str) -> None:
    endpoint = receiver.endpoint()
    receiver.answer(endpoint, (503, {}), (503, {}), (503, {}))  # webhook_max_attempts = 3
    created = await _register(fhir_a, endpoint, "patient.created")
    await _patient(fhir_a)
    await receiver.wait(endpoint, 3)
    second = await _patient(fhir_a)  # the dead letter does not block later events
    got = await receiver.wait(endpoint, 4)
    assert orjson.loads(got[3].body)["resource"]["id"] == second

    async with httpx.AsyncClient(base_url=f"{events_url}/qapi/v1/webhooks/{created['id']}",
                                 headers={"X-API-Key": "test-key-tenant-a"}) as c:
        for _ in range(50):
            dead = (await c.get("/dead-letters")).json()
            if dead:
                break
            await asyncio.sleep(0.05)
        assert len(dead) == 1 and dead[0]["lastStatus"] == 503 and dead[0]["attempts"] == 3
        r = await c.post("/dead-letters/replay")
        assert r.status_code == 202 and r.json() == {"queued": 1}
        got = await receiver.wait(endpoint, 5)
        assert got[4].headers["webhook-id"] == dead[0]["eventId"]
        for _ in range(50):
            if not (await c.get("/dead-letters")).json():
                break
            await asyncio.sleep(0.05)
        assert (await c.get("/dead-letters")).json() == []


async def test_410_disables_the_subscription(fhir_a: httpx.AsyncClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint()
    receiver.answer(endpoint, (410, {}))
    created = await _register(fhir_a, endpoint, "patient.created")
    await _patient(fhir_a)
    await receiver.wait(endpoint, 1)
    for _ in range(100):
        sub = (await fhir_a.get(f"/Subscription/{created['id']}")).json()
        if sub["status"] == "off":
            break
        await asyncio.sleep(0.05)
    assert sub["status"] == "off" and "410" in sub["error"]
    await _patient(fhir_a)
    await asyncio.sleep(0.5)
    assert len(receiver.at(endpoint)) == 1


async def test_redirects_are_not_followed(fhir_a: httpx.AsyncClient, receiver: Receiver) -> None:
    endpoint, elsewhere = receiver.endpoint(), receiver.endpoint()
    receiver.answer(endpoint, (307, {"Location": elsewhere}))
    await _register(fhir_a, endpoint, "patient.created")
    await _patient(fhir_a)
    await receiver.wait(endpoint, 1)
    await asyncio.sleep(0.5)
    assert len(receiver.at(endpoint)) == 1 and receiver.at(elsewhere) == []


async def test_custom_channel_headers_are_sent(fhir_a: httpx.AsyncClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint()
    sub = subscription(endpoint, "patient.created")
    sub["channel"]["header"] = ["Authorization: Bearer receiver-token"]
    assert (await fhir_a.post("/Subscription", json=sub)).status_code == 201
    await _patient(fhir_a)
    [got] = await receiver.wait(endpoint, 1)
    assert got.headers["authorization"] == "Bearer receiver-token"


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://169.254.169.254/latest", "http://[::1]/x",
                                 "http://10.1.2.3/x", "http://localhost/x", "ftp://example.com/x"])
async def test_ssrf_guard_refuses_private_endpoints(url: str) -> None:
    from subscriptions.ssrf import EndpointRefused, resolve_endpoint

    with pytest.raises(EndpointRefused):
        await resolve_endpoint(url, allow_private=False)


async def test_ssrf_guard_allows_private_when_configured() -> None:
    from subscriptions.ssrf import resolve_endpoint

    assert await resolve_endpoint("http://127.0.0.1:9/x", allow_private=True) == "127.0.0.1"


@pytest.fixture(scope="module")
def strict_url(events_settings: Settings) -> Iterator[str]:
    """An app with FHIRGRAPH_WEBHOOK_ALLOW_PRIVATE=false (the production default)."""
    from app.main import create_app

    settings = events_settings.model_copy(update={"webhook_allow_private": False,
                                                  "db_name": f"{events_settings.db_name}_strict"})
    srv = ServerThread(create_app(settings), free_port())
    srv.start()
    yield srv.url
    srv.stop()


async def test_private_endpoints_refused_at_registration(strict_url: str) -> None:
    """One gate for both doors: the store's write guard on Subscription (subscriptions/webhooks.endpoint_guard)."""
    headers = {"X-API-Key": API_KEYS["tenant-a"]}
    async with httpx.AsyncClient(base_url=strict_url, headers=headers, timeout=30) as c:
        r = await c.post("/qapi/v1/webhooks", json={"endpoint": "http://169.254.169.254/latest/meta-data",
                                                    "events": ["patient:created"]})
        assert r.status_code == 400 and "non-public" in r.json()["error"]["message"]
        for endpoint in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://[::1]/hook",
                         "http://169.254.169.254/latest"):
            r = await c.post("/fhir/r4/Subscription", json=subscription(endpoint, "patient.created"))
            assert r.status_code == 400, endpoint
            issue = r.json()["issue"][0]
            assert "non-public" in issue["diagnostics"] and issue["expression"] == ["Subscription.channel.endpoint"]
        # a public address is accepted; moving it onto a private one is refused too
        r = await c.post("/fhir/r4/Subscription", json=subscription("http://93.184.215.14/hook", "patient.created"))
        assert r.status_code == 201
        moved = {**r.json(), "channel": {**r.json()["channel"], "endpoint": "http://127.0.0.1:9/hook"}}
        r = await c.put(f"/fhir/r4/Subscription/{moved['id']}", json=moved)
        assert r.status_code == 400
        assert (await c.delete(f"/fhir/r4/Subscription/{moved['id']}")).status_code == 204  # nothing to deliver to
        # a host that does not resolve (yet) is no address to refuse: accepted, and checked at each delivery
        unresolvable = subscription("http://hooks.example.invalid/x", "patient.created")
        r = await c.post("/fhir/r4/Subscription", json=unresolvable)
        assert r.status_code == 201
        assert (await c.delete(f"/fhir/r4/Subscription/{r.json()['id']}")).status_code == 204

def _store_finds(collection: str) -> float:
    from store.metrics import STORE_CALLS

    return sum(s.value for metric in STORE_CALLS.collect() for s in metric.samples
               if s.name.endswith("_total") and s.labels.get("collection") == collection
               and s.labels.get("operation") == "find")


async def test_idle_webhooks_are_probed_per_tenant_not_polled_each(fhir_a: httpx.AsyncClient,
                                                                   receiver: Receiver) -> None:
    """With nothing happening, a tenant's webhook workers wait for a wake (a local write, or the service's probe
    of the tenant's newest event and queued replays): their outbox and dead-letter reads do not grow with the
    number of webhooks. Each polled by itself every relay interval (0.05 s here) before: 20 more webhooks made
    ~340 more dead-letter reads a second."""

    async def reads_in_a_second() -> tuple[float, float]:
        before = _store_finds("webhook_dead_letters"), _store_finds("events")
        await asyncio.sleep(1.0)
        return _store_finds("webhook_dead_letters") - before[0], _store_finds("events") - before[1]

    await asyncio.sleep(0.5)
    base = await reads_in_a_second()  # the servers' background as it is (earlier tests' webhooks included)
    made = [await _register(fhir_a, receiver.endpoint(), "patient.created") for _ in range(20)]
    try:
        await asyncio.sleep(1.0)  # scanned, leased, and each worker past its first pull
        replays, events = await reads_in_a_second()
        # the probe's reads are per tenant, not per webhook: at most a tick's worth more (tenant-a may have had no
        # webhook before)
        assert replays - base[0] < 50, (base, replays)
        assert events - base[1] < 50, (base, events)
        # and a write still reaches every webhook
        await _patient(fhir_a)
        for sub in made:
            endpoint = sub["channel"]["endpoint"]
            assert len(await receiver.wait(endpoint, 1)) == 1
    finally:
        for sub in made:
            await fhir_a.delete(f"/Subscription/{sub['id']}")
