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


@pytest.mark.parametrize("doc", DOCS, ids=[str(d["_id"]) for d in DOCS])
@pytest.mark.parametrize("path", ["_sys.tenant", "_sys.deleted", "_sys", "_id", "_sys.tenant.x"])
def test_a_string_read_is_the_documents_or_none(doc: dict[str, Any], path: str) -> None:
    """rawbson.string_at (a sort key read from the bytes): the string the decoded document holds there, else None."""
    found = rawbson.string_at(bson.encode(doc), [p.encode() for p in path.split(".")])
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    assert found == (value if isinstance(value, str) else None)


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


PATHS = [("_sys.deleted", False), ("_sys.deleted", True), ("_sys.tenant", "t"), ("_sys.tenant", "té"),
         ("_sys.k.category", "vital-signs"), ("name.family", "x")]


def test_the_walks_kept_between_queries_give_the_fresh_walks_verdicts() -> None:
    # the documents twice over (as the same bytes objects, then as equal copies), and each path asked twice: the
    # kept walks (``walked``) answer every later question as a fresh walk does
    docs = [*DOCS, {"_id": "t/1", "name": [{"family": "x"}], "_sys": {"tenant": "t", "deleted": False,
                                                                     "k": {"category": ["vital-signs"]}}},
            {"_id": "t/2", "name": {"family": "x"}, "_sys": {"k": "flat", "deleted": True}}]
    raws = [bson.encode(d) for d in docs]
    for raw in [*raws, *(bytes(bytearray(r)) for r in raws), *raws]:
        for path, value in PATHS * 2:
            parts = [p.encode() for p in path.split(".")]
            assert rawbson.equals(raw, parts, value, rawbson.walked(raw)) == rawbson.equals(raw, parts, value)


def test_the_walks_kept_are_per_document_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rawbson, "MAX_WALKED", 3)
    monkeypatch.setattr(rawbson, "_walked", {})
    live = bson.encode({"_id": 1, "pad": "x" * 40, "_sys": {"deleted": False}})
    gone = bson.encode({"_id": 1, "_sys": {"deleted": True}})  # another document of the same _id: no walk shared
    assert rawbson.equals(live, [b"_sys", b"deleted"], False, rawbson.walked(live)) is True
    assert rawbson.equals(gone, [b"_sys", b"deleted"], False, rawbson.walked(gone)) is False
    for i in range(5):
        rawbson.walked(bson.encode({"_id": i}))
    assert len(rawbson._walked) <= 3
    assert rawbson.equals(live, [b"_sys", b"deleted"], False, rawbson.walked(live)) is True
