"""Fuzzing Veil: random programs, mutated programs, mutated input files.

The property: whatever the text, the compiler either compiles it or raises VeilError
(a diagnostic with a code); whatever an input file holds, loading it either succeeds or
raises VeilError, and no message shows a secret value. Anything else — an exception of
another kind, a run past the time limit — is a bug: what `veil` would print as an
internal error (V0000) instead of a diagnostic.

Three generators, each a function of a `random.Random` (so tests drive them from
hypothesis, `st.randoms()`, and the long run from seeds):

- `random_program`: a program from the grammar's productions — declarations, statements
  and expressions nested a few levels, names drawn mostly from those in scope, types and
  shapes at random (many programs are ill-typed on purpose: the checker's errors are
  paths to exercise too);
- `mutated_program`: a shipped program, standard-library module or golden error program
  with a few token-level mutations (delete, duplicate, swap, replace by a keyword, a
  huge number or a stray character, truncate, repeat a line, nest an expression deeply);
- `mutated_inputs`: a shipped program's input files with fields replaced by random JSON
  (deep nesting, strings, huge numbers, NaN, objects, duplicate keys), CSV files of
  random text, and paths that leave the directory.

Run it longer than the tests do (each case in a worker process with a time limit, so a
hang is counted, not suffered):

    python tests/fuzzing.py --cases 100000 --jobs 2 --seconds 20 --save /tmp/veil-fuzz
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import random
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from veil.diagnostics import VeilError  # noqa: E402
from veil.limits import Limits  # noqa: E402

FUZZ_LIMITS = Limits(elements=20_000, unroll=5_000, operations=60_000, input_bytes=1 << 20)
"""Small budgets: a random program may ask for anything, and must then fail fast."""

KEYWORDS = ["party", "input", "output", "param", "const", "let", "var", "for", "in", "if",
            "else", "while", "return", "use", "fn", "from", "to", "secret", "public", "int",
            "fixed", "bool", "true", "false", "and", "or", "not", "precision", "circuit",
            "monotone"]
BUILTINS = ["sum", "prod", "min", "max", "argmax", "abs", "dot", "select", "to_fixed",
            "to_int", "len", "size", "reshape", "transpose", "to_bits", "from_bits",
            "concat", "math.exp", "math.log", "math.sqrt", "math.reciprocal", "ml.sigmoid",
            "stats.mean"]
NUMBERS = ["0", "1", "2", "3", "7", "0.5", "-1", "1.5", "1000000000", "9223372036854775807",
           "9223372036854775808", "1e309", "0.000001", "1e-30", "123456789012345678901234567890",
           "4294967296"]
PUNCTUATION = ["(", ")", "[", "]", "{", "}", ",", ":", "=", "==", "!=", "<", "<=", ">", ">=",
               "+", "-", "*", "/", "@", ".", "..", "->", "#", ";", "%", '"', "\x00", "é",
               "\t", "\n"]


# ---------------------------------------------------------------- random programs

class _Gen:
    def __init__(self, rng: random.Random) -> None:
        self.r = rng
        self.names: list[str] = []
        self.functions: list[tuple[str, int]] = []
        self.parties: list[str] = []
        self.depth = 0

    def pick(self, items: list):
        return items[self.r.randrange(len(items))]

    def name(self) -> str:
        if self.names and self.r.random() < 0.85:
            return self.pick(self.names)
        return self.pick(["x", "y", "N", "w", "acc", "undefined_name", "sum", "a_1"])

    def shape(self) -> str:
        if self.r.random() < 0.9:  # mostly shapes that can work
            return self.pick(["", "", "[N]", "[3]", "[2, 3]", "[N, 2]", "[4]"])
        return self.pick(["[..]", "[0]", "[100000]", "[N, N, N]", "[-1]", "[2.5]"])

    def type(self, label: str | None = None) -> str:
        lab = label if label is not None else self.pick(["secret ", "public ", ""])
        return f"{lab}{self.pick(['int', 'fixed', 'bool'])}{self.shape()}"

    def expr(self, depth: int = 0) -> str:
        r = self.r
        if depth > 4 or r.random() < 0.3:
            return self.pick([self.name, self.name, lambda: self.pick(NUMBERS),
                              lambda: self.pick(["true", "false"])])()
        kind = r.random()
        if kind < 0.35:
            op = self.pick(["+", "-", "*", "/", "@", "<", "<=", ">", ">=", "==", "!=", "and",
                            "or"])
            text = f"{self.expr(depth + 1)} {op} {self.expr(depth + 1)}"
            # comparisons do not chain in the grammar: parenthesize inner operations
            return f"({text})" if depth and r.random() < 0.95 else text
        if kind < 0.45:
            return f"{self.pick(['-', 'not '])}{self.expr(depth + 1)}"
        if kind < 0.7:
            if self.functions and r.random() < 0.3:
                fn, arity = self.pick(self.functions)
            else:
                fn, arity = self.pick(BUILTINS), r.choice([1, 1, 2, 3])
            args = ", ".join(self.expr(depth + 1) for _ in range(arity))
            return f"{fn}({args})"
        if kind < 0.8:
            index = self.pick(["0", "1", "i", "0..2", "..", "1..", "N - 1", "-1", "5"])
            extra = f", {self.pick(['0', '1', '..'])}" if r.random() < 0.3 else ""
            return f"{self.name()}[{index}{extra}]"
        if kind < 0.9:
            n = r.randrange(0, 4)
            return "[" + ", ".join(self.expr(depth + 1) for _ in range(n)) + "]"
        return f"({self.expr(depth + 1)})"

    def statement(self, indent: str, depth: int = 0, in_fn: bool = False) -> list[str]:
        r = self.r
        kind = r.random()
        if depth > 2:
            kind = min(kind, 0.5)
        if kind < 0.25:
            name = self.pick(["v", "w", "acc", "t"]) + str(r.randrange(5))
            typed = f": {self.type()}" if r.random() < 0.3 else ""
            keyword = self.pick(["let", "var"])
            self.names.append(name)
            return [f"{indent}{keyword} {name}{typed} = {self.expr()}"]
        if kind < 0.4:
            return [f"{indent}{self.name()} = {self.expr()}"]
        if kind < 0.5:
            return [f"{indent}{self.name()}[{self.pick(['0', 'i', '1..2', 'N'])}] = "
                    f"{self.expr()}"]
        if kind < 0.65:
            bound = self.pick(["N", "3", "0", "len(x)", "1000000", "secret_bound", "2"])
            body = [line for _ in range(r.randrange(1, 3))
                    for line in self.statement(indent + "    ", depth + 1, in_fn)]
            return [f"{indent}for i in 0..{bound} {{", *body, f"{indent}}}"]
        if kind < 0.8:
            body = [line for _ in range(r.randrange(1, 3))
                    for line in self.statement(indent + "    ", depth + 1, in_fn)]
            out = [f"{indent}if {self.expr()} {{", *body]
            if r.random() < 0.5:
                out += [f"{indent}}} else {{",
                        *self.statement(indent + "    ", depth + 1, in_fn)]
            return [*out, f"{indent}}}"]
        if kind < 0.85:
            return [f"{indent}while {self.expr()} {{",
                    *self.statement(indent + "    ", depth + 1, in_fn), f"{indent}}}"]
        if kind < 0.92 and in_fn:
            return [f"{indent}return {self.expr()}"]
        to = ", ".join(self.pick(self.parties or ["nobody"]) for _ in range(r.randrange(1, 3)))
        return [f"{indent}output o{r.randrange(4)} = {self.expr()} to {to}"]

    def program(self) -> str:
        r = self.r
        lines: list[str] = []
        self.parties = r.sample(["a", "b", "c", "bank", "eu"], r.randrange(1, 4))
        where = [f" in {self.pick(['CN', 'EU'])}" if r.random() < 0.2 else ""
                 for _ in self.parties]
        lines.append("party " + ", ".join(p + w for p, w in zip(self.parties, where,
                                                                   strict=True)))
        if r.random() < 0.15:
            lines.append(f"precision {self.pick(['8', '16', '20', '20', '30', '0'])}")
        if r.random() < 0.8:
            lines.append(f"const N = {self.pick(['2', '3', '4', '3', '0', '1000000000', '2.5'])}")
            self.names.append("N")
        for module in ("math", "stats", "ml"):
            if r.random() < 0.2:
                lines.append(f"use {module}")
        for k in range(r.randrange(0, 4)):
            name = f"x{k}" if k else "x"
            bounds = " in [0.0, 100.0]" if r.random() < 0.15 else ""
            label = "secret " if r.random() < 0.95 else self.pick(["public ", ""])
            lines.append(f"input {name}: {self.type(label)}{bounds} from "
                         f"{self.pick(self.parties)}")
            self.names.append(name)
        if r.random() < 0.3:
            lines.append(f"param t: {self.type('public ')} = {self.expr(3)}")
            self.names.append("t")
        for k in range(r.randrange(0, 3)):
            fname = f"f{k}"
            arity = r.randrange(0, 3)
            params = ", ".join(f"p{j}: {self.type()}" for j in range(arity))
            saved = self.names
            self.names = [*(f"p{j}" for j in range(arity)), "N"]
            body = [line for _ in range(r.randrange(0, 3))
                    for line in self.statement("    ", 1, True)]
            body.append(f"    return {self.expr()}")
            self.names = saved
            ret = f" -> {self.type()}" if r.random() < 0.7 else ""
            prefix = "monotone " if r.random() < 0.1 else ""
            lines += [f"{prefix}fn {fname}({params}){ret} {{", *body, "}"]
            self.functions.append((fname, arity))
        for _ in range(r.randrange(1, 8)):
            lines += self.statement("")
        return "\n".join(lines) + "\n"


def random_program(rng: random.Random) -> str:
    """A program built from the grammar's productions (often ill-typed on purpose)."""
    return _Gen(rng).program()


