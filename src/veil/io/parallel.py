"""Several large CSV files of one input file parsed side by side.

numpy's parser holds the GIL, so threads do not help; a party with two 1M-row CSV
files spent 0.13 s parsing them one after the other while the machine's other core
waited. Here every file but the first is parsed by a forked child process that sends
the array back through a pipe as raw bytes (a few milliseconds for 8 MB), while this
process parses the first. A child only parses: size limits were checked before, and
validation, encoding and every error message stay with the caller, which falls back
to its own reading (`None`) whenever a child fails.

Forking is only done from a single-threaded process (a fork copies one thread, and
another thread's locks could stay locked in the child) on a machine with more than
one core, and only for files worth it.
"""

from __future__ import annotations

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


def parse_all(jobs: list[Job], parse: Callable[[Job], np.ndarray | None]
              ) -> dict[Job, np.ndarray | None]:  # fmt: skip
    """`parse(job)` of every job (its file first), the large files beyond the first in
    forked children, at most one per other core at a time; None where parsing failed."""
    large = [j for j in jobs if _size(j[0]) >= WORTH_FORKING]
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
