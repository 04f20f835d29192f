"""Round trips: the nested query costs one store call per (loader, depth), whatever the page size — counted
with the store's own driver-level counters (store/metrics.py), as /metrics exports them."""

from __future__ import annotations

import httpx

from tests.conftest import fhir_calls
from tests.graph.conftest import GQL
from tests.graph.queries import NESTED


async def count_calls(demo: GQL, query: str) -> tuple[dict[tuple[str, str], int], dict]:
    before = fhir_calls()
    data = await demo.run(query)
    after = fhir_calls()
    delta = {k: int(v - before.get(k, 0)) for k, v in after.items() if v - before.get(k, 0)}
    return delta, data


async def test_nested_query_round_trips_are_flat(demo: GQL) -> None:
    per_n = {}
    for n in (10, 50, 100):
        delta, data = await count_calls(demo, NESTED % n)
        assert len(data["patients"]["edges"]) == n
        # getMore continues a large result of the same command (see the report: batch size), so the round
        # trips per (loader, depth) are the commands themselves
        per_n[n] = {k: v for k, v in delta.items() if k[0] != "getMore"}
    # Patients read by the page answer later loads of them by id (resolvers/patient.py node): the family
    # members' read finds nothing to do when they are all on the page, as in a short one.
    patients = {n: calls.pop(("find", "Patient")) for n, calls in per_n.items()}
    assert per_n[10] == per_n[50] == per_n[100], per_n
    assert patients[10] <= patients[50] == patients[100] == 2, patients
    # the patients page and its count, then 13 (loader, depth) calls: allergies, medications, conditions,
    # observations, accounts by subject then by guarantor, family members, flags of the family, relations
    # (both directions), episodes, appointments (of patients and, through them, of episodes), practitioners
    assert sum(per_n[100].values()) + patients[100] == 15, per_n[100]
    assert all(v <= 2 for v in per_n[100].values())


async def test_nested_query_returns_the_chart(demo: GQL) -> None:
    data = await demo.run(NESTED % 100)
    nodes = [e["node"] for e in data["patients"]["edges"]]
    assert data["patients"]["totalCount"] >= 100
    assert any(n["medicalSummary"]["latestVitals"] for n in nodes)
    assert any(n["medicalSummary"]["allergies"] for n in nodes)
    assert any(n["family"]["guardians"] for n in nodes)
    assert any(len(n["family"]["members"]) > 1 for n in nodes)
    assert any(n["episodes"]["totalCount"] for n in nodes)
    assert any(e["node"]["appointments"]["edges"] for n in nodes for e in n["episodes"]["edges"])
    assert any(n["appointments"]["edges"] and n["appointments"]["edges"][0]["node"]["practitioner"] for n in nodes)
    blocking = [n["medicalSummary"]["latestVitals"] for n in nodes
                if n["medicalSummary"]["latestVitals"] and n["medicalSummary"]["latestVitals"]["isProcedureBlocking"]]
    for v in blocking:
        assert any(f["severity"] == "CRITICAL" for f in v["abnormalFlags"])


async def test_metrics_endpoint_counts_graphql_store_calls(demo: GQL, graph_url: str) -> None:
    # With anonymous access off, /metrics wants credentials too (unless FHIRGRAPH_METRICS_PUBLIC).
    async with httpx.AsyncClient(headers={"X-API-Key": demo.key}) as c:
        before = (await c.get(graph_url.replace("/graphql", "/metrics"))).text
        await demo.run(NESTED % 10)
        after = (await c.get(graph_url.replace("/graphql", "/metrics"))).text

    def value(text: str) -> float:
        line = next((ln for ln in text.splitlines()
                     if ln.startswith('fhirgraph_store_calls_total{collection="AllergyIntolerance",operation="find"}')),
                    None)
        return float(line.rsplit(" ", 1)[1]) if line else 0.0

    assert value(after) - value(before) == 1


