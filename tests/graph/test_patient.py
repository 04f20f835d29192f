"""Patients: fields computed from FHIR (written through the REST door), the Relay list with seed 003's filters
and sorts, typeahead, counts by location, duplicate check, tenant isolation."""

from __future__ import annotations

from typing import Any

from store.naming import CS, EXT, SID, SSN_SYSTEM
from tests.factories import make_patient, make_practitioner
from tests.graph.conftest import GQL

PATIENT_FIELDS = """id version status firstName middleName lastName preferredName title fullName dateOfBirth gender
  pronoun maritalStatus preferredLanguage email mobilePhone homePhone workPhone addressLine1 city state postalCode
  country chartNumber mrn socialSecurityNumber spid accountNumber location { id } premedicationRequired
  medicalUrgentNote allergyReviewStatus preferredContactMethod receivesEmail receivesSms consentFlags
  dateFirstVisit balanceTotal schedulingRestricted dateTimeDeceased emergencyContactName emergencyContactPhone
  tags { code display } primaryProvider { id name } secondaryProvider { id } createdAt updatedAt"""


def rich_patient(tag: str, **over: Any) -> dict[str, Any]:
    family = over.pop("family", "Reyes")
    p = make_patient(family=family, given=["Maria", "Elena"], tag=tag)
    p["name"].append({"use": "nickname", "given": ["Mari"]})
    p["name"][0]["prefix"] = ["Ms."]
    p["telecom"].append({"system": "phone", "value": "415-555-0199", "use": "home"})
    chart = f"CH-{tag}" if family == "Reyes" else f"CH-{tag}-{family}"  # unique in the practice
    p["identifier"] += [{"system": SID["chart-number"], "value": chart},
                        {"system": SSN_SYSTEM, "value": "900-12-3456"}, {"system": SID["spid"], "value": "77"},
                        {"system": SID["account-number"], "value": "A-1"}]
    p["maritalStatus"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                                      "code": "M"}]}
    p["communication"] = [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}]}, "preferred": True}]
    p["contact"] = [{"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131",
                                                   "code": "C"}]}],
                     "name": {"text": "Luis Reyes"}, "telecom": [{"system": "phone", "value": "415-555-0111"}]}]
    p["extension"] = [
        {"url": EXT["patient-status"], "valueCode": over.pop("status", "active")},
        {"url": EXT["patient-location"], "valueReference": {"reference": "Location/loc-1"}},
        {"url": EXT["pronouns"], "valueCode": "she_her"},
        {"url": EXT["premedication-required"], "valueBoolean": True},
        {"url": EXT["medical-urgent-note"], "valueString": "Latex allergy"},
        {"url": EXT["allergy-review-status"], "valueCode": "reviewed"},
        {"url": EXT["preferred-contact-method"], "valueCode": "text"},
        {"url": EXT["receives-sms"], "valueBoolean": True},
        {"url": EXT["consent-flags"], "valueInteger": 7},
        {"url": EXT["date-first-visit"], "valueDate": "2024-02-01"},
        {"url": EXT["balance-total"], "valueDecimal": over.pop("balance", 612.5)},
    ]
    p["meta"]["tag"].append({"system": CS["patient-tag"], "code": "vip", "display": "VIP"})
    p.update(over)
    return p


