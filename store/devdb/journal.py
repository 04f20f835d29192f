"""devdb's optional persistence (``--data-dir D``): a write-ahead log of the write commands, and snapshots.

Every write command (insert, update, delete, findAndModify, createIndexes, dropIndexes, create, drop,
dropDatabase, an aggregate with $out/$merge, and the TTL sweep's deletes) is appended to the log as the
engine ran it, with what the server chose resolved (store/devdb/replayable.py), right after it ran and before
its reply is sent. The server sends no reply while anything appended is not yet on disk (``flush``): one
fdatasync for all the commands that arrived meanwhile (group commit), so what a client saw acknowledged —
and anything it read — survives ``kill -9``.

Once the log has grown to twice the last snapshot's size (at least ``SNAPSHOT_MIN_BYTES``), a snapshot is taken
without stopping the store: under the engine's lock, in the same instant, the state is captured
(store/devdb/snapshot.py: references to the stored documents' immutable bytes, milliseconds for a 1,000-patient
demo clinic) and the log moves on to its next file; then a background thread encodes and writes the snapshot
(temporary file, fsync, rename) while the store keeps serving, and only once it is durable deletes the logs it
covers. Writes made meanwhile go to the new log, which the snapshot's header names as the first one to replay
after it, so a crash at any point (before the rename: the old snapshot and every log; after it: the new snapshot
and the logs after it) loses nothing acknowledged. Starting replays the snapshot and then the logs after it
through the engine's own commands; a torn last record is dropped.

Why the sync: a process killed with ``kill -9`` loses nothing the kernel already has, but a machine that stops
(power, a VM killed) loses what was not synced; syncing before replying makes both cases the same.

Files in D: ``LOCK`` (held by the one process that owns D), ``snapshot`` and ``log.<generation>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import gc
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bson

from store.devdb import replayable, snapshot
from store.devdb.codec import CODEC, Doc
from store.devdb.context import Command, Context
from store.devdb.errors import CommandError
from store.devdb.wal import LOG_MAGIC, SNAPSHOT_MAGIC, AppendFile, DataDirError, Reading, frame, records, truncate

if TYPE_CHECKING:
    from store.devdb.engine import Engine

log = logging.getLogger("fhirgraph.devdb")

# A snapshot once the log has grown to twice the last one (at least 32 MiB): its cost (encoding and writing the
# whole state, in the background) comes at most once per that much writing, and a restart replays at most that
# much log.
SNAPSHOT_MIN_BYTES, SNAPSHOT_EVERY = 32 * 1024 * 1024, 2


class Journal:
    """The log and snapshots of one data dir, hooked into an engine (``Engine.journal``)."""

    def __init__(self, data_dir: str | os.PathLike[str], *, snapshot_min_bytes: int = SNAPSHOT_MIN_BYTES):
        self.dir = Path(data_dir).resolve()
        self.snapshot_min_bytes = snapshot_min_bytes
        self._lock_fd = _lock(self.dir)
        self._log: AppendFile | None = None
        self._generation = 0
        self._written = self._synced = 0  # bytes appended / known durable, over every log file
        self._io = threading.Lock()  # a sync never races the log file being switched and closed
        self._flushing: asyncio.Future[None] | None = None
        self._failed: str | None = None
        self._log_bytes = 0  # appended since the last snapshot was read
        self._snapshot_bytes = 0
        self._snapshotting: threading.Thread | None = None

    # --- start-up --------------------------------------------------------------------------------------------

    def recover(self, engine: Engine) -> str:
        """Rebuild ``engine`` from the snapshot and logs, open the next log; returns a line saying what was read."""
        # Every document replayed lives on: collecting while they pile up would only walk them again and again.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._recover(engine)
        finally:
            if engine.heap is not None:
                gc.freeze()  # devdb's own process: what was read is held for good (store/devdb/heap.py)
            if collecting:
                gc.enable()

    def _recover(self, engine: Engine) -> str:
        started = time.perf_counter()
        found = _Found()
        replayed = diverged = 0
        for entry in _entries(self.dir, found):
            reply = engine.replay(entry["db"], entry["cmd"])
            if "outcome" in entry:  # a logged command (a snapshot's are rebuilding, and always succeed)
                diverged += _outcome(reply) != entry["outcome"]
                replayed += 1
        for path in found.covered:
            path.unlink()  # covered by the snapshot (a crash came before they were deleted)
        if found.torn:
            path, good_end = found.torn
            if good_end == 0:
                path.unlink()
            else:
                truncate(path, good_end)
        self._snapshot_bytes, self._log_bytes = found.snapshot_bytes, found.log_bytes
        self._generation = max([found.log_from - 1, *found.generations]) + 1
        self._log = AppendFile(self._log_path(self._generation), LOG_MAGIC)
        if diverged:
            log.warning("devdb: %d of %d logged commands did not repeat their outcome when replayed", diverged,
                        replayed)
        torn = f"; a torn last record ({found.torn_bytes} bytes) dropped" if found.torn else ""
        return (f"{'snapshot and ' if found.snapshot_bytes else ''}{replayed} logged commands read in "
                f"{time.perf_counter() - started:.1f}s{torn}")

    # --- the engine's hook -----------------------------------------------------------------------------------

    def run(self, ctx: Context, db: str, name: str, cmd: Doc, handler: Command) -> Doc:
        """Run one write command (under the engine's lock) and append it to the log."""
        if name == "aggregate" and not replayable.writes_collection(cmd.get("pipeline")):
            return handler(ctx, db, cmd)
        if self._failed is not None:
            raise CommandError(20, f"devdb cannot write to its data dir ({self._failed}): restart it")
        cmd = replayable.before(name, cmd)
        reply: Doc | None = None
        try:
            reply = handler(ctx, db, cmd)
            return reply
        finally:  # a failed command is logged too: whatever it changed before it failed, its replay changes
            if not replayable.changed_nothing(name, reply):
                self._append(db, replayable.after(name, cmd, reply), reply)
                if self._log_bytes >= max(self.snapshot_min_bytes, SNAPSHOT_EVERY * self._snapshot_bytes):
                    self._snapshot_safely(ctx)

    def expiry(self, coll: str, index: Any) -> Doc | None:
        """The TTL sweep's delete for ``index`` now, with its cutoff fixed (None: none to make)."""
        if self._failed is not None:
            return None
        return replayable.expiry(coll, index, dt.datetime.now(dt.UTC).replace(tzinfo=None))

    # --- durability ------------------------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        return self._synced < self._written

    async def flush(self) -> bool:
        """Wait until everything appended so far is on disk (False: it cannot be; the log is failed)."""
        target = self._written
        while self._synced < target and self._failed is None and self._log is not None:
            if self._flushing is None or self._flushing.done():
                self._flushing = asyncio.ensure_future(asyncio.to_thread(self._sync))
                self._flushing.add_done_callback(self._flushed)
            await asyncio.shield(self._flushing)
        return self._synced >= target

    def close(self) -> None:
        if self._snapshotting is not None:
            self._snapshotting.join()
        with self._io:
            if self._log is not None:
                with contextlib.suppress(OSError):
                    self._log.sync()
                self._log.close()
                self._log = None
        os.close(self._lock_fd)  # releases the lock

    def _sync(self) -> None:
        with self._io:
            target = self._written
            if self._log is None:
                return
            try:
                self._log.sync()
            except OSError as exc:
                self._fail(exc)
                return
            self._synced = max(self._synced, target)

    def _flushed(self, _: asyncio.Future[None]) -> None:
        self._flushing = None

    def _append(self, db: str, cmd: Doc, reply: Doc | None) -> None:
        entry = {"db": db, "cmd": cmd, "outcome": _outcome(reply)}
        data = frame(bson.encode(entry, codec_options=CODEC))
        if self._log is None or self._failed is not None:  # the command ran: nothing may build on it now
            self._failed = self._failed or "closed"
            raise CommandError(20, "devdb's data dir is closed")
        try:
            self._log.write(data)
        except OSError as exc:
            self._fail(exc)
            raise CommandError(20, f"devdb cannot write to its data dir ({self._failed})") from exc
        self._written += len(data)
        self._log_bytes += len(data)

    def _fail(self, exc: OSError) -> None:
        # From here on memory may hold what the disk does not: refuse every further write.
        self._failed = exc.strerror or type(exc).__name__
        log.error("devdb: writing to its data dir %s failed (%s): it takes no more writes", self.dir, self._failed)

    # --- snapshots -------------------------------------------------------------------------------------------

    def _snapshot_safely(self, ctx: Context) -> None:
        try:
            self._snapshot(ctx)
        except OSError as exc:  # the command was logged: it stands; only the log switch failed
            self._fail(exc)
        except Exception:  # a snapshot is an optimisation: the log alone still holds everything
            log.exception("devdb: capturing a snapshot failed")

    def _snapshot(self, ctx: Context) -> None:
        """Capture the state now and move the log on (the engine's lock is held: both at one instant), then
        write the snapshot in the background."""
        if self._snapshotting is not None and self._snapshotting.is_alive():
            return
        started = time.perf_counter()
        view = snapshot.capture(ctx)
        generation = self._generation + 1
        with self._io:
            old, self._log = self._log, None
            if old is not None:
                old.sync()
                old.close()
            self._log = AppendFile(self._log_path(generation), LOG_MAGIC)
            self._generation, self._synced, self._log_bytes = generation, self._written, 0
        log.info("devdb: snapshot of %d documents captured in %.1f ms (the store's pause); writing it in the "
                 "background", view.documents, (time.perf_counter() - started) * 1000)
        self._snapshotting = threading.Thread(target=self._write_snapshot, args=(view, generation),
                                              name="fhirgraph-devdb-snapshot", daemon=True)
        self._snapshotting.start()

    def _write_snapshot(self, view: snapshot.View, generation: int) -> None:
        started = time.perf_counter()
        try:
            header = {"snapshot": 1, "log_from": generation, "at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}
            self._snapshot_bytes = snapshot.write(self.dir / "snapshot", header, view)
            for old, path in self._logs():  # only now: until the rename, a restart needs them
                if old < generation:
                    path.unlink()
        except OSError as exc:  # the logs it would have replaced are all still there: nothing is lost
            log.error("devdb: writing a snapshot to %s failed (%s)", self.dir, exc.strerror or type(exc).__name__)
        except Exception:  # likewise; a snapshot is an optimisation
            log.exception("devdb: writing a snapshot failed")
        else:
            log.info("devdb: snapshot written (%d bytes) in %.2fs", self._snapshot_bytes,
                     time.perf_counter() - started)

    def _logs(self) -> list[tuple[int, Path]]:
        return _logs(self.dir)

    def _log_path(self, generation: int) -> Path:
        return self.dir / f"log.{generation:08d}"

    def snapshot_now(self, engine: Engine) -> None:
        """Take a snapshot and wait until it is on disk (for tests and benches)."""
        engine.locked(self._snapshot)
        if self._snapshotting is not None:
            self._snapshotting.join()


def _decoded(body: bytes) -> Doc:
    return bson.decode(body, CODEC)


@dataclass
class _Found:
    """What reading a data dir found besides its entries."""

    log_from: int = 1  # the first log generation after the snapshot
    snapshot_bytes: int = 0
    log_bytes: int = 0
    generations: list[int] = field(default_factory=list)  # of the logs read
    covered: list[Path] = field(default_factory=list)  # logs the snapshot already holds
    torn: tuple[Path, int] | None = None  # the last log, and where its good records end
    torn_bytes: int = 0


def _entries(data_dir: Path, found: _Found) -> Iterator[Doc]:
    """Every entry of the snapshot, then of each log after it, in order; a damaged file raises DataDirError."""
    path = data_dir / "snapshot"
    if path.exists():
        bodies = records(path, SNAPSHOT_MAGIC, Reading(), may_be_torn=False)
        header = _decoded(next(bodies, bson.encode({})))
        if header.get("snapshot") != 1:
            raise DataDirError(f"{path} has no snapshot header")
        count = 0
        for body in bodies:
            yield _decoded(body)
            count += 1
        if count != header["records"]:
            raise DataDirError(f"{path} is damaged: {count} of its {header['records']} records")
        found.log_from, found.snapshot_bytes = int(header["log_from"]), path.stat().st_size
    logs = [(g, p) for g, p in _logs(data_dir) if g >= found.log_from]
    found.covered = [p for g, p in _logs(data_dir) if g < found.log_from]
    for i, (generation, log_path) in enumerate(logs):
        reading = Reading()
        for body in records(log_path, LOG_MAGIC, reading, may_be_torn=i == len(logs) - 1):
            yield _decoded(body)
        found.generations.append(generation)
        found.log_bytes += reading.good_end
        if reading.torn:
            found.torn, found.torn_bytes = (log_path, reading.good_end), reading.torn


def _logs(data_dir: Path) -> list[tuple[int, Path]]:
    return sorted((int(p.name[4:]), p) for p in data_dir.glob("log.*") if p.name[4:].isdigit())


def _outcome(reply: Doc | None) -> list[int]:
    """What a replay must repeat of a write's reply: whether it succeeded, how many documents it matched or
    changed, how many of its statements failed."""
    if reply is None or not reply.get("ok", 1.0):
        return [0, 0, 0]
    n = reply["lastErrorObject"].get("n", 0) if "lastErrorObject" in reply else reply.get("n", 0)
    return [1, int(n), len(reply.get("writeErrors") or ())]


def probe(data_dir: str | os.PathLike[str]) -> None:
    """Raise the ``DataDirError`` that opening ``data_dir`` now would raise, if any: its lock held, or a file
    damaged (every record's checksum is checked; nothing is replayed, nothing changed)."""
    path = Path(data_dir).resolve()
    fd = _lock(path)
    try:
        for _ in _entries(path, _Found()):
            pass
    finally:
        os.close(fd)


def _lock(data_dir: Path) -> int:
    """Make ``data_dir`` and take its lock for this process, or say who holds it."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DataDirError(f"cannot use {data_dir} as devdb's data dir: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise DataDirError(f"{data_dir} is in use by another devdb (process {holder}): "
                           "one process owns a data dir") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd
