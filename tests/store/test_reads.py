"""Reads by id through the coalescer: one command for a burst, the 16 MB reply limit, retries as the driver's."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace

import pytest
from bson import decode, encode
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import ReadPreference
from pymongo.errors import AutoReconnect, NotPrimaryError, OperationFailure, ServerSelectionTimeoutError
from pymongo.read_concern import ReadConcern

from store.client import StoreHandle
from store.driver import current_deadline, deadline
from store.errors import NotFound, Unavailable
from store.reads import ReadCoalescer
from store.types import SystemPrincipal
from tests.conftest import fhir_call_count, fhir_calls
from tests.factories import make_patient


async def test_concurrent_reads_are_coalesced(store: StoreHandle, principal: SystemPrincipal) -> None:
    pats = [(await store.repo.create(principal, make_patient())).resource for _ in range(10)]
    before = fhir_call_count()
    got = await asyncio.gather(*(store.repo.read(principal, "Patient", p["id"]) for p in pats))
    assert fhir_call_count() - before == 1
    assert [g["id"] for g in got] == [p["id"] for p in pats]


class FakeDatabase:
    """What the read coalescer uses of a database: ``command`` and the options a cursor would take."""

    read_preference = ReadPreference.PRIMARY_PREFERRED
    codec_options = CodecOptions(tz_aware=True)

    def __init__(self, answer: Callable[[dict], Awaitable[dict]], *, read_concern: ReadConcern | None = None,
                 retry_reads: bool = True):
        self.answer = answer
        self.read_concern = read_concern or ReadConcern()
        self.client = SimpleNamespace(options=SimpleNamespace(retry_reads=retry_reads))
        self.collections: dict[str, object] = {}

    async def command(self, cmd: dict, *, read_preference: object, codec_options: CodecOptions) -> object:
        """The answer, as the driver decodes it: ``find`` with the database's options but raw documents (the
        coalescer decodes each row for each waiter), other commands with the database's options."""
        assert read_preference is self.read_preference
        answer = await self.answer(cmd)
        if "find" in cmd:
            assert codec_options == self.codec_options.with_options(document_class=RawBSONDocument)
            return decode(encode(answer), codec_options)
        assert codec_options is self.codec_options
        return answer

    def __getitem__(self, name: str) -> object:
        return self.collections[name]


async def test_concurrent_reads_past_the_16_mb_reply_limit_all_arrive(store: StoreHandle,
                                                                       principal: SystemPrincipal) -> None:
    """Four ~4.4 MB Binaries read at once pass what one reply can carry; every read still gets its resource."""
    data = base64.b64encode(os.urandom(3_300_000)).decode()
    ids = [(await store.repo.create(principal, {"resourceType": "Binary", "contentType": "application/pdf",
                                               "data": data})).resource["id"] for _ in range(4)]
    before = fhir_calls()
    got = await asyncio.gather(*(store.repo.read(principal, "Binary", i) for i in [*ids, "missing"]),
                               return_exceptions=True)
    assert [g["id"] for g in got[:4]] == ids and all(g["data"] == data for g in got[:4])
    assert isinstance(got[4], NotFound)
    after = fhir_calls()
    sent = {op: after.get((op, "Binary"), 0) - before.get((op, "Binary"), 0) for op in ("find", "killCursors")}
    assert sent == {"find": 2, "killCursors": 1}  # one batch, cut at the limit; the rest by a driver cursor


