"""The `veil` command line: check, compile, cost and run programs.

Exit codes: 0 success, 1 a user error (printed without a traceback), 2 a usage error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from veil import __version__
from veil.diagnostics import Diagnostic, VeilError


def _params(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE", param_hint="--param")
        out[name.strip()] = value.strip()
    return out


def _user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print a VeilError's diagnostics and exit with 1, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except VeilError as exc:
            click.echo(exc.render(), err=True)
            sys.exit(1)

    return wrapper


PROGRAM = click.argument("program", type=click.Path(path_type=Path))
PARAM = click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                     help="Override a `param` (the value becomes part of the fingerprint).")
OPT = click.option("-O", "opt_level", type=click.IntRange(0, 2), default=2, show_default=True,
                   help="Optimization level: 0 = the naive circuit, 1 = fold, CSE, dead code, "
                        "2 = all passes (see `veil passes`).")
PASSES = click.option("--passes", "pass_list", metavar="P1,P2,...",
                      help="Run exactly these passes, in this order, instead of a level.")
JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
BACKEND = click.option("--backend", type=click.Choice(("rep3", "plain")), default="rep3",
                       show_default=True,
                       help="rep3 = three servers over secret shares; plain = in the clear "
                            "(reference semantics, for testing).")


def _compiling(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every compiling command shares: program, params, level, passes, backend."""
    for option in reversed((PROGRAM, PARAM, OPT, PASSES, BACKEND)):
        func = option(func)
    return func


def _compile(program: Path, params: tuple[str, ...], opt_level: int = 2,
             backend: str = "rep3", pass_list: str | None = None):  # fmt: skip
    from veil.compiler import compile_path
    from veil.opt.pipeline import parse_passes

    passes = None
    if pass_list is not None:
        try:
            passes = parse_passes(pass_list)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--passes") from None
    compiled = compile_path(program, _params(params), opt_level, backend, passes)
    for w in compiled.warnings:
        click.echo(w.render(compiled.sources), err=True)
    return compiled


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="veil")
def main() -> None:
    """Veil: write one program, compute on everyone's secret data, reveal only the outputs."""


@main.command()
@PROGRAM
@PARAM
@BACKEND
@click.option("--template", type=click.Path(path_type=Path), metavar="DIR",
              help="Write an input template (zeros) per input owner into DIR.")
@_user_errors
def check(program: Path, params: tuple[str, ...], backend: str, template: Path | None) -> None:
    """Parse and type-check PROGRAM (a .mpc file or a program directory)."""
    from veil.io.inputs import template as input_template

    compiled = _compile(program, params, backend=backend)
    circuit = compiled.circuit
    if template is not None:
        owners: dict[str, dict[str, Any]] = {}
        for spec in circuit.inputs:
            owners.setdefault(spec.owner, {})[spec.name] = input_template(spec)
        existing = [template / f"{p}.json" for p in owners if (template / f"{p}.json").exists()]
        if existing:  # refuse before writing anything
            raise VeilError([Diagnostic("V0001", f"{existing[0]} exists; not overwriting it",
                                        help="write the templates into an empty directory")])
        template.mkdir(parents=True, exist_ok=True)
        for party, fields in owners.items():
            path = template / f"{party}.json"
            path.write_text(json.dumps(fields, indent=2) + "\n", encoding="utf-8")
            click.echo(f"wrote {path}")
    click.echo(f"ok: {len(circuit.inputs)} inputs, {len(circuit.outputs)} outputs, "
               f"fingerprint {compiled.fingerprint}")


@main.command("compile")
@_compiling
@click.option("-o", "--output", type=click.Path(path_type=Path), metavar="FILE",
              help="Write the circuit to FILE instead of stdout.")
@click.option("--format", "fmt", type=click.Choice(("json", "bristol")), default="json",
              show_default=True,
              help="json = the canonical circuit (its SHA-256 is the fingerprint); bristol = "
                   "Bristol Fashion, for a pure-boolean program (inputs and outputs bool).")