async def test_patient_fields(gql: GQL, fhir_a, tag: str) -> None:
    prac = (await fhir_a.post("/Practitioner", json=make_practitioner(family="Chen", tag=tag))).json()["id"]
    body = rich_patient(tag, generalPractitioner=[{"reference": f"Practitioner/{prac}"}])
    pid = (await fhir_a.post("/Patient", json=body)).json()["id"]
    p = (await gql.run(f'{{ patient(id: "{pid}") {{ {PATIENT_FIELDS} }} }}'))["patient"]
    assert p["status"] == "ACTIVE" and p["version"] == 1
    assert (p["firstName"], p["middleName"], p["lastName"], p["preferredName"], p["title"]) == \
        ("Maria", "Elena", "Reyes", "Mari", "Ms.")
    assert p["fullName"] == "Maria Reyes" and p["dateOfBirth"] == "1988-03-14" and p["gender"] == "FEMALE"
    assert (p["email"], p["mobilePhone"], p["homePhone"]) == ("maria.reyes@example.com", "415-555-0101",
                                                              "415-555-0199")
    assert (p["addressLine1"], p["city"], p["state"], p["postalCode"]) == ("342 Haight St", "San Francisco", "CA",
                                                                          "94103")
    assert p["chartNumber"] == f"CH-{tag}" and p["mrn"] == "MRN-1" and p["socialSecurityNumber"] == "900-12-3456"
    assert p["spid"] == "77" and p["accountNumber"] == "A-1" and p["location"] == {"id": "loc-1"}
    assert p["maritalStatus"] == "MARRIED" and p["preferredLanguage"] == "es" and p["pronoun"] == "SHE_HER"
    assert p["premedicationRequired"] is True and p["medicalUrgentNote"] == "Latex allergy"
    assert p["allergyReviewStatus"] == "REVIEWED" and p["preferredContactMethod"] == "TEXT"
    assert p["receivesSms"] is True and p["receivesEmail"] is False and p["consentFlags"] == 7
    assert p["dateFirstVisit"] == "2024-02-01" and p["balanceTotal"] == 612.5
    assert p["schedulingRestricted"] is True  # balance over $500
    assert p["emergencyContactName"] == "Luis Reyes" and p["emergencyContactPhone"] == "415-555-0111"
    assert p["tags"] == [{"code": "vip", "display": "VIP"}]
    assert p["primaryProvider"]["id"] == prac and "Chen" in p["primaryProvider"]["name"]
    assert p["secondaryProvider"] is None and p["createdAt"] == p["updatedAt"]


async def test_scheduling_restricted_when_inactive(gql: GQL, fhir_a, tag: str) -> None:
    body = rich_patient(tag, status="inactive", balance=0, active=False)
    pid = (await fhir_a.post("/Patient", json=body)).json()["id"]
    p = (await gql.run(f'{{ patient(id: "{pid}") {{ status schedulingRestricted }} }}'))["patient"]
    assert p == {"status": "INACTIVE", "schedulingRestricted": True}


async def test_unknown_and_foreign_patients_are_not_found(gql: GQL, gql_b: GQL, fhir_a, tag: str) -> None:
    """Seed 003's 404: the field is null with a NOT_FOUND error; another clinic's patient is no different."""
    pid = (await fhir_a.post("/Patient", json=make_patient(tag=tag))).json()["id"]
    for client, rid in ((gql, "nope"), (gql_b, pid)):
        err = await client.error(f'{{ patient(id: "{rid}") {{ id }} }}')
        assert err["extensions"] == {"code": "NOT_FOUND", "field": "id"} and err["path"] == ["patient"]
    assert (await gql.raw('{ patient(id: "nope") { id } }'))["data"] == {"patient": None}


async def _make_family_of_names(fhir_a, tag: str) -> list[str]:
    ids = []
    rows = [("Adams", "Zoe", "1990-01-05"), ("Baker", "Yann", "1985-06-01"), ("Clark", "Xena", "2001-12-24"),
            ("Davis", "Will", "1979-03-30"), ("Evans", "Vera", "1995-07-07")]
    for family, given, dob in rows:
        body = make_patient(family=f"{tag}{family}", given=[given], tag=tag, birthDate=dob)
        body["identifier"].append({"system": SID["chart-number"], "value": f"{tag}{family[:2].upper()}"})
        ids.append((await fhir_a.post("/Patient", json=body)).json()["id"])
    return ids


LIST = """query($f: PatientFilter, $s: PatientSort, $first: Int, $after: String, $last: Int, $before: String) {
  patients(filter: $f, sort: $s, first: $first, after: $after, last: $last, before: $before) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { lastName firstName dateOfBirth } } } }"""


