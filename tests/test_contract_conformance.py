"""Conformance checks the contract: safe policies other than the reference's pass.

Issue 13 lists schedulers that were rejected for choices ADR-0031 leaves open.
Each is a model-backed adapter here (tests/support/policy_adapter.py) driven
in lockstep, in process, by seeded random walks over the steps the suite
offers, with every fault. Under ``--parsync-policy contract`` (the default)
every one passes; under ``reference`` each one whose choice is observable is
rejected with a divergence, so the test shows the contract is what lets it
through. The same lockstep still rejects the known-bad designs under the
contract (tests/test_conformance_suite.py, tests/test_refsched_conformance.py).
"""

from __future__ import annotations

import random

import pytest

from parsync.conformance.driver import (
    ConformanceFailure,
    Lockstep,
    Step,
    TimedAdapter,
    lockstep_model,
)
from parsync.model.config import Config, Faults, Need
from tests.support.model_adapter import ModelAdapter
from tests.support.policy_adapter import POLICIES, PolicyAdapter

# two needs of worker 0 arrive together, the later id with the higher priority
# (FIFO and priority order differ); a gang; capacity 2 on bucket 0; every fault
CONFIG = Config(
    workers=2,
    partitions=2,
    capacities=(2, 1, 1),
    needs=(
        Need(owner=0, priority=1, arrival=1),
        Need(owner=0, priority=3, arrival=1),
        Need(owner=1, priority=2, arrival=1),
        Need(owner=0, priority=1, arrival=2, gang=2),
    ),
    retry_budget=1,
    strategy="adaptive",
    max_cycle=2,
    faults=Faults(crash=1, drop=1, duplicate=1, failover=1),
)

WALKS, DEPTH = 60, 40


def _walks(adapter: ModelAdapter, policy: str) -> tuple[int, ConformanceFailure | None]:
    """Seeded random walks; (steps taken, the first failure or None)."""
    model = lockstep_model(CONFIG, policy)
    ad = TimedAdapter(adapter, 10.0)
    ls = Lockstep(ad, CONFIG, model=model)
    taken = 0
    try:
        for seed in range(WALKS):
            rng = random.Random(seed)
            ls.reset()
            for _ in range(DEPTH):
                steps = ls.enabled_steps()
                if not steps:
                    break
                ls.step(rng.choice(steps))
                taken += 1
    except ConformanceFailure as f:
        return taken, f
    finally:
        ad.close()
    return taken, None


@pytest.mark.parametrize("policy", POLICIES)
def test_a_safe_policy_passes_under_the_contract(policy: str) -> None:
    taken, failure = _walks(PolicyAdapter(policy), "contract")
    assert failure is None, str(failure)
    assert taken > WALKS * 10


# the policies whose choices the reference's projection sees; leaving optional
# fields out is not a policy, and passes under both
OBSERVABLE = [p for p in POLICIES if p != "fields-left-out"]


@pytest.mark.parametrize("policy", OBSERVABLE)
def test_the_reference_policy_rejects_it(policy: str) -> None:
    _taken, failure = _walks(PolicyAdapter(policy), "reference")
    assert failure is not None, f"{policy} passed under the reference policy"
    assert failure.headline.startswith("divergence at step"), failure.headline
    assert failure.property_ids == []


def test_fields_left_out_pass_under_both() -> None:
    for policy in ("contract", "reference"):  # the model adapter of that policy
        _taken, failure = _walks(PolicyAdapter("fields-left-out", policy), policy)
        assert failure is None, str(failure)


def test_the_hidden_fields_are_reported() -> None:
    ad = TimedAdapter(PolicyAdapter("fields-left-out", "reference"), 10.0)
    ls = Lockstep(ad, CONFIG, model=lockstep_model(CONFIG, "reference"))
    ls.reset()
    assert ls.hidden_fields() == ["mode", "pending", "waiting", "retries"]
    ad.close()
    ad = TimedAdapter(ModelAdapter(), 10.0)
    ls = Lockstep(ad, CONFIG, model=lockstep_model(CONFIG, "contract"))
    ls.reset()
    assert ls.hidden_fields() == ["mode", "retries"]  # the policy's own memory
    ad.close()


def _early_timeout(policy: str) -> ConformanceFailure | None:
    """Worker 0 proposes, then its next cycle starts while the proposal is in flight."""
    ad = TimedAdapter(ModelAdapter(), 10.0)
    ls = Lockstep(ad, CONFIG, model=lockstep_model(CONFIG, policy))
    try:
        ls.reset()
        ls.step(Step("start_cycle", 0))
        ls.step(Step("schedule", 0))
        assert ls.obs is not None and any(m[0] == "broker" for m in ls.obs.projection.messages)
        ls.step(Step("start_cycle", 0))  # the worker gives up on a merely slow proposal
        ls.step(Step("broker_step"))  # the old proposal still arrives and is decided
        ls.step(next(s for s in ls.enabled_steps() if s.kind == "deliver"))  # and discarded
    except ConformanceFailure as f:
        return f
    finally:
        ad.close()
    return None


def test_an_early_timeout_passes_under_the_contract_only() -> None:
    assert _early_timeout("contract") is None
    f = _early_timeout("reference")
    assert f is not None and f.headline.startswith("divergence at step 3"), f


