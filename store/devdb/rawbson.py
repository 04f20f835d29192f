"""Stored documents as BSON bytes: reading their elements, and leaving fields out, without decoding them.

https://bsonspec.org/spec.html: a document is ``<int32 size><elements>\\x00``, an element ``<type byte><name
cstring><value>``; every value's size follows from its type and at most its first bytes, so a document can be
walked element by element and cut and spliced as bytes. ``without`` does so for the exclusion projections the
store sends with every read (``{"_sys.k": 0, ...}``): the reply carries the stored bytes less the excluded
elements, and nothing is decoded or encoded again.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

import bson
from bson.int64 import Int64

from store.devdb.codec import CODEC

_INT32 = struct.Struct("<i")
_unpack_int32 = _INT32.unpack_from
_pack_int32 = _INT32.pack

EMBEDDED, ARRAY = 0x03, 0x04
# Value sizes of the fixed-size types: double, ObjectId, bool, date, null, undefined, int32, timestamp, int64,
# decimal128, min and max key.
_FIXED = {0x01: 8, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x06: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16,
          0x7F: 0, 0xFF: 0}
_LENGTH_PREFIXED = frozenset({0x02, 0x0D, 0x0E})  # string, JavaScript code, symbol: int32 size, then the bytes

# A projection's excluded paths as a tree: name (UTF-8) -> None (left out) or the tree under it.
Tree = dict[bytes, "Tree | None"]


def value_end(raw: bytes, kind: int, at: int) -> int:
    """Where the value of type ``kind`` starting at ``at`` ends."""
    # the kinds of stored resources first (strings, documents, arrays): every walk over a document's elements
    # asks this of each element it passes
    size: int
    if kind == 0x02:
        size = _unpack_int32(raw, at)[0]
        return at + 4 + size
    if kind in (EMBEDDED, ARRAY):
        size = _unpack_int32(raw, at)[0]
        return at + size
    fixed = _FIXED.get(kind)
    if fixed is not None:
        return at + fixed
    if kind == 0x0B:  # regex: two cstrings
        return raw.index(0, raw.index(0, at) + 1) + 1
    size = _unpack_int32(raw, at)[0]
    if kind in _LENGTH_PREFIXED:
        return at + 4 + size
    if kind == 0x0F:  # code with scope starts with its own size
        return at + size
    if kind == 0x05:  # binary: size, subtype, bytes
        return at + 5 + size
    if kind == 0x0C:  # DBPointer: a string and an ObjectId
        return at + 4 + size + 12
    raise ValueError(f"unknown BSON type {kind:#x}")


def first_element_end(raw: bytes) -> int:
    """Where the first element of document ``raw`` ends (the stored ``_id``: the encoder writes it first)."""
    name_end = raw.index(0, 5)
    return value_end(raw, raw[4], name_end + 1)


def document(elements: bytes) -> bytes:
    """The document made of ``elements`` (encoded elements, one after the other)."""
    return _pack_int32(len(elements) + 5) + elements + b"\x00"


def exclusion_tree(projection: Mapping[str, Any]) -> Tree | None:
    """The tree of an exclusion-only projection (``{"a.b": 0, "c": False}``); None for any other."""
    tree: Tree = {}
    for path, flag in projection.items():
        if flag not in (0, False) or not isinstance(path, str) or not path or path.startswith("$"):
            return None
        parts = path.encode().split(b".")
        if any(not p or p.isdigit() for p in parts):
            return None  # positional paths: mongomock's rules
        node: Tree = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if child is None:
                break  # an ancestor is excluded already
            node = child
        else:
            node[parts[-1]] = None
    return tree


def inclusion(projection: Mapping[str, Any]) -> frozenset[bytes] | None:
    """The top-level names an inclusion-only projection of top-level fields keeps (``{"id": 1, "name": True}``,
    ``_id`` too unless it says ``"_id": 0``); None for any other."""
    keep = {b"_id"}
    for path, flag in projection.items():
        if path == "_id" and flag in (0, False):
            keep.discard(b"_id")
        elif flag not in (1, True) or type(flag) not in (int, bool) or not isinstance(path, str) or not path \
                or "." in path or path.startswith("$"):
            return None
        else:
            keep.add(path.encode())
    return frozenset(keep) if len(keep) > (b"_id" in keep) else None


def only(raw: bytes, names: frozenset[bytes]) -> bytes:
    """Document ``raw`` with its top-level elements of ``names`` alone, in its order (MongoDB's inclusion)."""
    end = _unpack_int32(raw, 0)[0] - 1
    pos = 4
    parts: list[bytes] = []
    while pos < end:  # (kept in _CUTS by the caller: not the read path's loop, so value_end as it is)
        name_end = raw.index(0, pos + 1)
        next_pos = value_end(raw, raw[pos], name_end + 1)
        if raw[pos + 1:name_end] in names:
            parts.append(raw[pos:next_pos])
        pos = next_pos
    return document(b"".join(parts))


def without(raw: bytes, tree: Tree) -> bytes | None:
    """Document ``raw`` with the paths of ``tree`` left out (the same bytes when none is there); None when an
    excluded path runs through an array (MongoDB applies it to each element: the caller decodes)."""
    try:
        cut = _without(raw, 0, tree)
    except _ThroughArray:
        return None
    return raw if cut is None else cut


class _ThroughArray(Exception):
    pass


def _without(raw: bytes, start: int, tree: Tree) -> bytes | None:
    """The (embedded) document at ``start`` less ``tree``; None when nothing was left out."""
    size: int = _unpack_int32(raw, start)[0]
    end = start + size - 1  # the terminating NUL
    pos = start + 4
    parts: list[bytes] = []
    copied_to = pos  # the bytes before this position are taken as they are
    index, fixed, lengths = raw.index, _FIXED, {len(name) for name in tree}
    while pos < end:
        kind = raw[pos]
        name_end = index(0, pos + 1)
        value_at = name_end + 1
        # value_end, inlined for the common types (this loop is the read path's)
        if kind in (0x02, EMBEDDED, ARRAY):
            size = _unpack_int32(raw, value_at)[0]
            next_pos = value_at + size + (4 if kind == 0x02 else 0)
        elif (known := fixed.get(kind)) is not None:
            next_pos = value_at + known
        else:
            next_pos = value_end(raw, kind, value_at)
        if name_end - pos - 1 in lengths and (sub := tree.get(raw[pos + 1:name_end], _KEEP)) is not _KEEP:
            if sub is None:
                replaced: bytes | None = b""
            elif kind == EMBEDDED:
                inner = _without(raw, value_at, sub)
                replaced = None if inner is None else raw[pos:value_at] + inner
            elif kind == ARRAY:
                raise _ThroughArray
            else:
                replaced = None  # a scalar where the path goes on: nothing under it to leave out
            if replaced is not None:
                parts.append(raw[copied_to:pos])
                parts.append(replaced)
                copied_to = next_pos
        pos = next_pos
    if not parts:
        return None
    parts.append(raw[copied_to:end + 1])
    body = b"".join(parts)
    return _pack_int32(len(body) + 4) + body


_KEEP: Any = object()


def equals(raw: bytes, path: list[bytes] | tuple[bytes, ...], value: str | bool,
           found: dict[tuple[bytes, ...], int | bool | None] | None = None) -> bool | None:
    """Whether the element at ``path`` of document ``raw`` equals ``value`` (a string or a boolean) as a MongoDB
    equality would decide: True, False (another value of the same type; the path missing or running into a scalar),
    or None when the bytes alone do not say (an array on the way, another type): the caller decodes. An array at
    the end equals ``value`` when one of its elements does (MongoDB's equality on an array field): decided when it
    holds such an element, or holds only values of ``value``'s type (a search key's list of strings).
    ``found``: where the embedded documents on the way start, remembered between the calls for one document."""
    want = 0x08 if type(value) is bool else 0x02
    start = _embedded(raw, tuple(path[:-1]), {} if found is None else found)
    if start is None or start is False:
        return start
    element = _element(raw, start, path[-1])
    if element is None:
        return False
    kind, at = element
    expected = value if type(value) is bool else value.encode()
    if kind == ARRAY:
        return _any_equal(raw, at, want, expected)
    if kind != want:
        return None
    return _scalar_equal(raw, at, want, expected)


def string_at(raw: bytes, path: list[bytes] | tuple[bytes, ...],
              found: dict[tuple[bytes, ...], int | bool | None] | None = None) -> str | None:
    """The string at ``path`` of document ``raw``; None when the element there is missing or anything else (an
    array, another type, an array on the way). ``found``: as ``equals``'."""
    value = scalar_at(raw, path, found)
    return value if type(value) is str else None


# Where the embedded documents of a stored document start, by the document's bytes (``walked``): a pure function of
# them, so never stale; the same stored bytes objects come back as candidates query after query (their hash is
# kept by the bytes object, an equal copy compares equal). At most ``MAX_WALKED`` documents, then forgotten at once.
MAX_WALKED = 16_384
_walked: dict[bytes, dict[tuple[bytes, ...], int | bool | None]] = {}


def walked(raw: bytes) -> dict[tuple[bytes, ...], int | bool | None]:
    """The ``found`` of ``equals`` for document ``raw``, kept between calls: where its embedded documents start."""
    found = _walked.get(raw)
    if found is None:
        if len(_walked) >= MAX_WALKED:
            _walked.clear()
        found = _walked[raw] = {}
    return found


def _embedded(raw: bytes, path: tuple[bytes, ...], found: dict[tuple[bytes, ...], int | bool | None]
              ) -> int | bool | None:
    """Where the embedded document at ``path`` starts; False when there is none (missing, or a scalar on the
    way), None when an array is on the way."""
    if not path:
        return 0
    if path in found:
        return found[path]
    outer = _embedded(raw, path[:-1], found)
    at: int | bool | None = outer
    if outer is not None and outer is not False:
        element = _element(raw, outer, path[-1])
        if element is None:
            at = False
        elif element[0] == ARRAY:
            at = None
        elif element[0] == EMBEDDED:
            at = element[1]
        else:
            at = False  # a scalar on the way
    found[path] = at
    return at


def _scalar_equal(raw: bytes, at: int, want: int, expected: bytes | bool) -> bool:
    """``expected``: a boolean, or a string's UTF-8 bytes."""
    if want == 0x08:
        return (raw[at] == 1) is expected
    size = _unpack_int32(raw, at)[0]
    return raw[at + 4:at + 3 + size] == expected


def _any_equal(raw: bytes, start: int, want: int, expected: bytes | bool) -> bool | None:
    """Whether an element of the array at ``start`` equals ``expected``; None when none does and one is of another
    type (a nested array, a number: the decoder says)."""
    end = start + _unpack_int32(raw, start)[0] - 1
    pos = start + 4
    undecided = False
    while pos < end:
        kind = raw[pos]
        at = raw.index(0, pos + 1) + 1
        if kind != want:
            undecided = True
        elif _scalar_equal(raw, at, want, expected):
            return True
        pos = value_end(raw, kind, at)
    return None if undecided else False


MISSING: Any = object()  # ``scalar_at``: nothing at the path
UNDECIDED: Any = object()  # ``scalar_at``: an array on the way, or a value of another kind: decode
_unpack_double = struct.Struct("<d").unpack_from
_unpack_int64 = struct.Struct("<q").unpack_from


def scalar_at(raw: bytes, path: list[bytes] | tuple[bytes, ...],
              found: dict[tuple[bytes, ...], int | bool | None] | None = None) -> Any:
    """The value at ``path`` of document ``raw`` as decoding would give it, when it is a string, a number, a
    boolean or null; ``MISSING`` when the path is missing or runs into a scalar, else ``UNDECIDED``. ``found``: as
    ``equals``'."""
    start = _embedded(raw, tuple(path[:-1]), {} if found is None else found)
    if start is None:
        return UNDECIDED
    if start is False:
        return MISSING
    element = _element(raw, start, path[-1])
    if element is None:
        return MISSING
    kind, at = element
    if kind == 0x02:
        return raw[at + 4:at + 3 + _unpack_int32(raw, at)[0]].decode()
    if kind == 0x10:
        return _unpack_int32(raw, at)[0]
    if kind == 0x12:
        return Int64(_unpack_int64(raw, at)[0])
    if kind == 0x01:
        return _unpack_double(raw, at)[0]
    if kind == 0x08:
        return raw[at] == 1
    if kind == 0x0A:
        return None
    return UNDECIDED


def picked(raw: bytes, paths: Iterable[str]) -> dict[str, Any]:
    """Document ``raw`` with only what lies at ``paths`` (dotted), decoded: the embedded documents on the way, each
    with the elements on those paths only, and at each path's end, or at the first array on the way, the whole
    value. Whatever reads nothing but those paths (an index's fields, a filter on them) finds in it what it would
    find in the whole decoded document, with the same values; the rest is never decoded."""
    out: dict[str, Any] = {}
    opened: set[int] = set()  # the embedded documents made here (the others are whole values)
    for path in paths:
        _pick(raw, 0, path.split("."), out, opened)
    return out


def _pick(raw: bytes, start: int, parts: list[str], out: dict[str, Any], opened: set[int]) -> None:
    name = parts[0]
    if name in out and id(out[name]) not in opened:
        return  # decoded whole already, for a shorter path
    element = _element(raw, start, name.encode())
    if element is None:
        return
    kind, at = element
    if kind == EMBEDDED and len(parts) > 1:
        inner = out.get(name)
        if inner is None:
            inner = out[name] = {}
            opened.add(id(inner))
        _pick(raw, at, parts[1:], inner, opened)
        return
    encoded = name.encode()
    value = raw[at:value_end(raw, kind, at)]
    out[name] = bson.decode(document(bytes((kind,)) + encoded + b"\x00" + value), CODEC)[name]


def _element(raw: bytes, start: int, name: bytes) -> tuple[int, int] | None:
    """(type, value position) of the element ``name`` of the (embedded) document at ``start``; None: none."""
    end = start + _unpack_int32(raw, start)[0] - 1
    pos = start + 4
    size = len(name)
    while pos < end:
        kind = raw[pos]
        name_end = raw.index(0, pos + 1)
        if name_end - pos - 1 == size and raw.startswith(name, pos + 1):
            return kind, name_end + 1
        pos = value_end(raw, kind, name_end + 1)
    return None
