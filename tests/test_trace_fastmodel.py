"""TraceModel (parsync/traces/fastmodel.py) computes what ParSyncModel computes: each replaced
step is compared with the model's own on reachable states, at scopes with faults, gangs
and latency-first workers, and a trace validated with it matches one validated step by
step with ``ParSyncModel.successors``."""

from __future__ import annotations

import random
from dataclasses import replace
from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_trace_validate import SCOPES as VALIDATE_SCOPES

from parsync.model.actions import Crash
from parsync.model.config import Faults
from parsync.model.protocol import _IS_CRASH, ParSyncModel
from parsync.model.state import PLACED, State
from parsync.traces.fastmodel import PVec, TraceModel, pset
from parsync.traces.simulate import long_config
from parsync.traces.validate import Validator, validation_config

SCOPES = {name: validation_config(cfg) for name, cfg in VALIDATE_SCOPES.items()}
SCOPES["long"] = validation_config(long_config(needs=60))
SCOPES["latency"] = replace(SCOPES["long"], strategy="latency-first")


def _walk(m: ParSyncModel, seed: object, steps: int) -> list[State]:
    rng = random.Random(seed)
    s = m.init_state()
    out = [s]
    for _ in range(steps):
        moves = list(m.successors(s))
        if not moves:
            break
        s = rng.choice(moves)[1]
        out.append(s)
    return out


@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_steps_equal_the_models(scope: str) -> None:
    cfg = SCOPES[scope]
    base = ParSyncModel(cfg, memo=False)
    fast = TraceModel(cfg)
    for s in _walk(base, scope, 400):
        for wi, w in enumerate(s.workers):
            assert fast.start_cycle(wi, w, s.broker) == base.start_cycle(wi, w, s.broker)
            for c in (w.cycle, w.cycle + 3, max(0, w.cycle - 2)):  # cycles out of order too
                want = base.start_cycle(wi, w._replace(cycle=c), s.broker).pending
                got = fast.pending_of(wi, c + 1, w.known)
                assert got == want, (wi, c)
            assert fast.worker_moves(wi, w, s.broker) == base.worker_moves(wi, w, s.broker)
            for n in range(base.N):
                opts = base.choices(w, n)
                for bs in combinations(range(base.B), base.gang[n]):
                    assert fast.fits(w, n, bs) == (bs in opts), (wi, n, bs)
        for r in set(s.to_workers):
            w = s.workers[r.worker]
            assert fast.handle(r, w, s.broker) == base.handle(r, w, s.broker)
        # the broker as the validator holds it: per-need sequences as PVecs
        pbr = s.broker._replace(ledger=PVec(s.broker.ledger), status=PVec(s.broker.status))
        for p in set(s.to_broker):
            want = base.commit(s.broker, p)
            assert fast.commit(s.broker, p) == want
            got = fast.commit(pbr, p)
            assert got == want and type(got[0].status) is PVec
        for n in range(base.N):
            if s.broker.status[n] == PLACED:
                want_br = base.release(s.broker, n)
                assert fast.release(s.broker, n) == want_br == fast.release(pbr, n)
        assert list(fast.successors(s)) == list(base.successors(s))


def test_pending_of_takes_each_branch_and_equals_the_models() -> None:
    """pending_of's three cases - a few to do (peel and sort), none known (every arrived
    need, after a crash), some known (arrived in model order less the known) - and the
    rebuild when a cycle earlier than the last one is asked, all equal the model's scan."""
    cfg = validation_config(long_config(needs=400))
    base = ParSyncModel(cfg, memo=False)
    fast = TraceModel(cfg)
    w = base.init_state().workers[1]
    rng = random.Random(5)
    knowns = {
        "few to do": (1 << 400) - 1 - (1 << 5) - (1 << 301),
        "one to do": (1 << 399) - 1,
        "none known": 0,
        "every third known": sum(1 << n for n in range(0, 400, 3)),
        "random": rng.getrandbits(400),
        "many bits known": sum(1 << n for n in rng.sample(range(400), 40)),
    }
    for name, known in knowns.items():
        for c in (150, 3, 220, 219, 400):
            want = base.start_cycle(
                1, w._replace(cycle=c - 1, known=known), base.init_state().broker
            )
            assert fast.pending_of(1, c, known) == want.pending, (name, c)
            if c == 220 and name != "one to do":
                assert len(want.pending) > 4 or name == "few to do"  # the branch is taken


@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_validator_crash_path_is_the_models(scope: str) -> None:
    cfg = SCOPES[scope]
    base = ParSyncModel(cfg, memo=False)
    v = Validator(cfg, hidden=[])
    for s in _walk(base, scope, 300):
        for wi in range(base.W):
            want = [t for a, t in base.successors(s) if a == Crash(wi)]
            ok, why, _ = v._ev_Crash(s, {"type": "Crash", "worker": wi})
            assert ok == want and bool(why) != bool(want)
            assert all(
                f == _IS_CRASH
                for a, _, _, f in base.worker_moves(wi, s.workers[wi], s.broker)
                if a == Crash(wi)
            )


