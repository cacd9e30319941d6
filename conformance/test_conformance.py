"""The conformance suite: ``pytest conformance --impl=mypkg``.

Three drivers choose the interleavings, all through the same lockstep check
(conformance/driver.py): every observed step must be one the model allows, and
every property must hold on what is observed.

* ``test_initial_state``: reset gives the model's Init.
* ``test_exhaustive_lockstep``: every edge of the model's state graph for a
  small scope (conformance/walk.py), following the implementation's choices;
  it runs first, so a mistake it can reach is reported at its shortest.
* ``test_hypothesis_lockstep``: a Hypothesis state machine over the preset's
  scope (every fault), one rule per step kind, whose failures shrink.
* ``test_replay``: with ``--parsync-replay=FILE``, exactly that interleaving.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from parsync.conformance.adapter import AdapterError
from parsync.conformance.driver import STEP_KINDS, ConformanceFailure, Lockstep, Step, read_replay


def _adapter_failure(e: AdapterError) -> None:
    pytest.fail(f"parsync: {e}", pytrace=False)


def _run(parsync: Any, body: Any, config: Any = None) -> None:
    """Run ``body``; report a failure outside the except block (no chained tracebacks)."""
    failure: ConformanceFailure | None = None
    broken: AdapterError | None = None
    try:
        body()
    except ConformanceFailure as f:
        failure = f
    except AdapterError as e:
        broken = e
    if failure is not None:
        parsync.fail(failure, config)
    if broken is not None:
        _adapter_failure(broken)


def test_initial_state(parsync: Any) -> None:
    _run(parsync, lambda: parsync.lockstep().reset())


def _replay_path(ls: Lockstep, path: list[Step]) -> None:
    ls.reset()
    for s in path:
        ls.step(s)


def test_exhaustive_lockstep(parsync: Any) -> None:
    """Every edge of the model's state graph for the preset's exhaustive scope."""
    from parsync.conformance.walk import ModelGraph, walk_edges

    config = parsync.exhaustive_config
    graph = ModelGraph(config)
    ls = parsync.lockstep(config)
    stats: list[Any] = []

    def walk() -> None:
        stats.append(walk_edges(ls, graph, parsync.preset.exhaustive_steps))

    _run(parsync, walk, config)
    st = stats[0]
    print(
        f"exhaustive lockstep: {st.states} model states, {st.taken}/{st.adapter_edges} "
        f"adapter edges taken in {st.steps} steps and {st.resets} resets"
        + ("" if st.complete else " (step budget reached)")
    )
    assert st.taken > 0, "the walk took no edge at all"


def test_hypothesis_lockstep(parsync: Any) -> None:
    """Random interleavings chosen by Hypothesis; failures shrink to a shortest one."""
    holder: dict[str, ConformanceFailure] = {}
    ctx = parsync

    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.ls = ctx.lockstep()
            self.ls.reset()

        def teardown(self) -> None:
            self.ls.ad.close()

        def _enabled(self, kind: str) -> list[Step]:
            return [s for s in self.ls.enabled_steps() if s.kind == kind]

        def _do(self, data: st.DataObject, kind: str) -> None:
            options = self._enabled(kind)
            s = data.draw(st.sampled_from(options), label=kind)
            try:
                self.ls.step(s)
            except ConformanceFailure as f:
                holder["failure"] = f
                raise AssertionError(f.headline) from None

    def make_rule(kind: str) -> Any:
        def r(self: Machine, data: st.DataObject) -> None:
            self._do(data, kind)

        r.__name__ = r.__qualname__ = kind
        return precondition(lambda self: bool(self._enabled(kind)))(rule(data=st.data())(r))

    for kind in STEP_KINDS:
        setattr(Machine, kind, make_rule(kind))

    def quiescent(self: Machine) -> None:
        """Nothing is left to do (every cycle run, no message in flight)."""

    idle = precondition(lambda self: not self.ls.enabled_steps())(rule()(quiescent))
    Machine.quiescent = idle

    s = settings(
        max_examples=parsync.preset.examples,
        stateful_step_count=parsync.preset.steps,
        deadline=None,
        derandomize=False,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        report_multiple_bugs=False,
    )
    from hypothesis import seed as hseed

    def run() -> None:
        try:
            run_state_machine_as_test(  # type: ignore[no-untyped-call]
                hseed(parsync.seed)(Machine), settings=s
            )
        except AssertionError:
            if "failure" in holder:  # the shrunk failure, re-run last by Hypothesis
                raise holder["failure"] from None
            raise

    _run(parsync, run)


def test_replay(parsync: Any) -> None:
    """``--parsync-replay=FILE``: rerun exactly one saved interleaving."""
    if not parsync.replay:
        pytest.skip("no --parsync-replay file given")
    try:
        config, steps = read_replay(Path(parsync.replay))
    except ValueError as e:
        pytest.fail(f"parsync: {e}", pytrace=False)
    ls = parsync.lockstep(config)

    def run() -> None:
        ls.reset()
        for s in steps:
            ls.step(s)

    _run(parsync, run, config)