async def test_reads_asked_while_commands_are_in_flight_go_out_together() -> None:
    """With ``max_in_flight`` commands out, later reads wait for one to land, then share the next command."""
    gate = asyncio.Event()
    sent: list[list[str]] = []

    async def answer(cmd: dict) -> dict:
        keys = cmd["filter"]["_id"]["$in"]
        sent.append(keys)
        assert cmd["limit"] == cmd["batchSize"] == len(keys)
        await gate.wait()
        return {"cursor": {"id": 0, "firstBatch": [{"_id": k} for k in keys if k != "t/gone"]}}

    async def ticks() -> None:
        for _ in range(3):
            await asyncio.sleep(0)

    reads = ReadCoalescer(FakeDatabase(answer), max_in_flight=2)  # type: ignore[arg-type]
    first = reads.get("Patient", "t/a")
    await ticks()
    second = reads.get("Patient", "t/b")
    await ticks()
    later = []
    for key in ("t/c", "t/d", "t/gone", "t/c"):
        later.append(reads.get("Patient", key))
        await ticks()
    assert sent == [["t/a"], ["t/b"]]  # two commands out; the rest wait, across several loop ticks
    gate.set()
    got = await asyncio.gather(first, second, *later)
    assert sent == [["t/a"], ["t/b"], ["t/c", "t/d", "t/gone"]]
    assert [g and g["_id"] for g in got] == ["t/a", "t/b", "t/c", "t/d", None, "t/c"]
    assert got[2] is not got[5]  # two waiters for one id get a document each


async def test_a_batch_past_the_first_reply_is_finished_by_a_driver_cursor() -> None:
    """When documents pass the 16 MB reply limit the server leaves a cursor open. Its getMore would need the
    find's session and server, so the coalescer closes it and a driver cursor fetches the rest; the database's
    read concern goes with the find."""
    commands: list[dict] = []
    rest: list[dict] = []

    async def answer(cmd: dict) -> dict:
        commands.append(cmd)
        if "find" in cmd:
            return {"cursor": {"id": 7, "firstBatch": [{"_id": "t/a"}]}}
        return {"cursorsKilled": [7]}

    class Cursor:
        async def to_list(self, length: None) -> list[RawBSONDocument]:
            return [RawBSONDocument(encode({"_id": "t/b"}))]

    class Collection:
        def with_options(self, codec_options: CodecOptions) -> Collection:
            assert codec_options.document_class is RawBSONDocument
            return self

        def find(self, filt: dict, projection: dict) -> Cursor:
            rest.append(filt)
            return Cursor()

    db = FakeDatabase(answer, read_concern=ReadConcern("majority"))
    db.collections = {"Patient": Collection()}
    reads = ReadCoalescer(db)  # type: ignore[arg-type]
    got = await asyncio.gather(reads.get("Patient", "t/a"), reads.get("Patient", "t/b"), reads.get("Patient", "t/c"))
    assert [g and g["_id"] for g in got] == ["t/a", "t/b", None]
    assert commands[0]["readConcern"] == {"level": "majority"}
    assert commands[1] == {"killCursors": "Patient", "cursors": [7]}
    assert rest == [{"_id": {"$in": ["t/b", "t/c"]}}]


@pytest.mark.parametrize("retry_reads", [True, False])
async def test_a_find_is_retried_once_after_a_network_error(retry_reads: bool) -> None:
    """As the driver retries a cursor's find (retryable reads): once, after a network error or a step-down;
    never after a server-selection timeout, nor when ``retryReads=false``; a second failure is the caller's."""
    failures: list[Exception] = []
    calls: list[dict] = []

    async def answer(cmd: dict) -> dict:
        calls.append(cmd)
        if failures:
            raise failures.pop(0)
        return {"cursor": {"id": 0, "firstBatch": [{"_id": "t/a"}]}}

    reads = ReadCoalescer(FakeDatabase(answer, retry_reads=retry_reads))  # type: ignore[arg-type]
    failures.append(NotPrimaryError("stepped down"))
    if retry_reads:
        assert (await reads.get("Patient", "t/a"))["_id"] == "t/a"
        assert len(calls) == 2 and calls[0] == calls[1]
    else:
        with pytest.raises(Unavailable):
            await reads.get("Patient", "t/a")
    calls.clear()
    failures.extend([AutoReconnect("reset"), AutoReconnect("reset again")])
    with pytest.raises(Unavailable):
        await reads.get("Patient", "t/a")
    assert len(calls) == (2 if retry_reads else 1)
    calls.clear()
    failures[:] = [ServerSelectionTimeoutError("no primary")]
    with pytest.raises(Unavailable):
        await reads.get("Patient", "t/a")
    assert len(calls) == 1
    calls.clear()
    failures[:] = [OperationFailure("interrupted", code=11602)]  # InterruptedDueToReplStateChange
    got = await asyncio.gather(reads.get("Patient", "t/a"), return_exceptions=True)
    assert len(calls) == (2 if retry_reads else 1)
    assert isinstance(got[0], dict if retry_reads else Unavailable)
    calls.clear()
    failures[:] = [OperationFailure("bad query", code=2)]  # BadValue: the same command would fail again
    with pytest.raises(Unavailable):
        await reads.get("Patient", "t/a")
    assert len(calls) == 1