def test_the_initial_state_holds_pvecs_equal_to_the_models() -> None:
    cfg = validation_config(long_config(needs=600))
    got, want = TraceModel(cfg).init_state(), ParSyncModel(cfg, memo=False).init_state()
    assert got == want and hash(got) == hash(want)
    assert type(got.placed) is PVec and type(got.broker.status) is PVec


@given(
    st.lists(st.integers(0, 9), min_size=0, max_size=700),
    st.lists(st.tuples(st.integers(0, 699), st.integers(0, 9)), max_size=20),
)
def test_pvec_is_the_tuple_it_stands_for(items: list[int], edits: list[tuple[int, int]]) -> None:
    """Equality, hash, indexing, slicing, iteration, order and set() agree with a tuple."""
    t = tuple(items)
    v = PVec(items)
    for i, x in edits:
        if i < len(t):
            t = t[:i] + (x,) + t[i + 1 :]
            before = v
            v = pset(v, i, x)
            assert before != v or before[i] == x  # persistent: the old one is unchanged
        else:
            with pytest.raises(IndexError):
                v.set(i, x)
    assert v == t and t == v and not (v != t) and hash(v) == hash(t)
    assert len(v) == len(t) and tuple(v) == t and list(v) == list(t)
    assert all(v[i] == t[i] for i in range(len(t)))
    assert v[-1:] == t[-1:] and v[3:300:7] == t[3:300:7]
    assert {v, t} == {t} and repr(v) == repr(t)
    assert v == PVec(t) and hash(v) == hash(PVec(t))
    if t:
        bumped = pset(v, 0, t[0] + 1)
        assert bumped != v and bumped != t and not (bumped == t)
        assert (v < bumped) == (t < tuple(bumped))
        assert pset(t, 0, 5) == (5, *t[1:])  # a plain tuple: the slice copy


def test_validation_config_lifts_the_bounds_and_leaves_the_config_alone() -> None:
    cfg = long_config(needs=30)
    lifted = validation_config(cfg)
    big = 1 << 62
    assert lifted == replace(cfg, max_cycle=big, faults=Faults(big, big, big, big))
    assert hash(lifted) == hash(replace(cfg, max_cycle=big, faults=Faults(big, big, big, big)))
    assert cfg.max_cycle != big and cfg.faults.crash != big  # the original is untouched


@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_the_per_need_tables_are_the_models(scope: str) -> None:
    """TraceModel builds the per-need tables itself (one eligible tuple and set per
    distinct list): each equals the model's, and so does every other constant."""
    cfg = SCOPES[scope]
    if scope == "long":  # some needs eligible on a few buckets, in any order, some sizes 2
        needs = tuple(
            replace(n, eligible=(3, 1, 0) if i % 3 == 0 else None, size=1 + i % 2)
            for i, n in enumerate(cfg.needs)
        )
        cfg = replace(cfg, needs=needs, capacities=(3,) * len(cfg.capacities))
    base = ParSyncModel(cfg, memo=False)
    fast = TraceModel(cfg)
    for name in ("size", "prio", "owner", "arrival", "gang", "eligible", "eligible_sets"):
        assert tuple(getattr(fast, name)) == getattr(base, name), name
    skip = {"_caches", "_interned", "_moves_cache", "_deliver_cache", "_commit_cache"}
    skip |= {"_release_cache", "_failover_cache", "_handle_cache", "_bag_cache"}
    for name, want in vars(base).items():
        if name not in skip and name not in ("size", "prio", "owner", "arrival", "gang"):
            got = getattr(fast, name)
            if isinstance(want, tuple) and isinstance(got, list):
                got = tuple(got)
            assert got == want, name
    assert fast.config is cfg


def test_pending_at_with_needs_declared_by_events_is_the_scan() -> None:
    """pending_at (arrived Config needs and event-declared ones merged) equals the plain
    scan: the worker's needs arrived by the cycle or declared before the state's need
    count, not known placed, highest priority first - whichever branch it takes (few to
    do, many, none known)."""
    cfg = validation_config(long_config(needs=60))
    m = TraceModel(cfg)
    rng = random.Random(3)
    for _ in range(400):  # needs declared by events: ids 60.., owners at random
        m.add_need(rng.randrange(m.W), rng.randrange(5), 1, 1, m.all_buckets)
    for _ in range(600):
        wi = rng.randrange(m.W)
        c = rng.randrange(1, 40)
        count = rng.randrange(60, m.N + 1)
        mine = [n for n in m.needs_of[wi] if (n < 60 and m.arrival[n] <= c) or 60 <= n < count]
        known = sum(1 << n for n in mine if rng.random() < rng.choice((0.0, 0.5, 0.97, 1.0)))
        want = tuple(sorted((n for n in mine if not (known >> n) & 1), key=m._need_key))
        assert m.pending_at(wi, c, known, count) == want, (wi, c, count)
