"""The `veil` command line: check, compile, cost and run programs.

Exit codes: 0 success, 1 a user error (printed without a traceback), 2 a usage error.
"""

from __future__ import annotations

import gc
import json
import math
import os
import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from veil import __version__
from veil.diagnostics import Diagnostic, VeilError
from veil.heap import keep_freed_memory

# Before numpy loads (the commands import it lazily): its OpenBLAS starts a thread per
# core that busy-waits about 0.1 s of CPU after loading, in every veil process, taking a
# core from the servers of a local run. Veil's arithmetic never calls BLAS (ring matrix
# products are integer products, which numpy computes itself), so one thread loses nothing.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
keep_freed_memory()


def _count(n: int, noun: str) -> str:
    """`1 input`, `3 inputs`."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _params(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE", param_hint="--param")
        out[name.strip()] = value.strip()
    return out


def _timeout(value: float) -> float:
    """A number of seconds that time arithmetic can use (not nan, inf or centuries)."""
    if not math.isfinite(value) or value > 86400 * 7:
        raise click.BadParameter("must be a finite number of seconds, at most a week")
    return value


def _limits(values: tuple[str, ...]):
    """`--limit NAME=N` (repeatable) over the default budgets (veil.limits)."""
    from veil.limits import Limits

    overrides: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r}: expected NAME=N (e.g. unroll=5000000)",
                                     param_hint="--limit")
        overrides[name.strip()] = value
    try:
        return Limits().with_overrides(overrides)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--limit") from None


TRACEBACK_ENV = "VEIL_TRACEBACK"
"""Set to 1 to see the Python traceback of an internal error (for a bug report)."""


def _user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print a VeilError's diagnostics and exit with 1, never a traceback.

    What is not a VeilError is still one line on standard error: an operating-system
    error (V0001), memory exhausted (V0003), or an internal error (V0000: a bug in Veil,
    with how to see the traceback)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except VeilError as exc:
            click.echo(exc.render(), err=True)
            sys.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:  # `veil ... | head`: the reader is gone, nothing to say
            sys.stderr.close()
            sys.exit(1)
        except Exception as exc:
            if os.environ.get(TRACEBACK_ENV):
                raise
            click.echo(_unexpected(exc).render(), err=True)
            sys.exit(1)

    return wrapper


def _unexpected(exc: BaseException) -> VeilError:
    """A one-line diagnostic for an exception that is not a VeilError."""
    if isinstance(exc, MemoryError):
        return VeilError([Diagnostic(
            "V0003", "out of memory",
            help="the program's values or loops are too large for this machine: lower the "
                 "`--limit` budgets, or use smaller inputs")])
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return VeilError([Diagnostic("V0001", f"{where}{exc.strerror or exc}")])
    text = " ".join(str(exc).split())[:200]
    return VeilError([Diagnostic(
        "V0000", f"internal error: {type(exc).__name__}{': ' + text if text else ''}",
        help=f"this is a bug in veil; run again with {TRACEBACK_ENV}=1 to see where, and "
             "please report it")])


PROGRAM = click.argument("program", type=click.Path(path_type=Path))
PARAM = click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                     help="Override a `param` (the value becomes part of the fingerprint).")
OPT = click.option("-O", "opt_level", type=click.IntRange(0, 2), default=2, show_default=True,
                   help="Optimization level: 0 = the naive circuit, 1 = fold, CSE, dead code, "
                        "2 = all passes (see `veil passes`).")
PASSES = click.option("--passes", "pass_list", metavar="P1,P2,...",
                      help="Run exactly these passes, in this order, instead of a level.")
JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
SECURITY = click.option("--security", type=click.Choice(("semi-honest", "malicious")),
                        default="semi-honest", show_default=True,
                        help="rep3's threat model: semi-honest servers, or one malicious "
                             "server caught with abort (every product, opening and share "
                             "checked; part of the fingerprint; docs/security.md).")
BACKEND = click.option("--backend", type=click.Choice(("rep3", "plain")), default="rep3",
                       show_default=True,
                       help="rep3 = three servers over secret shares; plain = in the clear "
                            "(reference semantics, for testing).")


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta["veil.quiet"] = True
    return value


QUIET = click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_set_quiet,
                     help="No progress line (one is drawn on standard error only when it "
                          "is a terminal and the work takes more than half a second).")


def _set_limits(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
    ctx.meta["veil.limits"] = _limits(value)


LIMITS = click.option("--limit", "limit_list", multiple=True, metavar="NAME=N",
                      expose_value=False, callback=_set_limits,
                      help="Raise (or lower) a budget: elements (of a public value; default "
                           "10000000), unroll (loop iterations; 1000000), operations "
                           "(2000000), input-bytes (of one input file; 1GiB). Repeatable.")


def current_limits():
    """The budgets of this command (`--limit`), or the defaults."""
    from veil.limits import Limits

    ctx = click.get_current_context(silent=True)
    found = ctx.meta.get("veil.limits") if ctx is not None else None
    return found if found is not None else Limits()


def _compiling(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every compiling command shares: program, params, level, passes,
    backend, security mode, budgets."""
    for option in reversed((PROGRAM, PARAM, OPT, PASSES, BACKEND, SECURITY, LIMITS, QUIET)):
        func = option(func)
    return func


