"""The command table, and the one lock every command runs under."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from store.devdb import admin, reads, replayable, writes
from store.devdb.codec import Doc
from store.devdb.context import Command, Context
from store.devdb.errors import CommandError, error_reply
from store.devdb.heap import HeapKeeper
from store.devdb.index import file_some

if TYPE_CHECKING:
    from store.devdb.journal import Journal

TTL_SWEEP_S = 1.0
# devdb is idle when at most QUIET commands came in each of the last QUIET_TICKS ticks of IDLE_TICK_S — the store's
# own polls (token revocations, jobs, subscriptions: ~2 a tick) are a quiet store; a served load is thousands, and
# what a load leaves in flight lands within a tick or two of its end — and it then files index entries
# (``file_idle``), IDLE_SLICE documents at a time (~15 ms of AuditEvents: a command waits at most that).
IDLE_TICK_S, QUIET, QUIET_TICKS, IDLE_SLICE = 0.25, 8, 2, 200

COMMANDS: dict[str, Command] = {
    "hello": admin.hello, "isMaster": admin.hello, "ismaster": admin.hello, "ping": admin.empty,
    "buildInfo": admin.build_info, "buildinfo": admin.build_info, "getParameter": admin.get_parameter,
    "getCmdLineOpts": admin.cmd_line_opts, "serverStatus": admin.server_status,
    "listDatabases": admin.list_databases,
    "endSessions": admin.empty, "killSessions": admin.empty, "refreshSessions": admin.empty,
    "abortTransaction": admin.no_txn, "commitTransaction": admin.no_txn,
    "find": reads.find, "getMore": reads.get_more, "killCursors": reads.kill_cursors, "insert": writes.insert,
    "update": writes.update, "delete": writes.delete, "findAndModify": writes.find_and_modify,
    "aggregate": reads.aggregate, "count": reads.count, "distinct": reads.distinct, "explain": reads.explain,
    "createIndexes": admin.create_indexes, "listIndexes": admin.list_indexes,
    "fhirgraphBuildIndexes": admin.build_indexes,
    "dropIndexes": admin.drop_indexes,
    "listCollections": admin.list_collections, "create": admin.create, "drop": admin.drop,
    "dropDatabase": admin.drop_database,
}
WRITES = frozenset({"insert", "update", "delete", "findAndModify"})
# What the journal logs: the writes, and what changes indexes and namespaces (an aggregate only with $out/$merge).
LOGGED = WRITES | {"createIndexes", "dropIndexes", "create", "drop", "dropDatabase", "aggregate"}


class Engine:
    """Runs MongoDB commands against one in-memory mongomock server, one command at a time."""

    def __init__(self) -> None:
        self.context = Context()
        self._lock = threading.Lock()
        self._last_ttl_sweep = 0.0
        # Set when devdb is a process of its own (main_devdb): keeps what it stores out of the collector's way.
        self.heap: HeapKeeper | None = None
        # Set with --data-dir (store/devdb/journal.py): every write command is logged as it runs.
        self.journal: Journal | None = None
        self.commands = 0  # run so far
        self._commands_seen = 0  # by the last ``file_idle``
        self._quiet_calls = 0  # calls of ``file_idle`` in a row that found it quiet
        # (db, collection) written since idle filing last found nothing left to file there (``file_idle``)
        self.unfiled: dict[tuple[str, str], None] = {}

    def run(self, db: str, cmd: Doc, conn_id: int = 0) -> Doc:
        """Execute one command and return its reply; every failure becomes an error reply."""
        name = next(iter(cmd), "")
        with self._lock:
            self.commands += 1
            self.context.conn_id = conn_id
            try:
                handler = COMMANDS.get(name)
                if handler is None:
                    supported = ", ".join(sorted(COMMANDS))
                    raise CommandError(59, f"no such command: '{name}' (devdb supports: {supported})")
                if "txnNumber" in cmd or "startTransaction" in cmd:
                    raise CommandError(20, admin.NO_TXN)
                self._sweep_ttl()
                if name in WRITES:  # (before: a write that fails may have changed documents all the same)
                    self.unfiled[(db, str(cmd[name]))] = None
                reply = self._execute(handler, db, name, cmd)
                if self.heap is not None and name in WRITES:
                    self.heap.wrote()
            except Exception as exc:  # the protocol boundary: a failure is a reply, never a lost connection
                return error_reply(exc)
        reply.setdefault("ok", 1.0)
        return reply

    def file_idle(self, most: int = IDLE_SLICE, quiet: int = QUIET, calls: int = QUIET_TICKS) -> int:
        """When at most ``quiet`` commands ran since each of its last ``calls`` calls (store/devdb/server.py calls
        it every ``IDLE_TICK_S``, and at once again after a slice): file up to ``most`` of the documents written
        since their collection's indexes last looked (store/devdb/index.py files them lazily, on a collection's
        next query), so that a collection written far more often than it is queried — the audit trail — leaves its
        next query little to file, instead of every document written since the last one (at ~60 µs an AuditEvent,
        seconds after a busy hour); the indexes of a collection never queried are built so, a slice at a time.
        Only the collections written since it last found nothing to file are looked at. Returns how many
        documents it filed (0: none was waiting, or not idle)."""
        ran, self._commands_seen = self.commands - self._commands_seen, self.commands
        self._quiet_calls = self._quiet_calls + 1 if ran <= quiet else 0
        if self._quiet_calls < calls:
            return 0
        with self._lock:
            databases = self.context.client._store._databases
            while self.unfiled:
                db, name = where = next(iter(self.unfiled))
                store = getattr(databases.get(db), "_collections", {}).get(name)
                filed = 0 if store is None else file_some(store, most)
                if store is None or not store._documents.changes:
                    del self.unfiled[where]
                if filed:
                    return filed
        return 0

    def replay(self, db: str, cmd: Doc) -> Doc:
        """Run a logged command again (start-up): as ``run`` does, but with no TTL sweep (the log holds the
        sweeps' deletes) and nothing logged."""
        with self._lock:
            try:
                reply = COMMANDS[next(iter(cmd))](self.context, db, cmd)
            except Exception as exc:
                return error_reply(exc)
        reply.setdefault("ok", 1.0)
        return reply

    def locked(self, action: Callable[[Context], None]) -> None:
        with self._lock:
            action(self.context)

    def _execute(self, handler: Command, db: str, name: str, cmd: Doc) -> Doc:
        if self.journal is not None and name in LOGGED:
            return self.journal.run(self.context, db, name, cmd, handler)
        return handler(self.context, db, cmd)

    def _sweep_ttl(self) -> None:
        now = time.monotonic()
        if now - self._last_ttl_sweep < TTL_SWEEP_S:
            return
        self._last_ttl_sweep = now
        for db_name, db_store in list(self.context.client._store._databases.items()):
            for coll_name, coll_store in list(db_store._collections.items()):
                for index in list(coll_store.indexes.values()):
                    if index.get("expireAfterSeconds") is None:
                        continue
                    # A delete of what is older than a fixed cutoff, through the index (with a data dir logged
                    # like any delete: a replay removes the same documents).
                    if self.journal is None:
                        at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
                        if (expiry := replayable.expiry(coll_name, index, at)) is not None:
                            writes.delete(self.context, db_name, expiry)
                    elif (expiry := self.journal.expiry(coll_name, index)) is not None:
                        self.journal.run(self.context, db_name, "delete", expiry, writes.delete)
