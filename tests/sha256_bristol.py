"""A SHA-256 compression function as a Bristol Fashion circuit, generated here (the shared
data has no SHA-256 file): FIPS 180-4 §6.2.2 with ripple-carry adders (one AND a bit, as
a + b + c: sum a ⊕ b ⊕ c, carry ((a ⊕ c)(b ⊕ c)) ⊕ c), Ch(e, f, g) = g ⊕ e(f ⊕ g) and
Maj(a, b, c) = ((a ⊕ c)(b ⊕ c)) ⊕ c.

Conventions, as for the published AES-128 file: input 0 is the 512-bit message block
and input 1 the 256-bit chaining value, each read as one big-endian integer
(``int.from_bytes(b, "big")``) whose bit i is wire i; the output is the new chaining
value the same way. One block of a message of at most 55 bytes, padded, with the
initial value H0 gives ``hashlib.sha256(message).digest()``.

Used by tests/test_bristol_layers.py and bench/bench_aes.py (``python
tests/sha256_bristol.py FILE`` writes the circuit).
"""

from __future__ import annotations

import struct
import sys

K = (
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4,
    0xAB1C5ED5, 0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE,
    0x9BDC06A7, 0xC19BF174, 0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F,
    0x4A7484AA, 0x5CB0A9DC, 0x76F988DA, 0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7,
    0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967, 0x27B70A85, 0x2E1B2138, 0x4D2C6DFC,
    0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85, 0xA2BFE8A1, 0xA81A664B,
    0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070, 0x19A4C116,
    0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7,
    0xC67178F2,
)
H0 = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB,
      0x5BE0CD19)

Word = list[int]  # 32 wires, least significant bit first


class _Builder:
    def __init__(self, inputs: int):
        self.wires = inputs
        self.gates: list[tuple[str, list[int], list[int]]] = []
        self._const: dict[int, int] = {}

    def gate(self, op: str, *ins: int) -> int:
        out = self.wires
        self.wires += 1
        self.gates.append((op, list(ins), [out]))
        return out

    def const(self, bit: int) -> int:
        if bit not in self._const:
            out = self.wires
            self.wires += 1
            self.gates.append(("EQ", [bit], [out]))
            self._const[bit] = out
        return self._const[bit]

    def xor(self, *words: Word) -> Word:
        out = words[0]
        for w in words[1:]:
            out = [self.gate("XOR", a, b) for a, b in zip(out, w, strict=True)]
        return out

    def add(self, x: Word, y: Word) -> Word:
        out, carry = [], None
        for i, (a, b) in enumerate(zip(x, y, strict=True)):
            if carry is None:
                out.append(self.gate("XOR", a, b))
                carry = self.gate("AND", a, b)
                continue
            t = self.gate("XOR", a, b)
            out.append(self.gate("XOR", t, carry))
            if i < 31:  # no carry out of bit 31
                both = self.gate("AND", self.gate("XOR", a, carry), self.gate("XOR", b, carry))
                carry = self.gate("XOR", both, carry)
        return out

    def constant(self, value: int) -> Word:
        return [self.const((value >> i) & 1) for i in range(32)]

    def ch(self, e: Word, f: Word, g: Word) -> Word:
        return [self.gate("XOR", gi, self.gate("AND", ei, self.gate("XOR", fi, gi)))
                for ei, fi, gi in zip(e, f, g, strict=True)]

    def maj(self, a: Word, b: Word, c: Word) -> Word:
        return [self.gate("XOR", self.gate("AND", self.gate("XOR", ai, ci),
                                           self.gate("XOR", bi, ci)), ci)
                for ai, bi, ci in zip(a, b, c, strict=True)]


def _rotr(w: Word, n: int) -> Word:
    return w[n:] + w[:n]  # bit i of the result is bit i + n of w


def _shr(b: _Builder, w: Word, n: int) -> Word:
    return w[n:] + [b.const(0)] * n


def circuit_text() -> str:
    """The Bristol Fashion text of the compression function."""
    from veil.bristol import to_text

    b = _Builder(768)
    # big-endian word k of a 512-bit integer holds its bits 512 − 32(k + 1) .. 512 − 32k − 1
    block = [list(range(512 - 32 * (k + 1), 512 - 32 * k)) for k in range(16)]
    state = [list(range(512 + 256 - 32 * (k + 1), 512 + 256 - 32 * k)) for k in range(8)]
    w = list(block)
    for t in range(16, 64):
        s0 = b.xor(_rotr(w[t - 15], 7), _rotr(w[t - 15], 18), _shr(b, w[t - 15], 3))
        s1 = b.xor(_rotr(w[t - 2], 17), _rotr(w[t - 2], 19), _shr(b, w[t - 2], 10))
        w.append(b.add(b.add(s1, w[t - 7]), b.add(s0, w[t - 16])))
    a, bb, c, d, e, f, g, h = state
    for t in range(64):
        big_s1 = b.xor(_rotr(e, 6), _rotr(e, 11), _rotr(e, 25))
        t1 = b.add(b.add(h, big_s1), b.add(b.ch(e, f, g), b.add(b.constant(K[t]), w[t])))
        big_s0 = b.xor(_rotr(a, 2), _rotr(a, 13), _rotr(a, 22))
        t2 = b.add(big_s0, b.maj(a, bb, c))
        h, g, f, e, d, c, bb, a = g, f, e, b.add(d, t1), c, bb, a, b.add(t1, t2)
    new = [b.add(x, y) for x, y in zip(state, (a, bb, c, d, e, f, g, h), strict=True)]
    outputs = [wire for k in reversed(range(8)) for wire in new[k]]  # bit i = wire i
    for wire in outputs:
        b.gate("EQW", wire)
    return to_text(b.wires, (512, 256), (256,), b.gates)


def padded_block(message: bytes) -> bytes:
    """The one 64-byte block of a message of at most 55 bytes (FIPS 180-4 §5.1.1)."""
    if len(message) > 55:
        raise ValueError("one block holds at most 55 bytes of message")
    return message + b"\x80" + b"\x00" * (55 - len(message)) + struct.pack(">Q", 8 * len(message))


def initial_state() -> bytes:
    return b"".join(struct.pack(">I", h) for h in H0)


if __name__ == "__main__":
    with open(sys.argv[1], "w", encoding="ascii") as out:
        out.write(circuit_text())
