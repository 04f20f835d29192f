"""A stale baseVersion, and an unknown referral source, in the API's words (issue 14): the message names the
record by its GraphQL type ("The alert changed since you read it: version 2 is current; reload and retry"),
never the FHIR resource it is stored as (Flag/…, AllergyIntolerance/…, RelatedPerson/…, Basic/…)."""

from __future__ import annotations

import re

from tests.graph.conftest import GQL
from tests.graph.test_alerts import alert, definition
from tests.graph.test_alerts import patient as new_patient

FHIR_NAMES = re.compile(r"Flag|AllergyIntolerance|RelatedPerson|Basic|Observation|Organization|Patient/|/")


def stale(err: dict[str, object], record: str) -> None:
    assert err["extensions"] == {"code": "VERSION_CONFLICT"}, err
    assert err["message"] == f"The {record} changed since you read it: version 2 is current; reload and retry"
    assert not FHIR_NAMES.search(str(err["message"]))


async def test_a_stale_base_version_names_the_record_in_graphql_words(gql: GQL, tag: str) -> None:
    pid = await new_patient(gql, f"Stale{tag}")
    kin = await new_patient(gql, f"Kin{tag}")
    did = await definition(gql, f"Falls {tag}")
    made = {
        "alert": (await alert(gql, pid, did))["id"],
        "allergy": (await gql.run('mutation($p: ID!) { recordAllergy(patientId: $p, input: {allergen: "Dust"}) '
                                  '{ id } }', {"p": pid}))["recordAllergy"]["id"],
        "vital signs": (await gql.run('mutation($p: ID!) { recordVitalSigns(patientId: $p, input: {dateTaken: '
                                      '"2026-01-02", pulse: 70}) { id } }', {"p": pid}))["recordVitalSigns"]["id"],
        "relationship": (await gql.run('mutation($p: ID!, $q: ID!) { createRelationship(patientId: $p, input: '
                                       '{relatedPatientId: $q, relationshipType: "sibling"}) { id } }',
                                       {"p": pid, "q": kin}))["createRelationship"]["id"],
        "referral attribution": (await gql.run('mutation($p: ID!, $q: ID!) { createReferralAttribution(patientId: $p,'
                                               ' input: {referringPatientId: $q}) { id } }',
                                               {"p": pid, "q": kin}))["createReferralAttribution"]["id"],
    }
    updates = {
        "alert": ("updateAlert", "AlertPatch", {"note": "n"}),
        "allergy": ("updateAllergy", "AllergyPatch", {"reaction": "Rash"}),
        "vital signs": ("updateVitalSigns", "VitalSignsPatch", {"pulse": 71}),
        "relationship": ("updateRelationship", "RelationshipPatch", {"note": "n"}),
        "referral attribution": ("updateReferralAttribution", "ReferralAttributionPatch", {"sourceNote": "n"}),
    }
    for record, (mutation, patch, change) in updates.items():
        query = f"""mutation($p: ID!, $id: ID!, $v: Int!, $i: {patch}!) {{
            {mutation}(patientId: $p, id: $id, baseVersion: $v, input: $i) {{ id }} }}"""
        await gql.run(query, {"p": pid, "id": made[record], "v": 1, "i": change})
        stale(await gql.error(query, {"p": pid, "id": made[record], "v": 1, "i": change}), record)
    # an alias does not change what the record is called
    patch = ('mutation($id: ID!, $n: String) { ALIAS(id: $id, baseVersion: 1, input: {treatmentNotes: $n}) '
             '{ patient { id } } }')
    await gql.run(patch.replace("ALIAS", "updatePatient"), {"id": pid, "n": "a"})
    stale(await gql.error(patch.replace("ALIAS", "x: updatePatient"), {"id": pid, "n": "b"}), "patient")


async def test_an_unknown_referral_source_is_named_as_the_api_calls_it(gql: GQL, tag: str) -> None:
    pid = await new_patient(gql, f"Src{tag}")
    err = await gql.error('mutation($p: ID!) { createReferralAttribution(patientId: $p, input: '
                          '{referralSourceId: "rs-nope"}) { id } }', {"p": pid})
    assert err["message"] == "Referral source rs-nope not found"
    assert err["extensions"]["code"] == "NOT_FOUND"
