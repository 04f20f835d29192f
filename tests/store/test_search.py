"""store/search.py: the keyset cursors."""

from __future__ import annotations

import pytest

from store.search import Row, RowCursors, decode_cursor, encode_cursor, parse_sort, sort_keys_of


def _docs() -> list[dict[str, object]]:
    return [{"_id": f"t1/p{i}", "_sys": {"s": {"family": f"f{i % 3}", "birthdate": "2001"}}} for i in range(5)] + [
        {"_id": "t1/bare", "_sys": {}}, {"_id": "t1/odd", "_sys": {"s": {"family": 7}}}]


@pytest.mark.parametrize("spec", [None, "family", "-family,birthdate"])
def test_row_cursors_are_each_rows_encode_cursor(spec: str | None) -> None:
    sort = parse_sort("Patient", spec)
    docs = _docs()
    lazy = RowCursors([Row(d["_id"], sort_keys_of(d)) for d in docs], sort, "Patient")
    eager = [encode_cursor(d, sort, "Patient") for d in docs]
    assert lazy[-1] == eager[-1] and lazy[0] == eager[0]  # read out of order first, as a REST page does
    assert len(lazy) == len(eager) and list(lazy) == eager and lazy[1:3] == eager[1:3] and lazy == eager
    assert [decode_cursor(c, sort, "Patient", "t1")[1] for c in lazy] == [d["_id"] for d in docs]
    with pytest.raises(IndexError):
        lazy[len(docs)]
