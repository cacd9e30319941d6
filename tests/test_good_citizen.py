"""The pytest plugin changes nothing of a scheduler team's own project (issue 16).

A project of its own - its own ``model/`` package, a ``conftest.py`` that adds
its own ``--impl`` option, passing and failing tests, a ``tests/test_traces.py``
- is run with the plugin and without it (``-p no:parsync``): the outcomes are
the same, the plugin adds no fixture, option or ini setting without the
``parsync`` prefix, and the conformance suite still runs from that project
(``--pyargs parsync.conformance --parsync-impl=...``) with the project's own
adapter importing the project's own ``model``. The suite's files are imported
by their real dotted name, nothing is put on ``sys.path``; only the suite's own
trace test is deselected, and said so; replay files go to pytest's cache
directory and the printed replay command reruns the failure, in both forms.

These run in the default suite through pytester (a subprocess per run). The
same checks against a real installation of this repository - regular and
editable, in a new virtual environment - are the ``fresh_env`` tests at the
end (about 100 s here: pip installs the dependencies once, into one new
environment, then the repository regular and editable in turn).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.fresh import clean_copy, new_venv, sh

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
SUITE = str(REPO / "conformance")
BAD = "tests.support.model_adapter:variant_priority_ignored"  # fails in the exhaustive walk
HEAVY = ("z3", "hypothesis", "networkx", "rich", "orjson", "parsync.model")
HEAVY_PROBE = (
    "import sys, parsync.conformance.plugin; "
    f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
)


@pytest.fixture(autouse=True)
def _repo_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The subprocesses import this checkout's parsync and its test adapters."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )


# --- an unrelated project ------------------------------------------------------------

PROJECT = {
    "model/__init__.py": '"""The team\'s own model package (nothing to do with parsync)."""\n',
    "model/config.py": 'NAME = "the team\'s model"\n',
    "conftest.py": """
        import pytest

        def pytest_addoption(parser):
            parser.addoption("--impl", default="default-impl", help="the team's own option")

        @pytest.fixture
        def impl(request):
            return request.config.getoption("--impl")
        """,
    "tests/test_model.py": """
        from model.config import NAME

        def test_model_is_theirs():
            assert NAME == "the team's model"

        def test_fails():
            assert 1 == 2
        """,
    "tests/test_traces.py": """
        def test_their_trace_test(impl):
            assert impl == "mine"

        def test_another():
            pass
        """,
    # the team's adapter: their own model package, then the reference scheduler
    "team_adapter.py": """
        import model.config

        from parsync.refsched import parsync_adapter as reference

        def parsync_adapter():
            assert model.config.NAME == "the team's model", model.__file__
            return reference()
        """,
}


def make_project(root: Path) -> Path:
    for name, text in PROJECT.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


@pytest.fixture
def project(pytester: pytest.Pytester) -> Path:
    return make_project(pytester.path)


def test_their_tests_run_exactly_as_without_the_plugin(
    pytester: pytest.Pytester, project: Path
) -> None:
    without = pytester.runpytest_subprocess(
        "-p", "no:parsync", "-p", "no:cacheprovider", "--impl=mine"
    )
    with_ = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--impl=mine")
    assert with_.parseoutcomes() == without.parseoutcomes() == {"passed": 3, "failed": 1}
    assert with_.ret == without.ret == 1
    # their tests/test_traces.py ran, with their own --impl value; nothing deselected
    with_.stdout.fnmatch_lines(["*tests/test_traces.py ..*"])
    assert "deselected" not in with_.stdout.str()


def _fixtures(r: pytest.RunResult) -> set[str]:
    return {
        m.group(1)
        for m in re.finditer(r"^([a-z_][\w]*)(?: \[.*?\])?(?: -- .*)?$", r.stdout.str(), re.M)
    }


def _options(r: pytest.RunResult) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", r.stdout.str()))


def _ini_names(r: pytest.RunResult) -> set[str]:
    return set(re.findall(r"^  ([a-z_]+) \(", r.stdout.str(), re.M))