async def test_coalesced_reads_of_one_id_do_not_share_documents(store: StoreHandle,
                                                                 principal: SystemPrincipal) -> None:
    p = (await store.repo.create(principal, make_patient())).resource
    a, b = await asyncio.gather(store.repo.read(principal, "Patient", p["id"]),
                                store.repo.read(principal, "Patient", p["id"]))
    a["name"][0]["family"] = "Changed"
    assert b["name"][0]["family"] == "Reyes"


def held_until(gate: asyncio.Event, seen: list[float | None]) -> Callable[[dict], Awaitable[dict]]:
    """A find that notes the deadline it runs under and answers every id once ``gate`` is set."""

    async def answer(cmd: dict) -> dict:
        seen.append(current_deadline())
        await gate.wait()
        return {"cursor": {"id": 0, "firstBatch": [{"_id": k} for k in cmd["filter"]["_id"]["$in"]]}}

    return answer


async def test_one_waiters_short_deadline_does_not_cut_the_batch_it_shares() -> None:
    """Two requests' reads share one command: the one whose deadline ends first fails alone at its deadline;
    the command runs under the other's (the latest) deadline, so the other still gets its document."""
    gate = asyncio.Event()
    seen: list[float | None] = []
    reads = ReadCoalescer(FakeDatabase(held_until(gate, seen)))  # type: ignore[arg-type]

    async def read(key: str, seconds: float | None) -> dict | None:
        with deadline(seconds):
            return await reads.get("Patient", key)

    hurried = asyncio.ensure_future(read("t/a", 0.05))
    patient = asyncio.ensure_future(read("t/b", 5))
    with pytest.raises(Unavailable):
        await asyncio.wait_for(hurried, 1)
    assert not patient.done() and len(seen) == 1  # one command for both; the longer wait goes on
    assert seen[0] is not None and seen[0] - time.monotonic() > 4
    gate.set()
    got = await asyncio.wait_for(patient, 1)
    assert got and got["_id"] == "t/b"


async def test_a_waiter_without_a_deadline_leaves_the_batch_without_one() -> None:
    """The relay's reads have no deadline: a batch they share runs without one, while a request's read in
    it still ends at its own deadline."""
    gate = asyncio.Event()
    seen: list[float | None] = []
    reads = ReadCoalescer(FakeDatabase(held_until(gate, seen)))  # type: ignore[arg-type]
    with deadline(0.05):
        hurried = reads.get("Patient", "t/a")
    unhurried = reads.get("Patient", "t/b")
    with pytest.raises(Unavailable):
        await asyncio.wait_for(hurried, 1)
    assert seen == [None] and not unhurried.done()
    gate.set()
    got = await asyncio.wait_for(unhurried, 1)
    assert got and got["_id"] == "t/b"


