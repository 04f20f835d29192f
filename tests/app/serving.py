"""``fhirgraph serve`` as a user runs it — a real process with its own listeners and logging — for the tests of
app/cli.py and app/server.py. Its stdout and stderr (every log line) are kept for the test to read."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from tests.conftest import API_KEYS, free_port
from tests.processes import ROOT


@dataclass
class Served:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: tempfile._TemporaryFileWrapper[bytes]

    def output(self) -> str:
        """Everything the process has written so far."""
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", errors="replace")


@contextmanager
def serving(uri: str, *args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """``fhirgraph serve --port <free> *args`` against the MongoDB at ``uri``, until it answers /health."""
    port = free_port()
    full_env = {**os.environ, "MONGODB_URI": uri, "FHIRGRAPH_DB_NAME": f"fhirgraph_serve_{uuid.uuid4().hex[:8]}",
                "FHIRGRAPH_API_KEYS": ",".join(f"{k}={t}" for t, k in API_KEYS.items()),
                "FHIRGRAPH_ALLOW_ANONYMOUS": "false", "FHIRGRAPH_LOG_LEVEL": "WARNING",
                "FHIRGRAPH_RATE_LIMIT_PER_MINUTE": "0", **(env or {})}
    with tempfile.NamedTemporaryFile(prefix="fhirgraph-serve-", suffix=".log") as log:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), *args], cwd=ROOT,
                                env=full_env, stdout=log, stderr=subprocess.STDOUT)
        served = Served(f"http://127.0.0.1:{port}", port, proc, log)
        try:
            _wait_healthy(served)
            yield served
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _wait_healthy(served: Served) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            raise RuntimeError(f"serve exited with {served.proc.returncode}: {served.output()[-2000:]}")
        try:
            if httpx.get(f"{served.url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("serve did not become healthy")
