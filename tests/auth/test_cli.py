"""``fhirgraph clients add`` / ``users add`` / ``launch add`` / ``clients disable`` as an operator runs them,
against the store a running server uses: the client they register signs in at that server."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import orjson
import pytest

from app.settings import Settings
from tests.auth.oauth_helpers import identity_store
from tests.processes import ROOT


def fhirgraph(settings: Settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MONGODB_URI": str(settings.mongodb_uri), "FHIRGRAPH_DB_NAME": settings.db_name,
           "FHIRGRAPH_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


async def test_register_then_use(base_url: str, settings: Settings) -> None:
    made = fhirgraph(settings, "clients", "add", "--name", "Ops backend", "--grant", "client_credentials",
                     "--scope", "system/*.rs introspect", "--tenant", "tenant-a")
    assert made.returncode == 0, made.stderr
    shown = orjson.loads(made.stdout)
    assert shown["client_secret"] and shown["scope"] == "system/*.rs introspect" and shown["tenant"] == "tenant-a"
    async with httpx.AsyncClient(base_url=base_url) as http:
        token = await http.post("/auth/token", data={"grant_type": "client_credentials"},
                                auth=(shown["client_id"], shown["client_secret"]))
        assert token.status_code == 200, token.text
        assert token.json()["scope"] == "system/*.rs"  # ``introspect`` is the registration's, not the token's
        seen = await http.post("/auth/introspect", data={"token": token.json()["access_token"]},
                               auth=(shown["client_id"], shown["client_secret"]))
        assert seen.json()["active"] is True
    off = fhirgraph(settings, "clients", "disable", "--client-id", shown["client_id"], "--tenant", "tenant-a")
    assert off.returncode == 0 and orjson.loads(off.stdout)["disabled"] is True
    async with httpx.AsyncClient(base_url=base_url) as http:
        again = await http.post("/auth/token", data={"grant_type": "client_credentials"},
                                auth=(shown["client_id"], shown["client_secret"]))
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"


async def _patient_p1(fhir: httpx.AsyncClient) -> None:
    """Patient/p-1 of tenant-a, whom the users and launches below name (the commands refuse a patient the store
    does not have)."""
    put = await fhir.put("/Patient/p-1", json={"resourceType": "Patient", "id": "p-1"})
    assert put.status_code in (200, 201), put.text


async def test_users_read_the_password_from_stdin_and_never_print_it(settings: Settings,
                                                                     fhir: httpx.AsyncClient) -> None:
    await _patient_p1(fhir)
    done = fhirgraph(settings, "users", "add", "--username", "cli-user", "--fhir-user", "Patient/p-1",
                     "--tenant", "tenant-a", stdin="a secret long enough\n")
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout) == {"username": "cli-user", "tenant": "tenant-a", "fhirUser": "Patient/p-1"}
    assert "a secret" not in done.stdout + done.stderr
    again = fhirgraph(settings, "users", "add", "--username", "cli-user", "--fhir-user", "Patient/p-1",
                      "--tenant", "tenant-a", stdin="a secret long enough\n")
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and "already" in again.stderr
    short = fhirgraph(settings, "users", "add", "--username", "x", "--fhir-user", "Patient/p-1",
                      "--tenant", "tenant-a", stdin="short\n")
    assert short.returncode == 1 and "at least" in short.stderr and "short" not in short.stderr.split(":", 1)[0]
    bad = fhirgraph(settings, "users", "add", "--username", "y", "--fhir-user", "Device/1", stdin="long enough pw\n")
    assert bad.returncode == 1 and "fhirUser" in bad.stderr


async def test_launch_add_and_bad_registrations(settings: Settings, fhir: httpx.AsyncClient) -> None:
    await _patient_p1(fhir)
    launch = fhirgraph(settings, "launch", "add", "--patient", "p-1", "--tenant", "tenant-a")
    assert launch.returncode == 0 and orjson.loads(launch.stdout)["launch"]
    for args in (["--patient", "no-such-patient"], ["--patient", "p-1", "--encounter", "no-such-encounter"]):
        nobody = fhirgraph(settings, "launch", "add", *args, "--tenant", "tenant-a")
        assert nobody.returncode == 1 and nobody.stderr.startswith("launch add: ") and "not" in nobody.stderr
    stranger = fhirgraph(settings, "users", "add", "--username", "ghost", "--fhir-user", "Practitioner/nobody-here",
                         "--tenant", "tenant-a", stdin="a secret long enough\n")
    assert stranger.returncode == 1 and stranger.stderr.count("\n") == 1
    for args in (["--name", "x"],  # authorization_code without a redirect URI
                 ["--name", "x", "--redirect-uri", "ftp://x/cb"],
                 ["--name", "x", "--redirect-uri", "https://x/cb", "--scope", "patient/*.bogus"],
                 ["--name", "x", "--grant", "client_credentials", "--public"]):
        done = fhirgraph(settings, "clients", "add", *args)
        assert done.returncode == 1, (args, done.stdout)
        assert done.stderr.startswith("clients add: ") and done.stderr.count("\n") == 1


async def test_a_generated_client_id_can_be_passed_to_the_cli(settings: Settings,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # A random client id beginning with "-" (1 in 64 of token_urlsafe's) was read by argparse as an option:
    # `fhirgraph clients disable --client-id -Xy…` failed with "expected one argument" (this file's first
    # test failed so, now and then).
    from auth import registry

    made = iter(["-starts-with-a-dash", "Fine-id"])
    monkeypatch.setattr(registry.secrets, "token_urlsafe", lambda n=None: next(made, "unused-secret"))
    async with identity_store(settings) as identity:
        shown = await registry.add_client(identity, name="Dash", tenant="tenant-a", redirect_uris=[],
                                          grant="client_credentials")
    assert shown["client_id"] == "Fine-id"
    off = fhirgraph(settings, "clients", "disable", "--client-id", shown["client_id"], "--tenant", "tenant-a")
    assert off.returncode == 0 and orjson.loads(off.stdout)["disabled"] is True, off.stderr
