"""Schemathesis (hypothesis-graphql) generates queries and mutations from the schema itself — every root field,
with arguments and selections of every shape the schema allows — against the live app: none may answer 5xx or
an unmasked/INTERNAL error. Bounded and derandomized, so a CI run is repeatable."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from graphql import introspection_from_schema
from hypothesis import HealthCheck, given, settings

from graph.schema import build_schema
from tests.graph.conftest import KEYS

SCHEMA = schemathesis.graphql.from_dict(introspection_from_schema(build_schema()._schema))
OPERATIONS = {op.label: op for op in (o.ok() for o in SCHEMA.get_all_operations())}
EXAMPLES = 25
# schemathesis' own strategies draw from `random` (its warning, not ours).
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


@pytest.fixture(scope="module")
def client(graph_url: str) -> Any:
    with httpx.Client(timeout=30, headers={"X-API-Key": KEYS["graph-a"]}) as c:
        yield c, graph_url


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_generated_operations_never_fail_the_server(client: Any, label: str) -> None:
    http, url = client
    seen: list[str] = []

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(OPERATIONS[label].as_strategy())
    def run(case: Any) -> None:
        r = http.post(url, json={"query": case.body})
        assert r.status_code < 500, (case.body, r.text[:500])
        body = r.json()
        assert "data" in body or "errors" in body, body
        for error in body.get("errors") or ():
            code = (error.get("extensions") or {}).get("code")
            assert code and code != "INTERNAL", (case.body, error)
        seen.append(case.body)

    run()
    assert seen
