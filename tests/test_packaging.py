"""Packaging: every Python package under src/veil ships, and so do the grammar and the
standard library (found through importlib.resources, not through the checkout)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT / "src").parts)
             for p in (ROOT / "src").rglob("__init__.py")}
    assert found <= listed, f"add to pyproject.toml: {sorted(found - listed)}"
    assert {"veil.grammar", "veil.stdlib"} <= listed


def test_grammar_and_stdlib_are_package_resources() -> None:
    assert "start:" in resources.files("veil.grammar").joinpath("veil.lark").read_text()
    names = {p.name for p in resources.files("veil.stdlib").iterdir()}
    assert {"ml.mpc", "stats.mpc"} <= names
