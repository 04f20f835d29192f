"""The authorization server end to end, as a SMART app developer meets it: authlib's OAuth 2.0 client through
the login and consent forms, then the FHIR API with the tokens."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from app.settings import Settings
from tests.auth.oauth_helpers import (
    PASSWORD,
    REDIRECT,
    App,
    authorize,
    code_of,
    hidden_fields,
    oauth_client,
    register_app,
    register_user,
    sign_in,
)

SCOPE = "launch/patient openid fhirUser offline_access patient/*.rs"


async def _patient(fhir: httpx.AsyncClient, family: str = "Oauth") -> str:
    made = await fhir.post("/Patient", json={"resourceType": "Patient", "name": [{"family": family}]})
    assert made.status_code == 201, made.text
    pid: str = made.json()["id"]
    return pid


async def _patient_user(settings: Settings, fhir: httpx.AsyncClient) -> tuple[str, App, str]:
    """A new Patient, a new public SMART app (default registration) and a login for that patient."""
    pid = await _patient(fhir)
    return pid, await register_app(settings), await register_user(settings, f"Patient/{pid}")


async def _refused_soon(base: str, token: str, path: str) -> httpx.Response:
    """What the API answers ``token`` once a revocation has had its second to reach the instance."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        deadline = time.monotonic() + 3
        while True:
            answer = await http.get(path, headers={"Authorization": f"Bearer {token}"})
            if answer.status_code == 401 or time.monotonic() > deadline:
                return answer
            await asyncio.sleep(0.05)