class _Typed:
    """Well-typed programs: every expression is built for the type it must have, so most
    compile and reach lowering, the optimizer, the numerics and the rep3 lowering."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng
        self.vars: list[tuple[str, str, bool]] = []  # (name, base, vector?)
        self.count = 0

    def pick(self, items):
        return items[self.r.randrange(len(items))]

    def leaf(self, base: str, vector: bool) -> str:
        found = [n for n, b, v in self.vars if b == base and (v == vector or not v)]
        if found and self.r.random() < 0.8:
            return self.pick(found)
        return {"int": self.pick(["1", "2", "3", "0", "7"]),
                "fixed": self.pick(["0.5", "1.25", "2.0", "0.1"]),
                "bool": self.pick(["true", "false"])}[base]

    def expr(self, base: str, vector: bool, depth: int = 0) -> str:
        r = self.r
        if depth > 3 or r.random() < 0.25:
            return self.leaf(base, vector)
        if base == "bool":
            kind = r.random()
            if kind < 0.5:
                num = self.pick(["int", "fixed"])
                op = self.pick(["<", "<=", ">", ">=", "==", "!="])
                return f"({self.expr(num, vector, depth + 1)} {op} " \
                       f"{self.expr(num, vector, depth + 1)})"
            if kind < 0.8:
                op = self.pick(["and", "or"])
                return f"({self.expr('bool', vector, depth + 1)} {op} " \
                       f"{self.expr('bool', vector, depth + 1)})"
            return f"(not {self.expr('bool', vector, depth + 1)})"
        kind = r.random()
        if kind < 0.35:
            op = self.pick(["+", "-", "*"])
            return f"({self.expr(base, vector, depth + 1)} {op} " \
                   f"{self.expr(base, vector, depth + 1)})"
        if kind < 0.45 and not vector:
            return f"sum({self.expr(base, True, depth + 1)})"
        if kind < 0.55:
            return f"select({self.expr('bool', vector, depth + 1)}, " \
                   f"{self.expr(base, vector, depth + 1)}, {self.expr(base, vector, depth + 1)})"
        if kind < 0.62:
            return f"{self.pick(['max', 'min'])}({self.expr(base, vector, depth + 1)}, " \
                   f"{self.expr(base, vector, depth + 1)})"
        if kind < 0.68:
            return f"abs({self.expr(base, vector, depth + 1)})"
        if kind < 0.74:
            return f"to_{base}({self.expr('bool', vector, depth + 1)})"
        if base == "fixed" and kind < 0.8:
            return f"({self.expr(base, vector, depth + 1)} / {self.pick(['2.0', '4', '0.5'])})"
        if base == "fixed" and kind < 0.84:
            fn = self.pick(["math.exp", "math.sqrt", "math.log", "ml.sigmoid"])
            return f"{fn}({self.expr('fixed', vector, depth + 1)})"
        if base == "fixed" and kind < 0.87:
            return f"({self.expr(base, vector, depth + 1)} / {self.expr(base, vector, depth + 1)})"
        if not vector and kind < 0.93:
            return f"{self.pick(['sum', 'max', 'min'])}({self.expr(base, True, depth + 1)})"
        return f"(-{self.expr(base, vector, depth + 1)})"

    def name(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def program(self) -> str:
        r = self.r
        lines = ["party a, b, c", f"const N = {self.pick(['1', '2', '3', '4'])}", "use math",
                 "use ml"]
        for k, base in enumerate(self.pick([["int"], ["fixed"], ["int", "fixed"],
                                            ["fixed", "bool", "int"]])):
            vector = r.random() < 0.7
            bounds = " in [0.0, 10.0]" if base != "bool" and r.random() < 0.3 else ""
            lines.append(f"input x{k}: secret {base}{'[N]' if vector else ''}{bounds} "
                         f"from {self.pick(['a', 'b'])}")
            self.vars.append((f"x{k}", base, vector))
        if r.random() < 0.4:
            lines += ["fn twice(v: fixed[..]) -> fixed[..] {", "    return v * 2.0", "}"]
        outputs = []
        for _ in range(r.randrange(1, 7)):
            base = self.pick(["int", "fixed", "bool"])
            vector = r.random() < 0.5
            kind = r.random()
            name = self.name()
            if kind < 0.6:
                lines.append(f"let {name} = {self.expr(base, vector)}")
            elif kind < 0.8 and base != "bool":
                lines += [f"var {name}: secret {base} = 0",
                          "for i in 0..N {",
                          f"    {name} = {name} + {self.expr(base, False, 2)}",
                          "}"]
                vector = False
            else:
                lines += [f"var {name}: secret {base}{'[N]' if vector else ''} = "
                          f"{self.leaf(base, vector)}",
                          f"if {self.expr('bool', False, 2)} {{",
                          f"    {name} = {self.expr(base, vector, 2)}",
                          "} else {",
                          f"    {name} = {self.expr(base, vector, 2)}",
                          "}"]
            self.vars.append((name, base, vector))
            outputs.append(name)
        for k, name in enumerate(outputs[-3:]):
            lines.append(f"output o{k} = {name} to {self.pick(['b', 'c', 'a, c'])}")
        return "\n".join(lines) + "\n"


def typed_program(rng: random.Random) -> str:
    """A well-typed random program (most compile; some overflow or divide by zero)."""
    return _Typed(rng).program()


# ---------------------------------------------------------------- mutations

_TOKEN = re.compile(r"\s+|#[^\n]*|[A-Za-z_]\w*|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\.|->|[<>=!]=|.",
                    re.S)


def corpus() -> list[tuple[str, Path]]:
    """The texts mutations start from: shipped programs, the standard library and the
    golden error programs, each with its directory (for `use` and circuit files)."""
    found = []
    for path in sorted([*ROOT.glob("programs/*/*.mpc"), *ROOT.glob("stdlib/*.mpc"),
                        *ROOT.glob("tests/errors/*.mpc")]):
        found.append((path.read_text(encoding="utf-8"), path.parent))
    return found


def mutate(text: str, rng: random.Random) -> str:
    """A few token-level mutations of a program text."""
    tokens = _TOKEN.findall(text)
    words = [t for t in tokens if t[:1].isalpha()] or ["x"]
    for _ in range(rng.randrange(1, 4)):
        if not tokens:
            tokens = ["x"]
        i = rng.randrange(len(tokens))
        kind = rng.random()
        if kind < 0.2:
            del tokens[i]
        elif kind < 0.3:
            tokens.insert(i, tokens[i])
        elif kind < 0.4:
            j = rng.randrange(len(tokens))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif kind < 0.55:
            tokens[i] = rng.choice(KEYWORDS + words)
        elif kind < 0.7:
            tokens[i] = rng.choice(NUMBERS)
        elif kind < 0.8:
            tokens.insert(i, rng.choice(PUNCTUATION))
        elif kind < 0.85:
            tokens = tokens[:i]  # truncated
        elif kind < 0.9:
            lines = "".join(tokens).split("\n")
            k = rng.randrange(len(lines))
            lines[k:k + 1] = [lines[k]] * rng.choice([2, 50, 2000])
            tokens = _TOKEN.findall("\n".join(lines))
        elif kind < 0.95:
            n = rng.choice([50, 700, 3000])
            tokens[i] = "(" * n + tokens[i] + ")" * n
        else:
            tokens[i] = rng.choice(["-" * 1000 + "1", "x" + " + x" * 1000,
                                    "f(" * 500 + "1" + ")" * 500, "\x1b[31m", "\ud7ff"])
    return "".join(tokens)


def mutated_program(rng: random.Random, texts: list[tuple[str, Path]]) -> tuple[str, Path]:
    text, where = texts[rng.randrange(len(texts))]
    return mutate(text, rng), where


# ---------------------------------------------------------------- input files

SECRET = 987654.321
"""A value planted in input files: no message may ever show it."""


def random_json(rng: random.Random, depth: int = 0):
    kind = rng.random()
    if depth > 3 or kind < 0.3:
        return rng.choice([0, 1, -1, 2.5, SECRET, 2**63, -2**63 - 1, 10**400, 1e308, True,
                           None, "3", "x", "0x0f", "", "NaN", [], {}])
    if kind < 0.7:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    if kind < 0.8:
        return {"parquet": rng.choice(["x.parquet", "../x.parquet", "/etc/hostname"])}
    if kind < 0.9:
        return {"sql": "SELECT 1", "url": rng.choice(["sqlite:///x.db", "sqlite:///../x.db",
                                                      "nope"])}
    return rng.choice(["data.csv", "../../../../etc/hostname", "/dev/zero", "a\x00b.csv",
                       "missing.csv", "."])


def random_csv(rng: random.Random) -> str:
    rows = []
    for _ in range(rng.randrange(0, 6)):
        cells = [rng.choice(["1", "2.5", str(SECRET), "x", "", "true", "nan", "1e999",
                             "99999999999999999999", '"3"', "\x00"])
                 for _ in range(rng.randrange(0, 5))]
        rows.append(",".join(cells))
    return "\n".join(rows) + rng.choice(["", "\n", "\n\n"])


def mutated_inputs(rng: random.Random, directory: Path, program: Path) -> None:
    """Copy a shipped program's input files into `directory`, with random damage."""
    source = program / "inputs"
    for path in sorted(source.glob("*")):
        text = path.read_text(encoding="utf-8") if path.suffix in (".json", ".csv") else None
        if text is None:
            continue
        if path.suffix == ".csv":
            (directory / path.name).write_text(random_csv(rng) if rng.random() < 0.5 else text,
                                               encoding="utf-8")
            continue
        data = json.loads(text)
        for field in list(data):
            if rng.random() < 0.5:
                data[field] = random_json(rng)
        out = json.dumps(data, allow_nan=True)
        kind = rng.random()
        if kind < 0.1:
            out = "[" * rng.choice([100, 5000, 200000]) + "]" * 10
        elif kind < 0.2 and data:
            first = next(iter(data))
            out = out[:-1] + f', "{first}": {json.dumps(random_json(rng))}}}'  # a duplicate
        elif kind < 0.25:
            out = out[: rng.randrange(len(out) + 1)]
        (directory / path.name).write_text(out, encoding="utf-8")
    (directory / "data.csv").write_text(random_csv(rng), encoding="utf-8")


