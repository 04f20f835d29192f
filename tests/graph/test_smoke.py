from __future__ import annotations

from tests.factories import make_patient
from tests.graph.conftest import GQL


async def test_patient_by_id_from_fhir_rest(gql: GQL, fhir_a, tag: str) -> None:
    r = await fhir_a.post("/Patient", json=make_patient(family="Okafor", given=["Ada"], tag=tag))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    data = await gql.run("query($id: ID!) { patient(id: $id) { id firstName lastName status version email } }",
                         {"id": pid})
    assert data["patient"] == {"id": pid, "firstName": "Ada", "lastName": "Okafor", "status": "ACTIVE",
                               "version": 1, "email": "maria.reyes@example.com"}
