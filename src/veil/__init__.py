"""Veil: a typed language and compiler for secure multi-party computation."""

__version__ = "0.1.0"
