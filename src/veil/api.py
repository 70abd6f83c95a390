"""The Python API: Veil from a notebook or a script, over the same code as the CLI.

    import veil
    prog = veil.compile("programs/credit_scoring", params={"cutoff": 0.6})
    prog.fingerprint, prog.report            # the report is a dict (HTML in Jupyter)
    out = prog.run({"eu_bank": {"weights": w, "bias": b}, "cn_bank": {"applicants": df}})
    out["regulator"]["approvals"]            # numpy values

`compile` is `veil compile/cost` (veil.compiler, veil.cost.report, the disclosure
review), `Program.run` is `veil run` (veil.runtime.local: three server processes and one
process per party over TLS, or the plain backend), `party` is `veil party` (one party
of a real deployment, with its key and the approvals). Inputs are validated with the
rules of input files (veil.io.arrays, veil.io.inputs, veil.io.connectors) before
anything starts; errors are the same VeilError diagnostics, shown without a traceback
in IPython and Jupyter. docs/python.md is the guide.
"""

from __future__ import annotations

import functools
import html
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from veil.diagnostics import Diagnostic, VeilError
from veil.io.arrays import columns
from veil.ir.semantics import decode
from veil.types import fmt_shape

__all__ = ["PartyOutputs", "Program", "Report", "Result", "columns", "compile", "party"]

Progress = bool | Callable[[dict[str, Any]], None] | None
InputValue = Any  # number, list, numpy array, DataFrame, Series, columns(...), connector dict


def compile(program: str | Path | None = None, *, source: str | None = None,
            params: Mapping[str, Any] | None = None, optimize: int = 2,
            backend: str = "rep3", passes: list[str] | tuple[str, ...] | None = None,
            progress: Progress = None,
            limits: Mapping[str, int | str] | None = None,
            security: str = "semi-honest") -> Program:  # fmt: skip
    """Compile a program: a `.mpc` file or a program directory, or `source` text.

    `params` override the program's `param` defaults (Python or numpy values; they are
    part of the fingerprint). `optimize` is the level (0, 1, 2), `passes` an explicit
    pass list, `backend` "rep3" (secret shares, the default) or "plain" (in the clear,
    the reference semantics), `security` "semi-honest" or "malicious" (the verified
    rep3 mode, docs/security.md). `limits` raises or lowers budgets, as `--limit` does
    ({"unroll": 5_000_000, "input_bytes": "4GB"}; see veil.limits). Raises VeilError
    with every diagnostic of the program."""
    from veil.compiler import BACKENDS, compile_path, compile_source
    from veil.limits import Limits

    budgets = Limits().with_overrides(dict(limits or {}))  # ValueError naming a bad one

    if (program is None) == (source is None):
        raise TypeError("veil.compile takes a program path or source=..., not both")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if optimize not in (0, 1, 2):
        raise ValueError(f"optimize must be 0, 1 or 2, not {optimize!r}")
    names = tuple(passes) if passes is not None else None
    if names is not None:
        from veil.opt.pipeline import parse_passes

        parse_passes(",".join(names))  # ValueError naming an unknown pass
    texts = _param_texts(params)
    with _progress("compile", progress) as listener:
        if source is not None:
            compiled = compile_source(source, "main.mpc", Path.cwd(), texts, optimize, None,
                                      backend, names, listener, budgets, security=security)
        else:
            compiled = compile_path(Path(program), texts, optimize, backend, names, listener,
                                    budgets, security=security)
    return Program(compiled, budgets)