async def test_read_many_of_concurrent_callers_share_one_command(store: StoreHandle,
                                                                 principal: SystemPrincipal) -> None:
    """Unconfined batch reads go through the coalescer: two requests' DataLoader batches, one command; missing
    and deleted ids are absent."""
    pats = [(await store.repo.create(principal, make_patient())).resource["id"] for _ in range(4)]
    await store.repo.delete(principal, "Patient", pats[3])
    before = fhir_call_count()
    first, second = await asyncio.gather(store.repo.read_many(principal, "Patient", [pats[0], pats[1], "nope"]),
                                         store.repo.read_many(principal, "Patient", [pats[1], pats[2], pats[3]]))
    assert fhir_call_count() - before == 1
    assert sorted(first) == sorted(pats[:2]) and sorted(second) == sorted(pats[1:3])
    first[pats[1]]["name"][0]["family"] = "Changed"
    assert second[pats[1]]["name"][0]["family"] == "Reyes"  # each caller its own copy


def test_a_rows_id_is_read_off_its_bytes_or_found_by_decoding() -> None:
    """A stored document's ``_id`` comes first and is a string; any other shape is still found."""
    from store.reads import _id_of

    assert _id_of(encode({"_id": "t/é-1", "resourceType": "Patient"})) == "t/é-1"
    assert _id_of(encode({"resourceType": "Patient", "_id": "t/b"})) == "t/b"
    assert _id_of(encode({"_id": 7})) == 7


async def test_each_waiter_decodes_with_the_databases_codec_options() -> None:
    """Rows decoded for each waiter keep the database's options (here tz-aware datetimes)."""
    import datetime

    when = datetime.datetime(2026, 1, 2, 3, 4, 5)

    async def answer(cmd: dict) -> dict:
        return {"cursor": {"id": 0, "firstBatch": [{"_id": "t/a", "at": when}]}}

    reads = ReadCoalescer(FakeDatabase(answer))  # type: ignore[arg-type]
    a, b = await asyncio.gather(reads.get("Patient", "t/a"), reads.get("Patient", "t/a"))
    assert a is not b and a == b and a["at"].tzinfo is not None


async def test_shared_reads_of_one_id_share_one_document_and_others_get_their_own() -> None:
    """Waiters that only read (``shared``) get one decoded document between them; every other waiter of the
    same batch still gets one of its own."""

    async def answer(cmd: dict) -> dict:
        return {"cursor": {"id": 0, "firstBatch": [{"_id": "t/a", "name": [{"family": "Reyes"}]}]}}

    reads = ReadCoalescer(FakeDatabase(answer))  # type: ignore[arg-type]
    s1, own1, s2, own2 = await asyncio.gather(
        reads.get("Patient", "t/a", shared=True), reads.get("Patient", "t/a"),
        reads.get("Patient", "t/a", shared=True), reads.get("Patient", "t/a"))
    assert s1 is s2 and own1 is not s1 and own2 is not s1 and own1 is not own2
    assert s1 == own1 == own2
    own1["name"][0]["family"] = "Changed"
    assert s1["name"][0]["family"] == own2["name"][0]["family"] == "Reyes"
    assert not reads.sharing  # nothing kept once the batch is answered


async def test_a_shared_read_is_the_resource_a_plain_read_returns(store: StoreHandle,
                                                                  principal: SystemPrincipal) -> None:
    """The read lane's reads are shared: the same resource as a plain read, its top level the caller's own;
    a deleted one is still Gone and an absent one NotFound."""
    from store.errors import Gone

    p = (await store.repo.create(principal, make_patient())).resource
    a, b, plain = await asyncio.gather(store.repo.read(principal, "Patient", p["id"], shared=True),
                                       store.repo.read(principal, "Patient", p["id"], shared=True),
                                       store.repo.read(principal, "Patient", p["id"]))
    assert a == b == plain and a is not b and "_sys" not in a and "_id" not in a
    await store.repo.delete(principal, "Patient", p["id"])
    with pytest.raises(Gone):
        await store.repo.read(principal, "Patient", p["id"], shared=True)
    with pytest.raises(NotFound):
        await store.repo.read(principal, "Patient", "nope", shared=True)
