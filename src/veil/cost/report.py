"""The cost and disclosure report: what runs, what it costs, and what is revealed to whom.

Each party reviews this before approving a program. Counts are in elements (a secret
multiplication of two [1000]-vectors counts 1000). `docs/cost-report.md` explains every
field of the JSON form.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from veil.analysis.flows import describe
from veil.cost.network import DEFAULT_PROFILES, Profile
from veil.cost.timing import LinkSpeed, LocalModel, estimate, one_way_delays
from veil.diagnostics import SourceMap
from veil.ir import ops
from veil.ir.nodes import Circuit, Node
from veil.ir.serialize import fingerprint
from veil.opt.pipeline import PassRecord
from veil.schedule import schedule, traffic
from veil.types import FIXED, WORD, fixed_limit, fixed_limit_bits, fmt_shape

SCHEMA_VERSION = 1

CATEGORIES = (
    "secret_multiplications",
    "dot_products",
    "comparisons",
    "truncations",
    "selects",
    "conversions",
    "boolean_gates",
    "local_ops",
    "public_ops",
)
TABLE_CATEGORIES = ("shuffles", "reveals", "table_ops")
"""Listed only for circuits that sort, shuffle or match: rep3 shuffles (elements
shuffled) and openings to the servers; `table_ops` before lowering (`plain`)."""


def category(node: Node, arg_secret: list[bool]) -> str | None:
    """Which cost category a node falls in (None for inputs and constants)."""
    if node.op in ("input", "const"):
        return None
    if not node.type.is_secret and not any(arg_secret):
        return "public_ops"
    if node.op == "mul" and all(arg_secret):
        return "secret_multiplications"
    if node.op == "matmul" and all(arg_secret):
        return "dot_products"
    if node.op in ("lt", "eq") and any(arg_secret):
        return "comparisons"
    if node.op == "trunc" and any(arg_secret):
        return "truncations"
    if node.op == "select" and arg_secret[0]:
        return "selects"
    if (node.op == "b2a" or node.op == "a2b_pair") and any(arg_secret):
        return "conversions"  # a2b_pair: the bits of a comparison's difference, input
    if node.op in ("and", "or") and all(arg_secret):
        return "boolean_gates"
    if node.op in ("shuffle", "shuffle_step"):
        return "shuffles"
    if node.op == "reveal":
        return "reveals"
    if node.op in ("sort_by", "isin", "sum_by"):
        return "table_ops"
    if node.op in ("a2b_comp", "b2a_comp"):
        return "local_ops"
    return "local_ops"


INTERACTIVE = {"secret_multiplications", "dot_products", "comparisons", "truncations",
               "selects", "conversions", "boolean_gates", "shuffles", "reveals",
               "table_ops"}  # fmt: skip


def op_counts(circuit: Circuit) -> tuple[dict[str, int], dict[str, dict[str, int]],
                                         dict[str, dict[str, int]], int]:  # fmt: skip
    """Totals by category, by source line, by function, and the multiplicative depth."""
    totals = dict.fromkeys(CATEGORIES, 0)
    present = {category(n, [circuit.node(a).type.is_secret for a in n.args])
               for n in circuit.nodes if n.op in ops.TABLES or n.op in ops.TABLE_PROTOCOL}
    for cat in TABLE_CATEGORIES:  # before local_ops, as in the table of docs/cost-report.md
        if cat in present:
            totals = {**{k: v for k, v in totals.items() if k not in ("local_ops", "public_ops")},
                      cat: 0, "local_ops": 0, "public_ops": 0}
    by_line: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(totals, 0))
    by_fn: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(totals, 0))
    depth: dict[int, int] = {}
    for node in circuit.nodes:
        args = [circuit.node(a) for a in node.args]
        cat = category(node, [a.type.is_secret for a in args])
        if cat == "secret_multiplications" and any(a.op == "b2a_comp" for a in args):
            cat = "conversions"  # rep3: a bool becomes a number by two products
        level = max((depth[a.id] for a in args), default=0)
        if cat in INTERACTIVE:
            level += 1
        depth[node.id] = level
        if cat is None:
            continue
        n = node.type.size
        if (cat == "boolean_gates" or node.op == "a2b_pair") and node.type.base == WORD:
            n *= 64  # one AND gate (or one bit input) per bit of each word
        if node.op == "shuffle_step" and node.attr("stage") != 0:
            n = 0  # an element shuffled counts once, not once per stage
        totals[cat] += n
        line = f"{node.span.file}:{node.span.line}" if node.span else "?"
        by_line[line][cat] += n
        by_fn[node.fn or "<main>"][cat] += n
    max_depth = max((depth[o.node] for o in circuit.outputs), default=0)

    def compact(d: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        return {k: {c: v for c, v in counts.items() if v}
                for k, counts in sorted(d.items(), key=lambda kv: _line_key(kv[0]))}

    return totals, compact(by_line), compact(by_fn), max_depth


def _line_key(key: str) -> tuple:
    file, _, line = key.rpartition(":")
    return (file, int(line)) if line.isdigit() else (key, 0)


WRITTEN = ("comparisons", "divisions", "selects", "secret_products", "math_functions",
           "conversions")
"""The operations of the program as written (after unrolling, before optimization and
protocol lowering), counted in elements; what a reader of the source recognizes."""


def written_counts(circuit: Circuit) -> dict[str, int]:
    """Counts of the source-level operations of a tensor circuit (the lowered program
    before optimization): comparisons (`<`, `==`, ... with a secret operand, also inside
    min, max, argmax, abs), divisions (`/` with a secret numerator or divisor), selects
    (on a secret condition: `select`, a secret `if`, min, max, abs), secret products
    (`*`, `@` of two secrets), math functions (exp, log, sqrt, sigmoid, reciprocal) and
    conversions of a secret bool to a number."""
    counts = dict.fromkeys(WRITTEN, 0)
    for node in circuit.nodes:
        secret = [circuit.node(a).type.is_secret for a in node.args]
        if not any(secret):
            continue
        op, n = node.op, node.type.size
        if op in ("lt", "eq"):
            counts["comparisons"] += n
        elif op == "div" or (op == "trunc" and node.attr("base") == FIXED):
            counts["divisions"] += n  # a public divisor: a product and this truncation
        elif op == "select" and secret[0]:
            counts["selects"] += n
        elif op in ("mul", "matmul") and all(secret):
            counts["secret_products"] += n
        elif op in ops.MATH:  # exp, log, sqrt, sigmoid, recip (div is a division, above)
            counts["math_functions"] += n
        elif op == "b2a":
            counts["conversions"] += n
        elif op in ops.TABLES:  # sort, isin, sum_by, shuffle: listed only where used
            counts["table_operations"] = counts.get("table_operations", 0) + n
    return counts


SERVER_REVEAL = ("the new positions of rows after a shuffle: a uniformly random permutation "
                 "of 0..{last}, the same for any data")


def server_reveals(circuit: Circuit) -> list[dict[str, Any]]:
    """What the protocol opens to the three servers (not to any party), by source line:
    the `reveal` steps of sorting, matching and grouped sums (veil.ir.sorting). Each is
    a permutation drawn uniformly at random by a shuffle, so it tells the servers the
    sizes of the tables (public already) and nothing about the data."""
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for node in circuit.nodes:
        if node.op != "reveal":
            continue
        line = f"{node.span.file}:{node.span.line}" if node.span else "?"
        rows = node.type.shape[0]
        entry = found.setdefault((line, rows), {
            "line": line, "opened": 0, "elements": 0,
            "what": SERVER_REVEAL.format(last=rows - 1)})
        entry["opened"] += 1
        entry["elements"] += node.type.size
    return sorted(found.values(), key=lambda e: (_line_key(e["line"]), e["elements"]))


COMPARISON_KINDS = {"lt": "<", "eq": "=="}


def comparison_costs(circuit: Circuit) -> dict[str, dict[str, float]]:
    """Per kind of secret comparison in a rep3 circuit (the lowering tags its AND gates
    and its result with `of`; an untagged `a2b_pair` counts for the comparisons it
    feeds): how many, their AND gates, and the bytes a server sends for them, averaged
    over the three (payloads only: 8 bytes a word, 1/8 byte a bit; an `a2b_pair` is one
    server's message; the headers of a round's one message are shared with everything
    else in the round)."""
    costs: dict[str, dict[str, float]] = {}
    pairs = [n for n in circuit.nodes if n.op == "a2b_pair"]
    kinds_using = _comparisons_using(circuit, pairs) if pairs else {}
    for node in circuit.nodes:
        words = node.type.base == WORD
        payload = node.type.size * 8 if words else node.type.size / 8
        if node.op == "a2b_pair":  # one server's message, shared by the comparisons using it
            for kind in kinds_using[node.id]:
                entry = costs.setdefault(kind, {"count": 0, "and_gates": 0,
                                                "bytes_per_server": 0})
                entry["bytes_per_server"] += payload / 3 / len(kinds_using[node.id])
            continue
        kind = node.attr("of")
        if kind not in COMPARISON_KINDS:
            continue
        entry = costs.setdefault(kind, {"count": 0, "and_gates": 0, "bytes_per_server": 0})
        if node.op == "and":
            entry["and_gates"] += node.type.size * (64 if words else 1)
            entry["bytes_per_server"] += payload
        else:
            entry["count"] += node.type.size
    for entry in costs.values():
        count = max(entry["count"], 1)
        entry["and_gates_each"] = round(entry["and_gates"] / count, 2)
        entry["bytes_per_comparison"] = round(entry["bytes_per_server"] / count, 2)
        entry["bytes_per_server"] = round(entry["bytes_per_server"])
    return costs


def _comparisons_using(circuit: Circuit, pairs: list) -> dict[int, list[str]]:
    """The comparison kinds whose tagged AND gates each `a2b_pair` feeds (through the
    untagged slicing between them)."""
    users = circuit.users()
    found = {}
    for pair in pairs:
        kinds: set[str] = set()
        stack, seen = [pair.id], {pair.id}
        while stack:
            for user_id in users[stack.pop()]:
                kind = circuit.node(user_id).attr("of")
                if kind in COMPARISON_KINDS:
                    kinds.add(kind)
                elif user_id not in seen:
                    seen.add(user_id)
                    stack.append(user_id)
        found[pair.id] = sorted(kinds)
    return found


def verification_section(sched) -> dict[str, Any]:
    """The verified mode's checks: the pools of products, the triples each item is
    checked with, the bytes of triples and openings each server sends, and the bound on
    a cheating server's chance of passing (veil.verification)."""
    plan = sched.plan
    triples = sum(p.triple_words for p in plan.pools)
    pre_openings = sum(p.preprocess_opened_units for p in plan.pools)
    openings = sum(p.online_opened_units for p in plan.pools)
    reduced = [g for g in plan.gates if g.freivalds is not None]
    return {
        "pools": [p.as_dict() for p in plan.pools],
        "matrix_products_by_combinations": {
            "products": len(reduced), "combinations": plan.freivalds_reps,
            "results": sum(g.freivalds[0] * g.freivalds[1] for g in reduced),
            "items": sum(g.items for g in reduced)},
        "triple_bytes_per_server": 8 * triples,  # preprocessing
        "bucket_check_bytes_per_server": 8 * pre_openings,  # preprocessing
        "opening_bytes_per_server": 8 * openings,  # after the computation
        "preprocess_rounds": sched.preprocess_rounds,
        "dabits": plan.dabits,
        "failure_log2": round(plan.failure_log2, 1) if plan.pools else None,
        "rounds": sched.verify_rounds,
    }


