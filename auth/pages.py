"""The login, consent and patient-picker pages: plain HTML forms, no JavaScript, every value escaped."""

from __future__ import annotations

from html import escape

STYLE = ("body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}"
         "label{display:block;margin:.6rem 0}input[type=text],input[type=password],select{width:100%;"
         "padding:.4rem}button{padding:.5rem 1.2rem;margin:.8rem .4rem 0 0}.error{color:#a00}"
         "fieldset{border:1px solid #ccc;margin:1rem 0}code{font-size:.9em}")

SCOPE_TEXT = {
    "openid": "Confirm who you are", "fhirUser": "Know your user record (Practitioner, Patient or RelatedPerson)",
    "offline_access": "Keep access while you are away (refresh token)",
    "online_access": "Keep access while you are signed in (refresh token)",
    "launch/patient": "Choose a patient to work with", "launch": "Use the context the EHR launched it in",
}


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<meta name=viewport content='width=device-width'><style>{STYLE}</style></head>"
            f"<body><h1>{escape(title)}</h1>{body}</body></html>")


def _hidden(name: str, value: str) -> str:
    return f"<input type=hidden name='{escape(name)}' value='{escape(value)}'>"


def login(*, client_name: str, request: str, csrf: str, error: str = "", username: str = "") -> str:
    problem = f"<p class=error role=alert>{escape(error)}</p>" if error else ""
    return _page("Sign in", f"""<p><strong>{escape(client_name)}</strong> asks to reach your clinic's records.</p>
{problem}<form method=post action=login>{_hidden("csrf", csrf)}{_hidden("request", request)}
<label>User name <input type=text name=username autocomplete=username required value='{escape(username)}'></label>
<label>Password <input type=password name=password autocomplete=current-password required></label>
<button type=submit>Sign in</button></form>""")


def consent(*, client_name: str, user: str, scopes: list[str], request: str, csrf: str, ticket: str,
            patients: list[tuple[str, str]] | None, find: str = "", error: str = "") -> str:
    problem = f"<p class=error role=alert>{escape(error)}</p>" if error else ""
    items = "".join(
        f"<label><input type=checkbox name=scope value='{escape(s)}' checked> "
        f"{escape(SCOPE_TEXT.get(s, ''))} <code>{escape(s)}</code></label>" for s in scopes)
    picker = ""
    if patients is not None:
        options = "".join(f"<option value='{escape(pid)}'>{escape(label)}</option>" for pid, label in patients)
        # The first patients by family name, or those the search found: a search is a submit of this same form
        # (decision=find), so it works without JavaScript. ``patient`` is required only to allow.
        picker = (f"<fieldset><legend>Patient</legend><label>Work with <select name=patient>"
                  f"{options}</select></label> <label>or find by name <input name=find value='{escape(find)}' "
                  f"maxlength=64 autocomplete=off></label> "
                  f"<button type=submit name=decision value=find formnovalidate>Find</button></fieldset>")
    return _page("Allow access?", f"""<p>Signed in as <strong>{escape(user)}</strong>.
<strong>{escape(client_name)}</strong> asks to:</p>{problem}
<form method=post action=consent>{_hidden("csrf", csrf)}{_hidden("request", request)}{_hidden("ticket", ticket)}
<fieldset><legend>Access</legend>{items}</fieldset>{picker}
<button type=submit name=decision value=allow>Allow</button>
<button type=submit name=decision value=deny>Deny</button></form>""")


def problem(title: str, message: str) -> str:
    return _page(title, f"<p class=error role=alert>{escape(message)}</p>")
