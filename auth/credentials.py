"""The one credential parser, for HTTP requests and websocket connections alike.

A caller presents an API key in ``X-API-Key``, in ``Api-Key`` (the vendor API's header, seed 002) or as
``Authorization: Bearer <credential>``. A graphql-transport-ws client may instead put the same names in its
``connection_init`` payload (``{"apiKey": ...}``, ``{"Authorization": "Bearer ..."}``, also under ``headers``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from store.errors import Unauthorized

# Header names as ASGI gives them (lower-case bytes); only these are decoded.
HEADER_NAMES = frozenset({b"x-api-key", b"api-key", b"authorization"})
# connection_init payload keys, lower-cased.
PARAM_KEY_NAMES = ("apikey", "api-key", "x-api-key")


def from_headers(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The credential of an HTTP request or websocket handshake, or None when it presents none."""
    found = {name: value for name, value in headers if name in HEADER_NAMES}
    return _pick({k.decode("latin-1"): v.decode("latin-1") for k, v in found.items()})


def from_connection_params(params: Any) -> str | None:
    """The credential of a graphql-transport-ws ``connection_init`` payload, or None; ``Unauthorized`` when
    the payload is not an object or a credential is not a string."""
    if params is None:
        return None
    if not isinstance(params, Mapping):
        raise Unauthorized("connection_init payload must be an object")
    nested = params.get("headers")
    merged = {**(nested if isinstance(nested, Mapping) else {}), **params}
    lowered = {str(k).lower(): v for k, v in merged.items() if k != "headers"}
    wanted = [lowered.get(name) for name in (*PARAM_KEY_NAMES, "authorization")]
    if any(v is not None and not isinstance(v, str) for v in wanted):
        raise Unauthorized("Credentials must be strings")
    return _pick({k: v for k, v in lowered.items() if isinstance(v, str)})


def _pick(values: Mapping[str, str]) -> str | None:
    key = next((values[name] for name in ("x-api-key", "api-key", "apikey") if values.get(name)), "")
    if key:
        return key.strip() or None
    authz = values.get("authorization", "")
    if authz[:7].lower() == "bearer ":
        return authz[7:].strip() or None
    return None