def _param_texts(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Param values as the JSON texts `--param NAME=VALUE` takes."""
    if params is None:
        return None
    out = {}
    for name, value in params.items():
        if isinstance(value, np.ndarray | np.generic):
            value = value.tolist()
        try:
            out[str(name)] = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise VeilError([Diagnostic("V0708", f"param `{name}`: a {type(value).__name__} "
                                                 f"is not a param value",
                                        help="give a number, a bool or a (nested) list")]) \
                from None
    return out


class Program:
    """A compiled program: what the parties approve, and a way to try it."""

    def __init__(self, compiled: Any, limits: Any = None) -> None:
        from veil.limits import Limits

        self.compiled = compiled  # veil.compiler.Compiled: circuits, passes, sources
        self.limits = limits or Limits()

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the circuit that runs: what every party signs (`veil approve`)."""
        return self.compiled.fingerprint

    @property
    def backend(self) -> str:
        return self.compiled.backend

    @property
    def parties(self) -> tuple[str, ...]:
        return self.compiled.executable.parties

    @property
    def inputs(self) -> dict[str, dict[str, Any]]:
        """{input name: {"owner", "type", "shape"}, and "range" (lo, hi) where the program
        declares one} — what `run` must be given."""
        return {s.name: {"owner": s.owner, "type": s.type.base, "shape": s.type.shape,
                         **({"range": s.range} if s.range is not None else {})}
                for s in self.compiled.executable.inputs}

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        """{output name: {"receivers", "type", "shape"}}."""
        return {o.name: {"receivers": o.receivers, "type": o.type.base, "shape": o.type.shape}
                for o in self.compiled.executable.outputs}

    @functools.cached_property
    def review(self) -> Any:
        """The disclosure review (veil.analysis.policy.Review): flows and warnings."""
        from veil.analysis.policy import review

        return review(self.compiled)

    @property
    def warnings(self) -> list[str]:
        """Compiler and disclosure warnings, rendered with their source lines."""
        return [w.render(self.compiled.sources)
                for w in (*self.compiled.warnings, *self.review.warnings)]

    @functools.cached_property
    def report(self) -> Report:
        """The cost and disclosure report, the dict of `veil cost --json`."""
        from veil.cost import report
        from veil.cost.timing import load_local_model

        c = self.compiled
        data = report.build(c.executable, c.passes, [*c.warnings, *self.review.warnings],
                            c.unoptimized_executable(), c.backend,
                            disclosure=self.review.as_report(), written=c.unoptimized,
                            local=load_local_model())
        return Report(data, report.render(data, c.sources))

    def policy(self, *paths: str | Path) -> Any:
        """Review the flows against data owners' TOML policies (`veil cost --policy`);
        the result's `violations` lists what breaks them (empty: none)."""
        from veil.analysis import policy as owner_policy

        return owner_policy.review(self.compiled, [owner_policy.load(Path(p)) for p in paths])

    def dot(self) -> str:
        """The high-level circuit as Graphviz source (`veil compile --format dot`)."""
        from veil.cost.graph import to_dot

        return to_dot(self.compiled.circuit, self.compiled.backend)

    def run(self, inputs: Mapping[str, Mapping[str, InputValue] | str | Path], *,
            timeout: float = 30.0, progress: Progress = None) -> Result:  # fmt: skip
        """Run on this machine, like `veil run`: {party: {input name: value}} in, the
        outputs out as {party: {output name: numpy value}}.

        A party's entry is a dict of values (numbers, lists, numpy arrays, pandas
        DataFrames or Series, `veil.columns(df, [...])`, or a Parquet/SQL connector
        dict) or the path of its JSON input file. Every value is checked before
        anything starts. With rep3 the computation runs over secret shares in three
        server processes, one process per party, over TLS (a try-out: this process
        holds everyone's data)."""
        circuit = self.compiled.executable
        encoded = prepare_inputs(circuit, inputs, max_bytes=self.limits.input_bytes)
        if self.backend == "rep3":
            from veil.runtime.local import LocalRun

            with _progress("run", progress) as listener:
                result = LocalRun(timeout=timeout, on_progress=listener).run(
                    circuit, inputs=encoded, circuit_text=self.compiled.canonical,
                    fingerprint=self.fingerprint)
        else:
            from veil.backend.plain import PlainBackend

            result = PlainBackend().run(circuit, encoded)
        outputs: dict[str, dict[str, Any]] = {}
        for spec in circuit.outputs:
            value = _value(decode(result.outputs[spec.name], spec.type.base,
                                  circuit.frac_bits))
            for receiver in spec.receivers:
                outputs.setdefault(receiver, {})[spec.name] = value
        return Result(outputs, self.fingerprint, self.backend, result.stats)

    def __repr__(self) -> str:
        c = self.compiled
        name = c.path or "<source>"
        return (f"<veil.Program {name}: {len(c.executable.inputs)} inputs, "
                f"{len(c.executable.outputs)} outputs, backend {c.backend}, "
                f"fingerprint {self.fingerprint[:16]}…>")


def _value(array: np.ndarray) -> Any:
    """A decoded output: an array, or a numpy scalar for a scalar output."""
    return array[()] if array.ndim == 0 else array


class Result(dict):
    """Outputs by receiving party, {party: {output name: numpy value}}, with the run's
    fingerprint, backend and statistics (rounds, bytes, seconds)."""

    def __init__(self, outputs: dict[str, Any], fingerprint: str, backend: str,
                 stats: dict[str, Any]) -> None:  # fmt: skip
        super().__init__(outputs)
        self.fingerprint = fingerprint
        self.backend = backend
        self.stats = stats


class Report(dict):
    """The cost and disclosure report: the dict of `veil cost --json`; `str()` is the
    text of `veil cost`, and Jupyter shows it as HTML."""

    def __init__(self, data: dict[str, Any], text: str) -> None:
        super().__init__(data)
        self.text = text

    def __str__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return report_html(self)


def report_html(data: Mapping[str, Any]) -> str:
    """The report as an HTML fragment: inputs, disclosures, flows, cost, warnings."""
    esc = html.escape

    def table(head: list[str], rows: list[list[Any]]) -> str:
        cells = "".join(f"<th style='text-align:left'>{esc(h)}</th>" for h in head)
        body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{esc(str(c))}</td>"
                                        for c in row) + "</tr>" for row in rows)
        return f"<table><tr>{cells}</tr>{body}</table>"

    def typ(d: Mapping[str, Any]) -> str:
        shape = fmt_shape(tuple(d["shape"])) if d["shape"] else ""
        return f"{d['base']}{shape}"

    parts = [f"<div class='veil-report'><p><b>fingerprint</b> <code>{esc(data['fingerprint'])}"
             f"</code> ({esc(str(data.get('backend', '')))})</p>"]
    if data.get("params"):
        parts.append("<p><b>params</b> " + esc(", ".join(f"{k} = {v}" for k, v in
                                                          data["params"].items())) + "</p>")
    parts.append("<h4>inputs (secret-shared by their owner)</h4>")
    parts.append(table(["input", "type", "from"],
                       [[i["name"], f"{i['label']} {typ(i)}", i["owner"]]
                        for i in data["inputs"]]))
    parts.append("<h4>disclosures (the only values anyone learns)</h4>")
    parts.append(table(["output", "type", "to"],
                       [[d["name"], typ(d), ", ".join(d["receivers"])]
                        for d in data["disclosures"]]))
    if data.get("flows"):
        from veil.analysis.flows import describe

        parts.append("<h4>flows</h4><ul>" + "".join(f"<li>{esc(describe(f))}</li>"
                                                    for f in data["flows"]) + "</ul>")
    from veil.cost.report import INTERACTIVE

    rows = [[c.replace("_", " "), f"{data['ops'][c]:,}",
             "" if c in INTERACTIVE else "local, no communication"] for c in data["ops"]]
    rows.append(["multiplicative depth", f"{data['depth']:,}", ""])
    parts.append("<h4>operations (elements)</h4>" + table(["", "count", ""], rows))
    if "rounds" in data:
        rows = [["rounds", f"{data['rounds']:,}"]]
        rows += [[f"server {i} sends", f"{b:,} bytes"]
                 for i, b in enumerate(data["bytes_per_server"])]
        rows += [[f"estimated time, {name}", f"{e['seconds']:.3f} s"]
                 for name, e in data["estimates"].items()]
        parts.append("<h4>network</h4>" + table(["", ""], rows))
    for w in data.get("warnings", []):
        parts.append(f"<pre style='color:#a15c00'>{esc(w)}</pre>")
    parts.append("</div>")
    return "".join(parts)


