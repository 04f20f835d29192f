"""rawbson.equals: an equality decided on a stored document's bytes, or left to the decoder, never decided wrong."""

from __future__ import annotations

from typing import Any

import bson
import pytest
from mongomock import filtering

from store.devdb import rawbson

DOCS: list[dict[str, Any]] = [
    {"_id": 1, "_sys": {"tenant": "t", "deleted": False}},
    {"_id": 2, "_sys": {"tenant": "t", "deleted": True}},
    {"_id": 3, "_sys": {"tenant": "u"}},
    {"_id": 4, "_sys": "flat"},
    {"_id": 5},
    {"_id": 6, "_sys": [{"deleted": False}]},
    {"_id": 7, "_sys": {"deleted": [False]}},
    {"_id": 8, "_sys": {"deleted": 0, "tenant": 5}},
    {"_id": 9, "_sys": {"tenant": "té", "deleted": None}},
    # arrays at the end of the path: a search key's list of strings, and the shapes the bytes leave undecided
    {"_id": 10, "_sys": {"tenant": ["u", "t"], "deleted": [True, False]}},
    {"_id": 11, "_sys": {"tenant": ["u", "v"], "deleted": [True]}},
    {"_id": 12, "_sys": {"tenant": [], "deleted": []}},
    {"_id": 13, "_sys": {"tenant": ["u", 5, ["t"]], "deleted": [0, None]}},
    {"_id": 14, "_sys": {"tenant": [["t"], "t"], "deleted": [[False]]}},
    {"_id": 15, "_sys": [{"tenant": "t"}, {"tenant": ["t"]}]},
]


@pytest.mark.parametrize("doc", DOCS, ids=[str(d["_id"]) for d in DOCS])
@pytest.mark.parametrize(("path", "value"), [("_sys.deleted", False), ("_sys.deleted", True), ("_sys.tenant", "t"),
                                             ("_sys.tenant", "té"), ("_sys.tenant", "")])
def test_a_verdict_is_the_matchers_or_none(doc: dict[str, Any], path: str, value: Any) -> None:
    verdict = rawbson.equals(bson.encode(doc), [p.encode() for p in path.split(".")], value)
    if verdict is not None:
        assert verdict == filtering.filter_applies({path: value}, doc)


def test_the_store_shapes_are_decided() -> None:
    raw = bson.encode({"_id": "t/1", "name": [{"family": "x"}], "_sys": {"tenant": "t", "deleted": False, "s": {}}})
    assert rawbson.equals(raw, [b"_sys", b"deleted"], False) is True
    assert rawbson.equals(raw, [b"_sys", b"deleted"], True) is False
    assert rawbson.equals(raw, [b"_sys", b"tenant"], "t") is True
    assert rawbson.equals(raw, [b"_sys", b"missing"], "t") is False


def test_a_list_of_strings_is_decided() -> None:
    raw = bson.encode({"_id": "t/1", "_sys": {"k": {"category": ["vital-signs", "http://x|vital-signs"]}}})
    assert rawbson.equals(raw, [b"_sys", b"k", b"category"], "vital-signs") is True
    assert rawbson.equals(raw, [b"_sys", b"k", b"category"], "survey") is False
    assert rawbson.equals(bson.encode({"a": ["x", 1]}), [b"a"], "y") is None
    assert rawbson.equals(bson.encode({"a": ["x", 1]}), [b"a"], "x") is True
