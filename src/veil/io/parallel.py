"""Large CSV files of one input file parsed side by side: several files a core each,
or one file alone in two halves.

numpy's parser holds the GIL, so threads do not help; a party with two 1M-row CSV
files spent 0.13 s parsing them one after the other while the machine's other core
waited. Here every file but the first is parsed by a forked child process that sends
the array back through a pipe as raw bytes (a few milliseconds for 8 MB), while this
process parses the first; a single large file (a 1M × 7 table: 1.3 s) is split just
after a line break near its middle, and the child parses the second half. A child only
parses: size limits were checked before, and validation, encoding and every error
message stay with the caller, which falls back to its own reading (`None`) whenever a
child fails.

Forking is only done from a single-threaded process (a fork copies one thread, and
another thread's locks could stay locked in the child) on a machine with more than
one core, and only for files worth it.
"""

from __future__ import annotations

import io
import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

WORTH_FORKING = 1 << 22
"""Bytes of CSV text below which a file is parsed in this process (a fork costs ~5 ms)."""

_HEADER = struct.Struct("<8sQQQ")  # dtype string, ndim, rows, columns
Job = TypeVar("Job", bound=tuple)  # (path, …): what `parse` needs, the file first


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Is parsing in forked children both possible and safe here?"""
    return hasattr(os, "fork") and _cores() > 1 and threading.active_count() == 1


def worth_forking(path: Path) -> bool:
    """Is the file large enough to be parsed in a child (or in halves)?"""
    return _size(path) >= WORTH_FORKING


def parse_all(jobs: list[Job], parse: Callable[[Job], np.ndarray | None]
              ) -> dict[Job, np.ndarray | None]:  # fmt: skip
    """`parse(job)` of every job (its file first), the large files beyond the first in
    forked children, at most one per other core at a time; None where parsing failed."""
    large = [j for j in jobs if worth_forking(j[0])]
    if len(large) < 2 or not can_fork():
        return {j: parse(j) for j in jobs}
    waiting = large[1:]
    running: list[tuple[Job, int, int]] = []  # (job, pid, read end of its pipe)
    results: dict[Job, np.ndarray | None] = {}
    slots = max(1, _cores() - 1)
    try:
        while waiting and len(running) < slots:
            job = waiting.pop(0)
            running.append((job, *_fork_parser(job, parse)))
        for job in jobs:
            if job not in large[1:]:
                results[job] = parse(job)
        while running:
            job, pid, fd = running.pop(0)
            results[job] = _collect(pid, fd)
            if waiting:
                job = waiting.pop(0)
                running.append((job, *_fork_parser(job, parse)))
    finally:
        for _, pid, fd in running:  # only after an error in this process
            os.close(fd)
            os.waitpid(pid, 0)
    return results


def parse_halves(path: Path, parse: Callable[[object, bool], np.ndarray]
                 ) -> np.ndarray | None:  # fmt: skip
    """One large CSV file parsed in two halves side by side (this process the first, a
    forked child the second), joined; None when that cannot give exactly the whole
    file's parse, so the caller parses it whole. `parse(stream, first)` parses a text
    stream of whole lines (`first`: the file's first half, where a header is).

    The halves meet just after a line break near the middle. A file with a quote
    character is not split (a quoted field may hold a line break), and the halves must
    agree on the number of columns; blank lines and the header are each half's own,
    as in the whole file. Any failure of either half gives None: the whole file's parse
    then finds (and the exact reading words) the problem."""
    size = _size(path)
    if not can_fork() or size < 2 * WORTH_FORKING or _has_quote(path):
        return None
    with open(path, "rb") as f:
        f.seek(size // 2)
        f.readline()
        split = f.tell()
    if split >= size:
        return None
    pid, fd = _fork_parser((path, split), lambda job: _part(parse, *job, False))
    try:
        first: np.ndarray | None = _part(parse, path, split, True)
    except Exception:  # the whole file's parse will meet it again, and report it
        first = None
    second = _collect(pid, fd)
    if first is None or second is None or first.ndim != 2 or second.ndim != 2 or \
            first.shape[1] != second.shape[1] or first.dtype != second.dtype:
        return None
    return np.concatenate([first, second])


def _has_quote(path: Path) -> bool:
    """Is there a `"` anywhere in the file? (1 MB at a time: 20 ms for 66 MB)"""
    buffer = bytearray(1 << 20)
    with open(path, "rb", buffering=0) as f:
        while True:
            k = f.readinto(buffer)
            if not k:
                return False
            if buffer.find(b'"', 0, k) >= 0:
                return True


class _Prefix(io.RawIOBase):
    """The first `limit` bytes of a file, as a stream."""

    def __init__(self, path: Path, limit: int) -> None:
        super().__init__()
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115  (closed with the stream)
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        got = self._file.readinto(memoryview(buffer)[:min(len(buffer), self._left)])
        self._left -= got or 0
        return got or 0

    def close(self) -> None:
        self._file.close()
        super().close()


def _part(parse: Callable[[object, bool], np.ndarray], path: Path, split: int,
          first: bool) -> np.ndarray:  # fmt: skip
    """`parse` of the file's bytes before `split` (first) or from `split` on, as text."""
    raw = io.BufferedReader(_Prefix(path, split), 1 << 16) if first else open(path, "rb")  # noqa: SIM115
    if not first:
        raw.seek(split)
    with io.TextIOWrapper(raw, encoding="utf-8") as stream:
        return parse(stream, first)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _fork_parser(job: Job, parse: Callable[[Job], np.ndarray | None]) -> tuple[int, int]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: parse, send, and leave without any cleanup of the parent's
        status = 1
        try:
            os.close(read_end)
            arr = parse(job)
            with os.fdopen(write_end, "wb") as out:
                if arr is not None:
                    arr = np.ascontiguousarray(arr)
                    rows = arr.shape[0] if arr.ndim else 1
                    columns = arr.shape[1] if arr.ndim == 2 else 1
                    out.write(_HEADER.pack(arr.dtype.str.encode("ascii"), arr.ndim, rows,
                                           columns))
                    out.write(memoryview(arr.reshape(-1)).cast("B"))
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, read_end


def _collect(pid: int, fd: int) -> np.ndarray | None:
    """The array a child sent, or None if it sent none or failed."""
    try:
        with os.fdopen(fd, "rb") as f:
            head = f.read(_HEADER.size)
            if len(head) != _HEADER.size:
                return None
            dtype_text, ndim, rows, columns = _HEADER.unpack(head)
            dtype = np.dtype(dtype_text.rstrip(b"\0").decode("ascii"))
            count = rows * columns
            arr = np.empty(count, dtype=dtype)
            view = memoryview(arr).cast("B")
            got = 0
            while got < len(view):
                k = f.readinto(view[got:])
                if not k:
                    return None
                got += k
    finally:
        _, status = os.waitpid(pid, 0)
    if status != 0 or ndim not in (1, 2):
        return None
    return arr.reshape((rows, columns) if ndim == 2 else (rows,))
