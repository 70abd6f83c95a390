"""Large CSV files of one input file parsed side by side (veil.io.parallel): the same
arrays as one after the other, the caller's own errors when a child fails, no child
left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


CHILD = """
import json, os, sys
from pathlib import Path
import numpy as np
from veil.compiler import compile_source
from veil.io import parallel
from veil.io.inputs import load_party_inputs

source, spec = sys.argv[1], Path(sys.argv[2])
circuit = compile_source(Path(source).read_text()).executable
serial = load_party_inputs(circuit, "p", spec)
forks, real_fork = [], os.fork
parallel.WORTH_FORKING = 1
parallel.os.fork = lambda: forks.append(1) or real_fork()
side_by_side = load_party_inputs(circuit, "p", spec)
left = open(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read().split()
same = serial.keys() == side_by_side.keys() and all(
    np.array_equal(serial[k], side_by_side[k]) for k in serial)
print(json.dumps({"forks": len(forks), "children_left": len(left), "same": same,
                  "names": sorted(serial)}))
"""


def test_side_by_side_parsing_gives_the_same_inputs(tmp_path: Path) -> None:
    """In a fresh process (a test run may have threads, which rule forking out)."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores")
    n = 3000
    (tmp_path / "main.mpc").write_text(SOURCE.format(n=n))
    spec, values = _write(tmp_path, n, np.random.default_rng(1))
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "main.mpc"), str(spec)],
                         capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    # the first file here, the two others in children, each waited for
    assert got == {"forks": 2, "children_left": 0, "same": True, "names": sorted(values)}


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


def test_a_child_that_dies_gives_none(tmp_path: Path, monkeypatch) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("needs fork")
    # the child only exits, so forking here is safe even if the test run has threads
    monkeypatch.setattr(parallel, "can_fork", lambda: True)
    monkeypatch.setattr(parallel, "WORTH_FORKING", 1)
    paths = []
    for k in range(2):
        p = tmp_path / f"{k}.csv"
        p.write_text("1\n" * 10)
        paths.append((p,))

    def parse(job: tuple[Path]) -> np.ndarray:
        if job[0].name == "1.csv":
            os._exit(3)  # the child dies before it sends anything
        return np.loadtxt(job[0], ndmin=2)

    got = parallel.parse_all(paths, parse)
    assert got[paths[0]] is not None and got[paths[1]] is None


# --- one large file in two halves ---------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from veil.io.inputs import _csv_array  # noqa: E402
from veil.types import FIXED, INT  # noqa: E402


@st.composite
def csv_texts(draw) -> tuple[str, str]:
    """A CSV text that is mostly clean numbers, sometimes with what a split must respect:
    a header, blank or whitespace lines (also right at the middle), CRLF, a ragged
    row, quotes, a bad cell, no final line break."""
    base = draw(st.sampled_from([INT, FIXED]))
    columns = draw(st.integers(1, 4))
    rows = draw(st.integers(1, 60))
    cell = st.integers(-10**6, 10**6).map(str) if base == INT else \
        st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: f"{v:.4f}")
    lines = [",".join(draw(st.lists(cell, min_size=columns, max_size=columns)))
             for _ in range(rows)]
    for _ in range(draw(st.integers(0, 3))):
        damage = draw(st.sampled_from(["blank", "spaces", "ragged", "quote", "bad", "none"]))
        at = draw(st.integers(0, len(lines)))
        if damage == "blank":
            lines.insert(at, "")
        elif damage == "spaces":
            lines.insert(at, "   ")
        elif damage == "ragged" and lines:
            lines[at % len(lines)] += ",1"
        elif damage == "quote" and lines:
            lines[at % len(lines)] = '"' + lines[at % len(lines)] + '"'
        elif damage == "bad" and lines:
            lines[at % len(lines)] = "x" + lines[at % len(lines)]
    if draw(st.booleans()):
        lines.insert(0, ",".join(f"col{k}" for k in range(columns)))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(lines) + (newline if draw(st.booleans()) else "")
    return base, text


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(csv_texts())
def test_two_halves_give_the_whole_files_parse(tmp_path_factory, monkeypatch, case) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("needs fork")
    base, text = case
    path = tmp_path_factory.mktemp("halves") / "t.csv"
    path.write_bytes(text.encode())
    monkeypatch.setattr(parallel, "can_fork", lambda: True)
    monkeypatch.setattr(parallel, "WORTH_FORKING", 8)  # every file is split
    whole = _csv_array(path, base)
    halves = _csv_array(path, base, halves=True)
    if whole is None:
        assert halves is None
    else:
        assert halves is not None and halves.dtype == whole.dtype
        assert halves.shape == whole.shape and np.array_equal(halves, whole)


def test_a_clean_file_is_split_and_a_quoted_one_is_not(tmp_path: Path, monkeypatch) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("needs fork")
    monkeypatch.setattr(parallel, "can_fork", lambda: True)
    monkeypatch.setattr(parallel, "WORTH_FORKING", 8)
    path = tmp_path / "t.csv"
    path.write_text("".join(f"{k},{2 * k}\n" for k in range(1000)))

    def parse(stream, first):
        return np.loadtxt(stream, delimiter=",", ndmin=2, dtype=np.int64)

    split = parallel.parse_halves(path, parse)
    assert split is not None and np.array_equal(split, np.loadtxt(path, delimiter=",",
                                                                  dtype=np.int64))
    path.write_text('"0",0\n' + "".join(f"{k},{2 * k}\n" for k in range(1, 1000)))
    assert parallel.parse_halves(path, parse) is None
