"""Veil: a typed language and compiler for secure multi-party computation.

The Python API (veil.api, docs/python.md) is reachable from here: `veil.compile`,
`veil.party`, `veil.columns`, `veil.VeilError`. It is imported on first use, so the
`veil` command starts without numpy or the compiler loaded.
"""

import sys as _sys

__version__ = "0.1.0"

_API = ("compile", "party", "columns", "Program", "Result", "Report", "PartyOutputs")


def __getattr__(name: str):
    if name in _API:
        from veil import api

        return getattr(api, name)
    if name == "VeilError":
        from veil.diagnostics import VeilError

        return VeilError
    raise AttributeError(f"module 'veil' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API, "VeilError"])


if "IPython" in _sys.modules:  # in a notebook: show VeilError as diagnostics
    from veil.api import notebook_errors as _notebook_errors

    _notebook_errors()
