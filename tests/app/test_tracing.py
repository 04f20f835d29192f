"""OpenTelemetry (app/tracing.py): off without OTEL_* variables; with them, spans per request (by route template),
per MongoDB command and per GraphQL operation — none holding a value of the request — and log lines that carry
the trace id."""

from __future__ import annotations

import json
import re
import secrets

import httpx
import pytest

from app.tracing import wanted
from tests.app.serving import serving
from tests.conftest import API_KEYS
from tests.factories import make_patient
from tests.processes import shared_store

pytest.importorskip("opentelemetry.sdk")

FAMILY = "Qx" + secrets.token_hex(4)


def test_tracing_is_off_unless_the_standard_variables_ask_for_it() -> None:
    assert not wanted({})
    assert wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert wanted({"OTEL_TRACES_EXPORTER": "console"})
    assert not wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not wanted({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"})


def test_spans_name_routes_and_commands_and_carry_no_request_values() -> None:
    env = {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "fhirgraph-test", "FHIRGRAPH_LOG_LEVEL": "INFO"}
    key = {"X-API-Key": API_KEYS["tenant-a"]}
    with shared_store() as uri, serving(uri, "--access-log", env=env) as app:
        with httpx.Client(base_url=app.url, headers=key, timeout=30) as c:
            pid = c.post("/fhir/r4/Patient", json=make_patient(family=FAMILY)).json()["id"]
            assert c.get(f"/fhir/r4/Patient/{pid}", params={"family": FAMILY}).status_code == 200
            r = c.post("/graphql", json={"query": f'query Find {{ searchPatients(query: "{FAMILY}") {{ id }} }}'})
            assert r.status_code == 200 and "errors" not in r.json()
        app.proc.terminate()
        app.proc.wait(timeout=20)
        output = app.output()
    assert FAMILY not in output and pid not in output
    names = re.findall(r'"name": "([^"]+)"', output)
    assert "POST /fhir/r4/{type}" in names and "POST /graphql" in names
    assert "GraphQL Query: Find" in names
    assert any(n.startswith("find") or n.endswith(".find") or "find" in n.split() for n in names), names
    traces = set(re.findall(r'"trace_id": "0x([0-9a-f]{32})"', output))
    access = [json.loads(line) for line in output.splitlines()
              if line.startswith("{") and '"logger":"fhirgraph.access"' in line]
    assert access and all(line["trace_id"] in traces for line in access)
