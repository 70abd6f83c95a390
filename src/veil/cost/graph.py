"""A picture of the circuit: the high-level IR as Graphviz `dot` source.

`veil compile --format dot` (and `Program.dot()`) draws what the program computes
before protocol lowering: one node per operation with its type, source line and cost,
secret values red and public values blue, inputs as boxes naming their owner, outputs as
double octagons naming their receivers, each function's operations in a frame.

The cost of a node is its count in the report's categories (veil.cost.report), and for
`rep3` what the node costs on its own once lowered to the protocol (interactive
elements and rounds; lowering it alone, so work the protocol optimizer shares between
nodes is counted once per node here). A circuit of more than `max_nodes` operations
(AES, unrolled loops) is drawn one node per source line instead, with the line's
operations and total cost, so the picture stays readable.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict

import numpy as np

from veil.cost.report import INTERACTIVE, category, op_counts
from veil.ir import lower_rep3, ops, sorting
from veil.ir.nodes import Circuit, InputSpec, Node, OutputSpec
from veil.ir.semantics import apply
from veil.schedule import schedule
from veil.types import VType, fmt_shape

MAX_NODES = 150
SECRET = {"color": "#b03030", "fillcolor": "#fbe3e3", "fontcolor": "#5a1010"}
PUBLIC = {"color": "#3058b0", "fillcolor": "#e1eafb", "fontcolor": "#10285a"}


def to_dot(circuit: Circuit, backend: str = "plain", max_nodes: int = MAX_NODES,
           title: str | None = None) -> str:  # fmt: skip
    """Graphviz source for `circuit` (a high-level circuit: `Compiled.circuit`)."""
    ops = [n for n in circuit.nodes if n.op != "const"]
    if len(ops) > max_nodes:
        return _by_line(circuit, backend, title)
    return _by_node(circuit, backend, title)


def _header(title: str | None, circuit: Circuit, backend: str, what: str) -> list[str]:
    label = title or f"{len(circuit):,} operations ({what}); backend {backend}; " \
                     f"red = secret, blue = public"
    return ["digraph veil {",
            "  rankdir=TB;",
            f"  label={_q(label)}; labelloc=t; fontname=Helvetica;",
            '  node [fontname=Helvetica, fontsize=10, style="rounded,filled", shape=box];',
            "  edge [arrowsize=0.6];"]


def _by_node(circuit: Circuit, backend: str, title: str | None) -> str:
    lines = _header(title, circuit, backend, "one node each")
    users = circuit.users()
    by_fn: dict[str, list[str]] = defaultdict(list)
    for node in circuit.nodes:
        if node.op == "const" and not _shown_const(node, users):
            continue
        by_fn[node.fn].append(f"  n{node.id} [{_attrs(_node_style(node, circuit, backend))}];")
    for k, (fn, entries) in enumerate(by_fn.items()):
        if fn:
            lines.append(f"  subgraph cluster_{k} {{")
            lines.append(f"    label={_q('fn ' + fn)}; style=dashed; color=gray50;")
            lines += ["  " + e for e in entries]
            lines.append("  }")
        else:
            lines += entries
    for node in circuit.nodes:
        for arg in node.args:
            source = circuit.node(arg)
            if source.op == "const" and not _shown_const(source, users):
                continue
            colour = (SECRET if source.type.is_secret else PUBLIC)["color"]
            lines.append(f"  n{arg} -> n{node.id} [color={_q(colour)}];")
    _outputs(circuit, lines, lambda o: f"n{o.node}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _shown_const(node: Node, users: dict[int, list[int]]) -> bool:
    """Constants are drawn (small, as their value) only where they are used."""
    return bool(users.get(node.id))


def _node_style(node: Node, circuit: Circuit, backend: str) -> dict[str, str]:
    palette = SECRET if node.type.is_secret else PUBLIC
    where = f"line {node.span.line}" if node.span else ""
    if node.op == "input":
        label = [f"input {node.attr('name')}", _type(node.type), f"from {node.attr('party')}"]
        return {**palette, "label": "\n".join(label), "shape": "box", "style": "filled",
                "penwidth": "1.5"}
    if node.op == "const":
        return {**palette, "label": _const_text(node), "shape": "plaintext", "style": "",
                "fontsize": "9"}
    args = [circuit.node(a) for a in node.args]
    label = [node.op, _type(node.type)]
    cost = _cost_line(node, args, backend, circuit)
    if cost:
        label.append(cost)
    if where:
        label.append(where)
    note = node.attr("note")
    if note:
        label.append(f"({note})")
    style = {**palette, "label": "\n".join(label)}
    if cost and _interactive(node, args):
        style["penwidth"] = "2"
    return style


def _type(t: VType) -> str:
    return f"{t.label} {t.base}{fmt_shape(t.shape) if t.shape else ''}"


def _const_text(node: Node) -> str:
    data = node.attr("data") or ()
    if node.type.shape == () and len(data) == 1:
        value = data[0]
        if node.type.base == "fixed":
            return f"{value / (1 << 16):g}"
        if node.type.base == "bool":
            return "true" if value else "false"
        return str(value)
    return f"const {node.type.base}{fmt_shape(node.type.shape)}"


def _interactive(node: Node, args: list[Node]) -> bool:
    return category(node, [a.type.is_secret for a in args]) in INTERACTIVE


def _constant(circuit: Circuit, node: Node) -> tuple | None:
    """A public operand as the attributes of a constant (a `sum_by` domain's values
    decide its cost), or None for a secret one."""
    if node.type.is_secret or node.op in ops.RANDOM:
        return None
    if node.op == "const":
        return node.attrs
    values: dict[int, np.ndarray] = {}
    for n in circuit.nodes:  # the public operand's ancestors, in topological order
        if n.id > node.id:
            break
        if not n.type.is_secret and n.op not in ops.RANDOM and n.op != "input" and \
                all(a in values for a in n.args):
            values[n.id] = apply(n, [values[a] for a in n.args])
    if node.id not in values:
        return None
    raw = np.asarray(values[node.id])
    data = tuple(int(x) for x in raw.astype(np.int64).reshape(-1).tolist())
    return tuple(sorted({"base": node.type.base, "shape": tuple(raw.shape),
                         "data": data}.items()))


def _cost_line(node: Node, args: list[Node], backend: str, circuit: Circuit) -> str:
    cat = category(node, [a.type.is_secret for a in args])
    if cat is None or cat == "public_ops":
        return ""
    count = node.type.size
    if cat not in INTERACTIVE:
        return "local (free)"
    text = f"{count:,} {cat.replace('_', ' ')}"
    if backend == "rep3":
        elements, rounds = _rep3_cost(node.op, node.attrs, tuple(a.type for a in args),
                                      node.type,
                                      tuple(_constant(circuit, a) if node.op in ops.TABLES
                                            else None for a in args))
        text += f"\nrep3: {elements:,} interactive, {rounds} round{'s' if rounds != 1 else ''}"
    return text


@functools.cache
def _rep3_cost(op: str, attrs: tuple, arg_types: tuple[VType, ...], out: VType,
               constants: tuple[tuple | None, ...] = ()) -> tuple[int, int]:  # fmt: skip
    """Interactive elements and rounds of one operation lowered alone to rep3 (constant
    operands stay constants: a `sum_by` domain's values decide how many bits it sorts)."""
    nodes, specs = [], []
    for i, t in enumerate(arg_types):
        const = constants[i] if i < len(constants) else None
        if const is not None:
            nodes.append(Node(i, "const", (), t, const))
            continue
        nodes.append(Node(i, "input", (), t, (("base", t.base), ("name", f"x{i}"),
                                              ("party", "p"), ("shape", t.shape))))
        specs.append(InputSpec(f"x{i}", "p", t, i))
    k = len(nodes)
    nodes.append(Node(k, op, tuple(range(k)), out, attrs))
    one = Circuit(tuple(nodes), ("p",), tuple(specs), (OutputSpec("y", ("p",), out, k),))
    lowered = lower_rep3.run(sorting.run(one))
    totals, _, _, _ = op_counts(lowered)
    return sum(totals.get(c, 0) for c in INTERACTIVE), schedule(lowered).compute_rounds


def _outputs(circuit: Circuit, lines: list[str], source) -> None:
    for k, out in enumerate(circuit.outputs):
        palette = SECRET if out.type.is_secret else PUBLIC
        shape = fmt_shape(out.type.shape) if out.type.shape else ""
        label = f"output {out.name}\n{out.type.base}{shape}\nto {', '.join(out.receivers)}"
        style = {**palette, "label": label, "shape": "doubleoctagon"}
        lines.append(f"  out{k} [{_attrs(style)}];")
        lines.append(f"  {source(out)} -> out{k} [color={_q(palette['color'])}, penwidth=1.5];")


def _by_line(circuit: Circuit, backend: str, title: str | None) -> str:
    """One node per (function, source line): its operations and their cost."""
    lines = _header(title, circuit, backend, "one node per source line")
    group_of: dict[int, str] = {}
    members: dict[str, list[Node]] = defaultdict(list)
    for node in circuit.nodes:
        if node.op == "input":
            key = f"in_{node.id}"
        elif node.op == "const":
            continue
        else:
            line = f"{node.span.file}:{node.span.line}" if node.span else "?"
            key = f"{node.fn}|{line}"
        group_of[node.id] = key
        members[key].append(node)
    ids = {key: f"g{k}" for k, key in enumerate(members)}
    for key, nodes in members.items():
        if key.startswith("in_"):
            style = _node_style(nodes[0], circuit, backend)
        else:
            style = _group_style(key, nodes, circuit, backend)
        lines.append(f"  {ids[key]} [{_attrs(style)}];")
    edges: Counter[tuple[str, str, bool]] = Counter()
    for node in circuit.nodes:
        for arg in node.args:
            a, b = group_of.get(arg), group_of.get(node.id)
            if a is None or b is None or a == b:
                continue
            edges[(ids[a], ids[b], circuit.node(arg).type.is_secret)] += 1
    for (a, b, secret), _ in sorted(edges.items()):
        lines.append(f"  {a} -> {b} [color={_q((SECRET if secret else PUBLIC)['color'])}];")
    _outputs(circuit, lines, lambda o: ids[group_of[o.node]])
    lines.append("}")
    return "\n".join(lines) + "\n"


def _group_style(key: str, nodes: list[Node], circuit: Circuit, backend: str
                 ) -> dict[str, str]:  # fmt: skip
    fn, _, line = key.partition("|")
    secret = any(n.type.is_secret for n in nodes)
    ops = Counter(n.op for n in nodes)
    label = [f"{line}" + (f" (fn {fn})" if fn else ""),
             ", ".join(f"{count} {op}" for op, count in ops.most_common(4)) +
             (", …" if len(ops) > 4 else "")]
    sub = Circuit(tuple(nodes), circuit.parties, (), ())
    totals, _, _, _ = op_counts(_closed(sub, circuit))
    interactive = sum(totals.get(c, 0) for c in INTERACTIVE)
    if interactive:
        label.append(f"{interactive:,} interactive elements")
    return {**(SECRET if secret else PUBLIC), "label": "\n".join(label),
            **({"penwidth": "2"} if interactive else {})}


def _closed(part: Circuit, whole: Circuit) -> Circuit:
    """`part` with the nodes it reads from outside added (so op_counts can look them
    up); those are inputs or constants to it and cost nothing here."""
    inside = {n.id for n in part.nodes}
    outside = {a for n in part.nodes for a in n.args if a not in inside}
    extra = tuple(Node(a, "input", (), whole.node(a).type) for a in sorted(outside))
    return Circuit(extra + part.nodes, part.parties, (), ())


def _attrs(style: dict[str, str]) -> str:
    return ", ".join(f"{k}={_q(v)}" for k, v in style.items())


def _q(text: str) -> str:
    """A dot string: quotes and backslashes escaped, newlines as centred line breaks."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
