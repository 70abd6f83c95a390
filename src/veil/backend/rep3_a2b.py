"""rep3 step `a2b_pair`: two share components summed by the server that holds both, and
input by it as a fresh boolean sharing (ABY3, Mohassel & Rindal, CCS 2018, §5.3).

Server g (the node's `server`) holds x_g and x_{g+1} of a secret x = x0 + x1 + x2. It
computes v = x_g + x_{g+1}, slices its bits (veil.ir.bitops.bitslice) and shares them
as y_g = v ⊕ r, y_{g+1} = r, y_{g+2} = 0, with r drawn from k_{g+1}, the key it shares
with server g+1; it sends y_g to server g+2, its predecessor. Then server g holds
(y_g, y_{g+1}), server g+1 (r, 0), server g+2 (0, y_g). Server g+2 sees v masked by r,
from a key it does not hold; server g+1 receives nothing. The lowering gives each
server a third of the elements, so each sends the same.

With x_{g+2} as a trivially shared word, x = v + x_{g+2} takes a two-operand adder
instead of the carry-save step and three-operand adder of the generic conversion: a
comparison needs 181 AND gates instead of 241, an equality 63 instead of 126, in the
same rounds. Only semi-honest: a deviating server g could input any v unnoticed, so
the verified mode keeps the conversion whose every AND is checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from veil.backend import prg
from veil.ir import bitops
from veil.ir.nodes import Node
from veil.schedule import NEXT, PREV, SERVERS
from veil.types import BOOL

if TYPE_CHECKING:
    from veil.backend.rep3 import Rep3Server, Value

U64 = np.uint64
A2B_MASK = 6  # prg purpose: at (node id, 6, 0) of k_{g+1}


def _mask(node: Node, key: bytes) -> np.ndarray:
    if node.type.base == BOOL:
        return prg.bits(key, node.id, A2B_MASK, node.type.shape)
    return prg.ring(key, node.id, A2B_MASK, node.type.shape)


def message_parts(server: Rep3Server, node: Node) -> tuple[dict[int, np.ndarray], object]:
    """What this server sends (direction → array) and keeps for `finish`."""
    if server.me != node.attr("server"):
        return {}, None
    value = server.values[node.args[0]]
    assert isinstance(value, tuple)
    with np.errstate(over="ignore"):
        v = np.asarray(value[0], dtype=U64) + np.asarray(value[1], dtype=U64)
    r = _mask(node, server.key_next)  # k_{g+1}
    y = bitops.bitslice(v, node.attr("packed")) ^ r
    return {PREV: y}, (y, r)


def finish(server: Rep3Server, node: Node, kept: object,
           received: dict[int, np.ndarray]) -> Value:  # fmt: skip
    """This server's pair of the boolean sharing."""
    from veil.backend.rep3 import zeros

    zero = zeros(node.type.shape, np.bool_ if node.type.base == BOOL else U64)
    g = node.attr("server")
    if server.me == g:
        assert isinstance(kept, tuple)
        return kept  # (y_g, y_{g+1})
    if server.me == (g + 1) % SERVERS:
        return (_mask(node, server.key_prev), zero)  # (y_{g+1}, y_{g+2}); k_{g+1}
    return (zero, received[NEXT])  # (y_{g+2}, y_g), y_g from server g, its successor
