"""SMART Backend Services clients registered with a JWKS URL (``clients add --jwks-url``): the server fetches
their public keys over https, caches them, follows a key rotation, and refuses what it cannot read."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from joserfc.jwk import RSAKey

from app.settings import Settings
from auth.registry import add_client
from tests.auth.oauth_helpers import identity_store
from tests.conftest import ServerThread, running_app


class KeyHost:
    """An https server on loopback publishing a JWKS that the test can swap, counting the fetches."""

    def __init__(self, directory: Path):
        self.jwks: dict[str, Any] = {"keys": []}
        self.fetches = 0
        self.status = 200
        cert, key = _self_signed(directory)
        self.ca_file = str(cert)
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                host.fetches += 1
                body = json.dumps(host.jwks).encode()
                self.send_response(host.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, *keys: RSAKey) -> None:
        self.jwks = {"keys": [{**k.as_dict(private=False), "kid": k.thumbprint()} for k in keys]}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def key_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KeyHost]:
    host = KeyHost(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", host.ca_file)  # the server's outbound https trusts this one host's cert
    yield host
    host.close()


@pytest.fixture
def private_jwks_server(settings: Settings) -> Iterator[ServerThread]:
    with running_app(settings.model_copy(update={"jwks_allow_private": True})) as srv:
        yield srv


async def _register(settings: Settings, url: str) -> str:
    async with identity_store(settings) as identity:
        shown = await add_client(identity, name="Key-rotating backend", tenant="tenant-a", redirect_uris=[],
                                 grant="client_credentials", scopes=["system/*.rs"], jwks_url=url)
    assert "client_secret" not in shown
    client_id: str = shown["client_id"]
    return client_id


async def _token(base_url: str, client_id: str, key: RSAKey) -> httpx.Response:
    """The token endpoint's answer to a client_credentials request signed the way authlib signs it."""
    token_url = f"{base_url}/auth/token"
    sign = PrivateKeyJWT(token_url, alg="RS384", claims={"exp": int(time.time()) + 240})
    async with AsyncOAuth2Client(client_id, key.as_dict(private=True), scope="system/*.rs",
                                 token_endpoint_auth_method=sign) as client:
        answers: list[httpx.Response] = []

        async def keep(response: httpx.Response) -> None:
            answers.append(response)

        client.event_hooks["response"] = [keep]
        with contextlib.suppress(OAuthError):  # a refusal is what some tests want to read
            await client.fetch_token(token_url, grant_type="client_credentials")
        await answers[-1].aread()
        return answers[-1]


async def test_a_client_signs_with_a_key_published_at_its_jwks_url(
        settings: Settings, key_host: KeyHost, private_jwks_server: ServerThread) -> None:
    key = RSAKey.generate_key(2048, private=True)
    key_host.publish(key)
    client_id = await _register(settings, key_host.url)

    first = await _token(private_jwks_server.url, client_id, key)
    assert first.status_code == 200, first.text
    token = first.json()["access_token"]
    async with httpx.AsyncClient(base_url=private_jwks_server.url) as http:
        read = await http.get("/fhir/r4/Patient", headers={"Authorization": f"Bearer {token}"})
    assert read.status_code == 200, read.text
    # A second token within five minutes reuses the fetched set.
    assert (await _token(private_jwks_server.url, client_id, key)).status_code == 200
    assert key_host.fetches == 1

    # The client rotates: it publishes a new key and signs with it; the server fetches the set again at once.
    rotated = RSAKey.generate_key(2048, private=True)
    key_host.publish(rotated)
    again = await _token(private_jwks_server.url, client_id, rotated)
    assert again.status_code == 200, again.text
    assert key_host.fetches == 2
    # The retired key, no longer published, is refused — and refusing it fetches nothing (at most every 30 s).
    refused = await _token(private_jwks_server.url, client_id, key)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client"
    assert key_host.fetches == 2


async def test_an_unreadable_jwks_url_is_the_clients_error(
        settings: Settings, key_host: KeyHost, private_jwks_server: ServerThread) -> None:
    key = RSAKey.generate_key(2048, private=True)
    key_host.status = 500
    client_id = await _register(settings, key_host.url)
    refused = await _token(private_jwks_server.url, client_id, key)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_client",
                              "error_description": "The client's JWKS URL could not be read"}


async def test_a_jwks_url_on_a_private_address_is_refused_by_default(
        settings: Settings, key_host: KeyHost, base_url: str) -> None:
    key = RSAKey.generate_key(2048, private=True)
    key_host.publish(key)
    client_id = await _register(settings, key_host.url)
    refused = await _token(base_url, client_id, key)  # the suite's server: private addresses not allowed
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client"
    assert key_host.fetches == 0  # the SSRF check refused before any connection
