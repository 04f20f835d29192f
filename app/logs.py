"""Logging of every process the CLI starts: one format for every logger (ours, uvicorn's, the driver's), JSON
lines or readable text, each line carrying the request id (and trace id) of the request it was written for.

Logs never carry patient data or credentials, at any level:
- our code logs route templates, types and counts, never values (store/logs.py describes exceptions);
- an exception attached to any record, ours or a library's, is rendered as its type and stack frames only —
  its message may quote a document;
- libraries that log whole documents (PyMongo's command log), URLs with query strings (httpx: a webhook endpoint
  may hold a token), issued tokens (authlib) or websocket frames and headers (websockets, uvicorn at DEBUG and
  TRACE) are held at least at the levels of ``FLOORS`` — on the logger, and again at the handler, so a library
  that resets its logger's level still cannot reach the output below its floor;
- uvicorn's own access line (it prints query strings) is never enabled (app/server.py); ``--access-log`` is the
  app's (app/telemetry.py).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import sys
import threading
import time
from typing import Any, TextIO

import orjson

from store.logs import described

FLOORS = {"pymongo": logging.INFO, "httpx": logging.WARNING, "httpcore": logging.WARNING,
          "websockets": logging.INFO, "authlib": logging.INFO, "uvicorn": logging.INFO}
FORMATS = ("json", "text")

# The request being answered (set by app/telemetry.py for the task serving it).
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Record attributes that are not fields (uvicorn adds its message with terminal colours).
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime",
                                                                             "color_message"}
# Fields an access line's text already shows.
_IN_TEXT = frozenset({"method", "route", "status", "duration_ms"})


class Floors(logging.Filter):
    """Drops a record of a floored library below its floor."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        for prefix, floor in FLOORS.items():
            if (name == prefix or name.startswith(prefix + ".")) and record.levelno < floor:
                return False
        return True


class NoWebsocketLines(logging.Filter):
    """uvicorn logs each websocket handshake with its path and query string (where browsers put credentials),
    access log or not; the app's own access log has a line for websockets without them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and '"WebSocket %s"' in record.msg)


class CollapsedTracebacks(logging.Filter):
    """A traceback already formatted into a message (Starlette hands uvicorn a failed start-up's that way) becomes
    its last line's exception type: an expected failure (the database unreachable) is one line, and an
    exception's message, which may quote a document, stays out."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        if isinstance(message, str) and message.startswith("Traceback (most recent call last)"):
            last = message.rstrip().rpartition("\n")[2]
            kind, _, detail = last.partition(":")
            record.msg = f"start-up failed: {kind.rpartition('.')[2]}"
            if kind.startswith("store.errors."):  # our own messages carry no patient data
                record.msg += f":{detail}"
            record.args = ()
        return True


def _trace_ids() -> tuple[str, str] | None:
    trace = sys.modules.get("opentelemetry.trace")  # only when tracing was set up (app/tracing.py)
    if trace is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """What a record carries besides its message: ``extra=`` fields, the request id, the trace ids."""
    fields: dict[str, Any] = {k: v for k, v in vars(record).items() if k not in _STANDARD}
    rid = request_id.get()
    if rid is not None:
        fields.setdefault("request_id", rid)
    ids = _trace_ids()
    if ids is not None:
        fields["trace_id"], fields["span_id"] = ids
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "msg": record.getMessage(), **_fields(record)}
        if record.exc_info and record.exc_info[1] is not None:
            line["exc"] = described(record.exc_info[1])
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <logger>: <message> key=value…`` for a person at a terminal (trial mode)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text
        record.exc_info = record.exc_text = None  # rendered below, without the exception's message
        try:
            text = super().format(record)
        finally:
            record.exc_info, record.exc_text = saved
        fields = [f"{k}={v}" for k, v in _fields(record).items() if v is not None and k not in _IN_TEXT]
        if fields:
            text += " " + " ".join(fields)
        if saved[0] and saved[0][1] is not None:
            text += "\n" + described(saved[0][1])
        return text


class BufferedHandler(logging.StreamHandler[TextIO]):
    """Writes lines as they come but flushes them at most every ``interval_s`` (a background thread flushes what
    is left) — a system call per line would cost a busy server a fifth of a cached read. Warnings and errors are
    flushed at once."""

    def __init__(self, stream: TextIO, interval_s: float = 0.25):
        super().__init__(stream)
        self.interval_s = interval_s
        self._last = 0.0
        threading.Thread(target=self._flusher, name="log flusher", daemon=True).start()

    def flush(self) -> None:
        self._last = time.monotonic()
        super().flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            if record.levelno >= logging.WARNING or time.monotonic() - self._last >= self.interval_s:
                self.flush()
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - logging's own convention: report and go on
            self.handleError(record)

    def _flusher(self) -> None:
        while True:
            time.sleep(self.interval_s)
            self.flush()


def flush() -> None:
    """Write out every line still buffered (before the process ends by its stop signal)."""
    for handler in logging.getLogger().handlers:
        handler.flush()


def configure(level: str, fmt: str) -> str:
    """Log at ``level`` in ``fmt`` ("json" or "text") to standard error; returns the level for uvicorn (which
    sets its own loggers' levels)."""
    chosen = logging.getLevelName(level.upper())
    chosen = chosen if isinstance(chosen, int) else logging.INFO
    handler = BufferedHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(Floors())
    handler.addFilter(NoWebsocketLines())
    handler.addFilter(CollapsedTracebacks())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(chosen)
    for name, floor in FLOORS.items():
        logging.getLogger(name).setLevel(max(chosen, floor))
    # uvicorn's loggers log through the root handler (app/server.py gives uvicorn no logging config of its own).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    floors = ", ".join(f"{name} {logging.getLevelName(floor)}" for name, floor in FLOORS.items())
    logging.getLogger("fhirgraph").debug("logging at %s as %s; held at least at: %s",
                                         logging.getLevelName(chosen), fmt, floors)
    return str(logging.getLevelName(max(chosen, FLOORS["uvicorn"]))).lower()
