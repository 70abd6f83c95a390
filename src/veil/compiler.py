"""The compile pipeline in one call: source → checked AST → circuit → optimized circuit."""

from __future__ import annotations

import functools
import gc
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veil import deep
from veil.analysis import ranges
from veil.diagnostics import Diagnostic, SourceMap, VeilError
from veil.ir import lower_rep3, numerics, sorting, sorting_verified
from veil.ir.lower import lower_program, unused_input_warnings
from veil.ir.nodes import Circuit
from veil.ir.serialize import dumps
from veil.lang.checker import CheckedProgram, check
from veil.lang.modules import ModuleLoader, resolve_program_path
from veil.limits import Limits, raise_hint
from veil.opt.pipeline import (
    DEFAULT_LEVEL,
    PROTOCOL_PASSES,
    PassRecord,
    optimize,
    record,
    selected,
)

BACKENDS = ("rep3", "plain")
SECURITY = ("semi-honest", "malicious")
VERIFIED_OPS = {"mul", "matmul", "and", "b2a"}
"""The interactive ops the verified (malicious) mode checks: products (computed from
checked triples, or checked after the computation) and conversions of bits with
daBits (whose openings are compared like every other)."""
Progress = Callable[[dict[str, Any]], None]


@dataclass
class Compiled:
    """Everything the later stages need about one compiled program."""

    path: Path | None
    program: CheckedProgram
    unoptimized: Circuit
    circuit: Circuit
    passes: list[PassRecord]
    warnings: list[Diagnostic] = field(default_factory=list)
    backend: str = "rep3"
    protocol: Circuit | None = None  # the rep3 protocol-level circuit
    security: str = "semi-honest"

    @property
    def sources(self) -> SourceMap:
        return self.program.sources

    @property
    def executable(self) -> Circuit:
        """The circuit the chosen backend runs: what the parties approve."""
        return self.protocol if self.protocol is not None else self.circuit

    def unoptimized_executable(self) -> Circuit:
        """The naive circuit for the same backend (for before/after comparisons)."""
        naive = numerics.run(self.unoptimized)
        if self.backend == "rep3":
            tables = _expand_tables(naive, "malicious") if self.security == "malicious" \
                else sorting.run(naive)
            return lower_rep3.run(tables, self.security)
        return naive

    @functools.cached_property
    def canonical(self) -> str:
        """The executable circuit's canonical JSON (computed once: serializing a large
        circuit, e.g. AES with 37k gates, takes a noticeable fraction of a second)."""
        return dumps(self.executable)

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON: what the parties approve."""
        return hashlib.sha256(self.canonical.encode("ascii")).hexdigest()


def compile_source(text: str, file: str = "main.mpc", program_dir: Path | None = None,
                   params: dict[str, str] | None = None, optimize_level: int = DEFAULT_LEVEL,
                   path: Path | None = None, backend: str = "plain",
                   passes: tuple[str, ...] | None = None,
                   progress: Progress | None = None,
                   limits: Limits | None = None,
                   measured: bool = True,
                   security: str = "semi-honest") -> Compiled:  # fmt: skip
    """Compile source text for a backend; raise VeilError with every diagnostic on failure.

    `security` "malicious" builds the verified rep3 circuit (docs/security.md): its
    truncations are made of products, its table operations of comparisons, selects,
    products and AND gates (veil.ir.sorting_verified), and a program with an operation
    the verified mode cannot check yet (a shuffle) is refused here (V0803).

    For `rep3` the optimized circuit's table operations are expanded (veil.ir.sorting),
    then it is lowered to protocol primitives and optimized again, so common
    subexpressions of the protocol (the same conversion of one value used by two
    comparisons) are computed once. `progress` receives one event per step
    (veil.progress: {"phase": "compile", "step": ..., "done": k, "total": n}).
    `limits` are the compile-time budgets (veil.limits: elements of a value, loop
    iterations unrolled, operations); the compile runs on a deep-stack thread
    (veil.deep), so long chains and deep nesting compile instead of overflowing.
    """
    # Compiling builds many small immutable objects and no cycles worth collecting: the
    # cyclic collector alone took about a third of the time on a 37k-gate circuit.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return deep.run(_compile, text, file, program_dir, params, optimize_level, path,
                        backend, passes, _Steps(progress, optimize_level, passes, backend),
                        limits or Limits(), measured, security)
    finally:
        if collecting:
            gc.enable()


class _Steps:
    """Counts the compile's steps for a progress listener (nothing when there is none)."""

    def __init__(self, listener: Progress | None, level: int, passes: tuple[str, ...] | None,
                 backend: str) -> None:  # fmt: skip
        self.listener = listener
        protocol = 1 + len(PROTOCOL_PASSES if level else ()) if backend == "rep3" else 0
        self.total = 3 + len(selected(level, passes)) + protocol  # parse, check, lower, ...
        self.done = 0

    def __call__(self, step: str) -> None:
        if self.listener is not None:
            self.listener({"phase": "compile", "step": step, "done": self.done,
                           "total": self.total})
        self.done += 1