def progress_bar():
    """This command's progress line on standard error (veil.progress.Bar): drawn only on
    a terminal and without --quiet; erased when the command ends."""
    from veil.progress import Bar

    ctx = click.get_current_context()
    bar = ctx.meta.get("veil.bar")
    if bar is None:
        bar = Bar(f"veil {ctx.info_name}", enabled=False if ctx.meta.get("veil.quiet") else None)
        ctx.meta["veil.bar"] = bar
        ctx.call_on_close(bar.close)
    return bar


def _compile(program: Path, params: tuple[str, ...], opt_level: int = 2,
             backend: str = "rep3", pass_list: str | None = None,
             measured: bool = True, security: str = "semi-honest"):  # fmt: skip
    from veil.compiler import compile_path
    from veil.opt.pipeline import parse_passes

    passes = None
    if pass_list is not None:
        try:
            passes = parse_passes(pass_list)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--passes") from None
    bar = progress_bar()
    try:
        compiled = compile_path(program, _params(params), opt_level, backend, passes,
                                bar if bar.enabled else None, current_limits(), measured,
                                security)
    finally:
        bar.close()
    for w in compiled.warnings:
        click.echo(w.render(compiled.sources), err=True)
    return compiled


def _compile_for_run(program: Path, params: tuple[str, ...], opt_level: int, backend: str,
                     pass_list: str | None, security: str):  # fmt: skip
    """`_compile`, or the same program compiled before with the same options, from the
    compile cache (veil.compile_cache): its warnings are printed again either way."""
    from veil import compile_cache
    from veil.lang.paths import resolve_program_path

    source = resolve_program_path(program)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return _compile(program, params, opt_level, backend, pass_list, security=security)
    settings = compile_cache.settings_of(_params(params), opt_level, pass_list, backend,
                                         security, current_limits())
    cached = compile_cache.lookup(source, text, settings)
    if cached is not None:
        for line in cached.warnings:
            click.echo(line, err=True)
        return cached
    compiled = _compile(program, params, opt_level, backend, pass_list, security=security)
    compile_cache.store(source, text, settings, compiled.sources.files, compiled.canonical,
                        [w.render(compiled.sources) for w in compiled.warnings])
    return compiled


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="veil")
def main() -> None:
    """Veil: write one program, compute on everyone's secret data, reveal only the outputs."""


def entry() -> None:
    """The `veil` executable (and `python -m veil`): `main`, then a quick exit."""
    try:
        main()
    finally:
        # the process ends here: frozen, what the command built is not traversed once
        # more by the collection at interpreter shutdown (50–70 ms after a million-element
        # run, more than writing its output files)
        gc.freeze()


@main.command()
@PROGRAM
@PARAM
@BACKEND
@SECURITY
@LIMITS
@QUIET
@click.option("--template", type=click.Path(path_type=Path), metavar="DIR",
              help="Write an input template (zeros) per input owner into DIR.")
@_user_errors
def check(program: Path, params: tuple[str, ...], backend: str, security: str,
          template: Path | None) -> None:  # fmt: skip
    """Parse and type-check PROGRAM (a .mpc file or a program directory)."""
    from veil.analysis.policy import review
    from veil.io.files import make_dir, write_file
    from veil.io.inputs import template as input_template

    compiled = _compile(program, params, backend=backend, measured=False, security=security)
    circuit = compiled.circuit
    for w in review(compiled).warnings:
        click.echo(w.render(compiled.sources), err=True)
    if template is not None:
        owners: dict[str, dict[str, Any]] = {}
        for spec in circuit.inputs:
            owners.setdefault(spec.owner, {})[spec.name] = input_template(spec)
        existing = [template / f"{p}.json" for p in owners if (template / f"{p}.json").exists()]
        if existing and template.is_dir():  # refuse before writing anything
            raise VeilError([Diagnostic("V0001", f"{existing[0]} exists; not overwriting it",
                                        help="write the templates into an empty directory")])
        make_dir(template, "input templates")
        for party, fields in owners.items():
            path = template / f"{party}.json"
            write_file(path, json.dumps(fields, indent=2) + "\n")
            click.echo(f"wrote {path}")
    click.echo(f"ok: {_count(len(circuit.inputs), 'input')}, "
               f"{_count(len(circuit.outputs), 'output')}, fingerprint {compiled.fingerprint}")


