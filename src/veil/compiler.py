"""The compile pipeline in one call: source → checked AST → circuit → optimized circuit."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from veil.diagnostics import Diagnostic, SourceMap, VeilError
from veil.ir.lower import lower, unused_input_warnings
from veil.ir.nodes import Circuit
from veil.ir.serialize import fingerprint
from veil.lang.checker import CheckedProgram, check
from veil.lang.modules import ModuleLoader, resolve_program_path
from veil.opt.pipeline import PassRecord, optimize


@dataclass
class Compiled:
    """Everything the later stages need about one compiled program."""

    path: Path | None
    program: CheckedProgram
    unoptimized: Circuit
    circuit: Circuit
    passes: list[PassRecord]
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def sources(self) -> SourceMap:
        return self.program.sources

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.circuit)


def compile_source(text: str, file: str = "main.mpc", program_dir: Path | None = None,
                   params: dict[str, str] | None = None, optimize_level: int = 1,
                   path: Path | None = None) -> Compiled:  # fmt: skip
    """Compile source text; raise VeilError with every diagnostic on failure."""
    loader = ModuleLoader(program_dir)
    from veil.lang.parser import parse

    module = parse(text, file, loader.sources)
    checked = check(module, loader, params)
    circuit = lower(checked)
    warnings = [*checked.warnings, *unused_input_warnings(circuit)]
    optimized, records = optimize(circuit, level=optimize_level)
    return Compiled(path, checked, circuit, optimized, records, warnings)


def compile_path(path: Path, params: dict[str, str] | None = None,
                 optimize_level: int = 1) -> Compiled:  # fmt: skip
    """Compile a `.mpc` file or a program directory."""
    source = resolve_program_path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VeilError([Diagnostic("V0001", f"{source}: cannot read: {exc}")]) from None
    return compile_source(text, source.name, source.parent, params, optimize_level, source)