def test_it_adds_nothing_without_the_parsync_prefix(
    pytester: pytest.Pytester, project: Path
) -> None:
    ours = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    theirs = pytester.runpytest_subprocess(
        "--fixtures", "-p", "no:cacheprovider", "-p", "no:parsync"
    )
    added = _fixtures(ours) - _fixtures(theirs)
    assert added == {"parsync_conformance"}, added
    ours = pytester.runpytest_subprocess("--help", "-p", "no:cacheprovider")
    theirs = pytester.runpytest_subprocess("--help", "-p", "no:cacheprovider", "-p", "no:parsync")
    assert ours.ret == theirs.ret == 0
    added = _options(ours) - _options(theirs)
    assert added and all(o.startswith("--parsync-") for o in added), added
    # their conftest claims --impl, so the alias is absent and --impl is theirs
    assert "--impl" in _options(theirs) and "alias of --parsync-impl" not in ours.stdout.str()
    added_ini = _ini_names(ours) - _ini_names(theirs)
    assert added_ini == {
        "parsync_impl",
        "parsync_preset",
        "parsync_seed",
        "parsync_policy",
        "parsync_configs",
    }


def test_the_impl_alias_exists_when_nobody_claims_it(pytester: pytest.Pytester) -> None:
    r = pytester.runpytest_subprocess("--help", "-p", "no:cacheprovider")
    assert "alias of --parsync-impl" in r.stdout.str()
    r = pytester.runpytest_subprocess(
        "--pyargs",
        "parsync.conformance",
        "--impl=parsync.refsched",
        "--co",
        "-p",
        "no:cacheprovider",
    )
    assert r.ret == 0, r.stdout.str() + r.stderr.str()
    assert "parsync conformance: impl=parsync.refsched preset=pr" in r.stdout.str()


def test_their_impl_and_parsync_impl_together(pytester: pytest.Pytester, project: Path) -> None:
    """A run of the suite beside their option: each option keeps its own value."""
    (project / "tests" / "test_opt.py").write_text(
        "def test_opt(impl):\n    assert impl == 'mine'\n", encoding="utf-8"
    )
    r = pytester.runpytest_subprocess(
        "--pyargs",
        "parsync.conformance",
        "tests/test_opt.py",
        "--impl=mine",
        "--parsync-impl=team_adapter",
        "-k",
        "test_opt or test_initial_state",
        "-p",
        "no:cacheprovider",
    )
    r.assert_outcomes(passed=2)
    assert "parsync conformance: impl=team_adapter" in r.stdout.str()


def test_importing_the_plugin_imports_nothing_heavy() -> None:
    out = subprocess.run(
        [sys.executable, "-c", HEAVY_PROBE], capture_output=True, text=True, check=True, cwd="/"
    ).stdout
    assert out.strip() == "[]", out


# --- the suite's own files, by their real dotted name ---------------------------------

PROBE = """
import sys

import pytest

START = list(sys.path)
NAMES = set()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    NAMES.update(i.module.__name__ for i in items)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    added = [p for p in sys.path if p not in START]
    names = sorted(NAMES)
    with open("probe.txt", "w") as f:
        f.write(f"PROBE added={added} conformance={'conformance' in sys.modules} names={names}")
"""


@pytest.mark.parametrize("form", ["checkout", "pyargs"])
def test_the_suite_is_imported_as_parsync_conformance(pytester: pytest.Pytester, form: str) -> None:
    pytester.makepyfile(parsync_probe=PROBE)
    where = (
        [os.path.relpath(SUITE, pytester.path)]
        if form == "checkout"
        else ["--pyargs", "parsync.conformance"]
    )
    r = pytester.runpytest_subprocess(
        *where,
        "-p",
        "parsync_probe",
        "-p",
        "no:cacheprovider",
        "--parsync-impl=parsync.refsched",
        "--parsync-trace=none.jsonl",  # so the trace module is collected too
        "-k",
        "test_replay",  # a skip: the packages are set up, nothing slow runs
    )
    r.assert_outcomes(skipped=1, deselected=5)
    line = (pytester.path / "probe.txt").read_text()
    assert line == (
        "PROBE added=[] conformance=False "
        "names=['parsync.conformance.test_conformance', 'parsync.conformance.test_traces']"
    ), line


def test_an_import_error_is_a_clean_collection_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    shadow = pytester.mkdir("shadow")
    (shadow / "hypothesis.py").write_text("raise ImportError('no hypothesis here')\n")
    monkeypatch.setenv("PYTHONPATH", f"{shadow}{os.pathsep}{os.environ['PYTHONPATH']}")
    r = pytester.runpytest_subprocess(
        "--pyargs",
        "parsync.conformance",
        "-p",
        "no:hypothesispytest",
        "-p",
        "no:cacheprovider",
        "--parsync-impl=parsync.refsched",
    )
    assert r.ret == pytest.ExitCode.INTERRUPTED, r.stdout.str()
    out = r.stdout.str() + r.stderr.str()
    assert (
        "parsync: cannot import parsync.conformance.test_conformance" in out
        and "ImportError: no hypothesis here" in out
    ), out
    assert "Traceback" not in out


