"""``_include`` and ``_revinclude`` (https://hl7.org/fhir/R4/search.html#include): what a spec asks for, read
off the reference keys of a page's stored documents. The reads themselves are the caller's (store/queries.py)."""

from __future__ import annotations

from typing import Any

from store.errors import Invalid
from store.params import param_table
from store.validation import is_resource_type

# At most this many resources per type and spec.
MAX_INCLUDES = 1000


def included_ids(rt: str, docs: list[dict[str, Any]], spec: str) -> dict[str, list[str]]:
    """``_include=<rt>:<param>[:<target type>]``: the ids, per type, that the stored ``docs`` of ``rt`` reference
    through the reference parameter ``param``. Unknown parameters and other source types raise ``Invalid``."""
    src, _, rest = spec.partition(":")
    param, _, target = rest.partition(":")
    p = param_table(rt).get(param)
    if src != rt or p is None or p.type != "reference":
        raise Invalid(f"Unsupported _include '{spec}'", paths=["_include"])
    by_type: dict[str, list[str]] = {}
    for d in docs:
        for ref in d["_sys"]["k"].get(param, []):
            t, _, rid = ref.partition("/")
            if rid and (not target or t == target):
                by_type.setdefault(t, []).append(rid)
    return {t: ids[:MAX_INCLUDES] for t, ids in by_type.items() if is_resource_type(t)}


def revinclude_source(spec: str) -> tuple[str, str]:
    """``_revinclude=<type>:<param>[:<target type>]``: the type and reference parameter whose resources
    pointing at the page are included. Unknown ones raise ``Invalid``."""
    src, _, param = spec.partition(":")
    param = param.partition(":")[0]
    p = param_table(src).get(param) if is_resource_type(src) else None
    if p is None or p.type != "reference":
        raise Invalid(f"Unsupported _revinclude '{spec}'", paths=["_revinclude"])
    return src, param
