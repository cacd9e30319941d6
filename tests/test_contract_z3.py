"""The Z3 engines on the contract policy (issue 13): the encoding read with
``policy="contract"`` is tied to ``ParSyncModel(policy="contract")`` by the
differential check, on a scope with a timeout and an extra read, and BMC on the
contract agrees with the explicit-state checker on the contract.

Every check here can fail: a mutated next state is rejected (the differential's
mutations), the design's contract relation rejects a step of a contract
variant, and each variant's violation is found by BMC with the property named.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from parsync.engines.checker import Checker
from parsync.model.actions import Timeout
from parsync.model.config import Config
from parsync.model.presets import get_preset
from parsync.model.protocol import ParSyncModel
from parsync.model.state import State
from parsync.model.variants import GROUND_TRUTH_VARIANTS, VARIANTS
from parsync.proofs.concrete import Scope
from parsync.proofs.differential import DiffStats, _truth, check_state, random_walks
from parsync.proofs.encoding import CONTRACT_VARIANTS, ENCODED_VARIANTS, Encoding
from parsync.proofs.logic import ParamUniverse
from parsync.proofs.proofs import GOAL_BY_ID
from parsync.proofs.witness import find_witnesses, sub_action

CONTRACT_SUBS = [a.name for a in Encoding(ParamUniverse("c"), policy="contract").actions]


def contract_scope(preset: str = "small", **faults: int) -> Config:
    """A preset with one timeout and one extra read (the contract's budgets)."""
    c = get_preset(preset).config
    extra = {"timeout": 1, "extra_read": 1, **faults}
    return dataclasses.replace(c, faults=dataclasses.replace(c.faults, **extra))


def test_contract_encoding_has_the_contract_steps() -> None:
    ref = {a.name for a in Encoding(ParamUniverse("r")).actions}
    extra = set(CONTRACT_SUBS) - ref
    assert extra == {
        "Defer[head]",
        "Defer[other]",
        "Reject[Fenced]",
        "Reject[AlreadyPlaced]",
        "Reject[Conflict]",
        "Restart",
        "Timeout",
        "Refresh",
        "Deliver",  # the network hands a proposal to the broker's inbox
    }
    assert ref - set(CONTRACT_SUBS) == {"Defer"}
    with pytest.raises(KeyError, match="reference policy"):
        Encoding(ParamUniverse("x"), "retry-resets-tag")


@pytest.mark.parametrize(
    "every", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["sampled", "every-entry"]
)
def test_contract_differential_on_a_witness_of_every_sub_action(every: bool) -> None:
    """Each contract sub-action on a reachable step: accepted (exact and parametric),
    BMC's Next has exactly the model's successors, mutations of the next state are
    rejected, and the properties agree with the Python predicates (the slow run: on
    every successor of each witness state, every single-entry mutation)."""
    wit = find_witnesses(CONTRACT_SUBS, policy="contract")
    assert set(wit) == set(CONTRACT_SUBS)
    stats = DiffStats()
    rng = random.Random(3)
    for w in wit.values():
        check_state(
            w.model,
            w.pre,
            stats,
            rng,
            mutations_per_step=None if every else 4,
            mutate_only=w.action,
            accept_only=None if every else w.action,
        )
    assert stats.problems == []
    assert set(stats.by_action) == set(CONTRACT_SUBS)
    assert stats.mutations > (1000 if every else 100)


@pytest.mark.slow
@pytest.mark.parametrize(("preset", "seed"), [("small", 11), ("pr", 5)])
def test_contract_differential_random_walks(preset: str, seed: int) -> None:
    model = ParSyncModel(contract_scope(preset), policy="contract")
    stats = random_walks(model, walks=1, steps=10, seed=seed, mutations_per_step=4)
    assert stats.problems == []
    assert stats.steps > 20 and stats.mutations > 30


def _bfs_trace(model: ParSyncModel) -> list[State]:
    res = Checker(model, max_seconds=120).run()
    assert res.violation is not None
    tr = res.violation.trace
    return [tr.init, *tr.states]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", [*sorted(CONTRACT_VARIANTS), *(v.name for v in GROUND_TRUTH_VARIANTS)]
)
def test_contract_differential_along_the_variant_counterexample(name: str) -> None:
    """Every state of the contract variant's shortest BFS counterexample, bug included."""
    model = ParSyncModel(contract_scope(), name, policy="contract")
    states = _bfs_trace(model)
    stats = DiffStats()
    rng = random.Random(5)
    for s in states:
        check_state(model, s, stats, rng, mutations_per_step=2, precision=False)
    assert stats.problems == []
    assert stats.states == len(states)


