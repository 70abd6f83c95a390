"""Bristol circuits evaluated layer by layer (veil.ir.lower_bristol): random circuits with
every gate kind, constants, copies and MAND, called over batches of different shapes
(one shared argument, one bool per instance or 64 instances a word, public arguments) give what
the reference evaluator gives, in the clear and over secret shares; one `and` node per
AND level and group, so the rounds are the AND depth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rep3_harness import run_threaded

from veil import bristol
from veil.backend.plain import PlainBackend
from veil.compiler import compile_source
from veil.cost import report
from veil.ir.semantics import encode


def random_circuit(rng: np.random.Generator, widths: tuple[int, ...], gates: int,
                   outputs: tuple[int, ...]) -> str:
    """A valid Bristol Fashion text: random gates over earlier wires, outputs copied
    (EQW) onto the last wires."""
    wire = sum(widths)
    lines: list[tuple[str, list[int], list[int]]] = []
    for _ in range(gates):
        kind = rng.choice(["XOR", "AND", "INV", "EQ", "EQW", "MAND"],
                          p=[0.4, 0.3, 0.1, 0.05, 0.05, 0.1])
        def pick(k: int, top: int = wire) -> list[int]:
            return [int(x) for x in rng.integers(0, top, k)]

        if kind == "EQ":
            lines.append(("EQ", [int(rng.integers(0, 2))], [wire]))
            wire += 1
        elif kind == "MAND":
            k = int(rng.integers(1, 4))
            lines.append(("MAND", pick(2 * k), list(range(wire, wire + k))))
            wire += k
        else:
            arity = 2 if kind in ("XOR", "AND") else 1
            lines.append((str(kind), pick(arity), [wire]))
            wire += 1
    sources = [int(x) for x in rng.integers(0, wire, sum(outputs))]
    for s in sources:
        lines.append(("EQW", [s], [wire]))
        wire += 1
    return bristol.to_text(wire, widths, outputs, lines)


def _program(path: Path, widths, batches, public: set[int]) -> str:
    lines = ["party p", f'circuit c = bristol("{path}")']
    args = []
    for j, (w, batch) in enumerate(zip(widths, batches, strict=True)):
        dims = ", ".join(map(str, (*batch, w)))
        if j in public:
            args.append(f"k{j}")
            lines.append(f"const k{j} = {_literal(j, batch, w)}")
        else:
            args.append(f"x{j}")
            lines.append(f"input x{j}: secret bool[{dims}] from p")
    lines.append(f"let (r0, r1) = c({', '.join(args)})")
    lines.append("output o0 = r0 to p")
    lines.append("output o1 = r1 to p")
    return "\n".join(lines) + "\n"


def _public_value(j: int, batch, w: int) -> np.ndarray:
    return (np.arange(int(np.prod(batch, dtype=int)) * w).reshape(*batch, w) * (j + 3)) % 5 < 2


def _literal(j: int, batch, w: int) -> str:
    def text(v) -> str:
        return "[" + ", ".join(text(x) for x in v) + "]" if isinstance(v, list) else \
            ("true" if v else "false")
    return text(_public_value(j, batch, w).tolist())


CASES = [  # argument batch shapes; public arguments
    ([(), ()], set()),
    ([(5,), ()], set()),
    ([(70,), ()], set()),          # 70 instances: one bool each (padding would waste)
    ([(128,), (128,)], set()),     # two words of 64 instances
    ([(), (200,)], set()),         # the first argument broadcast over 200, packed
    ([(1,), (64,)], set()),        # one instance against 64
    ([(128,), ()], {1}),           # a public argument
    ([(), (3,)], {0}),
]


@pytest.mark.parametrize(("batches", "public"), CASES)
@pytest.mark.parametrize("seed", range(4))
def test_random_circuits_match_the_reference(tmp_path: Path, batches, public, seed) -> None:
    rng = np.random.default_rng(100 * seed + len(batches[0]))
    widths, outs = (int(rng.integers(1, 9)), int(rng.integers(1, 9))), (3, 5)
    path = tmp_path / "c.txt"
    path.write_text(random_circuit(rng, widths, 120, outs))
    circuit = bristol.load(path)
    src = _program(path, widths, batches, public)
    values = {}
    arrays = []
    for j, (w, batch) in enumerate(zip(widths, batches, strict=True)):
        v = _public_value(j, batch, w) if j in public else rng.integers(0, 2, (*batch, w)) == 1
        arrays.append(v)
        if j not in public:
            values[f"x{j}"] = v
    want = bristol.evaluate(circuit, arrays)
    for backend in ("plain", "rep3"):
        compiled = compile_source(src, backend=backend)
        enc = {s.name: encode(values[s.name], "bool") for s in compiled.executable.inputs}
        got = PlainBackend().run(compiled.executable, enc).outputs
        for k in range(2):
            assert np.array_equal(got[f"o{k}"], want[k]), (backend, k)
    if seed == 0:  # over secret shares too (the same circuit, three server threads)
        shared = run_threaded(compiled.executable, enc).result.outputs
        for k in range(2):
            assert np.array_equal(shared[f"o{k}"], want[k]), ("rep3 run", k)


def test_one_and_node_per_level_and_group(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    path = tmp_path / "c.txt"
    path.write_text(random_circuit(rng, (8, 8), 400, (4, 4)))
    circuit = bristol.load(path)
    src = _program(path, (8, 8), [(1000,), ()], set())
    compiled = compile_source(src, backend="rep3")
    ands = [n for n in compiled.executable.nodes if n.op == "and"]
    assert len(ands) <= 2 * circuit.and_depth  # two groups: per instance, and x1 alone
    data = report.build(compiled.executable, backend="rep3")
    assert data["rounds_by_phase"]["compute"] <= circuit.and_depth  # dead or constant ANDs go


def test_aes_compiles_to_a_few_hundred_nodes() -> None:
    shared = Path(__file__).resolve().parent / "data" / "bristol" / "aes_128.txt"
    src = (f'party p\ncircuit aes = bristol("{shared}")\ninput k: secret bool[128] from p\n'
           f"input b: secret bool[1000, 128] from p\noutput c = aes(k, b) to p\n")
    compiled = compile_source(src, backend="rep3")
    nodes = len(compiled.executable.nodes)
    assert nodes < 2000, nodes  # one node per gate was 36,923


def test_sha256_compression_from_a_generated_circuit(tmp_path: Path) -> None:
    """SHA-256 (139k gates, AND depth 1607, generated by tests/sha256_bristol.py): the
    reference evaluator and a Veil program over three messages give hashlib's digests."""
    import hashlib

    import sha256_bristol

    path = tmp_path / "sha256.txt"
    path.write_text(sha256_bristol.circuit_text())
    circuit = bristol.load(path)
    assert circuit.and_count == 22_696 and circuit.and_depth == 1607
    messages = [b"", b"abc", b"x" * 55]
    blocks = np.array([bristol.bytes_to_bits(sha256_bristol.padded_block(m)) for m in messages])
    state = bristol.bytes_to_bits(sha256_bristol.initial_state())
    src = (f'party p\ncircuit sha = bristol("{path}")\ninput m: secret bool[3, 512] from p\n'
           f"input h: secret bool[256] from p\noutput d = sha(m, h) to p\n")
    compiled = compile_source(src)
    got = PlainBackend().run(compiled.executable, {"m": encode(blocks, "bool"),
                                                   "h": encode(state, "bool")}).outputs["d"]
    want = bristol.evaluate(circuit, [blocks, state])[0]
    assert np.array_equal(got, want)
    for k, message in enumerate(messages):
        assert bristol.bits_to_bytes(got[k]) == hashlib.sha256(message).digest()
