"""The contract and the reference policy (issue 13).

* the reference is a restriction of the contract: on every reachable reference
  state, every reference transition (action and next state) is a contract
  transition, except that the reference's Commit(m) (delivery and decision in
  one step) is the contract's Deliver(m) then Commit(m);
* (``tests/test_step.py``: ``step`` agrees with ``successors`` under the contract);
* each behaviour a scheduler may choose that the reference does not (the list
  under "Why" in issue 13) is a contract run and not a reference run;
* the contract keeps what it must forbid: one outstanding attempt per worker,
  at most R + 1 proposals per need per cycle, no bucket without a re-read after
  a restart, only true replies;
* the contract's own variants are caught, with the property and a
  counterexample that replays.
"""

from __future__ import annotations

import dataclasses

import pytest

from parsync.engines.checker import VIOLATION, Checker
from parsync.model.actions import (
    Commit,
    Crash,
    Defer,
    Deliver,
    Drop,
    HandleReply,
    Propose,
    Refresh,
    Reject,
    Restart,
    StartCycle,
    Timeout,
)
from parsync.model.config import Config, Faults, Need
from parsync.model.presets import PRESETS
from parsync.model.properties import PROPERTIES, action_violations, state_violations
from parsync.model.protocol import POLICIES, ParSyncModel, PolicyError
from parsync.model.state import ALREADY, CONFLICT, FENCED, LATENCY, State
from parsync.model.variants import CONTRACT_VARIANTS, get_variant


def _reachable(m: ParSyncModel) -> list[State]:
    seen = {m.init_state()}
    todo = list(seen)
    while todo:
        s = todo.pop()
        for _a, t in m.successors(s):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return sorted(seen)


def _with(name: str, **faults: int) -> Config:
    c = PRESETS[name].config
    return dataclasses.replace(c, faults=dataclasses.replace(c.faults, **faults))


def _as_contract(s: State) -> State:
    """A reference state read as a contract state (the two extra budget counters)."""
    return s._replace(faults=(*s.faults, 0, 0))


# --- the layering ------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["small", "twins"])
def test_every_reference_transition_is_a_contract_transition(preset: str) -> None:
    cfg = PRESETS[preset].config
    ref = ParSyncModel(cfg, policy="reference")
    con = ParSyncModel(cfg, policy="contract")
    states = _reachable(ref)
    steps = 0
    for s in states:
        cs = _as_contract(s)
        allowed = set(con.successors(cs))
        for a, t in ref.successors(s):
            steps += 1
            if isinstance(a, Commit):
                # the reference delivers and decides in one step; the contract's network
                # hands m to the broker's inbox first, and the broker decides there
                assert not s.inbox and not t.inbox
                got = con.step(cs, Deliver(a.m))
                assert got is not None and (Deliver(a.m), got) in allowed, (a, s)
                assert (a, _as_contract(t)) in set(con.successors(got)), (a, s)
            else:
                assert (a, _as_contract(t)) in allowed, (a, s)
    assert steps > len(states)


def test_reference_is_the_default_and_keeps_its_counts() -> None:
    # the figures the ADR cites do not move (docs/guide.md and spec/manifest.json)
    r = Checker(ParSyncModel(PRESETS["small"].config)).run()
    assert (r.states, r.transitions, r.depth) == (111_204, 257_200, 33)
    assert ParSyncModel(PRESETS["small"].config).policy == "reference"


def test_contract_is_strictly_larger() -> None:
    cfg = PRESETS["small"].config
    ref = {_as_contract(s) for s in _reachable(ParSyncModel(cfg, policy="reference"))}
    r = Checker(ParSyncModel(cfg, policy="contract"), max_states=len(ref) * 3).run()
    assert r.states > len(ref)


def test_unknown_policy_is_a_clear_error() -> None:
    with pytest.raises(PolicyError, match="unknown policy 'fifo'; the policies are contract"):
        ParSyncModel(PRESETS["small"].config, policy="fifo")
    assert POLICIES == ("contract", "reference")


# --- behaviours a scheduler may choose: contract runs, not reference runs ----------------

_FIFO = Config(
    workers=1,
    partitions=2,
    capacities=(1, 1),
    needs=(
        Need(owner=0, priority=1, arrival=1),
        Need(owner=0, priority=2, arrival=1),
    ),
    retry_budget=1,
    strategy="adaptive",
    max_cycle=3,
    faults=Faults(crash=1, failover=1, timeout=3, extra_read=2),
)


