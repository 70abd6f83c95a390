"""Golden tests for compile errors.

Every `tests/errors/NN_name.mpc` is a small bad program; `NN_name.expected` holds the exact
text `veil check` prints on stderr for it. A golden is the user-facing contract: code,
`file:line:col`, the source line with a caret under the span, and a one-line help.

Regenerate after a deliberate change of a message with

    VEIL_UPDATE_GOLDENS=1 python -m pytest tests/test_checker_errors.py

and read every changed golden before committing it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from veil.compiler import compile_path
from veil.diagnostics import VeilError

ERRORS = Path(__file__).parent / "errors"
PROGRAMS = sorted(ERRORS.glob("*.mpc"))
UPDATE = os.environ.get("VEIL_UPDATE_GOLDENS") == "1"

# Every error code the language promises a clear message for; each has a program here.
REQUIRED_CODES = {
    "V0101", "V0102", "V0103",
    "V0201", "V0202", "V0203", "V0204", "V0205", "V0206", "V0207",
    "V0301", "V0302", "V0303", "V0304", "V0305", "V0306", "V0307", "V0308", "V0309",
    "V0310", "V0311", "V0312", "V0313", "V0314",
    "V0401", "V0402", "V0403", "V0404", "V0405", "V0406", "V0407", "V0408",
    "V0501", "V0502", "V0503",
}  # fmt: skip

HEADER = re.compile(r"^(?P<file>[\w.]+\.mpc):(?P<line>\d+):(?P<col>\d+): error\[V\d{4}\]: \S")
CARET = re.compile(r"^ *\| *\^+$")


def _compile_error(path: Path) -> VeilError:
    with pytest.raises(VeilError) as info:
        compile_path(path)
    return info.value


def _stderr_text(exc: VeilError) -> str:
    """What `veil check` prints: the rendering plus click.echo's newline."""
    return exc.render() + "\n"


def test_enough_programs() -> None:
    assert len(PROGRAMS) >= 25
    missing = [p.name for p in PROGRAMS if not p.with_suffix(".expected").exists()]
    assert UPDATE or not missing, f"no golden for {missing}; run with VEIL_UPDATE_GOLDENS=1"


def test_every_required_code_is_covered() -> None:
    codes: set[str] = set()
    for path in PROGRAMS:
        codes.update(d.code for d in _compile_error(path).diagnostics)
    assert codes >= REQUIRED_CODES, f"no program for {sorted(REQUIRED_CODES - codes)}"


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    text = _stderr_text(_compile_error(path))
    golden = path.with_suffix(".expected")
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
        return
    assert golden.exists(), f"{golden.name} is missing; run with VEIL_UPDATE_GOLDENS=1"
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_diagnostic_shape(path: Path) -> None:
    """Each error names file:line:col, shows its line with a caret and says how to fix it."""
    exc = _compile_error(path)
    assert exc.diagnostics
    for d in exc.diagnostics:
        assert d.severity == "error"
        assert d.span is not None, f"{d.code} has no position"
        assert d.help, f"{d.code} {d.message!r} has no help"
        lines = d.render(exc.sources).splitlines()
        header = HEADER.match(lines[0])
        assert header, lines[0]
        # The program's file name only, never the directory it was compiled from.
        assert header["file"] == path.name
        assert lines[2].startswith(f"{d.span.line} | ")
        assert CARET.match(lines[3]), lines[3]
        # The caret starts under the span's first column.
        assert lines[3].index("^") - lines[2].index("|") == d.span.col + 1
        assert lines[-1].startswith("  = help: ")


def test_independent_errors_reported_together() -> None:
    exc = _compile_error(ERRORS / "37_three_errors.mpc")
    assert [d.code for d in exc.diagnostics] == ["V0201", "V0403", "V0203"]
    assert exc.render().endswith("\n\n3 errors")
    assert len(_compile_error(ERRORS / "53_errors_in_functions.mpc").diagnostics) == 3


def test_cli_reports_error_on_stderr() -> None:
    path = ERRORS / "27_secret_index.mpc"
    proc = subprocess.run([sys.executable, "-m", "veil.cli", "check", str(path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr == path.with_suffix(".expected").read_text(encoding="utf-8")
