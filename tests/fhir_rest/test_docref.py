"""DocumentReference/$docref (fhir_rest/docref.py, seed 004): the patient's CCD generated, stored as a
DocumentReference + Binary, downloaded from the attachment url; seed 004's date rules."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from fhir_rest.docref import ENCOUNTER_RELATED, WHOLE_RECORD
from tests.factories import make_allergy, make_observation, make_patient
from tests.fhir_rest.test_chaining import encounter
from tests.fhir_rest.test_scopes import Clinic
from tests.fhir_rest.test_search import create

V3 = "{urn:hl7-org:v3}"


async def ccd(fhir: httpx.AsyncClient, params: dict[str, str] | None = None, *, post: dict[str, Any] | None = None
              ) -> tuple[dict[str, Any], ET.Element]:
    r = (await fhir.post("/DocumentReference/$docref", json=post) if post is not None else
         await fhir.get("/DocumentReference/$docref", params=params))
    assert r.status_code == 200, r.text[:400]
    bundle = r.json()
    assert bundle["type"] == "searchset" and len(bundle["entry"]) == 1
    document = bundle["entry"][0]["resource"]
    url = document["content"][0]["attachment"]["url"]
    got = await fhir.get(url, headers={"Accept": "application/xml"})
    assert got.status_code == 200 and got.headers["content-type"] == "application/xml"
    return document, ET.fromstring(got.content)


def section(root: ET.Element, title: str) -> list[list[str]]:
    """The narrative rows of the section titled ``title``."""
    for node in root.iter(f"{V3}section"):
        if node.findtext(f"{V3}title") == title:
            return [[td.text or "" for td in tr.iter(f"{V3}td")] for tr in node.iter(f"{V3}tr")
                    if tr.find(f"{V3}td") is not None]
    raise AssertionError(f"no section {title}")


@pytest.fixture
async def chart(fhir: httpx.AsyncClient, tag: str) -> dict[str, str]:
    pid = await create(fhir, make_patient(tag=tag, family="Docref"))
    ids = {"pid": pid}
    ids["e2023"] = await create(fhir, encounter(pid, tag, period={"start": "2023-05-01T09:00:00Z",
                                                                  "end": "2023-05-01T10:00:00Z"}))
    ids["e2024"] = await create(fhir, encounter(pid, tag, period={"start": "2024-03-10T09:00:00Z",
                                                                  "end": "2024-03-10T10:00:00Z"}))
    for year, code in (("2023", "2345-7"), ("2024", "718-7")):
        await create(fhir, make_observation(pid, tag=tag, code=code, category="laboratory",
                                            date=f"{year}-05-01T09:30:00Z",
                                            encounter={"reference": f"Encounter/{ids['e' + year]}"}))
    for date, value in (("2022-01-01T08:00:00Z", 80), ("2024-06-01T08:00:00Z", 72)):
        await create(fhir, make_observation(pid, tag=tag, code="8867-4", category="vital-signs", date=date,
                                            value=value))
    await create(fhir, make_allergy(pid, tag=tag))
    return ids


async def test_docref_generates_stores_and_serves_the_ccd(fhir: httpx.AsyncClient, chart: dict[str, str]) -> None:
    pid = chart["pid"]
    document, root = await ccd(fhir, {"patient": pid})
    assert root.tag == f"{V3}ClinicalDocument"
    assert {t.get("root") for t in root.findall(f"{V3}templateId")} == {"2.16.840.1.113883.10.20.22.1.1",
                                                                         "2.16.840.1.113883.10.20.22.1.2"}
    assert root.find(f"{V3}code").get("code") == "34133-9"  # type: ignore[union-attr]
    assert root.find(f".//{V3}recordTarget//{V3}family").text == "Docref"  # type: ignore[union-attr]
    titles = [s.findtext(f"{V3}title") for s in root.iter(f"{V3}section")]
    assert set(titles) == {k.title for k in (*ENCOUNTER_RELATED.values(), *WHOLE_RECORD.values())}
    # the whole record: both labs and both encounters, the allergy, the latest vital only
    assert {row[0] for row in section(root, "Relevant Diagnostic Tests and/or Laboratory Data")} == {"2345-7", "718-7"}
    assert len(section(root, "Encounters")) == 2
    assert section(root, "Allergies, Adverse Reactions, Alerts")[0][0] == "Penicillin"
    assert section(root, "Vital Signs") == [["8867-4", "72", "2024-06-01T08:00:00Z"]]
    # stored in the patient's documents: the DocumentReference and its Binary
    assert document["type"]["coding"][0]["code"] == "34133-9" and document["subject"]["reference"] == f"Patient/{pid}"
    found = (await fhir.get("/DocumentReference", params={"patient": pid, "type": "http://loinc.org|34133-9"})).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [document["id"]]
    assert (await fhir.get(document["content"][0]["attachment"]["url"])).json()["resourceType"] == "Binary"


async def test_docref_date_rules(fhir: httpx.AsyncClient, chart: dict[str, str]) -> None:
    pid = chart["pid"]
    labs = "Relevant Diagnostic Tests and/or Laboratory Data"
    for params, wanted in (({"start": "2024", "end": "2024"}, {"718-7"}),  # a year, at its least precise bounds
                           ({"start": "2024-03-10", "end": "2024-03-10"}, {"718-7"}),  # one service day
                           ({"end": "2023-12"}, {"2345-7"}),  # the whole history up to the end
                           ({"start": "2023-06"}, {"718-7"}),  # everything from the start
                           ({"start": "2025-01-01"}, set())):
        document, root = await ccd(fhir, {"patient": pid, **params})
        assert {row[0] for row in section(root, labs)} == wanted, params
        assert len(section(root, "Encounters")) == len(wanted), params
        # the whole-record sections are whole whatever the dates
        assert section(root, "Allergies, Adverse Reactions, Alerts"), params
        assert document["context"]["period"] == {k: v for k, v in params.items()}
    # POST with Parameters
    post = {"resourceType": "Parameters", "parameter": [
        {"name": "patient", "valueId": pid}, {"name": "start", "valueDate": "2024-01-01"},
        {"name": "type", "valueCoding": {"system": "http://loinc.org", "code": "34133-9"}}]}
    _, root = await ccd(fhir, post=post)
    assert {row[0] for row in section(root, labs)} == {"718-7"}


async def test_docref_refusals(fhir: httpx.AsyncClient, fhir_b: httpx.AsyncClient, chart: dict[str, str]) -> None:
    pid = chart["pid"]
    for params in ({}, {"patient": pid, "type": "http://loinc.org|11506-3"}, {"patient": pid, "start": "soon"},
                   {"patient": pid, "start": "2024-02", "end": "2024-01"}, {"patient": f"Practitioner/{pid}"}):
        r = await fhir.get("/DocumentReference/$docref", params=params)
        assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome", params
    assert (await fhir.get("/DocumentReference/$docref", params={"patient": "nobody-here"})).status_code == 404
    assert (await fhir_b.get("/DocumentReference/$docref", params={"patient": pid})).status_code == 404


async def test_docref_under_patient_scopes(clinic: Clinic) -> None:
    i, c = clinic.ids, clinic.client
    me = clinic.key("patient/*.rs", "launch/patient", patient=i["p1"])
    r = await c.get("/DocumentReference/$docref", headers=me)  # the launch patient's own, without a parameter
    assert r.status_code == 200, r.text[:300]
    document = r.json()["entry"][0]["resource"]
    assert document["subject"]["reference"] == f"Patient/{i['p1']}"
    # The patient's app downloads the document it was given, as the attachment's URL says (Binary.securityContext).
    url = document["content"][0]["attachment"]["url"]
    got = await c.get(url, headers={**me, "Accept": "application/xml"})
    assert got.status_code == 200 and got.content.startswith(b"<?xml") and b"ClinicalDocument" in got.content
    binary = url.rsplit("/", 1)[1]
    others = clinic.key("patient/*.rs", "launch/patient", patient=i["p2"])
    assert (await c.get(f"/Binary/{binary}", headers=others)).status_code == 404  # another patient's: not there
    assert (await c.get("/DocumentReference/$docref", params={"patient": i["p2"]}, headers=me)).status_code == 404
    no_docs = clinic.key("patient/Patient.rs", patient=i["p1"])
    assert (await c.get("/DocumentReference/$docref", headers=no_docs)).status_code == 403
