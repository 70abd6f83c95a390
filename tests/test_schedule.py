"""veil.schedule: levels in one pass over a circuit's topological order, and the same
levels (through networkx) for a circuit whose nodes are not in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from veil.compiler import compile_path
from veil.schedule import _levels, is_interactive, schedule

PROGRAMS = Path(__file__).resolve().parents[1] / "programs"


@pytest.mark.parametrize("name", ["credit_scoring", "sealed_bid_auction", "double_financing"])
def test_levels_do_not_depend_on_the_order_nodes_are_listed_in(name: str) -> None:
    circuit = compile_path(PROGRAMS / name, backend="rep3").executable
    interactive = {n.id for n in circuit.nodes if is_interactive(n, circuit)}
    in_order = _levels(circuit, interactive)
    shuffled = circuit.with_nodes(list(reversed(circuit.nodes)))
    assert _levels(shuffled, interactive) == in_order
    assert max(in_order.values()) == len(schedule(circuit).rounds)
