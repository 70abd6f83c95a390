"""Files the commands read and write, with every operating-system error turned into a
diagnostic (V0001 for what a command writes, V0707/V0711 for input files).

- `write_file` and `make_dir`: a missing directory, a file where a directory should be,
  no permission, a full disk — each is one line naming the path and what to do.
- `read_input`: an input file (JSON, CSV) read only if it is a regular file inside the
  size budget (veil.limits `input_bytes`), never more than that many bytes (so
  `/dev/zero` or a fifo cannot exhaust memory or hang the loader).
- `inside`: a path named inside an input file (a CSV file, a Parquet file, a sqlite
  database) must stay in the directory of that input file; a file given explicitly on
  the command line may be anywhere.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from veil.diagnostics import Diagnostic, VeilError
from veil.limits import DEFAULT, raise_hint


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def make_dir(path: Path, what: str = "output directory") -> None:
    """Create a directory (and its parents) unless it exists; V0001 if that fails."""
    if path.exists() and not path.is_dir():
        raise VeilError([Diagnostic("V0001", f"{path} is a file, not a directory",
                                    help=f"name a directory for the {what} (it is created "
                                         "if needed)")])
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VeilError([Diagnostic("V0001", f"cannot create {path}: {_reason(exc)}",
                                    help=f"name a directory you can write for the {what}")]
                        ) from None


def check_writable(path: Path) -> None:
    """V0001 now if `path` could not be written (a directory, or no directory to hold
    it): a command checks its output file before it does the work."""
    if path.is_dir():
        raise VeilError([Diagnostic("V0001", f"cannot write {path}: it is a directory",
                                    help="name a file, e.g. "
                                         f"{path / 'circuit.json'}")])
    parent = path.parent
    if not parent.is_dir():
        problem = "is not a directory" if parent.exists() else "does not exist"
        raise VeilError([Diagnostic("V0001", f"cannot write {path}: the directory {parent} "
                                    f"{problem}",
                                    help=f"create it first (mkdir -p {parent}) or write "
                                         "somewhere else")])


def write_file(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Write a whole file; V0001 naming the path and the reason if that fails."""
    check_writable(path)
    try:
        path.write_text(text, encoding=encoding)
    except (OSError, UnicodeEncodeError) as exc:
        reason = _reason(exc) if isinstance(exc, OSError) else str(exc)
        raise VeilError([Diagnostic("V0001", f"cannot write {path}: {reason}")]) from None


class InputFileError(Exception):
    """An input file that cannot be read; `code` V0707 (unreadable) or V0711 (a budget
    or a path outside the inputs directory), `message` without the file's name."""

    def __init__(self, code: str, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.help = help


def check_path_text(text: str) -> None:
    """A path written in an input file: no NUL byte (the OS cannot open it)."""
    if "\x00" in text:
        raise InputFileError("V0707", "the path holds a NUL character",
                             help="write the file's name as plain text")


def inside(base: Path, relative: str) -> Path:
    """`relative` resolved in directory `base`; InputFileError if it leaves `base`.

    Paths in an input file name files beside it (or below): an input file that could
    name `../../etc/...` or `/home/...` would let whoever writes it make the party's
    process read any file it can. Symbolic links are followed before the test."""
    check_path_text(relative)
    path = base / relative
    try:
        real_base = base.resolve()
        real = path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise InputFileError("V0707", f"cannot resolve the path: {exc}") from None
    if not real.is_relative_to(real_base):
        raise InputFileError(
            "V0711", "the path leaves the directory of the input file",
            help=f"put the file in {base} (or a directory below it) and name it relative "
                 "to that directory")
    return path


def read_input(path: Path, max_bytes: int = DEFAULT.input_bytes, binary: bool = False,
               kind: str = "") -> str | bytes:  # fmt: skip
    """The text (or bytes) of an input file, read only if it is a regular file of at most
    `max_bytes` bytes; InputFileError otherwise (OSError's reason in words; `kind`, such
    as "CSV", names the file's kind in the message)."""
    cannot = f"cannot read {kind}".rstrip()
    check_path_text(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputFileError("V0707", f"{cannot}: {_reason(exc)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputFileError("V0707", f"{cannot}: not a regular file",
                                 help="name a file (not a device, fifo or directory)")
        _check_size(info.st_size, max_bytes)
        chunks, total = [], 0
        while True:  # the file may grow while it is read: never take more than the cap
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            _check_size(total, max_bytes)
    except OSError as exc:
        raise InputFileError("V0707", f"{cannot}: {_reason(exc)}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if binary:
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError("V0707", f"{cannot}: not UTF-8 text (at byte {exc.start})"
                             ) from None


def check_input_size(path: Path, max_bytes: int = DEFAULT.input_bytes, kind: str = "") -> None:
    """For a file another library reads (Parquet): a regular file within the cap."""
    check_path_text(str(path))
    cannot = f"cannot read {kind} {path}".replace("  ", " ")
    try:
        info = path.stat()
    except OSError as exc:
        raise InputFileError("V0707", f"{cannot}: {_reason(exc)}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputFileError("V0707", f"{cannot}: not a regular file",
                             help="name a file (not a device, fifo or directory)")
    _check_size(info.st_size, max_bytes)


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise InputFileError("V0711", f"the file is larger than the budget `input-bytes` "
                             f"({max_bytes:,} bytes)",
                             help=raise_hint("input_bytes", max(size, max_bytes + 1)))


__all__ = ["InputFileError", "check_input_size", "check_writable", "inside", "make_dir",
           "read_input", "write_file"]
