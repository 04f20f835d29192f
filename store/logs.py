"""How an exception is logged: its type and, unless it is a domain error, its stack's code locations — never its
message or the values in its frames, either of which can carry patient data (logs never do, at any level). A
domain error's message may quote the caller's input back to the caller (store/errors.py): in a log it would be
patient data, so only its type is logged."""

from __future__ import annotations

import traceback

from store.errors import DomainError


def described(exc: BaseException) -> str:
    if isinstance(exc, DomainError):
        return type(exc).__name__
    return f"{type(exc).__name__}\n{''.join(traceback.format_tb(exc.__traceback__))}".rstrip()
