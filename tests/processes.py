"""Real processes for multi-instance tests: `fhirgraph devdb` and `fhirgraph serve`, as a user runs them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import API_KEYS, free_port

ROOT = Path(__file__).resolve().parents[1]


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


@contextmanager
def shared_store() -> Iterator[str]:
    """A MongoDB URI several processes can share: ``MONGODB_URI`` if set, else a `fhirgraph devdb` process."""
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"]
        return
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "devdb", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc)
        yield f"mongodb://127.0.0.1:{port}/?directConnection=true"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class DevdbProcess:
    """`fhirgraph devdb --port P [--data-dir D]` as its own process, which a test may kill and start again."""

    def __init__(self, data_dir: Path | None = None):
        self.port = free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        self.args = [sys.executable, "-m", "app.cli", "devdb", "--port", str(self.port)]
        self.args += ["--data-dir", str(data_dir)] if data_dir is not None else []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = b""  # the stderr of the runs so far

    def start(self) -> DevdbProcess:
        self.proc = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_port(self.port, self.proc)
        except RuntimeError:
            self._collect()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to flush or close anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self._collect()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
        self._collect()

    def _collect(self) -> None:
        if self.proc is not None:
            self.log += self.proc.communicate(timeout=15)[1]
            self.proc = None


class AppProcess:
    """`fhirgraph serve` on ``uri`` (None: on its embedded store), with ``args`` after ``serve --port P``."""

    def __init__(self, uri: str | None, db_name: str, extra_env: dict[str, str] | None = None,
                 port: int | None = None, args: tuple[str, ...] = ()):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args
        self.env = {**os.environ, "MONGODB_URI": uri or "", "FHIRGRAPH_DB_NAME": db_name,
                    "FHIRGRAPH_API_KEYS": ",".join(f"{k}={t}" for t, k in API_KEYS.items()),
                    "FHIRGRAPH_LOG_LEVEL": "WARNING", "FHIRGRAPH_WEBHOOK_ALLOW_PRIVATE": "true",
                    "FHIRGRAPH_RATE_LIMIT_PER_MINUTE": "0", **(extra_env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop(), outlives this call

    def start(self) -> AppProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(self.port), *self.args],
                                     cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                err = self.log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"app exited with {self.proc.returncode}: {err}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("app did not become healthy")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