def prepare_inputs(circuit: Any, inputs: Mapping[str, Any], only: str | None = None,
                   max_bytes: int | None = None) -> dict[str, np.ndarray]:  # fmt: skip
    """Every input of `circuit` (or of party `only`), validated and encoded, from {party:
    {name: value} or the path of its input file}; VeilError listing every problem."""
    from veil.io import connectors
    from veil.io.arrays import convert
    from veil.io.inputs import load_party_inputs
    from veil.io.ranges import check_declared_ranges

    problems: list[Diagnostic] = []
    owners: dict[str, list[Any]] = {}
    for spec in circuit.inputs:
        if only is None or spec.owner == only:
            owners.setdefault(spec.owner, []).append(spec)
    if not isinstance(inputs, Mapping):
        raise VeilError([Diagnostic("V0707", f"inputs must be a dict of parties, not "
                                             f"{type(inputs).__name__}",
                                    help='e.g. {"cn_bank": {"applicants": df}}')])
    for party in inputs:
        if party not in owners:
            what = "owns no input of this program" if party in circuit.parties else \
                "is not a party of this program"
            problems.append(Diagnostic("V0706", f"inputs: `{party}` {what}",
                                       help=f"input owners: {', '.join(owners)}"))
    encoded: dict[str, np.ndarray] = {}
    for party, specs in owners.items():
        given = inputs.get(party)
        if given is None:
            problems.append(Diagnostic("V0701", f"inputs: no inputs of party `{party}`",
                                       help=f"it provides {', '.join(s.name for s in specs)}"))
            continue
        if isinstance(given, str | Path):
            try:
                encoded.update(load_party_inputs(circuit, party, Path(given),
                                                 *(() if max_bytes is None else (max_bytes,))))
            except VeilError as exc:
                problems += exc.diagnostics
            continue
        if not isinstance(given, Mapping):
            problems.append(Diagnostic("V0707", f"inputs of `{party}`: expected a dict of "
                                                f"fields or the path of an input file, got "
                                                f"{type(given).__name__}"))
            continue
        declared = {s.name for s in specs}
        for name in sorted(set(map(str, given)) - declared):
            problems.append(Diagnostic("V0702", f"{party}: unknown field `{name}`",
                                       help=f"party `{party}` provides: "
                                            f"{', '.join(sorted(declared))}"))
        for spec in specs:
            where = f"{party}: field `{spec.name}`"
            if spec.name not in given:
                problems.append(Diagnostic(
                    "V0701", f"{where} is missing",
                    help=f"expected {spec.type.base} of shape {fmt_shape(spec.type.shape)}"))
                continue
            value = given[spec.name]
            if connectors.is_connector(value):
                array = connectors.load(value, spec, Path.cwd(), where, problems,
                                        circuit.frac_bits)
            else:
                array = convert(value, spec, where, problems, circuit.frac_bits)
            if array is not None:
                encoded[spec.name] = array
        problems += check_declared_ranges(specs, encoded, party, circuit.frac_bits)
    if problems:
        raise VeilError(problems)
    return encoded


