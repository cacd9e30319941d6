"""Sanity check, apart from the implementation's own tests: refsched in lockstep with the model.

This is the one place the reference scheduler's tests import ``model``: random
interleavings chosen from the model's enabled actions are applied to both the
model and the scheduler (through its conformance adapter), and after every step
the scheduler's observation must equal the model state's abstraction. It is a
small stand-in for the conformance suite, to keep ``examples/refsched`` honest
while that suite is being built; the suite itself is what certifies it.
"""

from __future__ import annotations

import importlib
import random
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest

from parsync import refsched
from parsync.conformance.observe import observation_of
from parsync.model.actions import (
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
    fmt_action,
)
from parsync.model.config import Config, Faults, Need
from parsync.model.presets import get_preset
from parsync.model.protocol import ParSyncModel
from parsync.model.state import REPLY_KINDS, Proposal, Reply, State

_KINDS = {name: k for k, name in enumerate(("committed", "conflict", "already-placed", "fenced"))}
assert len(_KINDS) == len(REPLY_KINDS)


class Divergence(AssertionError):
    pass


def abstract_msg(m: Proposal | Reply) -> tuple[Any, ...]:
    if isinstance(m, Proposal):
        return ("broker", m.worker, m.need, m.epoch, m.priority, tuple(m.reads))
    return ("worker", m.worker, m.need, m.kind, tuple(m.buckets))


def observed_msg(d: Mapping[str, Any]) -> tuple[Any, ...]:
    if d["to"] == "broker":
        reads = tuple((b, s) for b, s in d["reads"])
        return ("broker", d["worker"], d["need"], d["epoch"], d["priority"], reads)
    return ("worker", d["worker"], d["need"], _KINDS[d["kind"]], tuple(d["buckets"]))


def abstract_state(s: State) -> dict[str, Any]:
    return abstract_obs(observation_of(s))


def abstract_obs(obs: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "broker": dict(obs["broker"]),
        "workers": [dict(w) for w in obs["workers"]],
        "messages": sorted(observed_msg(m) for m in obs["messages"]),
    }


class Lockstep:
    """Drive the model and an adapter together; raise Divergence on the first mismatch."""

    def __init__(self, config: Config, adapter: Any, variant: str | None = None) -> None:
        self.model = ParSyncModel(config, variant, memo=False)
        self.adapter = adapter
        self.state = self.model.init_state()
        self.ids: dict[str, Proposal | Reply] = {}
        self.steps: list[str] = []
        adapter.reset(config.to_dict())
        self.check(self.state)

    def fail(self, why: str) -> None:
        listing = "\n".join(f"  {i}. {a}" for i, a in enumerate(self.steps, 1))
        raise Divergence(f"{why}\nafter:\n{listing}")

    def check(self, s: State) -> None:
        obs = self.adapter.observe()
        want, got = abstract_state(s), abstract_obs(obs)
        if want != got:
            diffs = [f"{k}: model {want[k]} != impl {got[k]}" for k in want if want[k] != got[k]]
            self.fail("observation differs:\n" + "\n".join(diffs))
        # map every new id to a model message with the same content
        bag = Counter((*s.to_broker, *s.to_workers))
        known = Counter(self.ids[m["id"]] for m in obs["messages"] if m["id"] in self.ids)
        spare = bag - known
        current = set()
        for m in obs["messages"]:
            current.add(m["id"])
            if m["id"] in self.ids:
                continue
            key = observed_msg(m)
            match = next((x for x in sorted(spare) if abstract_msg(x) == key), None)
            if match is None:
                self.fail(f"message {m} has no counterpart in the model")
            self.ids[m["id"]] = match
            spare[match] -= 1
        self.ids = {k: v for k, v in self.ids.items() if k in current}
        if Counter(self.ids.values()) != bag:
            self.fail("message ids do not map onto the model's bag")

    def id_of(self, m: Proposal | Reply) -> str:
        return next(k for k, v in sorted(self.ids.items()) if v == m)

    def matching(self, succ: list[tuple[Action, State]]) -> State:
        got = abstract_obs(self.adapter.observe())
        for b, t in succ:
            if abstract_state(t) == got:
                self.steps[-1] = fmt_action(b)  # the step the scheduler chose
                return t
        self.fail("no allowed successor matches the observation")
        raise AssertionError  # unreachable

    def apply(self, a: Action) -> None:
        """Take the scheduler's counterpart of model action ``a`` (its group, for choices)."""
        m, s, ad = self.model, self.state, self.adapter
        succ = list(m.successors(s))
        self.steps.append(fmt_action(a))
        if isinstance(a, (Propose, Defer)):
            ad.schedule(a.w)
            group = [(b, t) for b, t in succ if isinstance(b, (Propose, Defer)) and b.w == a.w]
            t = self.matching(group)
        elif isinstance(a, Commit):
            before = {k for k, v in self.ids.items() if isinstance(v, Proposal)}
            ad.broker_step()
            after = {d["id"] for d in ad.observe()["messages"]}
            gone = sorted(before - after)
            if len(gone) != 1:
                self.fail(f"broker_step consumed {gone}")
            taken = self.ids[gone[0]]
            group = [(b, t) for b, t in succ if isinstance(b, Commit) and b.m == taken]
            if not group:
                self.fail(f"the broker took {gone[0]} = {taken}, which the model does not allow")
            t = self.matching(group)
        else:
            t = next(t for b, t in succ if type(b) is type(a) and b == a)
            if isinstance(a, StartCycle):
                ad.start_cycle(a.w)
            elif isinstance(a, HandleReply):
                ad.deliver(self.id_of(a.r))
            elif isinstance(a, Release):
                ad.release(a.n)
            elif isinstance(a, Crash):
                ad.crash(a.w)
            elif isinstance(a, Recover):
                ad.recover(a.w)
            elif isinstance(a, Drop):
                ad.drop(self.id_of(a.m))
            elif isinstance(a, Duplicate):
                ad.duplicate(self.id_of(a.m))
            elif isinstance(a, Failover):
                ad.failover()
        self.state = t
        self.check(t)

    def walk(self, rng: random.Random, depth: int) -> None:
        for _ in range(depth):
            enabled = [a for a, _ in self.model.successors(self.state)]
            if not enabled:
                return
            self.apply(rng.choice(enabled))


