"""An in-memory list's connection (resolvers/pagination.py ``resolve_connection``): its page info's cursors, encoded
when read, are its first and last edges' — and page on from there."""

from __future__ import annotations

from typing import Any

import pytest

from resolvers.pagination import Connection, encode_cursor, resolve_connection

ROWS = [{"id": f"r{i}", "at": f"2026-01-{i % 7 + 10}"} for i in range(9)]


def _page(**kw: Any) -> Connection[Any]:
    return resolve_connection(ROWS, key=lambda r: r["at"], rid=lambda r: r["id"], node=lambda r: r, **kw)


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("kw", [{"first": 3}, {"first": 20}, {"last": 2}, {"first": 2, "after": "skip"}])
def test_the_page_cursors_are_the_first_and_last_edges(kw: dict[str, Any], descending: bool) -> None:
    whole = [e.node["id"] for e in _page(first=20, descending=descending).edges]
    if kw.get("after") == "skip":
        kw = {**kw, "after": _page(first=3, descending=descending).page_info.end_cursor}
    page = _page(descending=descending, **kw)
    first, last = page.edges[0], page.edges[-1]
    assert page.page_info.start_cursor == first.cursor == encode_cursor(first.node["at"], first.node["id"])
    assert page.page_info.end_cursor == last.cursor == encode_cursor(last.node["at"], last.node["id"])
    rest = _page(first=20, after=page.page_info.end_cursor, descending=descending)
    assert [e.node["id"] for e in rest.edges] == whole[whole.index(last.node["id"]) + 1:]


def test_an_empty_page_has_no_cursors() -> None:
    info = _page(first=0).page_info
    assert info.start_cursor is None and info.end_cursor is None
    assert not info.has_previous_page and info.has_next_page
