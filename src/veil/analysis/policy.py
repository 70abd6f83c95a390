"""Data owners' policies: where an owner's records may go, checked before anyone signs.

A policy is a TOML file per owner (docs/disclosure.md has the full reference):

    owner = "cn_bank"                 # optional: every input below must be cn_bank's
    [inputs.applicants]
    records = "rows"                  # each row is about one person ("none": it is not)
    stay_in = ["CN"]                  # record-level results may reach only parties here
    min_aggregate = 50                # results reaching anyone else combine >= 50 records
    receivers = ["cn_bank", "eu_bank", "regulator"]   # optional allow-list

`review` runs provenance, flows and the leakage warnings on a compiled program and
checks every flow against every rule: errors are violations (V1203, V1204, V1202 when
the policy does not fit the program, V1205 when a deployment places a party elsewhere
than the program), warnings are leakage warnings (W12xx).
`veil cost --policy` prints them; `veil approve --policy` refuses to sign on an error.
The owner of an input may always receive results about its own input.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veil.analysis import flows as flows_analysis
from veil.analysis import leakage, provenance
from veil.analysis.flows import Flow, Source
from veil.analysis.leakage import DEFAULT_MIN_AGGREGATE
from veil.diagnostics import Diagnostic, SourceMap, Span, VeilError
from veil.ir.nodes import Circuit
from veil.lang import ast

if TYPE_CHECKING:
    from veil.compiler import Compiled

NAME = "policy"
SUMMARY = "check the flows against data owners' TOML policies"

RULE_KEYS = {"records": "\"rows\" or \"none\"", "stay_in": "a list of jurisdictions",
             "min_aggregate": "a positive integer", "receivers": "a list of party names"}


@dataclass(frozen=True)
class InputRule:
    """What one owner allows for one input."""

    input: str
    records: bool | None = None  # None: the default (tables are record-level)
    stay_in: tuple[str, ...] | None = None
    min_aggregate: int | None = None
    receivers: tuple[str, ...] | None = None

    @property
    def limits_granularity(self) -> bool:
        return self.stay_in is not None or self.min_aggregate is not None


@dataclass(frozen=True)
class Policy:
    """One policy file."""

    source: str  # the file, as named on the command line
    owner: str | None
    rules: tuple[InputRule, ...]


def _bad(source: str, where: str, problem: str) -> VeilError:
    return VeilError([Diagnostic("V1201", f"policy {source}: {where}: {problem}",
                                 help="see docs/disclosure.md for the policy format")])


def _names(value: Any, source: str, where: str, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _bad(source, where, f"expected {what}, got {value!r}")
    return tuple(value)


def parse(text: str, source: str = "policy.toml") -> Policy:
    """A policy from TOML text; VeilError V1201 naming the file and field if malformed."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        span = Span(source, int(where[1]), int(where[2]), int(where[1]),
                    int(where[2]) + 1) if where else None
        raise VeilError([Diagnostic("V1201", f"policy {source}: not valid TOML: {exc}", span,
                                    "see docs/disclosure.md for the policy format")]) from None
    unknown = sorted(set(data) - {"owner", "inputs"})
    if unknown:
        raise _bad(source, unknown[0], "unknown key (expected `owner` and `[inputs.NAME]` "
                   "tables)")
    owner = data.get("owner")
    if owner is not None and (not isinstance(owner, str) or not owner):
        raise _bad(source, "owner", f"expected a party name, got {owner!r}")
    inputs = data.get("inputs", {})
    if not isinstance(inputs, dict) or not inputs:
        raise _bad(source, "inputs", "expected at least one `[inputs.NAME]` table")
    rules = []
    for name, table in inputs.items():
        where = f"[inputs.{name}]"
        if not isinstance(table, dict):
            raise _bad(source, where, "expected a table of rules")
        for key in table:
            if key not in RULE_KEYS:
                raise _bad(source, f"{where} {key}",
                           f"unknown rule (rules: {', '.join(RULE_KEYS)})")
        records = table.get("records")
        if records not in (None, "rows", "none"):
            raise _bad(source, f"{where} records", f"expected \"rows\" or \"none\", got "
                       f"{records!r}")
        minimum = table.get("min_aggregate")
        if minimum is not None and (isinstance(minimum, bool) or not isinstance(minimum, int)
                                    or minimum < 1):
            raise _bad(source, f"{where} min_aggregate",
                       f"expected a positive integer, got {minimum!r}")
        stay_in = table.get("stay_in")
        receivers = table.get("receivers")
        rules.append(InputRule(
            name, None if records is None else records == "rows",
            None if stay_in is None else _names(stay_in, source, f"{where} stay_in",
                                                "a list of jurisdictions"),
            minimum,
            None if receivers is None else _names(receivers, source, f"{where} receivers",
                                                  "a list of party names")))
    return Policy(source, owner, tuple(rules))


