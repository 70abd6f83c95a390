"""Backends that execute a circuit."""
