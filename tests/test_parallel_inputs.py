"""Large CSV files of one input file parsed side by side (veil.io.parallel): the same
arrays as one after the other, the caller's own errors when a child fails, no child
left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from veil.compiler import compile_source
from veil.diagnostics import VeilError
from veil.io import parallel
from veil.io.inputs import load_party_inputs

SOURCE = """
party p
input a: secret int[{n}] from p
input b: secret int[{n}] from p
input w: secret fixed[{n}] from p
output c = a < b to p
output d = w * w to p
"""


def _write(tmp: Path, n: int, rng: np.random.Generator) -> tuple[Path, dict[str, np.ndarray]]:
    values = {"a": rng.integers(-2**40, 2**40, n), "b": rng.integers(-2**40, 2**40, n),
              "w": np.round(rng.normal(0, 3, n), 4)}
    for name, arr in values.items():
        np.savetxt(tmp / f"{name}.csv", arr, fmt="%d" if name != "w" else "%.4f")
    spec = tmp / "p.json"
    spec.write_text(json.dumps({k: f"{k}.csv" for k in values}))
    return spec, values


def _children() -> set[int]:
    me = os.getpid()
    found = set()
    for task in os.listdir(f"/proc/{me}/task"):
        with open(f"/proc/{me}/task/{task}/children") as f:
            found |= {int(c) for c in f.read().split()}
    return found


@pytest.mark.skipif(not parallel.can_fork(), reason="needs fork and two cores")
def test_side_by_side_parsing_gives_the_same_inputs(tmp_path: Path, monkeypatch) -> None:
    n = 3000
    circuit = compile_source(SOURCE.format(n=n)).executable
    spec, values = _write(tmp_path, n, np.random.default_rng(1))
    serial = load_party_inputs(circuit, "p", spec)
    forks = []
    real_fork = os.fork
    monkeypatch.setattr(parallel, "WORTH_FORKING", 1)
    monkeypatch.setattr(parallel.os, "fork", lambda: forks.append(1) or real_fork())
    before = _children()
    side_by_side = load_party_inputs(circuit, "p", spec)
    assert len(forks) == 2  # the first file here, the two others in children
    assert _children() == before  # every child waited for
    assert serial.keys() == side_by_side.keys() == values.keys()
    for name in values:
        assert np.array_equal(serial[name], side_by_side[name]), name


@pytest.mark.skipif(not parallel.can_fork(), reason="needs fork and two cores")
def test_a_failing_child_leaves_the_error_to_the_caller(tmp_path: Path, monkeypatch) -> None:
    n = 50
    circuit = compile_source(SOURCE.format(n=n)).executable
    spec, _ = _write(tmp_path, n, np.random.default_rng(2))
    text = (tmp_path / "b.csv").read_text().splitlines()
    text[17] = "12x"
    (tmp_path / "b.csv").write_text("\n".join(text) + "\n")
    monkeypatch.setattr(parallel, "WORTH_FORKING", 1)
    with pytest.raises(VeilError) as err:
        load_party_inputs(circuit, "p", spec)
    # the same message as without children: file, line and what was expected
    assert "b.csv" in str(err.value) and "line 18, column 1 is not a number" in str(err.value)


def test_a_child_that_dies_gives_none(tmp_path: Path) -> None:
    if not parallel.can_fork():
        pytest.skip("needs fork and two cores")
    paths = []
    for k in range(2):
        p = tmp_path / f"{k}.csv"
        p.write_text("1\n" * 10)
        paths.append((p,))

    def parse(job: tuple[Path]) -> np.ndarray:
        if job[0].name == "1.csv":
            os._exit(3)  # the child dies before it sends anything
        return np.loadtxt(job[0], ndmin=2)

    parallel.WORTH_FORKING, saved = 1, parallel.WORTH_FORKING
    try:
        got = parallel.parse_all(paths, parse)
    finally:
        parallel.WORTH_FORKING = saved
    assert got[paths[0]] is not None and got[paths[1]] is None
