"""How ``fhirgraph serve`` listens: uvicorn with a request-head deadline, and /metrics on a port of its own.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but gives a client that has opened a
connection, or started a request, as long as it likes to finish the request head: a few thousand connections
trickling header bytes hold the server's sockets for good. ``HeadTimeoutProtocol`` closes a connection whose
request head is not complete ``head_timeout_s`` after it opened, or after the request's first byte.
httptools still does all the parsing. Slow bodies are cut in the app (``BodyTimeoutMiddleware``). It also
writes each response's head and its body's first bytes in one system call (``OneWrite``).

``WebSocketProtocol`` is uvicorn's sans-I/O websocket protocol offering the app one more thing: a synchronous
send of a text frame (the ``graph.fanout.SEND_NOWAIT`` scope extension), and of a frame already encoded
(``SEND_FRAME_NOWAIT``), with which the relay's fan-out writes a live event to a thousand sockets without waking
a thousand tasks, encoding its frame once.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from app.logs import flush as flush_logs
from app.settings import Settings
from graph.fanout import SEND_FRAME_NOWAIT, SEND_NOWAIT, text_frame

# uvicorn's default. A proxy in front that keeps upstream connections must drop them sooner (see
# docker-compose.yml), or it may send a request on a connection the app is just closing.
KEEP_ALIVE_S = 5
# The interim response uvicorn's cycle writes when a request expects it (RFC 9110 §10.1.1), before any head.
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class HeadTimeoutProtocol(HttpToolsProtocol):
    head_timeout_s: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # One timer per connection, not one per request: a request's head only moves the deadline, and the timer,
        # when it fires early (the deadline moved on), waits again until it (call_later and cancel per keep-alive
        # request were a few µs of each small request).
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_deadline: float | None = None  # None: no request head awaited
        self._head_bytes = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # A keep-alive connection's next request begins (uvicorn then stops its keep-alive timer).
        if self._head_deadline is None and self._awaiting_head():
            self._arm_head_timer()
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = True
        if self._head_deadline is None:  # a pipelined request, begun while the one before it is answered
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        self._head_bytes = False
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:  # the new request's (not an upgrade)
            cycle.transport = OneWrite(self.transport, self.loop)  # type: ignore[assignment]

    def on_response_complete(self) -> None:
        cycle = self.cycle
        held: Any = cycle.transport if cycle is not None else None
        if type(held) is OneWrite:  # a head without a body write (HEAD)
            held.flush()
        super().on_response_complete()

    def _awaiting_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm_head_timer(self) -> None:
        self._head_deadline = deadline = self.loop.time() + self.head_timeout_s
        if self._head_timer is None:
            self._head_timer = self.loop.call_at(deadline, self._head_timer_fired)

    def _disarm_head_timer(self) -> None:
        self._head_deadline = None

    def _head_timer_fired(self) -> None:
        self._head_timer = None
        deadline = self._head_deadline
        if deadline is None:  # no head awaited now
            return
        if self.loop.time() < deadline - 0.005:  # re-armed since it was set (timers are ms-rounded): wait again
            self._head_timer = self.loop.call_at(deadline, self._head_timer_fired)
            return
        self._head_deadline = None
        self._head_timed_out()

    def _head_timed_out(self) -> None:
        if self.transport.is_closing():
            return
        if self._head_bytes:  # a request had begun: say why it ends (RFC 9110 §15.5.9)
            self.transport.write(STATUS_LINE[408] + b"content-length: 0\r\nconnection: close\r\n\r\n")
        self.transport.close()


class OneWrite:
    """The connection's transport as one response's cycle sees it. uvicorn writes a response's head, then its body:
    two system calls, and two wake-ups of the client (over loopback each send also runs the receiver's TCP work).
    The head is held back and goes with the body's first bytes in one ``writelines`` (one ``writev``); a head
    whose body does not follow within this turn of the loop (a stream that computes its first chunk, a HEAD) is
    written on the next turn, or when the response completes or the connection closes.

    It keeps no reference to the cycle (the cycle holds it): a request's objects are freed by reference counting
    as soon as it is answered, never left to the garbage collector."""

    __slots__ = ("transport", "loop", "head", "seen")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self.transport = transport
        self.loop = loop  # asyncio.get_running_loop() is a getpid() system call on Python 3.11
        self.head: bytes | None = None
        self.seen = False  # the head has been written (or is held)

    def write(self, data: bytes) -> None:
        head = self.head
        if head is not None:
            self.head = None
            self.transport.writelines((head, data))
        elif not self.seen and data != CONTINUE:  # before its head a cycle writes nothing but "100 Continue"
            self.seen = True
            self.head = data
            self.loop.call_soon(self.flush)
        else:  # "100 Continue" before the head; body chunks after the first
            self.transport.write(data)

    def flush(self) -> None:
        head = self.head
        if head is not None:
            self.head = None
            self.transport.write(head)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info …: the transport's own
        return getattr(self.transport, name)


def http_protocol(head_timeout_s: float) -> type[HeadTimeoutProtocol]:
    """The protocol class for uvicorn's ``http=``, with its deadline (uvicorn instantiates the class itself)."""
    return type("HeadTimeoutProtocol", (HeadTimeoutProtocol,), {"head_timeout_s": head_timeout_s})


class WebSocketProtocol(WebSocketsSansIOProtocol):
    paused = False  # the transport's buffer is over its high-water mark (uvicorn's ``writable`` is clear)

    async def run_asgi(self) -> None:
        extensions: dict[str, Any] = self.scope["extensions"]
        extensions[SEND_NOWAIT] = self.send_text_nowait
        extensions[SEND_FRAME_NOWAIT] = self.send_frame_nowait
        await super().run_asgi()

    def pause_writing(self) -> None:
        self.paused = True
        super().pause_writing()

    def resume_writing(self) -> None:
        self.paused = False
        super().resume_writing()

    def _writable_now(self) -> bool:
        """Whether a text frame may be written at once: where the ASGI ``websocket.send`` would not wait (the
        transport's buffer is over its high-water mark: the caller's slow path waits, and the relay's queue
        bounds what waits) nor fail (not accepted, closing, closed)."""
        if (self.paused or self.close_sent or self.disconnected or not self.handshake_complete
                or self.initial_response is not None or self.transport.is_closing()):
            return False
        conn = self.conn
        return conn.state is State.OPEN and not conn.expect_continuation_frame

    def send_text_nowait(self, text: bytes) -> bool:
        """Write one text frame now; False where ``_writable_now`` says no."""
        if not self._writable_now():
            return False
        conn = self.conn
        if conn.extensions:  # permessage-deflate: websockets compresses (and keeps its context)
            conn.send_text(text)
            self.transport.write(b"".join(conn.data_to_send()))
        else:
            self.transport.write(text_frame(text))
        return True

    def send_frame_nowait(self, frame: bytes) -> bool:
        """Write ``frame`` (a whole text frame, ``graph.fanout.text_frame``) now; False on a connection with an
        extension (its frames are compressed), and where ``_writable_now`` says no."""
        # ``_writable_now`` spelled out, and the cheapest checks first: once per subscriber of every fan-out.
        if (self.paused or self.close_sent or self.disconnected or not self.handshake_complete
                or self.initial_response is not None):
            return False
        conn, transport = self.conn, self.transport
        if conn.extensions or conn.expect_continuation_frame or conn.state is not State.OPEN or transport.is_closing():
            return False
        transport.write(frame)
        return True


def server_config(app: Starlette, settings: Settings, *, host: str, port: int, log_level: str) -> uvicorn.Config:
    """The public listener. uvicorn's own access log is off: it prints query strings (the app has its own)."""
    return uvicorn.Config(app, host=host, port=port, loop="uvloop", http=http_protocol(settings.http_header_timeout_s),
                          ws=WebSocketProtocol, ws_per_message_deflate=settings.ws_compression,
                          log_level=log_level, log_config=None, proxy_headers=True, server_header=False,
                          access_log=False, timeout_keep_alive=KEEP_ALIVE_S,
                          timeout_graceful_shutdown=settings.shutdown_timeout_s)


def metrics_app() -> Starlette:
    """/metrics and nothing else, without credentials: for a port only a scraper on a private network reaches."""
    from app.main import metrics

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])


