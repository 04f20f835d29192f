"""devdb's reply cursor document, joined as bytes (store/devdb/cursor.py ``_cursor_document``), is exactly what
the BSON encoder makes of the same document: batches of any size, the first and the next, any cursor id and
namespace (a non-ASCII one too)."""

from __future__ import annotations

import bson
import pytest
from bson.int64 import Int64

from store.devdb.cursor import _cursor_document
from store.devdb.wire import op_msg, op_msg_parts

DOCS = [bson.encode({"_id": f"t/p{i}", "resourceType": "Patient", "n": i, "name": [{"family": "é" * i}]})
        for i in range(12)]


@pytest.mark.parametrize("name", ["firstBatch", "nextBatch"])
@pytest.mark.parametrize("count", [0, 1, 11, 12])
@pytest.mark.parametrize(("cursor_id", "ns"), [(0, "fhirgraph.Patient"), (2**62 + 7, "d.é_history"), (-5, "x.y")])
def test_the_joined_cursor_document_is_the_encoded_one(name: str, count: int, cursor_id: int, ns: str) -> None:
    batch = DOCS[:count]
    expected = bson.encode({name: [bson.decode(d) for d in batch], "id": Int64(cursor_id), "ns": ns})
    joined = _cursor_document(name, batch, cursor_id, ns)
    assert joined.raw == expected
    assert bson.decode(joined.raw)[name] == [bson.decode(d) for d in batch]


@pytest.mark.parametrize("reply", [
    {"cursor": _cursor_document("firstBatch", DOCS[:3], 0, "d.P"), "ok": 1.0},
    {"cursor": _cursor_document("nextBatch", [], 9, "d.P"), "ok": 1.0},
    {"cursor": _cursor_document("firstBatch", DOCS, 0, "d.P"), "ok": 1},  # not a double: encoded as it is
    {"ok": 1.0, "cursor": _cursor_document("firstBatch", DOCS[:1], 0, "d.P")},
    {"cursor": {"firstBatch": [], "id": Int64(0), "ns": "d.P"}, "ok": 1.0},
    {"n": 3, "ok": 1.0},
    {"ok": 0.0, "errmsg": "x", "code": 2},
])
def test_a_reply_framed_in_pieces_is_the_encoded_message(reply: dict[str, object]) -> None:
    assert b"".join(op_msg_parts(7, 3, reply)) == op_msg(7, 3, reply)
