"""Referral attributions over GraphQL (seed 003 patients/{id}/referral-attributions): exactly one source, at most
one active primary, role and note changed with baseVersion, archive — each a FHIR Basic about the patient."""

from __future__ import annotations

from typing import Any

from store.naming import CS
from tests.factories import make_practitioner
from tests.graph.conftest import GQL

FIELDS = ("id version patientId attributionRole sourceKind sourceNote attributedAt createdAt archivedAt "
          "provider { id name } referralPartner { id name } referralSource { id } referringPatient { id name }")
CREATE = f"""mutation($p: ID!, $i: ReferralAttributionInput!) {{
  createReferralAttribution(patientId: $p, input: $i) {{ {FIELDS} }} }}"""
UPDATE = f"""mutation($p: ID!, $id: ID!, $v: Int!, $i: ReferralAttributionPatch!) {{
  updateReferralAttribution(patientId: $p, id: $id, baseVersion: $v, input: $i) {{ {FIELDS} }} }}"""
ARCHIVE = f"""mutation($p: ID!, $id: ID!, $v: Int!) {{
  archiveReferralAttribution(patientId: $p, id: $id, baseVersion: $v) {{ {FIELDS} }} }}"""
LIST = """query($p: ID!, $all: Boolean! = false) { patientReferralAttributions(patientId: $p, includeArchived: $all) {
  totalCount nodes { id } } }"""


async def patient(gql: GQL, first: str, last: str) -> str:
    out = await gql.run('mutation($f: String!, $l: String!) { createPatient(input: {firstName: $f, lastName: $l}) '
                        '{ patient { id } } }', {"f": first, "l": last})
    pid: str = out["createPatient"]["patient"]["id"]
    return pid


async def post(fhir_a, body: dict[str, Any]) -> str:
    r = await fhir_a.post(f"/{body['resourceType']}", json=body)
    assert r.status_code == 201, r.text
    rid: str = r.json()["id"]
    return rid


async def listed(gql: GQL, pid: str, everything: bool = False) -> list[str]:
    data = (await gql.run(LIST, {"p": pid, "all": everything}))["patientReferralAttributions"]
    return [n["id"] for n in data["nodes"]]


