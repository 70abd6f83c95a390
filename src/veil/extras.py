"""Optional dependencies ("extras"): import one, or say which extra installs it.

    pip install 'veil[pandas]'   pandas and pyarrow: DataFrames in, Parquet inputs
    pip install 'veil[sql]'      SQLAlchemy: SQL inputs from databases other than sqlite
    pip install 'veil[docs]'     Pygments: the Veil lexer for highlighting docs
"""

from __future__ import annotations

import importlib
from types import ModuleType

from veil.diagnostics import Diagnostic, VeilError

EXTRAS = {"pyarrow": "pandas", "pandas": "pandas", "sqlalchemy": "sql", "pygments": "docs"}
"""Which extra installs each optional top-level module."""


def require(module: str, purpose: str) -> ModuleType:
    """Import `module`, or raise V0709 naming the extra that installs it."""
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS.get(top, top)
        raise VeilError([Diagnostic(
            "V0709", f"{purpose} needs {top}, which is not installed",
            help=f"pip install 'veil[{extra}]'")]) from None