class PartyOutputs(dict):
    """One party's own outputs {output name: numpy value}, with the run's statistics."""

    def __init__(self, outputs: dict[str, Any], fingerprint: str, stats: dict[str, Any]
                 ) -> None:  # fmt: skip
        super().__init__(outputs)
        self.fingerprint = fingerprint
        self.stats = stats


def party(name: str, program: str | Path, *, deployment: str | Path, key: str | Path,
          approvals: str | Path, inputs: Mapping[str, InputValue] | str | Path | None = None,
          params: Mapping[str, Any] | None = None, timeout: float = 30.0,
          allow_same_jurisdiction: bool = False, progress: Progress = None
          ) -> PartyOutputs:  # fmt: skip
    """Act for party `name` of a deployment, like `veil party`: compile `program` here,
    validate only this party's inputs, share them with the three servers over TLS (with
    this site's `key` and the `approvals` directory), and reconstruct only this party's
    outputs. `inputs` is {input name: value} (as for `Program.run`) or the path of its
    input file (default: inputs/NAME.json beside the program)."""
    from veil.deploy.approvals import load_dir
    from veil.deploy.deployment import load

    dep = load(Path(deployment), allow_same_jurisdiction)
    if name not in dep.parties:
        raise VeilError([Diagnostic("V1102", f"{name} is not a party of {deployment}")])
    prog = compile(program, params=params, progress=progress)
    circuit = prog.compiled.executable
    dep.check_program_parties(circuit.parties)
    if name not in circuit.parties:
        raise VeilError([Diagnostic("V1102", f"{name} is not a party of {program}",
                                    help="parties: " + ", ".join(circuit.parties))])
    if inputs is None:
        assert prog.compiled.path is not None
        inputs = prog.compiled.path.parent / "inputs" / f"{name}.json"
    owns = any(s.owner == name for s in circuit.inputs)
    values = prepare_inputs(circuit, {name: inputs}, only=name) if owns else {}
    mine, result = submit(prog.compiled, name, dep, Path(key), load_dir(Path(approvals)),
                          values, timeout, progress)
    return PartyOutputs(mine, prog.fingerprint, party_stats(result))


