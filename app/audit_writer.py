"""The audit writer process: the PHI audit trail's AuditEvents built and stored outside the app's process.

Why: building an AuditEvent (IHE BALP, auth/balp.py), keying it for search and encoding it as BSON costs about
50 µs of CPU per record, spent on the event loop that serves the reads it audits: an audited read cost about 1.5
unaudited ones (bench/README.md, "The PHI audit trail"). The trail (auth/audit.py) still takes every access on
the request and batches, retries, holds back requests when full and drains at shutdown exactly as before; only
its sink differs. The app ships each batch as compact rows — the access's plain values and the record's id,
fixed in the app so that a batch retried after a failure stores each record once — over a pipe to a child
process, which builds the AuditEvents' stored documents (store/audit.py ``Batch``, the same code as in-process;
most of them copied from a per-batch template: app/audit_template.py), appends them to the store and answers how
many it stored. ``FHIRGRAPH_AUDIT_WRITER=inline`` keeps the work in the app's process.

The protocol, on the child's stdin and stdout: frames of a 4-byte big-endian length and an orjson body.

- First (app → child) the configuration: ``{uri, password, db, timeout_s, observer, log_level, log_format}``
  (secrets travel on the pipe, never on the command line); the child answers ``{"ready": true}`` once it reached
  the store, else ``{"error": <kind>}``.
- Then per batch ``{"seq": n, "tenant": t, "rows": [...]}``, answered ``{"seq": n, "written": k}``, or
  ``{"seq": n, "unavailable": <kind>}`` (the store could not take it: the trail keeps it and retries), or
  ``{"seq": n, "refused": <kind>}`` (the store refused the batch itself: retrying would fail the same).

Lifetime: one per app process, started with the app's lifespan; when it has died, the next batch starts another
(the batch in flight is retried with the same ids). It ignores SIGINT and SIGTERM — a Ctrl+C or a stop signal sent
to the whole process group must not end it before the app's shutdown has drained the trail through it — and ends
when its stdin closes: the app closing it at shutdown, or the app's own death.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import struct
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from app.audit_template import Templates
from auth.balp import Access, fresh_id
from store.audit import AuditLog
from store.errors import DomainError, Invalid, Unavailable
from store.types import PrincipalLike

log = logging.getLogger("fhirgraph.audit")
HEADER = struct.Struct(">I")
START_S = 60.0  # a child's start: the interpreter, its imports and its first store round trip
CLOSE_S = 10.0  # after its stdin closed, a child still answering its last batch
ROOT = str(Path(__file__).resolve().parents[1])  # where the app's packages are, wherever it runs from


class RowPrincipal(NamedTuple):
    """What an AuditEvent names of its caller (auth/balp.py ``agents`` and ``entities_of``), as a row carries it."""

    tenant: str
    subject: str
    client_id: str | None
    user: str | None
    via: str
    patient: str | None


def _who(principal: PrincipalLike) -> list[Any]:
    return [principal.tenant, principal.subject, getattr(principal, "client_id", None),
            getattr(principal, "user", None), getattr(principal, "via", "token"), getattr(principal, "patient", None)]


_cached_who = lru_cache(maxsize=4096)(_who)  # the same few principals make most requests


def row(access: Access) -> list[Any]:
    """``access`` as the child rebuilds it (``access_of``), with the id its AuditEvent will have."""
    principal = access.principal
    who = None
    if principal is not None:
        try:
            who = _cached_who(principal)  # type: ignore[arg-type]
        except TypeError:  # a principal that is not hashable
            who = _who(principal)
    return [fresh_id(), access.at, who, access.interaction, access.status, access.rt, access.rid, access.vid,
            access.query, access.patient, access.types, access.action, access.description]


def access_of(item: list[Any]) -> tuple[str, Access]:
    """The id and the access of a row."""
    event_id, at, who, interaction, status, rt, rid, vid, query, patient, types, action, description = item
    principal = RowPrincipal(*who) if who is not None else None
    return event_id, Access(at, principal, interaction, status, rt, rid, vid, query, patient, tuple(types), action,
                            description)


async def store_rows(audit_log: AuditLog, tenant: str, rows: list[list[Any]], observer: str) -> int:
    """A batch's rows stored as their AuditEvents in ``tenant``'s trail; how many were new (``AuditLog.append``).
    Encoded from templates where they fit (app/audit_template.py): nothing else runs on this process's loop."""
    templates = Templates(audit_log.batch(tenant), observer)
    return await audit_log.append_encoded(tenant, [templates.encoded(*access_of(item)) for item in rows])