def metrics_config(settings: Settings, *, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(metrics_app(), host=host, port=port, loop="uvloop",
                          http=http_protocol(settings.http_header_timeout_s), ws="none", lifespan="off",
                          log_level=log_level, log_config=None, server_header=False, access_log=False,
                          timeout_keep_alive=KEEP_ALIVE_S)


class _SideServer(uvicorn.Server):
    """A second listener in the same loop: signals are the main server's business."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _Server(uvicorn.Server):
    """The public listener, with ``side`` (the metrics port) beside it: started after it, stopped before it
    finishes (uvicorn ends by re-raising the stop signal, which ends the process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn ends by re-raising the stop signal once this exits: the log's last lines are written first.
        with super().capture_signals():
            try:
                yield
            finally:
                flush_logs()

    def __init__(self, config: uvicorn.Config, side: uvicorn.Config | None):
        super().__init__(config)
        self.side = _SideServer(side) if side is not None else None
        self.side_task: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.side is not None and not self.should_exit:
            self.side_task = asyncio.create_task(self.side.serve(), name="metrics listener")

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.side is not None and self.side_task is not None:
            self.side.should_exit = True
            await self.side_task
        await super().shutdown(sockets)


def run(main: uvicorn.Config, side: uvicorn.Config | None = None) -> None:
    """Serve until a stop signal: the main listener, and ``side`` too when given."""
    with asyncio.Runner(loop_factory=main.get_loop_factory()) as runner:
        runner.run(_Server(main, side).serve())
