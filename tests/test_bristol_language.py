"""Bristol circuits inside Veil programs: AES-128 on the published vectors under plain and
rep3 (rounds = AND depth), batched instances, to_bits/from_bits, hex inputs, export and
re-import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from rep3_harness import run_threaded

from veil import bristol
from veil.backend.plain import PlainBackend
from veil.compiler import compile_path, compile_source
from veil.cost import report
from veil.diagnostics import VeilError
from veil.io.inputs import load_inputs
from veil.ir.semantics import encode

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "tests" / "data" / "bristol"
PROGRAM = ROOT / "programs" / "joint_encryption"


def aes_source(blocks: int, circuit_dir: Path) -> str:
    return f"""
party owner
party reader
circuit aes128 = bristol("{circuit_dir / 'aes_128.txt'}")
input key: secret bool[128] from owner
input blocks: secret bool[{blocks}, 128] from owner
output ct = aes128(key, blocks) to reader
"""


def aes_reference(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


VECTORS = [  # FIPS-197 C.1 and SP 800-38A F.1.1
    ("000102030405060708090a0b0c0d0e0f", "00112233445566778899aabbccddeeff",
     "69c4e0d86a7b0430d8cdb78070b4c55a"),
    ("2b7e151628aed2a6abf7158809cf4f3c", "6bc1bee22e409f96e93d7e117393172a",
     "3ad77bb40d7a3660a89ecaf32466ef97"),
]


def _run(src: str, values: dict, backend: str = "plain") -> dict:
    c = compile_source(src, backend=backend)
    enc = {s.name: encode(values[s.name], s.type.base) for s in c.executable.inputs}
    if backend == "plain":
        return PlainBackend().run(c.executable, enc).outputs
    return run_threaded(c.executable, enc).result.outputs


@pytest.mark.parametrize(("key", "plain", "cipher"), VECTORS)
def test_aes_vectors_plain(key: str, plain: str, cipher: str) -> None:
    src = aes_source(1, SHARED)
    out = _run(src, {"key": bristol.bytes_to_bits(bytes.fromhex(key)),
                     "blocks": [bristol.bytes_to_bits(bytes.fromhex(plain))]})
    assert bristol.bits_to_bytes(out["ct"][0]).hex() == cipher


def test_aes_over_secret_shares_with_rounds_equal_to_and_depth() -> None:
    src = aes_source(2, SHARED)
    c = compile_source(src, backend="rep3")
    predicted = report.build(c.executable, backend="rep3")
    assert predicted["rounds_by_phase"]["compute"] == 60  # the AND depth of aes_128
    keys = [bytes.fromhex(k) for k, _, _ in VECTORS]
    out = _run(src, {"key": bristol.bytes_to_bits(keys[1]),
                     "blocks": [bristol.bytes_to_bits(bytes.fromhex(p)) for _, p, _ in VECTORS]},
               backend="rep3")
    for k, (_, p, _) in enumerate(VECTORS):
        want = aes_reference(keys[1], bytes.fromhex(p))
        assert bristol.bits_to_bytes(out["ct"][k]) == want


def test_ten_thousand_blocks_cost_the_same_rounds() -> None:
    one = compile_source(aes_source(1, SHARED), backend="rep3").executable
    many = compile_source(aes_source(10_000, SHARED), backend="rep3").executable
    r1 = report.build(one, backend="rep3")
    r2 = report.build(many, backend="rep3")
    assert r1["rounds"] == r2["rounds"] == 62
    # the key schedule's 1280 AND gates read only the key, so they run once for all
    # blocks; the 5120 of the rounds run once per block, 64 blocks to a word: the last
    # word of each row is padded (10,048 slots for 10,000 blocks)
    assert r1["ops"]["boolean_gates"] == 6400
    assert r2["ops"]["boolean_gates"] == 64 * 157 * 5120 + 1280


def test_joint_encryption_program() -> None:
    compiled = compile_path(PROGRAM)
    inputs = load_inputs(compiled.circuit, PROGRAM / "inputs")
    out = PlainBackend().run(compiled.circuit, inputs).outputs["ciphertexts"]
    data = json.loads((PROGRAM / "inputs" / "bank_a.json").read_text())
    records = [bytes.fromhex(r[2:]) for r in data["records"]]
    key = bytes(range(16))
    for k, record in enumerate(records):
        assert bristol.bits_to_bytes(out[k]) == aes_reference(key, record)


INT_CIRCUITS = """
party p
circuit add = bristol("{d}/adder64.txt")
circuit sub = bristol("{d}/sub64.txt")
circuit mul = bristol("{d}/mult64.txt")
circuit neg = bristol("{d}/neg64.txt")
circuit is_zero = bristol("{d}/zero_equal.txt")
input a: secret int[{n}] from p
input b: secret int[{n}] from p
output s = from_bits(add(to_bits(a), to_bits(b))) to p
output d = from_bits(sub(to_bits(a), to_bits(b))) to p
output m = from_bits(mul(to_bits(a), to_bits(b))) to p
output n = from_bits(neg(to_bits(a))) to p
output z = is_zero(to_bits(a - b)) to p
"""

EDGES = [0, 1, -1, 2, -2, 2**63 - 1, -(2**63), 2**62, -(2**62) - 1, 12345678901]


def _check_int_circuits(a: np.ndarray, b: np.ndarray, backend: str) -> None:
    src = INT_CIRCUITS.format(d=SHARED, n=len(a))
    out = _run(src, {"a": a, "b": b}, backend)
    with np.errstate(over="ignore"):
        assert out["s"].view(np.int64).tolist() == (a + b).tolist()
        assert out["d"].view(np.int64).tolist() == (a - b).tolist()
        assert out["m"].view(np.int64).tolist() == (a * b).tolist()
        assert out["n"].view(np.int64).tolist() == (-a).tolist()
    assert out["z"][:, 0].tolist() == (a == b).tolist()


@pytest.mark.parametrize("backend", ["plain", "rep3"])
def test_integer_circuits_on_edge_values(backend: str) -> None:
    pairs = [(x, y) for x in EDGES for y in EDGES]
    a = np.array([x for x, _ in pairs], dtype=np.int64)
    b = np.array([y for _, y in pairs], dtype=np.int64)
    _check_int_circuits(a, b, backend)


@pytest.mark.parametrize(("backend", "n"), [("plain", 10_000), ("rep3", 10_000)])
def test_integer_circuits_on_random_values(backend: str, n: int) -> None:
    rng = np.random.default_rng(11)
    a = rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64)
    b = np.where(rng.random(n) < 0.1, a, rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64))
    _check_int_circuits(a, b, backend)


def test_circuit_errors_point_at_the_declaration(tmp_path: Path) -> None:
    (tmp_path / "bad.txt").write_text("1 3\n1 1\n1 1\n\n2 1 0 1 2 NAND\n")
    src = """
