"""The conformance suite: ``pytest --pyargs parsync.conformance --parsync-impl=mypkg``.

Three drivers choose the interleavings, all through the same lockstep check
(conformance/driver.py): every observed step must be one the model allows, and
every property must hold on what is observed. Cheap checks run first, so that a
mistake is reported in seconds whichever driver finds it (run with ``-x`` to stop
at the first failure).

* ``test_initial_state``: reset gives the model's Init.
* ``test_quick_lockstep``: the first steps of the edge walk (where a mistake the
  walk can reach usually shows, at its shortest), then a few Hypothesis examples
  on every scope, the smallest first (faults, capacities, gangs of 3).
* ``test_exhaustive_lockstep``: every edge of the model's state graph for a
  small scope (conformance/walk.py), following the implementation's choices;
  it runs first, so a mistake it can reach is reported at its shortest.
* ``test_hypothesis_lockstep``: a Hypothesis state machine over the preset's
  scope (every fault), one rule per step kind, whose failures shrink.
* ``test_replay``: with ``--parsync-replay=FILE``, exactly that interleaving.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


def _run(parsync_conformance: Any, body: Any, config: Any = None) -> None:
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
        parsync_conformance.fail(failure, config)
    if broken is not None:
        _adapter_failure(broken)


def test_initial_state(parsync_conformance: Any) -> None:
    ls = parsync_conformance.lockstep()
    _run(parsync_conformance, ls.reset)
    hidden = ls.hidden_fields()
    print(
        f"observation: policy {parsync_conformance.policy}; worker fields not compared: "
        + (", ".join(hidden) if hidden else "none")
        + "; PS-1..PS-10 checked on what is observed"
    )


def _replay_path(ls: Lockstep, path: list[Step]) -> None:
    ls.reset()
    for s in path:
        ls.step(s)


def test_quick_lockstep(parsync_conformance: Any) -> None:
    """Cheap checks first: the walk's first steps, then a short Hypothesis run per scope."""
    from parsync.conformance.walk import ModelGraph, walk_edges

    ctx = parsync_conformance
    if ctx.preset.quick_walk_steps and ctx.exhaustive_configs:
        config = ctx.exhaustive_configs[0]
        graph = ModelGraph(config, policy=ctx.policy)
        ls = ctx.lockstep(config)
        stats: list[Any] = []

        def walk() -> None:
            stats.append(walk_edges(ls, graph, ctx.preset.quick_walk_steps))

        _run(ctx, walk, config)
        print(f"quick lockstep: the edge walk's first {stats[0].steps} steps")
    if ctx.preset.quick_examples:
        for _name, config in ctx.quick_scopes:
            _hypothesis_on(
                ctx,
                config,
                ctx.preset.quick_examples,
                shrink_seconds=ctx.preset.quick_shrink_seconds,
            )
        names = ", ".join(name for name, _c in ctx.quick_scopes)
        print(f"quick lockstep: {ctx.preset.quick_examples} Hypothesis examples on each of {names}")


def test_exhaustive_lockstep(parsync_conformance: Any) -> None:
    """Every edge of the model's state graph for the preset's exhaustive scopes."""
    from parsync.conformance.walk import ModelGraph, walk_edges

    ctx = parsync_conformance
    scopes = [(c, None) for c in ctx.exhaustive_configs]
    scopes += [(c, p.name) for p, c in zip(ctx.configs, ctx.user_configs, strict=True)]
    for config, user_file in scopes:
        try:
            graph = ModelGraph(config, policy=ctx.policy)
        except ValueError as e:
            if user_file is None:
                raise
            print(f"exhaustive lockstep: {user_file} not walked ({e}); Hypothesis only")
            continue
        ls = parsync_conformance.lockstep(config)
        stats: list[Any] = []

        def walk(ls: Lockstep = ls, graph: ModelGraph = graph, stats: list[Any] = stats) -> None:
            stats.append(walk_edges(ls, graph, parsync_conformance.preset.exhaustive_steps))

        _run(parsync_conformance, walk, config)
        st = stats[0]
        print(
            f"exhaustive lockstep: {st.states} model states, {st.taken}/{st.adapter_edges} "
            f"adapter edges taken in {st.steps} steps and {st.resets} resets"
            + ("" if st.complete else " (step budget reached)")
            + _faults_note(config)
            + (f" [{user_file}]" if user_file else "")
        )
        assert st.taken > 0, "the walk took no edge at all"