@main.command("compile")
@_compiling
@click.option("-o", "--output", type=click.Path(path_type=Path), metavar="FILE",
              help="Write the circuit to FILE instead of stdout.")
@click.option("--format", "fmt", type=click.Choice(("json", "bristol", "dot")), default="json",
              show_default=True,
              help="json = the canonical circuit (its SHA-256 is the fingerprint); bristol = "
                   "Bristol Fashion, for a pure-boolean program (inputs and outputs bool); "
                   "dot = a Graphviz picture of the high-level circuit (secret red, public "
                   "blue, the cost of each node).")
@_user_errors
def compile_cmd(program: Path, params: tuple[str, ...], opt_level: int, pass_list: str | None,
                backend: str, security: str, output: Path | None, fmt: str) -> None:  # fmt: skip
    """Compile PROGRAM to the circuit the backend runs, in canonical JSON.

    With -o the circuit goes to FILE and its fingerprint is printed; without, the JSON
    is printed (its SHA-256 is the fingerprint)."""
    from veil.io.files import check_writable, write_file
    from veil.ir.serialize import dumps
    from veil.ir.to_bristol import export

    if output is not None:  # a directory that is not there fails now, not after compiling
        check_writable(output)
    compiled = _compile(program, params, opt_level, backend, pass_list, security=security)
    if fmt == "dot":
        from veil.cost.graph import to_dot

        text = to_dot(compiled.circuit, backend).rstrip("\n")
        if output is None:
            click.echo(text)
        else:
            write_file(output, text + "\n")
            click.echo(f"wrote {output} (Graphviz; e.g. dot -Tsvg {output} -o circuit.svg)")
        return
    if fmt == "bristol":
        text = export(compiled.circuit).rstrip("\n")
        if output is None:
            click.echo(text)
        else:
            write_file(output, text + "\n", "ascii")
            click.echo(f"wrote {output} (Bristol Fashion)")
        return
    text = dumps(compiled.executable)
    if output is None:
        click.echo(text)
    else:
        write_file(output, text + "\n", "ascii")
        click.echo(f"wrote {output} ({len(compiled.executable):,} nodes), "
                   f"fingerprint {compiled.fingerprint}")


@main.command()
@_compiling
@JSON
@click.option("--profile", "profiles", multiple=True, metavar="NAME=RTT_MS,MBIT",
              help="Network profile for the time estimate (replaces lan/wan), e.g. wan=150,100.")
@click.option("--deployment", "deployment_path", type=click.Path(path_type=Path),
              metavar="FILE", help="Add a deployment section: servers, jurisdictions, the "
                                   "pairs that could reconstruct, the estimate per link.")
@click.option("--allow-same-jurisdiction", is_flag=True,
              help="Accept a deployment in which one jurisdiction runs two servers.")
@click.option("--policy", "policy_files", multiple=True, metavar="FILE",
              type=click.Path(path_type=Path),
              help="A data owner's TOML policy to check the flows against (repeatable); "
                   "exit status 1 if the program breaks one (see docs/disclosure.md).")
@click.option("--calibrate", is_flag=True,
              help="First measure this machine's local computation (a few seconds of "
                   "small local runs) and keep it for the time estimates.")
