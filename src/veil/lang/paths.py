"""Which file a program path names (without loading the parser: the compile cache asks
before anything is compiled)."""

from __future__ import annotations

from pathlib import Path

from veil.diagnostics import error


def resolve_program_path(path: Path) -> Path:
    """A program is a `.mpc` file, or a directory holding `main.mpc` or exactly one `.mpc`."""
    if path.is_dir():
        main = path / "main.mpc"
        if main.is_file():
            return main
        candidates = sorted(path.glob("*.mpc"))
        if len(candidates) == 1:
            return candidates[0]
        what = "no .mpc file" if not candidates else "several .mpc files and no main.mpc"
        raise error("V0001", f"{path}: {what}",
                    help="name the program file, or call the entry point main.mpc")
    if not path.is_file():
        raise error("V0001", f"{path}: no such file or directory",
                    help="give a .mpc file or a program directory")
    return path