def _run(cfg: Config, policy: str, actions: list[object]) -> State | None:
    """Replay ``actions`` (each an action, or a callable of the state giving one)."""
    m = ParSyncModel(cfg, policy=policy)
    s: State | None = m.init_state()
    for x in actions:
        assert s is not None
        a = x(s) if callable(x) else x
        t = m.step(s, a)  # type: ignore[arg-type]
        if t is None:
            return None
        assert not state_violations(m, t) and not action_violations(m, s, a, t)  # type: ignore[arg-type]
        s = t
    return s


def _sent(s: State, w: int = 0) -> object:
    return next(m for m in s.to_broker if m.worker == w)


def _reply(s: State, w: int = 0) -> object:
    return next(r for r in s.to_workers if r.worker == w)


def _only_contract(cfg: Config, actions: list[object]) -> State:
    got = _run(cfg, "contract", actions)
    assert got is not None, "the contract refuses a safe choice"
    assert _run(cfg, "reference", actions) is None, "the reference allows it too: no finding"
    return got


def test_fifo_order_a_need_that_is_not_the_head() -> None:
    # n1 has the higher priority (the reference's head); a FIFO scheduler takes n0
    s = _only_contract(_FIFO, [StartCycle(0), Propose(0, (0,), 0)])
    assert s.workers[0].pending[0] == 0


def test_defer_although_a_bucket_fits() -> None:
    s = _only_contract(_FIFO, [StartCycle(0), Defer(0), Defer(0)])
    assert s.workers[0].pending == ()


def test_switch_needs_after_a_conflict_keeps_the_count() -> None:
    # propose n1, lose the race (a release bumps nothing here, so a failover-free
    # conflict is made by a second worker in the twins-like scope below); here:
    # propose n1, time out, take n0 up, come back to n1: its proposals still count
    s = _only_contract(
        _FIFO,
        [
            StartCycle(0),
            Propose(0, (0,)),
            Timeout(0),
            Propose(0, (1,), 0),
            Timeout(0),
            Propose(0, (1,), 1),
        ],
    )
    w = s.workers[0]
    assert w.pending[0] == 1 and w.sent == 2 and w.parked == ((0, 0, 1, 1),)
    # a third proposal of n1 this cycle would break PS-6: the contract refuses it
    m = ParSyncModel(_FIFO, policy="contract")
    t = m.step(s, Timeout(0))
    assert t is not None and m.step(t, Propose(0, (0,))) is None


def test_adaptive_mode_is_free_at_each_proposal() -> None:
    # in latency-first mode (where the reference's "a conflict narrows" leaves it)
    # the reference uses only the freshest partition, p1 after cycle 1; an adaptive
    # scheduler with its own switching rule (once per cycle, on observed delay) may
    # propose quality-first on p0 at once
    ref = ParSyncModel(_FIFO, policy="reference")
    con = ParSyncModel(_FIFO, policy="contract")
    s = con.step(con.init_state(), StartCycle(0))
    assert s is not None
    narrowed = s._replace(workers=(s.workers[0]._replace(mode=LATENCY),))
    assert ref.step(narrowed._replace(faults=narrowed.faults[:3]), Propose(0, (0,))) is None
    t = con.step(narrowed, Propose(0, (0,)))
    assert t is not None and t.workers[0].mode == LATENCY  # mode: the policy's memory only
    assert ref.step(narrowed._replace(faults=narrowed.faults[:3]), Propose(0, (1,))) is not None


def test_timeout_while_the_proposal_is_merely_slow_and_the_late_reply_is_discarded() -> None:
    s = _only_contract(
        _FIFO,
        [
            StartCycle(0),
            Propose(0, (1,)),
            Timeout(0),  # the proposal is still in flight
            lambda s: Deliver(_sent(s)),  # it arrives late
            lambda s: Commit(s.inbox[0]),  # and commits
            lambda s: HandleReply(_reply(s)),  # the reply no longer matches: discarded
            Propose(0, (0,)),  # proposed again under a new tag
        ],
    )
    w = s.workers[0]
    assert w.waiting and w.attempts == 2 and w.sent == 2
    assert s.to_broker[0].attempt == 2  # the second proposal: answered AlreadyPlaced


