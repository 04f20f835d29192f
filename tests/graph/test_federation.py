"""Apollo Federation v2: entities with @key, batched reference resolution, composition and a real gateway."""

from __future__ import annotations

import asyncio

from tests.factories import make_patient, make_practitioner
from tests.graph.conftest import GQL, KEYS
from tests.graph.node_tools import run_node

ENTITIES = ("Patient", "Practitioner", "Appointment", "Encounter", "Episode")


async def test_service_sdl_declares_the_entities(gql: GQL) -> None:
    sdl = (await gql.run("{ _service { sdl } }"))["_service"]["sdl"]
    assert "@link(url: \"https://specs.apollo.dev/federation/v2" in sdl
    for name in ENTITIES:
        assert f'type {name} @key(fields: "id")' in sdl


async def test_entities_resolve_in_one_batch(gql: GQL, fhir_a, tag: str) -> None:
    ids = []
    for i in range(3):
        r = await fhir_a.post("/Patient", json=make_patient(family=f"Entity{i}", tag=tag))
        ids.append(r.json()["id"])
    prac = (await fhir_a.post("/Practitioner", json=make_practitioner(family="Ref", tag=tag))).json()["id"]
    reps = [{"__typename": "Patient", "id": i} for i in ids] + [{"__typename": "Practitioner", "id": prac},
                                                               {"__typename": "Patient", "id": "missing"}]
    data = await gql.run("""query($r: [_Any!]!) { _entities(representations: $r) {
        __typename ... on Patient { id lastName } ... on Practitioner { id lastName } } }""", {"r": reps})
    got = data["_entities"]
    assert [e["lastName"] for e in got[:3]] == ["Entity0", "Entity1", "Entity2"]
    assert got[3] == {"__typename": "Practitioner", "id": prac, "lastName": "Ref"}
    assert got[4] is None


def test_composes_with_a_subgraph_extending_patient(tmp_path) -> None:
    from graph.schema import build_schema

    sdl = tmp_path / "fhirgraph.graphql"
    sdl.write_text(build_schema().as_str())
    code, out, err = run_node("compose.cjs", str(sdl))
    assert code == 0, (out, err)
    assert out["ok"] and out["supergraphHasLoyalty"]


async def test_query_through_an_apollo_gateway(gql: GQL, fhir_a, graph_url: str, tag: str) -> None:
    r = await fhir_a.post("/Patient", json=make_patient(family=f"Gw{tag}", tag=tag))
    pid = r.json()["id"]
    query = "{ patient(id: \"" + pid + "\") { id lastName loyaltyPoints } }"
    code, out, err = await asyncio.to_thread(run_node, "gateway.cjs", graph_url, KEYS["graph-a"], query)
    assert code == 0, err
    assert out == {"data": {"patient": {"id": pid, "lastName": f"Gw{tag}", "loyaltyPoints": len(pid) * 10}}}
