"""The FHIR door's own rules (fhir_rest/endpoints.py): update bodies carry their id, resourceType messages,
Idempotency-Key duplicates in flight, append-only types."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.settings import Settings
from fhir_rest.endpoints import request_fingerprint
from store import idempotency
from store.client import StoreHandle, open_store
from store.types import SystemPrincipal
from tests.factories import make_patient
from tests.fhir_rest.test_errors import assert_outcome


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[StoreHandle]:
    handle = await open_store(settings.mongodb_uri, settings.db_name, create_indexes=False)
    yield handle
    await handle.close()


async def test_an_update_without_an_id_in_the_body_is_400(fhir: httpx.AsyncClient) -> None:
    created = (await fhir.post("/Patient", json=make_patient())).json()
    body = {k: v for k, v in created.items() if k != "id"}
    outcome = assert_outcome(await fhir.put(f"/Patient/{created['id']}", json=body), 400)
    assert outcome["issue"][0]["expression"] == ["Patient.id"]
    # nor may it create a resource that way
    assert_outcome(await fhir.put("/Patient/no-id-in-body", json=make_patient()), 400)
    assert (await fhir.get("/Patient/no-id-in-body")).status_code == 404
    ok = await fhir.put(f"/Patient/{created['id']}", json={**created, "gender": "other"})
    assert ok.status_code == 200 and ok.json()["gender"] == "other"


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("found", [None, 5, "", "unicorn", ["Patient"]])
async def test_a_missing_or_bad_body_resource_type_is_named_plainly(fhir: httpx.AsyncClient, method: str,
                                                                    found: object) -> None:
    body: dict[str, object] = {"id": "rt-check", "gender": "female"}
    if found is not None:
        body["resourceType"] = found
    r = await fhir.request(method, "/Patient" if method == "POST" else "/Patient/rt-check", json=body)
    message = assert_outcome(r, 400)["issue"][0]["diagnostics"]
    assert "None" not in message and "Patient" in message
    assert "unicorn" not in message  # not a type name: not repeated back


async def test_a_duplicate_of_a_request_in_flight_is_409(fhir: httpx.AsyncClient, store: StoreHandle,
                                                         tag: str) -> None:
    body = make_patient(tag=tag)
    key = f"in-flight-{tag}"
    # The first request holds the key (as it does while its write is under way).
    claim = await store.repo.claim_idempotency(SystemPrincipal("tenant-a"), key, request_fingerprint("Patient", body))
    assert claim.owner is not None and claim.earlier is None
    outcome = assert_outcome(await fhir.post("/Patient", json=body, headers={"Idempotency-Key": key}), 409)
    assert outcome["issue"][0]["code"] == "conflict"


async def test_a_key_left_pending_by_a_dead_request_is_taken_over(fhir: httpx.AsyncClient, store: StoreHandle,
                                                                  settings: Settings, tag: str) -> None:
    """A process that died mid-request leaves its key pending: past STALE_S a retry runs instead of getting
    409 for the record's whole day, and the dead request (were it only slow) can no longer write the key."""
    body = make_patient(tag=tag)
    key = f"orphan-{tag}"
    principal = SystemPrincipal("tenant-a")
    dead = await store.repo.claim_idempotency(principal, key, request_fingerprint("Patient", body))
    assert dead.owner is not None
    records = store.client[settings.db_name][idempotency.COLLECTION]
    long_ago = datetime.now(UTC) - timedelta(seconds=idempotency.STALE_S + 1)
    assert (await records.update_many({"owner": dead.owner}, {"$set": {"created": long_ago}})).modified_count == 1
    retried = await fhir.post("/Patient", json=body, headers={"Idempotency-Key": key})
    assert retried.status_code == 201
    await store.repo.complete_idempotency(principal, key, dead.owner, {"status": 500, "headers": {}, "body": b"x"})
    again = await fhir.post("/Patient", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.json()["id"] == retried.json()["id"]  # the retry's answer, kept
    other = make_patient(tag=tag, family="Other")  # a different body under that key is still refused
    assert_outcome(await fhir.post("/Patient", json=other, headers={"Idempotency-Key": key}), 422)


async def test_concurrent_posts_with_one_key_create_once(fhir: httpx.AsyncClient, tag: str) -> None:
    body = make_patient(tag=tag)
    h = {"Idempotency-Key": f"race-{tag}"}
    replies = await asyncio.gather(*(fhir.post("/Patient", json=body, headers=h) for _ in range(8)))
    codes = [r.status_code for r in replies]
    assert set(codes) <= {201, 409} and 201 in codes, codes
    assert len({r.json()["id"] for r in replies if r.status_code == 201}) == 1
    found = (await fhir.get("/Patient", params={"_tag": f"https://fhirgraph.dev/fhir/CodeSystem/test-run|{tag}",
                                                "_total": "accurate"})).json()
    assert found["total"] == 1


APPEND_ONLY_BODIES = {
    "AuditEvent": {"resourceType": "AuditEvent", "recorded": "2026-01-01T00:00:00Z",
                   "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110110"},
                   "agent": [{"requestor": True, "who": {"display": "tester"}}],
                   "source": {"observer": {"display": "fhirgraph"}}},
    "Provenance": {"resourceType": "Provenance", "recorded": "2026-01-01T00:00:00Z",
                   "target": [{"reference": "Patient/x"}], "agent": [{"who": {"display": "tester"}}]},
    "Communication": {"resourceType": "Communication", "status": "completed"},
}


@pytest.mark.parametrize("rt", sorted(APPEND_ONLY_BODIES))
async def test_changing_an_append_only_resource_is_405(fhir: httpx.AsyncClient, rt: str) -> None:
    created = await fhir.post(f"/{rt}", json=APPEND_ONLY_BODIES[rt])
    assert created.status_code == 201, created.text
    resource = created.json()
    url = f"/{rt}/{resource['id']}"
    attempts = [
        fhir.put(url, json={**resource, "language": "en"}),
        fhir.patch(url, json=[{"op": "add", "path": "/language", "value": "en"}],
                   headers={"Content-Type": "application/json-patch+json"}),
        fhir.delete(url),
        fhir.delete(f"/{rt}/never-was"),
    ]
    for r in await asyncio.gather(*attempts):
        outcome = assert_outcome(r, 405)
        assert outcome["issue"][0]["code"] == "not-supported"
        assert r.headers["allow"] == "GET, HEAD"
    after = (await fhir.get(url)).json()
    assert after["meta"]["versionId"] == "1" and "language" not in after
