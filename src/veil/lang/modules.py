"""Find and parse the source files of a program: the main file and the modules it uses.

`use ml` looks for `ml.mpc` beside the program first, then in the shipped standard
library (read with importlib.resources, so it works from an installed wheel).
File names in spans are relative (`main.mpc`, `stdlib/ml.mpc`) so that the fingerprint
does not depend on where the program lives on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from veil.diagnostics import SourceMap, Span, error
from veil.lang import ast
from veil.lang.parser import parse
from veil.lang.paths import resolve_program_path

__all__ = ["ModuleLoader", "resolve_program_path", "stdlib_modules"]


def stdlib_modules() -> list[str]:
    """Names of the modules shipped in the standard library."""
    root = resources.files("veil.stdlib")
    return sorted(p.name[:-4] for p in root.iterdir() if p.name.endswith(".mpc"))


@dataclass
class ModuleLoader:
    """Loads each module once; remembers every source text for error rendering."""

    program_dir: Path | None
    sources: SourceMap = field(default_factory=SourceMap)
    cache: dict[str, ast.Module] = field(default_factory=dict)

    def load(self, name: str, span: Span | None) -> ast.Module:
        if name in self.cache:
            return self.cache[name]
        text, display = self._find(name, span)
        module = parse(text, display, self.sources)
        self.cache[name] = module
        return module

    def _find(self, name: str, span: Span | None) -> tuple[str, str]:
        if self.program_dir is not None:
            local = self.program_dir / f"{name}.mpc"
            if local.is_file():
                return local.read_text(encoding="utf-8"), f"{name}.mpc"
        shipped = resources.files("veil.stdlib").joinpath(f"{name}.mpc")
        if shipped.is_file():
            return shipped.read_text(encoding="utf-8"), f"stdlib/{name}.mpc"
        available = ", ".join(stdlib_modules()) or "none"
        raise error("V0204", f"no module named `{name}`", span,
                    f"put `{name}.mpc` beside the program, or use a library module: {available}")
