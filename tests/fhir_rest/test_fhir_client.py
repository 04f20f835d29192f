"""A real FHIR client library (fhirpy) against the running server."""

from __future__ import annotations

import pytest
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from tests.conftest import API_KEYS
from tests.factories import TAG_SYSTEM, make_patient


@pytest.fixture
def fhirpy_client(base_url: str) -> AsyncFHIRClient:
    return AsyncFHIRClient(f"{base_url}/fhir/r4", extra_headers={"X-API-Key": API_KEYS["tenant-a"]})


async def test_fhirpy_crud_and_search(fhirpy_client: AsyncFHIRClient, tag: str) -> None:
    for family in ("Client", "Clientson", "Other"):
        patient = fhirpy_client.resource("Patient", **make_patient(family=family, tag=tag))
        await patient.save()
        assert patient["id"] and patient["meta"]["versionId"] == "1"
    found = await (fhirpy_client.resources("Patient")
                   .search(family="client", _tag=f"{TAG_SYSTEM}|{tag}").sort("family").fetch_all())
    assert [p["name"][0]["family"] for p in found] == ["Client", "Clientson"]
    # fhirpy's count() adds Aidbox's `_totalMethod`, which a strict server refuses; `_total` is standard FHIR
    bundle = await fhirpy_client.resources("Patient").search(_tag=f"{TAG_SYSTEM}|{tag}", _total="accurate").fetch_raw()
    assert bundle["total"] == 3

    first = found[0]
    first["gender"] = "other"
    await first.save()
    again = await fhirpy_client.reference("Patient", first["id"]).to_resource()
    assert again["gender"] == "other" and again["meta"]["versionId"] == "2"

    # fetch_all follows `next` links: a page size of 1 walks every match once
    walked = await fhirpy_client.resources("Patient").search(_tag=f"{TAG_SYSTEM}|{tag}").limit(1).fetch_all()
    assert len({p["id"] for p in walked}) == 3

    await again.delete()
    with pytest.raises((ResourceNotFound, OperationOutcome)):
        await fhirpy_client.reference("Patient", first["id"]).to_resource()


async def test_fhirpy_sees_operation_outcome(fhirpy_client: AsyncFHIRClient) -> None:
    bad = fhirpy_client.resource("Patient", birthDate="not-a-date")
    with pytest.raises(OperationOutcome) as info:
        await bad.save()
    assert "Patient.birthDate" in str(info.value)
