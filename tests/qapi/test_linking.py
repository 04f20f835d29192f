"""Context-aware linking (seed 002): an ``arg`` made as the seed shows — its key derived by the seed's own
``openssl enc -aes-256-cbc -k ... -P -md sha256`` command — redirects to the visit; the seed's worked example
decrypts; a tampered, wrongly keyed or malformed one is a 400 in the seed's shape."""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from pydantic import SecretStr

from app.settings import Settings
from tests.conftest import API_KEYS, ServerThread, running_app
from tests.qapi.conftest import new_id, waiting_room

SECRET = "some secret"
# The seed's worked example: {"visit":"12345","user":"1234"} under "some secret".
SEED_ARG = "BizXKL9L4EQ=YuhTK5qXNtOCmbuaHMq5tA==DUPdvDCZPiSUf0Jumt/Mr/wVWv+mr6Vzj5LnKUQtTPc="


@pytest.fixture(scope="module")
def linked(settings: Settings) -> Iterator[ServerThread]:
    own = settings.model_copy(update={"qapi_linking_secrets":
                                      SecretStr(f"tenant-b=other secret,tenant-a={SECRET}")})
    with running_app(own) as srv:
        yield srv


async def _openssl(*args: str, data: bytes = b"") -> str:
    done = await asyncio.to_thread(subprocess.run, ["openssl", "enc", "-aes-256-cbc", *args], input=data,
                                   capture_output=True, check=True, timeout=30)
    return done.stdout.decode("latin-1")


async def _arg(payload: dict[str, Any], secret: str = SECRET) -> str:
    """The seed's recipe: the key and IV from its openssl command, the JSON encrypted with them."""
    printed = await _openssl("-k", secret, "-P", "-md", "sha256")
    values = dict(line.replace(" ", "").split("=", 1) for line in printed.splitlines() if "=" in line)
    sealed = await _openssl("-K", values["key"], "-iv", values["iv"], "-a", "-A", data=orjson.dumps(payload))
    text = (base64.b64encode(bytes.fromhex(values["salt"])).decode() + base64.b64encode(bytes.fromhex(values["iv"]))
            .decode() + sealed.strip())
    return quote(text, safe="")


async def test_openssl_made_arg_redirects_to_the_visit(linked: ServerThread) -> None:
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed: the seed's openssl command was not run")
    async with httpx.AsyncClient(base_url=linked.url, timeout=30) as c:
        fhir = httpx.AsyncClient(base_url=f"{linked.url}/fhir/r4", headers={"X-API-Key": API_KEYS["tenant-a"]})
        qapi = httpx.AsyncClient(base_url=f"{linked.url}/qapi/v1", headers={"Api-Key": API_KEYS["tenant-a"]})
        async with fhir, qapi:
            room = await waiting_room(fhir)
            pid = new_id()
            assert (await qapi.post("/patients", json={"id": pid})).status_code == 201
            made = (await qapi.post(f"/patients/{pid}/appointments", json={"waitingRoom": room["name"]})).json()
            provider = (await qapi.get(f"/appointments/{made['id']}/provider-link")).json()["providerVisitUrl"]
        payload = {"user": "1234", "type": "patient", "visit": str(made["id"]), "date": 1499441179,
                   "patient": {"id": pid, "sex": "male", "dob": "1983-08-15", "firstName": "Mike",
                               "lastName": "Shinoda"}}
        r = await c.get(f"/integrations/linking?arg={await _arg(payload)}")
        assert r.status_code == 302, r.text
        assert r.headers["location"] == made["visitUrl"]
        r = await c.get(f"/integrations/linking?arg={await _arg({**payload, 'type': 'provider'})}")
        assert r.status_code == 302 and r.headers["location"] == provider
        wrong = await c.get(f"/integrations/linking?arg={await _arg(payload, 'not the secret')}")
        assert wrong.status_code == 400 and "could not be decrypted" in wrong.json()["error"]["message"]
        bad_schema = await c.get(f"/integrations/linking?arg={await _arg({**payload, 'type': 'robot'})}")
        assert bad_schema.status_code == 400 and "type must be one of" in bad_schema.json()["error"]["message"]
        missing = await c.get(f"/integrations/linking?arg={await _arg({**payload, 'visit': '999999999999'})}")
        assert missing.status_code == 404


async def test_the_seeds_example_decrypts_and_junk_is_a_400(linked: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=linked.url, timeout=30) as c:
        r = await c.get("/integrations/linking", params={"arg": SEED_ARG})
        # it decrypts: what is refused is its content, which lacks the schema's required fields
        assert r.status_code == 400 and r.json() == {"error": {"message": "The linking data lacks type"}}
        tampered = SEED_ARG[:40] + ("A" if SEED_ARG[40] != "A" else "B") + SEED_ARG[41:]
        for arg in ("", "x", "%%%", tampered, SEED_ARG[:50], "A" * 8000, "=" * 100):
            r = await c.get("/integrations/linking", params={"arg": arg})
            assert r.status_code == 400 and set(r.json()) == {"error"}, (arg[:20], r.text)