def _type_dict(t) -> dict[str, Any]:
    return {"label": t.label, "base": t.base, "shape": list(t.shape)}


def build(circuit: Circuit, passes: list[PassRecord] | None = None,
          warnings: list | None = None, unoptimized: Circuit | None = None,
          backend: str = "plain", profiles: tuple[Profile, ...] = DEFAULT_PROFILES,
          disclosure: dict[str, Any] | None = None, written: Circuit | None = None,
          local: LocalModel | None = None) -> dict[str, Any]:  # fmt: skip
    """The report as one JSON-ready dict (with rounds and traffic for `rep3`).

    `disclosure` (veil.analysis.policy.Review.as_report: flows, policies, violations)
    is computed on the high-level circuit, so the caller passes it in; so is `written`,
    the program as lowered before optimization, whose source-level operations the
    report counts (`ops_as_written`). `local` is the calibrated model of this machine's
    computation (veil.cost.timing.LocalModel); without it the estimates are the
    network's alone, and say so."""
    totals, by_line, by_fn, depth = op_counts(circuit)
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "fingerprint": fingerprint(circuit),
        "parties": list(circuit.parties),
        "params": {k: v for k, v in circuit.params},
        "frac_bits": circuit.frac_bits,
        "fixed_resolution": 2.0 ** -circuit.frac_bits,
        "fixed_range": fixed_limit(circuit.frac_bits),
        "inputs": [{"name": i.name, "owner": i.owner, **_type_dict(i.type)}
                   for i in circuit.inputs],
        "disclosures": [{"name": o.name, "receivers": list(o.receivers), **_type_dict(o.type)}
                        for o in circuit.outputs],
        **(disclosure or {}),
        **({"ops_as_written": written_counts(written)} if written is not None else {}),
        "server_reveals": server_reveals(circuit),
        "ops": totals,
        "interactive_elements": sum(totals.get(c, 0) for c in INTERACTIVE),
        "depth": depth,
        "nodes": len(circuit),
        "by_line": by_line,
        "by_function": by_fn,
        "passes": [p.as_dict() for p in (passes or [])],
        "notes": [f"{n.span}: {n.attr('note')}" if n.span else n.attr("note")
                  for n in circuit.nodes if n.attr("note")],
        "warnings": [d.render() for d in (warnings or [])],
    }
    report["backend"] = backend
    if backend == "rep3":
        sched = schedule(circuit)
        t = traffic(circuit, sched)
        owners = sorted(t.input_bytes_per_owner)
        receivers = sorted(t.output_bytes_per_receiver)
        phases_of_rounds = {"input": t.input_rounds, "compute": sched.circuit_rounds,
                            "output": t.output_rounds}
        if circuit.security == "malicious":
            phases_of_rounds = {"input": t.input_rounds, "preprocess": t.preprocess_rounds,
                                "compute": sched.circuit_rounds,
                                "verify": sched.verify_rounds, "output": t.output_rounds}
        report.update({
            "security": circuit.security,
            "rounds": t.rounds,
            "rounds_by_phase": phases_of_rounds,
            "bytes_per_server": list(t.bytes_per_server),
            "preprocess_bytes_per_server": list(t.preprocess_bytes_per_server),
            "messages_per_server": list(t.messages_per_server),
            "ring_elements_per_server": list(t.ring_elements_per_server),
            "bits_per_server": list(t.bits_per_server),
            "comparisons": comparison_costs(circuit),
            "input_bytes": t.input_bytes_per_owner,
            "output_bytes": t.output_bytes_per_receiver,
            "one_way_delays": one_way_delays(sched),
            "estimates": {},
        })
        local_seconds = local.seconds(circuit, sched) if local is not None else None
        report["local_compute"] = {"included": local is not None}
        if local is not None:
            assert local_seconds is not None
            report["local_compute"].update({"seconds": round(local_seconds, 6),
                                            "calibrated": local.calibrated})
        if sched.plan is not None:
            report["verification"] = verification_section(sched)
        for p in profiles:
            speed = LinkSpeed(p.rtt_ms, p.mbit_per_s)
            phases = estimate(sched, t, lambda a, b, speed=speed: speed, owners, receivers)
            if local_seconds is not None:
                # the servers compute between rounds: it adds to the compute phase
                phases["network"] = phases["total"]
                phases["local"] = round(local_seconds, 6)
                phases["total"] = round(phases["total"] + local_seconds, 6)
            report["estimates"][p.name] = {"rtt_ms": p.rtt_ms, "mbit_per_s": p.mbit_per_s,
                                           "seconds": phases["total"], "phases": phases}
    if unoptimized is not None:
        before, _, _, before_depth = op_counts(unoptimized)
        report["unoptimized"] = {"ops": before, "depth": before_depth,
                                 "nodes": len(unoptimized)}
    return report