@_user_errors
def compile_cmd(program: Path, params: tuple[str, ...], opt_level: int, pass_list: str | None,
                backend: str, output: Path | None, fmt: str) -> None:  # fmt: skip
    """Compile PROGRAM to the circuit the backend runs, in canonical JSON.

    With -o the circuit goes to FILE and its fingerprint is printed; without, the JSON
    is printed (its SHA-256 is the fingerprint)."""
    from veil.ir.serialize import dumps
    from veil.ir.to_bristol import export

    compiled = _compile(program, params, opt_level, backend, pass_list)
    if fmt == "bristol":
        text = export(compiled.circuit).rstrip("\n")
        if output is None:
            click.echo(text)
        else:
            output.write_text(text + "\n", encoding="ascii")
            click.echo(f"wrote {output} (Bristol Fashion)")
        return
    text = dumps(compiled.executable)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="ascii")
        click.echo(f"wrote {output} ({len(compiled.executable):,} nodes), "
                   f"fingerprint {compiled.fingerprint}")


@main.command()
@_compiling
@JSON
@click.option("--profile", "profiles", multiple=True, metavar="NAME=RTT_MS,MBIT",
              help="Network profile for the time estimate (replaces lan/wan), e.g. wan=150,100.")
@_user_errors
def cost(program: Path, params: tuple[str, ...], opt_level: int, pass_list: str | None,
         as_json: bool, backend: str, profiles: tuple[str, ...]) -> None:  # fmt: skip
    """Print the cost and disclosure report of PROGRAM."""
    from veil.cost import report
    from veil.cost.network import DEFAULT_PROFILES, parse_profile

    try:
        chosen = tuple(parse_profile(p) for p in profiles) or DEFAULT_PROFILES
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--profile") from None
    compiled = _compile(program, params, opt_level, backend, pass_list)
    data = report.build(compiled.executable, compiled.passes, compiled.warnings,
                        compiled.unoptimized_executable(), backend, chosen)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(report.render(data, compiled.sources))


@main.command()
@_compiling
@JSON
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds a silent peer is tolerated before the run is aborted (rep3).")
@click.option("--inputs", "inputs_dir", type=click.Path(path_type=Path), metavar="DIR",
              help="Directory of <party>.json input files [default: inputs/ beside the program].")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), metavar="DIR",
              help="Also write one <party>.json of outputs per receiving party into DIR.")
@_user_errors
def run(program: Path, params: tuple[str, ...], opt_level: int, pass_list: str | None,
        as_json: bool, backend: str, timeout: float, inputs_dir: Path | None,
        out_dir: Path | None) -> None:  # fmt: skip
    """Run PROGRAM on its parties' input files and print each party's outputs.

    With rep3 (the default) three server processes compute over secret shares on this
    machine, talking over TCP on localhost; each party sees only its own outputs."""
    from veil.backend.plain import PlainBackend
    from veil.backend.rep3_session import Rep3Backend
    from veil.io.inputs import load_inputs
    from veil.io.outputs import decoded_by_party, dumps, render_text, write_dir

    compiled = _compile(program, params, opt_level, backend, pass_list)
    assert compiled.path is not None
    inputs_dir = inputs_dir or compiled.path.parent / "inputs"
    circuit = compiled.executable
    inputs = load_inputs(circuit, inputs_dir)
    runner = Rep3Backend(timeout=timeout) if backend == "rep3" else PlainBackend()
    result = runner.run(circuit, inputs)
    outputs = decoded_by_party(circuit, result.outputs)
    if out_dir is not None:
        write_dir(outputs, out_dir)
    if as_json:
        click.echo(dumps({"outputs": outputs, "fingerprint": compiled.fingerprint,
                          "backend": backend, "stats": result.stats}))
    else:
        click.echo(f"fingerprint {compiled.fingerprint} (backend {backend})")
        click.echo(render_text(outputs))


@main.command()
def passes() -> None:
    """List the optimizer passes and the levels that run them."""
    from veil.opt.pipeline import LEVELS, PASSES, PROTOCOL_PASSES

    for name, module in PASSES.items():
        levels = ",".join(f"-O{lv}" for lv, names in LEVELS.items() if name in names)
        click.echo(f"{name:<15} {levels:<8} {module.SUMMARY}")
    for level, names in LEVELS.items():
        click.echo(f"-O{level}: {' '.join(names) or '(none: the naive circuit)'}")
    click.echo(f"after rep3 lowering (-O1 and up): {' '.join(PROTOCOL_PASSES)}")


if __name__ == "__main__":
    main()
