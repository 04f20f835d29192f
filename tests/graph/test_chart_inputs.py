"""Malformed inputs of the chart's records and filters through GraphQL (seed 003): a date that is not a
calendar date written YYYY-MM-DD, a date filter that is not a date and a fractional reading of an integer
vital sign are each VALIDATION naming the offending input by its GraphQL path, with a message saying the
expected form — never a neutral "not valid", never an empty list."""

from __future__ import annotations

import pytest

from tests.graph.conftest import GQL
from tests.graph.test_chart_records import patient

RECORD = {
    "recordAllergy": ('allergen: "Dust"', "dateAdverseReaction"),
    "recordMedication": ('name: "Aspirin"', "dateStart"),
    "recordMedication ": ('name: "Aspirin"', "dateStop"),
    "recordProblem": ('name: "Asthma"', "dateStart"),
    "recordProblem ": ('name: "Asthma", status: RESOLVED', "dateStop"),
    "recordVitalSigns": ("pulse: 70", "dateTaken"),
}
BAD_DATES = ("bad", "2026-13-45", "2026-02-30", "20260101")


@pytest.mark.parametrize("mutation", sorted(RECORD))
async def test_record_with_a_malformed_date_names_the_field(gql: GQL, fhir_a, tag: str, mutation: str) -> None:
    pid = await patient(fhir_a, tag)
    given, field = RECORD[mutation]
    for bad in BAD_DATES:
        err = await gql.error(f"""mutation($p: ID!, $d: String!) {{ {mutation.strip()}(patientId: $p,
            input: {{ {given}, {field}: $d }}) {{ id }} }}""", {"p": pid, "d": bad})
        assert err["extensions"] == {"code": "VALIDATION", "field": f"input.{field}"}, (bad, err)
        assert err["message"] == f"{field} must be a date written YYYY-MM-DD"
    made = await gql.run(f"""mutation($p: ID!) {{ {mutation.strip()}(patientId: $p,
        input: {{ {given}, {field}: "2026-02-28" }}) {{ id }} }}""", {"p": pid})
    assert made[mutation.strip()]["id"]


UPDATE = {  # mutation: (record mutation and its input, patch input type, the date field)
    "updateAllergy": ('recordAllergy(patientId: $p, input: {allergen: "Dust"})', "AllergyPatch",
                      "dateAdverseReaction"),
    "updateMedication": ('recordMedication(patientId: $p, input: {name: "Aspirin"})', "MedicationPatch", "dateStart"),
    "updateProblem": ('recordProblem(patientId: $p, input: {name: "Asthma"})', "ProblemPatch", "dateStart"),
    "updateVitalSigns": ('recordVitalSigns(patientId: $p, input: {dateTaken: "2026-01-02", pulse: 70})',
                         "VitalSignsPatch", "dateTaken"),
}


@pytest.mark.parametrize("mutation", sorted(UPDATE))
async def test_update_with_a_malformed_date_names_the_field(gql: GQL, fhir_a, tag: str, mutation: str) -> None:
    pid = await patient(fhir_a, tag)
    create, patch, field = UPDATE[mutation]
    made = await gql.run(f"mutation($p: ID!) {{ {create} {{ id }} }}", {"p": pid})
    rid = next(iter(made.values()))["id"]
    err = await gql.error(f"""mutation($p: ID!, $id: ID!, $i: {patch}!) {{
        {mutation}(patientId: $p, id: $id, baseVersion: 1, input: $i) {{ id }} }}""",
                          {"p": pid, "id": rid, "i": {field: "2026-13-45"}})
    assert err["extensions"] == {"code": "VALIDATION", "field": f"input.{field}"}
    assert "YYYY-MM-DD" in err["message"]


