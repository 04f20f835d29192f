"""FHIR search: parameters, prefixes, modifiers, sorting, paging with keyset cursors, includes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.factories import TAG_SYSTEM, make_appointment, make_observation, make_patient, make_practitioner


def ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


async def create(fhir: httpx.AsyncClient, resource: dict[str, Any]) -> str:
    r = await fhir.post(f"/{resource['resourceType']}", json=resource)
    assert r.status_code == 201, r.text
    rid: str = r.json()["id"]
    return rid


async def search(fhir: httpx.AsyncClient, rt: str, tag: str, **params: Any) -> dict[str, Any]:
    r = await fhir.get(f"/{rt}", params={"_tag": f"{TAG_SYSTEM}|{tag}", **params})
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "searchset"
    body: dict[str, Any] = r.json()
    return body


async def test_patient_string_token_date_params(fhir: httpx.AsyncClient, tag: str) -> None:
    a = await create(fhir, make_patient(family="Muñoz", given=["José"], birthDate="1970-05-01", tag=tag))
    b = await create(fhir, make_patient(family="Munro", given=["Ann"], birthDate="1990-12-31", gender="male",
                                        tag=tag, telecom=[{"system": "email", "value": "ann@example.org"},
                                                          {"system": "phone", "value": "555-0199"}],
                                        address=[{"postalCode": "10001"}]))
    assert set(ids(await search(fhir, "Patient", tag, family="mun"))) == {a, b}
    assert ids(await search(fhir, "Patient", tag, family="munoz")) == [a]  # accent-folded
    assert ids(await search(fhir, "Patient", tag, **{"family:exact": "Muñoz"})) == [a]
    assert ids(await search(fhir, "Patient", tag, **{"family:exact": "munoz"})) == []
    assert ids(await search(fhir, "Patient", tag, **{"name:contains": "nro"})) == [b]
    assert ids(await search(fhir, "Patient", tag, given="jose")) == [a]
    assert ids(await search(fhir, "Patient", tag, gender="male")) == [b]
    assert ids(await search(fhir, "Patient", tag, email="ann@example.org")) == [b]
    assert ids(await search(fhir, "Patient", tag, phone="555-0199")) == [b]
    assert ids(await search(fhir, "Patient", tag, **{"address-postalcode": "10001"})) == [b]
    assert ids(await search(fhir, "Patient", tag, birthdate="1970-05-01")) == [a]
    assert ids(await search(fhir, "Patient", tag, birthdate="1970")) == [a]
    assert ids(await search(fhir, "Patient", tag, birthdate="gt1980-01-01")) == [b]
    assert ids(await search(fhir, "Patient", tag, birthdate="lt1980-01-01")) == [a]
    assert set(ids(await search(fhir, "Patient", tag, birthdate="ge1970-05-01"))) == {a, b}
    assert ids(await search(fhir, "Patient", tag, birthdate="le1970-05-01")) == [a]
    assert ids(await search(fhir, "Patient", tag, birthdate="ne1970-05-01")) == [b]
    assert ids(await search(fhir, "Patient", tag, birthdate="eq1990-12")) == [b]
    # OR within a parameter, AND across parameters
    assert set(ids(await search(fhir, "Patient", tag, given="jose,ann"))) == {a, b}
    assert ids(await search(fhir, "Patient", tag, given="jose", gender="male")) == []
    assert ids(await search(fhir, "Patient", tag, _id=a)) == [a]


async def test_token_system_and_code(fhir: httpx.AsyncClient, tag: str) -> None:
    a = await create(fhir, make_patient(tag=tag, identifier=[{"system": "urn:mrn", "value": "X1"}]))
    await create(fhir, make_patient(tag=tag, identifier=[{"system": "urn:other", "value": "X1"}]))
    assert ids(await search(fhir, "Patient", tag, identifier="urn:mrn|X1")) == [a]
    assert len(ids(await search(fhir, "Patient", tag, identifier="X1"))) == 2


async def test_reference_params_and_sort(fhir: httpx.AsyncClient, tag: str) -> None:
    pid = await create(fhir, make_patient(tag=tag))
    doc = await create(fhir, make_practitioner(tag=tag))
    a1 = await create(fhir, make_appointment(pid, practitioner_id=doc, start="2026-12-02T09:00:00Z",
                                             end="2026-12-02T09:30:00Z", tag=tag))
    a2 = await create(fhir, make_appointment(pid, start="2026-12-01T09:00:00Z", end="2026-12-01T09:30:00Z",
                                             status="cancelled", tag=tag))
    assert ids(await search(fhir, "Appointment", tag, patient=pid, _sort="date")) == [a2, a1]
    assert ids(await search(fhir, "Appointment", tag, patient=f"Patient/{pid}", _sort="-date")) == [a1, a2]
    assert ids(await search(fhir, "Appointment", tag, practitioner=doc)) == [a1]
    assert ids(await search(fhir, "Appointment", tag, actor=f"Practitioner/{doc}")) == [a1]
    assert ids(await search(fhir, "Appointment", tag, status="cancelled")) == [a2]
    assert ids(await search(fhir, "Appointment", tag, date="ge2026-12-02")) == [a1]
    assert ids(await search(fhir, "Appointment", tag, **{"service-type": "http://snomed.info/sct|11429006",
                                                         "_sort": "date"})) == [a2, a1]
    inc = await search(fhir, "Appointment", tag, _id=a1, _include="Appointment:patient")
    assert [e["resource"]["resourceType"] for e in inc["entry"]] == ["Appointment", "Patient"]


async def test_observation_params(fhir: httpx.AsyncClient, tag: str) -> None:
    pid = await create(fhir, make_patient(tag=tag))
    o1 = await create(fhir, make_observation(pid, code="44249-1", date="2026-01-10T10:00:00Z", tag=tag))
    o2 = await create(fhir, make_observation(pid, code="69737-5", date="2026-02-10T10:00:00Z", tag=tag))
    assert ids(await search(fhir, "Observation", tag, code="http://loinc.org|44249-1")) == [o1]
    assert ids(await search(fhir, "Observation", tag, patient=pid, category="survey", _sort="-date")) == [o2, o1]
    assert ids(await search(fhir, "Observation", tag, date="ge2026-02-01")) == [o2]
    assert ids(await search(fhir, "Observation", tag, subject=f"Patient/{pid}", date="lt2026-02-01")) == [o1]


async def test_paging_visits_every_match_once_while_writing(fhir: httpx.AsyncClient, tag: str) -> None:
    created = set(await asyncio.gather(*(create(fhir, make_patient(tag=tag, family=f"Pager{i:03d}"))
                                          for i in range(45))))
    seen: list[str] = []
    first = await search(fhir, "Patient", tag, _count=10, _total="accurate")
    assert first["total"] == 45
    bundle = first
    pages = 0
    while True:
        seen += ids(bundle)
        pages += 1
        nxt = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        if pages == 2:  # writes in the middle of the walk: an update and a delete elsewhere
            some = sorted(created)[0]
            cur = (await fhir.get(f"/Patient/{some}")).json()
            await fhir.put(f"/Patient/{some}", json={**cur, "gender": "other"})
        if nxt is None:
            break
        r = await fhir.get(nxt)
        assert r.status_code == 200
        bundle = r.json()
    assert pages == 5
    assert len(seen) == len(set(seen)) == 45
    assert set(seen) == created


async def test_sort_multiple_keys_and_cursor(fhir: httpx.AsyncClient, tag: str) -> None:
    made = []
    for fam, giv in [("Alpha", "Zed"), ("Alpha", "Amy"), ("Beta", "Bob"), ("Alpha", "Kim")]:
        made.append(await create(fhir, make_patient(family=fam, given=[giv], tag=tag)))
    everything = ids(await search(fhir, "Patient", tag, _sort="family,given"))
    assert everything == [made[1], made[3], made[0], made[2]]
    desc = ids(await search(fhir, "Patient", tag, _sort="-family,given"))
    assert desc == [made[2], made[1], made[3], made[0]]
    page1 = await search(fhir, "Patient", tag, _sort="family,given", _count=3)
    nxt = next(link["url"] for link in page1["link"] if link["relation"] == "next")
    page2 = (await fhir.get(nxt)).json()
    assert ids(page1) + ids(page2) == everything


async def test_summary_count_and_elements(fhir: httpx.AsyncClient, tag: str) -> None:
    for _ in range(3):
        await create(fhir, make_patient(tag=tag))
    counted = await search(fhir, "Patient", tag, _summary="count")
    assert counted["total"] == 3 and "entry" not in counted
    slim = await search(fhir, "Patient", tag, _elements="gender")
    res = slim["entry"][0]["resource"]
    assert set(res) == {"resourceType", "id", "meta", "gender"}
    assert any(t["code"] == "SUBSETTED" for t in res["meta"]["tag"])
    # mandatory elements are kept, asked for or not (R4 §3.1.1.5.9): Observation.status and code
    await create(fhir, make_observation("x", tag=tag))
    obs = (await search(fhir, "Observation", tag, _elements="valueInteger"))["entry"][0]["resource"]
    assert set(obs) == {"resourceType", "id", "meta", "status", "code", "valueInteger"}
    # _summary=true: the elements FHIR marks as summary (Patient.name, gender...), not contact or photo
    div = '<div xmlns="http://www.w3.org/1999/xhtml">M</div>'
    full = make_patient(tag=tag, text={"status": "generated", "div": div},
                        contact=[{"name": {"family": "Reyes"}}], photo=[{"contentType": "image/png"}])
    pid = await create(fhir, full)
    summary = (await fhir.get(f"/Patient/{pid}", params={"_summary": "true"})).json()
    assert {"name", "gender", "birthDate", "identifier"} <= set(summary)
    assert not {"contact", "photo", "text"} & set(summary)
    assert any(t["code"] == "SUBSETTED" for t in summary["meta"]["tag"])
    searched = await search(fhir, "Patient", tag, _summary="true", _id=pid)
    assert searched["entry"][0]["resource"] == summary
    text = (await fhir.get(f"/Patient/{pid}", params={"_summary": "text"})).json()
    assert set(text) == {"resourceType", "id", "meta", "text"}
    assert (await fhir.get(f"/Patient/{pid}", params={"_summary": "false"})).json()["contact"]
    for bad in ("count", "maybe"):
        r = await fhir.get(f"/Patient/{pid}", params={"_summary": bad})
        assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    assert (await fhir.get("/Patient", params={"_summary": "maybe"})).status_code == 400


async def test_unknown_params_ignored_or_strict(fhir: httpx.AsyncClient, tag: str) -> None:
    r = await fhir.get("/Patient", params={"nonsense": "1"}, headers={"Prefer": "handling=strict"})
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    assert "nonsense" in r.json()["issue"][0]["diagnostics"]
    for prefer in ({}, {"Prefer": "handling=lenient"}):
        ignored = await fhir.get("/Patient", params={"nonsense": "1", "_tag": f"{TAG_SYSTEM}|{tag}"},
                                 headers=prefer)
        assert ignored.status_code == 200
        self_link = next(link["url"] for link in ignored.json()["link"] if link["relation"] == "self")
        assert "nonsense" not in self_link and tag in self_link
    lenient = await fhir.get("/Patient", params={"birthdate": "yesterday", "_tag": f"{TAG_SYSTEM}|{tag}"},
                             headers={"Prefer": "handling=lenient"})
    assert lenient.status_code == 200
    for bad in ({"birthdate": "yesterday"}, {"_count": "-1"}, {"_sort": "nope"}, {"_cursor": "%%%"},
                {"family": ""}, {"birthdate:exact": "1970"}, {"_count": "²"}, {"_count": "٣"}):
        r = await fhir.get("/Patient", params=bad)
        assert r.status_code == 400, (bad, r.status_code)
        assert r.json()["resourceType"] == "OperationOutcome"
    huge = await fhir.get("/Patient", params={"_count": "9" * 5000, "_tag": f"{TAG_SYSTEM}|{tag}"})
    assert huge.status_code == 200  # past the most a page holds: the most a page holds


async def test_post_search(fhir: httpx.AsyncClient, tag: str) -> None:
    a = await create(fhir, make_patient(tag=tag, gender="male"))
    r = await fhir.post("/Patient/_search", data={"gender": "male", "_tag": f"{TAG_SYSTEM}|{tag}"})
    assert r.status_code == 200 and ids(r.json()) == [a]


async def test_forged_cursors_are_refused_not_run(fhir: httpx.AsyncClient, fhir_b: httpx.AsyncClient,
                                                  tag: str) -> None:
    """A cursor holding an operator was once put into the filter as it was (it ran as a query, or gave a 503):
    decoding is strict now, and a cursor only pages the search (type, sort, tenant) that made it."""
    import base64

    import orjson

    for _ in range(3):
        await create(fhir, make_patient(tag=tag))
    page = await search(fhir, "Patient", tag, _count=1, _sort="family")
    nxt = next(link["url"] for link in page["link"] if link["relation"] == "next")
    cursor = dict(httpx.URL(nxt).params)["_cursor"]
    data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    for forged in ({**data, "v": [{"$exists": True}]}, {**data, "v": [{"$where": "sleep(100)"}]},
                   {**data, "v": [{"$regex": ".*"}]}, {**data, "id": {"$gt": ""}}, {**data, "v": [{"$nope": 1}]}):
        raw = base64.urlsafe_b64encode(orjson.dumps(forged)).decode()
        r = await fhir.get("/Patient", params={"_tag": f"{TAG_SYSTEM}|{tag}", "_sort": "family", "_cursor": raw})
        assert r.status_code == 400, forged
        assert r.json()["issue"][0]["code"] == "invalid"
    other_sort = await fhir.get("/Patient", params={"_tag": f"{TAG_SYSTEM}|{tag}", "_sort": "given",
                                                    "_cursor": cursor})
    other_tenant = await fhir_b.get("/Patient", params={"_sort": "family", "_cursor": cursor})
    assert other_sort.status_code == 400 and other_tenant.status_code == 400
    assert (await fhir.get(nxt)).status_code == 200
