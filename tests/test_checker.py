"""The explicit-state checker against the model, its variants and its own fast paths.

* the correct model passes on ``small`` with every witness reached and every
  applicable action fired (pinned counts);
* every known-bad variant is caught on ``pr`` with the property it is known to
  break, by a shortest counterexample of pinned length, which replays and
  re-violates the same property under the slow, readable predicates;
* symmetry reduction changes the counts, never the verdict;
* budgets stop cleanly with an ``incomplete`` verdict, a weak scope is reported
  as ``vacuous``;
* the checker's memoised property evaluation equals the readable predicates on
  random walks;
* ITF and JSON exports are well-formed and replayable.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest

from parsync.counterexample import ReplayError, Trace, actions_from_json, replay
from parsync.engines.checker import (
    INCOMPLETE,
    PASS,
    VACUOUS,
    VIOLATION,
    Checker,
    CheckResult,
    Progress,
    applicable_actions,
)
from parsync.engines.symmetry import Symmetry
from parsync.model.actions import (
    ACTION_NAMES,
    Action,
    Commit,
    Crash,
    Defer,
    Drop,
    Duplicate,
    Failover,
    HandleReply,
    Propose,
    Recover,
    Release,
    StartCycle,
    action_from_json,
    action_to_json,
    fmt_action,
)
from parsync.model.config import Config, Faults, Need
from parsync.model.presets import get_preset
from parsync.model.properties import (
    WITNESSES,
    action_violations,
    get_property,
    state_violations,
    witness_applicable,
)
from parsync.model.protocol import ParSyncModel
from parsync.model.state import CONFLICT, Proposal, Reply, State
from parsync.model.variants import VARIANT_NAMES, VARIANTS, get_variant

PR = get_preset("pr").config
SMALL = get_preset("small").config

# Shortest counterexample length (number of actions) per variant on the "pr"
# preset, measured once; BFS makes them deterministic.
PINNED_TRACE_LENGTHS: dict[str, int] = {
    "validate-fresh-partition-only": 6,
    "gang-fit-first-bucket-only": 10,
    "gang-second-bucket-no-bump": 8,
    "rotation-skips-partition": 4,
    "recovered-keeps-view": 4,
    "release-keeps-ledger": 4,
    "no-dedup": 7,
    "no-epoch-fencing": 4,
    "lagging-replica-failover": 4,
    "priority-ignored": 5,
    "retry-off-by-one": 12,
    "unbounded-carry-forward": 1,
}

# Exhaustive counts of the correct model on "small" (no symmetry).
SMALL_COUNTS = {"states": 111_204, "transitions": 257_200, "depth": 33}

# Twin workers with identical need profiles and two equal-capacity buckets per
# partition (partition 0 = {b0, b2}, partition 1 = {b1, b3}): a symmetry group of
# 2 (workers) x 2 x 2 (buckets) = 8.
TWINS = Config(
    workers=2,
    partitions=2,
    capacities=(1, 1, 1, 1),
    needs=(
        Need(owner=0, priority=1, arrival=1, gang=2),
        Need(owner=1, priority=1, arrival=1, gang=2),
    ),
    strategy="adaptive",
    max_cycle=2,
    faults=Faults(failover=1),
)
TWINS_COUNTS = {"plain": 70_389, "symmetric": 11_660}
# variants reachable at the TWINS scope (gang-fit-first-bucket-only keeps only
# worker symmetry: its behaviour depends on the order of a gang's buckets)
TWINS_VARIANTS = (
    "validate-fresh-partition-only",
    "gang-fit-first-bucket-only",
    "rotation-skips-partition",
    "release-keeps-ledger",
    "no-epoch-fencing",
    "lagging-replica-failover",
    "retry-off-by-one",
)


@cache
def pr_variant_result(name: str) -> CheckResult:
    return Checker(ParSyncModel(PR, name)).run()


def readable_violations(m: ParSyncModel, s: State, a: Action, t: State) -> list[str]:
    """Every property the step s -a-> t breaks, by the slow, readable predicates."""
    return sorted(
        {*action_violations(m, s, a, t), *state_violations(m, t)},
        key=lambda i: int(i.split("-")[1]),
    )


def typed(actions: list[Action]) -> list[tuple[str, Action]]:
    """(class, value) pairs: a comparison that cannot mistake Crash(0) for Release(0)."""
    return [(type(a).__name__, a) for a in actions]


def random_walk(m: ParSyncModel, rng: random.Random) -> Iterator[tuple[State, Action, State]]:
    """One random path from Init until no action is enabled (the cycle bound ends it)."""
    s = m.init_state()
    while True:
        succ = list(m.successors(s))
        if not succ:
            return
        a, t = rng.choice(succ)
        yield s, a, t
        s = t


# --- (a) the correct model on "small" -------------------------------------------------------------


def test_small_every_property_holds_and_nothing_is_vacuous() -> None:
    m = ParSyncModel(SMALL)
    r = Checker(m).run()
    assert r.verdict == PASS, r.to_json()
    assert r.ok
    assert r.violation is None
    assert r.stop_reason == ""
    assert r.unfired == []
    for w in WITNESSES:
        expected = True if witness_applicable(m, w) else None
        assert r.witnesses[w.id] is expected, w.id
    assert r.missing_witnesses == []
    app = applicable_actions(m)
    assert set(app) == set(ACTION_NAMES) - {"Crash", "Recover", "Duplicate"}
    for a in ACTION_NAMES:
        assert (r.coverage[a] > 0) == (a in app), a
    assert sum(r.coverage.values()) == r.transitions
    assert {"states": r.states, "transitions": r.transitions, "depth": r.depth} == SMALL_COUNTS
    assert r.symmetry == 1


def test_check_result_json_shape() -> None:
    r = pr_variant_result("no-epoch-fencing")
    d = json.loads(json.dumps(r.to_json()))
    assert d["verdict"] == VIOLATION
    assert d["variant"] == "no-epoch-fencing"
    assert d["violation"]["property"] == "PS-9"
    assert d["violation"]["length"] == PINNED_TRACE_LENGTHS["no-epoch-fencing"]
    assert len(d["violation"]["trace"]["actions"]) == d["violation"]["length"]
    assert d["states"] == r.states and d["transitions"] == r.transitions


# --- (b) every variant is caught on "pr" with its own property ------------------------------------


def test_pinned_lengths_cover_every_variant() -> None:
    assert set(PINNED_TRACE_LENGTHS) == set(VARIANT_NAMES)


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_variant_is_caught_on_pr(name: str) -> None:
    v = get_variant(name)
    r = pr_variant_result(name)
    assert r.verdict == VIOLATION
    assert r.violation is not None
    assert v.breaks in r.violation.property_ids
    assert r.violation.property_id == v.breaks, r.violation.property_ids
    assert len(r.violation.trace.actions) == PINNED_TRACE_LENGTHS[name]
    assert len(r.violation.trace.states) == len(r.violation.trace.actions)
    assert r.variant == name


def test_every_safety_property_is_broken_by_some_variant() -> None:
    from parsync.model.properties import SAFETY_IDS
    from parsync.model.variants import GROUND_TRUTH_VARIANTS

    # PS-11 has only the ground-truth variant (tests/test_ground_truth.py pins it on pr)
    assert {v.breaks for v in (*VARIANTS, *GROUND_TRUTH_VARIANTS)} == set(SAFETY_IDS)


# --- (c) counterexamples replay and re-violate under the readable predicates ----------------------


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_counterexample_replays_and_reviolates(name: str) -> None:
    v = get_variant(name)
    r = pr_variant_result(name)
    assert r.violation is not None
    tr = r.violation.trace
    # an independent model instance, without the component memo tables
    m = ParSyncModel(PR, name, memo=False)
    again = replay(m, tr.actions)
    assert again.init == tr.init == m.init_state()
    assert again.states == tr.states
    assert state_violations(m, again.init) == []
    steps = again.steps()
    for i, (a, s, t) in enumerate(steps[:-1], 1):
        assert readable_violations(m, s, a, t) == [], f"step {i} of a shortest trace"
    a, s, t = steps[-1]
    found = readable_violations(m, s, a, t)
    assert v.breaks in found
    assert set(r.violation.property_ids) <= set(found)


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_violation_lists_every_property_broken_by_the_final_step(name: str) -> None:
    r = pr_variant_result(name)
    assert r.violation is not None
    m = ParSyncModel(PR, name)
    a, s, t = r.violation.trace.steps()[-1]
    # the step's own (action) violations first, then those of the state it reached
    assert sorted(r.violation.property_ids) == sorted(readable_violations(m, s, a, t))
    assert len(set(r.violation.property_ids)) == len(r.violation.property_ids)
    assert r.violation.property_id == get_variant(name).breaks


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_counterexample_is_harmless_in_the_correct_model(name: str) -> None:
    """The same actions, run against the correct protocol, break nothing."""
    r = pr_variant_result(name)
    assert r.violation is not None
    m = ParSyncModel(PR)
    try:
        tr = replay(m, r.violation.trace.actions)
    except ReplayError:
        return  # the bad step is not even possible in the correct protocol
    for a, s, t in tr.steps():
        assert readable_violations(m, s, a, t) == []


def test_replay_matches_the_action_type_not_just_its_fields() -> None:
    """Release(0), Crash(0) and StartCycle(0) have equal fields (the tuple (0,))."""
    m = ParSyncModel(PR)
    p = Proposal(
        worker=0, need=0, priority=1, epoch=0, reads=((0, 0),), cycle=1, attempt=1, fresh=1
    )
    tr = replay(m, [StartCycle(0), Propose(0, (0,)), Commit(p), Release(0)])
    last = tr.last
    assert last.broker.status[0] == 2  # RELEASED
    assert last.workers[0].up and last.faults == (0, 0, 0)
    tr = replay(m, [StartCycle(0), Propose(0, (0,)), Drop(p)])
    assert tr.last.broker.status[0] == 0 and tr.last.to_broker == ()
    assert tr.last.faults == (0, 1, 0)


def test_model_step_matches_the_action_type() -> None:
    assert StartCycle(0) != Crash(0) and Release(0) != Crash(0) and Defer(1) != Recover(1)
    assert len({StartCycle(0), Crash(0), Release(0), Recover(0), Defer(0)}) == 5
    m = ParSyncModel(PR)
    p = Proposal(
        worker=0, need=0, priority=1, epoch=0, reads=((0, 0),), cycle=1, attempt=1, fresh=1
    )
    s = replay(m, [StartCycle(0), Propose(0, (0,)), Commit(p)]).last
    t = m.step(s, Release(0))
    assert t is not None and t.workers[0].up and t.broker.status[0] == 2


def test_replay_rejects_a_disabled_action() -> None:
    m = ParSyncModel(PR)
    with pytest.raises(ReplayError, match=r"step 2: Propose\(w=1, buckets=\[0\]\) is not enabled"):
        replay(m, [StartCycle(0), Propose(1, (0,))])


# --- (d) symmetry ---------------------------------------------------------------------------------


def test_twins_scope_has_a_symmetry_group_of_eight() -> None:
    assert Symmetry(ParSyncModel(TWINS)).size == 8
    # order-dependent variants keep worker symmetry only
    assert Symmetry(ParSyncModel(TWINS, "gang-fit-first-bucket-only")).size == 2
    assert Symmetry(ParSyncModel(TWINS), buckets=False).size == 2
    assert Symmetry(ParSyncModel(TWINS), workers=False).size == 4
    # the presets have no interchangeable workers or buckets
    assert Symmetry(ParSyncModel(PR)).trivial


def test_twins_preset_is_the_symmetric_scope() -> None:
    assert get_preset("twins").config == TWINS
    assert Symmetry(ParSyncModel(get_preset("twins").config)).size == 8


LARGE_CLASS = """
import sys
from parsync.engines.checker import Checker
from parsync.engines.symmetry import Symmetry
from parsync.model.config import Config, Need
from parsync.model.protocol import ParSyncModel

