"""A full SMART standalone launch from the command line: authlib's OAuth client for the protocol, httpx for the
sign-in and consent forms (what a browser would post).

Usage: python examples/smart_login.py BASE_URL USERNAME PASSWORD  (the demo logins `serve --demo` prints)
"""

import html
import re
import secrets
import sys

import httpx
from authlib.integrations.httpx_client import OAuth2Client


def fields(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r"name='(\w+)' value='([^']*)'", page)}


def main(base: str, username: str, password: str) -> None:
    app = OAuth2Client("demo-app", scope="launch/patient openid fhirUser offline_access patient/*.rs",
                       redirect_uri="http://localhost:8080/callback", code_challenge_method="S256")
    verifier = secrets.token_urlsafe(48)
    url, _ = app.create_authorization_url(f"{base}/auth/authorize", code_verifier=verifier, aud=f"{base}/fhir/r4")
    with httpx.Client(base_url=base) as browser:
        login = fields(browser.get(url).text)
        page = browser.post("/auth/login", data={**login, "username": username, "password": password}).text
        form: dict[str, object] = {**fields(page), "decision": "allow",
                                   "scope": re.findall(r"name=scope value='([^']+)'", page)}
        picker = re.search(r"<option value='([^']+)'", page)  # a practitioner picks a patient
        if picker:
            form["patient"] = picker.group(1)
        done = browser.post("/auth/consent", data=form)
    token = app.fetch_token(f"{base}/auth/token", authorization_response=done.headers["location"],
                            code_verifier=verifier)
    print("patient:", token["patient"], "scope:", token["scope"])
    print("access token:", token["access_token"][:24] + "…")
    patient = httpx.get(f"{base}/fhir/r4/Patient/{token['patient']}",
                        headers={"Authorization": f"Bearer {token['access_token']}"})
    print(patient.status_code, patient.json().get("name"))


if __name__ == "__main__":
    main(*sys.argv[1:4])