async def test_discontinue_and_log_check_their_dates(gql: GQL, fhir_a, tag: str) -> None:
    pid = await patient(fhir_a, tag)
    med = (await gql.run('mutation($p: ID!) { recordMedication(patientId: $p, input: {name: "Aspirin"}) { id } }',
                         {"p": pid}))["recordMedication"]["id"]
    err = await gql.error("""mutation($p: ID!, $id: ID!) { discontinueMedication(patientId: $p, id: $id,
        baseVersion: 1, reason: "done", dateStop: "soon") { id } }""", {"p": pid, "id": med})
    assert err["extensions"] == {"code": "VALIDATION", "field": "dateStop"}
    err = await gql.error("""mutation($p: ID!) { createCommunicationLog(patientId: $p,
        input: {communicationDatetime: "2026-13-45T09:00:00Z", note: "x"}) { id } }""", {"p": pid})
    assert err["extensions"] == {"code": "VALIDATION", "field": "input.communicationDatetime"}


async def test_a_malformed_date_filter_is_refused_not_an_empty_list(gql: GQL, fhir_a, tag: str) -> None:
    pid = await patient(fhir_a, tag)
    for field in ("vitalSigns", "communicationLogs", "appointments"):
        for arg in ("dateFrom", "dateTo"):
            query = f'query($p: ID!) {{ patient(id: $p) {{ {field}({arg}: "bogus") {{ totalCount }} }} }}'
            err = await gql.error(query, {"p": pid})
            assert err["extensions"] == {"code": "VALIDATION", "field": arg}, (field, err)
            # communication logs filter by date-time (seed 003), a date standing for its whole day
            also = " or an ISO 8601 date-time with a time zone, e.g. 2024-05-01T14:30:00Z"
            wanted = f"{arg} must be a date written YYYY-MM-DD" + (also if field == "communicationLogs" else "")
            assert err["message"] == wanted
    for arg in ("dateFrom", "dateTo"):
        err = await gql.error(f'{{ appointments(filter: {{{arg}: "2026-13-01"}}) {{ totalCount }} }}')
        assert err["extensions"] == {"code": "VALIDATION", "field": f"filter.{arg}"}
    fine = await gql.run('query($p: ID!) { patient(id: $p) { vitalSigns(dateFrom: "2026-01-01") { totalCount } } }',
                         {"p": pid})
    assert fine["patient"]["vitalSigns"]["totalCount"] == 0


async def test_integer_vital_signs_must_be_whole_numbers(gql: GQL, fhir_a, tag: str) -> None:
    pid = await patient(fhir_a, tag)
    rec = """mutation($p: ID!, $i: VitalSignsInput!) { recordVitalSigns(patientId: $p, input: $i) {
        id pulse bpSystolic temperatureF } }"""
    for field in ("bpSystolic", "bpDiastolic", "pulse", "oxygenSaturation", "respirationRate", "bmiPercentile"):
        err = await gql.error(rec, {"p": pid, "i": {"dateTaken": "2026-01-02", field: 72.5}})
        assert err["extensions"] == {"code": "VALIDATION", "field": f"input.{field}"}, field
        assert err["message"] == f"{field} must be a whole number"
    made = (await gql.run(rec, {"p": pid, "i": {"dateTaken": "2026-01-02", "pulse": 72.0, "bpSystolic": 120,
                                                "temperatureF": 98.6}}))["recordVitalSigns"]
    assert (made["pulse"], made["bpSystolic"], made["temperatureF"]) == (72, 120, 98.6)
    pulse = next(c for c in (await fhir_a.get(f"/Observation/{made['id']}")).json()["component"]
                 if c["code"]["coding"][0]["code"] == "8867-4")
    assert pulse["valueQuantity"]["value"] == 72 and isinstance(pulse["valueQuantity"]["value"], int)
    err = await gql.error("""mutation($p: ID!, $id: ID!) { updateVitalSigns(patientId: $p, id: $id, baseVersion: 1,
        input: {pulse: 80.2}) { id } }""", {"p": pid, "id": made["id"]})
    assert err["extensions"] == {"code": "VALIDATION", "field": "input.pulse"}
