"""How long a devdb snapshot makes the store unavailable: the demo clinic loaded into an in-process devdb with a
data dir (as ``fhirgraph serve --demo N --data-dir D`` runs it), then one snapshot taken while a client reads a
document by ``_id`` in a loop.

    python bench/devdb_snapshot_bench.py [--patients 1000]

Prints the documents the snapshot holds, its size, how long it took to reach the disk, and the longest a single
read waited while it was taken (the store's longest unavailability) beside the longest one in as long a time
before it; the journal's own lines (how long the capture held the store's lock, how long the write took); and
the CPU time the snapshot cost the process (CPU-µs per stored document).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymongo import MongoClient  # noqa: E402

from app.demo import load_demo  # noqa: E402
from store.client import open_store  # noqa: E402
from store.devdb import DevDB  # noqa: E402
from store.types import SystemPrincipal  # noqa: E402


def longest_wait(uri: str, stop: threading.Event) -> float:
    """The longest single ``find_one`` by ``_id`` (seconds) until ``stop`` is set."""
    longest = 0.0
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri, serverSelectionTimeoutMS=60_000, socketTimeoutMS=120_000) as client:
        coll = client.bench.probe
        coll.find_one({"_id": 0})
        while not stop.is_set():
            started = time.perf_counter()
            coll.find_one({"_id": 0})
            longest = max(longest, time.perf_counter() - started)
    return longest


def probed(uri: str, action: Any) -> tuple[float, float]:
    """(the longest read while ``action()`` ran, its wall time)."""
    stop = threading.Event()
    result: list[float] = []
    probe = threading.Thread(target=lambda: result.append(longest_wait(uri, stop)))
    probe.start()
    time.sleep(0.2)
    started = time.perf_counter()
    action()
    wall = time.perf_counter() - started
    stop.set()
    probe.join()
    return result[0], wall


async def run(patients: int) -> None:
    logging.basicConfig(format="%(message)s")
    logging.getLogger("fhirgraph.devdb").setLevel(logging.INFO)  # the journal's lines: its pause, its write
    with tempfile.TemporaryDirectory() as data_dir:
        devdb = DevDB(data_dir=data_dir)
        devdb.start_in_thread()
        journal = devdb.engine.journal
        assert journal is not None
        journal.snapshot_min_bytes = 1 << 60  # none while loading: the one measured is taken below
        handle = await open_store(devdb.uri, "bench")
        counts = await load_demo(handle.repo, SystemPrincipal("bench", "bench"), patients, seed=11,
                                 anchor=dt.date(2026, 11, 2))
        await handle.close()
        documents = sum(len(c._documents) for d in devdb.engine.context.client._store._databases.values()
                        for c in d._collections.values())
        snap = Path(data_dir) / "snapshot"
        idle, idle_wall = probed(devdb.uri, lambda: time.sleep(2.0))
        cpu = time.process_time()
        during, wall = probed(devdb.uri, lambda: journal.snapshot_now(devdb.engine))
        cpu = time.process_time() - cpu
        print(f"demo clinic: {counts['Patient']} patients, {documents} stored documents; "
              f"snapshot {snap.stat().st_size / 2**20:.0f} MiB, on disk after {wall:.2f}s")
        print(f"longest read while the snapshot was taken: {during * 1000:.0f} ms "
              f"(idle, over {idle_wall:.1f}s: {idle * 1000:.0f} ms)")
        print(f"process CPU during the snapshot (the probe's reads included): {cpu:.2f}s, "
              f"{cpu / max(documents, 1) * 1e6:.1f} CPU-µs per stored document")
        devdb.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=1000)
    asyncio.run(run(ap.parse_args().patients))


if __name__ == "__main__":
    main()