def encode(message: dict[str, Any]) -> bytes:
    body = orjson.dumps(message)
    return HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None at the end of the stream."""
    try:
        head = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError:
        return None
    message: dict[str, Any] = orjson.loads(await reader.readexactly(HEADER.unpack(head)[0]))
    return message


class WriterProcess:
    """The trail's sink (auth/audit.py ``AuditSink``) that hands each batch to the audit writer process."""

    def __init__(self, config: dict[str, Any], *, answer_s: float):
        self._config = config
        self._answer_s = answer_s  # a batch's answer, past the child's own store deadline
        self._proc: asyncio.subprocess.Process | None = None
        self._seq = 0
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    def prepare(self, access: Access, observer: str) -> list[Any]:
        return row(access)

    async def start(self) -> None:
        """Start the child now (the lifespan: a writer that cannot start is an error at start-up, not later)."""
        async with self._lock:
            await self._running()

    async def append(self, tenant: str, items: list[Any]) -> int:
        async with self._lock:  # one batch at a time
            proc = await self._running()
            assert proc.stdin is not None and proc.stdout is not None
            self._seq += 1
            seq = self._seq
            try:
                async with asyncio.timeout(self._answer_s):
                    proc.stdin.write(encode({"seq": seq, "tenant": tenant, "rows": items}))
                    await proc.stdin.drain()
                    while True:
                        reply = await read_frame(proc.stdout)
                        if reply is None:
                            raise ConnectionError("the audit writer ended")
                        if reply.get("seq") == seq:
                            break
            except (TimeoutError, ConnectionError) as exc:
                # Whatever the child was doing, the batch is retried whole by a fresh one (same ids: no doubles).
                log.warning("audit writer: %s; starting another", "no answer in time" if isinstance(
                    exc, TimeoutError) else "it ended")
                await self._end(kill=True)
                raise Unavailable("The audit writer did not answer") from None
        if "written" in reply:
            return int(reply["written"])
        if "unavailable" in reply:
            raise Unavailable(f"The audit writer could not store the batch ({reply['unavailable']})")
        raise Invalid(f"The audit writer's store refused the batch ({reply.get('refused')})")

    async def close(self) -> None:
        async with self._lock:
            await self._end(kill=False)

    async def _running(self) -> asyncio.subprocess.Process:
        if self._proc is not None and self._proc.returncode is None:
            return self._proc
        path = os.environ.get("PYTHONPATH")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.audit_writer", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": ROOT + (os.pathsep + path if path else "")})
        assert proc.stdin is not None and proc.stdout is not None
        try:
            async with asyncio.timeout(START_S):
                proc.stdin.write(encode(self._config))
                await proc.stdin.drain()
                reply = await read_frame(proc.stdout)
        except (TimeoutError, ConnectionError):
            reply = None
        if not reply or reply.get("ready") is not True:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            why = reply.get("error") if reply else "no answer"
            raise Unavailable(f"The audit writer could not start ({why})")
        self._proc = proc
        return proc

    async def _end(self, *, kill: bool) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        if kill:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        else:
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            async with asyncio.timeout(CLOSE_S):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


# ---------------------------------------------------------------------------------------------- the child


async def _child() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the app drains through it at shutdown (module docstring)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    answers = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # nothing else ever reaches the answers' pipe
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0))

    config = await read_frame(reader)
    if config is None:
        return 0
    from app.logs import configure
    from store.client import open_store
    from store.driver import deadline

    configure(config.get("log_level", "INFO"), config.get("log_format", "text"))
    observer = config["observer"]
    try:
        handle = await open_store(config["uri"], config["db"], create_indexes=False,
                                  timeout_s=config["timeout_s"], password=config.get("password"))
    except DomainError as exc:
        answers.write(encode({"error": type(exc).__name__}))
        return 1
    answers.write(encode({"ready": True}))
    audit_log = handle.repo.audit_log
    try:
        while (batch := await read_frame(reader)) is not None:
            answer: dict[str, Any] = {"seq": batch["seq"]}
            try:
                with deadline(config["timeout_s"]):
                    answer["written"] = await store_rows(audit_log, batch["tenant"], batch["rows"], observer)
            except Unavailable as exc:
                answer["unavailable"] = type(exc).__name__
            except DomainError as exc:
                answer["refused"] = type(exc).__name__
            answers.write(encode(answer))
    finally:
        await handle.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_child()))
