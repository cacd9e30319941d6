"""Properties on ground truth (issue 13): PS-2 on what the fit decision used, PS-11
(the forced re-read after a Conflict), and the carry-forward witnesses stated on the
ghost ``read_at``, not on ``cycle mod P``.

Each test can fail: the variants below pass every check without the new statements
(the PS-2 test shows what BFS reported before: PS-1, one step later), and the
carry-forward-off model reaches the old ``cycle mod P`` witness but not the new one.
"""

from __future__ import annotations

from functools import cache

import pytest

from parsync.engines.checker import PASS, VIOLATION, Checker, CheckResult
from parsync.model.actions import Propose
from parsync.model.presets import PRESETS
from parsync.model.properties import (
    _committed_msg,
    get_property,
    witness_applicable,
)
from parsync.model.protocol import ParSyncModel
from parsync.model.state import Broker, State, Worker
from parsync.model.variants import REFERENCE_VARIANTS, get_variant
from tests.support.replaying import replay_violations

POLICIES = ("reference", "contract")
# the contract's network hands each proposal to the broker's inbox in a step of its own
# (Deliver): a counterexample there is one step longer per proposal the broker decides
DEPTHS = {
    "PS-2": {"reference": 5, "contract": 6},
    "PS-1": {"reference": 6, "contract": 8},
    "PS-11": {"reference": 8, "contract": 10},
}


@cache
def bfs(preset: str, variant: str | None, policy: str) -> CheckResult:
    return Checker(ParSyncModel(PRESETS[preset].config, variant, policy=policy)).run()


# --- PS-2 on what the fit used ------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_stamping_the_brokers_seqno_breaks_ps2_at_propose(policy: str) -> None:
    v = "propose-stamps-broker-seqno"
    assert get_variant(v).breaks == "PS-2"
    r = bfs("pr", v, policy)
    assert r.verdict == VIOLATION and r.violation is not None
    want = ("PS-2", DEPTHS["PS-2"][policy])
    assert (r.violation.property_id, len(r.violation.trace.actions)) == want
    assert isinstance(r.violation.trace.actions[-1], Propose)
    m = ParSyncModel(PRESETS["pr"].config, v, policy=policy)
    assert "PS-2" in replay_violations(m, r)


@pytest.mark.parametrize("policy", POLICIES)
def test_ps2_on_the_claimed_seqnos_alone_misses_the_stamp(policy: str) -> None:
    """What BFS reported before PS-2 looked at Propose: never PS-2, but PS-1 a step
    later (the commit whose claimed seqnos are current)."""
    m = ParSyncModel(PRESETS["pr"].config, "propose-stamps-broker-seqno", policy=policy)
    c = Checker(m)
    c._propose_props = [p for p in c._propose_props if p.id != "PS-2"]
    r = c.run()
    assert r.violation is not None
    want = ("PS-1", DEPTHS["PS-1"][policy])
    assert (r.violation.property_id, len(r.violation.trace.actions)) == want
    s = m.init_state()
    for a in r.violation.trace.actions:
        t = m.step(s, a)
        assert t is not None
        pm = _committed_msg(s, a, t)
        if pm is not None:  # the commit half of PS-2 holds on every commit of the run
            assert all(s.broker.seq[b] == q for b, q in pm.reads)
        s = t


def test_ps2_propose_half_compares_with_the_snapshot_the_fit_read() -> None:
    m = ParSyncModel(PRESETS["small"].config)
    ps2 = get_property("PS-2").action_pred
    assert ps2 is not None
    s = m.init_state()
    s = m.step(s, m.enabled(s)[0])  # StartCycle(0)
    assert s is not None
    a = next(a for a in m.enabled(s) if isinstance(a, Propose))
    t = m.step(s, a)
    assert t is not None and ps2(m, s, a, t)
    # the same proposal with a seqno the worker's snapshot does not hold
    (sent,) = t.to_broker
    b, q = sent.reads[0]
    forged = t._replace(to_broker=(sent._replace(reads=((b, q + 1),)),))
    assert not ps2(m, s, a, forged)


# --- PS-11: the forced re-read after a Conflict ---------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_skipping_the_reread_breaks_ps11(policy: str) -> None:
    v = "no-reread-on-conflict"
    assert get_variant(v).breaks == "PS-11"
    r = bfs("pr", v, policy)
    assert r.verdict == VIOLATION and r.violation is not None
    want = (["PS-11"], DEPTHS["PS-11"][policy])
    assert (r.violation.property_ids, len(r.violation.trace.actions)) == want
    m = ParSyncModel(PRESETS["pr"].config, v, policy=policy)
    assert replay_violations(m, r) == {"PS-11"}  # nothing else notices


def test_ps11_is_the_only_property_that_sees_the_skipped_reread() -> None:
    """Without PS-11 the variant passes every check of the small scope."""
    m = ParSyncModel(PRESETS["small"].config, "no-reread-on-conflict")
    c = Checker(m)
    c._propose_props = [p for p in c._propose_props if p.id != "PS-11"]
    assert c.run().verdict == PASS