# --- deselection ------------------------------------------------------------------------


def test_only_the_suites_trace_test_is_deselected_and_reported(
    pytester: pytest.Pytester, project: Path
) -> None:
    r = pytester.runpytest_subprocess(
        "--pyargs",
        "parsync.conformance",
        "tests/test_traces.py",
        "--co",
        "-q",
        "-p",
        "no:cacheprovider",
    )
    out = r.stdout.str()
    assert "tests/test_traces.py::test_their_trace_test" in out
    assert "parsync/conformance/test_traces.py" not in out and "test_trace[" not in out
    assert re.search(r"7/8 tests collected \(1 deselected\)", out), out
    r = pytester.runpytest_subprocess(
        "--pyargs",
        "parsync.conformance",
        "--co",
        "-q",
        "-p",
        "no:cacheprovider",
        "--parsync-trace=x.jsonl",
    )
    assert "test_traces.py::test_trace[x.jsonl]" in r.stdout.str()
    assert "deselected" not in r.stdout.str()


# --- ini settings ---------------------------------------------------------------------------


def test_ini_settings_and_the_command_line_overriding_them(pytester: pytest.Pytester) -> None:
    (pytester.path / "configs").mkdir()
    from parsync.model.presets import get_preset

    (pytester.path / "configs" / "small.toml").write_text(_toml(get_preset("small").config))
    pytester.makeini(
        """
        [pytest]
        parsync_impl = parsync.refsched
        parsync_preset = nightly
        parsync_seed = 7
        parsync_configs =
            configs/small.toml
        """
    )
    args = ("--pyargs", "parsync.conformance", "--co", "-p", "no:cacheprovider")
    r = pytester.runpytest_subprocess(*args)
    assert r.ret == 0, r.stderr.str()
    assert "parsync conformance: impl=parsync.refsched preset=nightly seed=7" in r.stdout.str()
    r = pytester.runpytest_subprocess(
        *args, "--parsync-preset=pr", "--parsync-seed=3", f"--parsync-impl={BAD}"
    )
    assert f"parsync conformance: impl={BAD} preset=pr seed=3" in r.stdout.str()


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        ("parsync_preset = huge", "parsync: ini setting parsync_preset: unknown preset 'huge'"),
        ("parsync_seed = -1", "parsync: ini setting parsync_seed: expected a seed >= 0"),
        ("parsync_configs = missing.toml", "parsync_configs: no such file: "),
    ],
)
def test_a_bad_ini_setting_is_one_line(pytester: pytest.Pytester, ini: str, message: str) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    r = pytester.runpytest_subprocess("--co", "-p", "no:cacheprovider")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert message in r.stderr.str()
    assert "Traceback" not in r.stderr.str()


# --- replay files and the printed command -----------------------------------------------