def _gangs_config() -> Config:
    return Config(
        workers=2,
        partitions=2,
        capacities=(2, 1, 1, 2),
        needs=(
            Need(owner=0, priority=1, arrival=1, gang=2),
            Need(owner=1, priority=3, arrival=1, size=2),
            Need(owner=0, priority=2, arrival=2),
            Need(owner=1, priority=1, arrival=2, gang=2, eligible=(1, 2, 3)),
        ),
        retry_budget=2,
        strategy="adaptive",
        max_cycle=4,
        faults=Faults(crash=1, drop=1, duplicate=1, failover=1),
    )


SCOPES = {
    "pr": get_preset("pr").config,
    "nightly": get_preset("nightly").config,
    "gangs": _gangs_config(),
    "latency": Config(
        workers=2,
        partitions=3,
        capacities=(1, 1, 1),
        needs=(Need(0, 1, 1), Need(1, 2, 1), Need(0, 1, 2, gang=2)),
        strategy="latency-first",
        max_cycle=4,
        faults=Faults(drop=1, failover=1),
        partition_map=(2, 0, 1),
    ),
}


@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_reference_follows_the_model(scope: str) -> None:
    adapter = refsched.parsync_adapter()
    try:
        for seed in range(60):
            Lockstep(SCOPES[scope], adapter).walk(random.Random(seed), depth=40)
    finally:
        adapter.close()


# Each mutant is the implementation counterpart of one known-bad model variant:
# driven in lockstep with that variant, it must follow it step for step.
# Left out: recovered_keeps_view (while the worker is down the variant still
# shows the old view; the mutant has it on disk and shows none) and the mutants
# with no model variant (retry_without_reread, stale_read_recorded_as_fresh,
# conflict_reply_wrong_partition, gang_fit_last_bucket_only).
MUTANT_VARIANTS = {
    "validate_fresh_partition_only": "validate-fresh-partition-only",
    "gang_second_bucket_no_bump": "gang-second-bucket-no-bump",
    "rotation_off_by_one": "rotation-skips-partition",
    "no_dedup": "no-dedup",
    "no_epoch_fencing": "no-epoch-fencing",
    "lagging_replica_failover": "lagging-replica-failover",
    "priority_ignored": "priority-ignored",
    "unbounded_carry_forward": "unbounded-carry-forward",
    "release_keeps_ledger": "release-keeps-ledger",
    "retry_off_by_one": "retry-off-by-one",
}


@pytest.mark.parametrize("mutant", sorted(MUTANT_VARIANTS))
def test_mutant_follows_its_model_variant(mutant: str) -> None:
    adapter = importlib.import_module(f"parsync.refsched.mutants.{mutant}").parsync_adapter()
    try:
        for scope in ("pr", "gangs"):
            for seed in range(15):
                ls = Lockstep(SCOPES[scope], adapter, MUTANT_VARIANTS[mutant])
                ls.walk(random.Random(seed), depth=40)
    finally:
        adapter.close()
