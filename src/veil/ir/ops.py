"""The IR's operations: what each takes, the type it produces, and what it costs in kind.

Every op here is checked by `infer`, which the builder, the verifier and every pass use,
so a node's stored type is always the type its operands imply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from veil.ir import bitops
from veil.types import BOOL, FIXED, INT, WORD, VType, broadcast, join_label, matmul_shape

ELEMENTWISE_ARITH = {"add", "sub", "mul"}
COMPARISONS = {"lt", "eq"}
BOOLEAN = {"and", "or", "xor"}
LEAVES = {"input", "const"}
DATA_MOVEMENT = {"reshape", "transpose", "slice", "update", "concat", "stack", "broadcast"}

PROTOCOL = {"a2b_comp", "b2a_comp", "shl", "shr", "bit", "comp_shr"}
"""Protocol-level primitives, introduced by the rep3 lowering (see veil.ir.lower_rep3)."""
A2B_PAIR = "a2b_pair"
"""The bits of x_g + x_{g+1} (two of a secret's three share components, both known to
server g = its `server`) as a fresh boolean sharing, bit-sliced like `bitslice`: one
message, server g to server g + 2 (veil.backend.rep3_a2b)."""

MATH = {"div", "recip", "exp", "log", "sqrt", "sigmoid"}
"""Approximated functions of fixed values (`a / b` with a secret b, math.exp, ...): one
node each while the circuit is optimized and analysed, then expanded into the ops above
(veil.ir.numerics) before any backend runs."""

BIT_LAYOUT = {"bitslice", "pack", "unpack", "xor_net"}
"""Bit-sliced boolean evaluation (see veil.ir.bitops): local, affine over GF(2)."""

TABLES = {"sort_by", "isin", "sum_by", "shuffle"}
"""Whole-table operations on rows (leading axis); expanded by veil.ir.sorting."""
TABLE_PROTOCOL = {"shuffle_step", "reveal", "scatter", "cumsum"}
"""What veil.ir.sorting expands them to (with comparisons, b2a and products): one
stage of a resharing shuffle, an opening to the servers, a move of rows to public
positions, a running sum (semantics in veil.ir.tables, protocol in
veil.backend.rep3_shuffle)."""
RANDOM_BITS = "random_bits"
"""Secret uniformly random bits drawn by the servers without communication (component j
of the boolean sharing from the PRG key of the two servers that hold it, veil.backend
.rep3), so no single server knows them: the keys of the verified mode's shuffle."""
RANDOM = {"shuffle", "shuffle_step", RANDOM_BITS}
"""Ops whose value is random at run time: never evaluated at compile time."""

ALL_OPS = (
    LEAVES | ELEMENTWISE_ARITH | COMPARISONS | BOOLEAN | DATA_MOVEMENT | PROTOCOL | BIT_LAYOUT
    | MATH | TABLES | TABLE_PROTOCOL | {A2B_PAIR}
    | {"neg", "not", "matmul", "trunc", "sum", "select", "b2a", "monotone", "to_bits", "cast",
       RANDOM_BITS}
)


class IRError(Exception):
    """An internal inconsistency in the IR: a compiler bug, never a user error."""


