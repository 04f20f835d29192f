"""What one audited access costs the app, stage by stage: CPU µs per AuditEvent, off the request path.

    python bench/audit_bench.py [--records 20000] [--batch 500] [--rounds 3] [--idle 0]

The recorder's pipeline (auth/audit.py, store/audit.py) run in this process over ``--records`` reads of
Patients by one API-key client, in batches of ``--batch`` as the flusher writes them: building the BALP
AuditEvent (auth/balp.py ``audit_event``), giving it the batch's ``meta``, its search keys (``audit_keys``), the
stored document (store/layout.py ``document``), its BSON (what PyMongo's encoder does inside ``insert_many``),
and the insert itself into the embedded store (unless MONGODB_URI is set): this process's CPU time (encoding,
the socket write, the reply), not the database's. Each figure is the best of ``--rounds`` (process CPU time, so
a loaded machine moves it less than wall time). ``bench/rest_bench.py --audit off,on`` gives the whole-request
view: this is the part of it the audit trail's own code accounts for. The last stage is devdb filing the
records in the collection's indexes, which the first search after them pays for (its wall time is printed too);
``--idle S`` waits S seconds before that search, as an auditor's would come after a quiet moment, in which devdb
files them while idle (store/devdb/engine.py ``file_idle``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
import uuid
from pathlib import Path

import orjson
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.audit_writer import HEADER, encode, row, store_rows  # noqa: E402
from auth.balp import Access, audit_event  # noqa: E402
from auth.principal import Principal  # noqa: E402
from bench.common import cpu_seconds, store_uri  # noqa: E402
from store.audit import AuditLog  # noqa: E402
from store.indexes import models_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("app: rows + frame", "writer: decode", "writer: store", "devdb insert", "devdb indexes")


def devdb_pid() -> int | None:
    """This process's devdb child (bench/common.py ``store_uri``), whose CPU time is the database's share."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text().rpartition(")")[2].split()
                if int(stat[1]) == os.getpid() and b"devdb" in (entry / "cmdline").read_bytes():
                    return int(entry.name)
    return None


async def one_round(uri: str, db: str, records: int, batch: int, server: int | None, idle_s: float
                    ) -> dict[str, float]:
    readers = [Principal(tenant="bench", subject=f"api-key:bench{i}", scopes=frozenset({"system/*.*"}), via="api-key")
               for i in range(4)]
    accesses = [Access(time.time(), readers[i % 4], "read", 200, "Patient", f"pat-{i:07d}") for i in range(records)]
    spent = dict.fromkeys(STAGES, 0.0)
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(uri)
    await client[db]["AuditEvent"].create_indexes(models_for("AuditEvent"))
    audit_log = AuditLog(client[db])
    await audit_log.append("bench", [audit_event(accesses[0], "fhirgraph")])  # the connection, the collection
    clock = time.process_time
    try:
        for start in range(0, records, batch):
            t0 = clock()
            frame = encode({"seq": 1, "tenant": "bench", "rows": [row(a) for a in accesses[start:start + batch]]})
            t1 = clock()
            rows = orjson.loads(frame[HEADER.size:])["rows"]
            t2 = clock()
            db0 = server_seconds(server)
            await store_rows(audit_log, "bench", rows, "fhirgraph")
            t3 = clock()
            spent["devdb insert"] += server_seconds(server) - db0
            for stage, took in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2), strict=False):
                spent[stage] += took
        await asyncio.sleep(idle_s)
        db0, t0 = server_seconds(server), time.perf_counter()  # what devdb has not filed yet, the search files
        await client[db]["AuditEvent"].find_one({"_sys.tenant": "bench", "_sys.k.patient": "Patient/pat-0000001"})
        first_search_s = time.perf_counter() - t0
        spent["devdb indexes"] += server_seconds(server) - db0
    finally:
        await client.drop_database(db)
        await client.close()
    return {**{stage: took / records * 1e6 for stage, took in spent.items()}, "first search ms": first_search_s * 1e3}


def server_seconds(pid: int | None) -> float:
    return cpu_seconds(pid) if pid is not None else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20_000, help="AuditEvents per round (default: 20000)")
    ap.add_argument("--batch", type=int, default=500, help="records per batch, as the flusher's batch_size "
                                                            "(default: 500)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; the best of each stage is printed (default: 3)")
    ap.add_argument("--idle", type=float, default=0.0, help="seconds to wait before the first search after the "
                                                              "records (default: 0)")
    args = ap.parse_args()
    with store_uri(ROOT) as (uri, engine):
        best = dict.fromkeys([*STAGES, "first search ms"], float("inf"))
        for _ in range(args.rounds):
            got = asyncio.run(one_round(uri, f"fhirgraph_auditbench_{uuid.uuid4().hex[:8]}", args.records,
                                        args.batch, devdb_pid() if engine == "devdb" else None, args.idle))
            best = {stage: min(best[stage], got[stage]) for stage in best}
    print(f"{args.records} AuditEvents in batches of {args.batch}, best of {args.rounds} rounds; engine: {engine}\n")
    print("CPU µs per record:")
    for stage in STAGES:
        print(f"  {stage:<20}{best[stage]:8.1f}")
    print(f"  {'total':<20}{sum(best[stage] for stage in STAGES):8.1f}")
    print(f"\nthe first search after them, {args.idle:g} s later: {best['first search ms']:.1f} ms")

if __name__ == "__main__":
    main()