def render(report: dict[str, Any], sources: SourceMap | None = None) -> str:
    """A readable table of the report."""
    out: list[str] = []
    out.append(f"fingerprint  {report['fingerprint']}")
    out.append(f"parties      {', '.join(report['parties'])}")
    if report["params"]:
        out.append("params       " + ", ".join(f"{k} = {v}" for k, v in report["params"].items()))
    f = report["frac_bits"]
    out.append(f"fixed point  {f} fractional bits: resolution 2^-{f} ≈ "
               f"{report['fixed_resolution']:.2g}, inputs and constants within "
               f"±2^{fixed_limit_bits(f)}")
    out.append("")
    out.append("inputs (secret-shared by their owner)")
    for i in report["inputs"]:
        out.append(f"  {i['name']:<20} {i['label']} {i['base']}{_dims(i['shape']):<14} "
                   f"from {i['owner']}")
    out.append("")
    out.append("disclosures (the only values anyone learns)")
    for d in report["disclosures"]:
        out.append(f"  {d['name']:<20} {d['base']}{_dims(d['shape']):<14} "
                   f"to {', '.join(d['receivers'])}")
    if "flows" in report:
        out.append("")
        out.append("flows (what reaches whom, derived from whose data)")
        out.extend(f"  {describe(f)}" for f in report["flows"])
    if report.get("policies"):
        violations = report["violations"]
        verdict = f"{len(violations)} violation{'s' if len(violations) != 1 else ''}" \
            if violations else "no violation"
        out.append("")
        out.append(f"policies ({', '.join(report['policies'])}): {verdict}")
        out.extend(violations)
    if report.get("security") == "malicious" and \
            any(p["name"] == "sort-lower" for p in report["passes"]):
        out.append("")
        out.append("opened to the servers by the protocol: nothing (the verified mode sorts, "
                   "shuffles and matches with checked comparisons and products; its checks "
                   "open only random or masked values)")
    if report.get("server_reveals"):
        out.append("")
        out.append("opened to the servers by the protocol (no party sees these)")
        for r in report["server_reveals"]:
            out.append(f"  {r['line']:<18} {r['opened']:>4} × {r['elements'] // r['opened']:,} "
                       f"values: {r['what']}")
    if "ops_as_written" in report:
        out.append("")
        out.append("operations as written (elements, loops unrolled, before optimization)")
        for cat in report["ops_as_written"]:
            label = "conversions (bool → number)" if cat == "conversions" else \
                cat.replace("_", " ")
            out.append(f"  {label:<28} {report['ops_as_written'][cat]:>8,}")
    rep3 = report.get("backend") == "rep3"
    out.append("")
    out.append("protocol operations (rep3: what the servers run, elements)" if rep3 else
               "operations (elements)")
    gates_of = sum(c.get("and_gates", 0) for c in report.get("comparisons", {}).values())
    for cat in report["ops"]:
        if rep3 and cat in ("comparisons", "selects") and not report["ops"][cat]:
            continue  # lowered: their gates and products are in the rows below
        mark = "" if cat in INTERACTIVE else "  (free: no communication)"
        if cat == "public_ops":
            mark = "  (compile time)"
        elif rep3 and cat == "conversions" and report["ops"][cat]:
            mark = "  (bool → number: 2 products each; a comparison's bits: 64)" \
                if report.get("security") != "malicious" else \
                "  (bool → number: a daBit each, made in the preprocessing)"
        elif rep3 and cat == "boolean_gates" and gates_of:
            mark = f"  (AND gates; {gates_of:,} of them in comparisons)"
        out.append(f"  {cat.replace('_', ' '):<24} {report['ops'][cat]:>12,}{mark}")
    out.append(f"  {'multiplicative depth':<24} {report['depth']:>12,}")
    if "rounds" in report:
        phases = report["rounds_by_phase"]
        out.append("")
        mode = ", verified: one malicious server is caught" \
            if report.get("security") == "malicious" else ""
        out.append(f"network ({report['backend']}: 3 servers{mode})")
        listed = ", ".join(f"{k} {v}" for k, v in phases.items())
        out.append(f"  rounds                   {report['rounds']:>12,}  ({listed})")
        for i, (b, m) in enumerate(zip(report["bytes_per_server"],
                                       report["messages_per_server"], strict=True)):
            out.append(f"  server {i} sends           {b:>12,} bytes in {m:,} messages")
        for kind, c in report.get("comparisons", {}).items():
            out.append(f"  comparisons {COMPARISON_KINDS.get(kind, kind):<12} {c['count']:>12,}  "
                       f"({c['and_gates_each']:g} AND gates and {c['bytes_per_comparison']:g} "
                       f"bytes a server each)")
        local = report.get("local_compute", {})
        if local.get("included"):
            out.append(f"  local computation        {local['seconds']:>12.3f} s  (a server; "
                       f"calibrated on {local['calibrated']})")
        check = report.get("verification")
        if check:
            pre = max(report.get("preprocess_bytes_per_server") or [0])
            out.append(f"  preprocessing            {pre:>12,} bytes a server, on no input "
                       f"(the triples {check['triple_bytes_per_server']:,}, "
                       f"their checks {check['bucket_check_bytes_per_server']:,})")
            if check.get("dabits"):
                out.append(f"    {'daBits':<22} {check['dabits']:>12,}  random bits in both "
                           f"sharings, 2 products each (the bool → number conversions)")
            for p in check["pools"]:
                unit = p.get("unit_bits", 64)
                what = ("AND words" if unit == 64 else f"AND gates, {unit}-bit items") \
                    if p["kind"] == "word" else \
                    ("products" if p["k"] == 1 else f"dot products of length {p['k']}")
                how = "computed from a checked triple each (Beaver)" if p.get("beaver") else \
                    "checked after the circuit against a checked triple each"
                out.append(f"    {what:<22} {p['items']:>12,}  {how}; buckets of "
                           f"{p['triples_per_item']}, {p['opened']} opened")
            out.append(f"  checks after the circuit {check['opening_bytes_per_server']:>12,} bytes "
                       f"a server (the matrix products' items)")
            combined = check.get("matrix_products_by_combinations") or {}
            if combined.get("products"):
                out.append(f"    {'matrix products':<22} {combined['products']:>12,}  checked as "
                           f"{combined['items']:,} random row/column combinations of their "
                           f"{combined['results']:,} results (Freivalds)")
            if check["failure_log2"] is not None:
                bound = f"2^{check['failure_log2']:g}"
                out.append(f"  undetected cheating      {'below':>12}  {bound} (docs/security.md)")
        for name, est in report["estimates"].items():
            out.append(f"  estimated time, {name:<8} {est['seconds']:>12.3f} s  "
                       f"({est['rtt_ms']:g} ms RTT, {est['mbit_per_s']:g} Mbit/s)")
        if report["estimates"]:
            uploaded = sum(report["input_bytes"].values())
            out.append(f"  (includes: connecting, {report['one_way_delays']} one-way delays, "
                       f"the bytes of every round and the upload of {uploaded:,} bytes of "
                       f"input shares;")
            out.append("   local computation " + (
                "of the compute phase included, as calibrated; compiling, reading input "
                "files and setting up (processes, TLS) are not)"
                if local.get("included") else
                "not included: `veil cost --calibrate` measures this machine)"))
    if "unoptimized" in report:
        before = report["unoptimized"]
        inter_before = sum(before["ops"].get(c, 0) for c in INTERACTIVE)
        out.append(f"  unoptimized: {inter_before:,} interactive elements, depth "
                   f"{before['depth']}, {before['nodes']:,} nodes → now "
                   f"{report['interactive_elements']:,}, {report['depth']}, {report['nodes']:,}")
    if report["passes"]:
        out.append("")
        out.append(f"  {'pass':<16} {'nodes':>17}  {'multiplications':>21}  "
                   f"{'AND gates':>23}  {'depth':>11}")
        for p in report["passes"]:
            cells = [f"{p[k + '_before']:>9,} → {p[k + '_after']:<9,}" if k != "depth" else
                     f"{p[k + '_before']:>4} → {p[k + '_after']:<4}"
                     for k in ("nodes", "multiplications", "and_gates", "depth")]
            out.append(f"  {p['name']:<16} " + "  ".join(cells))
    if any(_interactive(counts) for counts in report["by_line"].values()):
        out.append("")
        out.append("cost by source line (interactive elements)")
        for line, counts in report["by_line"].items():
            inter = _interactive(counts)
            if not inter:
                continue
            file, _, num = line.rpartition(":")
            text = sources.line(file, int(num)) if sources and num.isdigit() else None
            detail = ", ".join(f"{c.replace('_', ' ')} {v:,}" for c, v in counts.items()
                               if c in INTERACTIVE)
            out.append(f"  {line:<18} {inter:>10,}  {detail}")
            if text:
                out.append(f"  {'':<18} {'':>10}  | {text.strip()}")
    if any(_interactive(counts) for counts in report["by_function"].values()):
        out.append("")
        out.append("cost by function (interactive elements)")
        for fn, counts in report["by_function"].items():
            inter = _interactive(counts)
            if inter:
                out.append(f"  {fn:<30} {inter:>10,}")
    if report["notes"]:
        out.append("")
        out.append("optimizer notes")
        for note in report["notes"]:
            out.append(f"  {note}")
    for w in report["warnings"]:
        out.append("")
        out.append(w)
    return "\n".join(out)


def _interactive(counts: dict[str, int]) -> int:
    return sum(v for c, v in counts.items() if c in INTERACTIVE)


def _dims(shape: list[int]) -> str:
    return "" if not shape else fmt_shape(tuple(shape))