def test_the_design_relation_rejects_the_variant_step() -> None:
    """The differential can fail: timeout-reuses-tag's Timeout (the tag reused) is a
    step the correct contract relation rejects, and the variant's relation accepts."""
    cfg = contract_scope()
    bad = ParSyncModel(cfg, "timeout-reuses-tag", policy="contract")
    good = ParSyncModel(cfg, policy="contract")
    step = None
    for s in _bfs_trace(bad):
        for a, t in bad.successors(s):
            if isinstance(a, Timeout) and s.workers[a.w].attempts > 0:
                step = (s, a, t)
                break
        if step:
            break
    assert step is not None
    s, a, t = step
    verdicts = {}
    for name, model in (("design", good), ("variant", bad)):
        props, reps = sorted(set(s.to_broker)), sorted(set(s.to_workers))
        sc = Scope(model, props, reps, exact=True)
        sc.structure()
        enc = sc.enc
        A = enc.action(sub_action(model, s, a, t))
        S, T = enc.state("s"), enc.state("t")
        sc.pin_values(S, sc.values(s))
        f = enc.step(A, S, T, sc.concrete_params(A, a, s, t))
        verdicts[name] = _truth(z3_subst(f, sc, T, t))
    assert verdicts == {"design": False, "variant": True}


def z3_subst(f: object, sc: Scope, T: object, t: State) -> object:
    import z3  # type: ignore[import-untyped]

    return z3.substitute(f, *sc.pairs(T, sc.values(t)))  # type: ignore[arg-type]


# --- BMC on the contract agrees with the explicit-state checker on the contract -------------

#: (variant, scope): every contract variant the encoding has a switch for, and a
#: selection of the reference's, on the contract with a timeout (and an extra read)
_SLOW = [pytest.mark.slow]
BMC_CASES = [
    pytest.param("timeout-reuses-tag", contract_scope(extra_read=0), marks=_SLOW),
    pytest.param("retry-resets-tag", contract_scope(extra_read=0), marks=_SLOW),
    pytest.param("no-epoch-fencing", contract_scope()),
    pytest.param("dedup-by-worker-cycle", contract_scope(extra_read=0), marks=_SLOW),
    pytest.param("no-dedup", contract_scope(extra_read=0), marks=_SLOW),
    # the rest of the reference's variants on the contract, on pr with one timeout
    *(
        pytest.param(v.name, contract_scope("pr", extra_read=0), marks=_SLOW)
        for v in VARIANTS
        if v.name not in ("no-epoch-fencing", "no-dedup")
    ),
    # the ground-truth variants (PS-2 at Propose, PS-11), on pr with one timeout
    *(
        pytest.param(v.name, contract_scope("pr", extra_read=0), marks=_SLOW)
        for v in GROUND_TRUTH_VARIANTS
    ),
]


@pytest.mark.parametrize(("name", "cfg"), BMC_CASES, ids=lambda x: x if isinstance(x, str) else "")
def test_contract_bmc_agrees_with_bfs(name: str, cfg: Config) -> None:
    from parsync.model.variants import get_variant
    from parsync.proofs.bmc import Bmc

    breaks = get_variant(name).breaks
    bfs = Checker(ParSyncModel(cfg, name, policy="contract"), max_seconds=120).run()
    assert bfs.violation is not None and breaks in bfs.violation.property_ids
    depth = len(bfs.violation.trace.actions)
    res = Bmc(ParSyncModel(cfg, name, policy="contract"), depth).run(also=(breaks,))
    assert res.unknown == "" and res.problem == "", (res.unknown, res.problem)
    assert res.depth == depth, f"BMC's shortest violation is {res.depth} steps, BFS's {depth}"
    assert breaks in res.properties
    assert res.replayed and breaks in res.python_violations


# --- parametric proofs on the contract ------------------------------------------------------


@pytest.mark.parametrize("pid", ["PS-6", pytest.param("PS-3", marks=pytest.mark.slow)])
def test_contract_proofs_of_the_retry_budget_and_staleness(pid: str) -> None:
    """PS-3 and PS-6 read other state on the contract and need their own lemmas: proved
    for every size (the other properties: the slow test below)."""
    from parsync.proofs.proofs import Prover

    pr = Prover(
        None,
        policy="contract",
        timeout_s=20,
        first_attempt_rlimit=Prover.FIRST_ATTEMPT_RLIMIT * 2 // 3,
    )
    r = pr.prove(pid)
    assert [o.message() for o in r.failures] == []
    assert r.lemmas == pr.lemmas_of(GOAL_BY_ID[pid]) and r.lemmas != GOAL_BY_ID[pid].lemmas
    assert {o.action for o in r.obligations} >= {"Timeout", "Refresh", "Restart"}


