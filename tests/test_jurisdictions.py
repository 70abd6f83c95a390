"""`party NAME in JURISDICTION`: parsed, checked, carried into the circuit and its
fingerprint (only when declared, so older programs keep their fingerprints)."""

from __future__ import annotations

import json

import pytest
from helpers import compile_text

from veil.diagnostics import Span, VeilError
from veil.ir.serialize import dumps, fingerprint, loads
from veil.lang import ast
from veil.lang.parser import parse

BODY = "input x: secret int from a\noutput y = x + 1 to b\n"


def test_parse_jurisdictions() -> None:
    (decl,) = parse("party a in CN, b, c in EU_27", "t.mpc").items
    assert isinstance(decl, ast.PartyDecl)
    assert [p.name for p in decl.parties] == ["a", "b", "c"]
    assert [j.name if j else None for j in decl.jurisdictions] == ["CN", None, "EU_27"]
    assert decl.jurisdictions[0] is not None
    assert decl.jurisdictions[0].span == Span("t.mpc", 1, 12, 1, 14)


def test_circuit_carries_jurisdictions_in_party_order() -> None:
    circuit = compile_text("party b in EU\nparty a in CN\n" + BODY).circuit
    assert circuit.jurisdictions == (("b", "EU"), ("a", "CN"))
    assert circuit.jurisdiction("a") == "CN"
    assert compile_text("party a, b\n" + BODY).circuit.jurisdiction("a") is None


def test_fingerprint_covers_jurisdictions_only_when_declared() -> None:
    plain = compile_text("party a, b\n" + BODY).circuit
    cn = compile_text("party a in CN, b\n" + BODY).circuit
    eu = compile_text("party a in EU, b\n" + BODY).circuit
    assert "jurisdictions" not in json.loads(dumps(plain))
    assert json.loads(dumps(cn))["jurisdictions"] == {"a": "CN"}
    assert len({fingerprint(plain), fingerprint(cn), fingerprint(eu)}) == 3
    again = loads(dumps(cn))
    assert again.jurisdictions == cn.jurisdictions and fingerprint(again) == fingerprint(cn)


@pytest.mark.parametrize(("src", "code"), [
    ("party a in\n", "V0103"),  # unexpected end of file
    ("party a in CN, a in EU\n" + BODY.replace("to b", "to a"), "V0202"),
    ("party a in 3\n", "V0101"),
])
def test_bad_declarations(src: str, code: str) -> None:
    with pytest.raises(VeilError) as info:
        compile_text(src)
    assert code in [d.code for d in info.value.diagnostics]
