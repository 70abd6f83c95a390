"""Output delivery: the vectorized JSON writer writes exactly what json.dumps writes, and
the text summary shows long bool vectors as hex."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from veil.io.outputs import _hex, dumps, render_text

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


def test_hex_and_text_summary() -> None:
    bits = np.zeros(1_000_000, dtype=bool)
    bits[[0, 5, 999_999]] = True
    number = (1 << 0) | (1 << 5) | (1 << 999_999)
    assert _hex(bits) == f"0x{number:0250000x}"
    text = render_text({"p": {"b": bits, "x": np.arange(20, dtype=np.float64) / 3,
                              "n": np.array(7), "small": np.array([True, False])}})
    assert "b = 0x8" in text and text.count("\n") == 4
    assert "x = [0, 0.333333, 0.666667, 1," in text and "… (20 values)]" in text
    assert "n = 7" in text and "small = [true, false]" in text
