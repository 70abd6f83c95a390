"""The interface every backend implements: run a circuit on encoded inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from veil.ir.nodes import Circuit


@dataclass
class RunResult:
    """Raw (encoded) output values by name, and what the run measured."""

    outputs: dict[str, np.ndarray]
    stats: dict = field(default_factory=dict)


class Backend(Protocol):
    name: str

    def run(self, circuit: Circuit, inputs: dict[str, np.ndarray]) -> RunResult: ...
