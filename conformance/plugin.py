"""The pytest plugin behind ``pytest conformance --impl=mypkg``.

Registered through the ``pytest11`` entry point, so it is active wherever the
project is installed; it does nothing unless a conformance option is used or
a conformance test asks for its fixtures. Heavy imports happen lazily.

Options (all prefixed ``--parsync-``; ``--impl`` is the short alias users ask
for):

``--impl=MODULE[:FACTORY]``     the implementation under test
``--parsync-preset=pr|nightly`` how hard to look (default: pr)
``--parsync-seed=N``            seed for the Hypothesis driver (default: 0)
``--parsync-replay=FILE``       rerun exactly one saved failing interleaving
``--parsync-step-timeout=S``    per-step timeout in seconds (default: 10)
``--parsync-replay-dir=DIR``    where failing interleavings are written
``--parsync-trace=FILE``        validate an event trace, one test per file (globs allowed)
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from parsync.argtypes import seconds, seed


@dataclass(frozen=True)
class ConformancePreset:
    name: str
    scope: str  # model preset whose Config (with every fault) the Hypothesis driver uses
    exhaustive_faults: bool  # the exhaustive walk's scope keeps the preset's faults
    exhaustive_steps: int  # step budget of the exhaustive walk
    examples: int  # Hypothesis examples
    steps: int  # Hypothesis steps per example


CONFORMANCE_PRESETS = {
    # pr: every edge of the fault-free small scope; Hypothesis over the pr scope
    "pr": ConformancePreset("pr", "pr", False, 50_000, 150, 40),
    # nightly: every edge of the small scope with its faults; a longer Hypothesis run
    "nightly": ConformancePreset("nightly", "nightly", True, 2_000_000, 2000, 80),
}


def _preset(text: str) -> str:
    if text not in CONFORMANCE_PRESETS:
        raise argparse.ArgumentTypeError(
            f"unknown preset {text!r}; choose from {', '.join(CONFORMANCE_PRESETS)}"
        )
    return text


def _existing_file(text: str) -> str:
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"no such replay file: {text!r}")
    return text


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("parsync", "parsync-spec conformance")
    g.addoption(
        "--impl",
        "--parsync-impl",
        dest="parsync_impl",
        default=None,
        metavar="MODULE[:FACTORY]",
        help="scheduler implementation to check (its factory defaults to parsync_adapter)",
    )
    g.addoption(
        "--parsync-preset",
        dest="parsync_preset",
        default="pr",
        type=_preset,
        help="how hard to look: pr (default) or nightly",
    )
    g.addoption(
        "--parsync-seed",
        dest="parsync_seed",
        default=0,
        type=seed,
        help="seed of the Hypothesis driver (default 0)",
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
        default=10.0,
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
        default=".parsync/replays",
        help="where failing interleavings are written (default .parsync/replays)",
    )


def pytest_configure(config: pytest.Config) -> None:
    target = config.getoption("parsync_impl")
    if target:
        from parsync.conformance.adapter import AdapterError, load_adapter

        try:
            ad = load_adapter(target)
        except AdapterError as e:
            raise pytest.UsageError(f"parsync: {e}") from None
        try:
            ad.close()
        except Exception:  # noqa: BLE001 - a bad close shows up again in the tests
            pass


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without ``--parsync-trace`` the trace test is left out altogether (not even skipped)."""
    if not config.getoption("parsync_trace"):
        items[:] = [i for i in items if not i.nodeid.split("::")[0].endswith("test_traces.py")]


def pytest_report_header(config: pytest.Config) -> list[str]:
    target = config.getoption("parsync_impl")
    if not target:
        return []
    return [
        f"parsync conformance: impl={target} preset={config.getoption('parsync_preset')} "
        f"seed={config.getoption('parsync_seed')} "
        f"step-timeout={config.getoption('parsync_step_timeout'):g}s"
        + (
            f" replay={config.getoption('parsync_replay')}"
            if config.getoption("parsync_replay")
            else ""
        )
    ]


class Conformance:
    """What a conformance test needs: the target, the scope, and fresh lockstep drivers."""

    def __init__(self, config: pytest.Config) -> None:
        self.target: str = config.getoption("parsync_impl")
        self.preset = CONFORMANCE_PRESETS[config.getoption("parsync_preset")]
        self.seed: int = config.getoption("parsync_seed")
        self.timeout: float = config.getoption("parsync_step_timeout")
        self.replay: str | None = config.getoption("parsync_replay")
        self.replay_dir = Path(config.getoption("parsync_replay_dir"))
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
        self.exhaustive_config = (
            small if self.preset.exhaustive_faults else replace(small, faults=Faults())
        )
        self._open: list[Any] = []
        self._shared: dict[Any, Any] = {}  # config -> (model, memo tables), per test

    def lockstep(self, config: Any = None) -> Any:
        from parsync.conformance.adapter import load_adapter
        from parsync.conformance.driver import Lockstep, TimedAdapter
        from parsync.model.protocol import ParSyncModel

        cfg = config or self.config
        shared = self._shared.get(cfg)
        if shared is None:
            shared = self._shared[cfg] = (ParSyncModel(cfg), ({}, {}))
        ad = TimedAdapter(load_adapter(self.target), self.timeout)
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
        name = self.target.replace(":", "_").replace(".", "_")
        path = self.replay_dir / f"{name}-{len(failure.steps)}steps.json"
        write_replay(path, config or self.config, failure.steps, failure.headline)
        failure.replay_file = str(path)
        failure.target = self.target
        pytest.fail(str(failure), pytrace=False)


@pytest.fixture
def parsync(request: pytest.FixtureRequest) -> Any:
    """The conformance context; skips the test when no --impl was given."""
    if not request.config.getoption("parsync_impl"):
        pytest.skip("no implementation given: pass --impl=MODULE")
    c = Conformance(request.config)
    yield c
    c.close_all()