def load(path: Path | str) -> Policy:
    """Read a policy file; VeilError V1201 if it cannot be read or is malformed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VeilError([Diagnostic("V1201", f"policy {path}: cannot read: {exc}")]) from None
    return parse(text, str(path))


# ---------------------------------------------------------------- checking


@dataclass
class Review:
    """Everything the disclosure check found about one compiled program."""

    flows: list[Flow]
    violations: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [*self.violations, *self.warnings]

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_report(self) -> dict[str, Any]:
        """The disclosure part of the cost report's JSON (see docs/disclosure.md)."""
        return {"flows": [f.as_dict() for f in self.flows],
                "policies": [p.source for p in self.policies],
                "violations": [d.render() for d in self.violations]}


def output_spans(module: ast.Module) -> dict[str, Span]:
    """Output name → the span of its `output` statement (outputs are top-level only)."""
    return {item.name: item.span for item in module.items if isinstance(item, ast.Output)}


def _fit(circuit: Circuit, policy: Policy) -> list[Diagnostic]:
    """V1202 for rules that do not fit the program (a typo must not silently pass)."""
    specs = {i.name: i for i in circuit.inputs}
    out = []

    def bad(message: str, help_text: str) -> None:
        out.append(Diagnostic("V1202", f"policy {policy.source}: {message}", None, help_text))

    if policy.owner is not None and policy.owner not in circuit.parties:
        bad(f"owner `{policy.owner}` is not a party of the program",
            f"parties: {', '.join(circuit.parties)}")
    for rule in policy.rules:
        spec = specs.get(rule.input)
        if spec is None:
            bad(f"[inputs.{rule.input}]: the program has no input `{rule.input}`",
                f"inputs: {', '.join(specs) or 'none'}")
            continue
        if policy.owner is not None and spec.owner != policy.owner:
            bad(f"[inputs.{rule.input}]: `{rule.input}` is {spec.owner}'s, not "
                f"{policy.owner}'s", "a policy speaks for its owner's inputs only")
        if rule.records and not spec.type.shape:
            bad(f"[inputs.{rule.input}]: records = \"rows\" on a scalar input",
                "a record-level input has one row per person along its first axis")
        level = rule.records if rule.records is not None else \
            len(spec.type.shape) >= flows_analysis.DEFAULT_RECORD_RANK
        if rule.min_aggregate is not None and not level:
            bad(f"[inputs.{rule.input}]: min_aggregate on an input that is not record-level",
                "add records = \"rows\" if each row is about one person; otherwise use "
                "stay_in alone")
        for party in rule.receivers or ():
            if party not in circuit.parties:
                bad(f"[inputs.{rule.input}] receivers: `{party}` is not a party",
                    f"parties: {', '.join(circuit.parties)}")
    return out


OP_WORDS = {"matmul": "@", "add": "+", "sub": "-", "mul": "*", "neg": "-", "lt": "comparison",
            "eq": "==", "and": "and", "or": "or", "not": "not", "xor": "!=", "sum": "sum",
            "select": "select", "slice": "index", "update": "element assignment",
            "concat": "concatenation", "stack": "array literal", "reshape": "reshape",
            "transpose": "transpose", "to_bits": "to_bits", "b2a": "bool to int"}
"""How a chain names ops; the rest (truncation, broadcasting, ...) are left out."""


