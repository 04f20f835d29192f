"""Slow clients, with raw sockets against ``fhirgraph serve``: a request head or body that stops coming is cut after
its timeout (app/server.py, app/middleware.py); slow but steady clients are served."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.app.serving import Served, serving
from tests.conftest import API_KEYS
from tests.factories import make_patient
from tests.processes import shared_store

HEAD_S = 1.0
BODY_S = 2.0
DB_S = 1.0
MARGIN_S = 1.5  # a loaded 2-core machine; the deadlines themselves are checked from below too


@pytest.fixture(scope="module")
def app() -> Iterator[Served]:
    with shared_store() as uri, serving(uri, env={"FHIRGRAPH_HTTP_HEADER_TIMEOUT_S": str(HEAD_S),
                                                  "FHIRGRAPH_HTTP_BODY_TIMEOUT_S": str(BODY_S),
                                                  "FHIRGRAPH_DB_TIMEOUT_S": str(DB_S)}) as served:
        yield served


async def connect(app: Served) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", app.port)


async def until_closed(reader: asyncio.StreamReader, limit_s: float = 10) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    async with asyncio.timeout(limit_s):
        while chunk := await reader.read(65536):
            data += chunk
    return data


async def response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length (what the app sends)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


def post_head(length: int) -> bytes:
    return (f"POST /fhir/r4/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEYS['tenant-a']}\r\n"
            f"Content-Type: application/fhir+json\r\nContent-Length: {length}\r\n\r\n").encode()


async def test_a_request_head_not_complete_in_time_gets_408_and_the_connection_closed(app: Served) -> None:
    started = time.perf_counter()
    reader, writer = await connect(app)
    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: ")
    data = await until_closed(reader)
    seconds = time.perf_counter() - started
    writer.close()
    assert data.startswith(b"HTTP/1.1 408 ")
    assert HEAD_S - 0.05 <= seconds < HEAD_S + MARGIN_S


async def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(app: Served) -> None:
    started = time.perf_counter()
    reader, writer = await connect(app)
    data = await until_closed(reader)
    seconds = time.perf_counter() - started
    writer.close()
    assert data == b""
    assert HEAD_S - 0.05 <= seconds < HEAD_S + MARGIN_S


async def test_a_slow_but_complete_head_is_served(app: Served) -> None:
    reader, writer = await connect(app)
    for part in (b"GET /hea", b"lth HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"\r\n"):
        writer.write(part)
        await asyncio.sleep(HEAD_S / 5)
    status, _, body = await response(reader)
    writer.close()
    assert status == 200 and json.loads(body)["status"] == "ok"


async def test_the_next_request_on_a_kept_alive_connection_has_the_same_deadline(app: Served) -> None:
    reader, writer = await connect(app)
    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert (await response(reader))[0] == 200
    started = time.perf_counter()
    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    data = await until_closed(reader)
    seconds = time.perf_counter() - started
    writer.close()
    assert data.startswith(b"HTTP/1.1 408 ")
    assert HEAD_S - 0.05 <= seconds < HEAD_S + MARGIN_S


async def test_requests_on_a_kept_alive_connection_past_the_first_deadline_are_served(app: Served) -> None:
    """The connection's one head timer, set for the first request, waits on for the heads that came since."""
    reader, writer = await connect(app)
    for _ in range(4):  # 4 × 0.6 s: past the first request's head deadline, each head whole in time
        writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (await response(reader))[0] == 200
        await asyncio.sleep(HEAD_S * 0.6)
    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert (await response(reader))[0] == 200
    writer.close()


async def test_a_pipelined_request_has_the_same_deadline(app: Served) -> None:
    reader, writer = await connect(app)
    started = time.perf_counter()
    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\nHost: 12")
    assert (await response(reader))[0] == 200
    data = await until_closed(reader)
    seconds = time.perf_counter() - started
    writer.close()
    assert data.startswith(b"HTTP/1.1 408 ")
    assert HEAD_S - 0.05 <= seconds < HEAD_S + MARGIN_S


async def test_a_body_that_stalls_gets_408_and_the_connection_closed(app: Served) -> None:
    body = json.dumps(make_patient()).encode()
    reader, writer = await connect(app)
    writer.write(post_head(len(body)) + body[:20])
    started = time.perf_counter()
    status, headers, outcome = await response(reader)
    rest = await until_closed(reader)
    seconds = time.perf_counter() - started
    writer.close()
    assert status == 408 and headers["connection"] == "close" and rest == b""
    assert json.loads(outcome)["issue"][0]["code"] == "timeout"  # in the FHIR door's shape
    assert BODY_S - 0.05 <= seconds < BODY_S + MARGIN_S


async def test_a_slow_upload_that_arrives_in_time_is_stored(app: Served) -> None:
    """The whole body within its deadline, though longer than the store deadline: that deadline counts from
    when the request has arrived."""
    body = json.dumps(make_patient()).encode()
    reader, writer = await connect(app)
    writer.write(post_head(len(body)))
    third = len(body) // 3
    for i, part in enumerate((body[:third], body[third:2 * third], body[2 * third:])):
        if i:
            await asyncio.sleep(0.3 * BODY_S)
        writer.write(part)
    assert 0.6 * BODY_S > DB_S
    status, _, reply = await response(reader)
    writer.close()
    assert status == 201, reply
    assert json.loads(reply)["resourceType"] == "Patient"


