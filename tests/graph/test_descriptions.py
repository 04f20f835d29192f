"""Every type, field, argument, input field and enum value of the schema is described for front-end developers,
as a client sees it (graphql-core's introspection of the strawberry schema), and no description speaks of the
server's insides. A new field without a description fails here, named."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import introspection_from_schema

from graph.errors import CODES
from graph.schema import build_schema

# Words of our internals a front-end developer has no use for (the store's layout, our specification documents).
INTERNAL = re.compile(r"_sys\b|mongo|\bcollections?\b|devdb|outbox|\bseeds?\b|\bstore\b|resolver|dataloader", re.I)


def described_items() -> Iterator[tuple[str, str, str | None]]:
    """(kind, schema coordinate, description) of everything a client can read a description of."""
    schema: dict[str, Any] = introspection_from_schema(build_schema()._schema)["__schema"]
    for t in schema["types"]:
        name = t["name"]
        if name.startswith("__"):  # the introspection types: the GraphQL spec's own
            continue
        yield "type", name, t["description"]
        for f in t.get("fields") or ():
            yield "field", f"{name}.{f['name']}", f["description"]
            for a in f["args"]:
                yield "argument", f"{name}.{f['name']}({a['name']}:)", a["description"]
        for f in t.get("inputFields") or ():
            yield "input field", f"{name}.{f['name']}", f["description"]
        for v in t.get("enumValues") or ():
            yield "enum value", f"{name}.{v['name']}", v["description"]


def test_everything_is_described() -> None:
    missing = [f"{kind} {where}" for kind, where, text in described_items() if not (text or "").strip()]
    assert not missing, f"{len(missing)} without a description:\n" + "\n".join(missing)


def test_descriptions_speak_of_the_api_not_its_insides() -> None:
    leaks = [f"{where}: {text}" for _, where, text in described_items() if text and INTERNAL.search(text)]
    assert not leaks, "\n".join(leaks)


def test_mutations_name_the_error_codes_they_return() -> None:
    codes = set(CODES.values())
    schema: dict[str, Any] = introspection_from_schema(build_schema()._schema)["__schema"]
    mutation = next(t for t in schema["types"] if t["name"] == "Mutation")
    silent = [f["name"] for f in mutation["fields"] if not codes & set(re.findall(r"[A-Z_]{5,}", f["description"]))]
    assert not silent, f"mutations not saying which extensions.code they return: {silent}"
