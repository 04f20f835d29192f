"""An index's entries grouped by value read back as one sorted list of (value, key) pairs would: every range, both
directions, through adds and removes, small groups and large ones."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sortedcontainers import SortedList

from store.devdb import entries
from store.devdb.entries import Entries

VALUES = [b"\x03a\x00\x01\x03", b"\x03ab\x00\x01\x03", b"\x03b\x00\x01\x03", b"\x02" + bytes(8) + b"\x03"]


def bound(rng: random.Random) -> tuple[Any, ...]:
    value = rng.choice([*VALUES, b"\x03", b"\x03ab", b"\x04", b"\xff"])
    shape = rng.randrange(3)
    key = f"k{rng.randrange(40):02d}"
    return (value,) if shape == 0 else (value, key) if shape == 1 else (value, key, 0xFF)


@pytest.mark.parametrize("large", [3, 512])
def test_grouped_entries_read_as_one_sorted_list(monkeypatch: pytest.MonkeyPatch, large: int) -> None:
    monkeypatch.setattr(entries, "LARGE", large)
    rng = random.Random(large)
    grouped, flat = Entries(), SortedList()
    for step in range(3000):
        value, key = rng.choice(VALUES), f"k{rng.randrange(40):02d}"
        if rng.random() < 0.6:
            if (value, key) not in flat:
                grouped.add(value, key)
                flat.add((value, key))
        else:
            grouped.remove(value, key)  # (also of what is not there)
            flat.discard((value, key))
        assert len(grouped) == len(flat)
        if step % 10 == 0:
            lo, hi = bound(rng), bound(rng)
            for reverse in (False, True):
                expected = list(flat.irange(lo, hi, inclusive=(True, False), reverse=reverse))
                assert list(grouped.scan(lo, hi, reverse)) == expected, (lo, hi, reverse)
            assert grouped.count(lo, hi) == len(list(flat.irange(lo, hi, inclusive=(True, False))))
    assert list(grouped) == list(flat)


def test_a_range_of_many_values_is_counted_by_their_average_group() -> None:
    grouped = Entries()
    for i in range(1000):
        for key in ("a", "b"):
            grouped.add(b"\x03v%04d\x00\x01\x03" % i, key)
    assert grouped.count((b"\x03",), (b"\x04",)) == 2000
    assert grouped.count((b"\x03v0010",), (b"\x03v0020",)) == 20  # few values: counted


@pytest.mark.parametrize("large", [3, 512])
def test_entries_filed_together_read_as_those_filed_one_by_one(monkeypatch: pytest.MonkeyPatch, large: int) -> None:
    """``extend`` (a backlog of writes, a bulk load) into groups that are absent, single keys, lists and large ones
    leaves what ``add`` of each entry would, and later adds and removes find it so."""
    monkeypatch.setattr(entries, "LARGE", large)
    rng = random.Random(large)
    together, one_by_one = Entries(), Entries()
    held: set[tuple[bytes, str]] = set()
    for _ in range(40):
        pending: dict[bytes, list[Any]] = {}
        for _ in range(rng.randrange(1, 60)):
            value, key = rng.choice(VALUES), f"k{rng.randrange(400):03d}"
            if (value, key) not in held:
                held.add((value, key))
                pending.setdefault(value, []).append(key)
                one_by_one.add(value, key)
        together.extend(pending)
        for value, key in rng.sample(sorted(held), min(len(held), 5)):
            held.discard((value, key))
            together.remove(value, key)
            one_by_one.remove(value, key)
        assert list(together) == list(one_by_one) == sorted(held)
        assert len(together) == len(held)
        lo, hi = bound(rng), bound(rng)
        assert together.count(lo, hi, exact=True) == one_by_one.count(lo, hi, exact=True)
