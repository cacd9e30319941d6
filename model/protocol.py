"""The ParSync protocol (ADR-0031) as a TLA+-style state machine.

``ParSyncModel(config, variant)`` offers what a model checker needs: the initial
state (``Init``), the enabled actions with their next states (``Next`` is their
disjunction), and a single-step function for replay. Every action is written in
TLA+ order: guards first, then the new values; unchanged variables are simply
carried over by ``_replace``.

Protocol summary (DESIGN.md section 2):

* ``StartCycle(w)``: cycle += 1; refresh partition ``cycle mod P`` from the
  broker; pending := own needs that have arrived and are not known placed. A
  live worker starts a cycle when it is idle, or when its outstanding proposal
  and reply have both been lost (its timeout). A crashed worker's cycles tick
  too (cycles are time-paced), so staleness keeps growing while it is down.
* ``Propose(w, buckets)``: the head pending need, on buckets the worker's view
  says have room, as the strategy allows (latency-first: freshest partitions
  only; quality-first: any partition; adaptive: its current mode).
* ``Defer(w)``: nothing fits; the head need waits for a later cycle.
* ``Commit(m)``: the broker takes proposals highest priority first on shared
  buckets; fences older epochs; answers AlreadyPlaced for a placed need;
  otherwise seqno CAS over every touched bucket: Committed or Conflict. No
  capacity re-check: the CAS must be enough.
* ``HandleReply(r)``: Committed/AlreadyPlaced -> next need; Conflict -> forced
  fresh read of the conflicted partitions, retry (past R: defer); Fenced ->
  full re-read (new epoch), retry. Replies whose tag is not the outstanding
  attempt are discarded.
* ``Release(n)``: a placed need completes; claims removed, seqnos rise.
* Faults: ``Crash(w)``, ``Recover(w)`` (full re-read), ``Drop(m)``,
  ``Duplicate(m)``, ``Failover()`` (new epoch from the durable state).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

from .actions import (
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
)
from .config import Config
from .state import (
    ALREADY,
    COMMITTED,
    CONFLICT,
    FENCED,
    LATENCY,
    PLACED,
    QUALITY,
    RELEASED,
    UNPLACED,
    Broker,
    Proposal,
    Reply,
    Snapshot,
    State,
    Worker,
    bag_add,
    bag_remove,
    distinct,
)
from .variants import get_variant


class ParSyncModel:
    """The ParSync state machine for one Config, optionally a known-bad variant."""

    def __init__(self, config: Config, variant: str | None = None) -> None:
        self.config = config
        self.variant = variant
        if variant is not None:
            get_variant(variant)  # raises KeyError with the list of names
        v = variant or ""
        self.v_fresh_only = v == "validate-fresh-partition-only"
        self.v_gang_fit = v == "gang-fit-first-bucket-only"
        self.v_gang_bump = v == "gang-second-bucket-no-bump"
        self.v_rotation = v == "rotation-skips-partition"
        self.v_keep_view = v == "recovered-keeps-view"
        self.v_keep_ledger = v == "release-keeps-ledger"
        self.v_no_dedup = v == "no-dedup"
        self.v_no_fencing = v == "no-epoch-fencing"
        self.v_lagging = v == "lagging-replica-failover"
        self.v_priority = v == "priority-ignored"
        self.v_retry = v == "retry-off-by-one"
        self.v_unbounded = v == "unbounded-carry-forward"

        c = config
        self.W = c.workers
        self.P = c.partitions
        self.B = c.buckets
        self.N = len(c.needs)
        self.R = c.retry_budget
        self.max_cycle = c.max_cycle
        self.cap = c.capacities
        self.part = tuple(c.partition_of(b) for b in range(self.B))
        self.members = tuple(c.members(p) for p in range(self.P))
        self.idx = tuple(self.members[self.part[b]].index(b) for b in range(self.B))
        self.size = tuple(n.size for n in c.needs)
        self.prio = tuple(n.priority for n in c.needs)
        self.owner = tuple(n.owner for n in c.needs)
        self.arrival = tuple(n.arrival for n in c.needs)
        self.gang = tuple(n.gang for n in c.needs)
        # a worker works on its needs highest priority first (ties: lowest id)
        self.needs_of = tuple(
            tuple(sorted((n for n in range(self.N) if self.owner[n] == w), key=self._need_key))
            for w in range(self.W)
        )
        self.combos = tuple(
            tuple(combinations(sorted(c.eligible(n)), self.gang[n])) for n in range(self.N)
        )
        self.initial_mode = LATENCY if c.strategy == "latency-first" else QUALITY
        self.adaptive = c.strategy == "adaptive"
        f = c.faults
        self.max_crash, self.max_drop, self.max_dup, self.max_failover = (
            f.crash,
            f.drop,
            f.duplicate,
            f.failover,
        )

    def _need_key(self, n: int) -> tuple[int, int]:
        return (-self.prio[n], n)

    # --- helpers -------------------------------------------------------------
    def used(self, br: Broker, b: int) -> int:
        size = self.size
        return sum(size[n] for n in br.claims[b])

    def read(self, br: Broker, p: int, at: int) -> Snapshot:
        """A fresh read of partition ``p`` from the broker, stamped ``read_at = at``."""
        seq = br.seq
        return Snapshot(at, tuple((seq[b], self.used(br, b)) for b in self.members[p]))

    def _store(self, w: Worker, p: int, snap: Snapshot) -> tuple[tuple[Snapshot, ...], ...]:
        view = list(w.view)
        view[p] = (*view[p], snap) if self.v_unbounded else (snap,)
        return tuple(view)

    def refresh(self, w: Worker, br: Broker, parts: tuple[int, ...] | range) -> Worker:
        """Fresh read of ``parts``: view, fresh_at and epoch all updated."""
        view = list(w.view)
        fresh = list(w.fresh_at)
        for p in parts:
            snap = self.read(br, p, w.cycle)
            view[p] = (*view[p], snap) if self.v_unbounded else (snap,)
            fresh[p] = w.cycle
        return w._replace(view=tuple(view), fresh_at=tuple(fresh), epoch=br.epoch)

    def view_entry(self, w: Worker, b: int) -> tuple[int, int] | None:
        """(seq, used) of bucket ``b`` in the worker's latest snapshot, if any."""
        snaps = w.view[self.part[b]]
        if not snaps:
            return None
        return snaps[-1].entries[self.idx[b]]

    def rotation(self, cycle: int) -> int:
        if self.v_rotation and self.P > 1:
            return cycle % (self.P - 1)
        return cycle % self.P

    def choices(self, w: Worker, n: int) -> list[tuple[int, ...]]:
        """Bucket sets the worker may propose for need ``n`` (strategy + view room)."""
        if w.mode == LATENCY:
            top = max(w.fresh_at)
            allowed = {p for p in range(self.P) if w.fresh_at[p] == top}
        else:
            allowed = None
        sz = self.size[n]
        cap = self.cap
        part = self.part
        out = []
        for combo in self.combos[n]:
            ok = True
            for k, b in enumerate(combo):
                if allowed is not None and part[b] not in allowed:
                    ok = False
                    break
                e = self.view_entry(w, b)
                if e is None:
                    ok = False
                    break
                if self.v_gang_fit and k > 0:
                    continue
                if e[1] + sz > cap[b]:
                    ok = False
                    break
            if ok:
                out.append(combo)
        return out

    def lost(self, s: State, wi: int, w: Worker) -> bool:
        """The worker's outstanding proposal and its reply are both gone (timeout)."""
        for m in s.to_broker:
            if m.worker == wi and m.cycle == w.cycle and m.attempt == w.attempts:
                return False
        for r in s.to_workers:
            if r.worker == wi and r.cycle == w.cycle and r.attempt == w.attempts:
                return False
        return True

    # --- Init ----------------------------------------------------------------
    def init_state(self) -> State:
        br = Broker(
            epoch=0,
            seq=(0,) * self.B,
            claims=((),) * self.B,
            ledger=((),) * self.N,
            status=(UNPLACED,) * self.N,
            replica=None,
        )
        if self.v_lagging:
            br = br._replace(replica=(br.seq, br.claims, br.ledger, br.status))
        # every worker starts with a full bootstrap read at cycle 0
        w0 = Worker(
            up=True,
            cycle=0,
            mode=self.initial_mode,
            epoch=0,
            fresh_at=(0,) * self.P,
            view=tuple((self.read(br, p, 0),) for p in range(self.P)),
            pending=(),
            waiting=False,
            retries=0,
            attempts=0,
            known=0,
        )
        return State(
            broker=br,
            workers=(w0,) * self.W,
            to_broker=(),
            to_workers=(),
            faults=(0, 0, 0),
            placed=(0,) * self.N,
        )

    def init_states(self) -> list[State]:
        return [self.init_state()]

    # --- Next ----------------------------------------------------------------
    def successors(self, s: State) -> Iterator[tuple[Action, State]]:
        """Every enabled action with its next state, in a deterministic order."""
        for wi in range(self.W):
            yield from self._worker_steps(s, wi)
        seen_prio = self.v_priority
        for m in distinct(s.to_broker):
            if not seen_prio and self._blocked(s, m):
                continue
            yield Commit(m), self._commit(s, m)
        for r in distinct(s.to_workers):
            w = s.workers[r.worker]
            if w.up:
                yield HandleReply(r), self._handle(s, r, w)
        for n in range(self.N):
            if s.broker.status[n] == PLACED:
                yield Release(n), self._release(s, n)
        crashes, drops, dups = s.faults
        if drops < self.max_drop or dups < self.max_dup:
            for m in (*distinct(s.to_broker), *distinct(s.to_workers)):
                if drops < self.max_drop:
                    yield Drop(m), self._drop(s, m)
                if dups < self.max_dup:
                    yield Duplicate(m), self._dup(s, m)
        if s.broker.epoch < self.max_failover:
            yield Failover(), self._failover(s)

    def step(self, s: State, a: Action) -> State | None:
        """The next state if ``a`` is enabled in ``s``, else None (for replay)."""
        for b, t in self.successors(s):
            if b == a:
                return t
        return None

    def enabled(self, s: State) -> list[Action]:
        return [a for a, _ in self.successors(s)]

    # --- worker actions --------------------------------------------------------
    def _set_worker(self, s: State, wi: int, w: Worker, **kw: object) -> State:
        ws = list(s.workers)
        ws[wi] = w
        return s._replace(workers=tuple(ws), **kw)

    def _worker_steps(self, s: State, wi: int) -> Iterator[tuple[Action, State]]:
        w = s.workers[wi]
        crashes = s.faults[0]
        if not w.up:
            if w.cycle < self.max_cycle:  # time passes while down
                yield StartCycle(wi), self._set_worker(s, wi, w._replace(cycle=w.cycle + 1))
            yield Recover(wi), self._recover(s, wi, w)
            return
        if w.cycle < self.max_cycle and (
            (not w.waiting and not w.pending) or (w.waiting and self.lost(s, wi, w))
        ):
            yield StartCycle(wi), self._start_cycle(s, wi, w)
        if not w.waiting and w.pending:
            n = w.pending[0]
            opts = self.choices(w, n)
            if opts:
                for bs in opts:
                    yield Propose(wi, bs), self._propose(s, wi, w, n, bs)
            else:
                yield Defer(wi), self._defer(s, wi, w)
        if crashes < self.max_crash:
            yield Crash(wi), self._crash(s, wi, w)

    def _start_cycle(self, s: State, wi: int, w: Worker) -> State:
        c = w.cycle + 1
        p = self.rotation(c)
        w = w._replace(cycle=c)
        w = self.refresh(w, s.broker, (p,))
        known = w.known
        arrival = self.arrival
        pending = tuple(
            n for n in self.needs_of[wi] if arrival[n] <= c and not (known >> n) & 1
        )
        w = w._replace(pending=pending, waiting=False, retries=0, attempts=0)
        return self._set_worker(s, wi, w)

    def _propose(self, s: State, wi: int, w: Worker, n: int, bs: tuple[int, ...]) -> State:
        reads = []
        for b in bs:
            e = self.view_entry(w, b)
            assert e is not None
            reads.append((b, e[0]))
        att = w.attempts + 1
        m = Proposal(
            worker=wi,
            need=n,
            priority=self.prio[n],
            epoch=w.epoch,
            reads=tuple(reads),
            cycle=w.cycle,
            attempt=att,
            fresh=self.rotation(w.cycle),
        )
        w = w._replace(waiting=True, attempts=att)
        return self._set_worker(s, wi, w, to_broker=bag_add(s.to_broker, m))

    def _next_need(self, w: Worker) -> Worker:
        return w._replace(pending=w.pending[1:], waiting=False, retries=0, attempts=0)

    def _defer(self, s: State, wi: int, w: Worker) -> State:
        w = self._next_need(w)
        if self.adaptive and w.mode == LATENCY:
            w = w._replace(mode=QUALITY)  # scheduling delay observed: widen the search
        return self._set_worker(s, wi, w)

    def _crash(self, s: State, wi: int, w: Worker) -> State:
        crashes, drops, dups = s.faults
        if self.v_keep_view:
            view, fresh = w.view, w.fresh_at
        else:
            view, fresh = ((),) * self.P, (-1,) * self.P
        w = w._replace(
            up=False,
            mode=self.initial_mode,
            fresh_at=fresh,
            view=view,
            pending=(),
            waiting=False,
            retries=0,
            attempts=0,
            known=0,
        )
        return self._set_worker(s, wi, w, faults=(crashes + 1, drops, dups))

    def _recover(self, s: State, wi: int, w: Worker) -> State:
        w = w._replace(up=True)
        if self.v_keep_view:
            w = w._replace(fresh_at=(w.cycle,) * self.P)  # marked fresh, never re-read
        else:
            w = self.refresh(w, s.broker, range(self.P))
        return self._set_worker(s, wi, w)

    # --- broker actions --------------------------------------------------------
    def _blocked(self, s: State, m: Proposal) -> bool:
        """Priority on conflict: a higher-priority proposal shares a bucket with m."""
        mine = {b for b, _ in m.reads}
        for o in s.to_broker:
            if o.priority > m.priority:
                for b, _ in o.reads:
                    if b in mine:
                        return True
        return False

    def _reply(self, s: State, m: Proposal, kind: int, buckets: tuple[int, ...] = ()) -> Reply:
        return Reply(m.worker, m.need, kind, m.cycle, m.attempt, buckets)

    def _commit(self, s: State, m: Proposal) -> State:
        br = s.broker
        rest = bag_remove(s.to_broker, m)
        n = m.need
        if m.epoch != br.epoch and not self.v_no_fencing:
            r = self._reply(s, m, FENCED)
            return s._replace(to_broker=rest, to_workers=bag_add(s.to_workers, r))
        if br.status[n] != UNPLACED and not self.v_no_dedup:
            r = self._reply(s, m, ALREADY)
            return s._replace(to_broker=rest, to_workers=bag_add(s.to_workers, r))
        conflicted = tuple(
            b
            for b, sq in m.reads
            if br.seq[b] != sq and not (self.v_fresh_only and self.part[b] != m.fresh)
        )
        if conflicted:
            r = self._reply(s, m, CONFLICT, conflicted)
            return s._replace(to_broker=rest, to_workers=bag_add(s.to_workers, r))
        seq = list(br.seq)
        claims = list(br.claims)
        for k, (b, _) in enumerate(m.reads):
            if not (self.v_gang_bump and k > 0):
                seq[b] += 1
            claims[b] = tuple(sorted((*claims[b], n)))
        ledger = list(br.ledger)
        ledger[n] = tuple(sorted({*ledger[n], *(b for b, _ in m.reads)}))
        status = list(br.status)
        status[n] = PLACED
        placed = list(s.placed)
        placed[n] += 1
        nb = br._replace(
            seq=tuple(seq), claims=tuple(claims), ledger=tuple(ledger), status=tuple(status)
        )
        if self.v_lagging:
            nb = nb._replace(replica=(br.seq, br.claims, br.ledger, br.status))
        r = self._reply(s, m, COMMITTED)
        return s._replace(
            broker=nb,
            to_broker=rest,
            to_workers=bag_add(s.to_workers, r),
            placed=tuple(placed),
        )

    def _release(self, s: State, n: int) -> State:
        br = s.broker
        seq = list(br.seq)
        claims = list(br.claims)
        for b in br.ledger[n]:
            seq[b] += 1
            cl = list(claims[b])
            cl.remove(n)
            claims[b] = tuple(cl)
        ledger = list(br.ledger)
        if not self.v_keep_ledger:
            ledger[n] = ()
        status = list(br.status)
        status[n] = RELEASED
        nb = br._replace(
            seq=tuple(seq), claims=tuple(claims), ledger=tuple(ledger), status=tuple(status)
        )
        if self.v_lagging:
            nb = nb._replace(replica=(br.seq, br.claims, br.ledger, br.status))
        return s._replace(broker=nb)

    def _failover(self, s: State) -> State:
        br = s.broker
        nb = br._replace(epoch=br.epoch + 1)
        if self.v_lagging and br.replica is not None:
            seq, claims, ledger, status = br.replica
            nb = nb._replace(seq=seq, claims=claims, ledger=ledger, status=status)
        return s._replace(broker=nb)

    # --- replies ---------------------------------------------------------------
    def _handle(self, s: State, r: Reply, w: Worker) -> State:
        wi = r.worker
        rest = bag_remove(s.to_workers, r)
        if not (w.waiting and r.cycle == w.cycle and r.attempt == w.attempts):
            return s._replace(to_workers=rest)  # stale reply: discarded
        if r.kind in (COMMITTED, ALREADY):
            w = self._next_need(w._replace(known=w.known | (1 << r.need)))
            return self._set_worker(s, wi, w, to_workers=rest)
        if r.kind == CONFLICT:
            parts = tuple(sorted({self.part[b] for b in r.buckets}))
            w = self.refresh(w, s.broker, parts)
            if self.adaptive and w.mode == QUALITY:
                w = w._replace(mode=LATENCY)  # conflicts observed: narrow to fresh data
        else:  # FENCED: re-synchronise everything under the new epoch
            w = self.refresh(w, s.broker, range(self.P))
        retries = w.retries + 1
        limit = self.R + 1 if self.v_retry else self.R
        if retries > limit:
            w = self._next_need(w)
        else:
            w = w._replace(waiting=False, retries=retries)
        return self._set_worker(s, wi, w, to_workers=rest)

    # --- network faults ----------------------------------------------------------
    def _drop(self, s: State, m: Proposal | Reply) -> State:
        crashes, drops, dups = s.faults
        f = (crashes, drops + 1, dups)
        if isinstance(m, Proposal):
            return s._replace(to_broker=bag_remove(s.to_broker, m), faults=f)
        return s._replace(to_workers=bag_remove(s.to_workers, m), faults=f)

    def _dup(self, s: State, m: Proposal | Reply) -> State:
        crashes, drops, dups = s.faults
        f = (crashes, drops, dups + 1)
        if isinstance(m, Proposal):
            return s._replace(to_broker=bag_add(s.to_broker, m), faults=f)
        return s._replace(to_workers=bag_add(s.to_workers, m), faults=f)