async def test_patients_keyset_pagination_both_ways(gql: GQL, fhir_a, tag: str) -> None:
    await _make_family_of_names(fhir_a, tag)
    f = {"search": tag}
    by_last = {"field": "LAST_NAME"}
    seen: list[str] = []
    after = None
    while True:
        page = (await gql.run(LIST, {"f": f, "s": by_last, "first": 2, "after": after}))["patients"]
        assert page["totalCount"] == 5
        seen += [e["node"]["lastName"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"{tag}{n}" for n in ("Adams", "Baker", "Clark", "Davis", "Evans")]
    # backwards from the end
    back = (await gql.run(LIST, {"f": f, "s": by_last, "last": 2, "before": after}))["patients"]
    assert [e["node"]["lastName"] for e in back["edges"]] == [f"{tag}Baker", f"{tag}Clark"]
    # the end of the list, without a cursor
    tail = (await gql.run(LIST, {"f": f, "s": by_last, "last": 2}))["patients"]
    assert [e["node"]["lastName"] for e in tail["edges"]] == [f"{tag}Davis", f"{tag}Evans"]
    assert tail["pageInfo"]["hasPreviousPage"] is True and tail["pageInfo"]["hasNextPage"] is False
    before_tail = (await gql.run(LIST, {"f": f, "s": by_last, "last": 5,
                                        "before": tail["pageInfo"]["startCursor"]}))["patients"]
    assert [e["node"]["lastName"] for e in before_tail["edges"]] == [f"{tag}{n}" for n in ("Adams", "Baker", "Clark")]
    # every edge cursor resumes right after its row
    page = (await gql.run(LIST, {"f": f, "s": by_last, "first": 5}))["patients"]
    mid = page["edges"][1]["cursor"]
    rest = (await gql.run(LIST, {"f": f, "s": by_last, "first": 5, "after": mid}))["patients"]
    assert [e["node"]["lastName"] for e in rest["edges"]] == [f"{tag}{n}" for n in ("Clark", "Davis", "Evans")]


async def test_forged_cursors_are_validation_errors(gql: GQL, gql_b: GQL, fhir_a, tag: str) -> None:
    """``after``/``before`` once went into the MongoDB filter as decoded: an operator in a cursor ran."""
    import base64

    import orjson

    await _make_family_of_names(fhir_a, tag)
    page = (await gql.run(LIST, {"f": {"search": tag}, "first": 2}))["patients"]
    cursor = page["pageInfo"]["endCursor"]
    data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    forged = [{**data, "v": [{"$exists": True}] * len(data["v"])}, {**data, "v": [{"$where": "1"}] * len(data["v"])},
              {**data, "id": {"$gt": ""}}, "%%%", base64.urlsafe_b64encode(b"[1, 2]").decode()]
    for bad in forged:
        raw = bad if isinstance(bad, str) else base64.urlsafe_b64encode(orjson.dumps(bad)).decode()
        for arg in ("after", "before"):
            err = await gql.error(LIST, {"f": {"search": tag}, "first" if arg == "after" else "last": 2, arg: raw})
            assert err["extensions"]["code"] == "VALIDATION", (bad, err)
    # a cursor of one clinic does not page another's list
    err = await gql_b.error(LIST, {"f": {"search": tag}, "first": 2, "after": cursor})
    assert err["extensions"]["code"] == "VALIDATION"


async def test_patients_sorts_and_filters(gql: GQL, fhir_a, tag: str) -> None:
    await _make_family_of_names(fhir_a, tag)
    f = {"search": tag}
    by_dob = (await gql.run(LIST, {"f": f, "s": {"field": "DATE_OF_BIRTH", "direction": "DESC"}}))["patients"]
    assert [e["node"]["dateOfBirth"] for e in by_dob["edges"]] == ["2001-12-24", "1995-07-07", "1990-01-05",
                                                                    "1985-06-01", "1979-03-30"]
    by_first = (await gql.run(LIST, {"f": f, "s": {"field": "FIRST_NAME"}}))["patients"]
    assert [e["node"]["firstName"] for e in by_first["edges"]] == ["Vera", "Will", "Xena", "Yann", "Zoe"]
    # seed 003's cursor list "defaults to first_name when not specified" (a sort without a field too), while
    # the numbered patientPage keeps last_name
    for sort in (None, {"direction": "ASC"}):
        plain = (await gql.run(LIST, {"f": f, "s": sort}))["patients"]
        assert [e["node"]["firstName"] for e in plain["edges"]] == ["Vera", "Will", "Xena", "Yann", "Zoe"]
    desc = (await gql.run(LIST, {"f": f, "s": {"direction": "DESC"}}))["patients"]
    assert [e["node"]["firstName"] for e in desc["edges"]] == ["Zoe", "Yann", "Xena", "Will", "Vera"]
    numbered = (await gql.run("""query($f: PatientFilter) { patientPage(filter: $f) { items { lastName } } }""",
                              {"f": f}))["patientPage"]["items"]
    assert [i["lastName"] for i in numbered] == [f"{tag}{n}" for n in ("Adams", "Baker", "Clark", "Davis", "Evans")]
    ranged = (await gql.run(LIST, {"f": {**f, "dobFrom": "1985-01-01", "dobTo": "1996-01-01"}}))["patients"]
    assert {e["node"]["firstName"] for e in ranged["edges"]} == {"Yann", "Zoe", "Vera"}
    words = (await gql.run(LIST, {"f": {"search": f"{tag}Clark Xena"}}))["patients"]
    assert [e["node"]["firstName"] for e in words["edges"]] == ["Xena"]
    by_dob_text = (await gql.run(LIST, {"f": {"search": f"{tag} 1979-03-30"}}))["patients"]
    assert [e["node"]["firstName"] for e in by_dob_text["edges"]] == ["Will"]
    for field in ("CREATED", "UPDATED", "STATUS", "LAST_NAME", "CHART_NUMBER"):
        out = (await gql.run(LIST, {"f": f, "s": {"field": field}}))["patients"]
        assert out["totalCount"] == 5


async def test_sort_by_chart_number(gql: GQL, fhir_a, tag: str) -> None:
    await _make_family_of_names(fhir_a, tag)
    by_chart = (await gql.run(LIST, {"f": {"search": tag}, "s": {"field": "CHART_NUMBER", "direction": "DESC"}}))
    assert [e["node"]["firstName"] for e in by_chart["patients"]["edges"]] == ["Vera", "Will", "Xena", "Yann", "Zoe"]


async def vip_definition(fhir_a: Any) -> None:
    """The tag definition the factory's "vip" tag names (a tag filter takes a definition's id)."""
    from resolvers.model import catalog

    res = catalog.new_basic(catalog.TAG_KIND)
    catalog.apply_fields(res, {"name": "VIP"})
    assert (await fhir_a.put("/Basic/vip", json={**res, "id": "vip"})).status_code in (200, 201)


async def test_status_provider_location_and_tag_filters(gql: GQL, fhir_a, tag: str) -> None:
    await vip_definition(fhir_a)
    prac = (await fhir_a.post("/Practitioner", json=make_practitioner(tag=tag))).json()["id"]
    a = rich_patient(tag, family=f"{tag}Fa", generalPractitioner=[{"reference": f"Practitioner/{prac}"}])
    b = rich_patient(tag, family=f"{tag}Fb", status="prospective")
    b["meta"]["tag"] = [t for t in b["meta"]["tag"] if t["code"] != "vip"]
    loc = (await fhir_a.post("/Location", json={"resourceType": "Location", "name": f"East {tag}"})).json()["id"]
    b["extension"][1] = {"url": EXT["patient-location"], "valueReference": {"reference": f"Location/{loc}"}}
    for body in (a, b):
        assert (await fhir_a.post("/Patient", json=body)).status_code == 201

    async def names(**flt: Any) -> list[str]:
        out = (await gql.run(LIST, {"f": {"search": tag, **flt}}))["patients"]
        return [e["node"]["lastName"] for e in out["edges"]]

    assert await names(status=["PROSPECTIVE"]) == [f"{tag}Fb"]
    assert await names(primaryProviderId=prac) == [f"{tag}Fa"]
    assert await names(locationId=loc) == [f"{tag}Fb"]
    assert await names(tag="vip") == [f"{tag}Fa"]


async def test_tag_and_provider_filters(gql: GQL, fhir_a, tag: str) -> None:
    await vip_definition(fhir_a)
    prac = (await fhir_a.post("/Practitioner", json=make_practitioner(tag=tag))).json()["id"]
    a = rich_patient(tag, family=f"{tag}Ga", generalPractitioner=[{"reference": f"Practitioner/{prac}"}])
    b = rich_patient(tag, family=f"{tag}Gb")
    b["meta"]["tag"] = [t for t in b["meta"]["tag"] if t["code"] != "vip"]
    for body in (a, b):
        assert (await fhir_a.post("/Patient", json=body)).status_code == 201
    for flt in ({"tag": "vip"}, {"primaryProviderId": prac}):
        out = (await gql.run(LIST, {"f": {"search": tag, **flt}}))["patients"]
        assert [e["node"]["lastName"] for e in out["edges"]] == [f"{tag}Ga"]
    # an unknown tag definition is NOT_FOUND (seed 003: 404), not an empty list
    unknown = await gql.error(LIST, {"f": {"search": tag, "tag": "no-such-tag"}})
    assert unknown["extensions"] == {"code": "NOT_FOUND", "field": "filter.tag"}


async def test_search_patients_typeahead(gql: GQL, fhir_a, tag: str) -> None:
    pid = (await fhir_a.post("/Patient", json=rich_patient(tag, family=f"Typeahead{tag}"))).json()["id"]
    q = ("query($q: String!) { searchPatients(query: $q, limit: 5) "
         "{ id firstName lastName preferredName chartNumber status dateOfBirth } }")
    assert (await gql.run(q, {"q": ""}))["searchPatients"] == []
    assert (await gql.run(q, {"q": "   "}))["searchPatients"] == []
    hit = (await gql.run(q, {"q": f"typeahead{tag[:6]}"}))["searchPatients"]
    assert [h["id"] for h in hit] == [pid]
    assert hit[0]["preferredName"] == "Mari" and hit[0]["status"] == "ACTIVE"
    by_nick = (await gql.run(q, {"q": f"mari typeahead{tag}"}))["searchPatients"]
    assert [h["id"] for h in by_nick] == [pid]


async def test_search_patients_page_counts_every_match(gql: GQL, fhir_a, tag: str) -> None:
    ids = [(await fhir_a.post("/Patient", json=make_patient(family=f"Paged{tag}", given=[given], tag=tag))).json()["id"]
           for given in ("Ann", "Bob", "Cy")]
    q = "query($q: String!) { searchPatientsPage(query: $q, limit: 2) { total items { id firstName } } }"
    page = (await gql.run(q, {"q": f"paged{tag}"}))["searchPatientsPage"]
    assert page["total"] == 3 and [i["firstName"] for i in page["items"]] == ["Ann", "Bob"]
    assert {i["id"] for i in page["items"]} < set(ids)
    assert (await gql.run(q, {"q": " "}))["searchPatientsPage"] == {"total": 0, "items": []}


async def test_search_patients_by_chart_number(gql: GQL, fhir_a, tag: str) -> None:
    pid = (await fhir_a.post("/Patient", json=rich_patient(tag, family=f"Chart{tag}"))).json()["id"]
    hit = (await gql.run('query($q: String!) { searchPatients(query: $q) { id } }', {"q": f"CH-{tag}"}))
    assert [h["id"] for h in hit["searchPatients"]] == [pid]


async def test_check_duplicate_patients(gql: GQL, fhir_a, tag: str) -> None:
    body = rich_patient(tag, family=f"Dup{tag}")
    body["telecom"][1]["value"] = f"{tag}@example.com"
    pid = (await fhir_a.post("/Patient", json=body)).json()["id"]
    q = """query($l: String!, $d: String, $e: String, $m: String, $s: String) {
      checkDuplicatePatients(lastName: $l, dateOfBirth: $d, email: $e, mobilePhone: $m, ssn: $s) { id lastName } }"""

    async def ids(**v: Any) -> list[str]:
        return [p["id"] for p in (await gql.run(q, v))["checkDuplicatePatients"]]

    assert pid in await ids(l=f"dup{tag}", d="1988-03-14")
    assert pid not in await ids(l=f"Du{tag}", d="1988-03-14")  # the last name must match exactly
    assert await ids(l="Nobody", e=f"{tag}@example.com") == [pid]
    assert pid in await ids(l="Nobody", s="900-12-3456")
    assert await ids(l=f"Dup{tag}", d="1900-01-01") == []


async def test_patient_counts_by_location(gql: GQL, fhir_a, tag: str) -> None:
    q = """query($from: String, $to: String, $st: [PatientStatus!]) {
      patientCountsByLocation(dateFrom: $from, dateTo: $to, statuses: $st) {
        total excludedCount statuses groupBy items { location { id } count } } }"""
    before = (await gql.run(q, {"from": "2031-01-01", "to": "2031-02-01"}))["patientCountsByLocation"]
    assert before["total"] == 0 and before["statuses"] == ["ACTIVE"] and before["groupBy"] == "location"
    loc = (await fhir_a.post("/Location", json={"resourceType": "Location", "status": "active",
                                                "name": f"Clinic {tag}"})).json()["id"]
    for i, status in enumerate(("active", "active", "inactive")):
        body = rich_patient(tag, family=f"Cnt{i}{tag}", status=status)
        body["extension"] = [e for e in body["extension"] if e["url"] not in (EXT["patient-location"],
                                                                             EXT["date-first-visit"])]
        body["extension"] += [{"url": EXT["patient-location"], "valueReference": {"reference": f"Location/{loc}"}},
                              {"url": EXT["date-first-visit"], "valueDate": "2031-01-10"}]
        await fhir_a.post("/Patient", json=body)
    out = (await gql.run(q, {"from": "2031-01-01", "to": "2031-02-01"}))["patientCountsByLocation"]
    assert out["items"] == [{"location": {"id": loc}, "count": 2}] and out["total"] == 2
    both = (await gql.run(q, {"from": "2031-01-01", "to": "2031-02-01", "st": ["ACTIVE", "INACTIVE"]}))
    assert both["patientCountsByLocation"]["total"] == 3
    excl = (await gql.run(q, {"from": "2031-01-10", "to": "2031-01-10"}))["patientCountsByLocation"]
    assert excl["total"] == 0  # dateTo is exclusive (seed 003: "Exclusive first-visit end date")
    day = (await gql.run(q, {"from": "2031-01-10", "to": "2031-01-11"}))["patientCountsByLocation"]
    assert day["total"] == 2  # dateFrom is inclusive


ONE_BY_ID = {  # root field → (its arguments, the argument a NOT_FOUND names)
    "patient": ('id: "nope"', "id"), "appointment": ('id: "nope"', "id"), "episode": ('id: "nope"', "id"),
    "practitioner": ('id: "nope"', "id"), "encounter": ('id: "nope"', "id"),
    "vitalSigns": ('patientId: "nope", id: "nope"', "patientId"), "patientImport": ('jobId: "nope"', "jobId"),
    **{f"{c}Definition": ('id: "nope"', "id") for c in ("alert", "tag", "field", "allergy", "medication", "disease",
                                                         "communicationType")},
}


async def test_every_single_object_query_answers_not_found_for_an_unknown_id(gql: GQL) -> None:
    """Seed 003's 404 on every get: the field is null with a NOT_FOUND error naming the argument; the other root
    fields of the same request still answer."""
    fields = " ".join(f"{name}({args}) {{ __typename }}" for name, (args, _) in ONE_BY_ID.items())
    data, errors = await gql.partial(f"{{ {fields} patients(first: 1) {{ totalCount }} }}")
    assert {k: v for k, v in data.items() if k != "patients"} == dict.fromkeys(ONE_BY_ID)
    assert data["patients"]["totalCount"] is not None
    assert sorted((e["path"][0], e["extensions"]["code"], e["extensions"]["field"]) for e in errors) == \
        sorted((name, "NOT_FOUND", field) for name, (_, field) in ONE_BY_ID.items())
