"""Compiled programs kept on disk, so that `veil run` of an unchanged program skips the
compiler (importing it and compiling took 0.1 s of a 0.8 s run of a one-line program).

An entry is found by a key over everything a compile depends on: the program file's
path and text, the parameters, optimization level, passes, backend, security mode and
budgets, the Python version, and the installed code (every file of the veil package,
of its grammar and standard library, and of lark, by name, size and modification time).
Before an entry is used, every other source file it was compiled from is read and
hashed again, and a standard-library module it used must still not be shadowed by a
file of that name beside the program (`use` looks there first). The entry holds the
circuit's canonical JSON, which is loaded exactly as a deployed server loads the
circuit it approved, and the compiler's warnings as it printed them. Its fingerprint is
recomputed from that text, so what runs is always what the fingerprint names.

Only successful compiles are kept; errors always come from compiling again. The cache
lives in $VEIL_COMPILE_CACHE, else $XDG_CACHE_HOME/veil/compiled (~/.cache by default),
a directory only its owner can read (one that others can write is not used);
`VEIL_COMPILE_CACHE=off` turns it off. Entries are written whole (a temporary file
renamed into place); the oldest beyond `MAX_ENTRIES` are removed. Any problem with the
cache only makes it a miss.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from veil.ir.nodes import Circuit

CACHE_ENV = "VEIL_COMPILE_CACHE"
FORMAT = 1
MAX_ENTRIES = 64
STDLIB_PREFIX = "stdlib/"


@dataclass(frozen=True)
class CachedProgram:
    """What `veil run` needs of a compiled program, as the cache kept it."""

    path: Path
    executable: Circuit
    canonical: str
    fingerprint: str
    warnings: tuple[str, ...]  # rendered, as the compile printed them


def cache_dir() -> Path | None:
    """The cache's directory, or None when it is turned off."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "no") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "veil" / "compiled"


def _private(folder: Path) -> bool:
    """Is `folder` this user's own, writable by nobody else? (An entry decides which
    circuit runs: one another user could write must not be read.)"""
    try:
        st = folder.stat()
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _tree_stamp(root: Path | str) -> list[tuple[str, int, int]]:
    stamp = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            st = os.stat(os.path.join(folder, name))
            stamp.append((os.path.relpath(os.path.join(folder, name), root), st.st_size,
                          st.st_mtime_ns))
    return stamp


@functools.cache
def code_stamp() -> str:
    """A digest of the installed compiler: the veil package's files and lark's (a changed
    or reinstalled file changes it), and the Python version."""
    digest = hashlib.sha256(sys.version.encode())
    for root in _roots():
        digest.update(json.dumps([str(root), _tree_stamp(root)]).encode())
    return digest.hexdigest()


def _roots() -> list[str]:
    roots = [Path(__file__).resolve().parent]
    # the grammar and the standard library are packages of their own (in a checkout,
    # top-level folders); lark is found, not imported
    for name in ("veil.grammar", "veil.stdlib", "lark"):
        spec = importlib.util.find_spec(name)
        for place in (spec.submodule_search_locations or []) if spec is not None else []:
            folder = Path(place).resolve()
            if not any(folder.is_relative_to(root) for root in roots):
                roots.append(folder)
    return [str(root) for root in roots]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key(source: Path, text: str, settings: dict[str, Any]) -> str:
    """The entry's name for compiling `source` (its `text`) with `settings`."""
    data = {"format": FORMAT, "code": code_stamp(), "program": str(source.resolve()),
            "text": _sha256(text), "settings": settings}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def settings_of(params: dict[str, str], opt_level: int, passes: str | None, backend: str,
                security: str, limits: Any) -> dict[str, Any]:  # fmt: skip
    """The compile's options as a key's settings (`limits` a veil.limits.Limits)."""
    return {"params": sorted(params.items()), "opt_level": opt_level, "passes": passes,
            "backend": backend, "security": security, "limits": asdict(limits)}


def _sources_unchanged(program_dir: Path, sources: dict[str, str]) -> bool:
    for display, digest in sources.items():
        if display.startswith(STDLIB_PREFIX):  # its text is part of the code stamp
            if (program_dir / f"{display[len(STDLIB_PREFIX):]}").is_file():
                return False  # now shadowed by a module beside the program
            continue
        try:
            if _sha256((program_dir / display).read_text(encoding="utf-8")) != digest:
                return False
        except (OSError, UnicodeDecodeError):
            return False
    return True


def lookup(source: Path, text: str, settings: dict[str, Any]) -> CachedProgram | None:
    """The cached compile of `source` with `settings`, or None."""
    folder = cache_dir()
    if folder is None or not _private(folder):
        return None
    entry = folder / f"{key(source, text, settings)}.json"
    try:
        data = json.loads(entry.read_text(encoding="utf-8"))
        sources = data["sources"]
        if data.get("format") != FORMAT or not isinstance(sources, dict) or \
                not all(isinstance(v, str) for v in sources.values()) or \
                not _sources_unchanged(source.parent, sources):
            return None
        canonical, warnings = data["canonical"], data["warnings"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(canonical, str) or not isinstance(warnings, list) or \
            not all(isinstance(w, str) for w in warnings):
        return None
    from veil.ir.serialize import loads

    try:
        circuit = loads(canonical)
    except Exception:  # a damaged entry of any shape is only a miss, never a crash
        return None
    with contextlib.suppress(OSError):
        os.utime(entry)  # recently used: kept longer
    return CachedProgram(source, circuit, canonical, _sha256(canonical), tuple(warnings))


def store(source: Path, text: str, settings: dict[str, Any], sources: dict[str, str],
          canonical: str, warnings: list[str]) -> bool:  # fmt: skip
    """Keep a successful compile (`sources`: every source file's display name and text);
    False when the cache is off or cannot be written (nothing else happens then)."""
    folder = cache_dir()
    if folder is None:
        return False
    data = {"format": FORMAT, "sources": {name: _sha256(t) for name, t in sources.items()},
            "warnings": warnings, "canonical": canonical}
    temporary: str | None = None
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(folder):
            return False
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, suffix=".tmp",
                                         delete=False) as f:
            temporary = f.name
            json.dump(data, f)
        os.replace(temporary, folder / f"{key(source, text, settings)}.json")
        temporary = None
        _prune(folder)
    except OSError:
        return False
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    return True


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    for old in entries[:-MAX_ENTRIES]:
        old.unlink(missing_ok=True)
