"""`veil compile --format dot`: the high-level circuit, every operation and edge, secret
red and public blue, each node's cost; large circuits one node per source line."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from veil.cli import main
from veil.compiler import compile_path, compile_source
from veil.cost.graph import PUBLIC, SECRET, to_dot
from veil.cost.report import INTERACTIVE, build

ROOT = Path(__file__).resolve().parent.parent
CREDIT = ROOT / "programs" / "credit_scoring"
TRAINING = ROOT / "programs" / "joint_training"
NODE = re.compile(r'^\s*(n\d+|out\d+|g\d+) \[(.*)\];$')
EDGE = re.compile(r'^\s*(\w+) -> (\w+) \[color="([^"]+)"')


def parse(dot: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    nodes, edges = {}, []
    for line in dot.splitlines():
        if m := NODE.match(line):
            nodes[m.group(1)] = m.group(2)
        elif m := EDGE.match(line):
            edges.append(m.groups())
    return nodes, edges


def test_credit_scoring_every_node_edge_colour_and_cost() -> None:
    compiled = compile_path(CREDIT, backend="rep3")
    nodes, edges = parse(to_dot(compiled.circuit, "rep3"))
    circuit = compiled.circuit
    used = {a for n in circuit.nodes for a in n.args}
    drawn = {n.id for n in circuit.nodes if n.op != "const" or n.id in used}
    assert {f"n{i}" for i in drawn} | {f"out{k}" for k in range(len(circuit.outputs))} == \
        set(nodes)
    expected_edges = {(f"n{a}", f"n{n.id}") for n in circuit.nodes for a in n.args if a in drawn}
    expected_edges |= {(f"n{o.node}", f"out{k}") for k, o in enumerate(circuit.outputs)}
    assert {(a, b) for a, b, _ in edges} == expected_edges
    for n in circuit.nodes:
        if n.id in drawn:
            colour = (SECRET if n.type.is_secret else PUBLIC)["fillcolor"]
            assert f'fillcolor="{colour}"' in nodes[f"n{n.id}"]
    lt = next(n for n in circuit.nodes if n.op == "lt")
    assert "1,000 comparisons" in nodes[f"n{lt.id}"]
    assert "rep3: 245,000 interactive, 8 rounds" in nodes[f"n{lt.id}"]
    assert 'label="input applicants\\nsecret fixed[1000, 7]\\nfrom cn_bank"' in \
        nodes[f"n{circuit.inputs[2].node}"]
    assert "to regulator, eu_bank" in nodes["out1"]


def test_per_node_rep3_cost_is_what_the_report_counts_for_that_operation_alone() -> None:
    for expr, inputs in (("x < y", "fixed[50]"), ("x == y", "int[9]"), ("x * y", "fixed[4]"),
                         ("select(x > y, x, y)", "fixed[3]")):
        text = (f"party a\ninput x: secret {inputs} from a\ninput y: secret {inputs} from a\n"
                f"output z = {expr} to a\n")
        compiled = compile_source(text, backend="rep3", optimize_level=0)
        report = build(compiled.executable, backend="rep3")
        labels = " ".join(parse(to_dot(compiled.circuit, "rep3"))[0].values())
        total = sum(int(v.replace(",", "")) for v in re.findall(r"rep3: ([\d,]+) interactive",
                                                                 labels))
        assert total == sum(report["ops"].get(c, 0) for c in INTERACTIVE), expr


def test_large_circuits_are_drawn_per_source_line() -> None:
    # 30 unrolled gradient steps (credit_scoring's circuit is small since its sigmoid
    # became one vectorized evaluation)
    compiled = compile_path(TRAINING, backend="rep3", optimize_level=0)
    assert len(compiled.circuit) > 400
    dot = to_dot(compiled.circuit, "rep3")
    nodes, edges = parse(dot)
    assert "one node per source line" in dot and len(nodes) < 15
    sigmoid = next(v for v in nodes.values() if "ml.train_logistic/sigmoid" in v)
    assert "interactive elements" in sigmoid and SECRET["fillcolor"] in sigmoid
    assert all(colour in (SECRET["color"], PUBLIC["color"]) for *_, colour in edges)


def test_compile_format_dot_command(tmp_path: Path) -> None:
    out = tmp_path / "c.dot"
    result = CliRunner().invoke(main, ["compile", str(CREDIT), "--format", "dot", "-o", str(out)])
    assert result.exit_code == 0 and "wrote" in result.output
    assert out.read_text().startswith("digraph veil {")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed: the output is not rendered")
    svg = subprocess.run(["dot", "-Tsvg", str(out)], capture_output=True, text=True,
                         check=True).stdout
    assert "input applicants" in svg and "fn score" in svg
