"""Make tests/helpers.py importable as `helpers`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import os

# The cost report adds this machine's calibrated local computation to its estimates when
# `veil cost --calibrate` has measured it; the tests (and the documented outputs they
# compare) use no calibration unless a test gives one.
os.environ["VEIL_CALIBRATION"] = str(Path(__file__).parent / "data" / "no-calibration.json")
# ...nor by programs compiled before (tests/test_compile_cache.py turns the cache on)
os.environ["VEIL_COMPILE_CACHE"] = "off"
