"""Traces recorded from the model itself: a seeded random walk written as trace events.

What it is for: a source of traces that are valid by construction, of any
length and without threads, for the benchmark (``bench/bench_trace.py``) and
for tests that edit a known-good trace (a stale seqno, a skipped partition, a
duplicated placement) or mutate it at random. Every event carries every field
the format has, so "no hidden steps" holds.

The walk draws among the enabled actions of the Config's own scope (those of
``ParSyncModel.successors``, listed without building every next state: see
:func:`enabled`), choosing a fault (crash, drop, duplicate, failover) with
probability ``fault_rate`` when one is enabled, so long runs keep making
progress instead of spending the fault budget at once.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from parsync.model.actions import (
    Action,
    Commit,
    Crash,
    Defer,
    Deliver,
    Drop,
    Duplicate,
    Failover,
    HandleReply,
    Propose,
    Recover,
    Refresh,
    Reject,
    Release,
    Restart,
    StartCycle,
    Timeout,
)
from parsync.model.config import Config
from parsync.model.protocol import _IS_CRASH, _NEEDS_LOST, _PLAIN, ParSyncModel
from parsync.model.state import COMMITTED, Proposal, Reply, State, Worker, distinct
from parsync.traces.format import FORMAT, KIND_NAMES
from parsync.traces.validate import _reread


def header(
    config: Config,
    *,
    source: str,
    hidden: list[str] | None = None,
    version: int = 1,
    policy: str | None = None,
) -> dict[str, Any]:
    """The first line of a trace for ``config`` (version 1 unless asked: a model walk is
    a reference run, which every version accepts; ``policy`` only in version 2)."""
    h: dict[str, Any] = {
        "type": "header",
        "format": FORMAT,
        "version": version,
        "config": config.to_dict(),
        "source": source,
    }
    if hidden is not None:
        h["hidden"] = hidden
    if policy is not None:
        h["policy"] = policy
    return h


_WA = Callable[[ParSyncModel, int, Worker], tuple[tuple[Action, int], ...]]


def cache_last_worker(fn: _WA) -> _WA:
    """Remember ``fn``'s answer for the last worker value seen per (model, worker index).

    Between two steps of a walk most workers are unchanged (the same object), so
    their actions are looked up, not recomputed; the table holds one entry per
    worker, so memory stays constant.
    """
    last: dict[tuple[int, int], tuple[ParSyncModel, Worker, tuple[tuple[Action, int], ...]]] = {}

    def wrapper(m: ParSyncModel, wi: int, w: Worker) -> tuple[tuple[Action, int], ...]:
        e = last.get((id(m), wi))
        if e is not None and e[0] is m and e[1] is w:
            return e[2]
        got = fn(m, wi, w)
        last[(id(m), wi)] = (m, w, got)
        return got

    return wrapper


def _added(before: tuple[Any, ...], after: tuple[Any, ...]) -> Any:
    rest = list(before)
    for x in after:
        if x in rest:
            rest.remove(x)
        else:
            return x
    raise AssertionError("no message was added")


class _Ids:
    """Message ids of the walk: content -> ids of the copies in flight."""

    def __init__(self) -> None:
        self.n = 0
        self.flight: dict[Proposal | Reply, list[str]] = {}

    def new(self, m: Proposal | Reply) -> str:
        self.n += 1
        mid = f"m{self.n}"
        self.flight.setdefault(m, []).append(mid)
        return mid

    def take(self, m: Proposal | Reply) -> str:
        ids = self.flight[m]
        mid = ids.pop(0)
        if not ids:
            del self.flight[m]
        return mid


def _reads(m: ParSyncModel, w: Any, parts: tuple[int, ...]) -> list[dict[str, Any]]:
    return [{"partition": p, "entries": [list(e) for e in w.view[p][-1].entries]} for p in parts]


def event_of(m: ParSyncModel, s: State, a: Action, t: State, ids: _Ids) -> dict[str, Any]:
    """The trace event recording step ``s --a--> t`` with every field filled in."""
    if isinstance(a, StartCycle):
        w, nw = s.workers[a.w], t.workers[a.w]
        parts = (m.rotation(nw.cycle),) if w.up else ()
        return {
            "type": "StartCycle",
            "worker": a.w,
            "cycle": nw.cycle,
            "read": _reads(m, nw, parts),
        }
    if isinstance(a, Propose):
        p = _added(s.to_broker, t.to_broker)
        return {
            "type": "Propose",
            "worker": a.w,
            "need": p.need,
            "buckets": [list(r) for r in p.reads],
            "epoch": p.epoch,
            "priority": p.priority,
            "cycle": p.cycle,
            "attempt": p.attempt,
            "id": ids.new(p),
        }
    if isinstance(a, Defer):
        return {
            "type": "Defer",
            "worker": a.w,
            "need": a.n if a.n >= 0 else s.workers[a.w].pending[0],
        }
    # the broker's decision; Reject (version 2) is an answer other than the fixed order's
    if isinstance(a, (Commit, Reject)):
        r = _added(s.to_workers, t.to_workers)
        ev = {
            "type": "Commit",
            "id": ids.take(a.m),
            "worker": a.m.worker,
            "need": a.m.need,
            "result": KIND_NAMES[r.kind],
            "epoch": s.broker.epoch,
            "seq": [[b, t.broker.seq[b]] for b, _ in a.m.reads],
            "reply": ids.new(r),
        }
        if r.buckets:
            ev["conflicts"] = list(r.buckets)
        return ev
    if isinstance(a, Deliver):  # version 2, contract: the proposal keeps its id
        return {"type": "Deliver", "id": ids.flight[a.m][0], "worker": a.m.worker, "need": a.m.need}
    if isinstance(a, Timeout):
        return {"type": "Timeout", "worker": a.w}
    if isinstance(a, Refresh):
        return {"type": "Refresh", "worker": a.w, "read": _reads(m, t.workers[a.w], (a.p,))}
    if isinstance(a, Restart):
        return {"type": "Restart", "worker": a.w, "cycle": t.workers[a.w].cycle}
    if isinstance(a, HandleReply):
        r = a.r
        w, nw = s.workers[r.worker], t.workers[r.worker]
        stale = nw == w
        return {
            "type": "HandleReply",
            "worker": r.worker,
            "id": ids.take(r),
            "need": r.need,
            "kind": KIND_NAMES[r.kind],
            "stale": stale,
            "read": _reads(m, nw, _reread(m, r, stale)),
        }
    if isinstance(a, Release):
        buckets = list(s.broker.ledger[a.n])
        return {
            "type": "Release",
            "need": a.n,
            "buckets": buckets,
            "seq": [[b, t.broker.seq[b]] for b in buckets],
        }
    if isinstance(a, Crash):
        return {"type": "Crash", "worker": a.w}
    if isinstance(a, Recover):
        return {
            "type": "Recover",
            "worker": a.w,
            "read": _reads(m, t.workers[a.w], tuple(range(m.P))),
        }
    if isinstance(a, Drop):
        return {"type": "Drop", "id": ids.take(a.m)}
    if isinstance(a, Duplicate):
        src = ids.flight[a.m][0]
        return {"type": "Duplicate", "id": src, "copy": ids.new(a.m)}
    assert isinstance(a, Failover)
    return {"type": "Failover", "epoch": t.broker.epoch}


@cache_last_worker
def worker_actions(m: ParSyncModel, wi: int, w: Worker) -> tuple[tuple[Action, int], ...]:
    """The worker's own actions with their guard flags: ``worker_moves`` without next states.

    ``ParSyncModel.worker_moves`` builds every move's next worker, including a
    StartCycle's pending list (a scan of the worker's needs: thousands on a long
    trace) on every step the broker changes. A walk needs the actions only, and
    they depend on the worker alone, so they are computed once per worker value.
    The guards are ``_worker_moves``' (a test checks the lists are the same).
    """
    if not w.up:
        start = ((StartCycle(wi), _PLAIN),) if w.cycle < m.max_cycle else ()
        return (*start, (Recover(wi), _PLAIN))
    out: list[tuple[Action, int]] = []
    if w.cycle < m.max_cycle:
        if not w.waiting and not w.pending:
            out.append((StartCycle(wi), _PLAIN))
        elif w.waiting:
            out.append((StartCycle(wi), _NEEDS_LOST))
    if not w.waiting and w.pending:
        opts = m.choices(w, w.pending[0])
        out += [(Propose(wi, bs), _PLAIN) for bs in opts] if opts else [(Defer(wi), _PLAIN)]
    if m.max_crash > 0:
        out.append((Crash(wi), _IS_CRASH))
    return tuple(out)


def enabled(m: ParSyncModel, s: State, placed: set[int]) -> tuple[list[Action], ...]:
    """(faults, releases, the rest): the actions enabled in ``s``, in ``successors`` order.

    The walk needs the enabled actions but only one next state. ``successors``
    builds every next state and finds the releasable needs by scanning all N
    needs, which made a million-event walk take half an hour; here the worker
    moves come from the model's (memoised) ``worker_moves`` with the guards
    ``successors`` applies, and the releasable needs are ``placed``, the set of
    needs whose status is PLACED that the walk keeps up to date. A test checks
    the lists equal ``successors``' actions along walks with every fault.
    """
    br = s.broker
    crashes, drops, dups = s.faults
    faults: list[Action] = []
    rest: list[Action] = []
    for wi in range(m.W):
        w = s.workers[wi]
        for a, flag in worker_actions(m, wi, w):
            if flag == _NEEDS_LOST and not m.lost(s, wi, w):
                continue
            if flag == _IS_CRASH:
                if crashes < m.max_crash:
                    faults.append(a)
                continue
            rest.append(a)
    rest += [Commit(p) for p in m.deliverable(s.to_broker)]
    rest += [HandleReply(r) for r in distinct(s.to_workers) if s.workers[r.worker].up]
    if drops < m.max_drop or dups < m.max_dup:
        for x in (*distinct(s.to_broker), *distinct(s.to_workers)):
            if drops < m.max_drop:
                faults.append(Drop(x))
            if dups < m.max_dup:
                faults.append(Duplicate(x))
    if br.epoch < m.max_failover:
        faults.append(Failover())
    return faults, [Release(n) for n in sorted(placed)], rest


_CONTRACT_FAULTS = (Crash, Drop, Duplicate, Failover, Timeout, Refresh, Restart, Recover)


_T = TypeVar("_T")


def _draw(
    rng: random.Random,
    faults: list[_T],
    releases: list[_T],
    rest: list[_T],
    fault_rate: float,
    release_rate: float,
) -> _T:
    """One move of a random walk: a fault with probability ``fault_rate``, a release with
    ``release_rate``, else any other step; a kind that is not enabled gives way to the
    next (the random walks of the model, reference and contract, draw alike)."""
    r = rng.random()
    if faults and (r < fault_rate or not (rest or releases)):
        return rng.choice(faults)
    if releases and (r < fault_rate + release_rate or not rest):
        return rng.choice(releases)
    return rng.choice(rest)


def simulate_contract(
    config: Config,
    *,
    seed: int = 0,
    steps: int = 1000,
    fault_rate: float = 0.1,
    release_rate: float = 0.3,
) -> Iterator[dict[str, Any]]:
    """A version 2 trace of a random walk of the model's ``contract`` policy (header
    ``policy: contract``): Propose and Defer of any pending need, StartCycle at any
    time, Timeout, Refresh, Restart and every true broker reply, as the Config's fault
    budgets (``timeout``, ``extra_read``, ...) allow. It lists ``successors``, so it is
    for small Configs (tests), not for long benchmark traces."""
    rng = random.Random(seed)
    m = ParSyncModel(config, memo=False, policy="contract")
    s = m.init_state()
    ids = _Ids()
    yield header(
        config, source=f"contract random walk (seed {seed})", hidden=[], version=2,
        policy="contract",
    )  # fmt: skip
    for _ in range(steps):
        moves = list(m.successors(s))
        if not moves:
            return
        faults = [x for x in moves if isinstance(x[0], _CONTRACT_FAULTS)]
        releases = [x for x in moves if isinstance(x[0], Release)]
        rest = [x for x in moves if not isinstance(x[0], (*_CONTRACT_FAULTS, Release))]
        a, t = _draw(rng, faults, releases, rest, fault_rate, release_rate)
        yield event_of(m, s, a, t, ids)
        s = t


def simulate(
    config: Config,
    *,
    seed: int = 0,
    steps: int = 1000,
    fault_rate: float = 0.05,
    release_rate: float = 0.3,
) -> Iterator[dict[str, Any]]:
    """The header, then up to ``steps`` events of a random walk (ends if nothing is enabled).

    Each step draws from :func:`enabled` and builds only the chosen action's
    next state (``ParSyncModel.step``), so a step costs what one action costs;
    the draws are those of a walk over ``successors`` (same lists, same order,
    same random numbers), so a seed gives the same trace as it always did.
    """
    rng = random.Random(seed)
    # memo off: interning hashes the broker's N-long tuples on every commit, and a
    # walk rarely meets a component twice
    m = ParSyncModel(config, memo=False)
    s = m.init_state()
    ids = _Ids()
    placed: set[int] = set()  # needs whose status is PLACED: what Release may take
    yield header(config, source=f"model random walk (seed {seed})", hidden=[])
    for _ in range(steps):
        faults, releases, rest = enabled(m, s, placed)
        if not (faults or releases or rest):
            return
        a = _draw(rng, faults, releases, rest, fault_rate, release_rate)
        t = m.step(s, a)
        assert t is not None, f"{a} was listed as enabled"
        ev = event_of(m, s, a, t, ids)
        if isinstance(a, Release):
            placed.discard(a.n)
        elif isinstance(a, Commit) and ev["result"] == KIND_NAMES[COMMITTED]:
            placed.add(a.m.need)
        yield ev
        s = t


def simulate_sampled(
    config: Config,
    *,
    seed: int = 0,
    steps: int = 1000,
    fault_rate: float = 0.02,
    release_rate: float = 0.3,
    contract_steps: bool = False,
) -> Iterator[dict[str, Any]]:
    """A version 2 trace (policy contract) of a reference walk of a large Config.

    :func:`simulate` lists every bucket set a worker may propose (``choices``), which a
    Config with gangs over hundreds of buckets cannot afford (2 of 256: 32,640 sets per
    worker view). Here a worker's Propose is one bucket set drawn at random among those
    that fit (from its room list, never enumerated), Crash is built directly, and every
    other step is ``ParSyncModel.step``; the faults are the reference's (crash, drop,
    duplicate, failover) with probability ``fault_rate`` when enabled. A reference run is
    a contract run, so the header says version 2 and the contract, as a recorder of a
    real scheduler would. Reproducible under a seed; not the same walk as
    :func:`simulate`.

    ``contract_steps`` adds the contract's own steps to the faults drawn from, built
    directly (the reference's model has no such moves): Timeout of a waiting worker,
    Refresh of one partition drawn at random, Restart of a crashed worker; and a worker
    whose head need has had its R + 1 proposals this cycle (a timeout gives one more
    try) defers it (PS-6). The walk is then a contract walk, not a reference one.
    """
    from parsync.traces.fastmodel import TraceModel

    rng = random.Random(seed)
    m = TraceModel(config)
    limit = m.R + 1  # proposals of one need per cycle (PS-6)
    s = m.init_state()
    ids = _Ids()
    placed: set[int] = set()
    cache: dict[int, tuple[Worker, tuple[Action, ...]]] = {}

    def moves(wi: int, w: Worker) -> tuple[Action, ...]:
        e = cache.get(wi)
        if e is not None and e[0] is w:
            return e[1]
        out: list[Action] = []
        if not w.up:
            out += [StartCycle(wi), Recover(wi)]
        else:
            if not w.waiting and not w.pending:
                out.append(StartCycle(wi))
            if not w.waiting and w.pending:
                n = w.pending[0]
                room, _named = m._candidates(w, n)
                if contract_steps and w.attempts >= limit:
                    out.append(Defer(wi))
                elif len(room) >= m.gang[n]:
                    out.append(Propose(wi, tuple(sorted(rng.sample(room, m.gang[n])))))
                else:
                    out.append(Defer(wi))
        got = tuple(out)
        cache[wi] = (w, got)
        return got

    yield header(
        config, source=f"sampled reference walk (seed {seed})", hidden=[], version=2,
        policy="contract",
    )  # fmt: skip
    for _ in range(steps):
        faults: list[Action] = []
        rest: list[Action] = []
        f = s.faults
        for wi, w in enumerate(s.workers):
            rest += moves(wi, w)
            if w.up:
                faults.append(Crash(wi))
                if w.waiting and m.lost(s, wi, w):
                    rest.append(StartCycle(wi))
                if contract_steps:
                    if w.waiting:
                        faults.append(Timeout(wi))
                    faults.append(Refresh(wi, rng.randrange(m.P)))
            elif contract_steps:
                faults.append(Restart(wi))
        rest += [Commit(p) for p in m.deliverable(s.to_broker)]
        rest += [HandleReply(r) for r in distinct(s.to_workers) if s.workers[r.worker].up]
        for x in (*distinct(s.to_broker), *distinct(s.to_workers)):
            faults += [Drop(x), Duplicate(x)]
        faults.append(Failover())
        releases = [Release(n) for n in sorted(placed)]
        r = rng.random()
        if r < fault_rate or not (rest or releases):
            a = rng.choice(faults)
        elif releases and (r < fault_rate + release_rate or not rest):
            a = rng.choice(releases)
        else:
            a = rng.choice(rest)
        if isinstance(a, Crash):
            ws = s.workers[: a.w] + (m.crash(s.workers[a.w]),) + s.workers[a.w + 1 :]
            t: State | None = s._replace(workers=ws, faults=(f[0] + 1, *f[1:]))
        elif contract_steps and isinstance(a, Timeout | Refresh | Restart | Defer):
            w = s.workers[a.w]
            # (the reference's fault counts have no timeout or extra-read slot; a trace
            # does not carry them)
            if isinstance(a, Timeout):
                nw = m.timeout(w)
            elif isinstance(a, Refresh):
                nw = m.refresh(w, s.broker, (a.p,))
            elif isinstance(a, Restart):
                nw = m.restart(w)
            else:
                nw = m.defer(w)
            t = s._replace(workers=s.workers[: a.w] + (nw,) + s.workers[a.w + 1 :])
        else:
            t = m.step(s, a)
        assert t is not None, f"{a} was listed as enabled"
        ev = event_of(m, s, a, t, ids)
        if isinstance(a, Release):
            placed.discard(a.n)
        elif isinstance(a, Commit) and ev["result"] == KIND_NAMES[COMMITTED]:
            placed.add(a.m.need)
        yield ev
        s = t


def write_trace(out: IO[str], lines: Iterator[dict[str, Any]]) -> int:
    """Write JSONL; the number of event lines written (the header excluded)."""
    n = -1
    for d in lines:
        out.write(json.dumps(d, separators=(",", ":")) + "\n")
        n += 1
    return max(n, 0)


def write_file(path: str | Path, lines: Iterator[dict[str, Any]]) -> int:
    with open(path, "w", encoding="utf-8") as f:
        return write_trace(f, lines)


def with_delivers(walk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A contract walk (its header first) with a ``Deliver`` logged for every proposal
    the broker decides on (``simulate_sampled`` leaves delivery unlogged): just after
    its Propose when no Drop or Duplicate names it (so the broker's inbox holds several
    proposals at once), else just before its Commit (the network's faults never touch
    the inbox). The events are the walk's own; each Deliver is a new dict."""
    faulted = {ev["id"] for ev in walk[1:] if ev["type"] in ("Drop", "Duplicate")}
    faulted |= {ev["copy"] for ev in walk[1:] if ev["type"] == "Duplicate" and "copy" in ev}
    decided = {ev["id"] for ev in walk[1:] if ev["type"] == "Commit"}
    out = [walk[0]]
    for ev in walk[1:]:
        d = (
            {"type": "Deliver", "id": ev["id"], "worker": ev["worker"], "need": ev["need"]}
            if ev["type"] in ("Propose", "Commit")
            else None
        )
        if d is not None and ev["type"] == "Commit" and ev["id"] in faulted:
            out.append(d)
        out.append(ev)
        if (
            d is not None
            and ev["type"] == "Propose"
            and ev["id"] in decided
            and ev["id"] not in faulted
        ):
            out.append(d)
    return out


__all__ = [
    "enabled",
    "event_of",
    "header",
    "simulate",
    "simulate_contract",
    "simulate_sampled",
    "with_delivers",
    "write_file",
    "write_trace",
]


def long_config(*, needs: int, workers: int = 4, partitions: int = 4, buckets: int = 8) -> Config:
    """A scope for long traces: needs arrive a few per cycle over many cycles.

    Arrivals are spread so each worker has a short pending list at any time,
    and bucket capacities leave room for releases to matter; the cycle bound
    and fault budgets are large (the validator lifts them anyway).
    """
    from parsync.model.config import Faults, Need

    per_cycle = max(1, workers // 2)
    ns = tuple(
        Need(
            owner=i % workers,
            priority=1 + i % 3,
            arrival=1 + i // per_cycle,
            gang=2 if i % 7 == 0 else 1,
        )
        for i in range(needs)
    )
    return Config(
        workers=workers,
        partitions=partitions,
        capacities=tuple(2 + b % 2 for b in range(buckets)),
        needs=ns,
        retry_budget=1,
        strategy="adaptive",
        max_cycle=1 << 30,
        faults=Faults(crash=1 << 30, drop=1 << 30, duplicate=1 << 30, failover=1 << 30),
    )
