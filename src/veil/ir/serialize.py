"""Canonical JSON of a circuit and its SHA-256: the program's fingerprint.

Nodes are renumbered by position (which is topological), keys are sorted, separators
are fixed and nothing depends on hashing order, so the same program gives the same
bytes on every machine, run and PYTHONHASHSEED. The parties sign this fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from veil.diagnostics import Span
from veil.ir.nodes import Circuit, InputSpec, Node, OutputSpec
from veil.types import VType

FORMAT = "veil-circuit/1"
SECURITY_MODES = ("semi-honest", "malicious")


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, np.generic):
        return v.item()
    return v


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    return v


def _type(t: VType) -> dict:
    return {"label": t.label, "base": t.base, "shape": list(t.shape)}


def _untype(d: dict) -> VType:
    return VType(d["label"], d["base"], tuple(d["shape"]))


def _input(spec: InputSpec, pos: dict[int, int]) -> dict:
    out = {"name": spec.name, "owner": spec.owner, "type": _type(spec.type),
           "node": pos[spec.node]}
    if spec.range is not None:  # only when declared: older circuits keep their bytes
        out["range"] = list(spec.range)
    return out


def to_dict(circuit: Circuit) -> dict:
    """The canonical, JSON-ready form of a circuit."""
    pos = {n.id: i for i, n in enumerate(circuit.nodes)}
    nodes = []
    for n in circuit.nodes:
        span = None if n.span is None else [n.span.file, n.span.line, n.span.col,
                                             n.span.end_line, n.span.end_col]
        nodes.append({
            "op": n.op,
            "args": [pos[a] for a in n.args],
            "type": _type(n.type),
            "attrs": {k: _jsonable(v) for k, v in n.attrs},
            "span": span,
            "fn": n.fn,
        })
    data = {
        "format": FORMAT,
        "frac_bits": circuit.frac_bits,
        "parties": list(circuit.parties),
        "params": {k: _jsonable(v) for k, v in circuit.params},
        "inputs": [_input(i, pos) for i in circuit.inputs],
        "outputs": [{"name": o.name, "receivers": list(o.receivers), "type": _type(o.type),
                     "node": pos[o.node]} for o in circuit.outputs],
        "nodes": nodes,
    }
    # Jurisdictions are part of what the parties sign (the disclosure report's border
    # crossings rest on them); a program that declares none keeps its old fingerprint.
    if circuit.jurisdictions:
        data["jurisdictions"] = dict(circuit.jurisdictions)
    # The security mode is what every party approves too; the default one is left out,
    # so the fingerprints of semi-honest circuits stay what they were.
    if circuit.security != "semi-honest":
        data["security"] = circuit.security
    return data


def circuit_params(circuit: Circuit) -> dict[str, Any]:
    """The param values compiled into a circuit, JSON-ready (what approvals name)."""
    return {k: _jsonable(v) for k, v in circuit.params}


def dumps(circuit: Circuit) -> str:
    """Canonical JSON text (compact, sorted keys, ASCII)."""
    return json.dumps(to_dict(circuit), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def fingerprint(circuit: Circuit) -> str:
    """SHA-256 of the canonical JSON, hex."""
    return hashlib.sha256(dumps(circuit).encode("ascii")).hexdigest()


def from_dict(data: dict) -> Circuit:
    """Rebuild a circuit from its canonical form (ids become positions)."""
    if data.get("format") != FORMAT:
        raise ValueError(f"not a Veil circuit (format {data.get('format')!r}, "
                         f"expected {FORMAT!r})")
    nodes = []
    for i, d in enumerate(data["nodes"]):
        span = Span(*d["span"]) if d["span"] is not None else None
        attrs = tuple(sorted((k, _hashable(v)) for k, v in d["attrs"].items()))
        nodes.append(Node(i, d["op"], tuple(d["args"]), _untype(d["type"]), attrs, span, d["fn"]))
    inputs = tuple(InputSpec(i["name"], i["owner"], _untype(i["type"]), i["node"],
                             tuple(i["range"]) if "range" in i else None)
                   for i in data["inputs"])
    outputs = tuple(OutputSpec(o["name"], tuple(o["receivers"]), _untype(o["type"]), o["node"])
                    for o in data["outputs"])
    params = tuple((k, _hashable(v)) for k, v in sorted(data["params"].items()))
    places = data.get("jurisdictions", {})
    jurisdictions = tuple((p, places[p]) for p in data["parties"] if p in places)
    security = data.get("security", "semi-honest")
    if security not in SECURITY_MODES:
        raise ValueError(f"unknown security mode {security!r}")
    return Circuit(tuple(nodes), tuple(data["parties"]), inputs, outputs, params,
                   data["frac_bits"], jurisdictions, security)


def loads(text: str) -> Circuit:
    return from_dict(json.loads(text))