def test_start_the_next_cycle_while_waiting() -> None:
    s = _only_contract(_FIFO, [StartCycle(0), Propose(0, (1,)), StartCycle(0)])
    assert s.workers[0].cycle == 2 and s.faults[3] == 1  # a timeout, budgeted


def test_an_extra_fresh_read_at_any_time() -> None:
    # an extra fresh read at any time (the reference reads only by rotation)
    s = _only_contract(_FIFO, [StartCycle(0), Refresh(0, 0)])
    assert s.workers[0].fresh_at == (1, 1)


def test_recovery_reads_partitions_one_at_a_time() -> None:
    # down through cycle 1; back with nothing read; cycle 2's rotation reads p0
    back = [Crash(0), StartCycle(0), Restart(0), StartCycle(0)]
    s = _only_contract(_FIFO, [*back, Propose(0, (0,))])
    assert s.workers[0].up and s.workers[0].view[1] == ()
    # a bucket of the partition it has not re-read since the crash: refused, until
    # it reads that partition too
    m = ParSyncModel(_FIFO, policy="contract")
    t = _run(_FIFO, "contract", back)
    assert t is not None and m.step(t, Propose(0, (1,))) is None
    t = m.step(t, Refresh(0, 1))
    assert t is not None and m.step(t, Propose(0, (1,))) is not None


def _stale_and_fenced() -> tuple[ParSyncModel, State]:
    """A proposal that is both fenced (old epoch) and in conflict (stale seqno)."""
    cfg = dataclasses.replace(
        _FIFO,
        workers=2,
        needs=(Need(owner=0, priority=1, arrival=1), Need(owner=1, priority=1, arrival=1)),
    )
    m = ParSyncModel(cfg, policy="contract")
    s = m.init_state()
    for a in [StartCycle(0), StartCycle(1), Propose(0, (1,)), Propose(1, (1,))]:
        s = m.step(s, a)  # type: ignore[assignment]
        assert s is not None
    first = next(p for p in s.to_broker if p.worker == 1)
    s = m.step(s, Deliver(first))  # type: ignore[assignment]
    s = m.step(s, Commit(first))  # type: ignore[assignment]
    from parsync.model.actions import Failover

    s = m.step(s, Failover())  # type: ignore[assignment]
    assert s is not None
    return m, s


def test_broker_check_order_is_free_but_replies_are_true() -> None:
    m, s = _stale_and_fenced()
    p = s.to_broker[0]
    assert m.step(s, Reject(p, FENCED)) is None  # still in the network: not the broker's
    s = m.step(s, Deliver(p))  # type: ignore[assignment]
    assert s is not None
    kinds = {a.kind for a, _ in m.successors(s) if isinstance(a, Reject) and a.m == p}
    assert kinds == {FENCED, CONFLICT}  # both true; AlreadyPlaced is not (n0 unplaced)
    assert m.step(s, Reject(p, ALREADY)) is None
    ref = ParSyncModel(m.config, policy="reference")
    ref_s = s._replace(faults=s.faults[:3])
    assert ref.step(ref_s, Reject(p, CONFLICT)) is None


# --- the network apart from the broker's inbox ------------------------------------------------

_RACE = dataclasses.replace(
    _FIFO,
    workers=2,
    needs=(Need(owner=0, priority=1, arrival=1), Need(owner=1, priority=2, arrival=1)),
)


def _race() -> tuple[ParSyncModel, State]:
    """n0 (priority 1) and n1 (priority 2) proposed on the same bucket, both in the
    network."""
    got = _run(
        _RACE, "contract", [StartCycle(0), StartCycle(1), Propose(0, (0,)), Propose(1, (0,))]
    )
    assert got is not None and len(got.to_broker) == 2 and got.inbox == ()
    return ParSyncModel(_RACE, policy="contract"), got


