"""Failures as MongoDB reports them: the error reply of a command and the writeError of a statement."""

from __future__ import annotations

import json
import logging

from pymongo.errors import DuplicateKeyError, InvalidName, OperationFailure

from store.devdb.codec import Doc

log = logging.getLogger("fhirgraph.devdb")

CODE_NAMES = {
    2: "BadValue", 9: "FailedToParse", 20: "IllegalOperation", 26: "NamespaceNotFound", 27: "IndexNotFound",
    43: "CursorNotFound", 48: "NamespaceExists", 59: "CommandNotFound", 72: "InvalidOptions",
    73: "InvalidNamespace", 85: "IndexOptionsConflict", 238: "NotImplemented", 11000: "DuplicateKey",
}


class CommandError(Exception):
    """A command failure as MongoDB reports it: errmsg and code."""

    def __init__(self, code: int, errmsg: str):
        super().__init__(errmsg)
        self.code, self.errmsg = code, errmsg


def error_fields(exc: BaseException) -> Doc:
    """errmsg and code (and keyPattern/keyValue for duplicates) of any failure, as MongoDB words them."""
    if isinstance(exc, CommandError):
        return {"errmsg": exc.errmsg, "code": exc.code}
    if isinstance(exc, DuplicateKeyError):
        details = exc.details or {}
        fields = {"errmsg": details.get("errmsg", str(exc)), "code": 11000}
        return fields | {k: details[k] for k in ("keyPattern", "keyValue") if k in details}
    if isinstance(exc, OperationFailure):
        return {"errmsg": str(exc), "code": exc.code or 2}
    if isinstance(exc, InvalidName):
        return {"errmsg": str(exc), "code": 73}
    if isinstance(exc, NotImplementedError):
        return {"errmsg": f"not supported by devdb (mongomock): {exc}", "code": 238}
    # mongomock reports many user errors as TypeError/ValueError ($inc on a string, mixed projections), so
    # these are replies, not incidents: the type name stays in errmsg, the traceback goes to the debug log.
    log.debug("devdb: command failed", exc_info=exc)
    return {"errmsg": f"{type(exc).__name__}: {exc}", "code": 2}


def error_reply(exc: BaseException) -> Doc:
    fields = error_fields(exc)
    return {"ok": 0.0, **fields, "codeName": CODE_NAMES.get(fields["code"], "UnknownError")}


def duplicate_key(namespace: str, index: str, key_pattern: Doc, key_value: Doc) -> DuplicateKeyError:
    """The E11000 error of a write that would give ``index`` a second entry ``key_value``."""
    shown = ", ".join(f"{k}: {json.dumps(v, default=str)}" for k, v in key_value.items())
    errmsg = f"E11000 duplicate key error collection: {namespace} index: {index} dup key: {{ {shown} }}"
    details = {"errmsg": errmsg, "code": 11000, "keyPattern": key_pattern, "keyValue": key_value}
    return DuplicateKeyError(errmsg, 11000, details)


def reject(cmd: Doc, *options: str) -> None:
    """Fail on options devdb would otherwise silently ignore: a wrong answer is worse than an error."""
    for option in options:
        if cmd.get(option):
            raise NotImplementedError(option)
