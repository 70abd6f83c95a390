"""Analysis `flows`: what reaches whom, derived from whose data, at what granularity.

One flow per output and receiver: the inputs the output may depend on (with owner and
jurisdiction, and whether each one's jurisdiction differs from the receiver's), the
receiver's jurisdiction, whether the flow crosses a border (judged on its record-level
inputs when it has any, since personal data is what data-protection rules govern;
otherwise on all its inputs), and for record-level inputs the smallest number of
records that any value of the output combines (`approved[i]` combines 1 applicant,
`sum(approved)` all of them). This is the section of the disclosure report a compliance
officer reads before signing. The numbers come from veil.analysis.provenance, so they
over-approximate dependence: a flow may list an input the output does not really need,
and a value may combine fewer records *in effect* than it does structurally
(`x[0] + 0.000001 * sum(x)` combines every row but is about x[0]); the leakage warnings
cover the common ways round that.

An input is record-level (its first axis has one row per person or company) when a
data owner's policy says `records = "rows"`, and by default when it has two or more
dimensions (a table); vectors and scalars are read as model parameters or single
values unless a policy marks them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from veil.analysis.provenance import Provenance
from veil.analysis.provenance import run as provenance_of
from veil.ir.nodes import Circuit

NAME = "flows"
SUMMARY = "per output and receiver: source inputs, jurisdictions, border crossing, records"

DEFAULT_RECORD_RANK = 2
"""Inputs with at least this many dimensions are record-level unless a policy says not."""


@dataclass(frozen=True)
class Source:
    """One input that an output may depend on."""

    name: str
    owner: str
    jurisdiction: str | None
    record_level: bool
    min_records: int | None  # record-level inputs only: the fewest any value combines
    values: int  # how many values of the output depend on it
    crosses_border: bool | None = None  # to the flow's receiver; None if either is unsaid

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "owner": self.owner, "jurisdiction": self.jurisdiction,
                "record_level": self.record_level, "min_records": self.min_records,
                "values": self.values, "crosses_border": self.crosses_border}



@dataclass(frozen=True)
class Flow:
    """One output reaching one receiver."""

    output: str
    receiver: str
    receiver_jurisdiction: str | None
    crosses_border: bool | None  # of record-level data (of any data if there is none)
    sources: tuple[Source, ...]
    min_records: int | None  # the least over the record-level sources; None if there are none
    values: int  # elements of the output
    approximate: bool = False  # computed from a value too large to analyse element-wise

    def as_dict(self) -> dict[str, Any]:
        return {"output": self.output, "receiver": self.receiver,
                "receiver_jurisdiction": self.receiver_jurisdiction,
                "crosses_border": self.crosses_border,
                "inputs": [s.as_dict() for s in self.sources],
                "min_records": self.min_records, "values": self.values,
                "approximate": self.approximate}

    def describe(self) -> str:
        """One line a compliance officer can read."""
        return describe(self.as_dict())


def describe(flow: dict[str, Any]) -> str:
    """One flow, in its JSON form (`Flow.as_dict`), as a line a compliance officer reads:
    `approvals (1 value) → regulator (EU): from cn_bank.applicants (CN → EU), each value
    combines ≥ 1,000 records; from eu_bank.weights (EU) — records cross a border`."""
    place = flow["receiver_jurisdiction"]
    noun = "value" if flow["values"] == 1 else "values"
    head = f"{flow['output']} ({flow['values']:,} {noun}) → {flow['receiver']}"
    head += f" ({place})" if place else ""
    if not flow["inputs"]:
        return f"{head}: from no input (public values only)"

    def label(source: dict[str, Any]) -> str:
        where = source["jurisdiction"]
        if where and source["crosses_border"]:
            where += f" → {place}"
        return f"{source['owner']}.{source['name']}" + (f" ({where})" if where else "")

    parts: list[str] = []
    plain: list[str] = []
    for source in flow["inputs"]:
        least = source["min_records"]
        if source["record_level"] and least is not None:
            unit = "record" if least == 1 else "records"
            parts.append(f"from {label(source)}, each value combines ≥ {least:,} {unit}")
        else:
            plain.append(label(source))
    if plain:
        parts.append("from " + ", ".join(plain))
    what = "records cross" if any(s["record_level"] for s in flow["inputs"]) else "crosses"
    stay = "records stay" if what == "records cross" else "stays"
    where = {True: f"{what} a border", False: f"{stay} in {place}",
             None: "border unknown (a jurisdiction is not declared)"}[flow["crosses_border"]]
    line = f"{head}: {'; '.join(parts)} — {where}"
    if flow.get("approximate"):
        line += (" (computed from a value too large to analyse element by element: record "
                 "counts shown as 1, the cautious lower bound)")
    return line


def record_inputs(circuit: Circuit, marks: dict[str, bool] | None = None) -> dict[str, bool]:
    """Which inputs are record-level: `marks` (from policies) first, then the default."""
    marks = marks or {}
    return {i.name: marks.get(i.name, len(i.type.shape) >= DEFAULT_RECORD_RANK)
            for i in circuit.inputs}


def crosses(receiver: str | None, sources: list[str | None]) -> bool | None:
    """Does a value from inputs in `sources` (jurisdictions) cross a border to `receiver`?"""
    known = [s for s in sources if s is not None]
    if receiver is not None and any(s != receiver for s in known):
        return True
    if receiver is None or len(known) != len(sources):
        return None if sources else False
    return False


def run(circuit: Circuit, records: dict[str, bool] | None = None,
        provenance: Provenance | None = None) -> list[Flow]:  # fmt: skip
    """Every flow of a circuit, in output order then receiver order."""
    prov = provenance if provenance is not None else provenance_of(circuit)
    record_level = record_inputs(circuit, records)
    owners = {i.name: i.owner for i in circuit.inputs}
    flows: list[Flow] = []
    for out in circuit.outputs:
        sources = []
        for name in prov.inputs_of(out.node):
            level = record_level[name]
            owner = owners[name]
            sources.append(Source(name, owner, circuit.jurisdiction(owner), level,
                                  prov.min_units(out.node, name) if level else None,
                                  prov.dependent(out.node, name)))
        least = [s.min_records for s in sources if s.min_records is not None]
        for receiver in out.receivers:
            place = circuit.jurisdiction(receiver)
            mine = tuple(replace(s, crosses_border=crosses(place, [s.jurisdiction]))
                         for s in sources)
            # What data-protection rules are about is the records: when there are
            # record-level sources, the flow crosses a border if one of them does.
            deciding = [s for s in mine if s.record_level] or list(mine)
            flows.append(Flow(out.name, receiver, place,
                              crosses(place, [s.jurisdiction for s in deciding]),
                              mine, min(least) if least else None, out.type.size,
                              out.node in prov.coarse))
    return flows