def chain(prov: provenance.Provenance, output: str, name: str) -> str:
    """How an output came to be record-level: from the input, along the operands that
    keep the fewest records, grouped by source line."""
    circuit = prov.circuit
    node = circuit.node(prov.output_node(output))
    path = [node]
    while node.op != "input":
        options = [circuit.node(a) for a in node.args if name in prov.deps[a]]
        if not options:
            break
        node = min(options, key=lambda n: prov.min_units(n.id, name) or 0)
        path.append(node)
    steps: list[str] = []
    groups: list[tuple[str, list[str]]] = []
    for n in reversed(path[:-1] if path[-1].op == "input" else path):
        where = f"{n.span.file}:{n.span.line}" if n.span else "?"
        word = OP_WORDS.get(n.op)
        if groups and groups[-1][0] == where:
            if word and word not in groups[-1][1]:
                groups[-1][1].append(word)
        else:
            groups.append((where, [word] if word else []))
    if path[-1].op == "input":
        first = path[-1]
        steps.append(f"input {name}" + (f" ({first.span.file}:{first.span.line})"
                                        if first.span else ""))
    steps += [f"{', '.join(words) or 'copy'} ({where})" for where, words in groups]
    steps.append(f"output {output}")
    return " → ".join(steps)


def _violations(circuit: Circuit, prov: provenance.Provenance, flows: list[Flow],
                policy: Policy, spans: dict[str, Span]) -> list[Diagnostic]:  # fmt: skip
    owners = {i.name: i.owner for i in circuit.inputs}
    out: list[Diagnostic] = []
    for rule in policy.rules:
        owner = owners.get(rule.input)
        if owner is None:
            continue  # reported by _fit
        for flow in flows:
            source = next((s for s in flow.sources if s.name == rule.input), None)
            if source is None or flow.receiver == owner:
                continue
            diag = _judge(rule, owner, flow, source, policy, prov)
            if diag is not None:
                code, message, help_text = diag
                out.append(Diagnostic(code, message, spans.get(flow.output), help_text))
    return out


def _judge(rule: InputRule, owner: str, flow: Flow, source: Source, policy: Policy,
           prov: provenance.Provenance) -> tuple[str, str, str] | None:  # fmt: skip
    receiver = flow.receiver
    place = flow.receiver_jurisdiction
    at = f"{receiver} ({place})" if place else f"{receiver} (jurisdiction not declared)"
    label = f"{owner}.{rule.input}"
    if rule.receivers is not None and receiver not in rule.receivers:
        return ("V1204",
                f"`{flow.output}` reaches {receiver}, which the policy {policy.source} does "
                f"not allow to receive results derived from {label}",
                f"allowed receivers: {', '.join(rule.receivers)}; remove {receiver} from "
                f"the `to` list of `{flow.output}`")
    if not rule.limits_granularity or (place is not None and place in (rule.stay_in or ())):
        return None
    where = f"in {', '.join(rule.stay_in)}" if rule.stay_in else f"for {owner} itself"
    declare = "" if place else f"; declare where it is with `party {receiver} in ...`"
    if source.record_level:
        k = rule.min_aggregate or DEFAULT_MIN_AGGREGATE
        m = source.min_records
        if m is None or m >= k:
            return None
        return ("V1203",
                f"`{flow.output}` reaches {at} with values that each combine as few as "
                f"{m:,} record{'s' if m != 1 else ''} of {label}; the policy "
                f"{policy.source} allows results of fewer than {k:,} records only {where}",
                f"record-level by: {chain(prov, flow.output, rule.input)}; send it only to "
                f"parties {where}, or aggregate it over at least {k:,} records{declare}")
    return ("V1203",
            f"`{flow.output}` reaches {at} and is derived from {label}; the policy "
            f"{policy.source} allows results derived from it only {where}",
            f"derived by: {chain(prov, flow.output, rule.input)}; send it only to parties "
            f"{where}{declare}")


