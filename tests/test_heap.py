"""veil.heap: freed array memory serves the next array without fresh page faults."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from veil.heap import keep_freed_memory
    if sys.argv[1] == "tuned":
        assert keep_freed_memory()

    def cycle():
        a = np.ones(1 << 20, dtype=np.int64)  # 8 MB, below the 32 MiB threshold
        return int((a + 1)[-1])

    cycle()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        cycle()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True,
                         text=True, check=True)
    return int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_arrays_are_reused_without_page_faults():
    untuned, tuned = _faults("default"), _faults("tuned")
    # 20 cycles of two 8 MB arrays: thousands of faults when every array is a fresh
    # mapping, (almost) none when freed blocks are reused
    assert untuned > 1000
    assert tuned < untuned / 20

