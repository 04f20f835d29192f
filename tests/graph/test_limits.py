"""Protection: depth, tokens, aliases, cost, page caps, introspection switch, masked unexpected errors."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import OperationDefinitionNode, parse

from app.settings import Settings
from graph.context import Context
from graph.limits import operation_cost
from graph.schema import build_schema
from store.types import SystemPrincipal
from tests.graph.conftest import GQL
from tests.graph.queries import NESTED


async def test_depth_limit(gql: GQL) -> None:
    q = "{ patients { edges { node { " + "family { members { " * 6 + "id" + " } }" * 6 + " } } } }"
    err = await gql.error(q)
    assert "exceeds maximum operation depth" in err["message"]


async def test_alias_limit(gql: GQL) -> None:
    q = "{ " + " ".join(f"a{i}: __typename" for i in range(40)) + " }"
    err = await gql.error(q)
    assert "aliases" in err["message"].lower()


async def test_token_limit(gql: GQL) -> None:
    q = "{ " + " ".join("__typename" for _ in range(6000)) + " }"
    err = await gql.error(q)
    assert "token" in err["message"].lower()


async def test_cost_limit(gql: GQL) -> None:
    q = """{ patients(first: 100) { edges { node { episodes(first: 100) { edges { node {
          appointments(first: 100) { edges { node { id start } } } } } } } } } }"""
    err = await gql.error(q)
    assert err["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert err["extensions"]["cost"] > err["extensions"]["maxCost"]


async def test_page_size_is_checked_like_numbered_pages(gql: GQL) -> None:
    """Seen by a review: patients(first: 1000) answered 100 edges without a word while
    alertDefinitionPage(pageSize: 200) was VALIDATION. Both refuse a size past the cap, naming the argument."""
    for q, field in (("{ patients(first: 1000) { edges { cursor } } }", "first"),
                     ("{ patients(last: 101) { edges { cursor } } }", "last"),
                     ("{ patients(first: -1) { edges { cursor } } }", "first"),
                     ("{ alertDefinitions(first: 200) { edges { cursor } } }", "first"),
                     ("{ alertDefinitionPage(pageSize: 200) { total } }", "pageSize"),
                     ('{ searchPatients(query: "a", limit: 500) { id } }', "limit")):
        err = await gql.error(q)
        assert err["extensions"] == {"code": "VALIDATION", "field": field}, q
        assert "between" in err["message"] and "100" in err["message"]
    data = await gql.run("{ patients(first: 100) { edges { cursor } } }")
    assert len(data["patients"]["edges"]) <= 100
    body = await gql.raw("{ patients(first: " + "9" * 5000 + ") { edges { cursor } } }")
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]  # no crash


async def test_malformed_cursor_is_a_validation_error(gql: GQL) -> None:
    for cursor in ("not-a-cursor", "eyJ4IjoxfQ", "!!!"):
        err = await gql.error('query($c: String) { patients(after: $c) { edges { cursor } } }', {"c": cursor})
        assert err["extensions"]["code"] == "VALIDATION", err
        assert "cursor" in err["message"].lower()


class Boom:
    """A store that fails in a way nobody planned for, with patient data in the message."""

    async def read_many(self, *a: Any, **k: Any) -> Any:
        raise RuntimeError("Jane Doe, DOB 1980-01-01, SSN 123-45-6789")

    async def find_by_reference(self, *a: Any, **k: Any) -> Any:
        raise RuntimeError("Jane Doe")


async def test_unexpected_errors_are_masked() -> None:
    settings = Settings()
    schema = build_schema(settings)
    ctx = Context(principal=SystemPrincipal("t"), repo=Boom(), settings=settings)  # type: ignore[arg-type]
    result = await schema.execute('{ patient(id: "p1") { id } }', context_value=ctx)
    assert result.errors
    err = result.errors[0].formatted
    assert err["message"] == "Unexpected error."
    assert err["extensions"] == {"code": "INTERNAL"}
    assert "Jane" not in str(err) and "Traceback" not in str(err)


async def test_an_error_outside_execution_is_masked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strawberry hands back an exception raised before execution (here, in validation) without running the
    extensions on it; it still leaves masked, with a code."""
    settings = Settings()
    schema = build_schema(settings)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Jane Doe")

    monkeypatch.setattr("strawberry.schema.schema.validate", broken)
    ctx = Context(principal=SystemPrincipal("t"), repo=Boom(), settings=settings)  # type: ignore[arg-type]
    result = await schema.execute('{ patient(id: "p1") { id } }', context_value=ctx)
    assert result.errors
    formatted = [e.formatted for e in result.errors]
    assert [(f["message"], f["extensions"]) for f in formatted] == [("Unexpected error.", {"code": "INTERNAL"})]
    assert "Jane" not in str(formatted)


