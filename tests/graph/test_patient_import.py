"""Bulk import of patients (seed 003 POST /patients/bulk): the three modes, per-row results and counts, a re-run
creating nothing twice, and a large batch worked in the background with its progress."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.graph.conftest import GQL

IMPORT = """mutation($rows: [PatientInput!]!, $mode: PatientImportMode) { importPatients(rows: $rows, mode: $mode) {
  jobId status mode total processed created updated skipped validated failed
  results { index status patientId error { code message field } } } }"""
FOLLOW = """query($id: ID!) { patientImport(jobId: $id) { jobId status total processed created skipped failed
  results { index status patientId } } }"""


def rows(tag: str, n: int = 2, **extra: Any) -> list[dict[str, Any]]:
    return [{"firstName": f"Imp{i}", "lastName": f"Bulk{tag}", "chartNumber": f"B-{tag}-{i}",
             "dateOfBirth": f"1980-01-0{i % 9 + 1}", **extra} for i in range(n)]


async def run(gql: GQL, batch: list[dict[str, Any]], mode: str | None = None) -> dict[str, Any]:
    variables: dict[str, Any] = {"rows": batch, **({"mode": mode} if mode else {})}
    out: dict[str, Any] = (await gql.run(IMPORT, variables))["importPatients"]
    return out


async def test_validate_only_writes_nothing_and_names_bad_fields(gql: GQL, fhir_a: Any, tag: str) -> None:
    batch = rows(tag, 3)
    batch[1]["dateOfBirth"] = "genot-a-date"
    out = await run(gql, batch, "VALIDATE_ONLY")
    assert (out["status"], out["total"], out["validated"], out["failed"], out["created"]) == ("COMPLETED", 3, 2, 1, 0)
    bad = out["results"][1]
    assert bad["status"] == "FAILED" and bad["error"]["code"] == "VALIDATION"
    assert bad["error"]["field"] == "rows.1.dateOfBirth" and "birthdate" not in bad["error"]["message"]
    found = (await fhir_a.get("/Patient", params={"family": f"Bulk{tag}"})).json()
    assert found.get("entry", []) == []


async def test_skip_mode_is_idempotent_and_update_mode_changes_only_what_differs(gql: GQL, tag: str) -> None:
    first = await run(gql, rows(tag, 2))
    assert (first["created"], first["skipped"], first["failed"]) == (2, 0, 0) and first["jobId"] is None
    ids = [r["patientId"] for r in first["results"]]
    again = await run(gql, rows(tag, 2))  # a retried import: nothing twice
    assert (again["created"], again["skipped"]) == (0, 2) and [r["patientId"] for r in again["results"]] == ids
    changed = rows(tag, 2)
    changed[0]["city"] = "Columbus"
    upd = await run(gql, changed, "UPDATE_EXISTING")
    assert [r["status"] for r in upd["results"]] == ["UPDATED", "SKIPPED"] and upd["updated"] == 1
    city = await gql.run('query($id: ID!) { patient(id: $id) { city } }', {"id": ids[0]})
    assert city["patient"]["city"] == "Columbus"
    # a row without a chart number matches by name and date of birth
    nameless = [{"firstName": "Solo", "lastName": f"Bulk{tag}", "dateOfBirth": "1970-05-05"}]
    assert (await run(gql, nameless))["created"] == 1 and (await run(gql, nameless))["skipped"] == 1
    # unknown references fail their row only
    bad = await run(gql, [*rows(tag, 1), {"firstName": "X", "lastName": f"Bulk{tag}", "locationId": "nope"}])
    assert [r["status"] for r in bad["results"]] == ["SKIPPED", "FAILED"]
    assert bad["results"][1]["error"] == {"code": "NOT_FOUND", "message": "Location nope not found",
                                          "field": "rows.1.locationId"}


async def test_a_large_batch_is_a_background_job_with_progress(gql: GQL, tag: str) -> None:
    batch = rows(tag, 130)
    out = await run(gql, batch)
    assert out["status"] == "PENDING" and out["jobId"] and out["total"] == 130 and out["results"] == []
    status: dict[str, Any] = {}
    for _ in range(300):
        status = (await gql.run(FOLLOW, {"id": out["jobId"]}))["patientImport"]
        assert 0 <= status["processed"] <= 130
        if status["status"] != "PENDING":
            break
        await asyncio.sleep(0.1)
    assert status["status"] == "COMPLETED" and status["processed"] == 130 and status["created"] == 130
    assert [r["index"] for r in status["results"]] == list(range(130))
    err = await gql.error(FOLLOW, {"id": "no-such-job"})
    assert err["extensions"] == {"code": "NOT_FOUND", "field": "jobId"}
    err = await gql.error(IMPORT, {"rows": []})
    assert err["extensions"] == {"code": "VALIDATION", "field": "rows"}
