"""What one audited access costs the app, stage by stage: CPU µs per AuditEvent, off the request path.

    python bench/audit_bench.py [--records 20000] [--batch 500] [--rounds 3]

The recorder's pipeline (auth/audit.py, store/audit.py) run in this process over ``--records`` reads of
Patients by one API-key client, in batches of ``--batch`` as the flusher writes them: building the BALP
AuditEvent (auth/balp.py ``audit_event``), giving it the batch's ``meta``, its search keys (``audit_keys``), the
stored document (store/layout.py ``document``), its BSON (what PyMongo's encoder does inside ``insert_many``),
and the insert itself into the embedded store (unless MONGODB_URI is set): this process's CPU time (encoding,
the socket write, the reply), not the database's. Each figure is the best of ``--rounds`` (process CPU time, so
a loaded machine moves it less than wall time). ``bench/rest_bench.py --audit off,on`` gives the whole-request
view: this is the part of it the audit trail's own code accounts for.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

import bson
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from auth.balp import Access, audit_event  # noqa: E402
from auth.principal import Principal  # noqa: E402
from bench.common import store_uri  # noqa: E402
from store.audit import audit_keys  # noqa: E402
from store.clock import now_instant  # noqa: E402
from store.layout import document  # noqa: E402
from store.writes import server_meta  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("build", "meta", "keys", "document", "bson", "insert")


async def one_round(uri: str, db: str, records: int, batch: int) -> dict[str, float]:
    reader = Principal(tenant="bench", subject="api-key:bench", scopes=frozenset({"system/*.*"}), via="api-key")
    accesses = [Access(time.time(), reader, "read", 200, "Patient", f"pat-{i:07d}") for i in range(records)]
    spent = dict.fromkeys(STAGES, 0.0)
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(uri)
    collection = client[db]["AuditEvent"]
    await collection.insert_one({"_id": f"warm-{uuid.uuid4().hex}"})
    try:
        for start in range(0, records, batch):
            clock = time.process_time
            t0 = clock()
            events = [audit_event(a, "fhirgraph") for a in accesses[start:start + batch]]
            t1 = clock()
            stamp = now_instant()
            meta = server_meta({}, 1, stamp, stamp)
            resources = [{"resourceType": "AuditEvent", "id": e["id"], "meta": meta, **e} for e in events]
            t2 = clock()
            memo: dict[tuple[str, object], list[object]] = {}
            keys = [audit_keys(r, memo) for r in resources]
            t3 = clock()
            docs = [document("bench", r, 1, stamp, keys=k) for r, k in zip(resources, keys, strict=True)]
            t4 = clock()
            for d in docs:
                bson.encode(d)  # measured apart; insert_many encodes again (its own figure includes that)
            t5 = clock()
            await collection.insert_many(docs, ordered=False)
            t6 = clock()
            for stage, took in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True):
                spent[stage] += took
    finally:
        await client.drop_database(db)
        await client.close()
    return {stage: took / records * 1e6 for stage, took in spent.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20_000, help="AuditEvents per round (default: 20000)")
    ap.add_argument("--batch", type=int, default=500, help="records per batch, as the flusher's batch_size "
                                                            "(default: 500)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; the best of each stage is printed (default: 3)")
    args = ap.parse_args()
    with store_uri(ROOT) as (uri, engine):
        best = dict.fromkeys(STAGES, float("inf"))
        for _ in range(args.rounds):
            got = asyncio.run(one_round(uri, f"fhirgraph_auditbench_{uuid.uuid4().hex[:8]}", args.records,
                                        args.batch))
            best = {stage: min(best[stage], got[stage]) for stage in STAGES}
    print(f"{args.records} AuditEvents in batches of {args.batch}, best of {args.rounds} rounds; engine: {engine}\n")
    print("CPU µs per record, this process:")
    for stage in STAGES:
        print(f"  {stage:<10}{best[stage]:8.1f}")
    print(f"  {'total':<10}{sum(best.values()) - best['bson']:8.1f}  (bson is inside insert: counted once)")

if __name__ == "__main__":
    main()