# ---------------------------------------------------------------- the oracles

class Finding(Exception):
    """Not a VeilError: what the fuzzing looks for."""


def check_program(text: str, where: Path | None = None) -> str:
    """Compile `text` for both backends (and format it); "ok" or "error" (a VeilError);
    Finding with the traceback for anything else."""
    from veil.compiler import compile_source
    from veil.lang.fmt import FormatError, format_source

    outcome = "error"
    try:
        for backend in ("plain", "rep3"):
            compile_source(text, "main.mpc", where, backend=backend, limits=FUZZ_LIMITS)
        outcome = "ok"
    except VeilError:
        pass
    except Exception as exc:
        raise Finding(f"compile: {type(exc).__name__}: {exc}\n{traceback.format_exc()}") \
            from exc
    try:
        format_source(text, "main.mpc")
    except (VeilError, FormatError):
        pass
    except Exception as exc:
        raise Finding(f"fmt: {type(exc).__name__}: {exc}\n{traceback.format_exc()}") from exc
    return outcome


def check_run(text: str, rng: random.Random) -> str:
    """Compile a (well-typed) program and run it on the plain backend with random inputs:
    "ok" or "error" (a VeilError, such as an overflow at run time); Finding otherwise."""
    import numpy as np

    from veil.api import prepare_inputs
    from veil.backend.plain import PlainBackend
    from veil.compiler import compile_source

    outcome = check_program(text)
    if outcome != "ok":
        return outcome
    try:
        circuit = compile_source(text, limits=FUZZ_LIMITS).circuit
        values: dict[str, dict] = {}
        for spec in circuit.inputs:
            shape = spec.type.shape
            if spec.type.base == "bool":
                value = np.array(rng.choices([True, False], k=math.prod(shape))).reshape(shape)
            elif spec.type.base == "int":
                value = np.array(rng.choices(range(0, 11), k=math.prod(shape))).reshape(shape)
            else:
                value = np.array([rng.uniform(0, 10) for _ in range(math.prod(shape))])
                value = value.reshape(shape)
            values.setdefault(spec.owner, {})[spec.name] = value if shape else value.item()
        PlainBackend().run(circuit, prepare_inputs(circuit, values))
        return "ok"
    except VeilError:
        return "error"
    except Exception as exc:
        raise Finding(f"run: {type(exc).__name__}: {exc}\n{traceback.format_exc()}") from exc


