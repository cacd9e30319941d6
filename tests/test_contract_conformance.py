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