def _attrs(attrs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    return dict(attrs)


def index_shape(shape: tuple[int, ...], spec: tuple) -> tuple[int, ...]:
    """Shape after a static subscript: spec is per leading dim ("i", k) or ("r", lo, hi)."""
    out: list[int] = []
    for dim, part in zip(shape, spec, strict=False):
        if part[0] == "i":
            if not -dim <= part[1] < dim:
                raise IRError(f"index {part[1]} out of range {dim}")
        else:
            _, lo, hi = part
            if not 0 <= lo <= hi <= dim:
                raise IRError(f"slice {lo}..{hi} out of range {dim}")
            out.append(hi - lo)
    if len(spec) > len(shape):
        raise IRError("too many indices")
    return (*out, *shape[len(spec):])


def _same_base(op: str, args: Sequence[VType]) -> str:
    base = args[0].base
    for t in args:
        if t.base != base:
            raise IRError(f"{op}: operand bases differ: {sorted({t.base for t in args})}")
    return base


def _bshape(op: str, ts: Sequence[VType]) -> tuple[int, ...]:
    shape: tuple[int, ...] | None = ()
    for t in ts:
        shape = broadcast(shape, t.shape) if shape is not None else None
    if shape is None:
        raise IRError(f"{op}: shapes do not broadcast: {[t.shape for t in ts]}")
    return shape


def infer(op: str, args: Sequence[VType], attrs: Sequence[tuple[str, Any]]) -> VType:
    """The type a node of this op has for these operand types; IRError if ill-formed."""
    a = _attrs(attrs)
    label = join_label(*(t.label for t in args)) if args else "public"

    def same_base() -> str:
        return _same_base(op, args)

    def bshape(*ts: VType) -> tuple[int, ...]:
        return _bshape(op, ts)

    if op == "input":
        return VType("secret", a["base"], tuple(a["shape"]))
    if op == RANDOM_BITS:  # attrs: shape, group (each draw its own bits)
        return VType("secret", BOOL, tuple(a["shape"]))
    if op == "monotone":  # marks result = f(argument) for a @monotone f; the value is result
        return args[0]
    if op == "const":
        return VType("public", a["base"], tuple(a["shape"]))
    if op in ("add", "sub"):
        return VType(label, _same_base(op, args), _bshape(op, args))
    if op == "mul":
        bases = {t.base for t in args}
        if BOOL in bases:
            raise IRError("mul on bool")
        # fixed * int needs no truncation: the int is not scaled.
        return VType(label, FIXED if FIXED in bases else INT, bshape(*args))
    if op == "neg":
        if args[0].base == BOOL:
            raise IRError("neg on bool")
        return args[0]
    if op == "cast":  # the same ring value read as int or as fixed (no change, no cost)
        if args[0].base not in (INT, FIXED) or a["base"] not in (INT, FIXED):
            raise IRError(f"cast of {args[0]} to {a['base']}")
        return args[0].with_(base=a["base"])
    if op in MATH:
        if any(t.base != FIXED for t in args) or len(args) != (2 if op == "div" else 1):
            raise IRError(f"{op} on {[str(t) for t in args]}")
        return VType(label, FIXED, bshape(*args))
    if op == "matmul":
        shape = matmul_shape(args[0].shape, args[1].shape)
        if shape is None or BOOL in (args[0].base, args[1].base):
            raise IRError(f"matmul shapes {args[0].shape} @ {args[1].shape}")
        bases = {t.base for t in args}
        return VType(label, FIXED if FIXED in bases else INT, shape)
    if op == "trunc":
        if args[0].base == BOOL:
            raise IRError("trunc on bool")
        return VType(label, a.get("base", args[0].base), args[0].shape)
    if op == "sum":
        t = args[0]
        axis = a.get("axis")
        if t.base == BOOL:
            raise IRError("sum on bool (convert with b2a first)")
        shape = () if axis is None else t.shape[:axis] + t.shape[axis + 1:]
        return VType(label, t.base, shape)
    if op in COMPARISONS:
        if {t.base for t in args} & {BOOL, WORD} and op == "lt":
            raise IRError("lt on bool")
        same_base()
        return VType(label, BOOL, bshape(*args))
    if op in BOOLEAN:
        base = same_base()
        if base not in (BOOL, WORD):
            raise IRError(f"{op} on non-bool")
        return VType(label, base, bshape(*args))
    if op == "not":
        if args[0].base not in (BOOL, WORD):
            raise IRError("not on non-bool")
        return args[0]
    if op in ("shl", "shr"):
        if args[0].base != WORD or not 0 < a["bits"] < 64:
            raise IRError(f"{op} on {args[0]}")
        return args[0]
    if op == "bit":
        if args[0].base != WORD or not 0 <= a["index"] < 64:
            raise IRError(f"bit of {args[0]}")
        return args[0].with_(base=BOOL)
    if op == "comp_shr":  # each share component shifted right (verified truncation)
        if args[0].base not in (INT, FIXED):
            raise IRError(f"comp_shr of {args[0]}")
        return VType(label, INT, args[0].shape)
    if op == "a2b_comp":
        if args[0].base not in (INT, FIXED) or a["component"] not in (0, 1, 2):
            raise IRError(f"a2b_comp of {args[0]}")
        return args[0].with_(base=WORD)
    if op == A2B_PAIR:  # laid out as bitslice lays out a word of the same values
        if args[0].base not in (INT, FIXED) or a["server"] not in (0, 1, 2):
            raise IRError(f"{op} of {args[0]}")
        n = args[0].size
        if a["packed"]:
            return VType(label, WORD, (64, bitops.words_for(n)))
        return VType(label, BOOL, (64, n))
    if op == "b2a_comp":
        if args[0].base != BOOL or a["component"] not in (0, 1, 2):
            raise IRError(f"b2a_comp of {args[0]}")
        return args[0].with_(base=INT)
    if op == "select":
        c, x, y = args
        if c.base != BOOL or x.base != y.base:
            raise IRError("select types")
        return VType(label, x.base, bshape(c, x, y))
    if op == "to_bits":  # of a fixed value: the bits of its ring element
        if args[0].base not in (INT, FIXED):
            raise IRError("to_bits of non-int")
        return VType(label, BOOL, (*args[0].shape, 64))
    if op == "b2a":
        if args[0].base != BOOL:
            raise IRError("b2a on non-bool")
        return VType(label, INT, args[0].shape)
    if op in TABLES or op in TABLE_PROTOCOL:
        return _infer_table(op, args, a, label)
    if op in BIT_LAYOUT:
        return _infer_bit_layout(op, args, a, label)
    if op == "reshape":
        shape = tuple(a["shape"])
        n = 1
        for d in shape:
            n *= d
        if n != args[0].size:
            raise IRError("reshape size")
        return args[0].with_(shape=shape)
    if op == "broadcast":
        shape = tuple(a["shape"])
        if broadcast(args[0].shape, shape) != shape:
            raise IRError(f"cannot broadcast {args[0].shape} to {shape}")
        return args[0].with_(shape=shape)
    if op == "transpose":
        if len(args[0].shape) != 2:
            raise IRError("transpose of non-matrix")
        return args[0].with_(shape=args[0].shape[::-1])
    if op == "slice":
        return args[0].with_(shape=index_shape(args[0].shape, a["spec"]))
    if op == "update":
        base, value = args
        region = index_shape(base.shape, a["spec"])
        if broadcast(value.shape, region) != region or base.base != value.base:
            raise IRError(f"update region {region} with {value}")
        return VType(label, base.base, base.shape)
    if op == "concat":
        base = same_base()
        rest = {t.shape[1:] for t in args}
        if len(rest) != 1 or any(not t.shape for t in args):
            raise IRError("concat shapes")
        return VType(label, base, (sum(t.shape[0] for t in args), *rest.pop()))
    if op == "stack":
        base = same_base()
        shapes = {t.shape for t in args}
        if len(shapes) != 1:
            raise IRError("stack shapes")
        return VType(label, base, (len(args), *shapes.pop()))
    raise IRError(f"unknown op {op!r}")


def _infer_table(op: str, args: Sequence[VType], a: dict[str, Any], label: str) -> VType:
    def rows(t: VType) -> int:
        if not t.shape:
            raise IRError(f"{op} of a scalar")
        return t.shape[0]

    def key(t: VType) -> None:
        if t.base not in (INT, FIXED) or len(t.shape) != 1:
            raise IRError(f"{op}: keys must be an int or fixed vector, got {t}")

    if op == "sort_by":
        keys, values = args
        key(keys)
        if rows(values) != keys.shape[0]:
            raise IRError(f"sort_by: {keys.shape[0]} keys for {rows(values)} rows")
        return VType(label, values.base, values.shape)
    if op == "isin":
        key(args[0])
        key(args[1])
        if args[0].base != args[1].base:
            raise IRError("isin: operand bases differ")
        return VType(label, BOOL, args[0].shape)
    if op == "sum_by":
        keys, values, domain = args
        key(keys)
        key(domain)
        if values.base not in (INT, FIXED) or values.shape != keys.shape or \
                domain.base != keys.base or domain.is_secret:
            raise IRError(f"sum_by({keys}, {values}, {domain})")
        return VType(label, values.base, domain.shape)
    if op == "shuffle":
        rows(args[0])
        return args[0].with_(label="secret")
    if op == "shuffle_step":
        rows(args[0])
        if a["stage"] not in (0, 1, 2):
            raise IRError(f"shuffle_step stage {a['stage']}")
        return args[0].with_(label="secret")
    if op == "reveal":
        return args[0].with_(label="public")
    if op == "scatter":
        x, index = args
        if index.base != INT or index.is_secret or index.shape != (rows(x),) or \
                a["size"] < 0 or a.get("offset", 0) < 0:
            raise IRError(f"scatter of {x} to public int positions, got {index}")
        return x.with_(shape=(a["size"], *x.shape[1:]))
    # cumsum (along the rows)
    if args[0].base not in (INT, FIXED):
        raise IRError(f"cumsum of {args[0]}")
    rows(args[0])
    return args[0]


def _infer_bit_layout(op: str, args: Sequence[VType], a: dict[str, Any], label: str) -> VType:
    if op == "bitslice":
        if args[0].base != WORD:
            raise IRError(f"bitslice of {args[0]}")
        n = args[0].size
        if a["packed"]:
            return VType(label, WORD, (64, bitops.words_for(n)))
        return VType(label, BOOL, (64, n))
    if op == "pack":
        if args[0].base != BOOL or len(args[0].shape) != 2:
            raise IRError(f"pack of {args[0]}")
        rows, n = args[0].shape
        return VType(label, WORD, (rows, bitops.words_for(n)))
    if op == "unpack":
        t = args[0]
        if t.base != WORD or len(t.shape) != 2 or bitops.words_for(a["n"]) != t.shape[1]:
            raise IRError(f"unpack of {t} to {a['n']} bits")
        return VType(label, BOOL, (t.shape[0], a["n"]))
    # xor_net
    bases = {t.base for t in args}
    tails = {t.shape[1:] for t in args}
    if not args or len(bases) != 1 or bases & {INT, FIXED} or len(tails) != 1 or \
            any(len(t.shape) < 1 for t in args):
        raise IRError(f"xor_net operands {[str(t) for t in args]}")
    load, code, out = a["load"], a["code"], a["out"]
    if len(load) % 2:
        raise IRError("xor_net loads come in (operand, row) pairs")
    try:
        total = bitops.program_rows(load, code)  # parsing checks the gates' rows
    except (KeyError, IndexError, ValueError) as exc:
        raise IRError(f"xor_net program: {exc}") from None
    problem = bitops.check_loads(load, code, [t.shape[0] for t in args])
    if problem:
        raise IRError(f"xor_net: {problem}")
    if out and not 0 <= min(out) <= max(out) < total:
        raise IRError("xor_net outputs a row it does not have")
    return VType(label, bases.pop(), (len(out), *tails.pop()))


def trunc_bits(bits: int | tuple, shape: tuple[int, ...]) -> int | np.ndarray:
    """A trunc node's shift: one int, or (division by an array of public values of very
    different sizes) one shift per element, stored flat in the attribute."""
    if isinstance(bits, int):
        return bits
    return np.array(bits, dtype=np.uint64).reshape(shape)


MAYBE_INTERACTIVE = {"mul", "matmul", "trunc", "b2a", "lt", "eq", "to_bits", "and", "or",
                     "select", "reveal", A2B_PAIR, *TABLES, *RANDOM}
"""The only ops `is_interactive` can answer yes for (callers may skip the others)."""


def is_interactive(op: str, arg_types: Sequence[VType]) -> bool:
    """Does this op need communication between servers when run over secret shares?

    Linear operations (add, sub, neg, sums, products with a public operand, moving
    data) are local; products of two secrets, truncation of a secret, comparisons,
    boolean AND/OR, select on a secret and conversions are not.
    """
    secret = [t.is_secret for t in arg_types]
    if op in ("mul", "matmul"):
        return all(secret)
    if op == RANDOM_BITS:
        return False  # each server expands its PRG keys
    if op in RANDOM:
        return True  # a public operand is shuffled as the trivial sharing
    if op in ("trunc", "b2a", "lt", "eq", "to_bits", "reveal", A2B_PAIR) or op in TABLES:
        return any(secret)
    if op in ("and", "or"):
        return all(secret)
    if op in PROTOCOL:
        return False
    if op == "select":
        return secret[0]  # a public condition just picks one operand
    return False


__all__ = ["ALL_OPS", "FIXED", "INT", "IRError", "index_shape", "infer", "is_interactive"]