async def test_a_body_trickled_past_its_deadline_gets_408(app: Served) -> None:
    """Every part comes well within the deadline of the one before, but the whole body does not: cut at the
    body's deadline, so a client cannot hold a connection by sending a byte now and then."""
    body = json.dumps(make_patient()).encode()
    reader, writer = await connect(app)
    writer.write(post_head(len(body)))
    started = time.perf_counter()

    async def trickle() -> None:
        for i in range(len(body)):
            writer.write(body[i:i + 1])
            await asyncio.sleep(0.2 * BODY_S)

    sending = asyncio.ensure_future(trickle())
    try:
        status, headers, outcome = await response(reader)
    finally:
        sending.cancel()
    seconds = time.perf_counter() - started
    writer.close()
    assert status == 408 and headers["connection"] == "close"
    assert json.loads(outcome)["issue"][0]["code"] == "timeout"
    assert BODY_S - 0.05 <= seconds < BODY_S + MARGIN_S


async def test_many_slow_connections_do_not_hold_the_server(app: Served) -> None:
    async def begun() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        # Each connection sends its head's first bytes as soon as it is open: a connection that has sent nothing
        # by the head deadline is closed without an answer (no request begun), and opening 500 can take longer
        # than the deadline on a loaded machine.
        reader, writer = await connect(app)
        writer.write(b"GET /fhir/r4/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: ")
        await writer.drain()
        return reader, writer

    slow = await asyncio.gather(*(begun() for _ in range(500)))
    opened = time.perf_counter()
    async with httpx.AsyncClient(base_url=app.url, timeout=10) as c:
        started = time.perf_counter()
        r = await c.get("/health")
        answered_s = time.perf_counter() - started
    assert r.status_code == 200
    assert answered_s < 0.5
    closed = await asyncio.gather(*(until_closed(reader) for reader, _ in slow))
    all_closed_s = time.perf_counter() - opened
    for _, writer in slow:
        writer.close()
    assert {data[:13] for data in closed} == {b"HTTP/1.1 408 "}
    assert all_closed_s < HEAD_S + MARGIN_S


async def test_a_stop_drains_websockets_and_finishes_an_upload_in_flight() -> None:
    """SIGTERM: a write whose body is still arriving completes (201); an open subscription's socket is closed by
    the server with 1012 (service restart); the process ends cleanly within the shutdown timeout."""
    import asyncio
    import json
    import signal

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from tests.app.serving import serving
    from tests.conftest import API_KEYS
    from tests.factories import make_patient
    from tests.processes import shared_store

    with shared_store() as uri, serving(uri, env={"FHIRGRAPH_SHUTDOWN_TIMEOUT_S": "10"}) as app:
        ws = await connect(app.url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"apiKey": API_KEYS["tenant-a"]}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": "subscription { events { id } }"}}))
        body = json.dumps(make_patient()).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
        writer.write(b"POST /fhir/r4/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n"
                     b"X-API-Key: " + API_KEYS["tenant-a"].encode() + b"\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
        await writer.drain()
        await asyncio.sleep(0.3)
        app.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        writer.write(body[10:])  # the rest of the body, after the stop signal
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        assert status_line.startswith(b"HTTP/1.1 201"), status_line
        writer.close()
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1012
        await asyncio.to_thread(app.proc.wait, 20)
        output = app.output()
    assert app.proc.returncode in (0, -signal.SIGTERM) and "Traceback" not in output


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_text_frame_written_directly_is_the_frame_websockets_writes(length: int) -> None:
    """The relay's direct send (graph/fanout.py ``text_frame``, written by app/server.py ``WebSocketProtocol``)
    frames a text message as websockets does."""
    from websockets.frames import Frame, Opcode

    from graph.fanout import text_frame

    text = b"x" * length
    assert text_frame(text) == Frame(Opcode.TEXT, text).serialize(mask=False, extensions=[])


async def test_pipelined_reads_and_a_head_request_are_each_answered_whole(app: Served) -> None:
    """Heads are written with their bodies (app/server.py ``OneWrite``); a HEAD has no body and its head still
    goes out, before the next pipelined request's answer."""
    reader, writer = await connect(app)
    key = API_KEYS["tenant-a"]
    get = f"GET /fhir/r4/Patient/nobody HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n\r\n".encode()
    head = f"HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n\r\n".encode()
    writer.write(get + head + get)
    first = await response(reader)
    head_only = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    last = await response(reader)
    writer.close()
    assert first[0] == last[0] == 404 and json.loads(first[2])["resourceType"] == "OperationOutcome"
    assert first[2] == last[2]
    assert head_only.startswith(b"HTTP/1.1 ")


class _Transport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.sent.append(bytes(data))

    def writelines(self, parts: tuple[bytes, ...]) -> None:
        self.sent.append(b"".join(parts))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


async def test_a_response_head_goes_out_with_the_first_body_bytes_in_one_write() -> None:
    from app.server import OneWrite

    transport = _Transport()
    one = OneWrite(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    one.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the response starts (uvicorn's bytes): at once
    one.write(b"HEAD\r\n\r\n")
    assert transport.sent == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    one.write(b"first")
    one.write(b"second")
    assert transport.sent[1:] == [b"HEAD\r\n\r\nfirst", b"second"]
    assert one.is_closing() is False  # the rest is the transport's own


async def test_a_head_whose_body_is_late_goes_out_on_the_next_loop_turn_or_at_close() -> None:
    from app.server import OneWrite

    transport = _Transport()
    one = OneWrite(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    one.write(b"HEAD\r\n\r\n")
    await asyncio.sleep(0)
    assert transport.sent == [b"HEAD\r\n\r\n"]
    one.write(b"chunk")
    assert transport.sent == [b"HEAD\r\n\r\n", b"chunk"]

    transport = _Transport()
    one = OneWrite(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    one.write(b"HEAD\r\n\r\n")
    one.close()
    assert transport.sent == [b"HEAD\r\n\r\n"] and transport.closed