def with_jurisdictions(circuit: Circuit, places: dict[str, str]
                       ) -> tuple[Circuit, list[Diagnostic]]:  # fmt: skip
    """The circuit with parties' jurisdictions from a deployment filled in where the
    program declares none; V1205 for every party the two place differently."""
    declared = dict(circuit.jurisdictions)
    errors = [Diagnostic("V1205", f"the program declares `party {party} in {declared[party]}` "
                         f"but the deployment puts {party} in {place}", None,
                         "correct the program or the deployment: the parties sign both")
              for party, place in places.items()
              if party in declared and declared[party] != place]
    merged = tuple((p, declared.get(p) or places[p]) for p in circuit.parties
                   if p in declared or p in places)
    return replace(circuit, jurisdictions=merged), errors


def review_circuit(circuit: Circuit, policies: list[Policy] | tuple[Policy, ...] = (),
                   spans: dict[str, Span] | None = None,
                   jurisdictions: dict[str, str] | None = None) -> Review:  # fmt: skip
    """Flows, violations and leakage warnings of a (high-level) circuit; `jurisdictions`
    (party → jurisdiction, from a deployment) fill in those the program leaves out."""
    spans = spans or {}
    violations: list[Diagnostic] = []
    if jurisdictions:
        circuit, violations = with_jurisdictions(circuit, jurisdictions)
    marks: dict[str, bool] = {}
    minimum: dict[str, int] = {}
    for policy in policies:
        violations += _fit(circuit, policy)
        for rule in policy.rules:
            if rule.records is not None:
                if marks.get(rule.input, rule.records) != rule.records:
                    violations.append(Diagnostic(
                        "V1202", f"policy {policy.source}: [inputs.{rule.input}] records "
                        "contradicts another policy", None,
                        "the policies of one input must agree on whether it is "
                        "record-level"))
                marks[rule.input] = rule.records
            if rule.min_aggregate is not None:  # the strictest wins
                minimum[rule.input] = max(minimum.get(rule.input, 0), rule.min_aggregate)
    prov = provenance.run(circuit)
    records = flows_analysis.record_inputs(circuit, marks)
    flows = flows_analysis.run(circuit, records, prov)
    for policy in policies:
        violations += _violations(circuit, prov, flows, policy, spans)
    warnings = leakage.run(circuit, prov, records, minimum, spans)
    return Review(flows, violations, warnings, list(policies))


def review(compiled: Compiled, policies: list[Policy] | tuple[Policy, ...] = (),
           jurisdictions: dict[str, str] | None = None) -> Review:  # fmt: skip
    """Flows, violations and leakage warnings of a compiled program (on its optimized
    high-level circuit; see veil.analysis.provenance for why). `jurisdictions` are the
    parties' from a deployment: they fill in undeclared ones, and a party the program
    and the deployment place differently is an error (V1205)."""
    return review_circuit(compiled.circuit, policies, output_spans(compiled.program.module),
                          jurisdictions)


def check(compiled: Compiled, policies: list[Policy] | tuple[Policy, ...] = ()
          ) -> list[Diagnostic]:  # fmt: skip
    """Diagnostics only: errors are policy violations, warnings are leakage warnings."""
    return review(compiled, policies).diagnostics


def render_summary(result: Review, sources: SourceMap | None = None,
                   servers: dict[str, str] | None = None) -> str:  # fmt: skip
    """The disclosure summary a party reads before approving: flows, then the policy
    verdict with every violation, then the leakage warnings. `servers` (name →
    jurisdiction, from a deployment) adds where the shares are held."""
    lines = ["flows (what reaches whom, derived from whose data)"]
    lines += [f"  {f.describe()}" for f in result.flows] or ["  (no outputs)"]
    if servers:
        held = ", ".join(f"{name} ({place})" for name, place in servers.items())
        lines.append(f"  input shares are held by servers {held}; a share alone reveals "
                     "nothing")
    if result.policies:
        names = ", ".join(p.source for p in result.policies)
        verdict = "no violation" if result.ok else \
            f"{len(result.violations)} violation{'s' if len(result.violations) > 1 else ''}"
        lines += ["", f"policies ({names}): {verdict}"]
        lines += [d.render(sources) for d in result.violations]
    if result.warnings:
        lines += ["", "leakage warnings"]
        lines += [d.render(sources) for d in result.warnings]
    return "\n".join(lines)