async def test_discovery_is_open_json_and_cors_readable(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        for prefix in ("/fhir/r4", "/r4"):
            found = await http.get(f"{prefix}/.well-known/smart-configuration", headers={"Accept": "text/html"})
            assert found.status_code == 200
            assert found.headers["content-type"].startswith("application/json")
            assert found.headers["access-control-allow-origin"] == "*"
            config = found.json()
            assert config["code_challenge_methods_supported"] == ["S256"]
            assert "private_key_jwt" in config["token_endpoint_auth_methods_supported"]
            assert {"launch-standalone", "permission-v2", "sso-openid-connect"} <= set(config["capabilities"])
            assert config["token_endpoint"] == f"{base_url}/auth/token"
            assert config["issuer"] == f"{base_url}/auth"
        oidc = (await http.get("/.well-known/openid-configuration")).json()
        assert oidc["jwks_uri"] == f"{base_url}/auth/jwks"
        keys = (await http.get("/auth/jwks")).json()
        assert keys["keys"][0]["kty"] == "RSA" and "d" not in keys["keys"][0]


async def test_authorization_code_with_pkce_through_the_forms(base_url: str, settings: Settings,
                                                             fhir: httpx.AsyncClient) -> None:
    pid = await _patient(fhir)
    other = await _patient(fhir, "Other")
    app = await register_app(settings)
    user = await register_user(settings, f"Patient/{pid}")
    token, _ = await authorize(app, base_url, user, SCOPE)
    assert token["token_type"] == "Bearer"
    assert token["patient"] == pid
    assert token["expires_in"] == settings.access_token_lifetime_s
    assert set(token["scope"].split()) == set(SCOPE.split())
    assert token["refresh_token"]
    async with httpx.AsyncClient(base_url=base_url) as http:
        keys = KeySet.import_key_set((await http.get("/auth/jwks")).json())
        id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
        assert id_token.claims["aud"] == app.client_id
        assert id_token.claims["fhirUser"] == f"{base_url}/fhir/r4/Patient/{pid}"
        read = await http.get(f"/fhir/r4/Patient/{pid}", headers={"Authorization": f"Bearer {token['access_token']}"})
        assert read.status_code == 200, read.text
        assert read.json()["id"] == pid
    assert other != pid


async def test_a_foreign_aud_gets_no_code(base_url: str, settings: Settings, fhir: httpx.AsyncClient) -> None:
    app = await register_app(settings)
    client = oauth_client(app, SCOPE, base_url)
    url, state = client.create_authorization_url(f"{base_url}/auth/authorize", code_verifier=secrets.token_urlsafe(48),
                                                 aud="https://evil.example/fhir")
    async with httpx.AsyncClient() as http:
        answer = await http.get(url)
    assert answer.status_code == 302
    query = code_of(answer.headers["location"])
    assert answer.headers["location"].startswith(REDIRECT)
    assert query["error"] == ["invalid_request"] and query["state"] == [state] and "code" not in query


@pytest.mark.parametrize("pkce", [None, "plain"])
async def test_pkce_s256_is_required(base_url: str, settings: Settings, pkce: str | None) -> None:
    app = await register_app(settings)
    params: dict[str, Any] = {"response_type": "code", "client_id": app.client_id, "redirect_uri": REDIRECT,
                              "scope": SCOPE, "state": "s1", "aud": f"{base_url}/fhir/r4"}
    if pkce:
        params.update(code_challenge="x" * 43, code_challenge_method=pkce)
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{base_url}/auth/authorize", params=params)
    assert answer.status_code == 302
    query = code_of(answer.headers["location"])
    assert query["error"] == ["invalid_request"] and "code" not in query


async def test_unknown_client_or_redirect_is_an_oauth_error_not_a_redirect(base_url: str, settings: Settings) -> None:
    app = await register_app(settings)
    async with httpx.AsyncClient() as http:
        for client_id, redirect in (("nope", REDIRECT), (app.client_id, REDIRECT + "/other")):
            answer = await http.get(f"{base_url}/auth/authorize", params={
                "response_type": "code", "client_id": client_id, "redirect_uri": redirect, "scope": SCOPE,
                "aud": f"{base_url}/fhir/r4", "code_challenge": "x" * 43, "code_challenge_method": "S256"})
            assert answer.status_code in (400, 401), answer.text
            assert answer.headers["content-type"].startswith("application/json")
            assert answer.json()["error"] in ("invalid_client", "invalid_request")


async def test_codes_are_single_use(base_url: str, settings: Settings, fhir: httpx.AsyncClient) -> None:
    pid, app, user = await _patient_user(settings, fhir)
    client = oauth_client(app, SCOPE, base_url)
    verifier = secrets.token_urlsafe(48)
    url, _ = client.create_authorization_url(f"{base_url}/auth/authorize", code_verifier=verifier,
                                             aud=f"{base_url}/fhir/r4")
    location = (await sign_in(base_url, url, user)).headers["location"]
    code = code_of(location)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": app.client_id,
            "code_verifier": verifier}
    async with httpx.AsyncClient(base_url=base_url) as http:
        wrong = await http.post("/auth/token", data={**form, "code_verifier": secrets.token_urlsafe(48)})
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
        again = await http.post("/auth/token", data=form)  # the failed attempt used the code up
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        assert again.headers["cache-control"] == "no-store"


