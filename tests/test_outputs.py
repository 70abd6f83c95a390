"""Output delivery: the vectorized JSON writer writes exactly what json.dumps writes (for
large bool and int arrays, the same lines but numbers right-aligned), and the text
summary shows long bool vectors as hex."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from veil.io.json_text import array_text
from veil.io.outputs import FIXED_WIDTH_FROM, _hex, dumps, render_text

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
ARRAYS = (hnp.arrays(np.int64, SHAPES)
          | hnp.arrays(np.float64, SHAPES, elements=st.floats(allow_nan=False,
                                                                allow_infinity=False))
          | hnp.arrays(np.int64, SHAPES).map(lambda a: a.astype(np.float64) / 65536)
          | hnp.arrays(np.bool_, SHAPES))


@settings(max_examples=300, deadline=None)
@given(ARRAYS, st.integers(0, 3))
def test_dumps_of_an_array_is_json_dumps_of_its_list(arr: np.ndarray, indent: int) -> None:
    assert dumps(arr, indent) == json.dumps(arr.tolist(), indent=indent)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=5), ARRAYS | st.integers() | st.booleans()
                       | st.lists(st.integers(), max_size=3), max_size=4))
def test_dumps_of_nested_values(values: dict) -> None:
    nested = {"outputs": {"p": values}, "stats": {"rounds": 3, "bytes": [1, 2]}, "e": {}}
    plain = json.loads(json.dumps(nested, default=lambda a: a.tolist()))
    assert dumps(nested) == json.dumps(plain, indent=2)


INT64 = st.integers(-2**63, 2**63 - 1)
EDGES = st.sampled_from([0, -1, 1, 9, 10, 9999, 10_000, 10**8, -10**16, 2**63 - 1, -2**63])
LARGE = (hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=40),
                    elements=INT64 | EDGES)
         | hnp.arrays(np.bool_, hnp.array_shapes(min_dims=1, max_dims=2, max_side=40)))


@settings(max_examples=300, deadline=None)
@given(LARGE, st.integers(0, 3), st.integers(0, 2))
def test_fixed_width_text_is_json_of_the_same_values(arr: np.ndarray, level: int,
                                                       indent: int) -> None:
    text = array_text(arr, level, indent)
    assert text is not None
    assert json.loads(text) == arr.tolist()
    # json's own lines, each token only right-aligned (whitespace before a token)
    reference = json.dumps(arr.tolist(), indent=indent).replace("\n", "\n" + " " * indent * level)
    assert [line.strip() for line in text.split("\n")] == \
        [line.strip() for line in reference.split("\n")]
    lines = text.split("\n")[1:-1]
    if arr.ndim == 1 and indent:  # the numbers end in one column
        assert len({len(line.rstrip(",")) for line in lines}) == 1


def test_large_arrays_take_the_fixed_width_path() -> None:
    values = np.array([5, -12, 300] * FIXED_WIDTH_FROM)
    text = dumps({"c": values})
    assert '"c": [\n      5,\n    -12,\n    300,\n' in text
    assert json.loads(text) == {"c": values.tolist()}
    assert array_text(np.zeros(3, dtype=np.float64), 0, 2) is None  # floats keep json's repr
    assert array_text(np.zeros((2, 2, 2), dtype=np.int64), 0, 2) is None


def test_hex_and_text_summary() -> None:
    bits = np.zeros(1_000_000, dtype=bool)
    bits[[0, 5, 999_999]] = True
    number = (1 << 0) | (1 << 5) | (1 << 999_999)
    assert _hex(bits) == f"0x{number:0250000x}"
    text = render_text({"p": {"b": bits, "x": np.arange(20, dtype=np.float64) / 3,
                              "n": np.array(7), "small": np.array([True, False]),
                              "m": np.arange(200).reshape(50, 4)}})
    assert text.count("\n") == 5
    # bools as in the input files, not one 250,000-digit number; a cut array says so
    assert "b = [true, false, false, false, false, true, false," in text
    assert "…]  (1,000,000 values; --json or --out DIR shows all)" in text
    assert "x = [0, 0.333333, 0.666667, 1," in text and "(20 values; --json" in text
    assert "n = 7" in text and "small = [true, false]" in text
    assert "m = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15], …]  " \
        "(50 × 4 = 200 values;" in text
