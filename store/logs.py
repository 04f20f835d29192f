"""How an unexpected exception is logged: its type and its stack's code locations, never its message or the
values in its frames — either can carry patient data (logs never do, at any level). A domain error's message
is ours and safe: it is logged without a stack."""

from __future__ import annotations

import traceback

from store.errors import DomainError


def described(exc: BaseException) -> str:
    if isinstance(exc, DomainError):
        return f"{type(exc).__name__}: {exc.message}"
    return f"{type(exc).__name__}\n{''.join(traceback.format_tb(exc.__traceback__))}".rstrip()
