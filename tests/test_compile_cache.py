"""veil.compile_cache: `veil run` of an unchanged program skips the compiler, and any
change to what the compile depends on compiles again."""

from __future__ import annotations

import json
import os
import shutil
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

import veil.cli
from veil import compile_cache
from veil.backend.plain import PlainBackend
from veil.cli import main
from veil.compiler import compile_path
from veil.io.inputs import load_inputs
from veil.ir.serialize import dumps
from veil.limits import Limits

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = sorted(p for p in (ROOT / "programs").iterdir() if (p / "main.mpc").is_file())

PROGRAM = """\
use stats
party a
party b
input x: secret int from a
input y: secret int from a
input unused: secret int from b
output total = x + y to b
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(folder))
    return folder


@pytest.fixture
def compiles(monkeypatch):
    """How often `veil run` called the compiler."""
    calls = []
    real = veil.cli._compile

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(veil.cli, "_compile", counted)
    return calls


@pytest.fixture
def program(tmp_path):
    folder = tmp_path / "prog"
    (folder / "inputs").mkdir(parents=True)
    (folder / "main.mpc").write_text(PROGRAM)
    (folder / "stats.mpc").write_text("fn twice(v: secret int) -> secret int { return v + v }\n")
    (folder / "inputs" / "a.json").write_text('{"x": 2, "y": 5}')
    (folder / "inputs" / "b.json").write_text('{"unused": 1}')
    return folder


def _run(folder: Path, *extra: str):
    result = CliRunner().invoke(main, ["run", str(folder), "--backend", "plain", "--json",
                                       *extra])
    assert "{" in result.stdout, result.output
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{"):])
    return data["outputs"], data["fingerprint"], result.stderr


def test_the_second_run_does_not_compile_and_prints_the_same(cache, compiles, program):
    first = _run(program)
    assert len(compiles) == 1
    assert len(list(cache.glob("*.json"))) == 1
    second = _run(program)
    assert len(compiles) == 1  # from the cache
    assert second[:2] == first[:2] == ({"b": {"total": 7}}, first[1])
    # the compiler's warning (an input that is never used) is printed again
    assert "unused" in first[2] and "warning" in first[2]
    assert second[2] == first[2]


@pytest.mark.parametrize("change", ["main", "module", "shadow", "param", "limit", "level",
                                    "security"])
def test_any_change_compiles_again(cache, compiles, program, change):
    _run(program)
    extra: list[str] = []
    if change == "main":
        text = PROGRAM.replace("x + y", "x * y")
        (program / "main.mpc").write_text(text)
    elif change == "module":
        (program / "stats.mpc").write_text("fn twice(v: secret int) -> secret int "
                                           "{ return v * 2 }\n")
    elif change == "param":
        extra = ["--param", "n=3"]
    elif change == "limit":
        extra = ["--limit", "unroll=5"]
    elif change == "level":
        extra = ["-O", "1"]
    elif change == "security":
        extra = ["--backend", "rep3", "--security", "malicious"]
    if change == "shadow":
        # a standard-library module used from the shipped library, then shadowed
        text = PROGRAM.replace("use stats", "use ml")
        (program / "main.mpc").write_text(text)
        _run(program)
        assert len(compiles) == 2
        shutil.copy(ROOT / "stdlib" / "ml.mpc", program / "ml.mpc")
        _run(program)
        assert len(compiles) == 3
        return
    if change == "param":  # an unknown parameter is an error: nothing is cached
        result = CliRunner().invoke(main, ["run", str(program), "--backend", "plain", *extra])
        assert result.exit_code != 0
        assert len(compiles) == 2
        return
    if change == "security":
        result = CliRunner().invoke(main, ["run", str(program), "--json", "-q", *extra[2:]])
        assert result.exit_code == 0, result.output
    else:
        _run(program, *extra)
    assert len(compiles) == 2


def test_a_damaged_entry_is_a_miss_and_is_replaced(cache, compiles, program):
    first = _run(program)
    (entry,) = cache.glob("*.json")
    entry.write_text(entry.read_text()[:100])
    assert _run(program)[:2] == first[:2]
    assert len(compiles) == 2
    assert _run(program)[:2] == first[:2]
    assert len(compiles) == 2


@pytest.mark.parametrize("damage", [{"canonical": "[]"}, {"canonical": 5}, {"sources": []},
                                    {"warnings": "w"}, {"warnings": [1]}, None])
def test_an_entry_of_the_wrong_shape_is_a_miss(cache, compiles, program, damage):
    _run(program)
    (entry,) = cache.glob("*.json")
    data = json.loads(entry.read_text())
    entry.write_text(json.dumps([data] if damage is None else {**data, **damage}))
    assert _run(program)[0] == {"b": {"total": 7}}
    assert len(compiles) == 2


def test_off_writes_nothing(tmp_path, monkeypatch, compiles, program):
    monkeypatch.setenv(compile_cache.CACHE_ENV, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    _run(program)
    _run(program)
    assert len(compiles) == 2
    assert not (tmp_path / "xdg").exists()


def test_default_place_is_under_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.delenv(compile_cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compile_cache.cache_dir() == tmp_path / "veil" / "compiled"


def test_a_folder_others_can_write_is_not_used(cache, compiles, program):
    _run(program)
    cache.chmod(0o777)
    _run(program)
    assert len(compiles) == 2  # not read
    (entry,) = cache.glob("*.json")
    before = entry.stat().st_mtime_ns
    _run(program)
    assert entry.stat().st_mtime_ns == before  # nor written
    cache.chmod(0o700)
    _run(program)
    assert len(compiles) == 3


def test_a_cache_that_is_a_file_changes_nothing(tmp_path, monkeypatch, compiles, program):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(blocker))
    assert _run(program)[0] == {"b": {"total": 7}}
    assert _run(program)[0] == {"b": {"total": 7}}
    assert len(compiles) == 2


def test_the_folder_is_private_and_old_entries_go(cache, program, monkeypatch):
    monkeypatch.setattr(compile_cache, "MAX_ENTRIES", 2)
    settings = compile_cache.settings_of({}, 2, None, "plain", "semi-honest", Limits())
    for k in range(4):
        text = f"party a\ninput x: secret int from a\noutput y = x + {k} to a\n"
        assert compile_cache.store(program / "main.mpc", text, settings,
                                   {"main.mpc": text}, "[]", [])
        os.utime(next(iter(sorted(cache.glob("*.json"), key=os.path.getmtime))),
                 ns=(k, k))  # entries told apart by age, oldest first
    assert len(list(cache.glob("*.json"))) == 2
    assert cache.stat().st_mode & 0o777 == 0o700
    assert not list(cache.glob("*.tmp"))


def test_code_stamp_covers_the_grammar_and_the_standard_library():
    roots = [Path(r) for r in compile_cache._roots()]
    for name in ("veil.grammar", "veil.stdlib"):
        folder = Path(str(resources.files(name))).resolve()
        assert any(folder.is_relative_to(root) for root in roots), name


def test_code_stamp_follows_the_files(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    before = compile_cache._tree_stamp(tmp_path)
    (tmp_path / "a.py").write_text("x = 22\n")
    assert compile_cache._tree_stamp(tmp_path) != before
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "a.pyc").write_bytes(b"..")
    assert compile_cache._tree_stamp(tmp_path) == compile_cache._tree_stamp(tmp_path)
    assert len(compile_cache._tree_stamp(tmp_path)) == 1


@pytest.mark.parametrize("folder", PROGRAMS, ids=lambda p: p.name)
def test_every_program_runs_the_same_from_the_cache(cache, folder):
    """The circuit loaded from an entry is the compiled one (same canonical text and
    fingerprint) and computes the same outputs."""
    compiled = compile_path(folder, {}, 2, "rep3")
    source = folder / "main.mpc"
    text = source.read_text()
    settings = compile_cache.settings_of({}, 2, None, "rep3", "semi-honest", Limits())
    assert compile_cache.store(source, text, settings, compiled.sources.files,
                               compiled.canonical, [])
    cached = compile_cache.lookup(source, text, settings)
    assert cached is not None
    assert dumps(cached.executable) == compiled.canonical
    assert cached.fingerprint == compiled.fingerprint
    values = load_inputs(compiled.executable, folder / "inputs")
    want = PlainBackend().run(compiled.executable, values).outputs
    got = PlainBackend().run(cached.executable, values).outputs
    assert want.keys() == got.keys()
    for name in want:
        assert (want[name] == got[name]).all(), name