async def test_a_replayed_code_revokes_what_it_yielded(base_url: str, settings: Settings,
                                                       fhir: httpx.AsyncClient) -> None:
    # RFC 6749 §4.1.2: a code presented twice was intercepted; the tokens the first exchange gave stop working.
    pid, app, user = await _patient_user(settings, fhir)
    client = oauth_client(app, SCOPE, base_url)
    verifier = secrets.token_urlsafe(48)
    url, _ = client.create_authorization_url(f"{base_url}/auth/authorize", code_verifier=verifier,
                                             aud=f"{base_url}/fhir/r4")
    before = int(time.time())
    code = code_of((await sign_in(base_url, url, user)).headers["location"])["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": app.client_id,
            "code_verifier": verifier}
    async with httpx.AsyncClient(base_url=base_url) as http:
        first = await http.post("/auth/token", data=form)
        assert first.status_code == 200, first.text
        assert first.headers["cache-control"] == "no-store" and first.headers["pragma"] == "no-cache"
        tokens = first.json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (await http.get(f"/fhir/r4/Patient/{pid}", headers=bearer)).status_code == 200
        keys = KeySet.import_key_set((await http.get("/auth/jwks")).json())
        claims = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims
        assert before - 5 <= claims["auth_time"] <= int(time.time())
        await asyncio.sleep(1.1)  # a refreshed id_token keeps the sign-in's auth_time, not the refresh's
        refreshed = await http.post("/auth/token", data={"grant_type": "refresh_token", "client_id": app.client_id,
                                                         "refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.headers["cache-control"] == "no-store"
        again = jwt.decode(refreshed.json()["id_token"], keys, algorithms=["RS256"]).claims
        assert again["auth_time"] == claims["auth_time"] and again["iat"] > claims["iat"]
        replay = await http.post("/auth/token", data=form)
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        deadline = time.monotonic() + 3
        while (await http.get(f"/fhir/r4/Patient/{pid}", headers=bearer)).status_code != 401:
            assert time.monotonic() < deadline, "the first exchange's access token still works"
            await asyncio.sleep(0.1)
        later = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        assert (await http.get(f"/fhir/r4/Patient/{pid}", headers=later)).status_code == 401


async def test_refresh_rotates_and_a_replay_ends_the_family(base_url: str, settings: Settings,
                                                           fhir: httpx.AsyncClient) -> None:
    pid, app, user = await _patient_user(settings, fhir)
    first, _ = await authorize(app, base_url, user, SCOPE)
    async with httpx.AsyncClient(base_url=base_url) as http:
        form = {"grant_type": "refresh_token", "client_id": app.client_id}
        second = await http.post("/auth/token", data={**form, "refresh_token": first["refresh_token"]})
        assert second.status_code == 200, second.text
        rotated = second.json()
        assert rotated["refresh_token"] != first["refresh_token"] and rotated["patient"] == pid
        replay = await http.post("/auth/token", data={**form, "refresh_token": first["refresh_token"]})
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        # The replay revoked the whole family: the rotated refresh token and its access token too.
        after = await http.post("/auth/token", data={**form, "refresh_token": rotated["refresh_token"]})
        assert after.status_code == 400 and after.json()["error"] == "invalid_grant"
    refused = await _refused_soon(base_url, rotated["access_token"], f"/fhir/r4/Patient/{pid}")
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]


async def test_no_refresh_token_without_offline_access(base_url: str, settings: Settings,
                                                      fhir: httpx.AsyncClient) -> None:
    pid, app, user = await _patient_user(settings, fhir)
    token, _ = await authorize(app, base_url, user, "launch/patient patient/*.rs")
    assert "refresh_token" not in token


async def test_the_user_may_narrow_the_scopes(base_url: str, settings: Settings, fhir: httpx.AsyncClient) -> None:
    pid, app, user = await _patient_user(settings, fhir)
    token, _ = await authorize(app, base_url, user, SCOPE, drop_scopes=("offline_access",))
    assert "offline_access" not in token["scope"].split() and "refresh_token" not in token


@pytest.mark.parametrize(("registered", "asked"), [
    # scopes beyond the registration are dropped
    ("launch/patient patient/*.rs", "launch/patient patient/*.rs system/*.* user/*.cruds"),
    # a patient never grants user/, system/ or the admin scope, even when the client is registered for them
    ("launch/patient patient/*.rs user/*.rs system/*.rs fhirgraph/admin",
     "launch/patient patient/*.rs user/*.rs system/*.rs fhirgraph/admin"),
])
async def test_a_patient_gets_only_registered_patient_scopes(base_url: str, settings: Settings,
                                                            fhir: httpx.AsyncClient, registered: str,
                                                            asked: str) -> None:
    pid = await _patient(fhir)
    app = await register_app(settings, scope=registered)
    user = await register_user(settings, f"Patient/{pid}")
    token, _ = await authorize(app, base_url, user, asked)
    assert token["scope"].split() == ["launch/patient", "patient/*.rs"]


async def test_a_practitioner_picks_the_patient(base_url: str, settings: Settings, fhir: httpx.AsyncClient) -> None:
    pid = await _patient(fhir, "Picked")
    made = await fhir.post("/Practitioner", json={"resourceType": "Practitioner", "name": [{"family": "Doc"}]})
    app = await register_app(settings)
    user = await register_user(settings, f"Practitioner/{made.json()['id']}")
    token, _ = await authorize(app, base_url, user, "launch/patient patient/*.rs openid fhirUser", patient=pid)
    assert token["patient"] == pid


async def test_the_picker_finds_a_patient_by_name(base_url: str, settings: Settings, fhir: httpx.AsyncClient) -> None:
    # A clinic with more patients than the picker lists: the practitioner searches by name, in the same form.
    family = "Findme" + secrets.token_hex(4)
    pid = await _patient(fhir, family)
    made = await fhir.post("/Practitioner", json={"resourceType": "Practitioner", "name": [{"family": "Doc"}]})
    app = await register_app(settings)
    user = await register_user(settings, f"Practitioner/{made.json()['id']}")
    client = oauth_client(app, "launch/patient patient/*.rs", base_url)
    verifier = secrets.token_urlsafe(48)
    url, _ = client.create_authorization_url(f"{base_url}/auth/authorize", code_verifier=verifier,
                                             aud=f"{base_url}/fhir/r4")
    async with httpx.AsyncClient(base_url=base_url) as browser:
        fields = hidden_fields((await browser.get(url)).text)
        consent = await browser.post("/auth/login", data={**fields, "username": user, "password": PASSWORD})
        assert consent.status_code == 200 and "name=find" in consent.text
        form = {**hidden_fields(consent.text), "scope": "launch/patient", "decision": "find", "find": family[:8]}
        found = await browser.post("/auth/consent", data=form)
        assert found.status_code == 200
        options = re.findall(r"<option value='([^']+)'>", found.text)
        assert pid in options and f"value='{family[:8]}'" in found.text
        missing = await browser.post("/auth/consent", data={**form, "find": "Zz" + secrets.token_hex(6)})
        assert missing.status_code == 200 and "No patient" in missing.text
        form = [*hidden_fields(found.text).items(), ("scope", "launch/patient"), ("scope", "patient/*.rs"),
                ("decision", "allow"), ("patient", pid)]
        done = await browser.post("/auth/consent", data=dict(form) | {"scope": "launch/patient"})
        assert done.status_code == 302 and "code=" in done.headers["location"], done.text
    token = await client.fetch_token(f"{base_url}/auth/token", authorization_response=done.headers["location"],
                                     code_verifier=verifier)
    await client.aclose()
    assert token["patient"] == pid


async def test_wrong_passwords_are_throttled(base_url: str, settings: Settings, fhir: httpx.AsyncClient) -> None:
    pid, app, user = await _patient_user(settings, fhir)
    client = oauth_client(app, SCOPE, base_url)
    url, _ = client.create_authorization_url(f"{base_url}/auth/authorize", code_verifier=secrets.token_urlsafe(48),
                                             aud=f"{base_url}/fhir/r4")
    async with httpx.AsyncClient(base_url=base_url) as browser:
        fields = hidden_fields((await browser.get(url)).text)
        statuses = []
        for _ in range(settings.login_max_failures + 1):
            answer = await browser.post("/auth/login", data={**fields, "username": user, "password": "wrong-one"})
            statuses.append(answer.status_code)
        assert statuses[:-1] == [401] * settings.login_max_failures and statuses[-1] == 429
        # Even the right password waits out the lockout.
        right = await browser.post("/auth/login", data={**fields, "username": user, "password": PASSWORD})
        assert right.status_code == 429 and "retry-after" in right.headers


async def test_forms_without_their_csrf_token_are_refused(base_url: str, settings: Settings) -> None:
    app = await register_app(settings)
    client = oauth_client(app, SCOPE, base_url)
    url, _ = client.create_authorization_url(f"{base_url}/auth/authorize", code_verifier=secrets.token_urlsafe(48),
                                             aud=f"{base_url}/fhir/r4")
    async with httpx.AsyncClient(base_url=base_url) as browser:
        fields = hidden_fields((await browser.get(url)).text)
    async with httpx.AsyncClient(base_url=base_url) as other:  # no cookie: another site's form
        answer = await other.post("/auth/login", data={**fields, "username": "x", "password": "y"})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


async def test_two_sign_ins_in_one_browser_both_keep_valid_forms(base_url: str, settings: Settings,
                                                                  fhir: httpx.AsyncClient) -> None:
    # Two tabs of one browser (one cookie jar) open the login page; the first tab's form still works after the
    # second opened, as it would with a per-browser CSRF secret, not one per page.
    _, app, user = await _patient_user(settings, fhir)
    client = oauth_client(app, SCOPE, base_url)
    urls = [client.create_authorization_url(f"{base_url}/auth/authorize", code_verifier=secrets.token_urlsafe(48),
                                            aud=f"{base_url}/fhir/r4")[0] for _ in range(2)]
    async with httpx.AsyncClient(base_url=base_url) as browser:
        first, second = [hidden_fields((await browser.get(url)).text) for url in urls]
        for fields in (first, second):
            consent = await browser.post("/auth/login", data={**fields, "username": user, "password": PASSWORD})
            assert consent.status_code == 200, consent.text
    await client.aclose()


async def test_introspection_and_revocation(base_url: str, settings: Settings, fhir: httpx.AsyncClient) -> None:
    pid, app, user = await _patient_user(settings, fhir)
    token, _ = await authorize(app, base_url, user, SCOPE)
    # a protected resource of the clinic, registered with ``introspect``: it may introspect every token of its clinic
    resource = await register_app(settings, public=False, scope="introspect patient/*.rs")
    creds = (resource.client_id, str(resource.client_secret))
    async with httpx.AsyncClient(base_url=base_url) as http:
        public = await http.post("/auth/introspect", data={"token": token["access_token"], "client_id": app.client_id})
        assert public.status_code in (400, 401) and public.json()["error"] == "invalid_client"
        seen = (await http.post("/auth/introspect", data={"token": token["access_token"]}, auth=creds)).json()
        assert seen["active"] is True and seen["patient"] == pid and seen["client_id"] == app.client_id
        junk = await http.post("/auth/introspect", data={"token": "junk"}, auth=creds)
        assert junk.json() == {"active": False}
        revoked = await http.post("/auth/revoke", data={"token": token["access_token"], "client_id": app.client_id})
        assert revoked.status_code == 200
        after = (await http.post("/auth/introspect", data={"token": token["access_token"]}, auth=creds)).json()
        assert after == {"active": False}
    refused = await _refused_soon(base_url, token["access_token"], f"/fhir/r4/Patient/{pid}")
    assert refused.status_code == 401


async def test_a_client_introspects_its_own_tokens_and_only_an_introspect_client_the_clinic_s(
        base_url: str, settings: Settings, fhir: httpx.AsyncClient) -> None:
    from tests.auth.oauth_helpers import backend_client

    pid = await _patient(fhir)
    user = await register_user(settings, f"Patient/{pid}")
    app = await register_app(settings, public=False)  # confidential, without ``introspect``
    other = await register_app(settings, public=False)
    # protected resources, registered as `fhirgraph clients add --grant client_credentials --scope "introspect ..."`
    resource = await backend_client(settings, scopes=("introspect", "system/Patient.rs"), name="Resource")
    elsewhere = await backend_client(settings, scopes=("introspect",), tenant="tenant-b", name="Elsewhere")
    token, _ = await authorize(app, base_url, user, SCOPE)
    async with httpx.AsyncClient(base_url=base_url) as http:
        async def seen_by(client_id: str, secret: str | None, value: str) -> dict[str, Any]:
            answer = await http.post("/auth/introspect", data={"token": value}, auth=(client_id, str(secret)))
            assert answer.status_code == 200, answer.text
            found: dict[str, Any] = answer.json()
            return found

        for value in (token["access_token"], token["refresh_token"]):
            own = await seen_by(app.client_id, app.client_secret, value)
            assert own["active"] is True and own["client_id"] == app.client_id
            # another client of the clinic, an introspecting resource of another clinic: nothing, not even that
            # the token exists
            assert await seen_by(other.client_id, other.client_secret, value) == {"active": False}
            assert await seen_by(elsewhere["client_id"], elsewhere["client_secret"], value) == {"active": False}
            clinic = await seen_by(resource["client_id"], resource["client_secret"], value)
            assert clinic["active"] is True and clinic["client_id"] == app.client_id
        # ``introspect`` is the registration's, never a token's: not granted by default, refused when asked for
        auth = (resource["client_id"], resource["client_secret"])
        granted = await http.post("/auth/token", data={"grant_type": "client_credentials"}, auth=auth)
        assert granted.status_code == 200 and granted.json()["scope"] == "system/Patient.rs"
        asked = await http.post("/auth/token", data={"grant_type": "client_credentials", "scope": "introspect"},
                                auth=auth)
        assert asked.status_code == 400 and asked.json()["error"] == "invalid_scope"


async def test_bad_tokens_are_401_invalid_token(base_url: str, settings: Settings, fhir: httpx.AsyncClient) -> None:
    pid, app, user = await _patient_user(settings, fhir)
    token, _ = await authorize(app, base_url, user, SCOPE)
    # The same server named another way (localhost, not 127.0.0.1) is another audience.
    other_base = base_url.replace("127.0.0.1", "localhost")
    async with httpx.AsyncClient() as http:
        for base, value in ((base_url, "a.b.c"), (base_url, token["access_token"][:-4] + "AAAA"),
                            (other_base, token["access_token"])):
            answer = await http.get(f"{base}/fhir/r4/Patient/{pid}", headers={"Authorization": f"Bearer {value}"})
            assert answer.status_code == 401, answer.text
            assert answer.headers["www-authenticate"].endswith('error="invalid_token"')
            assert answer.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("form", [
    {}, {"grant_type": "password", "username": "a", "password": "b"}, {"grant_type": "authorization_code"},
    {"grant_type": "refresh_token", "refresh_token": "x" * 5000}, {"grant_type": "client_credentials"},
    {"grant_type": "client_credentials", "client_assertion_type":
     "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": "e30.e30.x"},
    {"grant_type": "authorization_code", "code": "\x00", "client_id": ["a", "b"]},
])
async def test_junk_at_the_token_endpoint_is_an_oauth_error(base_url: str, form: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        answer = await http.post("/auth/token", data=form)
        assert answer.status_code in (400, 401), answer.text
        assert answer.json()["error"] in ("invalid_request", "invalid_client", "unsupported_grant_type",
                                          "invalid_grant", "unauthorized_client")
        for path in ("/auth/introspect", "/auth/revoke"):
            other = await http.post(path, data=form)
            assert other.status_code in (400, 401) and "error" in other.json()
        raw = await http.post("/auth/token", content=b"\xff\xfe", headers={"Content-Type": "application/json"})
        assert raw.status_code == 400 and raw.json()["error"] == "invalid_request"


async def test_ehr_launch_carries_the_launch_context(base_url: str, settings: Settings,
                                                    fhir: httpx.AsyncClient) -> None:
    from tests.auth.oauth_helpers import issue_launch

    pid = await _patient(fhir, "Launched")
    made = await fhir.post("/Practitioner", json={"resourceType": "Practitioner", "name": [{"family": "Ehr"}]})
    app = await register_app(settings, scope="launch openid fhirUser patient/*.rs user/*.rs")
    user = await register_user(settings, f"Practitioner/{made.json()['id']}")
    launch = await issue_launch(settings, pid)
    client = oauth_client(app, "launch patient/*.rs", base_url)
    verifier = secrets.token_urlsafe(48)
    url, _ = client.create_authorization_url(f"{base_url}/auth/authorize", code_verifier=verifier,
                                             aud=f"{base_url}/fhir/r4", launch=launch)
    location = (await sign_in(base_url, url, user)).headers["location"]  # no picker: the EHR chose the patient
    token = await client.fetch_token(f"{base_url}/auth/token", authorization_response=location,
                                     code_verifier=verifier)
    await client.aclose()
    assert token["patient"] == pid
    bogus, _ = client.create_authorization_url(f"{base_url}/auth/authorize", code_verifier=verifier,
                                               aud=f"{base_url}/fhir/r4", launch="not-one-we-issued")
    async with httpx.AsyncClient() as http:
        refused = await http.get(bogus)
    assert refused.status_code == 302 and code_of(refused.headers["location"])["error"] == ["invalid_request"]


async def test_a_related_person_gets_their_patients_context(base_url: str, settings: Settings,
                                                           fhir: httpx.AsyncClient) -> None:
    pid = await _patient(fhir, "Child")
    made = await fhir.post("/RelatedPerson", json={"resourceType": "RelatedPerson", "patient": {
        "reference": f"Patient/{pid}"}, "name": [{"family": "Parent"}]})
    assert made.status_code == 201, made.text
    app = await register_app(settings)
    user = await register_user(settings, f"RelatedPerson/{made.json()['id']}")
    token, _ = await authorize(app, base_url, user, "launch/patient patient/*.rs")
    assert token["patient"] == pid
    async with httpx.AsyncClient(base_url=base_url) as http:
        read = await http.get(f"/fhir/r4/Patient/{pid}", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert read.status_code == 200


async def test_a_patient_token_sees_only_its_compartment(base_url: str, settings: Settings,
                                                        fhir: httpx.AsyncClient) -> None:
    pid = await _patient(fhir, "Mine")
    other = await _patient(fhir, "NotMine")
    app = await register_app(settings)
    user = await register_user(settings, f"Patient/{pid}")
    token, _ = await authorize(app, base_url, user, SCOPE)
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    async with httpx.AsyncClient(base_url=f"{base_url}/fhir/r4", headers=bearer) as http:
        assert (await http.get(f"/Patient/{other}")).status_code == 404
        found = (await http.get("/Patient", params={"_count": 100})).json()
        assert [e["resource"]["id"] for e in found.get("entry", [])] == [pid]
        write = await http.post("/Patient", json={"resourceType": "Patient"})
        assert write.status_code == 403  # patient/*.rs reads only
        assert 'error="insufficient_scope"' in write.headers["www-authenticate"]
        assert write.json()["resourceType"] == "OperationOutcome"
        # not even its own compartment's audit trail: that is the clinic administrators' (issue 11)
        trail = await http.get("/AuditEvent", params={"patient": pid})
        assert trail.status_code == 403 and 'error="insufficient_scope"' in trail.headers["www-authenticate"]
        assert "does not grant AuditEvent" in trail.json()["issue"][0]["diagnostics"]
    async with httpx.AsyncClient(base_url=base_url, headers=bearer) as http:
        graph = await http.post("/graphql", json={"query": f'{{ patient(id: "{other}") {{ id }} }}'})
        assert graph.status_code == 200
        assert (graph.json()["data"] or {}).get("patient") is None


async def test_the_audit_trail_needs_a_scope_naming_it(base_url: str, settings: Settings,
                                                       fhir: httpx.AsyncClient) -> None:
    # Issue 11: a practitioner's user/*.rs reads the clinic's records, not who accessed them.
    made = await fhir.post("/Practitioner", json={"resourceType": "Practitioner", "name": [{"family": "Audit"}]})
    user = await register_user(settings, f"Practitioner/{made.json()['id']}")
    wide = await register_app(settings, scope="openid fhirUser user/*.rs")
    token, _ = await authorize(wide, base_url, user, "openid fhirUser user/*.rs user/AuditEvent.rs")
    assert "user/AuditEvent.rs" not in token["scope"].split()  # a wildcard registration does not cover it
    admin = await register_app(settings, scope="openid fhirUser user/*.rs user/AuditEvent.rs")
    named, _ = await authorize(admin, base_url, user, "openid fhirUser user/*.rs user/AuditEvent.rs")
    assert "user/AuditEvent.rs" in named["scope"].split()
    async with httpx.AsyncClient(base_url=f"{base_url}/fhir/r4") as http:
        refused = await http.get("/AuditEvent", params={"outcome": "0"},
                                 headers={"Authorization": f"Bearer {token['access_token']}"})
        assert refused.status_code == 403, refused.text
        assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
        assert "requires user/AuditEvent.s" in refused.json()["issue"][0]["diagnostics"]
        allowed = await http.get("/AuditEvent", params={"outcome": "0"},
                                 headers={"Authorization": f"Bearer {named['access_token']}"})
        assert allowed.status_code == 200 and allowed.json()["type"] == "searchset", allowed.text
    # the clinic's API key (system/*.*) acts for the clinic: it reads the trail
    assert (await fhir.get("/AuditEvent", params={"outcome": "0"})).status_code == 200


async def test_consent_narrows_even_without_a_scope_parameter(base_url: str, settings: Settings,
                                                             fhir: httpx.AsyncClient) -> None:
    pid, app, user = await _patient_user(settings, fhir)
    params = {"response_type": "code", "client_id": app.client_id, "redirect_uri": REDIRECT, "state": "s",
              "aud": f"{base_url}/fhir/r4", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
              "code_challenge_method": "S256"}
    async with httpx.AsyncClient() as http:
        url = str(http.build_request("GET", f"{base_url}/auth/authorize", params=params).url)
    done = await sign_in(base_url, url, user, drop_scopes=("offline_access", "online_access"))
    code = code_of(done.headers["location"])["code"][0]
    async with httpx.AsyncClient(base_url=base_url) as http:
        token = (await http.post("/auth/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": app.client_id,
            "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"})).json()
    assert "offline_access" not in token["scope"].split() and "refresh_token" not in token
    assert not any(s.startswith("user/") for s in token["scope"].split())


async def test_concurrent_wrong_passwords_are_all_counted(base_url: str, settings: Settings,
                                                         fhir: httpx.AsyncClient) -> None:
    pid, app, user = await _patient_user(settings, fhir)
    client = oauth_client(app, SCOPE, base_url)
    url, _ = client.create_authorization_url(f"{base_url}/auth/authorize", code_verifier=secrets.token_urlsafe(48),
                                             aud=f"{base_url}/fhir/r4")
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as browser:
        fields = hidden_fields((await browser.get(url)).text)
        answers = await asyncio.gather(*(browser.post("/auth/login", data={**fields, "username": user,
                                                                           "password": f"guess-{i}"})
                                         for i in range(20)))
    codes = [a.status_code for a in answers]
    assert codes.count(401) == settings.login_max_failures and codes.count(429) == 20 - settings.login_max_failures


async def test_a_refused_refresh_does_not_spend_the_token(base_url: str, settings: Settings,
                                                         fhir: httpx.AsyncClient) -> None:
    pid, app, user = await _patient_user(settings, fhir)
    first, _ = await authorize(app, base_url, user, SCOPE)
    form = {"grant_type": "refresh_token", "client_id": app.client_id, "refresh_token": first["refresh_token"]}
    async with httpx.AsyncClient(base_url=base_url) as http:
        wider = await http.post("/auth/token", data={**form, "scope": SCOPE + " user/*.rs"})
        assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
        ok = await http.post("/auth/token", data=form)
        assert ok.status_code == 200, ok.text
        racing = await asyncio.gather(*(http.post("/auth/token", data={**form, "refresh_token":
                                                                        ok.json()["refresh_token"]})
                                        for _ in range(4)))
        # One token presented four times at once is a replay: at most one presentation is answered (which one, and
        # whether the replay is seen before it is, is timing), and whatever it was given ends with its family.
        codes = [r.status_code for r in racing]
        assert codes.count(200) <= 1 and set(codes) <= {200, 400}, codes
        for won in (r for r in racing if r.status_code == 200):
            later = await http.post("/auth/token", data={**form, "refresh_token": won.json()["refresh_token"]})
            assert later.status_code == 400 and later.json()["error"] == "invalid_grant"
