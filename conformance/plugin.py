"""The pytest plugin behind ``pytest --pyargs parsync.conformance --parsync-impl=MODULE``.

Registered through the ``pytest11`` entry point (name ``parsync``), so it is active
wherever the project is installed; it changes nothing of a project that does not
use it (docs/conformance.md, "A good citizen"):

* every option, ini setting and fixture it adds carries the ``parsync`` prefix;
  ``--impl`` is only an alias of ``--parsync-impl``, registered after the initial
  conftest files are loaded and only when nobody else claimed ``--impl``;
* importing it imports nothing heavy (the model, Hypothesis, Z3 load lazily);
* the suite's own test files are imported by their real dotted name,
  ``parsync.conformance.<stem>`` (nothing is put on ``sys.path``, no top-level
  ``conformance`` module appears);
* only the suite's own trace test is deselected (and reported as deselected)
  when no ``--parsync-trace`` is given; a project's own ``test_traces.py`` runs;
* replay files go under pytest's cache directory, never into the current one.

Options (the command line overrides the ini setting of the same name):

``--parsync-impl=MODULE[:FACTORY]`` (ini ``parsync_impl``) the implementation under test
``--parsync-preset=pr|nightly`` (ini ``parsync_preset``) how hard to look (default: pr)
``--parsync-seed=N`` (ini ``parsync_seed``) seed of the Hypothesis driver (default: 0)
``--parsync-policy=contract|reference`` (ini ``parsync_policy``) what is accepted: every
                                choice ADR-0031 leaves open (default), or exactly the
                                reference scheduler's heuristics
``--parsync-replay=FILE``       rerun exactly one saved failing interleaving
``--parsync-step-timeout=S``    per-step timeout in seconds (default: 10)
``--parsync-replay-dir=DIR``    where failing interleavings are written
``--parsync-trace=FILE``        validate an event trace, one test per file (globs allowed)
``--parsync-config=FILE.toml``  a scope of your own (repeatable), with ini ``parsync_configs``
                                (config files, one a line, relative to the ini file)
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
import sys
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from parsync.argtypes import seconds, seed

#: the real folder of the suite (``parsync/conformance`` is a link to it in a checkout)
SUITE_DIR = Path(__file__).resolve().parent
SUITE_PACKAGE = __name__.rpartition(".")[0]  # "parsync.conformance"
ROOT_PACKAGE = SUITE_PACKAGE.partition(".")[0]  # "parsync"
ROOT_DIR = Path(importlib.import_module(ROOT_PACKAGE).__file__ or ".").resolve().parent
TRACE_TEST = SUITE_DIR / "test_traces.py"
DEFAULT_STEP_TIMEOUT = 10.0


@dataclass(frozen=True)
class ConformancePreset:
    name: str
    scope: str  # model preset whose Config (with every fault) the Hypothesis driver uses
    exhaustive_faults: bool  # the exhaustive walk's scope keeps the preset's faults
    exhaustive_steps: int  # step budget of the exhaustive walk
    examples: int  # Hypothesis examples
    steps: int  # Hypothesis steps per example
    extra: tuple[str, ...] = ()  # more model presets for the Hypothesis driver
    extra_local: tuple[str, ...] = ()  # conformance-only scopes (LOCAL_SCOPES)
    extra_examples: int = 0  # Hypothesis examples on each extra scope
    # cheap checks first (test_quick_lockstep): the first steps of the edge walk, then
    # a short Hypothesis run on every scope, smallest first, before the long drivers
    quick_walk_steps: int = 0
    quick_examples: int = 0
    # seconds the quick stage's Hypothesis runs may spend shrinking a failure (from the
    # first failure seen); then the shortest failure seen is reported
    quick_shrink_seconds: float | None = None


#: the quick stage's budget: the walk's first steps (where a mistake the walk can reach
#: usually shows, at its shortest) and a few Hypothesis examples per scope
QUICK_WALK_STEPS = 2_000
QUICK_EXAMPLES = 12
#: and how long its Hypothesis runs may shrink a failure: shrinking a 17-step failure
#: to 13 steps took 25 s of a 37 s time-to-kill, most of it after the shortest run was
#: already found (room_as_used_below_cap, bench/results/conformance-pr.json)
QUICK_SHRINK_SECONDS = 5.0

CONFORMANCE_PRESETS = {
    # pr: every edge of the fault-free small scope; Hypothesis over the pr scope,
    # then over the capacity scope and a gang of 3
    "pr": ConformancePreset(
        "pr",
        "pr",
        False,
        50_000,
        150,
        40,
        ("capacity",),
        ("gang-of-3", "partly-used"),
        60,
        quick_walk_steps=QUICK_WALK_STEPS,
        quick_examples=QUICK_EXAMPLES,
        quick_shrink_seconds=QUICK_SHRINK_SECONDS,
    ),
    # nightly: every edge of the small scope with its faults; a longer Hypothesis run,
    # also over P = 3
    "nightly": ConformancePreset(
        "nightly",
        "nightly",
        True,
        2_000_000,
        2000,
        80,
        ("capacity", "three-partitions"),
        ("gang-of-3", "partly-used"),
        500,
        quick_walk_steps=QUICK_WALK_STEPS,
        quick_examples=QUICK_EXAMPLES,
        quick_shrink_seconds=QUICK_SHRINK_SECONDS,
    ),
}


def _gang_of_3() -> Any:
    """A gang of 3 over 3 buckets, one of which another need may fill first: a gang
    rule that checks fewer than three buckets overcommits the third."""
    from parsync.model.config import Config, Need

    return Config(
        workers=2,
        partitions=2,
        capacities=(1, 1, 1),
        needs=(
            Need(owner=1, priority=2, arrival=1, eligible=(2,)),
            Need(owner=0, priority=1, arrival=1, gang=3),
        ),
        retry_budget=1,
        strategy="quality-first",
        max_cycle=2,
    )


def _partly_used() -> Any:
    """A size-2 need whose only bucket (capacity 2) a size-1 need may fill first: a fit
    rule that asks only ``used < capacity`` places it on the half-full bucket."""
    from parsync.model.config import Config, Need

    return Config(
        workers=2,
        partitions=2,
        capacities=(2, 1),
        needs=(
            Need(owner=0, priority=1, arrival=1, eligible=(0,)),
            Need(owner=1, priority=2, arrival=1, size=2, eligible=(0,)),
        ),
        retry_budget=1,
        strategy="quality-first",
        max_cycle=2,
    )


#: conformance-only scopes, by name, for ``ConformancePreset.extra_local``
LOCAL_SCOPES = {"gang-of-3": _gang_of_3, "partly-used": _partly_used}


def _load_user_config(path: Path) -> Any:
    from parsync.model.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as e:
        raise pytest.UsageError(f"parsync: {e}") from None


def _preset(text: str) -> str:
    if text not in CONFORMANCE_PRESETS:
        raise argparse.ArgumentTypeError(
            f"unknown preset {text!r}; choose from {', '.join(CONFORMANCE_PRESETS)}"
        )
    return text


POLICY_NAMES = ("contract", "reference")


def _policy(text: str) -> str:
    if text not in POLICY_NAMES:
        raise argparse.ArgumentTypeError(
            f"unknown policy {text!r}; choose from {', '.join(POLICY_NAMES)}"
        )
    return text


def _existing_file(text: str) -> str:
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"no such replay file: {text!r}")
    return text


IMPL_HELP = "scheduler implementation to check (its factory defaults to parsync_adapter)"


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("parsync", "parsync-spec conformance")
    g.addoption(
        "--parsync-impl",
        dest="parsync_impl",
        default=None,
        metavar="MODULE[:FACTORY]",
        help=IMPL_HELP + " (ini: parsync_impl)",
    )
    g.addoption(
        "--parsync-preset",
        dest="parsync_preset",
        default=None,
        type=_preset,
        help="how hard to look: pr (default) or nightly (ini: parsync_preset)",
    )
    g.addoption(
        "--parsync-seed",
        dest="parsync_seed",
        default=None,
        type=seed,
        help="seed of the Hypothesis driver (default 0; ini: parsync_seed)",
    )
    g.addoption(
        "--parsync-policy",
        dest="parsync_policy",
        default=None,
        type=_policy,
        help="what the model accepts: contract (default: every choice ADR-0031 leaves "
        "open) or reference (the reference heuristics) (ini: parsync_policy)",
    )
    g.addoption(
        "--parsync-config",
        dest="parsync_config",
        action="append",
        default=[],
        metavar="FILE.toml",
        help="a scope of your own (repeatable): walked exhaustively when small enough, "
        "and driven by Hypothesis (ini: parsync_configs)",
    )
    g.addoption(
        "--parsync-replay",
        dest="parsync_replay",
        default=None,
        type=_existing_file,
        help="rerun one saved failing interleaving (use with -k test_replay)",
    )
    g.addoption(
        "--parsync-step-timeout",
        dest="parsync_step_timeout",
        default=DEFAULT_STEP_TIMEOUT,
        type=seconds,
        help="seconds an adapter call may take (default 10)",
    )
    g.addoption(
        "--parsync-trace",
        dest="parsync_trace",
        action="append",
        default=[],
        metavar="FILE",
        # not --trace: pytest owns that name (a flag that starts the debugger)
        help="validate a JSONL event trace against the model (repeatable; globs allowed)",
    )
    g.addoption(
        "--parsync-replay-dir",
        dest="parsync_replay_dir",
        default=None,
        help="where failing interleavings are written (default: parsync-replays "
        "under pytest's cache directory)",
    )
    parser.addini("parsync_impl", "parsync: the implementation under test (MODULE[:FACTORY])")
    parser.addini("parsync_preset", "parsync: conformance preset, pr or nightly")
    parser.addini("parsync_seed", "parsync: seed of the Hypothesis driver")
    parser.addini("parsync_policy", "parsync: what the model accepts, contract or reference")
    parser.addini(
        "parsync_configs",
        "parsync: config files (TOML) for the suite, one a line, relative to the ini file",
        type="linelist",
    )


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> Generator[None, None, None]:
    """``--impl`` is an alias of ``--parsync-impl`` unless someone else claims it.

    The initial conftest files add their options while this hook runs, after every
    plugin's ``pytest_addoption``; so the alias is added only now, and a project's
    own ``--impl`` (or another plugin's) wins without a conflict.
    """
    yield
    claimed = _claimed(parser, "--impl")
    if not claimed:
        parser.getgroup("parsync").addoption(
            "--impl",
            dest="parsync_impl",
            default=None,
            metavar="MODULE[:FACTORY]",
            help="alias of --parsync-impl (absent when the project defines its own --impl)",
        )
    early_config.stash[IMPL_ALIAS] = not claimed


def _claimed(parser: pytest.Parser, name: str) -> bool:
    """Whether an option string is taken. Asked before adding: a failed ``addoption``
    would already have mapped the name to our destination (pytest records it first),
    so the project's ``config.getoption("--impl")`` would read ours."""
    # pytest's own record of every option added (pytest 8 builds argparse's parser late)
    groups = [getattr(parser, "_anonymous", None), *getattr(parser, "_groups", [])]
    if any(name in opt.names() for g in groups if g is not None for opt in g.options):
        return True
    # argparse's table (pytest 9 adds each option to it at once)
    actions = getattr(getattr(parser, "optparser", None), "_option_string_actions", None)
    return isinstance(actions, dict) and name in actions


IMPL_ALIAS = pytest.StashKey[bool]()


@dataclass(frozen=True)
class Settings:
    """The conformance settings: the command line, else the ini file, else the default."""

    impl: str | None
    preset: str
    seed: int
    configs: tuple[Path, ...]
    policy: str = "contract"


def _ini(config: pytest.Config, name: str) -> Any:
    return config.getini(name) or None


def read_settings(config: pytest.Config) -> Settings:
    """The settings, validated; a bad ini value is a one-line ``pytest.UsageError``."""

    def check(name: str, value: str, kind: Any) -> Any:
        try:
            return kind(value)
        except argparse.ArgumentTypeError as e:
            raise pytest.UsageError(f"parsync: ini setting {name}: {e}") from None

    impl = config.getoption("parsync_impl") or _ini(config, "parsync_impl")
    preset = config.getoption("parsync_preset")
    if preset is None:
        raw = _ini(config, "parsync_preset")
        preset = check("parsync_preset", raw.strip(), _preset) if raw else "pr"
    sd = config.getoption("parsync_seed")
    if sd is None:
        raw = _ini(config, "parsync_seed")
        sd = check("parsync_seed", raw.strip(), seed) if raw else 0
    policy = config.getoption("parsync_policy")
    if policy is None:
        raw = _ini(config, "parsync_policy")
        policy = check("parsync_policy", raw.strip(), _policy) if raw else "contract"
    base = config.inipath.parent if config.inipath else config.invocation_params.dir
    configs = []
    for given in config.getoption("parsync_config") or []:
        p = Path(given)
        p = p if p.is_absolute() else config.invocation_params.dir / p
        if not p.is_file():
            raise pytest.UsageError(f"parsync: --parsync-config: no such file: {given}")
        configs.append(p)
    for line in config.getini("parsync_configs"):
        p = base / line.strip()
        if not p.is_file():
            raise pytest.UsageError(f"parsync: ini setting parsync_configs: no such file: {p}")
        configs.append(p)
    return Settings(impl.strip() if impl else None, preset, sd, tuple(configs), policy)


SETTINGS = pytest.StashKey[Settings]()


def settings_of(config: pytest.Config) -> Settings:
    got = config.stash.get(SETTINGS, None)
    if got is None:
        got = config.stash[SETTINGS] = read_settings(config)
    return got


def pytest_configure(config: pytest.Config) -> None:
    st = settings_of(config)
    target = st.impl
    if target:
        for p in st.configs:  # a bad scope file is a usage error before any test
            _load_user_config(p)
        from parsync.conformance.adapter import AdapterError, load_adapter

        try:
            ad = load_adapter(target)
        except AdapterError as e:
            raise pytest.UsageError(f"parsync: {e}") from None
        try:
            ad.close()
        except Exception:  # noqa: BLE001 - a bad close shows up again in the tests
            pass


# --- collection of the suite's own files by their real dotted name -----------------


def _package_of(path: Path) -> str | None:
    """``parsync`` or ``parsync.conformance`` when ``path`` is that package's real folder."""
    real = path.resolve()
    if real == SUITE_DIR:
        return SUITE_PACKAGE
    if real == ROOT_DIR:
        return ROOT_PACKAGE
    return None


def _import(node: pytest.Collector, name: str) -> Any:
    """Import ``name`` with importlib (nothing added to sys.path); a clean collection error."""
    try:
        mod = importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - any import-time error is a collection error
        raise node.CollectError(
            f"parsync: cannot import {name} ({node.path}): {type(e).__name__}: {e}"
        ) from None
    node.config.pluginmanager.consider_module(mod)
    return mod


class SuitePackage(pytest.Package):
    """``parsync`` or ``parsync.conformance``: set up by importing it by name."""

    dotted: str = ""

    def setup(self) -> None:
        _import(self, self.dotted)


class SuiteModule(pytest.Module):
    """A test file of the suite, imported as ``parsync.conformance.<stem>``."""

    def _getobj(self) -> Any:
        return _import(self, f"{SUITE_PACKAGE}.{self.path.stem}")


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    name = _package_of(path)
    if name is None or not (path / "__init__.py").is_file():
        return None
    pkg = SuitePackage.from_parent(parent, path=path)
    pkg.dotted = name
    return pkg


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> Any:
    if module_path.resolve().parent != SUITE_DIR or module_path.name == "__init__.py":
        return None
    return SuiteModule.from_parent(parent, path=module_path)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without ``--parsync-trace`` the suite's own trace test is deselected (and reported)."""
    if config.getoption("parsync_trace"):
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        (drop if Path(item.path).resolve() == TRACE_TEST else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config: pytest.Config) -> list[str]:
    st = settings_of(config)
    if not st.impl:
        return []
    return [
        f"parsync conformance: impl={st.impl} preset={st.preset} "
        f"seed={st.seed} policy={st.policy} "
        f"step-timeout={config.getoption('parsync_step_timeout'):g}s"
        + (
            f" replay={config.getoption('parsync_replay')}"
            if config.getoption("parsync_replay")
            else ""
        )
    ]


# --- replay files and the command that reruns one ----------------------------------


def replay_dir(config: pytest.Config) -> Path:
    """``--parsync-replay-dir``, else ``parsync-replays`` in pytest's cache directory
    (``.pytest_cache`` under the rootdir), else (cache plugin off) under the rootdir."""
    given = config.getoption("parsync_replay_dir")
    if given:
        return Path(given)
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("parsync-replays"))
    return config.rootpath / ".pytest_cache" / "d" / "parsync-replays"