def check_inputs(program: Path, directory: Path) -> str:
    """Load `directory` as the inputs of a shipped program: "ok" or "error" (VeilError
    whose text shows no planted secret value); Finding otherwise."""
    from veil.io.inputs import load_inputs

    circuit = _compiled(program)
    try:
        load_inputs(circuit, directory, FUZZ_LIMITS.input_bytes)
        return "ok"
    except VeilError as exc:
        text = exc.render()
        for shown in (str(SECRET), "987654"):
            if shown in text:
                raise Finding(f"a secret value in a message:\n{text}") from None
        return "error"
    except Exception as exc:
        raise Finding(f"inputs: {type(exc).__name__}: {exc}\n{traceback.format_exc()}") \
            from exc


_CIRCUITS: dict[Path, object] = {}


def _compiled(program: Path):
    from veil.compiler import compile_path

    if program not in _CIRCUITS:
        _CIRCUITS[program] = compile_path(program, backend="plain").circuit
    return _CIRCUITS[program]


KINDS = ("generated", "typed", "mutated", "inputs")
"""The four kinds of case, in turn by seed."""
INPUT_PROGRAMS = ["joint_average", "sealed_bid_auction", "matrix_product", "credit_scoring"]


def run_case(seed: int) -> tuple[str, str]:
    """One case of the long run, chosen by its seed: (kind, outcome)."""
    rng = random.Random(seed)
    kind = KINDS[seed % len(KINDS)]
    if kind == "generated":
        return kind, check_program(random_program(rng))
    if kind == "typed":
        return kind, check_run(typed_program(rng), rng)
    if kind == "mutated":
        text, where = mutated_program(rng, _corpus())
        return kind, check_program(text, where)
    program = ROOT / "programs" / INPUT_PROGRAMS[rng.randrange(len(INPUT_PROGRAMS))]
    with tempfile.TemporaryDirectory(prefix="veil-fuzz-") as tmp:
        mutated_inputs(rng, Path(tmp), program)
        return kind, check_inputs(program, Path(tmp))


