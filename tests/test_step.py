"""``ParSyncModel.step`` builds one action's successor; it must agree with ``successors``.

``step`` is what replay, simulation and trace validation follow, one action at
a time; ``successors`` is what the checker and the proofs' differential test
explore. On every reachable state of a scope (and for every known-bad
variant), each enabled action's ``step`` equals its successor, and actions
enabled elsewhere but not here give None.
"""

from __future__ import annotations

import itertools
from collections import deque

import pytest

from parsync.model.actions import Action, Commit, Deliver, Drop, Duplicate, Failover, Release
from parsync.model.presets import get_preset
from parsync.model.protocol import ParSyncModel
from parsync.model.state import State
from parsync.model.variants import ALL_VARIANT_NAMES, VARIANT_NAMES


def reachable(m: ParSyncModel, limit: int) -> list[State]:
    seen = {m.state_key(s): s for s in m.init_states()}
    todo = deque(seen.values())
    while todo and len(seen) < limit:
        s = todo.popleft()
        for _a, t in m.successors(s):
            k = m.state_key(t)
            if k not in seen:
                seen[k] = t
                todo.append(t)
    return list(seen.values())


def agree(m: ParSyncModel, states: list[State]) -> tuple[int, int]:
    """(enabled actions checked, disabled actions checked)"""
    pool: set[Action] = set()
    enabled_n = disabled_n = 0
    for s in states:
        succ = list(m.successors(s))
        for a, t in succ:
            assert m.step(s, a) == t, (a, s)
            pool.add(a)
        enabled_n += len(succ)
        here = {a for a, _ in succ}
        # actions seen enabled elsewhere (and the fault actions for every message)
        candidates = itertools.chain(
            itertools.islice(pool, 200),
            (Drop(x) for x in (*s.to_broker, *s.to_workers)),
            (Duplicate(x) for x in (*s.to_broker, *s.to_workers)),
            # the network and the inbox apart (contract): a proposal still in the
            # network cannot be decided, one in the inbox not delivered again
            (Deliver(x) for x in (*s.to_broker, *s.inbox)),
            (Commit(x) for x in (*s.to_broker, *s.inbox)),
            (Drop(x) for x in s.inbox),
            (Failover(), Release(0), Release(m.N - 1)),
        )
        for a in candidates:
            if a not in here:
                assert m.step(s, a) is None, (a, s)
                disabled_n += 1
    return enabled_n, disabled_n


@pytest.mark.parametrize("preset", ["small", "pr"])
def test_step_agrees_with_successors(preset: str) -> None:
    m = ParSyncModel(get_preset(preset).config)
    en, dis = agree(m, reachable(m, 6000))
    assert en > 10_000 and dis > 10_000


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_step_agrees_on_every_variant(variant: str) -> None:
    m = ParSyncModel(get_preset("pr").config, variant)
    en, dis = agree(m, reachable(m, 1500))
    assert en > 1000 and dis > 1000


def walks(m: ParSyncModel, n: int, length: int, seed: int) -> list[State]:
    """States along random walks: deep states (after crashes, failovers, duplicates)
    that a BFS prefix does not reach."""
    import random

    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        s = m.init_state()
        for _ in range(length):
            succ = list(m.successors(s))
            if not succ:
                break
            s = rnd.choice(succ)[1]
            out.append(s)
    return out


def test_step_agrees_deep_in_the_wide_scope_with_every_fault() -> None:
    from parsync.engines.stateful import WIDE_CONFIG

    m = ParSyncModel(WIDE_CONFIG)
    states = walks(m, 40, 80, seed=7)
    en, dis = agree(m, states)
    seen = {type(a).__name__ for s in states for a, _ in m.successors(s)}
    assert seen >= {
        "StartCycle", "Propose", "Defer", "Commit", "HandleReply", "Release",
        "Crash", "Recover", "Drop", "Duplicate", "Failover",
    }  # fmt: skip
    assert en > 1000 and dis > 1000


def _contract_scope(preset: str) -> object:
    import dataclasses

    c = get_preset(preset).config
    return dataclasses.replace(c, faults=dataclasses.replace(c.faults, timeout=1, extra_read=1))


@pytest.mark.parametrize("preset", ["small", "pr"])
def test_step_agrees_with_successors_under_the_contract(preset: str) -> None:
    m = ParSyncModel(_contract_scope(preset), policy="contract")  # type: ignore[arg-type]
    states = reachable(m, 4000) + walks(m, 30, 60, seed=13)
    en, dis = agree(m, states)
    seen = {type(a).__name__ for s in states for a, _ in m.successors(s)}
    assert {"Timeout", "Refresh", "Reject", "Propose", "Defer", "Deliver", "Commit"} <= seen
    assert any(s.inbox for s in states) and any(s.to_broker for s in states)
    assert en > 10_000 and dis > 10_000


@pytest.mark.parametrize("variant", ALL_VARIANT_NAMES)
def test_step_agrees_on_every_variant_under_the_contract(variant: str) -> None:
    m = ParSyncModel(_contract_scope("pr"), variant, policy="contract")  # type: ignore[arg-type]
    en, dis = agree(m, reachable(m, 800))
    assert en > 1000 and dis > 500
