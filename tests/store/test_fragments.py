"""Search pages as JSON (store/fragments.py): the same rows and cursors as the decoded page, never a stale one."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from typing import Any

import bson
import orjson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

from store.client import StoreHandle
from store.fragments import Fragments, Stored
from store.layout import strip
from store.reads import joined, raw_first_batch, rows_at
from store.types import SystemPrincipal
from tests.conftest import fhir_calls
from tests.factories import make_patient


def rows(page_json: list[Stored] | None) -> list[dict[str, object]]:
    assert page_json is not None
    for r in page_json:
        assert r.url == orjson.dumps(f"/{r.rt}/{r.id}")[1:-1]
    return [orjson.loads(r.json) | {"_as": (r.rt, r.id)} for r in page_json]


async def test_a_json_page_is_the_decoded_page(store: StoreHandle, principal: SystemPrincipal) -> None:
    repo = store.repo
    for n in range(5):
        await repo.create(principal, make_patient(family=f"Fam{n}"))
    for kwargs in ({}, {"sort": "family"}, {"sort": "-family"}, {"params": [("family", "Fam")]}):
        params = kwargs.pop("params", None)
        decoded = await repo.search(principal, "Patient", params, count=3, **kwargs)  # type: ignore[arg-type]
        as_json = await repo.search(principal, "Patient", params, count=3, as_json=True,  # type: ignore[arg-type]
                                    **kwargs)
        assert as_json.resources == []
        assert [{k: v for k, v in r.items() if k != "_as"} for r in rows(as_json.json)] == decoded.resources
        assert [r["_as"] for r in rows(as_json.json)] == [(r["resourceType"], r["id"]) for r in decoded.resources]
        assert as_json.cursors == decoded.cursors and as_json.next_cursor == decoded.next_cursor
        rest = await repo.search(principal, "Patient", params, count=3, after=as_json.next_cursor,  # type: ignore[arg-type]
                                 as_json=True, **kwargs)
        assert len(rest.json or []) == 2


async def test_a_changed_resource_is_read_as_changed(store: StoreHandle, principal: SystemPrincipal) -> None:
    repo = store.repo
    p = (await repo.create(principal, make_patient(family="Before"))).resource
    first = rows((await repo.search(principal, "Patient", count=5, as_json=True)).json)
    assert first[0]["name"][0]["family"] == "Before"  # type: ignore[index]
    await repo.update(principal, "Patient", p["id"], {**p, "name": [{"family": "After"}]})
    again = rows((await repo.search(principal, "Patient", count=5, as_json=True)).json)
    assert again[0]["name"] == [{"family": "After"}] and again[0]["meta"]["versionId"] == "2"  # type: ignore[index]
    await repo.delete(principal, "Patient", p["id"])
    assert (await repo.search(principal, "Patient", count=5, as_json=True)).json == []


async def test_includes_still_read_documents(store: StoreHandle, principal: SystemPrincipal) -> None:
    repo = store.repo
    await repo.create(principal, make_patient())
    page = await repo.search(principal, "Patient", count=5, include=["Patient:general-practitioner"], as_json=True)
    assert page.json is None and len(page.resources) == 1


def test_the_cache_is_bounded_by_bytes() -> None:
    cache = Fragments(CodecOptions(), max_bytes=3000)
    raws = [bson.encode({"_id": f"t/{i}", "resourceType": "Patient", "id": str(i), "text": "x" * 400,
                         "_sys": {"s": {"name": "a"}}}) for i in range(10)]
    for raw in raws:
        stored = cache.of(raw)
        assert stored.id == raws.index(raw).__str__() and stored.sort_keys == {"name": "a"}
    assert cache.misses == 10 and cache._bytes <= 3000
    cache.of(raws[-1])
    assert cache.hits == 1
    cache.of(raws[0])  # long evicted: encoded again
    assert cache.misses == 11
    assert orjson.loads(cache.of(raws[3]).json) == {"resourceType": "Patient", "id": "3",
                                                                   "text": "x" * 400}
    changed = bson.encode({"_id": "t/9", "resourceType": "Patient", "id": "9", "text": "y", "_sys": {"s": {}}})
    assert orjson.loads(cache.of(memoryview(changed)).json)["text"] == "y"  # same _id, other bytes
    assert cache.of(raws[9]).sort_keys == {"name": "a"}


def test_a_page_of_rows_at_once_is_each_row_alone() -> None:
    # Fragments.all (the search page's loop) against Fragments.of row by row on a second cache: the same Stored
    # values, hits, misses and held bytes, through misses, hits, another version of a row and evictions.
    raws = [bson.encode({"_id": f"t/{i}", "resourceType": "Patient", "id": str(i), "text": "x" * (100 + 50 * i),
                         "_sys": {"s": {"name": str(i)}}}) for i in range(8)]
    changed = bson.encode({"_id": "t/2", "resourceType": "Patient", "id": "2", "text": "y", "_sys": {"s": {}}})
    pages = [raws[:4], raws[2:6], [raws[0], memoryview(changed), raws[3]], raws, raws[::-1], [raws[2], changed]]
    together, alone = Fragments(CodecOptions(), max_bytes=4000), Fragments(CodecOptions(), max_bytes=4000)
    for page in pages:
        rows = together.all(*joined([bytes(raw) for raw in page]))
        assert [_fields(r) for r in rows] == [_fields(alone.of(raw)) for raw in page]
        for row, raw in zip(rows, page, strict=True):  # and what decoding each row gives
            doc = bson.decode(bytes(raw))
            assert row.json == orjson.dumps(strip(doc))
            assert (row.rt, row.id, row.doc_id, row.sort_keys) == ("Patient", doc["id"], doc["_id"], doc["_sys"]["s"])
        assert (together.hits, together.misses, together._bytes) == (alone.hits, alone.misses, alone._bytes)
        assert list(together._held) == list(alone._held)
    assert together.hits and together.misses


def _fields(stored: Stored) -> tuple[Any, ...]:
    return stored.json, stored.url, stored.rt, stored.id, stored.doc_id, stored.sort_keys, stored.size


async def test_a_json_page_is_the_decoded_page_backwards_and_with_an_offset(store: StoreHandle,
                                                                              principal: SystemPrincipal) -> None:
    """The raw page's own ``find`` command (store/queries.py ``_raw_page``) pages as the driver cursor does."""
    repo = store.repo
    for n in range(6):
        await repo.create(principal, make_patient(family=f"Off{n}"))
    params = [("family", "Off")]
    first = await repo.search(principal, "Patient", params, count=4, sort="family")
    for kwargs in ({"before": first.next_cursor}, {"from_end": True}, {"offset": 2}, {"offset": 5}):
        decoded = await repo.search(principal, "Patient", params, count=2, sort="family", **kwargs)  # type: ignore[arg-type]
        for _ in range(2):  # the second: the same reply, its rows held (Fragments.replied) and not reordered
            as_json = await repo.search(principal, "Patient", params, count=2, sort="family", as_json=True,
                                        **kwargs)  # type: ignore[arg-type]
            assert [{k: v for k, v in r.items() if k != "_as"} for r in rows(as_json.json)] == decoded.resources
            assert (as_json.cursors, as_json.next_cursor, as_json.prev_cursor) == (
                decoded.cursors, decoded.next_cursor, decoded.prev_cursor)


