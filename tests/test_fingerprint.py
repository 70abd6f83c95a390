"""The fingerprint: canonical JSON of the circuit, identical across runs, hash seeds and
machines (no absolute paths), and preserved by writing and reading the circuit back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import compile_text

from veil.compiler import compile_path
from veil.ir.serialize import dumps, fingerprint, loads

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "programs" / "sealed_bid_auction"

SCRIPT = """
import sys
from pathlib import Path
from veil.compiler import compile_path
print(compile_path(Path(sys.argv[1])).fingerprint)
"""


def _fingerprint_in_subprocess(program: Path, seed: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(program)], env=env, cwd=cwd,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_same_fingerprint_for_every_hash_seed_and_directory(tmp_path: Path) -> None:
    prints = {_fingerprint_in_subprocess(PROGRAM, seed, cwd)
              for seed, cwd in (("0", ROOT), ("1", tmp_path), ("12345", ROOT))}
    assert len(prints) == 1
    assert prints == {compile_path(PROGRAM).fingerprint}


def test_fingerprint_does_not_depend_on_where_the_program_lives(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "auction"
    copy.mkdir(parents=True)
    (copy / "main.mpc").write_text((PROGRAM / "main.mpc").read_text())
    assert compile_path(copy).fingerprint == compile_path(PROGRAM).fingerprint


def test_round_trip_through_json_keeps_the_fingerprint() -> None:
    circuit = compile_path(PROGRAM).circuit
    text = dumps(circuit)
    again = loads(text)
    assert dumps(again) == text
    assert fingerprint(again) == fingerprint(circuit)


def test_canonical_json_is_sorted_and_compact() -> None:
    text = dumps(compile_path(PROGRAM).circuit)
    data = json.loads(text)
    assert json.dumps(data, sort_keys=True, separators=(",", ":")) == text
    assert data["format"] == "veil-circuit/1"


def test_fingerprint_changes_with_params_and_program() -> None:
    src = """
party p
input x: secret fixed from p
param t: public fixed = 0.5
output o = x > t to p
"""
    base = compile_text(src).fingerprint
    assert compile_text(src, params={"t": "0.5"}).fingerprint == base
    assert compile_text(src, params={"t": "0.75"}).fingerprint != base
    assert compile_text(src.replace("x > t", "x >= t")).fingerprint != base


def test_cli_compile_writes_loadable_circuit(tmp_path: Path) -> None:
    out = tmp_path / "circuit.json"
    result = subprocess.run([sys.executable, "-m", "veil.cli", "compile", str(PROGRAM),
                             "-o", str(out)], capture_output=True, text=True, check=True)
    fp = compile_path(PROGRAM, backend="rep3").fingerprint  # the CLI's default backend
    assert fp in result.stdout
    assert fingerprint(loads(out.read_text())) == fp
