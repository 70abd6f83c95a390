"""Run the compiler's tree walks where deep programs fit: a thread with a large stack.

The checker, the lowering and the formatter walk the syntax tree recursively, one
Python call (and a few C frames) per level of nesting. Python's default recursion
limit (1,000) and the main thread's C stack (8 MB) would turn a generated program with
a 600-term sum, a 500-arm `else if` chain or 2,000 nested calls into a RecursionError
or a crash. `run` calls a function in a worker thread whose stack is STACK_BYTES, with
the recursion limit raised while any such call is running; the parser (veil.lang.parser)
bounds the nesting first (MAX_NESTING levels, error V0104), so the limit is never hit in
practice. Should it be hit anyway, the RecursionError becomes the same clean V0104.

The stack is reserved address space, not memory: only the pages a walk touches are used
(a few hundred bytes per level of nesting).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TypeVar

from veil.diagnostics import Diagnostic, VeilError

MAX_NESTING = 10_000
"""Levels of nesting (expressions, blocks, `else if` arms, calls) a program may have."""
STACK_BYTES = 256 << 20
RECURSION_LIMIT = 1_000_000
"""Python frames allowed while a deep call runs: room for 100 frames per level of
nesting. Python 3.11 runs a call from Python to Python without a C frame, so the C
stack grows only where a call passes through C (a constructor, `any`, a hash): 16 MB
were enough for 50,000 levels of each construct; STACK_BYTES leaves a wide margin."""

T = TypeVar("T")
_lock = threading.Lock()
_active = 0
_saved_limit = 0
_local = threading.local()  # `deep`: this thread is a deep one already


def too_deep(what: str = "the program") -> VeilError:
    """V0104: nesting beyond what the compiler walks."""
    return VeilError([Diagnostic(
        "V0104", f"{what} is nested too deeply (more than {MAX_NESTING:,} levels of "
        "expressions, blocks or calls)",
        help="split long expressions into `let` steps, chains of `else if` into separate "
             "`if`s, and deep call chains into loops")])


def _enter() -> None:
    global _active, _saved_limit
    with _lock:
        if _active == 0:
            _saved_limit = sys.getrecursionlimit()
            sys.setrecursionlimit(max(_saved_limit, RECURSION_LIMIT))
        _active += 1


def _leave() -> None:
    global _active
    with _lock:
        _active -= 1
        if _active == 0:
            sys.setrecursionlimit(_saved_limit)


def run(func: Callable[..., T], *args: object, **kwargs: object) -> T:
    """func(*args, **kwargs) on a thread with a deep stack; its result or its exception.

    Already on such a thread (a compile that formats, a check inside a compile), func
    runs directly."""
    if getattr(_local, "deep", False):
        return _guarded(func, *args, **kwargs)
    outcome: dict[str, object] = {}

    def body() -> None:
        _local.deep = True
        try:
            outcome["value"] = _guarded(func, *args, **kwargs)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    _enter()
    try:
        with _lock:  # stack_size is process-wide state: set it only for this thread
            try:
                previous = threading.stack_size(STACK_BYTES)
            except (ValueError, RuntimeError):  # a platform without it: the default stack
                previous = None
            try:
                worker = threading.Thread(target=body, name="veil-compile", daemon=True)
                worker.start()
            finally:
                if previous is not None:
                    threading.stack_size(previous)
        worker.join()
    finally:
        _leave()
    if "error" in outcome:
        exc = outcome["error"]
        assert isinstance(exc, BaseException)
        raise exc.with_traceback(exc.__traceback__)
    return outcome["value"]  # type: ignore[return-value]


def _guarded(func: Callable[..., T], *args: object, **kwargs: object) -> T:
    try:
        return func(*args, **kwargs)
    except RecursionError:
        raise too_deep() from None


__all__ = ["MAX_NESTING", "run", "too_deep"]