async def test_attributions_lifecycle(gql: GQL, fhir_a, tag: str) -> None:
    pid = await patient(gql, "Rae", tag)
    doc = await post(fhir_a, make_practitioner(family=f"House{tag}"))
    partner = await post(fhir_a, {"resourceType": "Organization", "name": f"Main St Chiro {tag}"})
    friend = await patient(gql, "Bea", f"Friend{tag}")

    first = (await gql.run(CREATE, {"p": pid, "i": {"providerId": doc, "attributionRole": "PRIMARY",
                                                    "sourceNote": " Intake form "}}))["createReferralAttribution"]
    assert first["sourceKind"] == "PROVIDER" and first["provider"]["id"] == doc and first["provider"]["name"]
    assert first["attributionRole"] == "PRIMARY" and first["sourceNote"] == "Intake form"
    assert first["patientId"] == pid and first["attributedAt"] and first["referralPartner"] is None
    assert first["createdAt"] == first["attributedAt"]
    second = (await gql.run(CREATE, {"p": pid, "i": {"referralPartnerId": partner, "attributionRole": "ASSIST"}}))[
        "createReferralAttribution"]
    assert second["referralPartner"] == {"id": partner, "name": f"Main St Chiro {tag}"}
    third = (await gql.run(CREATE, {"p": pid, "i": {"referringPatientId": friend}}))["createReferralAttribution"]
    assert third["referringPatient"] == {"id": friend, "name": f"Bea Friend{tag}"} and third["attributionRole"] is None
    assert sorted(await listed(gql, pid)) == sorted([first["id"], second["id"], third["id"]])

    # a second active primary → CONFLICT, at creation and by update
    dup = await gql.error(CREATE, {"p": pid, "i": {"referralSourceId": partner, "attributionRole": "PRIMARY"}})
    assert dup["extensions"]["code"] == "CONFLICT"
    promote = await gql.error(UPDATE, {"p": pid, "id": second["id"], "v": 1, "i": {"attributionRole": "PRIMARY"}})
    assert promote["extensions"]["code"] == "CONFLICT"

    upd = (await gql.run(UPDATE, {"p": pid, "id": first["id"], "v": 1,
                                  "i": {"attributionRole": "SECONDARY", "sourceNote": None}}))[
        "updateReferralAttribution"]
    assert upd["version"] == 2 and upd["attributionRole"] == "SECONDARY" and upd["sourceNote"] is None
    assert upd["provider"]["id"] == doc  # the source is fixed
    stale = await gql.error(UPDATE, {"p": pid, "id": first["id"], "v": 1, "i": {"sourceNote": "x"}})
    assert stale["extensions"]["code"] == "VERSION_CONFLICT"
    # with the primary demoted, another may be primary
    promoted = await gql.run(UPDATE, {"p": pid, "id": second["id"], "v": 1, "i": {"attributionRole": "PRIMARY"}})
    assert promoted["updateReferralAttribution"]["attributionRole"] == "PRIMARY"

    arch = (await gql.run(ARCHIVE, {"p": pid, "id": third["id"], "v": 1}))["archiveReferralAttribution"]
    assert arch["archivedAt"] and arch["version"] == 2
    assert third["id"] not in await listed(gql, pid)
    assert third["id"] in await listed(gql, pid, everything=True)
    again = await gql.error(ARCHIVE, {"p": pid, "id": third["id"], "v": 2})
    assert again["extensions"]["code"] == "VALIDATION"
    stale = await gql.error(ARCHIVE, {"p": pid, "id": first["id"], "v": 1})
    assert stale["extensions"]["code"] == "VERSION_CONFLICT"

    # the same resources through FHIR REST, in the patient's compartment
    bundle = (await fhir_a.get("/Basic", params={"subject": f"Patient/{pid}",
                                                 "code": f"{CS['catalog']}|referral-attribution"})).json()
    assert sorted(e["resource"]["id"] for e in bundle["entry"]) == sorted([first["id"], second["id"], third["id"]])
    fhir = (await fhir_a.get(f"/Basic/{second['id']}")).json()
    assert fhir["author"]["reference"] == f"Organization/{partner}"


async def test_attribution_errors(gql: GQL, fhir_a, tag: str) -> None:
    pid = await patient(gql, "Sol", tag)
    other = await patient(gql, "Ola", tag)
    doc = await post(fhir_a, make_practitioner(family=f"Doc{tag}"))
    for sources in ({}, {"providerId": doc, "referringPatientId": other}):
        err = await gql.error(CREATE, {"p": pid, "i": sources})
        assert err["extensions"]["code"] == "VALIDATION" and err["extensions"]["field"] == "input", sources
    self_ref = await gql.error(CREATE, {"p": pid, "i": {"referringPatientId": pid}})
    assert self_ref["extensions"] == {"code": "VALIDATION", "field": "input.referringPatientId"}
    for sources, field in (({"providerId": "nope"}, "providerId"), ({"referralPartnerId": "nope"}, "referralPartnerId"),
                           ({"referralSourceId": doc}, "referralSourceId"),  # a practitioner is no organization
                           ({"referringPatientId": "nope"}, "referringPatientId")):
        err = await gql.error(CREATE, {"p": pid, "i": sources})
        assert err["extensions"] == {"code": "NOT_FOUND", "field": f"input.{field}"}, sources
    nobody = await gql.error(CREATE, {"p": "no-such-patient", "i": {"providerId": doc}})
    assert nobody["extensions"]["code"] == "NOT_FOUND"
    made = (await gql.run(CREATE, {"p": pid, "i": {"providerId": doc}}))["createReferralAttribution"]
    foreign = await gql.error(UPDATE, {"p": other, "id": made["id"], "v": 1, "i": {"sourceNote": "x"}})
    assert foreign["extensions"] == {"code": "NOT_FOUND", "field": "id"}
    listing = await gql.error(LIST, {"p": "no-such-patient"})
    assert listing["extensions"]["code"] == "NOT_FOUND"
