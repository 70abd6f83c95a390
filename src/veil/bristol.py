"""Bristol Fashion boolean circuits: parse, validate, evaluate in the clear, and export.

The format (see the "Bristol Fashion" MPC circuits page by Nigel Smart and colleagues)::

    #gates #wires
    n_inputs  w_1 .. w_n          bit width of each input value
    n_outputs v_1 .. v_m          bit width of each output value
                                  (blank lines are allowed anywhere)
    n_in n_out in_wires... out_wires... OP

``OP`` is ``XOR``/``AND`` (2 in, 1 out), ``INV``/``EQW`` (1 in, 1 out; EQW copies a wire),
``EQ`` (1 "in" that is the constant 0 or 1, 1 out), or the extended ``MAND``
(``2n n a_1..a_2n o_1..o_n MAND`` with ``o_k = a_k AND a_(n+k)``). Input value ``j``
occupies the next ``w_j`` consecutive wires from wire 0; the outputs are the last
``sum(v)`` wires, in output order. Wire ``offset + i`` carries bit ``i`` (least
significant first) of a value.

Every problem in a file is a :class:`~veil.diagnostics.VeilError` with code ``V0901``
naming the file and line, what is wrong and what was expected; parsing is one linear
pass. :func:`evaluate` is a cleartext reference evaluator, vectorized over any leading
batch dimensions (the batch is bit-packed, so one numpy operation runs a gate for 64
instances per machine word). :func:`to_text` / :func:`export` write canonical Bristol
Fashion that :func:`parse` reads back to an equal circuit.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np

from veil.diagnostics import Diagnostic, SourceMap, Span, VeilError

__all__ = [
    "CODE",
    "MAX_WIRES",
    "OPS",
    "BristolCircuit",
    "Gate",
    "bits_to_bytes",
    "bits_to_int",
    "bytes_to_bits",
    "evaluate",
    "export",
    "int_to_bits",
    "load",
    "parse",
    "to_text",
]

CODE = "V0901"
"""Diagnostic code of every malformed-circuit error."""

OPS = ("XOR", "AND", "INV", "EQ", "EQW", "MAND")
"""The gate operations of (extended) Bristol Fashion, in canonical order."""

MAX_WIRES = 1 << 26
MAX_FILE_BYTES = 1 << 28
"""Largest wire count accepted (the biggest published circuits use a few 10^5 wires)."""

_ARITY = {"XOR": (2, 1), "AND": (2, 1), "INV": (1, 1), "EQ": (1, 1), "EQW": (1, 1)}
_GATE_FORM = "`n_in n_out in_wires... out_wires... OP`"
_TOKEN = re.compile(r"\S+")


class Gate(NamedTuple):
    """One gate. For ``EQ``, ``ins`` holds the constant (0 or 1) and there is no input wire.

    ``line`` is the 1-based line of the gate in its source text. (A named tuple: a large
    circuit has 10^5 of them, and a tuple is built in a fraction of a frozen
    dataclass's time.)
    """

    op: str
    ins: tuple[int, ...]
    outs: tuple[int, ...]
    line: int

    @property
    def wire_ins(self) -> tuple[int, ...]:
        """The wires this gate reads (empty for ``EQ``)."""
        return () if self.op == "EQ" else self.ins


@dataclass(frozen=True)
class BristolCircuit:
    """A validated Bristol Fashion circuit; ``source`` names the file it came from."""

    wires: int
    input_widths: tuple[int, ...]
    output_widths: tuple[int, ...]
    gates: tuple[Gate, ...]
    source: str

    def input_wires(self, j: int) -> range:
        """The wires of input value ``j`` (bit ``i`` is ``range[i]``)."""
        start = sum(self.input_widths[:j])
        return range(start, start + self.input_widths[j])

    def output_wires(self, k: int) -> range:
        """The wires of output value ``k``: outputs are the last wires, in output order."""
        start = self.wires - sum(self.output_widths) + sum(self.output_widths[:k])
        return range(start, start + self.output_widths[k])

    @cached_property
    def op_counts(self) -> dict[str, int]:
        """Number of gates (lines) per operation, every op of :data:`OPS` present."""
        counts = dict.fromkeys(OPS, 0)
        for gate in self.gates:
            counts[gate.op] += 1
        return counts

    def count(self, op: str) -> int:
        """Number of gates with operation ``op``."""
        return self.op_counts[op]

    @property
    def xor_count(self) -> int:
        return self.op_counts["XOR"]

    @property
    def inv_count(self) -> int:
        return self.op_counts["INV"]

    @cached_property
    def and_count(self) -> int:
        """Number of AND operations: AND gates plus every pair of a MAND gate."""
        return self.op_counts["AND"] + sum(len(g.outs) for g in self.gates if g.op == "MAND")

    @cached_property
    def and_depth(self) -> int:
        """Longest path through the circuit counting AND/MAND as 1 and other gates as 0."""
        depth = [0] * self.wires
        for gate in self.gates:
            op, ins, outs = gate.op, gate.ins, gate.outs
            if op == "AND":
                a, b = depth[ins[0]], depth[ins[1]]
                depth[outs[0]] = (a if a > b else b) + 1
            elif op == "XOR":
                a, b = depth[ins[0]], depth[ins[1]]
                depth[outs[0]] = a if a > b else b
            elif op == "EQ":
                depth[outs[0]] = 0
            elif op == "MAND":
                n = len(outs)
                for k in range(n):
                    depth[outs[k]] = max(depth[ins[k]], depth[ins[n + k]]) + 1
            else:  # INV, EQW
                depth[outs[0]] = depth[ins[0]]
        return max(depth, default=0)

    @cached_property
    def _program(self) -> list[tuple[int, object, object, object]]:
        """Gates as (opcode, a, b, out) for :func:`evaluate`; MAND uses index arrays."""
        code = {"XOR": 0, "AND": 1, "INV": 2, "EQ": 3, "EQW": 4, "MAND": 5}
        program: list[tuple[int, object, object, object]] = []
        for gate in self.gates:
            op, ins, outs = gate.op, gate.ins, gate.outs
            if op == "MAND":
                n = len(outs)
                program.append((5, np.array(ins[:n]), np.array(ins[n:]), np.array(outs)))
            elif op in ("XOR", "AND"):
                program.append((code[op], ins[0], ins[1], outs[0]))
            else:
                program.append((code[op], ins[0], None, outs[0]))
        return program


# --- parsing -----------------------------------------------------------------------------


class _Source:
    """The text being parsed, to build V0901 errors pointing at a line and token."""

    def __init__(self, text: str, name: str, lines: list[str]):
        self.text, self.name, self.lines = text, name, lines

    def error(self, line: int, reason: str, help: str, token: int | None = None) -> VeilError:
        raw = self.lines[line - 1].expandtabs(1) if 1 <= line <= len(self.lines) else ""
        col, end = 1, len(raw) + 1
        if token is not None:
            spans = [m.span() for m in _TOKEN.finditer(raw)]
            if 0 <= token < len(spans):
                col, end = spans[token][0] + 1, spans[token][1] + 1
        span = Span(self.name, line, col, line, max(end, col + 1))
        message = f"{self.name}, line {line}: {reason}"
        sources = SourceMap()
        sources.add(self.name, self.text)
        return VeilError([Diagnostic(CODE, message, span, help)], sources)


def _next_line(lines: list[str], start: int) -> int:
    """Index of the first non-blank line at or after ``start`` (``len(lines)`` if none)."""
    while start < len(lines) and not lines[start].strip():
        start += 1
    return start


def _ints(src: _Source, line: int, tokens: list[str], what: str, help: str) -> list[int]:
    for k, token in enumerate(tokens):
        if not (token.isascii() and token.isdigit()):
            raise src.error(line, f"{token!r} in the {what} is not a non-negative integer", help, k)
    return [int(t) for t in tokens]


def _header(src: _Source, lines: list[str]) -> tuple[int, int, int]:
    """Parse the header line; return (gates, wires, its line number)."""
    i = _next_line(lines, 0)
    if i == len(lines):
        raise src.error(
            max(1, len(lines)),
            "the file is empty",
            "a Bristol Fashion file starts with a line `#gates #wires`",
        )
    header_help = "the first line is `#gates #wires`, two non-negative integers"
    tokens = lines[i].split()
    counts = _ints(src, i + 1, tokens, "header", header_help)
    if len(counts) != 2:
        raise src.error(
            i + 1,
            f"the header has {len(counts)} numbers, not 2",
            header_help,
            2 if len(counts) > 2 else None,
        )
    gates, wires = counts
    if wires > MAX_WIRES:
        raise src.error(
            i + 1,
            f"the header declares {wires} wires, more than Veil supports",
            f"circuits may use at most {MAX_WIRES} wires",
            1,
        )
    return gates, wires, i + 1


def _widths(src: _Source, lines: list[str], start: int, what: str) -> tuple[tuple[int, ...], int]:
    """Parse an input/output line `n w_1 .. w_n`; return (widths, its line number)."""
    help = (
        f"the {what} line is `n w_1 .. w_n`: the number of {what} values, then the bit "
        f"width (at least 1) of each"
    )
    i = _next_line(lines, start)
    if i == len(lines):
        raise src.error(max(1, len(lines)), f"the file ends before the {what} line", help)
    line = i + 1
    numbers = _ints(src, line, lines[i].split(), f"{what} line", help)
    count, widths = numbers[0], numbers[1:]
    if len(widths) != count:
        raise src.error(
            line,
            f"the {what} line declares {count} values but lists {len(widths)} widths",
            help,
            0,
        )
    for k, width in enumerate(widths):
        if width == 0:
            raise src.error(line, f"{what} value {k} has width 0", help, k + 1)
    return tuple(widths), line


def parse(text: str, source: str) -> BristolCircuit:
    """Parse and validate Bristol Fashion ``text``; ``source`` names it in errors.

    Raises :class:`VeilError` (code ``V0901``) for the first problem found, naming its line.
    """
    lines = text.splitlines()
    src = _Source(text, source, lines)
    declared, wires, header_line = _header(src, lines)
    # A line number is also the index of the next line, where the search continues.
    input_widths, in_line = _widths(src, lines, header_line, "input")
    output_widths, out_line = _widths(src, lines, in_line, "output")
    n_in_wires, n_out_wires = sum(input_widths), sum(output_widths)
    if n_in_wires + n_out_wires > wires:
        raise src.error(
            out_line,
            f"the inputs ({n_in_wires} wires) and outputs ({n_out_wires} wires) need "
            f"{n_in_wires + n_out_wires} wires but the header (line {header_line}) declares "
            f"{wires}",
            "inputs are the first wires and outputs the last ones, so their widths must add "
            "up to at most the wire count",
        )

    plain = _plain_gates(lines, out_line, declared, wires, n_in_wires, n_out_wires)
    if plain is not None:
        return BristolCircuit(wires, input_widths, output_widths, plain, source)

    # assigned_at[w]: 0 = not yet assigned, -1 = an input wire, else the assigning line.
    assigned_at = [-1] * n_in_wires + [0] * (wires - n_in_wires)
    gates: list[Gate] = []
    append = gates.append
    arity = _ARITY
    for index in range(out_line, len(lines)):
        tokens = lines[index].split()
        if not tokens:
            continue
        line = index + 1
        if len(gates) == declared:
            raise src.error(
                line,
                f"this is gate line {declared + 1} but the header (line {header_line}) "
                f"declares only {declared} gates",
                "the first number of the header is the number of gate lines",
            )
        op = tokens[-1]
        numbers = tokens[:-1]
        if len(tokens) < 3 or (op not in arity and op != "MAND"):
            _bad_op(src, line, tokens)
        joined = "".join(numbers)
        if not (joined.isascii() and joined.isdigit()):
            _ints(src, line, numbers, "gate line", f"a gate line is {_GATE_FORM}")
        values = list(map(int, numbers))
        n_in, n_out = values[0], values[1]
        if len(values) != 2 + n_in + n_out:
            raise src.error(
                line,
                f"the gate declares {n_in} inputs and {n_out} outputs, so it needs "
                f"{n_in + n_out} wire numbers, but has {len(values) - 2}",
                f"a gate line is {_GATE_FORM}",
            )
        expected = arity.get(op)
        if expected is None:  # MAND
            if n_out < 1 or n_in != 2 * n_out:
                raise src.error(
                    line,
                    f"MAND with {n_in} inputs and {n_out} outputs",
                    "MAND is `2n n a_1..a_2n o_1..o_n MAND` with n >= 1",
                    0,
                )
        elif (n_in, n_out) != expected:
            raise src.error(
                line,
                f"{op} with {n_in} inputs and {n_out} outputs",
                f"{op} takes {expected[0]} input{'s' if expected[0] > 1 else ''} and "
                f"{expected[1]} output" + (" (the constant 0 or 1)" if op == "EQ" else ""),
                0,
            )
        ins = tuple(values[2 : 2 + n_in])
        outs = tuple(values[2 + n_in :])
        if op == "EQ":
            if ins[0] > 1:
                raise src.error(
                    line,
                    f"EQ constant {ins[0]} is not 0 or 1",
                    "EQ is `1 1 c out EQ` with the constant c = 0 or 1",
                    2,
                )
        else:
            for k, w in enumerate(ins):
                if w >= wires or not assigned_at[w]:
                    _bad_input(src, line, w, wires, 2 + k)
        for k, w in enumerate(outs):
            if w >= wires or assigned_at[w]:
                _bad_output(src, line, w, wires, assigned_at, 2 + n_in + k)
            assigned_at[w] = line
        append(Gate(op, ins, outs, line))

    if len(gates) != declared:
        raise src.error(
            header_line,
            f"the header declares {declared} gates but the file has {len(gates)} gate lines",
            "the first number of the header is the number of gate lines",
            0,
        )
    first_out = wires - n_out_wires
    for w in range(first_out, wires):
        if not assigned_at[w]:
            k, bit = _locate(w - first_out, output_widths)
            raise src.error(
                out_line,
                f"output wire {w} (output {k}, bit {bit}) is never assigned by a gate",
                f"the outputs are the last {n_out_wires} wires ({first_out}..{wires - 1}); "
                f"each must be the output of a gate",
            )
    return BristolCircuit(wires, input_widths, output_widths, tuple(gates), source)


def _plain_gates(lines: list[str], first: int, declared: int, wires: int, n_in_wires: int,
                 n_out_wires: int) -> tuple[Gate, ...] | None:  # fmt: skip
    """The gates of lines[first:] read with numpy at once, when every gate line is a plain
    `2 1 a b o XOR|AND`, `1 1 a o INV|EQW` or `1 1 c o EQ` with single spaces and the
    circuit passes every check of the line-by-line reading (wires in range, each
    assigned once and before it is read, never an input, EQ's constant 0 or 1, every
    output assigned, the declared gate count). None otherwise: then the line-by-line
    reading parses the file and words the first problem. SHA-256 (139,000 gates) is
    read in a fraction of the time."""
    end = len(lines)
    while first < end and not lines[first].strip():
        first += 1
    while end > first and not lines[end - 1].strip():
        end -= 1
    if end - first != declared or not declared:
        return None
    body = "\n".join(lines[first:end])
    if not body.isascii():
        return None
    raw = np.frombuffer(body.encode("ascii"), dtype=np.uint8)
    newline, space = raw == 10, raw == 32
    separator = newline | space
    if separator[0] or separator[-1] or bool(np.any(separator[1:] & separator[:-1])):
        return None  # leading, trailing or repeated whitespace: not a plain file
    ends = np.append(np.flatnonzero(newline), raw.size)  # one past each line's last byte
    counted = np.cumsum(space)
    spaces_before_end = counted[ends - 1]
    tokens = np.diff(spaces_before_end, prepend=0) + 1
    two = tokens == 6
    if not bool(np.all(two | (tokens == 5))):
        return None
    # the operation: the bytes after the line's last space
    last_space = np.flatnonzero(space)[spaces_before_end - 1]
    op_len = ends - last_space - 1
    if not bool(np.all((op_len == 2) | (op_len == 3))):
        return None
    tail = raw[np.maximum(ends[:, None] + np.arange(-3, 0), 0)]
    code = np.full(ends.size, -1, dtype=np.int64)
    for k, name in enumerate(_PLAIN_OPS):
        letters = np.frombuffer(name.encode(), np.uint8)
        match = np.all(tail[:, 3 - len(letters):] == letters, axis=1) & \
            (op_len == len(letters))
        code[match] = k
    if not bool(np.all(np.where(two, code <= 1, code >= 2) & (code >= 0))):
        return None
    numeric = raw.copy()
    op_bytes = last_space[:, None] + 1 + np.arange(3)
    numeric[op_bytes[(op_bytes < ends[:, None])]] = 32
    digit = (numeric >= 48) & (numeric <= 57)
    if not bool(np.all(digit | (numeric == 32) | newline)):
        return None
    breaks = np.flatnonzero(~digit)
    if np.diff(breaks, prepend=-1, append=raw.size).max() > 10:  # ≤ 9 digits: no overflow
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            numbers = np.fromstring(numeric.tobytes(), dtype=np.int64, sep=" ")
        except (ValueError, DeprecationWarning, AttributeError):  # (a numpy without it)
            return None
    width = tokens - 1
    if numbers.size != int(width.sum()):
        return None
    starts = np.cumsum(width) - width
    if not bool(np.all(numbers[starts] == np.where(two, 2, 1))) or \
            not bool(np.all(numbers[starts + 1] == 1)):
        return None
    a = numbers[starts + 2]
    b = np.where(two, numbers[np.minimum(starts + 3, numbers.size - 1)], 0)
    out = numbers[starts + width - 1]
    line = np.arange(first + 1, end + 1, dtype=np.int64)
    constant = code == _PLAIN_OPS.index("EQ")
    if bool(np.any(constant & (a > 1))):
        return None
    if int(max(a.max(), b.max(), out.max())) >= wires or int(out.min()) < n_in_wires:
        return None
    if np.unique(out).size != out.size:
        return None  # a wire assigned twice
    assigned = np.zeros(wires, dtype=np.int64)  # the line assigning each wire, or 0
    assigned[out] = line
    for read, used in ((a, ~constant), (b, two)):
        at = assigned[read]
        ok = (read < n_in_wires) | ((at > 0) & (at < line))
        if not bool(np.all(ok | ~used)):
            return None  # read before it is assigned
    if not bool(np.all(assigned[wires - n_out_wires:] > 0)):
        return None  # an output never assigned
    new, names = tuple.__new__, _PLAIN_OPS
    return tuple(
        new(Gate, (names[op], (x, y) if op < 2 else (x,), (o,), at))
        for op, x, y, o, at in zip(code.tolist(), a.tolist(), b.tolist(), out.tolist(),
                                   line.tolist(), strict=True))


_PLAIN_OPS = ("XOR", "AND", "INV", "EQW", "EQ")
"""What `_plain_gates` reads: two-input operations first."""


def _bad_op(src: _Source, line: int, tokens: list[str]) -> None:
    op = tokens[-1]
    help = f"a gate line is {_GATE_FORM} with OP one of {', '.join(OPS)}"
    if op.isascii() and op.isdigit():
        raise src.error(line, "the gate line does not end with an operation name", help)
    if len(tokens) < 3:
        raise src.error(line, f"incomplete gate line ({len(tokens)} fields)", help)
    raise src.error(line, f"unknown gate operation {op!r}", help, len(tokens) - 1)


def _bad_input(src: _Source, line: int, w: int, wires: int, token: int) -> None:
    if w >= wires:
        raise src.error(
            line, f"wire {w} is out of range", f"wire numbers are 0..{wires - 1}", token
        )
    raise src.error(
        line,
        f"wire {w} is used before it is assigned",
        "a gate may only read input wires or wires assigned by an earlier gate line",
        token,
    )


def _bad_output(
    src: _Source, line: int, w: int, wires: int, assigned_at: list[int], token: int
) -> None:
    if w >= wires:
        raise src.error(
            line, f"wire {w} is out of range", f"wire numbers are 0..{wires - 1}", token
        )
    where = assigned_at[w]
    if where < 0:
        before = "is an input wire"
    elif where == line:
        before = "appears twice among this gate's outputs"
    else:
        before = f"was already assigned on line {where}"
    raise src.error(
        line,
        f"wire {w} is assigned twice: it {before}",
        "every wire is assigned once, by the inputs or by exactly one gate",
        token,
    )


def _locate(offset: int, widths: Sequence[int]) -> tuple[int, int]:
    """(value index, bit) of the ``offset``-th wire of a run of values of ``widths``."""
    for k, width in enumerate(widths):
        if offset < width:
            return k, offset
        offset -= width
    raise IndexError(offset)


def load(path: Path | str) -> BristolCircuit:
    """Read and parse a Bristol Fashion file; errors name the file as given."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:  # the largest published circuits are a few megabytes
            raise VeilError([Diagnostic(CODE, f"{path}: the circuit file has {size:,} bytes, "
                                              f"more than {MAX_FILE_BYTES:,}", None,
                                        "split the computation, or check the file name")])
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VeilError(
            [
                Diagnostic(
                    CODE,
                    f"{path}: cannot read the circuit file: {exc}",
                    None,
                    "give the path of a readable UTF-8 Bristol Fashion text file",
                )
            ]
        ) from exc
    return parse(text, str(path))


# --- export ------------------------------------------------------------------------------


def to_text(
    wires: int,
    input_widths: Sequence[int],
    output_widths: Sequence[int],
    gates: Iterable[Gate | tuple[str, Sequence[int], Sequence[int]]],
    *,
    check: bool = True,
) -> str:
    """Canonical Bristol Fashion text for a gate list.

    ``gates`` holds :class:`Gate` objects or ``(op, ins, outs)`` tuples (for ``EQ``, ``ins``
    is ``(constant,)``). The text is the header, the width lines, a blank line and one gate
    a line, so gate ``i`` is on line ``5 + i``. With ``check`` (the default) the text is
    parsed back, so a malformed gate list raises the V0901 error of the text.
    """
    body: list[str] = []
    for gate in gates:
        op, ins, outs = (gate.op, gate.ins, gate.outs) if isinstance(gate, Gate) else gate
        body.append(f"{len(ins)} {len(outs)} {' '.join(map(str, (*ins, *outs)))} {op}")
    head = [
        f"{len(body)} {wires}",
        " ".join(map(str, (len(input_widths), *input_widths))),
        " ".join(map(str, (len(output_widths), *output_widths))),
        "",
    ]
    text = "\n".join(head + body) + "\n"
    if check:
        parse(text, "<to_text>")
    return text


def export(circuit: BristolCircuit) -> str:
    """Canonical Bristol Fashion text of ``circuit``; ``parse`` of it gives the circuit back
    (gate lines included, when the circuit was itself parsed from canonical text)."""
    return to_text(
        circuit.wires, circuit.input_widths, circuit.output_widths, circuit.gates, check=False
    )


# --- cleartext evaluation ----------------------------------------------------------------


def evaluate(circuit: BristolCircuit, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Evaluate ``circuit`` in the clear, vectorized over leading batch dimensions.

    Input ``j`` is a bool array of shape ``[..., input_widths[j]]`` (element ``i`` = bit
    ``i`` = wire ``input_wires(j)[i]``); batch shapes broadcast. Returns one bool array
    ``[..., output_widths[k]]`` per output. Raises ``ValueError`` if the inputs do not fit.
    """
    widths = circuit.input_widths
    if len(inputs) != len(widths):
        raise ValueError(f"the circuit has {len(widths)} inputs, got {len(inputs)} arrays")
    arrays = [np.asarray(x) for x in inputs]
    for j, (a, width) in enumerate(zip(arrays, widths, strict=True)):
        if a.ndim == 0 or a.shape[-1] != width:
            raise ValueError(f"input {j} must have shape [..., {width}], got {list(a.shape)}")
    batch = np.broadcast_shapes(*(a.shape[:-1] for a in arrays)) if arrays else ()
    size = math.prod(batch)
    words = max(1, -(-size // 64))

    values = np.zeros((circuit.wires, words), dtype=np.uint64)
    for j, a in enumerate(arrays):
        bits = np.broadcast_to(a.astype(bool), (*batch, widths[j])).reshape(size, widths[j])
        packed = np.zeros((widths[j], words * 8), dtype=np.uint8)
        packed[:, : -(-size // 8)] = np.packbits(bits.T, axis=1, bitorder="little")
        wires = circuit.input_wires(j)
        values[wires.start : wires.stop] = packed.view(np.uint64)

    rows = list(values)
    ones = np.full(words, np.iinfo(np.uint64).max, dtype=np.uint64)
    xor, and_, invert = np.bitwise_xor, np.bitwise_and, np.invert
    for opcode, a, b, o in circuit._program:
        if opcode == 0:
            xor(rows[a], rows[b], out=rows[o])
        elif opcode == 1:
            and_(rows[a], rows[b], out=rows[o])
        elif opcode == 2:
            invert(rows[a], out=rows[o])
        elif opcode == 3:
            rows[o][:] = ones if a else 0
        elif opcode == 4:
            rows[o][:] = rows[a]
        else:
            values[o] = values[a] & values[b]

    outputs = []
    for k, width in enumerate(circuit.output_widths):
        wires = circuit.output_wires(k)
        packed = values[wires.start : wires.stop].view(np.uint8)
        bits = np.unpackbits(packed, axis=1, count=size, bitorder="little").astype(bool)
        outputs.append(np.ascontiguousarray(bits.T).reshape(*batch, width))
    return outputs


# --- value conventions -------------------------------------------------------------------


def int_to_bits(value: int, width: int) -> np.ndarray:
    """Bits of ``value`` (element ``i`` = bit ``i``), two's complement for negatives."""
    if not -(1 << (width - 1)) <= value < (1 << width):
        raise ValueError(f"{value} does not fit in {width} bits")
    unsigned = value & ((1 << width) - 1)
    raw = np.frombuffer(unsigned.to_bytes(-(-width // 8), "little"), dtype=np.uint8)
    return np.unpackbits(raw, count=width, bitorder="little").astype(bool)


def bits_to_int(bits: np.ndarray, signed: bool) -> int:
    """Inverse of :func:`int_to_bits`: element ``i`` is bit ``i``; ``signed`` reads the
    top bit as the two's complement sign."""
    bits = np.asarray(bits, dtype=bool)
    if bits.ndim != 1:
        raise ValueError(f"expected a 1-D bit array, got shape {list(bits.shape)}")
    value = int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")
    if signed and bits.size and bits[-1]:
        value -= 1 << bits.size
    return value


def bytes_to_bits(data: bytes) -> np.ndarray:
    """AES convention: ``K = int.from_bytes(data, "big")``; element ``i`` is bit ``i`` of K
    (so element 0 is the least significant bit of the last byte)."""
    return int_to_bits(int.from_bytes(data, "big"), 8 * len(data))


def bits_to_bytes(bits: np.ndarray) -> bytes:
    """Inverse of :func:`bytes_to_bits`: ``sum(bits[i] << i)`` as big-endian bytes."""
    bits = np.asarray(bits, dtype=bool)
    if bits.ndim != 1 or bits.size % 8:
        raise ValueError(f"expected a 1-D array of 8k bits, got shape {list(bits.shape)}")
    return bits_to_int(bits, signed=False).to_bytes(bits.size // 8, "big")
