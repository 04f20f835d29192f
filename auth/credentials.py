"""The one credential parser, for HTTP requests and websocket connections alike.

A caller presents an API key in ``X-API-Key``, in ``Api-Key`` (the vendor API's header, seed 002) or as
``Authorization: Bearer <credential>``. A graphql-transport-ws client may instead put the same names in its
``connection_init`` payload (``{"apiKey": ...}``, ``{"Authorization": "Bearer ..."}``, also under ``headers``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from store.errors import Unauthorized

# connection_init payload keys, lower-cased.
PARAM_KEY_NAMES = ("apikey", "api-key", "x-api-key")


def from_headers(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The credential of an HTTP request or websocket handshake, or None when it presents none."""
    key = api_key = authz = b""
    for name, value in headers:  # every request passes here: one plain loop over the raw headers
        if name == b"x-api-key":
            key = value
        elif name == b"api-key":
            api_key = value
        elif name == b"authorization":
            authz = value
    if key or api_key:
        return (key or api_key).decode("latin-1").strip() or None
    if authz[:7].lower() == b"bearer ":
        return authz[7:].decode("latin-1").strip() or None
    return None


def from_connection_params(params: Any) -> str | None:
    """The credential of a graphql-transport-ws ``connection_init`` payload (its top level before its
    ``headers``), or None; ``Unauthorized`` when the payload is not an object or a credential is not a string."""
    if params is None:
        return None
    if not isinstance(params, Mapping):
        raise Unauthorized("connection_init payload must be an object")
    nested = params.get("headers")
    for level in (params, nested if isinstance(nested, Mapping) else {}):
        lowered = {str(k).lower(): v for k, v in level.items() if k != "headers"}
        if any(lowered.get(name) is not None and not isinstance(lowered[name], str)
               for name in (*PARAM_KEY_NAMES, "authorization")):
            raise Unauthorized("Credentials must be strings")
        found = _pick({k: v for k, v in lowered.items() if isinstance(v, str)})
        if found is not None:
            return found
    return None


def _pick(values: Mapping[str, str]) -> str | None:
    key = next((values[name] for name in ("x-api-key", "api-key", "apikey") if values.get(name)), "")
    if key:
        return key.strip() or None
    authz = values.get("authorization", "")
    if authz[:7].lower() == "bearer ":
        return authz[7:].strip() or None
    return None