@_user_errors
def cost(program: Path, params: tuple[str, ...], opt_level: int, pass_list: str | None,
         as_json: bool, backend: str, security: str, profiles: tuple[str, ...],
         deployment_path: Path | None, allow_same_jurisdiction: bool,
         policy_files: tuple[Path, ...], calibrate: bool) -> None:  # fmt: skip
    """Print the cost and disclosure report of PROGRAM."""
    from veil.analysis import policy as owner_policy
    from veil.cost import report
    from veil.cost.network import DEFAULT_PROFILES, parse_profile
    from veil.cost.timing import load_local_model, save_local_model

    if calibrate:
        from veil.calibrate import calibrate as measure

        click.echo("calibrating the local computation of this machine:", err=True)
        model = measure(lambda line: click.echo(line, err=True))
        where = save_local_model(model)
        click.echo(f"wrote {where}: {model.per_round * 1e3:.3f} ms a round, "
                   f"{model.per_node * 1e6:.1f} µs an operation, "
                   f"{model.per_interactive * 1e9:.1f} ns an interactive element, "
                   f"{model.per_local * 1e9:.1f} ns a local element", err=True)

    try:
        chosen = tuple(parse_profile(p) for p in profiles) or DEFAULT_PROFILES
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--profile") from None
    policies = [owner_policy.load(path) for path in policy_files]
    compiled = _compile(program, params, opt_level, backend, pass_list, security=security)
    dep = None
    if deployment_path is not None:
        from veil.deploy.deployment import load

        if backend != "rep3":
            raise click.BadParameter("a deployment runs rep3", param_hint="--deployment")
        dep = load(deployment_path, allow_same_jurisdiction)
        dep.check_program_parties(compiled.executable.parties)
    # A deployment's party jurisdictions fill in those the program does not declare.
    places = {name: site.jurisdiction for name, site in dep.parties.items()} if dep else None
    bar = progress_bar()
    bar.update({"phase": "disclosure review"})
    disclosure = owner_policy.review(compiled, policies, places)
    bar.update({"phase": "cost report"})
    for w in disclosure.warnings:
        click.echo(w.render(compiled.sources), err=True)
    data = report.build(compiled.executable, compiled.passes,
                        [*compiled.warnings, *disclosure.warnings],
                        compiled.unoptimized_executable(), backend, chosen,
                        disclosure.as_report(), written=compiled.unoptimized,
                        local=load_local_model())
    extra: list[str] = []
    if dep is not None:
        from veil.cost import deployment as deployment_section

        data["deployment"] = deployment_section.section(compiled.executable, dep)
        extra = deployment_section.render(data["deployment"])
    bar.close()
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo("\n".join([report.render(data, compiled.sources), *extra]))
    if disclosure.violations:
        raise VeilError(disclosure.violations, compiled.sources)


@main.command()
@_compiling
@JSON
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              metavar="SECONDS", callback=lambda ctx, p, v: _timeout(v),
              help="Seconds a silent peer is tolerated before the run is aborted (rep3).")
@click.option("--inputs", "inputs_dir", type=click.Path(path_type=Path), metavar="DIR",
              help="Directory of <party>.json input files [default: inputs/ beside the program].")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), metavar="DIR",
              help="Also write one <party>.json of outputs per receiving party into DIR.")
@_user_errors
def run(program: Path, params: tuple[str, ...], opt_level: int, pass_list: str | None,
        as_json: bool, backend: str, security: str, timeout: float, inputs_dir: Path | None,
        out_dir: Path | None) -> None:  # fmt: skip
    """Run PROGRAM on its parties' input files and print each party's outputs.

    With rep3 (the default) this is a deployment on one machine: ephemeral keys, three
    server processes and one process per party over TLS on localhost; each party process
    reads only its own input file and reconstructs only its own outputs."""
    from veil.backend.plain import PlainBackend
    from veil.io.files import make_dir
    from veil.io.inputs import inputs_dir_problems, load_inputs, load_party_inputs
    from veil.io.outputs import decoded_by_party, dumps, render_text, write_dir
    from veil.runtime.local import LocalRun

    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        make_dir(out_dir, "outputs")  # the error, before any work
    clock = time.monotonic()
    compiled = _compile_for_run(program, params, opt_level, backend, pass_list, security)
    compile_seconds = time.monotonic() - clock
    assert compiled.path is not None
    inputs_dir = inputs_dir or compiled.path.parent / "inputs"
    circuit = compiled.executable
    max_bytes = current_limits().input_bytes
    if backend == "rep3":
        # here only file names are checked: each party process reads its own file
        problems = inputs_dir_problems(circuit, inputs_dir)
        bar = progress_bar()
        result = LocalRun(timeout=timeout, on_progress=bar if bar.enabled else None).run(
            circuit, load=lambda party: load_party_inputs(circuit, party,
                                                          inputs_dir / f"{party}.json",
                                                          max_bytes),
            circuit_text=compiled.canonical, fingerprint=compiled.fingerprint,
            problems=problems)
        bar.close()
    else:
        clock = time.monotonic()
        values = load_inputs(circuit, inputs_dir, max_bytes)
        loaded = time.monotonic()
        result = PlainBackend().run(circuit, values)
        result.stats["phases"] = {"input": round(loaded - clock, 6),
                                  "compute": round(time.monotonic() - loaded, 6)}
    outputs = decoded_by_party(circuit, result.outputs)
    if out_dir is not None:
        write_dir(outputs, out_dir)
    if "phases" in result.stats:  # the wall clock of each phase, compiling first
        phases = {"compile": round(compile_seconds, 6), **result.stats["phases"]}
        phases["total"] = round(time.monotonic() - clock + compile_seconds
                                if backend == "plain" else
                                compile_seconds + result.stats["phases"]["total"], 6)
        result.stats["phases"] = phases
    if as_json:
        click.echo(dumps({"outputs": outputs, "fingerprint": compiled.fingerprint,
                          "backend": backend, "security": security, "stats": result.stats}))
    else:
        mode = "" if security == "semi-honest" else f", security {security}"
        click.echo(f"fingerprint {compiled.fingerprint} (backend {backend}{mode})")
        click.echo(render_text(outputs))


