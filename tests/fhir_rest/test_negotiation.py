"""Content negotiation (fhir_rest/negotiation.py): FHIR JSON only — 406 for a _format or Accept admitting none of
it, 415 for a request body of a type the interaction does not take; both as a JSON OperationOutcome."""

from __future__ import annotations

import httpx
import pytest
from fhirclient import client as fhirclient
from fhirclient.models.patient import Patient as FCPatient
from fhirpy import AsyncFHIRClient

from fhir_rest.negotiation import admits_json
from tests.conftest import API_KEYS
from tests.factories import make_patient

FHIR = "application/fhir+json"
REFUSED_ACCEPTS = ("application/fhir+xml", "application/xml", "text/html", "text/turtle",
                   "application/fhir+json;q=0", "application/fhir+json; fhirVersion=3.0",
                   "image/png, text/plain;q=0.5")
ADMITTED_ACCEPTS = ("application/fhir+json", "application/json", "*/*", "application/*", "application/json+fhir",
                    "application/fhir+json; fhirVersion=4.0", "application/fhir+json; charset=utf-8",
                    "application/fhir+xml;q=1, application/json;q=0.5",
                    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "")


def assert_refused(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith(FHIR)
    body = r.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "not-supported"


def test_which_accept_values_admit_fhir_json() -> None:
    for accept in ADMITTED_ACCEPTS:
        assert admits_json(accept), accept
    for accept in REFUSED_ACCEPTS:
        assert not admits_json(accept), accept


async def test_unsupported_accept_or_format_is_406_on_every_interaction(fhir: httpx.AsyncClient) -> None:
    pid = (await fhir.post("/Patient", json=make_patient())).json()["id"]
    # a read (answered by the read lane), its HEAD (the route table), vread, history, search, the statement
    paths = (f"/Patient/{pid}", f"/Patient/{pid}/_history/1", f"/Patient/{pid}/_history", "/Patient/_history",
             "/Patient", "/metadata")
    for path in paths:
        for accept in REFUSED_ACCEPTS:
            assert_refused(await fhir.get(path, headers={"Accept": accept}), 406)
        for fmt in ("xml", "application/fhir+xml", "text/html", "ttl"):
            assert_refused(await fhir.get(path, params={"_format": fmt}), 406)
        for accept in ADMITTED_ACCEPTS:
            r = await fhir.get(path, headers={"Accept": accept})
            assert r.status_code == 200, (path, accept, r.text[:200])
            assert r.headers["content-type"].startswith(FHIR)
        # _format overrides Accept; a "+" left unescaped in the query string arrives as a space
        for fmt in ("json", "application/json", "application/fhir+json"):
            r = await fhir.get(path, params={"_format": fmt}, headers={"Accept": "application/fhir+xml"})
            assert r.status_code == 200, (path, fmt)
        assert (await fhir.get(f"{path}{'&' if '?' in path else '?'}_format=application/fhir+json")).status_code \
            == 200
    head = await fhir.head(f"/Patient/{pid}", headers={"Accept": "application/fhir+xml"})
    assert head.status_code == 406
    # writes and the base are negotiated too: nothing is written when the answer cannot be given
    r = await fhir.post("/Patient", json=make_patient(), headers={"Accept": "application/fhir+xml"})
    assert_refused(r, 406)
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": []}
    assert_refused(await fhir.post("/", json=bundle, headers={"Accept": "application/fhir+xml"}), 406)
    assert (await fhir.post("/", json=bundle)).status_code == 200


async def test_unsupported_request_content_type_is_415(fhir: httpx.AsyncClient) -> None:
    patient = (await fhir.post("/Patient", json=make_patient())).json()
    pid = patient["id"]
    xml = {"Content-Type": "application/fhir+xml"}
    assert_refused(await fhir.post("/Patient", content=b"<Patient/>", headers=xml), 415)
    assert_refused(await fhir.put(f"/Patient/{pid}", content=b"<Patient/>", headers=xml), 415)
    assert_refused(await fhir.put("/Patient?identifier=x|y", content=b"<Patient/>", headers=xml), 415)
    assert_refused(await fhir.patch(f"/Patient/{pid}", content=b"[]", headers=xml), 415)
    assert_refused(await fhir.post("/", content=b"<Bundle/>", headers=xml), 415)
    assert_refused(await fhir.post("/Patient/_search", content=b"gender=female",
                                   headers={"Content-Type": "text/plain"}), 415)
    # FHIR JSON of another FHIR version
    r = await fhir.post("/Patient", content=httpx.Response(200, json=make_patient()).content,
                        headers={"Content-Type": "application/fhir+json; fhirVersion=3.0"})
    assert_refused(r, 415)
    # what is taken: FHIR JSON under its spellings, with parameters
    for ctype in ("application/fhir+json", "application/json", "application/fhir+json; charset=utf-8",
                  "application/fhir+json; fhirVersion=4.0", "Application/FHIR+JSON"):
        r = await fhir.post("/Patient", content=httpx.Response(200, json=make_patient()).content,
                            headers={"Content-Type": ctype})
        assert r.status_code == 201, (ctype, r.text[:200])
    # nothing was written by the refused ones
    assert (await fhir.get(f"/Patient/{pid}")).json()["meta"]["versionId"] == "1"


async def test_binary_reads_still_answer_their_own_content(fhir: httpx.AsyncClient) -> None:
    binary = (await fhir.post("/Binary", content=b"<ClinicalDocument/>",
                              headers={"Content-Type": "application/xml"})).json()
    bid = binary["id"]
    for path in (f"/Binary/{bid}", f"/Binary/{bid}/_history/1"):
        native = await fhir.get(path, headers={"Accept": "application/xml"})
        assert native.status_code == 200 and native.content == b"<ClinicalDocument/>", path
        assert native.headers["content-type"] == "application/xml"
        html = await fhir.get(path, headers={"Accept": "text/html"})  # its content, sandboxed
        assert html.status_code == 200 and "sandbox" in html.headers["content-security-policy"]
        # the Binary resource itself in a FHIR format that is not JSON: refused
        assert_refused(await fhir.get(path, headers={"Accept": "application/fhir+xml"}), 406)
        assert_refused(await fhir.get(path, params={"_format": "xml"}), 406)
        assert (await fhir.get(path, headers={"Accept": FHIR})).json()["resourceType"] == "Binary"


async def test_fhir_clients_negotiate_fhir_json(base_url: str) -> None:
    # fhirpy (Accept: application/fhir+json, bodies as application/json) and fhirclient (fhir+json both ways)
    fhirpy = AsyncFHIRClient(f"{base_url}/fhir/r4", extra_headers={"X-API-Key": API_KEYS["tenant-a"]})
    patient = fhirpy.resource("Patient", **make_patient(family="Negotiated"))
    await patient.save()
    again = await fhirpy.reference("Patient", patient["id"]).to_resource()
    assert again["name"][0]["family"] == "Negotiated"
    smart = fhirclient.FHIRClient(settings={"app_id": "negotiation", "api_base": f"{base_url}/fhir/r4/"})
    smart.server.session.headers["X-API-Key"] = API_KEYS["tenant-a"]
    read = await _in_thread(FCPatient.read, patient["id"], smart.server)
    assert read.name[0].family == "Negotiated"


async def _in_thread(fn: object, *args: object) -> FCPatient:
    import asyncio

    return await asyncio.to_thread(fn, *args)  # type: ignore[arg-type]


@pytest.mark.parametrize("accept", ["application/fhir+xml", "text/html"])
async def test_bulk_routes_keep_their_own_negotiation(fhir: httpx.AsyncClient, accept: str) -> None:
    r = await fhir.get("/$export", headers={"Prefer": "respond-async", "Accept": accept})
    assert_refused(r, 406)
