"""An index's entries, grouped by value: the distinct packed values in order, each with the store keys of the
documents that hold it, in order.

An entry is ``(value bytes, store key)`` (store/devdb/index.py). Most entries share their value with others — a
status, a code, the patient a resource belongs to — so they are kept by value: a sorted list of the distinct
values, and per value the one store key holding it or a sorted list of them. An entry then costs a slot in its
value's list (the key itself is the documents dict's), instead of a tuple of its own in one long sorted list.

Bounds are the entries' own form: ``(value,)`` sorts before every entry with that value, ``(value, key)`` at that
entry, ``(value, key, AFTER)`` right after it (any third element does).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any

from sortedcontainers import SortedList

Bound = tuple[Any, ...]
Group = Any  # one store key, a sorted list of them, or a SortedList of them (a large group)

LARGE = 512  # a group of more keys than this becomes a SortedList (inserts into a plain list copy it whole)
EXACT_COUNT = 256  # a range of more distinct values than this is counted by their average group size


class Entries:
    def __init__(self) -> None:
        self.values = SortedList()
        self.groups: dict[bytes, Group] = {}
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[tuple[bytes, Any]]:
        for value in self.values:
            for key in _keys(self.groups[value]):
                yield value, key

    def add(self, value: bytes, key: Any) -> None:
        group = self.groups.get(value, _NONE)
        if group is _NONE:
            self.values.add(value)
            self.groups[value] = key
        elif type(group) is list:
            bisect.insort(group, key)
            if len(group) > LARGE:
                self.groups[value] = SortedList(group)
        elif isinstance(group, SortedList):
            group.add(key)
        else:
            self.groups[value] = [group, key] if group < key else [key, group]
        self.size += 1

    def extend(self, pending: dict[bytes, list[Any]]) -> None:
        """``add`` of many entries (none of them held already), as value -> the store keys to add under it (in any
        order): each value's keys are merged into its group at once and the new values
        inserted together — what filing a bulk load or a collection's backlog of writes costs, instead of a sorted
        insertion per entry."""
        groups, fresh, added = self.groups, [], 0
        for value, keys in pending.items():
            added += len(keys)
            group = groups.get(value, _NONE)
            if group is _NONE:
                fresh.append(value)
                keys = sorted(keys)  # (a copy: no room left over from the appends)
            elif isinstance(group, SortedList):
                group.update(keys)
                continue
            else:
                keys = sorted([*_keys(group), *keys])
            groups[value] = keys[0] if len(keys) == 1 else keys if len(keys) <= LARGE else SortedList(keys)
        self.values.update(fresh)
        self.size += added

    def remove(self, value: bytes, key: Any) -> None:
        group = self.groups.get(value, _NONE)
        if group is _NONE:
            return
        if type(group) is list:
            at = bisect.bisect_left(group, key)
            if at == len(group) or group[at] != key:
                return
            del group[at]
            if len(group) == 1:
                self.groups[value] = group[0]
        elif isinstance(group, SortedList):
            if key not in group:
                return
            group.remove(key)
            if len(group) == 1:
                self.groups[value] = group[0]
        elif group == key:
            del self.groups[value]
            self.values.remove(value)
        else:
            return
        self.size -= 1

    def count(self, lo: Bound, hi: Bound, exact: bool = False) -> int:
        """How many entries there are from ``lo`` up to (not including) ``hi``: exactly, or for a range of many
        values an estimate from their average group size (the planner compares costs; it never needs more) unless
        ``exact`` (a count the reply gives)."""
        distinct: int = self.values.bisect_right(hi[0]) - self.values.bisect_left(lo[0])
        if distinct > EXACT_COUNT and not exact:
            return distinct * self.size // max(len(self.values), 1)
        first, last = lo[0], hi[0]
        total = 0
        for value in self.values.irange(first, last):
            if value == last and len(hi) == 1:
                continue
            group = self.groups[value]
            low = lo if value == first and len(lo) > 1 else None
            high = hi if value == last else None
            if low is None and high is None:
                total += len(group) if type(group) is list or isinstance(group, SortedList) else 1
            else:
                start, stop = _span(group, low, high)
                total += stop - start
        return total

    def scan(self, lo: Bound, hi: Bound, reverse: bool = False) -> Iterator[tuple[bytes, Any]]:
        """The entries from ``lo`` up to (not including) ``hi``, in order (or the reverse)."""
        first, last = lo[0], hi[0]
        groups = self.groups
        for value in self.values.irange(first, last, reverse=reverse):
            low = lo if value == first and len(lo) > 1 else None
            if value == last:
                if len(hi) == 1:
                    continue  # (value,) comes before every entry holding value
                high: Bound | None = hi
            else:
                high = None
            for key in _select(groups[value], low, high, reverse):
                yield value, key


_NONE: Any = object()


def _keys(group: Group) -> Any:
    return group if type(group) is list or isinstance(group, SortedList) else (group,)


def _select(group: Group, lo: Bound | None, hi: Bound | None, reverse: bool) -> Any:
    """The keys of ``group`` from ``lo``'s key (after it, if ``lo`` has a third element) up to ``hi``'s (including
    it, if ``hi`` has a third element); None: no bound."""
    if isinstance(group, SortedList):
        return group.irange(None if lo is None else lo[1], None if hi is None else hi[1],
                            inclusive=(lo is None or len(lo) == 2, hi is None or len(hi) > 2), reverse=reverse)
    keys = group if type(group) is list else [group]
    start, stop = _span(keys, lo, hi)
    return reversed(keys[start:stop]) if reverse else keys[start:stop]


def _span(group: Group, lo: Bound | None, hi: Bound | None) -> tuple[int, int]:
    """Where the keys of ``_select`` start and stop among the group's keys."""
    keys = group if type(group) is list or isinstance(group, SortedList) else [group]
    start = 0 if lo is None else _bisect(keys, lo[1], after=len(lo) > 2)
    stop = len(keys) if hi is None else _bisect(keys, hi[1], after=len(hi) > 2)
    return start, max(start, stop)


def _bisect(keys: Any, key: Any, after: bool) -> int:
    if isinstance(keys, SortedList):
        at: int = keys.bisect_right(key) if after else keys.bisect_left(key)
        return at
    return (bisect.bisect_right if after else bisect.bisect_left)(keys, key)
