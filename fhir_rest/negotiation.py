"""Content negotiation (FHIR R4 http.html#mime-type and §3.1.0.1.10 ``_format``): this server speaks FHIR JSON
only. A request whose ``_format`` or ``Accept`` admits no JSON representation is refused with 406, a request body
of a media type the interaction does not take with 415 — both as a JSON OperationOutcome, the one representation
every client can read.

``Accept`` is parsed by Werkzeug (RFC 9110 §12.5.1: quality values, quoting, wildcards); what is admitted is
FHIR's: ``application/fhir+json``, ``application/json`` (and the DSTU2 spelling ``application/json+fhir`` older
clients still send), ``*/*`` or ``application/*``, each without a ``fhirVersion`` parameter or with ours (4.0).
``_format`` wins over ``Accept``: ``json`` or one of those media types (a ``+`` in an unescaped query string
arrives as a space). What a route answers besides JSON (a Binary's own content, a Bulk Data file) is that
route's own negotiation; ``Negotiated`` leaves those alone.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_options_header

from store.errors import NotAcceptable, UnsupportedMediaType

JSON_TYPES = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
WILDCARDS = frozenset({"*/*", "*", "application/*"})
FORMATS = frozenset({"json", *JSON_TYPES})
FHIR_VERSIONS = frozenset({"4.0", "4.0.1"})
# Request bodies: FHIR JSON (text/json too, which some JSON libraries send).
BODY_TYPES = frozenset({*JSON_TYPES, "text/json"})
REFUSAL = "This server answers FHIR JSON only (application/fhir+json): "

# GET/HEAD paths (after the base) whose routes answer other media types and negotiate them themselves: a
# Binary's own content (read and vread), a Bulk Data file.
_NATIVE = re.compile(r"/(?:Binary/[^/]+(?:/_history/[^/]+)?|Document/[^/]+/Binary)")


@lru_cache(maxsize=512)
def admits_json(accept: str) -> bool:
    """Whether an ``Accept`` value admits FHIR JSON (an empty or unparseable one states no preference)."""
    ranges = list(parse_accept_header(accept, MIMEAccept))
    if not ranges:
        return True
    for value, quality in ranges:
        if quality <= 0:
            continue
        media, params = parse_options_header(value)
        if (media.lower() in WILDCARDS or media.lower() in JSON_TYPES) and _our_version(params):
            return True
    return False


def _our_version(params: dict[str, str]) -> bool:
    version = next((v for k, v in params.items() if k.lower() == "fhirversion"), None)
    return version is None or version in FHIR_VERSIONS


def check_accept(accept: str | None) -> None:
    """``NotAcceptable`` unless ``accept`` (None: absent) admits FHIR JSON."""
    if accept is not None and not admits_json(accept):
        raise NotAcceptable(REFUSAL + f"Accept '{accept[:80]}' admits none of it", paths=["Accept"])


def check_format(value: str) -> None:
    """``NotAcceptable`` unless ``_format`` names JSON."""
    media, params = parse_options_header(value.strip().replace(" ", "+"))
    if media.lower() not in FORMATS or not _our_version(params):
        raise NotAcceptable(REFUSAL + f"_format={value[:60]} is not supported", paths=["_format"])


def negotiate(accept: str | None, query: bytes | str) -> None:
    """The request's ``_format`` (the first, if any: it overrides ``Accept``), else its ``Accept``."""
    if query and (b"_format" in query if isinstance(query, bytes) else "_format" in query):
        raw = query.decode("latin-1") if isinstance(query, bytes) else query
        value = next((v for k, v in parse_qsl(raw, keep_blank_values=True) if k == "_format"), None)
        if value is not None:
            check_format(value)
            return
    check_accept(accept)


def body_type(content_type: str | None, default: str = "application/fhir+json") -> str:
    """The media type of a request body (lower-case, parameters dropped; ``default`` when the header is absent);
    ``UnsupportedMediaType`` for a FHIR JSON body of another FHIR version."""
    if content_type is None:
        return default
    media, params = parse_options_header(content_type)
    media = media.lower()
    if media in JSON_TYPES and not _our_version(params):
        raise UnsupportedMediaType(f"This server takes FHIR R4 (fhirVersion=4.0), not '{content_type[:80]}'",
                                   paths=["Content-Type"])
    return media


def require_body_type(content_type: str | None, allowed: frozenset[str], what: str, *,
                      default: str = "application/fhir+json") -> str:
    """``body_type``, which must be one of ``allowed`` (else ``UnsupportedMediaType`` saying ``what`` is taken)."""
    media = body_type(content_type, default)
    if media not in allowed:
        raise UnsupportedMediaType(f"Unsupported Content-Type '{media[:60]}': send {what}", paths=["Content-Type"])
    return media


class Negotiated:
    """Every FHIR route's ``_format``/``Accept`` check, in front of the route table (the read lane makes the same
    check itself: endpoints.read_reply). ``prefix``: the mount's, stripped to find the routes that negotiate on
    their own (``_NATIVE``)."""

    def __init__(self, app: ASGIApp, prefix: str):
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            path: str = scope["path"]
            own = method in ("GET", "HEAD") and _NATIVE.fullmatch(path[len(self.prefix):]) is not None
            if not own:
                accept = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"accept"), None)
                negotiate(accept, scope.get("query_string", b""))
        await self.app(scope, receive, send)
