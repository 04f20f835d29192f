"""A progress bar for the command line, phase by phase, with rate and ETA: redrawn in place on a terminal, one
line per finished phase otherwise (a log file or a pipe)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

WIDTH = 24


def render(phase: str, done: int, total: int, elapsed: float) -> str:
    """``  patients    [#########...............]    400/1,000  40%    812/s  ETA 0:01``"""
    share = min(1.0, done / total) if total else 1.0
    filled = round(share * WIDTH)
    rate = done / elapsed if elapsed > 0 else 0.0
    left = (total - done) / rate if rate > 0 and done < total else 0.0
    minutes, seconds = divmod(round(left), 60)
    return (f"  {phase:<11} [{'#' * filled}{'.' * (WIDTH - filled)}] {done:>9,}/{total:,} {share:>4.0%} "
            f"{rate:>8,.0f}/s  ETA {minutes}:{seconds:02d}")


class Progress:
    def __init__(self, stream: TextIO = sys.stderr, *, clock: Callable[[], float] = time.perf_counter,
                 live: bool | None = None):
        self.stream, self.clock = stream, clock
        self.live = stream.isatty() if live is None else live
        self.phase: str | None = None
        self.started = 0.0
        self.line = ""

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = self.clock()
        if phase != self.phase:
            self.end()
            self.phase, self.started = phase, now
        self.line = render(phase, done, total, now - self.started)
        if self.live:
            print(f"\r{self.line}", end="", file=self.stream, flush=True)

    def end(self) -> None:
        """Close the current phase's line (also before an error's line)."""
        if self.phase is None:
            return
        if self.live:
            print(file=self.stream, flush=True)
        else:
            print(self.line, file=self.stream, flush=True)
        self.phase = None
