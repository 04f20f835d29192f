"""What the benchmarks share: free ports, the store they run on, waiting for the processes they start, and the
load (wrk or httpx)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def store_uri(root: Path) -> Iterator[tuple[str, str]]:
    """(uri, engine): ``MONGODB_URI`` when set, else a ``fhirgraph devdb`` of ``root``'s checkout started as its
    own process for the block and stopped after it."""
    uri = os.environ.get("MONGODB_URI")
    if uri:
        yield uri, "mongodb"
        return
    port = free_port()
    devdb = subprocess.Popen([sys.executable, "-m", "app.cli", "devdb", "--port", str(port)], cwd=root,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield f"mongodb://127.0.0.1:{port}/?directConnection=true", "devdb"
    finally:
        stop(devdb)


def pinned(cmd: list[str], cpu: int) -> list[str]:
    """``cmd`` pinned to ``cpu`` (taskset), when taskset is installed and there is more than one core."""
    return ["taskset", "-c", str(cpu), *cmd] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else cmd


def serve_demo(tree: Path, patients: int, log: Any, env: dict[str, str] | None = None
               ) -> tuple[subprocess.Popen[bytes], str]:
    """README command 1's server from ``tree`` (``fhirgraph serve --demo N``: the embedded devdb a thread of it, the
    rate limit off, and ``env``'s settings) pinned to CPU 0, once it answers: the process and its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"} | {
        "FHIRGRAPH_RATE_LIMIT_PER_MINUTE": "0", "PYTHONPATH": str(tree)} | (env or {})
    proc = subprocess.Popen(pinned([sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                                    "--demo", str(patients)], 0), cwd=tree, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/health", timeout=1800)  # it listens once the demo clinic is loaded
    return proc, base


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def wrk(url: str, seconds: int, connections: int, *, threads: int = 1, script: str | None = None,
        headers: dict[str, str] | None = None, cpu: int | None = None) -> dict[str, float]:
    """One wrk run: req/s, p50/p99 ms, non-2xx answers. ``cpu``: pin wrk to that core (taskset)."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "--latency"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    if script:
        cmd += ["-s", script]
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    count = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    return {"rps": rps, "p50": ms(lat.get("50", "0ms")), "p99": ms(lat.get("99", "0ms")),
            "errors": float(non2xx.group(1)) if non2xx else 0.0,
            "requests": float(count.group(1)) if count else rps * seconds}


def stop(*procs: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Terminate these processes (all at once, so their shutdowns overlap), killing any still there after
    ``timeout``."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def own_cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) process ``pid`` itself has used so far, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (the app's: its audit writer process), from /proc (Linux)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) process ``pid`` and its live children (the app's audit writer process,
    app/audit_writer.py) have used so far, from /proc (Linux)."""
    own = own_cpu_seconds(pid)
    for child in children(pid):
        with contextlib.suppress(OSError):
            own += cpu_seconds(child)
    return own


def wait_idle(*pids: int, timeout: float = 30.0) -> None:
    """Until these processes stop burning CPU (at most 20 ms in half a second): wrk leaves accepted requests
    behind, and the app's background work (the audit trail's batches) ends after the load does."""
    alive = [p for p in pids if os.path.exists(f"/proc/{p}/stat")]
    if not alive:
        time.sleep(1)
        return
    before = sum(map(cpu_seconds, alive))
    stop = time.monotonic() + timeout
    while time.monotonic() < stop:
        time.sleep(0.5)
        now = sum(map(cpu_seconds, alive))
        if now - before <= 0.02:
            return
        before = now


def ms(text: str) -> float:
    """A wrk duration (``812.00us``, ``2.10ms``, ``1.02s``, ``1.5m``) in milliseconds."""
    num, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(num) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


async def httpx_load(url: str, seconds: int, connections: int, body: bytes | None = None,
                     headers: dict[str, str] | None = None) -> dict[str, float]:
    """What wrk measures, from an httpx loop (slower than wrk: its numbers are a floor of the server's)."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            t = time.perf_counter()
            r = await (client.post(url, content=body) if body is not None else client.get(url))
            latencies.append((time.perf_counter() - t) * 1000)
            errors += r.status_code >= 400

    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(connections)))
    latencies.sort()
    return {"rps": len(latencies) / seconds, "p50": latencies[len(latencies) // 2],
            "p99": latencies[int(len(latencies) * 0.99)], "errors": float(errors), "requests": float(len(latencies))}
