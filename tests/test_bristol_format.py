"""Bristol Fashion circuits: parse the published circuits, check their sizes, evaluate
them against Python integers and AES test vectors, reject malformed files with V0901 at
the right line, and round-trip the export."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from veil.bristol import (
    CODE,
    BristolCircuit,
    Gate,
    bits_to_bytes,
    bits_to_int,
    bytes_to_bits,
    evaluate,
    export,
    int_to_bits,
    load,
    parse,
    to_text,
)
from veil.diagnostics import VeilError

DATA = Path(__file__).parent / "data" / "bristol"
NAMES = ("adder64", "sub64", "neg64", "mult64", "zero_equal", "aes_128")
MASK = (1 << 64) - 1


@pytest.fixture(scope="module")
def circuits() -> dict[str, BristolCircuit]:
    return {name: load(DATA / f"{name}.txt") for name in NAMES}


# --- sizes -------------------------------------------------------------------------------


def test_all_shipped_circuits_parse(circuits: dict[str, BristolCircuit]) -> None:
    shapes = {
        "adder64": ((64, 64), (64,)),
        "sub64": ((64, 64), (64,)),
        "neg64": ((64,), (64,)),
        "mult64": ((64, 64), (64,)),
        "zero_equal": ((64,), (1,)),
        "aes_128": ((128, 128), (128,)),
    }
    for name, (ins, outs) in shapes.items():
        c = circuits[name]
        assert (c.input_widths, c.output_widths) == (ins, outs), name
        assert c.source.endswith(f"{name}.txt")
        assert c.output_wires(len(outs) - 1).stop == c.wires
        assert c.input_wires(0) == range(0, ins[0])


def test_published_sizes(circuits: dict[str, BristolCircuit]) -> None:
    aes = circuits["aes_128"]
    assert aes.and_count == 6400
    assert aes.xor_count == aes.count("XOR") == 28176
    assert aes.inv_count == 2087
    assert aes.and_depth == 60
    assert len(aes.gates) == 6400 + 28176 + 2087
    assert circuits["adder64"].and_count == 63
    assert circuits["adder64"].and_depth == 63
    assert circuits["neg64"].op_counts["EQW"] == 1


# --- integer circuits --------------------------------------------------------------------

EDGE = [
    0,
    1,
    -1,
    2,
    -2,
    3,
    2**63 - 1,
    -(2**63),
    2**62,
    -(2**62),
    2**32,
    2**32 - 1,
    0x5555555555555555,
    -0x5555555555555556,
    12345678901234567,
    -987654321,
]


def bits_of(values: list[int]) -> np.ndarray:
    """[len(values), 64] bool, vectorized (element i = bit i, two's complement)."""
    words = np.array([v & MASK for v in values], dtype=np.uint64)
    return ((words[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).astype(bool)


def ints_of(bits: np.ndarray) -> list[int]:
    """Signed 64-bit values of a [n, 64] bool array."""
    packed = np.packbits(bits, axis=1, bitorder="little")
    words = np.ascontiguousarray(packed).view("<u8")[:, 0]
    return [v - (1 << 64) if v >> 63 else v for v in map(int, words)]


def signed(v: int) -> int:
    v &= MASK
    return v - (1 << 64) if v >> 63 else v


def operands() -> tuple[list[int], list[int]]:
    rng = random.Random(2024)
    a = [x for x in EDGE for _ in EDGE] + [rng.randrange(-(2**63), 2**63) for _ in range(10**4)]
    b = [y for _ in EDGE for y in EDGE] + [rng.randrange(-(2**63), 2**63) for _ in range(10**4)]
    return a, b


BINARY = {
    "adder64": lambda x, y: x + y,
    "sub64": lambda x, y: x - y,
    "mult64": lambda x, y: x * y,
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_integer_circuits(circuits: dict[str, BristolCircuit], name: str) -> None:
    a, b = operands()
    (out,) = evaluate(circuits[name], [bits_of(a), bits_of(b)])
    assert out.shape == (len(a), 64) and out.dtype == bool
    expected = [signed(BINARY[name](x, y)) for x, y in zip(a, b, strict=True)]
    assert ints_of(out) == expected


def test_unary_integer_circuits(circuits: dict[str, BristolCircuit]) -> None:
    a, _ = operands()
    a = EDGE + a
    (neg,) = evaluate(circuits["neg64"], [bits_of(a)])
    assert ints_of(neg) == [signed(-x) for x in a]
    (zero,) = evaluate(circuits["zero_equal"], [bits_of(a)])
    assert zero.shape == (len(a), 1)
    assert zero[:, 0].tolist() == [x == 0 for x in a]


def test_scalar_and_nd_batches(circuits: dict[str, BristolCircuit]) -> None:
    adder = circuits["adder64"]
    for x, y in [(0, 0), (-1, 1), (2**63 - 1, 1), (-(2**63), -1)]:
        (out,) = evaluate(adder, [int_to_bits(x, 64), int_to_bits(y, 64)])
        assert out.shape == (64,)
        assert bits_to_int(out, signed=True) == signed(x + y)
    a = bits_of(EDGE[:12]).reshape(3, 4, 64)
    (out,) = evaluate(adder, [a, int_to_bits(1, 64)])  # batch shapes broadcast
    assert out.shape == (3, 4, 64)
    assert ints_of(out.reshape(12, 64)) == [signed(x + 1) for x in EDGE[:12]]
    with pytest.raises(ValueError, match="shape"):
        evaluate(adder, [a, np.zeros(63, dtype=bool)])


def test_bit_helpers() -> None:
    for v in EDGE:
        bits = int_to_bits(v, 64)
        assert bits.dtype == bool and bits.tolist() == bits_of([v])[0].tolist()
        assert bits_to_int(bits, signed=True) == v
        assert bits_to_int(bits, signed=False) == v & MASK
    assert int_to_bits(6, 3).tolist() == [False, True, True]
    assert int_to_bits(-1, 5).tolist() == [True] * 5
    with pytest.raises(ValueError):
        int_to_bits(8, 3)
    data = bytes(range(16))
    bits = bytes_to_bits(data)
    assert bits[:8].tolist() == int_to_bits(0x0F, 8).tolist()  # wire 0 = LSB of last byte
    assert bits_to_bytes(bits) == data


# --- AES-128 -----------------------------------------------------------------------------

AES_VECTORS = [
    # FIPS-197 appendix C.1
    (
        "000102030405060708090a0b0c0d0e0f",
        "00112233445566778899aabbccddeeff",
        "69c4e0d86a7b0430d8cdb78070b4c55a",
    ),
    # SP 800-38A F.1.1 (ECB-AES128.Encrypt), all four blocks
    (
        "2b7e151628aed2a6abf7158809cf4f3c",
        "6bc1bee22e409f96e93d7e117393172a",
        "3ad77bb40d7a3660a89ecaf32466ef97",
    ),
    (
        "2b7e151628aed2a6abf7158809cf4f3c",
        "ae2d8a571e03ac9c9eb76fac45af8e51",
        "f5d3d58503b9699de785895a96fdbaaf",
    ),
    (
        "2b7e151628aed2a6abf7158809cf4f3c",
        "30c81c46a35ce411e5fbc1191a0a52ef",
        "43b1cd7f598ece23881b00e3ed030688",
    ),
    (
        "2b7e151628aed2a6abf7158809cf4f3c",
        "f69f2445df4f9b17ad2b417be66c3710",
        "7b0c785e27e8ad3f8223207104725dd4",
    ),
]


def aes(circuit: BristolCircuit, keys: list[bytes], blocks: list[bytes]) -> list[bytes]:
    k = np.stack([bytes_to_bits(x) for x in keys])
    p = np.stack([bytes_to_bits(x) for x in blocks])
    (out,) = evaluate(circuit, [k, p])
    return [bits_to_bytes(row) for row in out]


def test_aes_known_answers(circuits: dict[str, BristolCircuit]) -> None:
    keys = [bytes.fromhex(k) for k, _, _ in AES_VECTORS]
    blocks = [bytes.fromhex(p) for _, p, _ in AES_VECTORS]
    got = aes(circuits["aes_128"], keys, blocks)
    assert [c.hex() for c in got] == [c for _, _, c in AES_VECTORS]
    (k, p, c) = AES_VECTORS[0]  # a single, unbatched block too
    (out,) = evaluate(
        circuits["aes_128"], [bytes_to_bits(bytes.fromhex(k)), bytes_to_bits(bytes.fromhex(p))]
    )
    assert bits_to_bytes(out).hex() == c


def test_aes_matches_cryptography(circuits: dict[str, BristolCircuit]) -> None:
    rng = random.Random(7)
    keys = [rng.randbytes(16) for _ in range(100)]
    blocks = [rng.randbytes(16) for _ in range(100)]
    expected = [
        Cipher(algorithms.AES(k), modes.ECB()).encryptor().update(p)
        for k, p in zip(keys, blocks, strict=True)
    ]
    assert aes(circuits["aes_128"], keys, blocks) == expected


# --- malformed input ---------------------------------------------------------------------

GOOD = "3 7\n2 2 1\n1 2\n\n2 1 0 1 3 AND\n2 1 3 2 5 XOR\n1 1 3 6 INV\n"


def test_small_valid_circuit_with_blank_lines_and_trailing_spaces() -> None:
    text = "\n3 7  \r\n2 2 1 \n\n1 2\t\n\n\n2 1 0 1 3 AND   \n\n2 1 3 2 5 XOR\n1 1 3 6 INV \n\n"
    c = parse(text, "ok.txt")
    assert [g.line for g in c.gates] == [8, 10, 11]
    assert c.gates[0] == Gate("AND", (0, 1), (3,), 8)
    assert parse(export(c), "ok.txt") == parse(GOOD, "ok.txt")
    a = np.array([[0, 0], [1, 0], [1, 1], [1, 1]], dtype=bool)
    b = np.array([[0], [1], [0], [1]], dtype=bool)
    (out,) = evaluate(c, [a, b])
    # out bit 0 = (a0 AND a1) XOR b, bit 1 = NOT (a0 AND a1)
    assert out.tolist() == [[False, True], [True, True], [True, False], [False, False]]


MALFORMED = {
    # name: (text, line, fragment of the reason)
    "empty": ("", 1, "empty"),
    "blank": ("\n\n", 2, "empty"),
    "header_only": ("3 7\n", 1, "ends before the input line"),
    "no_output_line": ("3 7\n2 2 1\n", 2, "ends before the output line"),
    "header_three_numbers": (GOOD.replace("3 7", "3 7 9", 1), 1, "3 numbers"),
    "header_one_number": (GOOD.replace("3 7", "3", 1), 1, "1 numbers"),
    "header_not_integer": (GOOD.replace("3 7", "3 7x", 1), 1, "'7x'"),
    "too_many_declared_gates": (GOOD.replace("3 7", "4 7", 1), 1, "declares 4 gates"),
    "too_few_declared_gates": (GOOD.replace("3 7", "2 7", 1), 7, "declares only 2 gates"),
    "too_many_wires_declared": (GOOD.replace("3 7", "3 8", 1), 3, "output wire 7"),
    "too_few_wires_declared": (GOOD.replace("3 7", "3 6", 1), 7, "wire 6 is out of range"),
    "widths_exceed_wires": (GOOD.replace("3 7", "3 4", 1), 3, "need 5 wires"),
    "input_count_mismatch": (GOOD.replace("2 2 1\n", "2 2\n", 1), 2, "declares 2 values"),
    "input_width_zero": (GOOD.replace("2 2 1\n", "2 2 0\n", 1), 2, "width 0"),
    "output_count_mismatch": (GOOD.replace("1 2\n", "2 2\n", 1), 3, "lists 1 widths"),
    "output_not_integer": (GOOD.replace("1 2\n", "1 two\n", 1), 3, "'two'"),
    "unknown_op": (GOOD.replace("AND", "NAND"), 5, "unknown gate operation 'NAND'"),
    "lowercase_op": (GOOD.replace("XOR", "xor"), 6, "unknown gate operation 'xor'"),
    "missing_op": (GOOD.replace(" INV", ""), 7, "does not end with an operation"),
    "incomplete_gate": (GOOD.replace("1 1 3 6 INV", "INV"), 7, "incomplete"),
    "xor_three_inputs": (GOOD.replace("2 1 3 2 5 XOR", "3 1 3 2 0 5 XOR"), 6, "XOR with 3 inputs"),
    "inv_two_outputs": (GOOD.replace("1 1 3 6 INV", "1 2 3 6 4 INV"), 7, "INV with 1 inputs"),
    "wire_count_mismatch": (
        GOOD.replace("2 1 0 1 3 AND", "2 1 0 1 AND"),
        5,
        "needs 3 wire numbers, but has 2",
    ),
    "negative_wire": (GOOD.replace("2 1 0 1 3 AND", "2 1 0 -1 3 AND"), 5, "'-1'"),
    "float_wire": (GOOD.replace("2 1 0 1 3 AND", "2 1 0 1.0 3 AND"), 5, "'1.0'"),
    "plus_wire": (GOOD.replace("2 1 0 1 3 AND", "2 1 0 +1 3 AND"), 5, "'+1'"),
    "input_out_of_range": (
        GOOD.replace("2 1 0 1 3 AND", "2 1 0 9 3 AND"),
        5,
        "wire 9 is out of range",
    ),
    "used_before_assigned": (
        GOOD.replace("2 1 3 2 5 XOR", "2 1 4 2 5 XOR"),
        6,
        "wire 4 is used before it is assigned",
    ),
    "reads_own_output": (
        GOOD.replace("2 1 0 1 3 AND", "2 1 0 3 3 AND"),
        5,
        "wire 3 is used before",
    ),
    "assigned_twice": (GOOD.replace("1 1 3 6 INV", "1 1 3 5 INV"), 7, "already assigned on line 6"),
    "assigns_input": (GOOD.replace("1 1 3 6 INV", "1 1 3 0 INV"), 7, "is an input wire"),
    "eq_constant": (GOOD.replace("1 1 3 6 INV", "1 1 2 6 EQ"), 7, "EQ constant 2"),
    "mand_arity": (GOOD.replace("1 1 3 6 INV", "3 1 0 1 2 6 MAND"), 7, "MAND with 3 inputs"),
    "mand_duplicate_output": (
        "2 8\n1 4\n1 2\n\n4 2 0 1 2 3 4 4 MAND\n4 2 0 1 2 3 6 7 MAND\n",
        5,
        "wire 4 is assigned twice: it appears twice among this gate",
    ),
    "output_never_assigned": ("1 4\n1 2\n1 2\n\n1 1 0 2 INV\n", 3, "output wire 3"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_is_rejected_at_its_line(case: str) -> None:
    text, line, fragment = MALFORMED[case]
    with pytest.raises(VeilError) as info:
        parse(text, f"{case}.txt")
    (diag,) = info.value.diagnostics
    assert diag.code == CODE == "V0901"
    assert diag.message.startswith(f"{case}.txt, line {line}: "), diag.message
    assert fragment in diag.message, diag.message
    assert diag.help
    assert diag.span is not None and diag.span.line == line
    assert "error[V0901]" in str(info.value)


FILES = {
    "unknown_op.txt": (6, "unknown gate operation 'NAND'"),
    "used_before_assigned.txt": (5, "wire 3 is used before it is assigned"),
    "wrong_gate_count.txt": (1, "declares 4 gates but the file has 3"),
    "extra_gate.txt": (8, "header (line 1) declares only 3 gates"),
    "eq_constant.txt": (7, "EQ constant 2"),
    "assigned_twice.txt": (7, "wire 5 is assigned twice"),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_malformed_files(name: str) -> None:
    line, fragment = FILES[name]
    path = DATA / "malformed" / name
    with pytest.raises(VeilError) as info:
        load(path)
    (diag,) = info.value.diagnostics
    assert diag.code == "V0901"
    assert diag.message.startswith(f"{path}, line {line}: ") and fragment in diag.message
    assert diag.help
    rendered = str(info.value)
    assert f"{line} | " in rendered and "^" in rendered  # caret under the offending line


def test_missing_file() -> None:
    with pytest.raises(VeilError) as info:
        load(DATA / "no_such_circuit.txt")
    assert info.value.diagnostics[0].code == "V0901"
    assert "no_such_circuit.txt" in info.value.diagnostics[0].message


# --- export ------------------------------------------------------------------------------


def test_export_round_trips(circuits: dict[str, BristolCircuit]) -> None:
    for name, c in circuits.items():
        text = export(c)
        assert parse(text, c.source) == c, name  # canonical layout: same gate lines too
        assert export(parse(text, "again")) == text
        original = (DATA / f"{name}.txt").read_text()
        assert text == "\n".join(line.rstrip() for line in original.splitlines()).strip() + "\n"


def test_to_text_builder_with_every_op() -> None:
    gates = [
        ("EQ", (1,), (2,)),  # wire 2 = 1
        ("EQ", (0,), (3,)),  # wire 3 = 0
        ("EQW", (0,), (4,)),  # wire 4 = x0
        ("MAND", (0, 1, 4, 2, 2, 3), (5, 6, 7)),  # pairs (0,2) (1,2) (4,3): x0, x1, 0
        ("XOR", (5, 6), (8,)),  # x0 ^ x1
        ("INV", (7,), (9,)),  # 1
        ("AND", (8, 9), (10,)),  # x0 ^ x1
    ]
    text = to_text(11, [2], [1, 2], gates)
    c = parse(text, "built.txt")
    assert c.and_count == 4 and c.and_depth == 2
    assert c.op_counts == {"XOR": 1, "AND": 1, "INV": 1, "EQ": 2, "EQW": 1, "MAND": 1}
    assert text.splitlines()[:5] == ["7 11", "1 2", "2 1 2", "", "1 1 1 2 EQ"]
    assert to_text(11, [2], [1, 2], c.gates) == text
    x = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=bool)
    first, second = evaluate(c, [x])
    x0, x1 = x[:, 0], x[:, 1]
    assert first[:, 0].tolist() == (x0 ^ x1).tolist()  # wire 8
    assert second.tolist() == np.stack([np.ones(4, bool), x0 ^ x1], axis=1).tolist()
    with pytest.raises(VeilError) as info:
        to_text(3, [1], [1], [("AND", (0, 1), (2,))])
    assert "<to_text>, line 5: wire 1 is used before" in info.value.diagnostics[0].message


# --- scale -------------------------------------------------------------------------------


def test_100k_gates_parse_in_linear_time() -> None:
    rng = random.Random(1)
    n = 100_000
    lines = [f"{n} {128 + n}", "2 64 64", "1 64", ""]
    ops = ("XOR", "AND", "XOR", "INV")
    for i in range(n):
        op = ops[i % 4]
        out = 128 + i
        if op == "INV":
            lines.append(f"1 1 {rng.randrange(out)} {out} INV")
        else:
            lines.append(f"2 1 {rng.randrange(out)} {out - 1} {out} {op}")
    text = "\n".join(lines) + "\n"
    start = time.perf_counter()
    c = parse(text, "big.txt")
    elapsed = time.perf_counter() - start
    assert len(c.gates) == n and c.and_count == n // 4
    assert c.and_depth <= n // 4
    assert elapsed < 5.0, f"parsing 100k gates took {elapsed:.2f} s"
    if os.environ.get("VEIL_BRISTOL_TIMING"):
        print(f"100k gates parsed in {elapsed:.3f} s")
