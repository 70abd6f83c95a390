"""A one-line progress display for long work: compiling (step k of n) and running
(phase, round k of n, bytes the servers sent).

Events are small dicts, the same ones a deployment's servers send parties once a
second (veil.runtime.session.heartbeat) and a party notes itself:

    {"phase": "compile", "step": "dot-fusion", "done": 8, "total": 17}
    {"phase": "waiting", "for": ["eu_bank"]}
    {"phase": "compute", "round": 7, "rounds": 12, "bytes": 120000, "server": 0}

`Bar` draws them on a terminal, rewriting one line at most ten times a second, and only
once the work has taken longer than `delay` (a quick command prints nothing extra). It is
silent when its stream is not a terminal (a pipe, a file, a notebook, CI) or `TERM` is
`dumb`; `veil ... --quiet` turns it off too. Standard output is never touched: JSON
output stays exactly what it was.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

Event = dict[str, Any]
Listener = Callable[[Event], None]

WIDTH = 24  # cells of the bar itself


def wanted(stream: TextIO | None = None) -> bool:
    """Should progress be drawn on `stream` (default: standard error)?"""
    stream = stream if stream is not None else sys.stderr
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


class Bar:
    """Progress of one command on one terminal line (see the module docstring)."""

    def __init__(self, label: str, stream: TextIO | None = None, enabled: bool | None = None,
                 delay: float = 0.5, clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = wanted(self.stream) if enabled is None else enabled
        self.delay = delay
        self.clock = clock
        self.started = clock()
        self.last_draw = -1.0
        self.shown = False
        self.width = 0  # of the line drawn last
        self.phase = ""
        self.detail = ""
        self.done: int | None = None
        self.total: int | None = None
        self.bytes_by_server: dict[int, int] = {}
        self.rounds_by_server: dict[int, int] = {}

    def __call__(self, event: Event) -> None:
        self.update(event)

    def update(self, event: Event) -> None:
        """Take one event; redraw if it is time to."""
        phase = str(event.get("phase", ""))
        if phase != self.phase:
            self.done = self.total = None
            self.detail = ""
        self.phase = phase
        if phase == "compile":
            self.detail = str(event.get("step", ""))
            self.done, self.total = _int(event.get("done")), _int(event.get("total"))
        elif phase == "waiting":
            names = event.get("for") or []
            self.detail = f"for {', '.join(map(str, names))}" if names else ""
        elif phase == "compute":
            server = _int(event.get("server")) or 0
            if _int(event.get("bytes")) is not None:
                self.bytes_by_server[server] = _int(event.get("bytes")) or 0
            if _int(event.get("round")) is not None:
                self.rounds_by_server[server] = _int(event.get("round")) or 0
            self.done = min(self.rounds_by_server.values()) if self.rounds_by_server else None
            self.total = _int(event.get("rounds"))
        else:
            self.detail = str(event.get("detail", ""))
        self.draw()

    def text(self) -> str:
        """The line as it is drawn now."""
        parts = [f"{self.label}: {self.phase}"]
        if self.detail:
            parts[0] += f" {self.detail}"
        if self.total:
            done = max(0, min(self.done or 0, self.total))
            filled = round(WIDTH * done / self.total)
            unit = "round " if self.phase == "compute" else ""
            parts.append(f"[{'#' * filled}{'-' * (WIDTH - filled)}] {unit}{done}/{self.total}")
        if self.bytes_by_server:
            parts.append(f"{human_bytes(sum(self.bytes_by_server.values()))} sent")
        parts.append(f"{self.clock() - self.started:.1f} s")
        return "  ".join(parts)

    def draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not force and (now - self.started < self.delay or now - self.last_draw < 0.1):
            return
        self.last_draw = now
        line = self.text()
        columns = _columns(self.stream)
        if len(line) >= columns:
            line = line[:columns - 2] + "…"
        # "\r" and spaces only (no terminal escapes): Jupyter's output areas honour them too
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = len(line)
        self.shown = True

    def close(self) -> None:
        """Erase the line (what follows is printed where it was)."""
        if self.shown:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.shown = False
            self.width = 0

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 100