cfg = Config(workers=3, partitions=1, capacities=(1,) * 24,
             needs=(Need(owner=0), Need(owner=1), Need(owner=2)), max_cycle=1)
m = ParSyncModel(cfg)
sym = Symmetry(m)
r = Checker(m, symmetry=True, max_states=3000).run()
print(sym.size, r.verdict, r.states, sym.inexact)
"""


def test_a_large_symmetry_group_is_never_listed() -> None:
    """24 interchangeable buckets and 3 interchangeable workers: a group of 24! * 3!
    (about 3.7 * 10^24) starts at once and canonicalises by sorting. Run in a
    subprocess so that a regression (listing the group) fails instead of hanging."""
    import math
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-c", LARGE_CLASS], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    size, verdict, states, inexact = r.stdout.split()
    assert int(size) == math.factorial(24) * math.factorial(3)
    assert verdict in ("pass", "incomplete") and int(states) > 0
    assert int(inexact) == 0


def test_symmetry_reduces_counts_not_the_verdict() -> None:
    plain = Checker(ParSyncModel(TWINS)).run()
    sym = Checker(ParSyncModel(TWINS), symmetry=True).run()
    assert plain.verdict == sym.verdict == PASS
    assert sym.symmetry == 8 and plain.symmetry == 1
    # the orbit count of the group's least-renaming canonical form (pinned when the
    # group was listed): the sorted canonical form counts exactly the orbits
    assert {"plain": plain.states, "symmetric": sym.states} == TWINS_COUNTS
    assert sym.states < plain.states
    # each orbit has at most 8 members
    assert plain.states <= 8 * sym.states
    assert sym.witnesses == plain.witnesses
    assert sym.unfired == plain.unfired == []


@pytest.mark.parametrize("name", TWINS_VARIANTS)
def test_symmetry_keeps_variant_verdicts(name: str) -> None:
    plain = Checker(ParSyncModel(TWINS, name)).run()
    sym = Checker(ParSyncModel(TWINS, name), symmetry=True).run()
    assert plain.verdict == sym.verdict == VIOLATION
    assert plain.violation is not None and sym.violation is not None
    assert sym.violation.property_ids == plain.violation.property_ids
    assert sym.violation.property_id == get_variant(name).breaks
    assert len(sym.violation.trace.actions) == len(plain.violation.trace.actions)
    assert sym.states < plain.states
    # the reduced search's counterexample is a real execution of the model
    m = ParSyncModel(TWINS, name)
    tr = replay(m, sym.violation.trace.actions)
    a, s, t = tr.steps()[-1]
    assert get_variant(name).breaks in readable_violations(m, s, a, t)


def reachable_sample(m: ParSyncModel, walks: int, seed: int) -> list[State]:
    rng = random.Random(seed)
    out = [m.init_state()]
    for _ in range(walks):
        out.extend(t for _, _, t in random_walk(m, rng))
    return out


TWINS_FAULTY = Config(
    **{
        **TWINS.__dict__,
        "faults": Faults(crash=1, drop=1, duplicate=1, failover=1),
    }
)


@pytest.mark.parametrize("variant", [None, "lagging-replica-failover", "unbounded-carry-forward"])
def test_canonical_is_idempotent_and_renaming_invariant(variant: str | None) -> None:
    m = ParSyncModel(TWINS_FAULTY, variant)
    sym = Symmetry(m)
    assert sym.size == 8
    states = reachable_sample(m, walks=30, seed=7)
    assert len(states) > 450
    changed = 0
    perms = list(sym.iter_perms())
    assert len(perms) == sym.size - 1
    for s in states:
        c = sym.canonical(s)
        assert sym.canonical(c) == c
        orbit = {s, *(sym.rename(s, p) for p in perms)}
        assert c in orbit  # a member of the orbit ...
        assert sym.canonical_key(s) == m.state_key(sym._interned(c))
        for p in perms:
            r = sym.rename(s, p)
            assert sym.canonical(r) == c  # ... and the same for every member
            assert state_violations(m, r) == state_violations(m, s)
            changed += r != s
    assert changed > 0


def test_renaming_commutes_with_the_next_state_relation() -> None:
    """succ(rename(s)) and succ(s) reach the same orbits: the reduction is sound."""
    m = ParSyncModel(TWINS_FAULTY)
    sym = Symmetry(m)
    states = reachable_sample(m, walks=12, seed=3)
    for s in states:
        orbits = sorted(sym.canonical(t) for _, t in m.successors(s))
        for p in sym.iter_perms():
            r = sym.rename(s, p)
            assert sorted(sym.canonical(t) for _, t in m.successors(r)) == orbits


# --- (e) budgets ----------------------------------------------------------------------------------


def test_state_budget_gives_incomplete_with_counts() -> None:
    r = Checker(ParSyncModel(PR), max_states=500).run()
    assert r.verdict == INCOMPLETE
    assert not r.ok
    assert r.stop_reason == "state budget of 500 reached"
    assert 500 <= r.states < 600
    assert r.transitions >= r.states - 1
    assert r.depth > 0
    assert r.violation is None
    assert r.unfired == []  # an unfinished search proves nothing about coverage
    assert r.missing_witnesses == []
    assert sum(r.coverage.values()) == r.transitions


def test_time_budget_gives_incomplete_with_counts() -> None:
    seen: list[Progress] = []
    r = Checker(ParSyncModel(PR), max_seconds=1e-9, progress=seen.append, progress_every=300).run()
    assert r.verdict == INCOMPLETE
    assert re.fullmatch(r"time budget of 1e-09s reached", r.stop_reason), r.stop_reason
    assert 300 <= r.states < 400
    assert r.transitions > 0
    assert len(seen) == 1
    assert seen[0].states == r.states and seen[0].transitions == r.transitions
    assert seen[0].queue > 0 and seen[0].seconds > 0


def test_interrupt_stops_cleanly() -> None:
    def interrupt(p: Progress) -> None:
        raise KeyboardInterrupt

    r = Checker(ParSyncModel(PR), progress=interrupt, progress_every=100).run()
    assert r.verdict == INCOMPLETE
    assert r.stop_reason == "interrupted"
    assert r.states >= 100


def test_budget_larger_than_the_scope_is_not_incomplete() -> None:
    r = Checker(ParSyncModel(TWINS), max_states=10**6, max_seconds=3600).run()
    assert r.verdict == PASS
    assert r.states == TWINS_COUNTS["plain"]


def test_violation_within_the_budget_is_reported() -> None:
    r = Checker(ParSyncModel(PR, "no-epoch-fencing"), max_states=10_000).run()
    assert r.verdict == VIOLATION
    assert r.violation is not None and r.violation.property_id == "PS-9"


def test_search_stopped_by_a_violation_reports_no_missing_witnesses() -> None:
    r = pr_variant_result("no-epoch-fencing")
    assert r.verdict == VIOLATION
    assert r.missing_witnesses == []


# --- (f) vacuous scopes ---------------------------------------------------------------------------


def test_latency_first_gang_scope_is_vacuous() -> None:
    """One bucket per partition: a latency-first gang of 2 never finds both fresh."""
    cfg = Config(
        workers=2,
        partitions=2,
        capacities=(1, 1),
        needs=(Need(owner=0), Need(owner=1, gang=2)),
        strategy="latency-first",
        max_cycle=2,
    )
    r = Checker(ParSyncModel(cfg)).run()
    assert r.verdict == VACUOUS
    assert not r.ok
    assert r.violation is None and r.stop_reason == ""
    assert "W-gang-commit" in r.missing_witnesses
    assert r.witnesses["W-stale-commit"] is None  # not applicable to latency-first


def test_scope_where_actions_never_fire_is_vacuous() -> None:
    cfg = Config(
        workers=1,
        partitions=2,
        capacities=(1, 1),
        needs=(Need(owner=0, gang=2),),
        strategy="latency-first",
        max_cycle=2,
    )
    r = Checker(ParSyncModel(cfg)).run()
    assert r.verdict == VACUOUS
    assert {"Propose", "Commit", "HandleReply", "Release"} <= set(r.unfired)
    assert "W-gang-commit" in r.missing_witnesses


# --- (g) the checker's fast path equals the readable predicates -----------------------------------


@pytest.mark.parametrize(
    ("variant", "walks"),
    [
        (None, 3000),
        ("lagging-replica-failover", 1000),
        ("no-dedup", 1000),
        ("priority-ignored", 1000),
        ("gang-second-bucket-no-bump", 1000),
    ],
)
def test_fast_path_equals_readable_predicates(variant: str | None, walks: int) -> None:
    m = ParSyncModel(PR, variant)
    ck = Checker(m)
    rng = random.Random(2024)
    transitions = 0
    hits = 0
    s0 = m.init_state()
    assert ck.state_violations(s0) == tuple(state_violations(m, s0)) == ()
    for _ in range(walks):
        for s, a, t in random_walk(m, rng):
            transitions += 1
            fast_state = ck.state_violations(t)
            assert fast_state == tuple(state_violations(m, t)), (a, t)
            fast_action = ck.action_violations(s, a, t)
            assert fast_action == tuple(action_violations(m, s, a, t)), (a, s, t)
            hits += bool(fast_state or fast_action)
    assert transitions > 10 * walks
    if variant is not None:
        assert hits > 0, "the walks should reach the variant's bug"


def test_memo_tables_do_not_change_the_next_state_relation() -> None:
    fast = ParSyncModel(PR, "lagging-replica-failover")
    slow = ParSyncModel(PR, "lagging-replica-failover", memo=False)
    rng = random.Random(5)
    for _ in range(300):
        s = fast.init_state()
        assert s == slow.init_state()
        while True:
            succ = list(fast.successors(s))
            other = list(slow.successors(s))
            assert typed([a for a, _ in succ]) == typed([a for a, _ in other])
            assert [t for _, t in succ] == [t for _, t in other]
            if not succ:
                break
            s = rng.choice(succ)[1]


# --- (h) exports: ITF and JSON --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["no-epoch-fencing", "lagging-replica-failover", "no-dedup"])
def test_itf_export(name: str) -> None:
    from parsync.itf import spec_projection, state_from_itf

    r = pr_variant_result(name)
    assert r.violation is not None
    tr = r.violation.trace
    cfg = get_preset("pr").config
    itf = json.loads(json.dumps(tr.to_itf(cfg, {"property": r.violation.property_id})))
    meta = itf["#meta"]
    assert meta["format"] == "ITF" and meta["source"] == "parsync-spec"
    assert meta["property"] == get_variant(name).breaks
    assert itf["vars"] == list(State._fields)
    assert len(itf["states"]) == len(tr.actions) + 1
    for i, (st, s) in enumerate(zip(itf["states"], (tr.init, *tr.states), strict=True)):
        assert set(st) == {*State._fields, "#meta"}
        assert st["#meta"]["index"] == i
        assert st["#meta"]["action"] == ("Init" if i == 0 else fmt_action(tr.actions[i - 1]))
        assert state_from_itf(cfg, st) == spec_projection(s)
        assert st["broker"]["epoch"] == {"#bigint": str(s.broker.epoch)}
        assert "replica" not in st["broker"]  # not a spec variable
        workers = dict((k["#bigint"], v) for k, v in st["workers"]["#map"])
        assert workers["0"]["up"] is s.workers[0].up
        assert set(workers["0"]["known"]) == {"#set"}
        assert set(st["faults"]) == {"crash", "drop", "dup"}


def test_json_export_actions_round_trip() -> None:
    kinds: set[str] = set()
    for name in VARIANT_NAMES:
        r = pr_variant_result(name)
        assert r.violation is not None
        tr = r.violation.trace
        doc = json.loads(json.dumps(tr.to_json()))
        assert len(doc["states"]) == len(tr.actions) + 1
        back = actions_from_json(doc["actions"])
        assert typed(back) == typed(tr.actions)
        assert typed([action_from_json(d) for d in doc["actions"]]) == typed(tr.actions)
        kinds |= {type(a).__name__ for a in back}
    assert {"StartCycle", "Propose", "Commit", "HandleReply", "Failover", "Crash"} <= kinds


def test_every_action_type_round_trips_through_json() -> None:
    p = Proposal(
        worker=1, need=2, priority=3, epoch=1, reads=((0, 4), (1, 5)), cycle=2, attempt=1, fresh=0
    )
    rp = Reply(worker=1, need=2, kind=CONFLICT, cycle=2, attempt=1, buckets=(0, 1))
    actions: list[Action] = [
        StartCycle(0),
        Propose(1, (0, 1)),
        Defer(1),
        Commit(p),
        HandleReply(rp),
        Release(2),
        Crash(0),
        Recover(0),
        Drop(p),
        Drop(rp),
        Duplicate(p),
        Duplicate(rp),
        Failover(),
    ]
    assert {type(a).__name__ for a in actions} == set(ACTION_NAMES)
    for a in actions:
        back = action_from_json(json.loads(json.dumps(action_to_json(a))))
        assert type(back) is type(a) and back == a


@pytest.mark.parametrize(
    "bad",
    [
        {"action": "Teleport", "args": {}},
        {"action": "StartCycle", "args": {"w": "x"}},
        {"action": "Propose", "args": {"w": 0}},
        {"action": "Commit", "args": {"m": {"type": "Letter"}}},
        {"action": "Commit", "args": {"m": {"type": "Proposal", "reads": [[1]]}}},
        "StartCycle(0)",
        None,
    ],
)
def test_malformed_action_json_is_a_value_error(bad: Any) -> None:
    with pytest.raises(ValueError, match="not a valid action"):
        action_from_json(bad)


def test_trace_render_numbers_steps_and_shows_changes() -> None:
    r = pr_variant_result("no-epoch-fencing")
    assert r.violation is not None
    text = r.violation.trace.render()
    assert text.startswith("  0. Init\n")
    assert "  3. Failover()" in text
    assert "broker.epoch: 0 -> 1" in text
    assert "[" in text and "[bold" not in text  # plain text, no markup
    assert "\n  3. [bold]Failover()[/bold]\n" in r.violation.trace.render(markup=True)
    assert isinstance(r.violation.trace, Trace)
    assert get_property("PS-9").name == "EpochFencing"