def _shown(path: Path, cwd: Path) -> str:
    try:
        return str(path.resolve().relative_to(cwd.resolve()))
    except ValueError:
        return str(path.resolve())


def replay_command(config: pytest.Config, replay_file: Path) -> str:
    """The command that reruns one failure, in the form the user ran the suite:
    ``pytest conformance ...`` from a checkout, ``pytest --pyargs parsync.conformance ...``
    from an installed copy; ``python -m pytest`` when that is how pytest was started."""
    cwd = config.invocation_params.dir
    argv0 = Path(sys.argv[0]).name if sys.argv else "pytest"
    cmd = ["python", "-m", "pytest"] if argv0 == "__main__.py" else ["pytest"]
    pyargs = bool(config.getoption("pyargs"))
    suite_args: list[str] = []
    for a in config.args:
        path_part = a.split("::", 1)[0]
        if pyargs and (path_part == SUITE_PACKAGE or path_part.startswith(SUITE_PACKAGE + ".")):
            suite_args.append(path_part)
            continue
        p = Path(path_part)
        p = p if p.is_absolute() else cwd / p
        try:
            real = p.resolve()
        except OSError:
            continue
        if real == SUITE_DIR or SUITE_DIR in real.parents:
            suite_args.append(path_part)
    if pyargs:
        cmd.append("--pyargs")
        suite_args = suite_args or [SUITE_PACKAGE]
    elif not suite_args:
        suite_args = [_shown(SUITE_DIR, cwd)]
    cmd += suite_args
    st = settings_of(config)
    cmd.append(f"--parsync-impl={st.impl}")
    if st.policy != "contract":
        cmd.append(f"--parsync-policy={st.policy}")
    timeout = config.getoption("parsync_step_timeout")
    if timeout != DEFAULT_STEP_TIMEOUT:
        cmd.append(f"--parsync-step-timeout={timeout:g}")
    cmd += [f"--parsync-replay={_shown(replay_file, cwd)}", "-k", "test_replay"]
    return shlex.join(cmd)


