"""Bulk Data export throughput and the app's peak memory, and a transaction beside separate creates.

    python bench/bulk_bench.py [--patients 1000,10000] [--entries 100] [--app-log FILE]

For each size: a fresh database (devdb unless MONGODB_URI is set) loaded with the demo clinic by
`fhirgraph demo-data`, one `fhirgraph serve` process, a system export kicked off and polled to the end, every
file downloaded. Prints resources exported per second (kick-off to manifest) and the app process's peak
resident memory (VmHWM) before and after the export: what the export itself added. Then a transaction Bundle of
``--entries`` Patient creates beside the same number of separate POSTs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import free_port, store_uri, wait_http  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def run(patients: int, entries: int, uri: str, app_log: str | None = None) -> None:
    db = f"fhirgraph_bulkbench_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "MONGODB_URI": uri, "FHIRGRAPH_DB_NAME": db, "FHIRGRAPH_API_KEYS": f"{KEY}=bench",
           "FHIRGRAPH_ALLOW_ANONYMOUS": "false", "FHIRGRAPH_AUDIT": "false", "FHIRGRAPH_RATE_LIMIT_PER_MINUTE": "0",
           "FHIRGRAPH_LOG_LEVEL": "WARNING", "FHIRGRAPH_EXPORT_RETRY_AFTER_S": "1"}
    started = time.monotonic()
    loaded = subprocess.run([sys.executable, "-m", "app.cli", "demo-data", "--patients", str(patients),
                             "--tenant", "bench"], cwd=ROOT, env=env, capture_output=True, text=True)
    if loaded.returncode != 0:
        print(f"\n{patients} patients: demo-data failed: {loaded.stderr.strip()[-300:]}")
        return
    print(f"\n{patients} patients loaded in {time.monotonic() - started:.0f} s")
    port = free_port()
    log = open(app_log, "ab") if app_log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    app = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                           stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}/fhir/r4"
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        with httpx.Client(base_url=base, headers={"X-API-Key": KEY}, timeout=120) as c:
            c.get("/metadata")
            before = peak_kib(app.pid)
            t0 = time.monotonic()
            r = c.get("/$export", headers={"Prefer": "respond-async", "Accept": "application/fhir+json"})
            assert r.status_code == 202, r.text
            status = r.headers["content-location"]
            unavailable = 0
            while True:
                r = c.get(status)
                if r.status_code == 200:
                    break
                # 503: the store did not answer the poll in time (a busy embedded store): a client polls again
                assert r.status_code in (202, 429, 503), r.text
                unavailable += r.status_code == 503
                time.sleep(float(r.headers.get("retry-after", "1")))
            elapsed = time.monotonic() - t0
            manifest = r.json()
            total = sum(o["count"] for o in manifest["output"])
            after = peak_kib(app.pid)
            downloaded = 0
            t1 = time.monotonic()
            for item in manifest["output"]:
                with c.stream("GET", item["url"], headers={"Accept": "application/fhir+ndjson"}) as f:
                    for chunk in f.iter_bytes():
                        downloaded += len(chunk)
            download_s = time.monotonic() - t1
            print(f"export: {total} resources in {len(manifest['output'])} files, {elapsed:.1f} s "
                  f"(kick-off to manifest, polling every second) = {total / elapsed:,.0f} resources/s"
                  + (f"; {unavailable} status polls answered 503 (store busy)" if unavailable else ""))
            print(f"download: {downloaded / 1e6:.1f} MB in {download_s:.1f} s")
            print(f"app peak RSS: {before / 1024:.0f} MiB before the export, {after / 1024:.0f} MiB after "
                  f"(+{(after - before) / 1024:.0f} MiB)")
            bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
                {"resource": {"resourceType": "Patient", "name": [{"family": f"Tx{i}"}], "gender": "female"},
                 "request": {"method": "POST", "url": "Patient"}} for i in range(entries)]}
            t0 = time.monotonic()
            r = c.post("", json=bundle)
            tx = time.monotonic() - t0
            assert r.status_code == 200, r.text
            t0 = time.monotonic()
            for i in range(entries):
                assert c.post("/Patient", json={"resourceType": "Patient", "name": [{"family": f"One{i}"}]}
                              ).status_code == 201
            single = time.monotonic() - t0
            print(f"a transaction of {entries} creates: {tx * 1000:.0f} ms; {entries} separate creates "
                  f"(one client, one after another): {single * 1000:.0f} ms")
    finally:
        app.terminate()
        app.wait(timeout=30)
        if not isinstance(log, int):
            log.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", default="1000,10000")
    parser.add_argument("--entries", type=int, default=100)
    parser.add_argument("--app-log", help="append the app's log to this file (default: discarded)")
    args = parser.parse_args()
    with store_uri(ROOT) as (uri, _):
        for n in (int(x) for x in args.patients.split(",")):
            run(n, args.entries, uri, args.app_log)

if __name__ == "__main__":
    main()