async def test_a_json_page_past_the_16_mb_reply_limit_is_whole(store: StoreHandle,
                                                              principal: SystemPrincipal) -> None:
    """Four ~4.4 MB Binaries pass what one reply carries: the command's cursor is closed and the page read whole
    through a driver cursor."""
    data = base64.b64encode(os.urandom(3_300_000)).decode()
    for _ in range(4):
        await repo_create_binary(store, principal, data)
    decoded = await store.repo.search(principal, "Binary", None, count=10)
    before = fhir_calls()
    as_json = await store.repo.search(principal, "Binary", None, count=10, as_json=True)
    after = fhir_calls()
    assert [{k: v for k, v in r.items() if k != "_as"} for r in rows(as_json.json)] == decoded.resources
    assert len(decoded.resources) == 4 and as_json.next_cursor is None
    sent = {op: after.get((op, "Binary"), 0) - before.get((op, "Binary"), 0) for op in ("find", "killCursors")}
    assert sent == {"find": 2, "killCursors": 1}


async def repo_create_binary(store: StoreHandle, principal: SystemPrincipal, data: str) -> None:
    await store.repo.create(principal, {"resourceType": "Binary", "contentType": "application/pdf", "data": data})


def cut(reply: RawBSONDocument) -> tuple[list[bytes], int]:
    data, starts, cursor_id = raw_first_batch(reply)
    return rows_at(data, starts), cursor_id


