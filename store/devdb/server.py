"""The devdb TCP server: asyncio over loopback, in a background thread or as its own process."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import signal
import struct
import threading
import time
from typing import cast

import uvloop
from bson.errors import BSONError

from store.devdb import admin, wire
from store.devdb.engine import IDLE_TICK_S, Engine
from store.devdb.errors import CommandError, error_reply
from store.devdb.heap import HeapKeeper
from store.devdb.journal import Journal

log = logging.getLogger("fhirgraph.devdb")


class DevDB:
    """The devdb TCP server: in a background thread (``start_in_thread``) or as its own process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, data_dir: str | None = None):
        """``data_dir``: keep the data there across restarts (store/devdb/journal.py); None: in memory only."""
        self.host, self.port = host, port
        self.data_dir = data_dir
        self.engine = Engine()
        self.recovered = ""  # what start-up read from the data dir
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._filer: asyncio.Task[None] | None = None
        self._conn_ids = itertools.count(1)
        self._reply_ids = itertools.count(1)

    @property
    def uri(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"mongodb://{host}:{self.port}/?directConnection=true"

    async def start(self) -> int:
        """Read the data dir if any, listen (on the running loop) and return the bound port."""
        if self.data_dir is not None and self.engine.journal is None:
            journal = Journal(self.data_dir)
            try:
                self.recovered = journal.recover(self.engine)
                started = time.monotonic()
                # before the first query: at clinic scale the first query of each collection would otherwise
                # build its indexes while requests time out (admin.build_indexes)
                built = admin.build_all_indexes(self.engine.context)
                if built:
                    log.info("devdb: the indexes of %d collections built in %.1f s", built,
                             time.monotonic() - started)
            except BaseException:
                journal.close()
                raise
            self.engine.journal = journal
        self._server = await asyncio.start_server(self._serve_connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._filer = asyncio.get_running_loop().create_task(self._file_when_idle())
        return self.port

    async def _file_when_idle(self) -> None:
        """Engine.file_idle, a slice at a time, whenever the store is quiet."""
        while True:
            filed = self.engine.file_idle()
            await asyncio.sleep(0 if filed else IDLE_TICK_S)  # (between slices: the commands that came meanwhile)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        server = cast(asyncio.Server, self._server)
        try:
            await server.serve_forever()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Stop listening and drop every open connection."""
        if self._filer is not None:
            self._filer.cancel()
            await asyncio.gather(self._filer, return_exceptions=True)
            self._filer = None
        if self._server is not None:
            self._server.close()
        # Close rather than cancel: each handler then sees EOF and returns normally (on Python 3.11 a
        # cancelled stream handler makes asyncio log a spurious CancelledError).
        for writer in self._connections.values():
            writer.close()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        if self.engine.journal is not None:
            self.engine.journal.close()
            self.engine.journal = None

    def where(self) -> str:
        """Where the data lives, for the start-up log."""
        if self.engine.journal is None:
            return "in-memory: data is lost at exit"
        return f"data is kept in {self.engine.journal.dir} ({self.recovered})"

    def start_in_thread(self) -> int:
        """Serve from a daemon thread with its own event loop; return once listening, with the port."""
        ready, failure = threading.Event(), []

        def run() -> None:
            # uvloop, as in its own process (main_devdb): asyncio's own loop spends more of the shared GIL on the
            # same transports and streams
            loop = self._loop = uvloop.new_event_loop()
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                failure.append(exc)
                loop.close()
                return
            finally:
                ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.aclose())
                loop.close()

        self._thread = threading.Thread(target=run, name="fhirgraph-devdb", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self.port

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = cast("asyncio.Task[None]", asyncio.current_task())  # a connection always runs in its own task
        self._connections[task] = writer
        conn_id = next(self._conn_ids)
        self.engine.context.connections += 1
        try:
            while True:
                length, request_id, _, op_code = wire.HEADER.unpack(await reader.readexactly(16))
                if not 16 < length <= wire.MAX_MESSAGE_SIZE:
                    log.warning("devdb: dropping connection %d: message length %d", conn_id, length)
                    break
                reply = self._respond(op_code, request_id, await reader.readexactly(length - 16), conn_id)
                journal = self.engine.journal
                # Nothing is acknowledged (nor shown) before what it rests on is on disk: one sync for all
                # the commands that came meanwhile.
                if reply is not None and journal is not None and journal.dirty and not await journal.flush():
                    break  # the log cannot be written: no acknowledgement at all
                if reply is not None:
                    writer.writelines(reply)  # (uvloop: one writev of the pieces, nothing joined)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        except (ValueError, struct.error, BSONError) as exc:
            log.warning("devdb: dropping connection %d: malformed message: %s", conn_id, exc)
        finally:
            self.engine.context.connections -= 1
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            del self._connections[task]  # only now: aclose() waits for the close above

    def _respond(self, op_code: int, request_id: int, payload: bytes, conn_id: int) -> list[bytes] | None:
        if op_code == wire.OP_MSG:
            flags, cmd = wire.parse_op_msg(payload)
            reply = self.engine.run(str(cmd.get("$db", "test")), cmd, conn_id)
            if flags & wire.MORE_TO_COME:
                return None  # unacknowledged write: the client reads no reply
            return wire.op_msg_parts(next(self._reply_ids), request_id, reply)
        if op_code == wire.OP_QUERY:
            ns, query = wire.parse_op_query(payload)
            if ns.endswith(".$cmd"):
                reply = self.engine.run(ns[: -len(".$cmd")], query, conn_id)
            else:
                reply = error_reply(CommandError(238, f"OP_QUERY on {ns}: only commands are supported"))
            return [wire.op_reply(next(self._reply_ids), request_id, reply)]
        raise ValueError(f"unsupported opCode {op_code}")


def main_devdb(host: str, port: int, data_dir: str | None = None) -> None:
    """Run devdb in the foreground until SIGINT or SIGTERM (`fhirgraph devdb --port P [--data-dir D]`)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    devdb = DevDB(host, port, data_dir)
    devdb.engine.heap = HeapKeeper()  # this process is devdb's alone (store/devdb/heap.py)
    # uvloop, as serve runs: its transports and streams take a sixth less of devdb's CPU per read (bench/README.md).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve_until_signalled(devdb))


async def _serve_until_signalled(devdb: DevDB) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    port = await devdb.start()
    log.warning("fhirgraph devdb listening on %s:%d (%s): an embedded trial/test engine (mongomock behind the "
                "MongoDB wire protocol), not for production; %s", devdb.host, port, devdb.uri, devdb.where())
    await stop.wait()
    await devdb.aclose()
