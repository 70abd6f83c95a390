"""A server that dies or goes silent stops everyone with a clear error in bounded time,
and no output is revealed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from veil.compiler import compile_source
from veil.diagnostics import VeilError
from veil.ir.semantics import encode
from veil.runtime.local import LocalRun
from veil.runtime.session import Fault

SRC = """
party p
party q
input a: secret int[100] from p
input b: secret int[100] from q
output c = sum(select(a < b, a * b, b)) to q
"""


def setup():
    c = compile_source(SRC, backend="rep3").executable
    enc = {s.name: encode(np.arange(100), "int") for s in c.inputs}
    return c, enc


@pytest.mark.slow
def test_a_server_that_dies_aborts_the_run() -> None:
    c, enc = setup()
    start = time.monotonic()
    with pytest.raises(VeilError) as info:
        LocalRun(timeout=10, fault=Fault(server=1, round=3, action="exit")).run(c, enc)
    elapsed = time.monotonic() - start
    text = info.value.render()
    assert "V0801" in text and "no output was revealed" in text
    assert "server1" in text
    assert elapsed < 20  # the others notice the closed connection at once


@pytest.mark.slow
def test_a_silent_server_is_detected_by_the_timeout() -> None:
    c, enc = setup()
    start = time.monotonic()
    with pytest.raises(VeilError) as info:
        LocalRun(timeout=2, fault=Fault(server=2, round=2, action="hang")).run(c, enc)
    elapsed = time.monotonic() - start
    text = info.value.render()
    assert "V0801" in text and "sent nothing for 2 s" in text
    assert elapsed < 15


def test_a_normal_run_of_the_same_program_works() -> None:
    c, enc = setup()
    out = LocalRun(timeout=10).run(c, enc).outputs["c"]
    a = np.arange(100)
    assert int(out.view(np.int64)) == int(np.sum(np.where(a < a, a * a, a)))