def submit(compiled: Any, name: str, dep: Any, key: Path, approvals: list[Any],
           values: dict[str, np.ndarray], timeout: float, progress: Progress
           ) -> tuple[dict[str, Any], Any]:  # fmt: skip
    """Run party `name`'s side of one session (the code `veil party` runs too): its own
    decoded outputs {name: numpy value} and what it measured (a PartyResult)."""
    from veil.ir.serialize import circuit_params
    from veil.runtime.party import PartyConfig, run_party

    circuit = compiled.executable
    with _progress("party", progress) as listener:
        cfg = PartyConfig(name, dep, key, approvals, timeout, circuit.security, listener)
        result = run_party(cfg, circuit, compiled.canonical, compiled.fingerprint,
                           circuit_params(circuit), values)
    mine = {o.name: _value(decode(result.outputs[o.name], o.type.base, circuit.frac_bits))
            for o in circuit.outputs if name in o.receivers}
    return mine, result


def party_stats(result: Any) -> dict[str, Any]:
    """What one party's run measured (its PartyResult), as `veil party --json` shows it."""
    servers = sorted(result.server_stats, key=lambda s: s["server"])
    compute_rounds = sorted({r for s in servers for r in s["rounds_sent"]})
    return {"compute_rounds": len(compute_rounds),
            "bytes_sent": [s["bytes_sent"] for s in servers],
            "messages": [s["messages"] for s in servers],
            "input_bytes": result.input_bytes, "output_bytes": result.output_bytes,
            "seconds": result.seconds,
            "server_seconds": [s.get("seconds", {}) for s in servers]}


class _progress:
    """A context giving the listener for `progress`: None (a bar on a terminal, else
    nothing), True (always a bar on standard error), False (nothing) or a callable."""

    def __init__(self, label: str, progress: Progress) -> None:
        self.bar = None
        self.listener: Callable[[dict[str, Any]], None] | None = None
        if callable(progress):
            self.listener = progress
        elif progress is not False:
            from veil.progress import Bar, wanted

            if progress is True or wanted(sys.stderr):
                self.bar = Bar(label, sys.stderr, enabled=True)
                self.listener = self.bar

    def __enter__(self) -> Callable[[dict[str, Any]], None] | None:
        return self.listener

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def _show_error(shell: Any, etype: type, value: BaseException, tb: Any,
                tb_offset: int | None = None) -> None:  # fmt: skip
    """IPython's handler for VeilError: the diagnostics, not a Python traceback."""
    try:
        from IPython.display import display

        display(value)
    except ImportError:  # pragma: no cover - IPython calls this only where it exists
        print(value, file=sys.stderr)


def notebook_errors(shell: Any = None) -> bool:
    """Show VeilError in IPython/Jupyter as its diagnostics (with carets; HTML in
    Jupyter) instead of a traceback. Done on `import veil` inside IPython; True if a
    shell took it."""
    if shell is None:
        ipython = sys.modules.get("IPython")
        shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return False
    shell.set_custom_exc((VeilError,), _show_error)
    return True