async def test_introspection_can_be_switched_off() -> None:
    settings = Settings(introspection=False)
    schema = build_schema(settings)
    ctx = Context(principal=SystemPrincipal("t"), repo=Boom(), settings=settings)  # type: ignore[arg-type]
    result = await schema.execute("{ __schema { types { name } } }", context_value=ctx)
    assert result.errors and "introspection" in result.errors[0].message.lower()
    on = await build_schema(Settings(introspection=True)).execute("{ __schema { queryType { name } } }",
                                                                  context_value=ctx)
    assert not on.errors


def test_graphiql_and_introspection_are_off_by_default_in_production() -> None:
    production = Settings(mongodb_uri="mongodb://db.internal/?replicaSet=rs0")
    assert production.environment == "production" and not production.graphiql and not production.introspection
    trial = Settings(mongodb_uri=None)
    assert trial.environment == "trial" and trial.graphiql and trial.introspection
    opened = Settings(mongodb_uri="mongodb://db.internal/", graphiql=True)
    assert opened.graphiql and not opened.introspection


DASHBOARD = NESTED.replace("episodes(first: 5)", "episodes").replace("appointments(first: 5)", "appointments") \
    .replace("appointments(first: 10)", "appointments")


async def test_a_page_cap_dashboard_is_admitted(demo: GQL) -> None:
    """100 patients (the page cap), each with its summary, family, episodes and appointments at the default
    page size: refused at cost 394,101 before the cost counted objects instead of field values."""
    data = await demo.run(DASHBOARD % 100)
    assert len(data["patients"]["edges"]) == 100
    assert all(e["node"]["medicalSummary"] is not None for e in data["patients"]["edges"])


def _cost(query: str) -> int:
    doc = parse(query)
    op = next(d for d in doc.definitions if isinstance(d, OperationDefinitionNode))
    return operation_cost(build_schema()._schema, op, {}, default=20, maximum=100)


def test_cost_counts_objects_and_store_rounds_not_scalars() -> None:
    one = _cost("{ patients(first: 100) { edges { node { id } } } }")
    many = _cost("{ patients(first: 100) { edges { node { id firstName lastName dateOfBirth email status } } } }")
    assert one == many == 50 + 100  # one round, 100 patients; scalar fields are attribute reads
    nested = _cost("{ patients(first: 100) { edges { node { appointments(first: 10) { edges { node { id } } } } } } }")
    assert nested == 50 + 100 + 50 + 100 * 10  # the relation: one more round, not one per patient
    capped = DASHBOARD.replace("episodes {", "episodes(first: 100) {") \
        .replace("appointments {", "appointments(first: 100) {")
    assert _cost(DASHBOARD % 100) < Settings().graphql_max_cost < _cost(capped % 100)


def test_a_numbered_page_costs_its_page_size_once() -> None:
    """A numbered page counts its rows at the page (pageSize, else its default 50), not again at items."""
    sized = _cost("{ patientPage(pageSize: 100) { total items { id } } }")
    assert sized == 50 + 100
    assert _cost("{ patientPage { items { id } } }") == 50 + 50
    nested = _cost("{ patientPage(pageSize: 100) { items { allergyPage(pageSize: 10) { items { id } } } } }")
    assert nested == 50 + 100 + 50 + 100 * 10  # as the same connections cost
    assert nested == _cost("{ patients(first: 100) { nodes { allergies(first: 10) { nodes { id } } } } }")


async def test_abusive_aliases_are_refused(gql: GQL) -> None:
    part = "{ edges { node { appointments(first: 100) { edges { node { id } } } } } }"
    q = "{ " + " ".join(f"a{i}: patients(first: 100) {part}" for i in range(30)) + " }"
    err = await gql.error(q)
    assert err["extensions"]["code"] == "QUERY_TOO_COSTLY" and err["extensions"]["cost"] > 300_000
