"""The Hypothesis engine (parsync/engines/stateful.py): two independent engines, one verdict.

* The correct model passes the machine on the ``small`` and ``pr`` presets and on
  ``WIDE_CONFIG``, a scope BFS cannot exhaust. These use the active Hypothesis
  profile (``pr`` by default; ``--hypothesis-profile=nightly`` for more).
* Every known-bad variant is caught on the ``pr`` preset, the violation names the
  variant's property, the counterexample replays on the model, and BFS reports
  the same property. These use fixed, deterministic settings whatever the
  profile, so they cost the same in every run.

The variant hunt runs Hypothesis' generate phase only. Finding each variant
takes at most a few seconds, but shrinking the deep ones (retry-off-by-one,
gang-fit-first-bucket-only: 20-odd steps found, 10-12 in the shortest trace)
costs 10-40 s each, because the shrinker replays the run one to two thousand
times at about 0.4 ms of Hypothesis bookkeeping per step. Shrinking itself is
tested on two variants where it is cheap (test_shrinking_...).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from functools import cache

import pytest
from hypothesis import Phase, settings

from parsync.engines.checker import INCOMPLETE, VIOLATION, Checker, CheckResult
from parsync.engines.hypothesis_profiles import PHASES, SUPPRESSED
from parsync.engines.stateful import (
    WIDE_CONFIG,
    PropertyViolation,
    failure_message,
    find_violation,
    make_machine,
)
from parsync.model.actions import (
    ACTION_NAMES,
    CONTRACT_ACTION_TYPES,
    Action,
    Failover,
    StartCycle,
    fmt_action,
)
from parsync.model.config import Config
from parsync.model.presets import get_preset
from parsync.model.properties import action_violations, state_violations
from parsync.model.protocol import ParSyncModel
from parsync.model.variants import (
    CAPACITY_VARIANTS,
    CONTRACT_VARIANTS,
    VARIANT_NAMES,
    get_variant,
)

PR = get_preset("pr").config

# Deterministic budget for hunting the known-bad variants. Measured over six
# seeds, the hardest (gang-fit-first-bucket-only) needs at most ~5,500 steps,
# a few hundred valid runs: 2,000 valid runs of 30 steps is a wide margin, and
# 30 steps leaves room for detours around the deepest shortest trace (12 steps).
CATCH = settings(
    derandomize=True,
    database=None,
    max_examples=2000,
    stateful_step_count=30,
    deadline=None,
    phases=(Phase.generate,),
    suppress_health_check=SUPPRESSED,
    report_multiple_bugs=False,
)
# The same, then shrink.
SHRINK = settings(CATCH, phases=PHASES)


@cache
def hunt(variant: str, shrink: bool = False) -> PropertyViolation | None:
    return find_violation(ParSyncModel(PR, variant), SHRINK if shrink else CATCH)


@cache
def bfs(variant: str) -> CheckResult:
    return Checker(ParSyncModel(PR, variant)).run()


def replay(model: ParSyncModel, steps: tuple[Action, ...]) -> list[str]:
    """Re-run ``steps`` on the model; the properties the last step violates."""
    s = model.init_state()
    bad: list[str] = state_violations(model, s)
    for a in steps:
        t = model.step(s, a)
        assert t is not None, f"{fmt_action(a)} is not enabled"
        bad = action_violations(model, s, a, t) or state_violations(model, t)
        s = t
    return bad


# --- the correct model -----------------------------------------------------------


@pytest.mark.parametrize("preset", ["small", "pr"])
def test_correct_model_passes_preset(preset: str) -> None:
    assert find_violation(ParSyncModel(get_preset(preset).config), settings()) is None


def test_correct_model_passes_wide_scope() -> None:
    assert find_violation(ParSyncModel(WIDE_CONFIG), settings()) is None


def test_wide_scope_is_beyond_bfs() -> None:
    c: Config = WIDE_CONFIG
    assert (c.workers, c.partitions, c.buckets, c.max_cycle) == (3, 3, 6, 6)
    assert len(set(c.capacities)) > 1
    assert sum(1 for n in c.needs if n.gang > 1) >= 2
    f = c.faults
    assert min(f.crash, f.drop, f.duplicate, f.failover) >= 1
    # BFS runs out of a 20k-state budget before covering every interleaving of
    # even six steps; the machine's walks are 50 steps long (100 nightly).
    r = Checker(ParSyncModel(WIDE_CONFIG), max_states=20_000).run()
    assert r.verdict == INCOMPLETE, r.verdict
    assert r.depth <= 6, r.depth


def test_one_rule_per_action_kind() -> None:
    machine = make_machine(ParSyncModel(PR))
    for name in (*ACTION_NAMES, *(t.__name__ for t in CONTRACT_ACTION_TYPES)):
        assert callable(getattr(machine, name, None)), name


# --- the contract policy and the capacity scope -------------------------------------
# The contract's variants on pr with one timeout and one extra read (the scope
# tests/test_policy.py catches them in by BFS), the capacity mistakes on the
# capacity preset; the same deterministic budget as the reference variants.
CONTRACT_PR = dataclasses.replace(
    PR, faults=dataclasses.replace(PR.faults, timeout=1, extra_read=1)
)
HUNTS = [
    *((v.name, CONTRACT_PR, "contract") for v in CONTRACT_VARIANTS),
    *((v.name, get_preset("capacity").config, "reference") for v in CAPACITY_VARIANTS),
]


@pytest.mark.parametrize(("variant", "cfg", "policy"), HUNTS, ids=[h[0] for h in HUNTS])
def test_contract_and_capacity_variants_caught(variant: str, cfg: Config, policy: str) -> None:
    m = ParSyncModel(cfg, variant, policy=policy)
    v = find_violation(m, CATCH)
    assert v is not None, f"Hypothesis did not catch {variant} within {CATCH}"
    expected = get_variant(variant).breaks
    assert expected in v.property_ids, f"expected {expected}, got:\n{v}"
    assert expected in replay(ParSyncModel(cfg, variant, policy=policy), v.steps)
    if policy == "contract":  # the contract's own kinds are rules the machine takes
        assert m.contract


def test_the_contract_machine_takes_the_contract_steps() -> None:
    """The correct contract model passes a short deterministic run, and the run uses
    Timeout, Refresh and Reject steps (rules that never fire on the reference)."""
    m = ParSyncModel(CONTRACT_PR, policy="contract")
    seen: set[str] = set()
    base = make_machine(m)

    class Watch(base):  # type: ignore[misc, valid-type]
        def _take(self, kind: type, data: object) -> None:
            seen.add(kind.__name__)
            super()._take(kind, data)  # type: ignore[arg-type]

    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(Watch, settings=settings(CATCH, max_examples=100))  # type: ignore[no-untyped-call]
    assert {"Timeout", "Refresh", "Reject"} <= seen, seen


# --- every known-bad variant: caught, and BFS agrees ---------------------------


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_variant_caught_and_bfs_agrees(
    variant: str, record_property: Callable[[str, object], None]
) -> None:
    expected = get_variant(variant).breaks
    v = hunt(variant)
    assert v is not None, f"Hypothesis did not catch {variant} within {CATCH}"
    assert expected in v.property_ids, f"expected {expected}, got:\n{v}"
    head = str(v).splitlines()[0]
    assert re.match(r"PS-\d+ \w+(, PS-\d+ \w+)* violated after \d+ steps? ", head), head
    assert expected in re.findall(r"PS-\d+", head.split(" violated")[0])
    # the counterexample is a genuine run of the model that breaks the property
    assert expected in replay(ParSyncModel(PR, variant), v.steps)
    # the other engine: BFS reports the same property first
    r = bfs(variant)
    assert r.verdict == VIOLATION and r.violation is not None
    assert r.violation.property_id == expected
    assert len(r.violation.trace.actions) <= len(v.steps)  # BFS is shortest
    record_property("hypothesis_steps", len(v.steps))
    record_property("bfs_steps", len(r.violation.trace.actions))


@pytest.mark.parametrize("variant", ["no-epoch-fencing", "lagging-replica-failover"])
def test_shrinking_finds_a_short_counterexample(variant: str) -> None:
    found, shrunk = hunt(variant), hunt(variant, shrink=True)
    assert found is not None and shrunk is not None
    assert get_variant(variant).breaks in shrunk.property_ids
    r = bfs(variant)
    assert r.violation is not None
    shortest = len(r.violation.trace.actions)
    assert shortest <= len(shrunk.steps) <= min(len(found.steps), 2 * shortest), str(shrunk)


# --- the failure message ------------------------------------------------------------


def test_failure_message_numbers_the_steps() -> None:
    v = hunt("no-epoch-fencing")
    assert v is not None
    lines = str(v).splitlines()
    n = len(v.steps)
    assert lines[0] == (
        f"PS-9 EpochFencing violated after {n} step{'' if n == 1 else 's'} "
        "(variant no-epoch-fencing):"
    )
    numbered = [re.fullmatch(r"\s*(\d+)\. (.*)", ln) for ln in lines[1:]]
    assert all(m is not None for m in numbered), lines
    assert [int(m.group(1)) for m in numbered if m] == list(range(1, n + 1))
    assert [m.group(2) for m in numbered if m] == [fmt_action(a) for a in v.steps]


def test_failure_message_format() -> None:
    steps: list[Action] = [StartCycle(0), Failover()]
    assert failure_message(["PS-1", "PS-4"], steps) == (
        "PS-1 NoOvercommit, PS-4 AttributionMirror violated after 2 steps:\n"
        "  1. StartCycle(w=0)\n"
        "  2. Failover()"
    )
    assert failure_message(["PS-10"], [], "unbounded-carry-forward") == (
        "PS-10 CarryForwardBound violated after 0 steps (variant unbounded-carry-forward):\n"
        "  (in the initial state)"
    )
