"""Shared test helpers: compile source text and run it on the plain backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from veil.backend.plain import PlainBackend
from veil.compiler import Compiled, compile_source
from veil.ir.nodes import Circuit
from veil.ir.semantics import decode, encode
from veil.ir.verify import verify


def compile_text(text: str, level: int = 1, params: dict[str, str] | None = None) -> Compiled:
    compiled = compile_source(text, "test.mpc", params=params, optimize_level=level)
    verify(compiled.unoptimized)
    verify(compiled.circuit)
    return compiled


def run_circuit(circuit: Circuit, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
    f = circuit.frac_bits
    encoded = {spec.name: encode(inputs[spec.name], spec.type.base, f) for spec in circuit.inputs}
    raw = PlainBackend().run(circuit, encoded).outputs
    return {o.name: decode(raw[o.name], o.type.base, f) for o in circuit.outputs}


def run_text(text: str, inputs: dict[str, Any], level: int = 1) -> dict[str, np.ndarray]:
    return run_circuit(compile_text(text, level).circuit, inputs)