def _faults_note(config: Any) -> str:
    f = config.faults
    on = [f"{k}={v}" for k, v in vars(f).items() if v]
    return f" (faults: {', '.join(on)})" if on else ""


def test_hypothesis_lockstep(parsync_conformance: Any) -> None:
    """Random interleavings chosen by Hypothesis; failures shrink to a shortest one."""
    ctx = parsync_conformance
    for i, (name, config) in enumerate(ctx.hypothesis_scopes):
        examples = (
            ctx.preset.examples if i == 0 else ctx.preset.extra_examples or ctx.preset.examples
        )
        _hypothesis_on(ctx, config, examples)
        print(f"hypothesis lockstep: {examples} examples on {name}")


def _hypothesis_on(
    ctx: Any, config: Any, examples: int, shrink_seconds: float | None = None
) -> None:
    """Hypothesis on one scope. With ``shrink_seconds``, shrinking stops after that long
    and the shortest failing interleaving found by then is reported (Hypothesis's own
    stop for slow shrinking, with its limit lowered: every failure it keeps is a real,
    replayable run; the budget only bounds how long it looks for a shorter one)."""
    holder: dict[str, ConformanceFailure] = {}

    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.ls = ctx.lockstep(config)
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
        max_examples=examples,
        stateful_step_count=ctx.preset.steps,
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
            with _shrink_budget(shrink_seconds):
                run_state_machine_as_test(  # type: ignore[no-untyped-call]
                    hseed(ctx.seed)(Machine), settings=s
                )
        except AssertionError:
            if "failure" in holder:  # the shrunk failure, re-run last by Hypothesis
                raise holder["failure"] from None
            raise

    _run(ctx, run, config)


@contextmanager
def _shrink_budget(seconds: float | None) -> Iterator[None]:
    """Lower Hypothesis's limit on the time it spends shrinking one failure (five
    minutes) to ``seconds`` while the block runs; the engine then stops shrinking as it
    does when shrinking is very slow, and reports the smallest failure found so far. A
    Hypothesis without that limit shrinks in full."""
    from hypothesis.internal.conjecture import engine
    from hypothesis.reporting import current_reporter, with_reporter

    old = getattr(engine, "MAX_SHRINKING_SECONDS", None)
    if seconds is None or old is None:
        yield
        return
    outer = current_reporter()

    def reporter(text: object) -> None:
        # the engine's warning names its own five minutes: say what happened instead
        if isinstance(text, str) and "working to shrink a failing example" in text:
            print(
                f"hypothesis: shrinking stopped after {seconds:g} s (the quick stage's "
                "budget); the shortest failing interleaving found by then is reported"
            )
        else:
            outer(text)

    engine.MAX_SHRINKING_SECONDS = seconds  # type: ignore[assignment]
    try:
        with with_reporter(reporter):
            yield
    finally:
        engine.MAX_SHRINKING_SECONDS = old


def test_replay(parsync_conformance: Any) -> None:
    """``--parsync-replay=FILE``: rerun exactly one saved interleaving."""
    if not parsync_conformance.replay:
        pytest.skip("no --parsync-replay file given")
    try:
        config, steps = read_replay(Path(parsync_conformance.replay))
    except ValueError as e:
        pytest.fail(f"parsync: {e}", pytrace=False)
    ls = parsync_conformance.lockstep(config)

    def run() -> None:
        ls.reset()
        for s in steps:
            ls.step(s)

    _run(parsync_conformance, run, config)
