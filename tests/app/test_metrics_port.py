"""``fhirgraph serve --metrics-port``: /metrics alone, without credentials, on a second listener; the public port's
/metrics still asks for them."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.app.serving import Served, serving
from tests.conftest import API_KEYS, free_port
from tests.processes import shared_store


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def app(metrics_port: int) -> Iterator[Served]:
    with shared_store() as uri, serving(uri, "--metrics-port", str(metrics_port)) as served:
        yield served


async def test_the_metrics_port_serves_metrics_only_and_without_credentials(app: Served, metrics_port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{metrics_port}", timeout=10) as c:
        r = await c.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        assert "fhirgraph_store_calls_total" in r.text
        assert (await c.get("/health")).status_code == 404
        assert (await c.get("/fhir/r4/metadata")).status_code == 404


async def test_the_public_port_still_asks_for_credentials(app: Served) -> None:
    async with httpx.AsyncClient(base_url=app.url, timeout=10) as c:
        assert (await c.get("/metrics")).status_code == 401
        r = await c.get("/metrics", headers={"X-API-Key": API_KEYS["tenant-a"]})
        assert r.status_code == 200 and "fhirgraph_store_calls_total" in r.text


@pytest.mark.parametrize("stop,code", [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 130)])
def test_a_stop_signal_ends_both_listeners_gracefully(stop: signal.Signals, code: int) -> None:
    # SIGTERM: docker stop; SIGINT: Ctrl+C in a terminal. Either way the log ends with its own lines (JSON
    # lines in production), not a traceback.
    port = free_port()
    with shared_store() as uri, serving(uri, "--metrics-port", str(port),
                                        env={"FHIRGRAPH_LOG_LEVEL": "INFO"}) as served:
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200
        served.proc.send_signal(stop)
        assert served.proc.wait(timeout=20) == code
        output = served.output()
        assert "Application shutdown complete" in output
        assert output.count("Finished server process") == 2, output  # the public listener and the metrics one
        assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
        assert all(line.startswith("{") for line in output.splitlines() if line.strip()), output
    for closed in (served.port, port):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", closed)) != 0