@pytest.mark.slow
def test_contract_proofs_of_every_property() -> None:
    from parsync.proofs.proofs import ALL_GOAL_IDS, Prover

    pr = Prover(None, policy="contract")
    bad = [o.message() for pid in ALL_GOAL_IDS for o in pr.prove(pid).failures]
    assert bad == []
    assert pr.nonvacuous().proved


#: per contract variant, the conjunct of the invariant its CTIs break: the tag bugs the
#: lemma tying the ghost count to the tag, the dedup bug the goal itself
BROKEN = {
    "timeout-reuses-tag": "SentWithinAttempts",
    "retry-resets-tag": "SentWithinAttempts",
    "dedup-by-worker-cycle": "PS-8",
}


@pytest.mark.parametrize(
    "name",
    [
        "timeout-reuses-tag",
        "dedup-by-worker-cycle",
        pytest.param("retry-resets-tag", marks=pytest.mark.slow),
        # the reference's variants fail on the contract too
        *(pytest.param(v, marks=pytest.mark.slow) for v in sorted(ENCODED_VARIANTS)),
    ],
)
def test_contract_variant_fails_the_proof_with_a_decoded_cti(name: str) -> None:
    """The contract's variants fail PS-6 on the contract, with a CTI decoded into a
    Config, a pre-state and a step the Python model (the variant) also takes."""
    from parsync.model.variants import get_variant
    from parsync.proofs.proofs import CTI, Prover

    pid = get_variant(name).breaks
    r = Prover(
        name, policy="contract", timeout_s=10, first_attempt_rlimit=Prover.FIRST_ATTEMPT_RLIMIT // 3
    ).prove(pid)
    assert not r.proved
    ctis = [o for o in r.failures if o.outcome == CTI]
    assert ctis, [o.message() for o in r.failures]
    for o in ctis:
        assert o.message().startswith(f"{pid}: ")
        c = o.cti
        assert c is not None and c.decode_error == "", o.message()
        assert c.config is not None and c.pre is not None and c.post is not None
        assert c.replay == "agrees", o.message()
    assert name not in BROKEN or any(o.invariant == BROKEN[name] for o in ctis)
    # where the goal itself is not preserved, the executable predicate agrees
    for o in ctis:
        if o.invariant == pid:
            assert o.cti is not None and o.cti.python_post is False, o.message()
    assert set(BROKEN) == set(CONTRACT_VARIANTS)


def test_cli_prove_and_bmc_on_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    from parsync.cli import main

    assert main(["prove", "--policy", "contract", "--property", "PS-9", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "parsync prove --policy contract" in out and "PS-9        proved" in out
    args = ["prove", "--policy", "contract", "--property", "PS-9", "--no-progress"]
    assert main([*args, "--variant", "no-epoch-fencing"]) == 1
    assert "PS-9: goal PS-9 is not preserved by Commit[Committed]" in capsys.readouterr().out
    # a contract variant needs the contract's encoding
    assert main(["prove", "--policy", "reference", "--variant", "timeout-reuses-tag"]) == 2
    assert "add --policy contract" in capsys.readouterr().err
    assert main(["bmc", "--policy", "contract", "--variant", "no-such-variant"]) == 2
    assert "unknown variant 'no-such-variant'" in capsys.readouterr().err
    assert main(["prove", "--policy", "contract", "--report", "x.md"]) == 2
    bmc = ["bmc", "--preset", "pr", "--policy", "contract", "--no-progress"]
    assert main([*bmc, "--variant", "no-epoch-fencing", "--depth", "5"]) == 1
    out = capsys.readouterr().out
    assert "--policy contract" in out and "VIOLATION of PS-9 at depth 5" in out
    assert "replayed in the model: yes" in out


@pytest.mark.slow
def test_contract_bmc_finds_nothing_on_the_design() -> None:
    """The contract design on pr with one timeout: no violation within 8 steps, and every
    hint (the contract proofs' lemmas) proved at every depth, none refuted."""
    from parsync.proofs.bmc import Bmc

    b = Bmc(ParSyncModel(contract_scope("pr", extra_read=0), policy="contract"), 8)
    res = b.run()
    assert res.unknown == "" and res.problem == ""
    assert res.depth is None and len(res.per_depth_seconds) == 9
    assert b.dropped == []