def test_the_broker_decides_only_what_it_has_received() -> None:
    m, s = _race()
    lo = _sent(s, 0)
    assert m.step(s, Commit(lo)) is None  # still in the network
    assert all(m.step(s, Reject(lo, k)) is None for k in (ALREADY, CONFLICT, FENCED))
    t = m.step(s, Deliver(lo))
    assert t is not None and t.inbox == (lo,) and lo not in t.to_broker
    assert m.step(t, Deliver(lo)) is None  # one copy, delivered once
    # drops and duplicates act on the network, never on the broker's inbox
    assert m.step(t, Drop(lo)) is None
    assert {type(a).__name__ for a, _ in m.successors(t) if getattr(a, "m", None) == lo} == {
        "Commit"
    }
    # failover keeps the inbox (a durable queue); the new epoch fences what is in it
    from parsync.model.actions import Failover

    f = m.step(t, Failover())
    assert f is not None and f.inbox == (lo,)
    kinds = {a.kind for a, _ in m.successors(f) if isinstance(a, Reject) and a.m == lo}
    assert kinds == {FENCED}
    # a worker whose proposal sits in the inbox has not lost it: StartCycle while
    # waiting is a timeout (budgeted), as while it is in the network
    c = m.step(t, StartCycle(0))
    assert c is not None and c.faults[3] == t.faults[3] + 1


def test_priority_on_conflict_is_judged_on_what_the_broker_has_received() -> None:
    m, s = _race()
    lo, hi = _sent(s, 0), _sent(s, 1)
    t = m.step(s, Deliver(lo))
    assert t is not None
    # the higher-priority proposal is still in the network: the broker does not know
    # it, so committing n0 overtakes nothing (PS-7 holds on the inbox)
    c = m.step(t, Commit(lo))
    assert c is not None and c.placed == (1, 0)
    assert not action_violations(m, t, Commit(lo), c)
    # the reference's omniscient broker refuses it (n1 is in flight)
    ref = ParSyncModel(_RACE, policy="reference")
    ref_s = s._replace(faults=s.faults[:3])
    assert ref.step(ref_s, Commit(lo)) is None
    # once both are received, the lower priority waits for the higher one
    u = m.step(t, Deliver(hi))
    assert u is not None and m.step(u, Commit(lo)) is None
    assert m.step(u, Commit(hi)) is not None


def test_priority_ignored_is_caught_on_the_inbox() -> None:
    m = ParSyncModel(_RACE, "priority-ignored", policy="contract")
    s = m.init_state()
    for a in [StartCycle(0), StartCycle(1), Propose(0, (0,)), Propose(1, (0,))]:
        s = m.step(s, a)  # type: ignore[assignment]
    lo, hi = _sent(s, 0), _sent(s, 1)
    for a in (Deliver(lo), Deliver(hi)):
        s = m.step(s, a)  # type: ignore[assignment]
    t = m.step(s, Commit(lo))
    assert t is not None and "PS-7" in action_violations(m, s, Commit(lo), t)


# --- the contract's variants ---------------------------------------------------------------


@pytest.mark.parametrize("v", CONTRACT_VARIANTS, ids=lambda v: v.name)
def test_contract_variants_are_caught(v: object) -> None:
    name = v.name  # type: ignore[attr-defined]
    cfg = _with("pr", timeout=1, extra_read=1)
    m = ParSyncModel(cfg, name, policy="contract")
    r = Checker(m, max_seconds=300).run()
    assert r.verdict == VIOLATION, name
    assert r.violation is not None and r.violation.property_id == get_variant(name).breaks
    # the counterexample replays on the variant and ends in the violation
    s = m.init_state()
    tr = r.violation.trace
    for a in tr.actions:
        t = m.step(s, a)
        assert t is not None, a
        last = (s, a, t)
        s = t
    bad = {*state_violations(m, s), *action_violations(m, *last)}
    assert get_variant(name).breaks in bad
    # and the correct model passes where the variant fails (the same run, replayed)
    ok = ParSyncModel(cfg, policy="contract")
    assert {p.id for p in PROPERTIES} >= bad
    s = ok.init_state()
    for a in tr.actions:
        t = ok.step(s, a)
        if t is None:
            break
        assert not state_violations(ok, t)
        s = t


# --- the measured figures docs/contract.md quotes ----------------------------------------------

CONTRACT_SMALL = (1_614_092, 4_571_041, 40)  # states, transitions, depth