_TEXTS: list[tuple[str, Path]] = []


def _corpus() -> list[tuple[str, Path]]:
    if not _TEXTS:
        _TEXTS.extend(corpus())
    return _TEXTS


# ---------------------------------------------------------------- the long run

def _worker(tasks, results) -> None:
    while True:
        seed = tasks.get()
        if seed is None:
            return
        try:
            kind, outcome = run_case(seed)
            results.put((seed, kind, outcome, ""))
        except Finding as exc:
            results.put((seed, "?", "finding", str(exc)))
        except BaseException as exc:  # the harness itself must not die
            results.put((seed, "?", "finding", f"{type(exc).__name__}: {exc}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="a case running longer than this is a hang")
    parser.add_argument("--seed", type=int, default=0, help="the first case's seed")
    parser.add_argument("--save", type=Path, help="write each finding's case here")
    args = parser.parse_args(argv)
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    workers: dict[int, tuple] = {}
    counts: dict[tuple[str, str], int] = {}
    findings: list[tuple[int, str]] = []
    hangs: list[int] = []
    next_seed = args.seed
    last = args.seed + args.cases
    started = time.monotonic()

    def start(slot: int) -> None:
        nonlocal next_seed
        tasks = ctx.Queue()
        proc = ctx.Process(target=_worker, args=(tasks, results), daemon=True)
        proc.start()
        workers[slot] = (proc, tasks, None, 0.0)

    for slot in range(args.jobs):
        start(slot)
    done = 0
    while done < args.cases:
        for slot, (proc, tasks, seed, since) in list(workers.items()):
            if seed is None and next_seed < last:
                tasks.put(next_seed)
                workers[slot] = (proc, tasks, next_seed, time.monotonic())
                next_seed += 1
            elif seed is not None and time.monotonic() - since > args.seconds:
                proc.kill()
                proc.join()
                hangs.append(seed)
                done += 1
                start(slot)
        try:
            seed, kind, outcome, detail = results.get(timeout=0.05)
        except Exception:
            continue
        done += 1
        for slot, (proc, tasks, busy, _since) in workers.items():
            if busy == seed:
                workers[slot] = (proc, tasks, None, 0.0)
        counts[(kind, outcome)] = counts.get((kind, outcome), 0) + 1
        if outcome == "finding":
            findings.append((seed, detail))
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                (args.save / f"finding-{seed}.txt").write_text(detail, encoding="utf-8")
        if done % 1000 == 0:
            print(f"{done:,} cases, {len(findings)} findings, {len(hangs)} hangs, "
                  f"{time.monotonic() - started:.0f} s", flush=True)
    for _, tasks, _, _ in workers.values():
        tasks.put(None)
    elapsed = time.monotonic() - started
    print(f"\n{done:,} cases in {elapsed:.0f} s ({done / max(elapsed, 1e-9):.1f} a second)")
    for (kind, outcome), n in sorted(counts.items()):
        print(f"  {kind:<10} {outcome:<8} {n:>8,}")
    print(f"findings (not a VeilError): {len(findings)}; hangs (> {args.seconds:g} s): "
          f"{len(hangs)}")
    for seed, detail in findings[:10]:
        print(f"\n--- seed {seed}\n{detail[:2000]}")
    if hangs:
        print(f"hanging seeds: {hangs[:20]}")
    return 1 if findings or hangs else 0


if __name__ == "__main__":
    sys.exit(main())