def test_a_raw_find_reply_is_cut_into_its_documents() -> None:
    docs = [{"_id": f"t/{i}", "n": i, "a": [1, {"b": "c"}]} for i in range(3)]
    for cursor_id in (0, 42, -7):
        reply = RawBSONDocument(bson.encode({"cursor": {"firstBatch": docs, "id": bson.Int64(cursor_id),
                                                        "ns": "db.Patient"}, "ok": 1.0}))
        assert cut(reply) == ([bson.encode(d) for d in docs], cursor_id)
    empty = RawBSONDocument(bson.encode({"cursor": {"id": bson.Int64(0), "ns": "db.P", "firstBatch": []}, "ok": 1}))
    assert cut(empty) == ([], 0)
    # What else a server may put in the cursor document (MongoDB: atClusterTime for snapshot reads,
    # partialResultsReturned on a sharded cluster, a resume token) does not keep the rows from being read; nor a
    # reply whose cursor is not its first element.
    for extra in ({"atClusterTime": bson.Timestamp(1_700_000_000, 3)}, {"partialResultsReturned": False},
                  {"postBatchResumeToken": {"$recordId": bson.Int64(9)}}):
        reply = RawBSONDocument(bson.encode({"cursor": {"firstBatch": docs, **extra, "id": bson.Int64(5),
                                                        "ns": "db.Patient"}, "ok": 1.0}))
        assert cut(reply) == ([bson.encode(d) for d in docs], 5)
    later = RawBSONDocument(bson.encode({"ok": 1.0, "cursor": {"firstBatch": docs, "id": bson.Int64(3), "ns": "d.P"},
                                         "$clusterTime": {"clusterTime": bson.Timestamp(1, 1)}}))
    assert cut(later) == ([bson.encode(d) for d in docs], 3)


def _reply(docs: list[dict[str, Any]], cursor_id: int = 0, first: bool = True) -> RawBSONDocument:
    cursor = {"firstBatch": docs, "id": bson.Int64(cursor_id), "ns": "db.Patient"}
    return RawBSONDocument(bson.encode({"cursor": cursor, "ok": 1.0} if first else {"ok": 1.0, "cursor": cursor}))


class _Counting(Fragments):
    reads = 0

    def all(self, data: bytes, starts: Iterable[int]) -> list[Stored]:
        self.reads += 1
        return super().all(data, starts)


def test_a_reply_read_again_is_its_rows() -> None:
    # Fragments.replied (a page's rows, a whole reply remembered) against raw_first_batch and Fragments.all on a
    # second cache: the same rows, cursor id and hit count, through replies alike but for a byte of a row in the
    # middle (the same length, the same first bytes), another order, more rows, a cursor left open, a reply
    # whose cursor is not first, and evictions.
    docs = [{"_id": f"t/{i}", "resourceType": "Patient", "id": str(i), "text": "x" * 300, "_sys": {"s": {"n": i}}}
            for i in range(6)]
    changed = [*docs[:3], {**docs[3], "text": "y" * 300}, *docs[4:]]
    replies = [_reply(docs), _reply(docs), _reply(changed), _reply(docs), _reply(docs[::-1]), _reply(docs[:5]),
               _reply(docs, cursor_id=9), _reply(docs, cursor_id=9), _reply(docs, first=False), _reply(changed),
               _reply([]), _reply([]), _reply(docs), _reply(docs[::-1])]
    for max_pages in (16 * 1024 * 1024, 4000, 0):
        whole, rowwise = _Counting(CodecOptions(), max_page_bytes=max_pages), Fragments(CodecOptions())
        for reply in replies:
            rows, cursor_id = whole.replied(reply)
            data, starts, expected_id = raw_first_batch(reply)
            assert ([_fields(r) for r in rows], cursor_id) == ([_fields(r) for r in rowwise.all(data, starts)],
                                                               expected_id)
            assert [orjson.loads(r.json) for r in rows] == [strip(bson.decode(d)) for d in rows_at(data, starts)]
            assert whole.hits + whole.misses == rowwise.hits + rowwise.misses
            assert whole._page_bytes <= max_pages
        # rows read one by one: all but the replies held (one cursor document held per first bytes: the
        # second of each pair, the empty one, and at 16 MB the reversed one read again)
        assert whole.reads == {16 * 1024 * 1024: 11, 4000: 12, 0: 14}[max_pages], max_pages