class Conformance:
    """What a conformance test needs: the target, the scope, and fresh lockstep drivers."""

    def __init__(self, config: pytest.Config) -> None:
        st = settings_of(config)
        assert st.impl is not None
        self.pytest_config = config
        self.target: str = st.impl
        self.preset = CONFORMANCE_PRESETS[st.preset]
        self.seed: int = st.seed
        self.policy: str = st.policy
        self.configs: tuple[Path, ...] = st.configs  # ini parsync_configs (checked to exist)
        self.timeout: float = config.getoption("parsync_step_timeout")
        self.replay: str | None = config.getoption("parsync_replay")
        self.replay_dir = replay_dir(config)
        from dataclasses import replace

        from parsync.model.config import Faults
        from parsync.model.presets import get_preset

        # the Hypothesis driver enumerates nothing, so its scope can afford every
        # fault, message duplication included
        self.config = replace(
            get_preset(self.preset.scope).config,
            faults=Faults(crash=1, drop=1, duplicate=1, failover=1),
        )
        small = get_preset("small").config
        if not self.preset.exhaustive_faults:
            walks = [replace(small, faults=Faults())]
        elif self.policy == "reference":
            walks = [small]  # its drop and failover together: 111,204 states
        else:
            # under the contract small with both faults has 1,614,092 states, too many
            # to walk; each fault alone fits (243,989 and 214,028 states)
            walks = [
                replace(small, faults=Faults(drop=1)),
                replace(small, faults=Faults(failover=1)),
            ]
        self.exhaustive_configs: tuple[Any, ...] = tuple(walks)
        self.exhaustive_config = walks[0]
        # scopes that unit sizes, capacity 1 and gangs of 2 cannot show: capacities
        # 2-3, sizes 1-2, eligible sets, a partition map, P = 3, a gang of 3
        every_fault = Faults(crash=1, drop=1, duplicate=1, failover=1)
        extra = [replace(get_preset(n).config, faults=every_fault) for n in self.preset.extra]
        extra += [replace(LOCAL_SCOPES[n](), faults=every_fault) for n in self.preset.extra_local]
        self.user_configs = tuple(_load_user_config(p) for p in self.configs)
        #: (name, config) of every scope the Hypothesis driver runs on, in order
        self.hypothesis_scopes: tuple[tuple[str, Any], ...] = (
            (self.preset.scope, self.config),
            *zip(self.preset.extra + self.preset.extra_local, extra, strict=True),
            *((p.name, c) for p, c in zip(self.configs, self.user_configs, strict=True)),
        )
        #: the same scopes as the quick stage takes them: the tiny conformance-only
        #: scopes first, then the extra presets, the preset's own scope, the user's
        n_extra = len(self.preset.extra)
        main, rest = self.hypothesis_scopes[0], self.hypothesis_scopes[1:]
        self.quick_scopes: tuple[tuple[str, Any], ...] = (
            *rest[n_extra : n_extra + len(self.preset.extra_local)],
            *rest[:n_extra],
            main,
            *rest[n_extra + len(self.preset.extra_local) :],
        )
        self._open: list[Any] = []
        self._shared: dict[Any, Any] = {}  # config -> (model, memo tables), per test

    def lockstep(self, config: Any = None) -> Any:
        from parsync.conformance.adapter import load_adapter
        from parsync.conformance.driver import Lockstep, TimedAdapter, lockstep_model

        cfg = config or self.config
        shared = self._shared.get(cfg)
        if shared is None:
            shared = self._shared[cfg] = (lockstep_model(cfg, self.policy), ({}, {}))
        # an exec adapter enforces the step timeout itself, naming the call; the
        # thread's timeout is only a backstop
        piped = self.target.startswith("exec:")
        ad = TimedAdapter(
            load_adapter(self.target, self.timeout), self.timeout + (2.0 if piped else 0.0)
        )
        self._open.append(ad)
        return Lockstep(ad, cfg, model=shared[0], memo=shared[1])

    def close_all(self) -> None:
        for ad in self._open:
            try:
                ad.close()
            except Exception:  # noqa: BLE001
                pass
        self._open.clear()

    def fail(self, failure: Any, config: Any = None) -> None:
        """Write the replay file and fail the test with the failure's text, no traceback."""
        from parsync.conformance.driver import write_replay

        self.replay_dir.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", self.target).strip("_")[:80]
        path = self.replay_dir / f"{name}-{len(failure.steps)}steps.json"
        write_replay(path, config or self.config, failure.steps, failure.headline)
        failure.replay_file = str(path)
        failure.target = self.target
        failure.replay_command = replay_command(self.pytest_config, path)
        pytest.fail(str(failure), pytrace=False)


@pytest.fixture
def parsync_conformance(request: pytest.FixtureRequest) -> Any:
    """The conformance context; skips the test when no implementation was given."""
    if not settings_of(request.config).impl:
        pytest.skip("no implementation given: pass --parsync-impl=MODULE")
    c = Conformance(request.config)
    yield c
    c.close_all()