def _compile(text: str, file: str, program_dir: Path | None, params: dict[str, str] | None,
             optimize_level: int, path: Path | None, backend: str,
             passes: tuple[str, ...] | None, step: _Steps,
             limits: Limits, measured: bool = True,
             security: str = "semi-honest") -> Compiled:  # fmt: skip
    if security not in SECURITY:
        raise VeilError([Diagnostic("V0803", f"unknown security mode {security!r}",
                                    help="choose semi-honest or malicious")])
    if security != "semi-honest" and backend != "rep3":
        raise VeilError([Diagnostic("V0803", f"--security {security} needs the rep3 backend",
                                    help="the plain backend computes in the clear and "
                                         "protects nothing")])
    loader = ModuleLoader(program_dir)
    from veil.lang.parser import parse

    step("parse")
    module = parse(text, file, loader.sources)
    step("check")
    checked = check(module, loader, params, limits)
    step("lower")
    circuit, lowering_warnings = lower_program(checked, limits)
    found = ranges.run(circuit).diagnostics()
    overflows = [d for d in found if d.severity == "error"]
    if overflows:
        raise VeilError(overflows, loader.sources)
    warnings = [*checked.warnings, *lowering_warnings, *unused_input_warnings(circuit),
                *found]
    optimized, records = optimize(circuit, level=optimize_level, passes=passes, on_pass=step,
                                  measured=measured)
    expanded = numerics.run(optimized)
    if expanded is not optimized:  # math functions: optimize their expansions too (the
        # progress line counts the passes once; this second round is part of the last)
        if measured:
            records.append(record(numerics.NAME, optimized, expanded))
        optimized, more = optimize(expanded, level=optimize_level, passes=passes,
                                   measured=measured)
        records += more
    protocol = None
    if backend == "rep3":
        step(lower_rep3.NAME)  # the expansion of table operations is part of this step
        tables = _expand_tables(optimized, security, loader.sources, limits)
        if tables is not optimized and measured:
            records.append(record(sorting.NAME, optimized, tables))
        protocol = lower_rep3.run(tables, security)
        if measured:
            records.append(record(lower_rep3.NAME, tables, protocol))
        protocol, more = optimize(protocol, passes=PROTOCOL_PASSES if optimize_level else (),
                                  on_pass=step, measured=measured)
        records += more
        if security == "malicious":
            _check_verified(protocol)
    return Compiled(path, checked, circuit, optimized, records, warnings, backend, protocol,
                    security)


def _expand_tables(circuit: Circuit, security: str, sources: SourceMap | None = None,
                   limits: Limits | None = None) -> Circuit:  # fmt: skip
    """The table operations expanded for the mode: shuffles and openings to the servers
    (veil.ir.sorting) or, verified, checked operations only (veil.ir.sorting_verified);
    V0803 on the line of one the verified mode cannot check (it never runs what it does
    not check)."""
    if not sorting.has_tables(circuit):
        return circuit
    _check_table_sizes(circuit, limits or Limits())
    analysis = ranges.run(circuit)
    # an interval after a finding is the value as if it had not overflowed: no longer a
    # bound to sort by
    bounds = None if analysis.findings else sorting.key_bounds(circuit, analysis.intervals)
    if security != "malicious":
        return sorting.run(circuit, bounds)
    try:
        return sorting_verified.run(circuit, bounds)
    except sorting_verified.Unverifiable as exc:
        raise VeilError([Diagnostic(
            "V0803", f"`{_source_op(exc.node.op)}` cannot run with --security malicious: "
                     f"{exc.reason}",
            exc.node.span, help="run this program with --security semi-honest, or leave "
                                "the operation out (docs/security.md, section 11)")],
            sources) from None


def _source_op(op: str) -> str:
    return "sort" if op == "sort_by" else op


def _check_verified(protocol: Circuit) -> None:
    """The verified mode checks products only: every other interactive op must have been
    lowered away (an internal error otherwise, never a silent unchecked step)."""
    from veil.schedule import is_interactive

    for node in protocol.nodes:
        if node.op not in VERIFIED_OPS and is_interactive(node, protocol):
            raise VeilError([Diagnostic(
                "V0803", f"internal: `{node.op}` is not verified by --security malicious",
                node.span, help="please report this; run with --security semi-honest")])


def compile_path(path: Path, params: dict[str, str] | None = None,
                 optimize_level: int = DEFAULT_LEVEL, backend: str = "plain",
                 passes: tuple[str, ...] | None = None,
                 progress: Progress | None = None,
                 limits: Limits | None = None, measured: bool = True,
                 security: str = "semi-honest") -> Compiled:  # fmt: skip
    """Compile a `.mpc` file or a program directory (`measured=False`: without the
    passes' before-and-after records, which only the cost report shows)."""
    source = resolve_program_path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VeilError([Diagnostic("V0001", f"{source}: cannot read: {exc}")]) from None
    return compile_source(text, source.name, source.parent, params, optimize_level, source,
                          backend, passes, progress, limits, measured, security)


def _check_table_sizes(circuit: Circuit, limits: Limits) -> None:
    """V0504 for a table operation whose expansion needs public index vectors (the rows'
    original positions) beyond the `elements` budget: they are built at compile time."""
    problems = []
    counted = {"sort_by": (0,), "shuffle": (0,), "isin": (0, 1), "sum_by": (0, 2)}
    for n in circuit.nodes:
        if n.op not in counted:
            continue
        shapes = [circuit.node(n.args[k]).type.shape for k in counted[n.op] if k < len(n.args)]
        rows = sum(shape[0] for shape in shapes if shape)
        if rows > limits.elements:
            name = "sort" if n.op == "sort_by" else n.op
            problems.append(Diagnostic(
                "V0504", f"`{name}` over {rows:,} rows needs public index vectors of "
                f"{rows:,} elements, built at compile time; the budget `elements` is "
                f"{limits.elements:,}", n.span,
                f"use fewer rows, or {raise_hint('elements', rows)}"))
    if problems:
        raise VeilError(problems)