@main.command("fmt")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--check", is_flag=True,
              help="Write nothing; list the files that would change, exit status 1 if any.")
@click.option("--diff", "show_diff", is_flag=True,
              help="Write nothing; print the changes as a unified diff.")
def fmt_cmd(paths: tuple[Path, ...], check: bool, show_diff: bool) -> None:
    """Format .mpc files in place: one layout, every comment kept.

    A directory stands for every .mpc file under it; `-` formats standard input to
    standard output. A file that does not parse is reported (with the syntax error) and
    left as it is; the others are still formatted. Exit status 1 if a file does not
    parse or, with --check, would change."""
    import difflib

    from veil.lang.fmt import FormatError, format_source

    if Path("-") in paths:
        if len(paths) > 1:
            raise click.BadParameter("`-` (standard input) cannot be mixed with files")
        text = sys.stdin.read()
        try:
            click.echo(format_source(text, "<stdin>"), nl=False)
        except VeilError as exc:
            click.echo(exc.render(), err=True)
            sys.exit(1)
        return
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(path.rglob("*.mpc"))
        elif path.is_file():
            files.append(path)
        else:
            raise click.BadParameter(f"{path}: no such file or directory", param_hint="PATHS")
    changed, failed = 0, 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
            new = format_source(text, str(path))
        except (VeilError, FormatError) as exc:
            click.echo(exc.render() if isinstance(exc, VeilError) else str(exc), err=True)
            failed += 1
            continue
        except (OSError, UnicodeDecodeError) as exc:
            click.echo(f"error[V0001]: {path}: cannot read: {exc}", err=True)
            failed += 1
            continue
        if new == text:
            continue
        changed += 1
        if show_diff:
            click.echo("".join(difflib.unified_diff(text.splitlines(True), new.splitlines(True),
                                                    str(path), f"{path} (formatted)")), nl=False)
        elif check:
            click.echo(f"would reformat {path}")
        else:
            path.write_text(new, encoding="utf-8")
            click.echo(f"reformatted {path}")
    verb = "would be reformatted" if check or show_diff else "reformatted"
    summary = f"{changed} file{'s' if changed != 1 else ''} {verb}, " \
              f"{len(files) - changed - failed} unchanged"
    if failed:
        summary += f", {failed} not formatted (errors above)"
    click.echo(summary, err=True)
    if failed or (check and changed):
        sys.exit(1)


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


# the deployment commands register themselves on `main`
from veil import cli_deploy  # noqa: E402, F401

SHORT_HELP = {
    "check": "Parse and type-check a program; print its fingerprint.",
    "compile": "Compile a program to its circuit (JSON, Bristol or dot).",
    "cost": "Print the cost and disclosure report of a program.",
    "run": "Run a program on this machine; print each party's outputs.",
    "passes": "List the optimizer passes and the levels that run them.",
    "fmt": "Format .mpc files in place (every comment kept).",
    "keygen": "Make a site's private key and the certificate others pin.",
    "approve": "Sign an approval of exactly this program, params, deployment.",
    "server": "Run one compute server of a deployment.",
    "party": "Act for one party: share its inputs, receive its outputs.",
    "audit": "Verify and read the servers' signed audit logs.",
}
"""The one-line summaries of `veil --help` (click would cut the docstrings' first
sentences at the terminal's width)."""
for _name, _text in SHORT_HELP.items():
    if _name in main.commands:  # (`python -m veil.cli` has no deployment commands)
        main.commands[_name].short_help = _text

if __name__ == "__main__":
    entry()