def test_the_manifest_and_docs_record_the_pinned_contract_small_counts() -> None:
    """The pinned counts are the manifest's record of the default run (`parsync check`:
    the contract on small) and the ones docs/contract.md quotes; that the run gives the
    manifest's counts and coverage is checked by tests/test_fresh_env.py, which runs the
    README's first command (and by the slow test below, in-process)."""
    import json
    from pathlib import Path

    root = Path(__file__).parent.parent
    e = json.loads((root / "spec" / "manifest.json").read_text(encoding="utf-8"))
    e = e["contract"]["small"]
    assert (e["states"], e["transitions"], e["depth"], e["verdict"]) == (*CONTRACT_SMALL, "pass")
    doc = (root / "docs" / "contract.md").read_text(encoding="utf-8")
    states, transitions, depth = CONTRACT_SMALL
    assert (
        f"**pass**, {states:,} distinct states, {transitions:,}\ntransitions, depth {depth}" in doc
    )


@pytest.mark.slow  # 1.6M states; the default suite runs it once, in tests/test_fresh_env.py
def test_contract_small_passes_exhaustively_with_the_pinned_counts() -> None:
    from pathlib import Path

    r = Checker(ParSyncModel(PRESETS["small"].config, policy="contract"), symmetry=True).run()
    assert r.verdict == "pass", (r.verdict, r.unfired, r.witnesses)
    assert (r.states, r.transitions, r.depth) == CONTRACT_SMALL
    # the manifest's record of the default run (`parsync check`: the contract on small)
    # is this run: spec/manifest.json's contract table, counts and coverage
    import json

    manifest = json.loads(
        (Path(__file__).parent.parent / "spec" / "manifest.json").read_text(encoding="utf-8")
    )
    e = manifest["contract"]["small"]
    assert (e["states"], e["transitions"], e["depth"]) == CONTRACT_SMALL
    assert e["coverage"] == dict(r.coverage)
    doc = (Path(__file__).parent.parent / "docs" / "contract.md").read_text(encoding="utf-8")
    states, transitions, depth = CONTRACT_SMALL
    assert (
        f"**pass**, {states:,} distinct states, {transitions:,}\ntransitions, depth {depth}" in doc
    )


CONTRACT_TIMEOUT = (1_902_903, 6_404_201, 39)  # small's needs, one timeout, no other fault


@pytest.mark.slow  # 1.9M states, 45 s unloaded to 105 s in a loaded CI run
def test_contract_with_a_real_timeout_passes_exhaustively() -> None:
    """The exhaustive contract scope with the real timeout."""
    from pathlib import Path

    cfg = dataclasses.replace(PRESETS["small"].config, faults=Faults(timeout=1))
    r = Checker(ParSyncModel(cfg, policy="contract")).run()
    assert r.verdict == "pass", (r.verdict, r.unfired, r.witnesses)
    assert (r.states, r.transitions, r.depth) == CONTRACT_TIMEOUT
    assert r.coverage["Timeout"] > 0 and r.coverage["Reject"] > 0
    doc = (Path(__file__).parent.parent / "docs" / "contract.md").read_text(encoding="utf-8")
    states, transitions, depth = CONTRACT_TIMEOUT
    flat = " ".join(doc.split())
    want = f"**pass**, {states:,} distinct states, {transitions:,} transitions, depth {depth}"
    assert want in flat


def test_capacity_on_the_contract_passes() -> None:
    from pathlib import Path

    r = Checker(ParSyncModel(PRESETS["capacity"].config, policy="contract")).run()
    assert r.verdict == "pass" and r.states == 596_403
    doc = (Path(__file__).parent.parent / "docs" / "contract.md").read_text(encoding="utf-8")
    assert f"{r.states:,} distinct states" in " ".join(doc.split())


def test_check_policy_contract_writes_a_counterexample_that_replays(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    from pathlib import Path

    from parsync.cli import main

    out = Path(str(tmp_path)) / "cx.json"
    rc = main(
        [
            "check",
            "--preset",
            "pr",
            "--policy",
            "contract",
            "--variant",
            "retry-resets-tag",
            "--trace-out",
            str(out),
            "--json",
            "--no-progress",
        ]
    )
    assert rc == 1
    res = json.loads(capsys.readouterr().out)
    assert res["policy"] == "contract" and res["violation"]["property"] == "PS-6"
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["policy"] == "contract" and doc["variant"] == "retry-resets-tag"
    assert main(["replay", str(out), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["violations"] == ["PS-6"]


def test_unknown_policy_on_the_command_line_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from parsync.cli import main

    with pytest.raises(SystemExit) as e:
        main(["check", "--policy", "fifo"])
    assert e.value.code == 2
    assert "invalid choice: 'fifo'" in capsys.readouterr().err