def test_a_bounded_contract_model_is_honoured() -> None:
    """A contract model with the scope's own budgets (no timeouts) rejects the early
    timeout: the lockstep unbudgets only the model it builds itself."""
    from parsync.model.protocol import ParSyncModel

    ad = TimedAdapter(ModelAdapter(), 10.0)
    ls = Lockstep(ad, CONFIG, model=ParSyncModel(CONFIG, policy="contract"))
    ls.reset()
    ls.step(Step("start_cycle", 0))
    ls.step(Step("schedule", 0))
    with pytest.raises(ConformanceFailure, match="divergence at step 3"):
        ls.step(Step("start_cycle", 0))
    ad.close()


class _Bare(ModelAdapter):
    """A model adapter that gives only the required observation fields."""

    def observe(self) -> dict[str, object]:
        obs = dict(super().observe())
        obs["workers"] = [
            {k: v for k, v in w.items() if k not in ("mode", "pending", "waiting", "retries")}
            for w in obs["workers"]  # type: ignore[attr-defined]
        ]
        return obs


# the property each is caught by, read off the observations alone; the two whose
# mistake is in the broker's decision (a stale epoch or a second placement
# committed) leave the model first, at the commit itself
CAUGHT_HIDDEN = {
    "priority-ignored": "PS-7",
    "unbounded-carry-forward": "PS-10",
    "gang-second-bucket-no-bump": "PS-5",
    "retry-off-by-one": "PS-6",  # from the proposals seen: retries is not given
    "no-epoch-fencing": "divergence",
    "no-dedup": "divergence",
}


@pytest.mark.parametrize(("variant", "caught"), sorted(CAUGHT_HIDDEN.items()))
def test_known_bad_designs_are_still_rejected_with_the_optional_fields_hidden(
    variant: str, caught: str
) -> None:
    """Hiding fields widens the candidate set; it must not hide a safety mistake."""
    _taken, failure = _walks(_Bare(variant), "contract")
    assert failure is not None, f"{variant} passed with the optional fields hidden"
    if caught == "divergence":
        assert failure.headline.startswith("divergence at step"), failure.headline
    else:
        assert failure.property_ids == [caught], failure.headline


# --- the network apart from the broker's inbox ------------------------------------------------


class _Unlocated(ModelAdapter):
    """A model adapter whose observations do not say where proposals are (no ``at``)."""

    def observe(self) -> dict[str, object]:
        obs = dict(super().observe())
        obs["messages"] = [
            {k: v for k, v in x.items() if k != "at"}
            for x in obs["messages"]  # type: ignore[attr-defined]
        ]
        return obs


def test_without_locations_delivery_is_a_hidden_step() -> None:
    """An observation without ``at``: a proposal stays in the network, for the model,
    until the broker decides on it (it blocks no commit), so a safe scheduler passes
    and a broker ignoring priority cannot be told from one whose higher-priority
    proposal had not arrived yet: that takes an observation that says where (``at``)."""
    taken, failure = _walks(_Unlocated(), "contract")
    assert failure is None, str(failure)
    assert taken > WALKS * 10
    _taken, failure = _walks(_Unlocated("priority-ignored"), "contract")
    assert failure is None, "without 'at' the broker's inbox is not observed"
    _taken, failure = _walks(ModelAdapter("priority-ignored"), "contract")
    assert failure is not None and failure.property_ids == ["PS-7"], failure


def test_a_proposal_in_the_brokers_inbox_is_not_offered_to_the_network() -> None:
    ad = TimedAdapter(ModelAdapter(), 10.0)
    ls = Lockstep(ad, CONFIG, model=lockstep_model(CONFIG, "contract"))
    try:
        ls.reset()
        ls.step(Step("start_cycle", 0))
        ls.step(Step("schedule", 0))
        assert ls.obs is not None and ls.obs.inbox and len(ls.obs.inbox) == 1
        assert all(c.inbox and not c.to_broker for c in ls.cands)  # delivered unseen
        kinds = {s.kind for s in ls.enabled_steps()}
        assert "broker_step" in kinds and not kinds & {"drop", "duplicate"}
        ls.step(Step("broker_step"))
    finally:
        ad.close()
    ad = TimedAdapter(_Unlocated(), 10.0)
    ls = Lockstep(ad, CONFIG, model=lockstep_model(CONFIG, "contract"))
    try:
        ls.reset()
        ls.step(Step("start_cycle", 0))
        ls.step(Step("schedule", 0))
        assert all(c.to_broker and not c.inbox for c in ls.cands)  # still in the network
        assert {"drop", "duplicate", "broker_step"} <= {s.kind for s in ls.enabled_steps()}
    finally:
        ad.close()


def test_at_on_some_proposals_only_is_a_shape_error() -> None:
    from parsync.conformance.observe import ShapeError, observation_of, parse_observation
    from parsync.model.actions import Propose, StartCycle

    m = lockstep_model(CONFIG, "contract")
    s = m.init_state()
    for a in (StartCycle(0), StartCycle(1), Propose(0, (1,)), Propose(1, (2,))):
        s = m.step(s, a)  # type: ignore[assignment]
        assert s is not None
    obs = observation_of(s)
    assert [x["at"] for x in obs["messages"]] == ["network", "network"]
    del obs["messages"][0]["at"]
    with pytest.raises(ShapeError, match="say where every proposal is, or none"):
        parse_observation(m, obs)
    obs["messages"][0]["at"] = "broker"
    with pytest.raises(ShapeError, match="at must be one of network, inbox"):
        parse_observation(m, obs)
