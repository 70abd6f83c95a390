"""Pass `dead-code`: drop every operation that no output depends on.

Input nodes stay even when unused, so the program's input interface (what each owner
must provide) does not depend on optimization; the checker warns about them instead.
"""

from __future__ import annotations

from veil.ir.nodes import Circuit

NAME = "dead-code"
SUMMARY = "remove operations no output depends on"


def run(circuit: Circuit) -> Circuit:
    live: set[int] = set()
    stack = [o.node for o in circuit.outputs]
    while stack:
        n = stack.pop()
        if n not in live:
            live.add(n)
            stack.extend(circuit.node(n).args)
    live.update(i.node for i in circuit.inputs)
    return circuit.with_nodes([n for n in circuit.nodes if n.id in live])
