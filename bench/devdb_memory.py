"""devdb's memory per stored resource: the demo clinic loaded into an in-process devdb, resident size before and
after, and what its in-memory indexes hold.

    python bench/devdb_memory.py [--patients 200]

Prints the resources stored (current and history collections, the outbox and the audit trail included), the
growth of the process's resident set (VmRSS, after a full collection) divided by them, and the index entries
devdb keeps for them (store/devdb/index.py).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import sys
from pathlib import Path
from typing import Any

import pymongo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.demo import load_demo  # noqa: E402
from store.client import open_store  # noqa: E402
from store.devdb import DevDB  # noqa: E402
from store.types import SystemPrincipal  # noqa: E402


def rss_bytes() -> int:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def held(devdb: DevDB) -> tuple[int, int]:
    """(documents stored, index entries held) across every collection of the engine."""
    documents = entries = 0
    for db_store in devdb.engine.context.client._store._databases.values():
        for coll_store in db_store._collections.values():
            documents += len(coll_store._documents)
            state: Any = coll_store.__dict__.get("_devdb_indexes")
            if state is not None:
                entries += sum(len(ix.entries) for ix in state.by_name.values())
    return documents, entries


async def run(patients: int) -> None:
    devdb = DevDB()
    devdb.start_in_thread()
    handle = await open_store(devdb.uri, "bench")
    principal = SystemPrincipal("bench", "bench")
    before = rss_bytes()
    counts = await load_demo(handle.repo, principal, patients, seed=11, anchor=dt.date(2026, 11, 2))
    # Read every collection once, so that what devdb's indexes hold is counted: it files the entries of
    # bulk-inserted documents on a collection's first query after them (for 300,000 resources well past the
    # driver's 5 s socket timeout, hence this step's own deadline).
    with pymongo.timeout(600):
        for name in await handle.repo.db.list_collection_names():
            await handle.repo.db[name].find_one({"_sys.tenant": "bench", "_sys.deleted": False})
    after = rss_bytes()
    documents, entries = held(devdb)
    print(f"demo clinic: {counts['Patient']} patients, {sum(counts.values())} resources; "
          f"{documents} stored documents (history, outbox and audit included)")
    print(f"resident: {before / 2**20:.0f} MiB -> {after / 2**20:.0f} MiB: "
          f"{(after - before) / max(documents, 1) / 1024:.1f} KiB per stored document, "
          f"{(after - before) / max(sum(counts.values()), 1) / 1024:.1f} KiB per resource")
    print(f"index entries: {entries} ({entries / max(documents, 1):.1f} per stored document)")
    await handle.close()
    devdb.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=200)
    asyncio.run(run(ap.parse_args().patients))


if __name__ == "__main__":
    main()
