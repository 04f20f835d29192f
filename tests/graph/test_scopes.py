"""SMART scopes at the GraphQL door: every root field, relation and mutation asks for the scope of the FHIR type
it is computed from (FORBIDDEN otherwise), and a patient-context caller sees only its compartment."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from store.naming import EXT
from tests.factories import make_allergy, make_appointment, make_patient, make_practitioner
from tests.graph.conftest import GQL

PATIENTS = "{ patients(first: 20) { edges { node { id } } } }"
ALLERGIES = "{ patients(first: 20) { edges { node { id medicalSummary { allergies { allergen } } } } } }"
RECORD_ALLERGY = """mutation($p: ID!) { recordAllergy(patientId: $p, input: {
    allergen: "Penicillin", code: "7980", codeSystem: "http://www.nlm.nih.gov/research/umls/rxnorm",
    reaction: "Hives", severity: "moderate", category: "medication" }) { allergen } }"""


class Clinic:
    def __init__(self, scoped: Any, http: httpx.AsyncClient):
        self.scoped, self.http = scoped, http
        self.tenant = f"gscopes-{uuid.uuid4().hex[:8]}"
        self.admin = scoped.key(self.tenant, "system/*.*")
        self.ids: dict[str, str] = {}

    async def put(self, name: str, resource: dict[str, Any]) -> str:
        rid = self.ids[name] = f"{name}-{uuid.uuid4().hex[:8]}"
        r = await self.http.put(f"{self.scoped.url}/fhir/r4/{resource['resourceType']}/{rid}",
                                json={**resource, "id": rid}, headers={"X-API-Key": self.admin})
        assert r.status_code == 201, r.text
        return rid

    def gql(self, *scopes: str, patient: str | None = None) -> GQL:
        return GQL(self.http, f"{self.scoped.url}/graphql", self.scoped.key(self.tenant, *scopes, patient=patient))


@pytest.fixture
async def clinic(scoped: Any) -> AsyncIterator[Clinic]:
    async with httpx.AsyncClient(timeout=30) as http:
        c = Clinic(scoped, http)
        p1, p2 = await c.put("p1", make_patient()), await c.put("p2", make_patient(family="Other"))
        doc = await c.put("doc", make_practitioner())
        await c.put("al1", make_allergy(p1))
        await c.put("al2", make_allergy(p2))
        await c.put("a1", make_appointment(p1, practitioner_id=doc))
        await c.put("a2", make_appointment(p2, practitioner_id=doc))
        yield c


def node_ids(data: dict[str, Any]) -> set[str]:
    return {e["node"]["id"] for e in data["patients"]["edges"]}


async def test_root_fields_and_relations_need_the_scope_of_their_type(clinic: Clinic) -> None:
    reader = clinic.gql("user/Patient.rs")
    assert node_ids(await reader.run(PATIENTS)) == {clinic.ids["p1"], clinic.ids["p2"]}
    out = await reader.raw(ALLERGIES)
    errors = out["errors"]
    assert errors and {e["extensions"]["code"] for e in errors} == {"FORBIDDEN"}
    assert "AllergyIntolerance" in errors[0]["message"] and "medicalSummary" in errors[0]["path"]
    none = await clinic.gql("openid").error(PATIENTS)
    assert none["extensions"]["code"] == "FORBIDDEN"
    assert (await clinic.gql("user/*.rs").run(ALLERGIES))["patients"]["edges"]


async def test_mutations_need_write_scopes(clinic: Clinic) -> None:
    p1 = clinic.ids["p1"]
    refused = await clinic.gql("user/*.read").error(RECORD_ALLERGY, {"p": p1})
    assert refused["extensions"]["code"] == "FORBIDDEN"
    assert "user/AllergyIntolerance.c" in refused["message"]
    written = await clinic.gql("user/*.read", "user/AllergyIntolerance.c").run(RECORD_ALLERGY, {"p": p1})
    assert written["recordAllergy"]["allergen"] == "Penicillin"


async def test_a_patient_context_sees_only_its_compartment(clinic: Clinic) -> None:
    i = clinic.ids
    me = clinic.gql("patient/*.rs", "launch/patient", patient=i["p1"])
    data = await me.run(ALLERGIES)
    assert node_ids(data) == {i["p1"]}
    assert (await me.error(f'{{ patient(id: "{i["p2"]}") {{ id }} }}'))["extensions"]["code"] == "NOT_FOUND"
    assert (await me.run(f'{{ patient(id: "{i["p1"]}") {{ id }} }}'))["patient"]["id"] == i["p1"]
    appointments = await me.run("{ appointments(first: 10) { edges { node { id } } } }")
    assert {e["node"]["id"] for e in appointments["appointments"]["edges"]} == {i["a1"]}
    assert (await me.error(f'{{ appointment(id: "{i["a2"]}") {{ id }} }}'))["extensions"]["code"] == "NOT_FOUND"
    refused = await me.error(f'{{ practitioner(id: "{i["doc"]}") {{ id }} }}')
    assert refused["extensions"]["code"] == "FORBIDDEN"
    # A write for another patient is refused, one for its own goes through.
    me_write = clinic.gql("patient/*.rs", "patient/AllergyIntolerance.c", patient=i["p1"])
    assert (await me_write.run(RECORD_ALLERGY, {"p": i["p1"]}))["recordAllergy"]["allergen"] == "Penicillin"
    other = await me_write.raw(RECORD_ALLERGY, {"p": i["p2"]})
    assert other["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "NOT_FOUND")


CHART = ("{ patients(first: 20) { edges { node { id medicalSummary { allergies { allergen } alerts { name } } "
         "family { guarantor { id lastName } members { id firstName } relationships { relatedPatientName } "
         "guardians { relatedPatient { id } } } appointments(first: 5) { edges { node { id practitioner { id } } } } "
         "} } } }")


async def test_a_patient_context_sees_the_same_with_its_page_prefetched(clinic: Clinic,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's relations loaded ahead (resolvers/prefetch.py) go through the caller's own loaders: a
    patient-context caller sees its compartment's family, and the same errors, as when each relation loads itself."""
    from resolvers import prefetch

    i = clinic.ids
    await clinic.put("acc", {"resourceType": "Account", "status": "active", "subject": [
        {"reference": f"Patient/{i['p1']}"}, {"reference": f"Patient/{i['p2']}"}],
        "guarantor": [{"party": {"reference": f"Patient/{i['p2']}"}}]})
    await clinic.put("rel", {"resourceType": "RelatedPerson", "active": True, "patient": {
        "reference": f"Patient/{i['p1']}"}, "extension": [{"url": EXT["related-patient"], "valueReference": {
            "reference": f"Patient/{i['p2']}"}}], "relationship": [{"coding": [{"code": "GUARD"}]}]})
    real = prefetch.prefetch

    async def nothing(*args: Any) -> None:
        return None

    for who in (clinic.gql("patient/*.rs", "launch/patient", patient=i["p1"]), clinic.gql("user/Patient.rs"),
                clinic.gql("user/*.rs")):
        ahead = await who.post(CHART)
        monkeypatch.setattr(prefetch, "prefetch", nothing)
        plain = await who.post(CHART)
        monkeypatch.setattr(prefetch, "prefetch", real)
        assert ahead.status_code == plain.status_code == 200
        assert ahead.content == plain.content
    me = (await clinic.gql("patient/*.rs", "launch/patient", patient=i["p1"]).post(CHART)).json()
    assert node_ids(me["data"]) == {i["p1"]}
    family = me["data"]["patients"]["edges"][0]["node"]["family"]
    assert family["members"] == [{"id": i["p1"], "firstName": "Maria"}] and family["guarantor"] is None  # not p2
    assert [e["extensions"]["code"] for e in me["errors"]] == ["FORBIDDEN"]  # the practitioner, as ever