party p
circuit bad = bristol("bad.txt")
input x: secret bool[1] from p
output y = bad(x) to p
"""
    (tmp_path / "main.mpc").write_text(src)
    with pytest.raises(VeilError) as info:
        compile_path(tmp_path / "main.mpc")
    assert "V0901" in info.value.render() and "bad.txt" in info.value.render()
    (tmp_path / "main.mpc").write_text(src.replace("bad.txt", "missing.txt"))
    with pytest.raises(VeilError) as info:
        compile_path(tmp_path / "main.mpc")
    assert "no circuit file `missing.txt`" in info.value.render()


def test_export_round_trip(tmp_path: Path) -> None:
    """A pure-boolean Veil program exported as Bristol Fashion, imported again, gives the
    same results as the program itself."""
    src = f"""
party p
circuit aes128 = bristol("{SHARED / 'aes_128.txt'}")
input key: secret bool[128] from p
input block: secret bool[128] from p
input mask: secret bool[128] from p
output out = aes128(key, block != mask) and not mask to p
"""
    program = tmp_path / "main.mpc"
    program.write_text(src)
    exported = tmp_path / "exported.txt"
    proc = subprocess.run([sys.executable, "-m", "veil.cli", "compile", str(program),
                           "--format", "bristol", "-o", str(exported)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    again = bristol.load(exported)
    assert again.input_widths == (128, 128, 128) and again.output_widths == (128,)
    rng = np.random.default_rng(5)
    vals = {n: rng.integers(0, 2, (3, 128)).astype(bool) for n in ("key", "block", "mask")}
    reimported = bristol.evaluate(again, [vals["key"], vals["block"], vals["mask"]])[0]
    for i in range(3):
        direct = _run(src, {n: v[i] for n, v in vals.items()})["out"]
        assert np.array_equal(direct, reimported[i])


def test_export_refuses_arithmetic(tmp_path: Path) -> None:
    program = tmp_path / "main.mpc"
    program.write_text("party p\ninput x: secret int from p\noutput y = x * x to p\n")
    proc = subprocess.run([sys.executable, "-m", "veil.cli", "compile", str(program),
                           "--format", "bristol"], capture_output=True, text=True)
    assert proc.returncode == 1 and "V0902" in proc.stderr
