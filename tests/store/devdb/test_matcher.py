"""The compiled matcher says what mongomock's filter_applies says, for every value kind under every operator."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import bson
from mongomock import filtering

from store.devdb import matcher

VALUES: list[Any] = ["a", "b", "", 0, 1, 1.0, 2.5, True, False, None, [], ["a", 1], [None], [["a"]], {"k": "a"},
                     dt.datetime(2020, 1, 1), bson.ObjectId("0" * 24), float("nan"), [{"k": "a"}], b"x"]
CONDITIONS: list[Any] = ["a", 1, True, 2.5, {"$eq": "a"}, {"$ne": "a"}, {"$ne": 1}, {"$in": ["a", 1]},
                         {"$nin": ["b", 0]}, {"$gt": 0}, {"$gte": "a"}, {"$lt": 2.5}, {"$lte": dt.datetime(2021, 1, 1)},
                         {"$exists": True}, {"$exists": False}, {"$gt": 0, "$lt": 2}, {"$in": []}]


def documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [{}, {"f": {}}, {"f": "scalar"}]
    for v in VALUES:
        docs += [{"f": {"g": v}}, {"f": [{"g": v}]}, {"f": {"g": v}, "h": v}]
    return docs


def test_every_compiled_condition_agrees_with_mongomock() -> None:
    compiled = 0
    for cond, doc in itertools.product(CONDITIONS, documents()):
        for filt in ({"f.g": cond}, {"$and": [{"f.g": cond}, {"h": {"$exists": False}}]},
                     {"$or": [{"f.g": cond}, {"h": "a"}]}):
            compiled += matcher.compile(filt) is not None
            assert matcher.applies(filt)(doc) == bool(filtering.filter_applies(filt, doc)), (filt, doc)
    assert compiled == 3 * len(CONDITIONS) * len(documents())


def test_shapes_it_does_not_judge_are_left_to_mongomock() -> None:
    for filt in ({"f": None}, {"f": {"$regex": "^a"}}, {"f": {"$elemMatch": {"g": 1}}}, {"f.0": 1},
                 {"$nor": [{"f": 1}]}, {"f": {"g": 1}}, {"f": [1]}, {"f": {"$in": [None]}}):
        assert matcher.compile(filt) is None, filt