async def test_demo_scheduling_queries(demo: GQL) -> None:
    data = await demo.run("""{ appointments(first: 5, filter: {dateFrom: "2026-11-02", status: [BOOKED]}) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { cursor node { id start status patient { id lastName } practitioner { id name } } } } }""")
    appts = data["appointments"]
    assert appts["totalCount"] > 5 and len(appts["edges"]) == 5
    starts = [e["node"]["start"] for e in appts["edges"]]
    assert starts == sorted(starts) and all(s >= "2026-11-02" for s in starts)
    assert all(e["node"]["status"] == "BOOKED" and e["node"]["patient"] for e in appts["edges"])
    mid = await demo.run('query($a: String) { appointments(first: 2, after: $a, filter: {dateFrom: "2026-11-02", '
                         'status: [BOOKED]}) { edges { node { id } } } }', {"a": appts["edges"][2]["cursor"]})
    assert [e["node"]["id"] for e in mid["appointments"]["edges"]] == [e["node"]["id"] for e in appts["edges"][3:5]]
    nxt = await demo.run('query($a: String) { appointments(first: 5, after: $a, filter: {dateFrom: "2026-11-02", '
                         'status: [BOOKED]}) { edges { node { start } } } }', {"a": appts["pageInfo"]["endCursor"]})
    assert nxt["appointments"]["edges"][0]["node"]["start"] >= starts[-1]
    one = appts["edges"][0]["node"]
    prac, errors = await demo.partial('query($id: ID!) { practitioner(id: $id) { id name npi } '
                                      'appointment(id: "nope") { id } }', {"id": one["practitioner"]["id"]})
    assert prac["practitioner"]["name"] == one["practitioner"]["name"] and prac["appointment"] is None
    assert [(e["path"], e["extensions"]) for e in errors] == [(["appointment"], {"code": "NOT_FOUND", "field": "id"})]
    by_prac = await demo.run('query($p: ID!) { appointments(first: 3, filter: {practitionerId: $p}) '
                             '{ edges { node { practitioner { id } } } } }', {"p": one["practitioner"]["id"]})
    assert all(e["node"]["practitioner"]["id"] == one["practitioner"]["id"]
               for e in by_prac["appointments"]["edges"])
    ep = await demo.run("{ patients(first: 100) { edges { node { episodes(first: 1) { edges { node { id } } } } } } }")
    eid = next(e["node"]["episodes"]["edges"][0]["node"]["id"] for e in ep["patients"]["edges"]
               if e["node"]["episodes"]["edges"])
    got = await demo.run('query($e: ID!) { episode(id: $e) { id name status patient { id } } }', {"e": eid})
    assert got["episode"]["id"] == eid and got["episode"]["patient"]


CHART_REFS = """{ patients(first: %d) { edges { node { id name: lastName latestVitalsDate
  vitalSigns(first: 1) { edges { node { dateTaken patientId patient { id name } provider { id name } } } }
  medications(first: 2) { edges { node { patient { id name } providerId provider { id name } } } }
  allergies(first: 2) { edges { node { patient { id name } } } }
  problems(first: 2) { edges { node { patient { id name } } } }
  communicationLogs(first: 2) { edges { node { patientId patient { id name } } } } } } } }"""


async def test_latest_vitals_date_and_chart_refs_are_batched(demo: GQL) -> None:
    """latestVitalsDate comes from the vitals list's own load, and each record's patient and provider from one
    batched read per loader: no store call per patient."""
    per_n = {}
    for n in (5, 25):
        delta, data = await count_calls(demo, CHART_REFS % n)
        per_n[n] = {k: v for k, v in delta.items() if k[0] != "getMore"}
        nodes = [e["node"] for e in data["patients"]["edges"]]
        assert len(nodes) == n
    # the providers of two lists are read when each list is in: one batch, or two when they arrive apart
    providers = [calls.pop(("find", "Practitioner"), 0) for calls in per_n.values()]
    assert per_n[5] == per_n[25] and max(providers) <= 2, (per_n, providers)
    assert ("find", "Patient") in per_n[25] and per_n[25][("find", "Patient")] == 1  # the page only
    with_vitals = [p for p in nodes if p["vitalSigns"]["edges"]]
    assert with_vitals
    for p in nodes:
        newest = p["vitalSigns"]["edges"][0]["node"] if p["vitalSigns"]["edges"] else None
        assert p["latestVitalsDate"] == (newest["dateTaken"] if newest else None)
        for field in ("vitalSigns", "medications", "allergies", "problems", "communicationLogs"):
            for e in p[field]["edges"]:
                ref = e["node"]["patient"]
                assert ref["id"] == p["id"] and p["name"] in ref["name"], (field, ref)
    refs = [e["node"] for p in nodes for f in ("vitalSigns", "medications") for e in p[f]["edges"]
            if e["node"].get("providerId")]
    for node in refs:
        assert node["provider"]["id"] == node["providerId"] and node["provider"]["name"]
