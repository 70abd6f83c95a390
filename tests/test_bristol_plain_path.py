"""veil.bristol reads plain gate lines with numpy at once (`_plain_gates`); on any file,
valid or not, `parse` must give exactly what the line-by-line reading gives: the same
circuit, or the same error at the same line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil import bristol
from veil.diagnostics import VeilError

ROOT = Path(__file__).resolve().parent

OPS = ("XOR", "AND", "INV", "EQW", "EQ")


@st.composite
def valid_texts(draw) -> str:
    """A valid circuit in canonical text: every gate reads earlier wires."""
    widths = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    n_in = sum(widths)
    count = draw(st.integers(1, 30))
    gates = []
    wire = n_in
    for _ in range(count):
        op = draw(st.sampled_from(OPS))
        pick = st.integers(0, wire - 1)
        if op in ("XOR", "AND"):
            gates.append((op, (draw(pick), draw(pick)), (wire,)))
        elif op == "EQ":
            gates.append((op, (draw(st.integers(0, 1)),), (wire,)))
        else:
            gates.append((op, (draw(pick),), (wire,)))
        wire += 1
    outputs = draw(st.integers(1, count))
    return bristol.to_text(wire, widths, [outputs], gates, check=False)


MUTATIONS = ("none", "token", "op", "space", "tab", "swap", "drop", "duplicate", "range",
             "eq", "count", "blank", "sign", "digits", "reassign")


def mutate(text: str, kind: str, k: int) -> str:
    lines = text.split("\n")
    body = [i for i in range(4, len(lines)) if lines[i].strip()]
    if kind == "none" or not body:
        return text
    i = body[k % len(body)]
    tokens = lines[i].split(" ")
    if kind == "token":
        tokens[k % len(tokens)] = str(k % 7)
    elif kind == "op":
        tokens[-1] = ("XOR", "AND", "INV", "EQ", "EQW", "MAND", "xor", "NAND")[k % 8]
    elif kind == "space":
        tokens[k % len(tokens)] += " "
    elif kind == "tab":
        tokens[k % len(tokens)] += "\t"
    elif kind == "swap" and len(body) > 1:
        j = body[(k + 1) % len(body)]
        lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines)
    elif kind == "drop":
        del lines[i]
        return "\n".join(lines)
    elif kind == "duplicate":
        lines.insert(i, lines[i])
        return "\n".join(lines)
    elif kind == "range":
        tokens[2 + k % max(1, len(tokens) - 3)] = str(10**6 + k)
    elif kind == "eq":
        tokens = ["1", "1", str(k % 4), tokens[-2], "EQ"]
    elif kind == "count":
        lines[0] = f"{int(lines[0].split()[0]) + (1 if k % 2 else -1)} {lines[0].split()[1]}"
        return "\n".join(lines)
    elif kind == "blank":
        lines.insert(i, "   " if k % 2 else "")
        return "\n".join(lines)
    elif kind == "sign":
        tokens[2] = ("+", "-")[k % 2] + tokens[2]
    elif kind == "digits":
        tokens[2] = "0" * (k % 12) + tokens[2]
    elif kind == "reassign" and len(body) > 1:  # the output of another gate line
        tokens[-2] = lines[body[(k + 1) % len(body)]].split(" ")[-2]
    lines[i] = " ".join(tokens)
    return "\n".join(lines)


def outcome(text: str, plain: bool, monkeypatch) -> object:
    with monkeypatch.context() as m:
        if not plain:
            m.setattr(bristol, "_plain_gates", lambda *args: None)
        try:
            return bristol.parse(text, "c.txt")
        except VeilError as exc:
            return [(d.code, d.message, d.span) for d in exc.diagnostics]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(valid_texts(), st.sampled_from(MUTATIONS), st.integers(0, 1000))
def test_the_numpy_reading_agrees_with_the_line_by_line_one(monkeypatch, text, kind, k):
    damaged = mutate(text, kind, k)
    assert outcome(damaged, True, monkeypatch) == outcome(damaged, False, monkeypatch)


@given(valid_texts())
@settings(max_examples=50, deadline=None)
def test_canonical_texts_take_the_numpy_path(text):
    lines = text.splitlines()
    circuit = bristol.parse(text, "c.txt")
    fast = bristol._plain_gates(lines, 3, len(circuit.gates), circuit.wires,
                                sum(circuit.input_widths), sum(circuit.output_widths))
    assert fast == circuit.gates


@pytest.mark.parametrize("name", ["aes_128.txt", "adder64.txt", "neg64.txt"])
def test_published_circuits_take_the_numpy_path(name, monkeypatch):
    path = ROOT / "data" / "bristol" / name
    text = path.read_text()
    circuit = bristol.parse(text, "c.txt")
    lines = text.splitlines()
    first = 3  # after the header and the two width lines
    assert bristol._plain_gates(lines, first, len(circuit.gates), circuit.wires,
                                sum(circuit.input_widths),
                                sum(circuit.output_widths)) == circuit.gates
    assert circuit == outcome(text, False, monkeypatch)


def test_sha256_takes_the_numpy_path(monkeypatch):
    import sha256_bristol  # tests/, on the path through conftest.py

    text = sha256_bristol.circuit_text()
    circuit = bristol.parse(text, "c.txt")
    assert circuit == outcome(text, False, monkeypatch)
    lines = text.splitlines()
    assert bristol._plain_gates(lines, 3, len(circuit.gates), circuit.wires,
                                sum(circuit.input_widths),
                                sum(circuit.output_widths)) is not None


@pytest.mark.parametrize("text", [
    # a dead gate's output assigned again: only the "each wire once" check sees it
    "3 5\n1 2\n1 1\n\n1 1 0 2 INV\n1 1 0 2 INV\n1 1 1 4 INV\n",
    # read on the line that assigns it
    "2 4\n1 2\n1 1\n\n1 1 0 2 INV\n2 1 2 3 3 AND\n",
    # an input wire assigned
    "1 3\n1 2\n1 1\n\n1 1 0 1 INV\n",
    # EQ's constant 2, and a wire number with a leading zero (both readings accept that)
    "1 3\n1 2\n1 1\n\n1 1 2 2 EQ\n",
    "1 3\n1 2\n1 1\n\n1 1 01 2 INV\n",
])
def test_edge_cases_agree(text, monkeypatch):
    assert outcome(text, True, monkeypatch) == outcome(text, False, monkeypatch)
