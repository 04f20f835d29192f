"""Bad input of every kind gets its status and an OperationOutcome — never a 500 (seed 000's table)."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import make_patient


def assert_outcome(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "error"
    return body


async def test_malformed_json_is_400(fhir: httpx.AsyncClient) -> None:
    r = await fhir.post("/Patient", content=b"{not json", headers={"Content-Type": "application/fhir+json"})
    assert_outcome(r, 400)


async def test_body_type_differs_from_url_is_400(fhir: httpx.AsyncClient) -> None:
    assert_outcome(await fhir.post("/Patient", json={"resourceType": "Observation"}), 400)
    assert_outcome(await fhir.put("/Patient/abc", json={"resourceType": "Observation", "id": "abc"}), 400)
    assert_outcome(await fhir.put("/Patient/abc", json=make_patient(id="xyz")), 400)


async def test_invalid_resource_is_422_with_paths(fhir: httpx.AsyncClient) -> None:
    bad = make_patient(birthDate="14/03/1988", foo="bar")
    body = assert_outcome(await fhir.post("/Patient", json=bad), 422)
    paths = body["issue"][0]["expression"]
    assert "Patient.birthDate" in paths and "Patient.foo" in paths
    assert "14/03/1988" not in str(body)  # input values are never echoed


async def test_codes_outside_required_bindings_are_422(fhir: httpx.AsyncClient) -> None:
    body = assert_outcome(await fhir.post("/Patient", json=make_patient(gender="banana")), 422)
    assert body["issue"][0]["expression"] == ["Patient.gender"]
    assert body["issue"][1]["code"] == "code-invalid" and "male, female, other, unknown" in str(body)
    assert "banana" not in str(body)
    nested = make_patient(name=[{"use": "nick", "family": "Reyes"}],
                          contained=[{"resourceType": "Patient", "id": "c1", "gender": "m"}])
    body = assert_outcome(await fhir.post("/Patient", json=nested), 422)
    assert set(body["issue"][0]["expression"]) == {"Patient.name[0].use", "Patient.contained[0].gender"}
    assert_outcome(await fhir.post("/Appointment", json={"resourceType": "Appointment", "status": "maybe",
                                                         "participant": [{"status": "accepted"}]}), 422)
    # Observation.status ("registered | preliminary | final | amended +" in the models): its whole value set
    obs = {"resourceType": "Observation", "status": "cancelled", "code": {"text": "Weight"}}
    assert (await fhir.post("/Observation", json=obs)).status_code == 201
    body = assert_outcome(await fhir.post("/Observation", json={**obs, "status": "banana"}), 422)
    assert body["issue"][0]["expression"] == ["Observation.status"] and "entered-in-error" in str(body)
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient/p1"}, "clinicalStatus": {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "banana"}]}}
    body = assert_outcome(await fhir.post("/Condition", json=condition), 422)
    assert body["issue"][0]["expression"] == ["Condition.clinicalStatus.coding[0].code"]


async def test_json_primitives_of_another_type_are_422(fhir: httpx.AsyncClient) -> None:
    body = assert_outcome(await fhir.post("/Patient", json=make_patient(active="yes")), 422)
    assert body["issue"][0]["expression"] == ["Patient.active"] and "yes" not in str(body)
    body = assert_outcome(await fhir.post("/Patient", json=make_patient(multipleBirthInteger="2")), 422)
    assert body["issue"][0]["expression"] == ["Patient.multipleBirthInteger"]


async def test_every_missing_required_element_is_named_in_one_422(fhir: httpx.AsyncClient) -> None:
    body = assert_outcome(await fhir.post("/Appointment", json={"resourceType": "Appointment"}), 422)
    assert set(body["issue"][0]["expression"]) == {"Appointment.participant", "Appointment.status"}
    assert {tuple(i["expression"]) for i in body["issue"][1:] if i["code"] == "required"} == {
        ("Appointment.participant",), ("Appointment.status",)}


async def test_unknown_resource_type_is_404(fhir: httpx.AsyncClient) -> None:
    assert_outcome(await fhir.get("/Unicorn"), 404)
    assert_outcome(await fhir.get("/Unicorn/1"), 404)
    assert_outcome(await fhir.post("/Unicorn", json={"resourceType": "Unicorn"}), 404)


async def test_missing_is_404(fhir: httpx.AsyncClient) -> None:
    assert_outcome(await fhir.get("/Patient/does-not-exist"), 404)
    assert_outcome(await fhir.put("/Patient/nope-x", json=make_patient(id="nope-x"),
                                  headers={"If-Match": 'W/"1"'}), 404)


@pytest.mark.parametrize("body", [b"[]", b"123", b'"x"', b"null"])
async def test_non_object_bodies_are_400(fhir: httpx.AsyncClient, body: bytes) -> None:
    assert_outcome(await fhir.post("/Patient", content=body, headers={"Content-Type": "application/fhir+json"}), 400)


@pytest.mark.parametrize("meta", [{"extension": 5}, {"extension": "x"}, {"extension": {"url": "u"}},
                                  {"tag": None}, {"tag": {"code": "x"}}, {"profile": "http://x"}, [1], "x"])
async def test_wrong_meta_shapes_are_400_not_500(fhir: httpx.AsyncClient, meta: object) -> None:
    body = assert_outcome(await fhir.post("/Patient", json={"resourceType": "Patient", "meta": meta}), 400)
    assert body["issue"][0]["expression"][0].startswith("Patient.meta")
    created = (await fhir.post("/Patient", json=make_patient())).json()
    assert_outcome(await fhir.put(f"/Patient/{created['id']}", json={**created, "meta": meta}), 400)


async def test_nulls_in_bodies_are_400_with_their_paths(fhir: httpx.AsyncClient) -> None:
    bad = make_patient(family="Nullsworth", gender=None, address=[{"city": None, "line": ["1 Main St", None]}])
    body = assert_outcome(await fhir.post("/Patient", json=bad), 400)
    assert set(body["issue"][0]["expression"]) == {"Patient.gender", "Patient.address[0].city",
                                                   "Patient.address[0].line[1]"}
    assert "Nullsworth" not in str(body) and "Main St" not in str(body)
    pid = (await fhir.post("/Patient", json=make_patient())).json()["id"]
    r = await fhir.patch(f"/Patient/{pid}", json=[{"op": "add", "path": "/meta/tag", "value": None}],
                         headers={"Content-Type": "application/json-patch+json"})
    assert assert_outcome(r, 400)["issue"][0]["expression"] == ["Patient.meta.tag"]
    assert "tag" not in (await fhir.get(f"/Patient/{pid}")).json()["meta"]


async def test_bodies_the_fuzzer_found_are_400_not_500(fhir: httpx.AsyncClient) -> None:
    # nested past what orjson writes back (its fingerprint for an Idempotency-Key, the response) and MongoDB stores
    deep = b'{"resourceType": "Patient", "extension": ' + b"[" * 300 + b"]" * 300 + b"}"
    for headers in ({}, {"Idempotency-Key": "deep-body"}):
        assert_outcome(await fhir.post("/Patient", content=deep,
                                       headers={"Content-Type": "application/fhir+json", **headers}), 400)
    # a primitive's extensions that are not an object (the models' own validator raised on it)
    body = assert_outcome(await fhir.post("/Patient", json=make_patient(_birthDate="1988")), 400)
    assert body["issue"][0]["expression"] == ["Patient._birthDate"]
    # a number BSON cannot hold as an integer (a decimal the models accept)
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "valueQuantity": {"value": 2**64 - 1}}
    assert assert_outcome(await fhir.post("/Observation", json=obs), 400)["issue"][0]["expression"] == [
        "Observation.valueQuantity.value"]


async def test_wrong_content_type_is_415(fhir: httpx.AsyncClient) -> None:
    assert_outcome(await fhir.post("/Patient", content=b"<Patient/>", headers={"Content-Type": "application/xml"}),
                   415)


async def test_body_over_limit_is_413(fhir: httpx.AsyncClient) -> None:
    big = make_patient(text={"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">"
                                                            + "x" * (2 * 1024 * 1024) + "</div>"})
    assert_outcome(await fhir.post("/Patient", json=big), 413)


async def test_bad_ids_and_headers(fhir: httpx.AsyncClient) -> None:
    assert_outcome(await fhir.put("/Patient/bad$id", json=make_patient(id="bad$id")), 400)
    created = (await fhir.post("/Patient", json=make_patient())).json()
    assert_outcome(await fhir.put(f"/Patient/{created['id']}", json=created, headers={"If-Match": "yesterday"}), 400)


async def test_unsupported_method_and_path(fhir: httpx.AsyncClient) -> None:
    assert_outcome(await fhir.get("/Patient/1/2/3/4/5"), 404)
    r = await fhir.delete("/metadata")
    assert r.status_code in (404, 405)
    assert r.json()["resourceType"] == "OperationOutcome"


async def test_patch_errors(fhir: httpx.AsyncClient) -> None:
    pid = (await fhir.post("/Patient", json=make_patient())).json()["id"]
    # FHIRPath Patch (a Parameters body) is not taken: only JSON Patch
    assert_outcome(await fhir.patch(f"/Patient/{pid}", json=[{"op": "replace"}],
                                    headers={"Content-Type": "application/fhir+json"}), 415)
    r = await fhir.patch(f"/Patient/{pid}", content=b'[{"op":"remove","path":"/nope"}]',
                         headers={"Content-Type": "application/json-patch+json"})
    assert_outcome(r, 422)
    r = await fhir.patch(f"/Patient/{pid}", content=b'{"op":"remove"}',
                         headers={"Content-Type": "application/json-patch+json"})
    assert_outcome(r, 400)


async def test_metadata_is_a_valid_capability_statement(fhir: httpx.AsyncClient) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    r = await fhir.get("/metadata")
    assert r.status_code == 200
    cs = r.json()
    get_fhir_model_class("CapabilityStatement").model_validate(cs)
    assert cs["fhirVersion"] == "4.0.1"
    by_type = {res["type"]: res for res in cs["rest"][0]["resource"]}
    for rt in ("Patient", "Appointment", "Encounter", "DocumentReference", "Observation", "MedicationRequest",
               "Practitioner", "AllergyIntolerance", "Condition", "Flag", "EpisodeOfCare", "RelatedPerson",
               "Account"):
        assert rt in by_type
    patient_params = {p["name"] for p in by_type["Patient"]["searchParam"]}
    assert {"_id", "identifier", "name", "family", "given", "birthdate", "gender", "phone", "email",
            "address-postalcode", "general-practitioner", "_lastUpdated"} <= patient_params
    assert "Provenance:target" in by_type["AllergyIntolerance"]["searchRevInclude"]
