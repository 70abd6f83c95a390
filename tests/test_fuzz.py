"""Fuzzing in the suite (a few seconds): random programs from the grammar, well-typed
random programs run on the plain backend, mutations of the shipped programs, and
damaged input files. Each must end in success or a VeilError — never another
exception — and no message may show a secret input value. `python tests/fuzzing.py`
runs the same cases longer, in worker processes with a time limit (hangs counted)."""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path

from fuzzing import (
    INPUT_PROGRAMS,
    ROOT,
    check_inputs,
    check_program,
    check_run,
    corpus,
    mutate,
    mutated_inputs,
    random_program,
    typed_program,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil import deep
from veil.lang.fastparse import TooDeep
from veil.lang.parser import _fast, _parse_with_lark, _ToAst

FAST = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
TEXTS = corpus()


@FAST
@given(st.randoms(use_true_random=False))
def test_programs_from_the_grammar_compile_or_fail_cleanly(rng: random.Random) -> None:
    check_program(random_program(rng))


@FAST
@given(st.randoms(use_true_random=False))
def test_typed_programs_compile_and_run(rng: random.Random) -> None:
    check_run(typed_program(rng), rng)


def test_typed_programs_mostly_compile() -> None:
    """The typed generator must reach lowering and the backends, not only the checker."""
    outcomes = [check_program(typed_program(random.Random(seed))) for seed in range(40)]
    assert outcomes.count("ok") >= 25, outcomes


@FAST
@given(st.randoms(use_true_random=False), st.integers(0, len(TEXTS) - 1))
def test_mutated_programs_compile_or_fail_cleanly(rng: random.Random, which: int) -> None:
    text, where = TEXTS[which]
    check_program(mutate(text, rng), where)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.randoms(use_true_random=False), st.sampled_from(INPUT_PROGRAMS))
def test_damaged_input_files_fail_cleanly_without_values(rng: random.Random,
                                                         program: str) -> None:
    directory = Path(tempfile.mkdtemp(prefix="veil-fuzz-"))
    try:
        mutated_inputs(rng, directory, ROOT / "programs" / program)
        check_inputs(ROOT / "programs" / program, directory)
    finally:
        shutil.rmtree(directory)


@FAST
@given(st.randoms(use_true_random=False), st.integers(0, len(TEXTS) - 1))
def test_the_fast_parser_agrees_with_lark(rng: random.Random, which: int) -> None:
    """veil.lang.fastparse gives exactly lark's AST (spans included) whenever it gives
    one; where it gives none, lark decides."""
    text, _ = TEXTS[which]
    text = mutate(text, rng) if rng.random() < 0.5 else random_program(rng)

    def both() -> None:
        try:
            fast = _fast().parse(text, _ToAst("main.mpc"))
        except TooDeep:
            return
        if fast is None:
            return
        assert fast == _parse_with_lark(text, "main.mpc", None)

    deep.run(both)


def test_every_shipped_text_parses_the_same_both_ways() -> None:
    def compare() -> None:
        for text, _ in TEXTS:
            fast = _fast().parse(text, _ToAst("f.mpc"))
            if fast is not None:
                assert fast == _parse_with_lark(text, "f.mpc", None)

    deep.run(compare)