def _rerun(command: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    # the checkout form's rootdir is this repository: keep its cache out of the work tree
    env["PYTEST_ADDOPTS"] = f"-o cache_dir={cache}"
    return subprocess.run(
        command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("form", ["checkout", "pyargs", "bare pytest"])
def test_the_printed_replay_command_reruns_the_failure(
    pytester: pytest.Pytester, form: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    where = (
        [os.path.relpath(SUITE, pytester.path)]
        if form == "checkout"
        else ["--pyargs", "parsync.conformance"]
    )
    args = (*where, f"--parsync-impl={BAD}", "-x", "-o", f"cache_dir={cache}")
    if form == "bare pytest":  # started as the `pytest` script, not `python -m pytest`
        pytest_script = Path(sys.executable).parent / "pytest"
        if not pytest_script.is_file():
            pytest.skip(f"no pytest script beside {sys.executable}")
        r = pytester.run(pytest_script, *args)
    else:
        r = pytester.runpytest_subprocess(*args)
    assert r.ret == 1, r.stdout.str()
    out = r.stdout.str()
    headline = next(ln for ln in out.splitlines() if " at step " in ln).strip()
    command = next(ln for ln in out.splitlines() if ln.startswith("replay: ")).removeprefix(
        "replay: "
    )
    words = shlex.split(command)
    start = ["pytest"] if form == "bare pytest" else ["python", "-m", "pytest"]
    assert words[: len(start)] == start
    assert words[len(start) : len(start) + len(where)] == where  # the form the user ran
    assert words[-2:] == ["-k", "test_replay"] and f"--parsync-impl={BAD}" in words
    replay = Path(next(w for w in words if w.startswith("--parsync-replay=")).split("=", 1)[1])
    replay = replay if replay.is_absolute() else pytester.path / replay
    # under pytest's cache directory, nothing in the current one but what pytester made
    assert replay.is_file() and cache in replay.parents
    assert not (pytester.path / ".parsync").exists()
    again = _rerun(command, pytester.path, tmp_path / "cache2")
    assert again.returncode == 1, again.stdout + again.stderr
    assert headline in again.stdout
    assert re.search(r"1 failed, .*5 deselected", again.stdout), again.stdout[-500:]


def test_without_the_cache_plugin_replays_go_under_the_rootdir(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    r = pytester.runpytest_subprocess(
        "--pyargs", "parsync.conformance", f"--parsync-impl={BAD}", "-x", "-p", "no:cacheprovider"
    )
    assert r.ret == 1
    assert list((pytester.path / ".pytest_cache" / "d" / "parsync-replays").glob("*.json"))
    assert not (pytester.path / ".parsync").exists()


# --- the same against a real installation (fresh_env: a new virtual environment) -------


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """A new virtual environment (no system site packages) and a clean copy of the repo."""
    base = tmp_path_factory.mktemp("citizen")
    repo = base / "parsync-spec"
    repo.mkdir()
    clean_copy(repo)
    env_dir = base / "venv"
    env = new_venv(env_dir)
    return repo, env_dir, env


@pytest.mark.fresh_env
@pytest.mark.parametrize("mode", ["regular", "editable"])
def test_an_installed_copy_is_a_good_citizen(
    installed: tuple[Path, Path, dict[str, str]], mode: str, tmp_path: Path
) -> None:
    repo, env_dir, env = installed
    # one environment: the first install brings the dependencies, the second finds them
    flag = "-e " if mode == "editable" else ""
    r = sh(f"python -m pip install -q {flag}{shlex.quote(str(repo))}", tmp_path, env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    proj = make_project(tmp_path / "team")
    where = sh("python -c 'import parsync, sys; print(parsync.__file__)'", proj, env).stdout
    expected = repo if mode == "editable" else env_dir
    assert where.startswith(str(expected)), where
    # nothing heavy on import
    r = sh(f"python -c {shlex.quote(HEAVY_PROBE)}", proj, env)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr
    # their tests: the same outcomes with and without the plugin
    counts = []
    for extra in ("-p no:parsync", ""):
        r = sh(f"python -m pytest -q -p no:cacheprovider --impl=mine {extra} tests", proj, env)
        counts.append(re.findall(r"\d+ \w+", r.stdout.splitlines()[-1]))
    assert counts[0] == counts[1] == ["1 failed", "3 passed"], counts
    # the suite from their project, against their adapter importing their model
    r = sh(
        "python -m pytest -q -p no:cacheprovider --pyargs parsync.conformance "
        "--parsync-impl=team_adapter --impl=mine -k 'test_initial_state or test_replay'",
        proj,
        env,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert re.search(r"1 passed, 1 skipped, 4 deselected", r.stdout), r.stdout[-500:]
    # bare `pytest` (no current directory on sys.path): the suite's files come in as
    # parsync.conformance.*, and neither the checkout's root (editable: the checkout
    # form, from the copy) nor anything else is put on sys.path (regular: from a directory
    # without a conftest.py, which pytest itself would put on sys.path)
    probes, elsewhere = tmp_path / "probes", tmp_path / "elsewhere"
    probes.mkdir()
    elsewhere.mkdir()
    (probes / "parsync_probe.py").write_text(PROBE, encoding="utf-8")
    cwd, where = (
        (repo, "conformance") if mode == "editable" else (elsewhere, "--pyargs parsync.conformance")
    )
    r = sh(
        f"PYTHONPATH={shlex.quote(str(probes))} pytest {where} -p parsync_probe "
        "-p no:cacheprovider --parsync-impl=parsync.refsched --parsync-trace=none.jsonl "
        "-k test_replay",
        cwd,
        env,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (cwd / "probe.txt").read_text() == (
        "PROBE added=[] conformance=False "
        "names=['parsync.conformance.test_conformance', 'parsync.conformance.test_traces']"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))


def _toml(config: object) -> str:
    """A config as a TOML file (the scope files ``parsync_configs`` names)."""
    d = config.to_dict()  # type: ignore[attr-defined]
    lines = []
    for k, v in d.items():
        if isinstance(v, (dict, list)) and k in ("faults", "needs"):
            continue
        lines.append(f"{k} = {json.dumps(v)}")
    lines.append("[faults]")
    lines += [f"{k} = {v}" for k, v in d["faults"].items()]
    for n in d["needs"]:
        lines.append("[[needs]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in n.items()]
    return "\n".join(lines) + "\n"