def test_reread_ghost_is_empty_between_steps_of_a_correct_model() -> None:
    """The protocol re-reads in the step that sets the ghost: no state carries it, so
    the counts do not move (small's pinned count)."""
    m = ParSyncModel(PRESETS["small"].config)
    r = Checker(m, symmetry=False).run()
    assert (r.verdict, r.states, r.transitions) == (PASS, 111_204, 257_200)
    assert m._interned  # every reachable worker was interned by the search
    workers = [x for x in m._interned if isinstance(x, Worker)]
    assert workers and all(w.reread == 0 for w in workers)


def test_ps11_reads_the_ghost_per_partition() -> None:
    m = ParSyncModel(PRESETS["small"].config)
    p11 = get_property("PS-11").action_pred
    assert p11 is not None
    s = m.init_state()
    s = m.step(s, m.enabled(s)[0])
    assert s is not None
    a = next(a for a in m.enabled(s) if isinstance(a, Propose))
    t = m.step(s, a)
    assert t is not None and p11(m, s, a, t)
    (b,) = a.buckets
    marked = s.workers[a.w]._replace(reread=1 << m.part[b])
    s2 = s._replace(workers=(*s.workers[: a.w], marked, *s.workers[a.w + 1 :]))
    assert not p11(m, s2, a, t)
    # any read of the partition clears it (here: the forced re-read itself)
    assert m.refresh(marked, s.broker, (m.part[b],)).reread == 0


# --- witnesses on ghost read times ---------------------------------------------------------


class _NoCarryForward(ParSyncModel):
    """Carry-forward switched off: every cycle re-reads every partition."""

    def start_cycle(self, wi: int, w: Worker, br: Broker) -> Worker:
        w = super().start_cycle(wi, w, br)
        return self.refresh(w, br, range(self.P))


def _old_stale_commit(m: ParSyncModel, s: State, a: object, t: State) -> bool:
    """W-stale-commit as it was: a read outside the partition ``cycle mod P``."""
    pm = _committed_msg(s, a, t)  # type: ignore[arg-type]
    return pm is not None and any(m.part[b] != pm.fresh for b, _ in pm.reads)


def test_carry_forward_off_reaches_no_stale_commit() -> None:
    m = _NoCarryForward(PRESETS["small"].config)
    r = Checker(m).run()
    assert r.witnesses["W-stale-commit"] is False
    assert r.witnesses["W-carry-forward-conflict"] is False
    assert r.witnesses["W-conflict"] is True  # conflicts remain, from fresh data
    # the statement on cycle mod P is still "reached": it never looked at read times
    old_hit = False
    seen = {m.init_state()}
    todo = [m.init_state()]
    while todo and not old_hit:
        s = todo.pop()
        for a, t in m.successors(s):
            if _old_stale_commit(m, s, a, t):
                old_hit = True
                break
            if t not in seen:
                seen.add(t)
                todo.append(t)
    assert old_hit


@pytest.mark.parametrize("preset", ["small", "pr", "capacity", "duplicates"])
def test_carry_forward_witnesses_are_reached(preset: str) -> None:
    """BFS until both are reached (the full checks reach them too: the presets pass)."""
    m = ParSyncModel(PRESETS[preset].config)
    got = _witness_search(m, {"W-stale-commit", "W-carry-forward-conflict"})
    assert got == {"W-stale-commit": True, "W-carry-forward-conflict": True}


def test_latency_first_never_proposes_on_carried_data() -> None:
    """Latency-first proposes only from partitions read this cycle: neither witness
    applies (``witness_applicable``), and neither is reached."""
    m = ParSyncModel(PRESETS["three-partitions"].config)
    assert m.config.strategy == "latency-first"
    ids = {"W-stale-commit", "W-carry-forward-conflict"}
    assert not any(witness_applicable(m, get_property(i)) for i in ids)
    assert _witness_search(m, ids) == dict.fromkeys(ids, False)


def _witness_search(m: ParSyncModel, ids: set[str]) -> dict[str, bool]:
    ws = [get_property(i) for i in ids]
    got = dict.fromkeys(ids, False)
    seen = {m.init_state()}
    frontier = [m.init_state()]
    while frontier and not all(got.values()):
        nxt = []
        for s in frontier:
            for a, t in m.successors(s):
                for w in ws:
                    if not got[w.id] and w.action_pred(m, s, a, t):  # type: ignore[misc]
                        got[w.id] = True
                if t not in seen:
                    seen.add(t)
                    nxt.append(t)
        frontier = nxt
    return got


def test_the_new_variants_are_reference_variants() -> None:
    names = {v.name for v in REFERENCE_VARIANTS}
    assert {"propose-stamps-broker-seqno", "no-reread-on-conflict"} <= names
