"""The executor's short path for plain scalar and enum fields (graph/execution.py) answers exactly what
graphql-core's own path answers — values, nulls, and the field errors of values the schema refuses — and stands
aside when an extension wraps every field's resolution."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension

from graph.execution import Executor
from graph.schema import _plain_fields_direct


@strawberry.enum
class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Thing:
    id: strawberry.ID
    name: str
    nickname: str | None
    color: Color | None
    count: int
    ratio: float | None
    active: bool
    tags: list[str]

    @strawberry.field
    def shout(self, suffix: str = "!") -> str:
        return self.name.upper() + suffix


def _things() -> list[Any]:
    return [
        Thing(id=strawberry.ID("1"), name="a", nickname=None, color=Color.RED, count=1, ratio=0.5, active=True,
              tags=["x"]),
        # what a broken record could hold: a null in a non-null field, values of the wrong type
        Thing(id=strawberry.ID("2"), name=None, nickname="n", color=None, count=2, ratio=None,  # type: ignore[arg-type]
              active=False, tags=[]),
        Thing(id=strawberry.ID("3"), name="c", nickname="", color=Color.BLUE, count="many", ratio=2,  # type: ignore[arg-type]
              active=False, tags=["y", "z"]),
        Thing(id=strawberry.ID("4"), name="d", nickname=None, color="green", count=4, ratio=2,  # type: ignore[arg-type]
              active=True, tags=[]),
    ]


@strawberry.type
class Query:
    @strawberry.field
    def things(self) -> list[Thing | None]:
        return _things()


QUERY = """{ things { __typename id name nickname color count ratio active tags shout(suffix: "?")
                     again: name } }"""


def _schema(executor: type | None, extensions: list[Callable[[], SchemaExtension]] | None = None) -> Any:
    kwargs: dict[str, Any] = {"execution_context_class": executor} if executor is not None else {}
    schema = strawberry.Schema(query=Query, extensions=extensions or [], **kwargs)
    _plain_fields_direct(schema)
    return schema


def _answer(schema: Any) -> tuple[Any, list[tuple[str, list[Any]]]]:
    result = schema.execute_sync(QUERY)
    return result.data, sorted((e.message, list(e.path or ())) for e in result.errors or ())


def test_short_path_answers_as_graphql_core_does(monkeypatch: Any) -> None:
    infos: list[str] = []
    build = Executor.build_resolve_info

    def counted(self: Any, field_def: Any, field_nodes: Any, *args: Any) -> Any:
        infos.append(field_nodes[0].name.value)
        return build(self, field_def, field_nodes, *args)

    monkeypatch.setattr(Executor, "build_resolve_info", counted)
    ours, usual = _answer(_schema(Executor)), _answer(_schema(None))
    assert "nickname" not in infos and "shout" in infos  # the plain leaves took the short path
    assert ours == usual
    data, errors = ours
    assert data["things"][0] == {"__typename": "Thing", "id": "1", "name": "a", "nickname": None, "color": "RED",
                                 "count": 1, "ratio": 0.5, "active": True, "tags": ["x"], "shout": "A?",
                                 "again": "a"}
    assert data["things"][1] is None and data["things"][2] is None  # a non-null field's error nulls the item
    assert data["things"][3]["color"] is None and data["things"][3]["ratio"] == 2.0
    assert sorted(path for _, path in errors) == [["things", 1, "name"], ["things", 2, "count"],
                                                 ["things", 3, "color"]]


class CountResolves(SchemaExtension):
    seen: list[str] = []

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        CountResolves.seen.append(info.field_name)
        return _next(root, info, *args, **kwargs)


def test_a_resolve_extension_still_sees_every_plain_field() -> None:
    CountResolves.seen = []
    data, _ = _answer(_schema(Executor, [CountResolves]))
    assert data["things"][0]["name"] == "a"
    assert CountResolves.seen.count("id") == 4 and CountResolves.seen.count("color") >= 3
