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

That is the ``reference`` policy. ``policy="contract"`` (see ``POLICIES``) adds
every choice the ADRs leave to the implementation: ``Propose(w, bs, n)`` and
``Defer(w, n)`` of any pending need, the adaptive strategy in either mode at
each proposal, ``StartCycle`` at any time, ``Timeout(w)`` while waiting,
``Refresh(w, p)`` (an extra fresh read), ``Restart(w)`` (recovery with nothing
re-read), and ``Reject(m, kind)`` (any reply that is true of ``m``). The contract
also keeps the network apart from the broker's inbox: ``Deliver(m)`` moves a
proposal from the network (``to_broker``) into ``State.inbox``; ``Commit`` and
``Reject`` take from the inbox only, priority on conflict looks at the inbox only
(what the broker has received), ``Drop`` and ``Duplicate`` act on the network
only, and ``Failover`` keeps the inbox (a durable queue). In the reference,
delivery and decision stay one step over ``to_broker`` and the inbox stays empty. Timeouts
and extra reads are budgeted per run (``Faults.timeout``, ``Faults.extra_read``)
like the faults, and counted in ``State.faults[3:]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations
from typing import TypeVar

from parsync.model.actions import (
    ACTION_NAMES,
    ACTION_TYPES,
    ALL_ACTION_TYPES,
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
from parsync.model.state import (
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
from parsync.model.variants import get_variant

# The two policy profiles (DESIGN section "Contract and policy"):
# * ``contract``: every behaviour ADR-0031 and the OCC invariants allow. Where the
#   ADRs leave a choice open, every choice is a separate successor: which pending
#   need to propose or defer, the adaptive mode at each proposal, a timeout at any
#   time, extra fresh reads, recovery reading partitions one at a time, and any
#   broker reply that is true of the proposal.
# * ``reference``: one implementation's heuristics (head need first, defer only
#   when nothing fits, "a conflict narrows, a deferral widens", a timeout only once
#   the proposal and its reply are both lost, full re-read on recovery, the
#   broker's fixed check order). A restriction of the contract: every reference
#   transition is a contract transition (tests/test_policy.py checks it).
POLICIES: tuple[str, ...] = ("contract", "reference")


class PolicyError(ValueError):
    """An unknown policy name."""


class ParSyncModel:
    """The ParSync state machine for one Config, optionally a known-bad variant."""

    def __init__(
        self,
        config: Config,
        variant: str | None = None,
        *,
        memo: bool = True,
        policy: str = "reference",
    ) -> None:
        if policy not in POLICIES:
            raise PolicyError(f"unknown policy {policy!r}; the policies are {', '.join(POLICIES)}")
        self.policy = policy
        self.contract = policy == "contract"
        self.action_types: tuple[type, ...] = ALL_ACTION_TYPES if self.contract else ACTION_TYPES
        self.action_names: tuple[str, ...] = tuple(t.__name__ for t in self.action_types)
        assert self.action_names[: len(ACTION_NAMES)] == ACTION_NAMES
        self.config = config
        self.memo = memo
        # Memo tables are keyed by object identity (cheap to hash) and keep the
        # key objects alive in the entry, checked with ``is`` on every hit, so an
        # id can never be reused by a different object while its entry exists.
        # Components produced by the model are interned, so equal components
        # reached along different paths are one object and hit the same entry.
        self._interned: dict[object, object] = {}
        self._moves_cache: dict[tuple[int, int, int], tuple[Worker, Broker, tuple[_Move, ...]]] = {}
        self._deliver_cache: dict[tuple[Proposal, ...], list[Proposal]] = {}
        self._commit_cache: dict[
            tuple[int, Proposal], tuple[Broker, tuple[Broker, Reply, bool]]
        ] = {}
        self._release_cache: dict[tuple[int, int], tuple[Broker, Broker]] = {}
        self._failover_cache: dict[int, tuple[Broker, Broker]] = {}
        self._handle_cache: dict[tuple[Reply, int, int], tuple[Worker, Broker, Worker]] = {}
        self._bag_cache: dict[
            tuple[int, object, bool], tuple[tuple[object, ...], tuple[object, ...]]
        ] = {}
        self._caches: tuple[dict, ...] = (  # type: ignore[type-arg]
            self._interned,
            self._bag_cache,
            self._failover_cache,
            self._moves_cache,
            self._deliver_cache,
            self._commit_cache,
            self._release_cache,
            self._handle_cache,
        )
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
        self.v_resets_tag = v == "retry-resets-tag"
        self.v_timeout_tag = v == "timeout-reuses-tag"
        self.v_dedup_wc = v == "dedup-by-worker-cycle"
        self.v_room_lt = v == "room-as-used-below-cap"
        self.v_count_claims = v == "used-counts-claims"
        self.v_stamp_broker = v == "propose-stamps-broker-seqno"
        self.v_no_reread = v == "no-reread-on-conflict"

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
        # each need's eligible buckets, ascending: a proposal's bucket set is a
        # ``gang``-subset of them; the sets are never enumerated up front (a gang of 8
        # over 1,024 buckets has ~10^19), only those the worker's view lets fit
        self.eligible = tuple(tuple(sorted(c.eligible(n))) for n in range(self.N))
        self.eligible_sets = tuple(frozenset(e) for e in self.eligible)
        self.initial_mode = LATENCY if c.strategy == "latency-first" else QUALITY
        self.adaptive = c.strategy == "adaptive"
        f = c.faults
        self.max_crash, self.max_drop, self.max_dup, self.max_failover = (
            f.crash,
            f.drop,
            f.duplicate,
            f.failover,
        )
        # the contract's timeouts are budgeted like faults (a state constraint of the
        # exhaustive scope; trace validation lifts it): State.faults gains a fourth
        # counter under the contract, timeouts used so far
        self.max_timeout = f.timeout if self.contract else 0
        self.max_extra_read = f.extra_read if self.contract else 0

    def _need_key(self, n: int) -> tuple[int, int]:
        return (-self.prio[n], n)

    # --- helpers -------------------------------------------------------------
    def used(self, br: Broker, b: int) -> int:
        """Units claimed on bucket ``b``: the sum of its claims' sizes (ground truth)."""
        size = self.size
        return sum(size[n] for n in br.claims[b])

    def reported_used(self, br: Broker, b: int) -> int:
        """What a read reports as bucket ``b``'s used units (the variant: its claims)."""
        if self.v_count_claims:
            return len(br.claims[b])
        return self.used(br, b)

    def room(self, used: int, n: int, b: int) -> bool:
        """The fit test: need ``n`` has room on bucket ``b`` at ``used`` units."""
        if self.v_room_lt:
            return used < self.cap[b]
        return used + self.size[n] <= self.cap[b]

    def read(self, br: Broker, p: int, at: int) -> Snapshot:
        """A fresh read of partition ``p`` from the broker, stamped ``read_at = at``."""
        seq = br.seq
        return Snapshot(at, tuple((seq[b], self.reported_used(br, b)) for b in self.members[p]))

    def refresh(self, w: Worker, br: Broker, parts: tuple[int, ...] | range) -> Worker:
        """Fresh read of ``parts``: view, fresh_at and epoch all updated."""
        view = list(w.view)
        fresh = list(w.fresh_at)
        reread = w.reread
        for p in parts:
            snap = self.read(br, p, w.cycle)
            view[p] = (*view[p], snap) if self.v_unbounded else (snap,)
            fresh[p] = w.cycle
            reread &= ~(1 << p)  # ghost: the partition was read again (PS-11)
        if reread != w.reread:
            return w._replace(
                view=tuple(view), fresh_at=tuple(fresh), epoch=br.epoch, reread=reread
            )
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

    def _allowed(self, w: Worker) -> set[int] | None:
        """Partitions the worker's strategy lets it propose on (None: any).

        Under the contract the adaptive strategy may be in either mode at each
        proposal, so it may use any partition (quality-first's set contains
        latency-first's); ``mode`` is then the policy's own memory, not a rule."""
        if self.contract and self.adaptive:
            return None
        if w.mode == LATENCY:
            top = max(w.fresh_at)
            return {p for p in range(self.P) if w.fresh_at[p] == top}
        return None

    def _candidates(self, w: Worker, n: int) -> tuple[list[int], list[int]]:
        """Need ``n``'s eligible buckets the worker may use, ascending: (those with room
        in its view, those it may name at all: allowed partition, read)."""
        allowed = self._allowed(w)
        sz = self.size[n]
        cap = self.cap
        part = self.part
        v_room_lt = self.v_room_lt
        room: list[int] = []
        named: list[int] = []
        for b in self.eligible[n]:
            if allowed is not None and part[b] not in allowed:
                continue
            e = self.view_entry(w, b)
            if e is None:
                continue
            named.append(b)
            if (e[1] < cap[b]) if v_room_lt else (e[1] + sz <= cap[b]):
                room.append(b)
        return room, named

    def iter_choices(self, w: Worker, n: int) -> Iterator[tuple[int, ...]]:
        """Bucket sets the worker may propose for need ``n`` (strategy + view room), in
        ascending lexicographic order, generated from the buckets that pass the checks
        (never from every subset of the eligible ones)."""
        room, named = self._candidates(w, n)
        g = self.gang[n]
        if not self.v_gang_fit:
            yield from combinations(room, g)
            return
        # the variant checks room on the first (lowest) bucket of the set only
        for first in room:
            later = [b for b in named if b > first]
            yield from ((first, *rest) for rest in combinations(later, g - 1))

    def choices(self, w: Worker, n: int) -> list[tuple[int, ...]]:
        """Every bucket set of :meth:`iter_choices` (exhaustive engines need them all)."""
        return list(self.iter_choices(w, n))

    def has_choice(self, w: Worker, n: int) -> bool:
        """Some bucket set fits (the negation is Defer's guard); no enumeration."""
        room, named = self._candidates(w, n)
        g = self.gang[n]
        if not self.v_gang_fit:
            return len(room) >= g
        return any(sum(1 for b in named if b > first) >= g - 1 for first in room)

    def fits(self, w: Worker, n: int, bs: tuple[int, ...]) -> bool:
        """``bs in self.choices(w, n)``, testing ``bs`` alone against the rules: a
        strictly ascending ``gang``-subset of the eligible buckets, on partitions the
        strategy allows, each read, each with room (the variant: the first only)."""
        if len(bs) != self.gang[n] or any(a >= b for a, b in zip(bs, bs[1:], strict=False)):
            return False
        elig = self.eligible_sets[n]
        allowed = self._allowed(w)
        for k, b in enumerate(bs):
            if b not in elig or (allowed is not None and self.part[b] not in allowed):
                return False
            e = self.view_entry(w, b)
            if e is None:
                return False
            if self.v_gang_fit and k > 0:
                continue
            if not self.room(e[1], n, b):
                return False
        return True

    def lost(self, s: State, wi: int, w: Worker) -> bool:
        """The worker's outstanding proposal and its reply are both gone (timeout);
        a proposal in the broker's inbox (contract) is not gone."""
        for m in s.to_broker:
            if m.worker == wi and m.cycle == w.cycle and m.attempt == w.attempts:
                return False
        for m in s.inbox:
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
        br = self.intern(br)
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
        w0 = self.intern(w0)
        return State(
            broker=br,
            workers=(w0,) * self.W,
            to_broker=self.intern(()),
            to_workers=self.intern(()),
            faults=(0, 0, 0, 0, 0) if self.contract else (0, 0, 0),
            placed=(0,) * self.N,
        )

    def init_states(self) -> list[State]:
        return [self.init_state()]

    # --- Next ----------------------------------------------------------------
    #
    # Each action is written on the components it reads and writes (a worker,
    # the broker, one message); ``successors`` assembles whole states. Because
    # many states share components, the component steps are memoised (pure
    # functions of immutable values: the cache changes speed, never results;
    # ``memo=False`` turns it off and a test compares the two).

    def successors(self, s: State) -> Iterator[tuple[Action, State]]:
        """Every enabled action with its next state, in a deterministic order."""
        br = s.broker
        workers = s.workers
        crashes, drops, dups = s.faults[:3]
        for wi in range(self.W):
            w = workers[wi]
            for a, nw, msg, flag in self.worker_moves(wi, w, br):
                faults = s.faults
                if flag == _NEEDS_LOST and not self.lost(s, wi, w):
                    continue
                if flag == _IS_CRASH:
                    if crashes >= self.max_crash:
                        continue
                    faults = (crashes + 1, *faults[1:])
                elif flag == _IS_TIMEOUT or (flag == _LOST_OR_TIMEOUT and not self.lost(s, wi, w)):
                    if faults[3] >= self.max_timeout:
                        continue
                    faults = (*faults[:3], faults[3] + 1, faults[4])
                elif flag == _IS_EXTRA_READ:
                    if faults[4] >= self.max_extra_read:
                        continue
                    faults = (*faults[:4], faults[4] + 1)
                ws = workers[:wi] + (nw,) + workers[wi + 1 :]
                tb = s.to_broker if msg is None else self.bag_add(s.to_broker, msg)
                yield a, State(br, ws, tb, s.to_workers, faults, s.placed, s.inbox)
        if self.contract:
            # the network hands a proposal to the broker; the broker decides on what
            # it has received (its inbox), priority on conflict judged there
            tb, inbox = s.to_broker, s.inbox
            for m in distinct(tb):
                yield (
                    Deliver(m),
                    State(
                        br,
                        workers,
                        self.bag_remove(tb, m),
                        s.to_workers,
                        s.faults,
                        s.placed,
                        self.bag_add(inbox, m),
                    ),
                )
            for m in self.deliverable(inbox):
                nb, reply, committed = self.commit(br, m)
                placed = s.placed
                if committed:
                    pl = list(placed)
                    pl[m.need] += 1
                    placed = tuple(pl)
                yield (
                    Commit(m),
                    State(
                        nb,
                        workers,
                        tb,
                        self.bag_add(s.to_workers, reply),
                        s.faults,
                        placed,
                        self.bag_remove(inbox, m),
                    ),
                )
            for m in distinct(inbox):
                rest = None
                for reply in self.rejections(br, m):
                    if rest is None:
                        rest = self.bag_remove(inbox, m)
                    yield (
                        Reject(m, reply.kind),
                        State(
                            br,
                            workers,
                            tb,
                            self.bag_add(s.to_workers, reply),
                            s.faults,
                            s.placed,
                            rest,
                        ),
                    )
        else:
            for m in self.deliverable(s.to_broker):
                nb, reply, committed = self.commit(br, m)
                placed = s.placed
                if committed:
                    pl = list(placed)
                    pl[m.need] += 1
                    placed = tuple(pl)
                yield (
                    Commit(m),
                    State(
                        nb,
                        workers,
                        self.bag_remove(s.to_broker, m),
                        self.bag_add(s.to_workers, reply),
                        s.faults,
                        placed,
                    ),
                )
        for r in distinct(s.to_workers):
            w = workers[r.worker]
            if w.up:
                nw = self.handle(r, w, br)
                ws = workers[: r.worker] + (nw,) + workers[r.worker + 1 :]
                yield (
                    HandleReply(r),
                    State(
                        br,
                        ws,
                        s.to_broker,
                        self.bag_remove(s.to_workers, r),
                        s.faults,
                        s.placed,
                        s.inbox,
                    ),
                )
        for n in range(self.N):
            if br.status[n] == PLACED:
                yield (
                    Release(n),
                    State(
                        self.release(br, n),
                        workers,
                        s.to_broker,
                        s.to_workers,
                        s.faults,
                        s.placed,
                        s.inbox,
                    ),
                )
        if drops < self.max_drop or dups < self.max_dup:
            # the network's faults: never the broker's inbox
            for m in (*distinct(s.to_broker), *distinct(s.to_workers)):
                if drops < self.max_drop:
                    yield Drop(m), self._drop(s, m)
                if dups < self.max_dup:
                    yield Duplicate(m), self._dup(s, m)
        if br.epoch < self.max_failover:
            # the inbox survives (a durable queue; the new epoch fences what is in it)
            yield (
                Failover(),
                State(
                    self.failover(br),
                    workers,
                    s.to_broker,
                    s.to_workers,
                    s.faults,
                    s.placed,
                    s.inbox,
                ),
            )

    def step(self, s: State, a: Action) -> State | None:
        """The next state if ``a`` is enabled in ``s``, else None.

        Used by replay, simulation and trace validation, which follow one action at a
        time: only ``a``'s successor is built, with the same guards and updates as
        ``successors`` (``tests/test_step.py`` checks the two agree on every
        transition of the presets and every variant, and that disabled actions give
        None).
        """
        br, workers = s.broker, s.workers
        if isinstance(a, Propose | Defer):
            # tested against the rules directly: a large gang's bucket sets are never
            # enumerated (the same guards as _worker_moves)
            wi = a.w
            if not 0 <= wi < self.W:
                return None
            w = workers[wi]
            if not w.up or w.waiting or not w.pending:
                return None
            head = w.pending[0]
            # an action names its need only when it is not the head (one label per
            # transition: Propose(w, bs) is the head's)
            n = head if a.n < 0 else a.n
            if a.n >= 0 and not (self.contract and n != head and n in w.pending):
                return None
            if isinstance(a, Defer):
                if not self.contract and self.has_choice(w, n):
                    return None
                nw = self.intern(self.defer_need(w, n))
                return State(br, workers[:wi] + (nw,) + workers[wi + 1 :], *s[2:])
            w = self._focus(w, n)
            if self.contract and w.attempts >= self.attempt_limit():
                return None
            if not self.fits(w, n, a.buckets):
                return None
            nw, sent = self.propose(wi, w, n, a.buckets, br)
            ws = workers[:wi] + (self.intern(nw),) + workers[wi + 1 :]
            return State(
                br, ws, self.bag_add(s.to_broker, sent), s.to_workers, s.faults, s.placed, s.inbox
            )
        if isinstance(a, StartCycle | Crash | Recover | Timeout | Refresh | Restart):
            wi = a.w
            if not 0 <= wi < self.W:
                return None
            w = workers[wi]
            for b, nw, msg, flag in self.worker_moves(wi, w, br):
                if b != a or (flag == _NEEDS_LOST and not self.lost(s, wi, w)):
                    continue
                faults = s.faults
                if flag == _IS_CRASH:
                    if faults[0] >= self.max_crash:
                        return None
                    faults = (faults[0] + 1, *faults[1:])
                elif flag == _IS_TIMEOUT or (flag == _LOST_OR_TIMEOUT and not self.lost(s, wi, w)):
                    if faults[3] >= self.max_timeout:
                        return None
                    faults = (*faults[:3], faults[3] + 1, faults[4])
                elif flag == _IS_EXTRA_READ:
                    if faults[4] >= self.max_extra_read:
                        return None
                    faults = (*faults[:4], faults[4] + 1)
                ws = workers[:wi] + (nw,) + workers[wi + 1 :]
                tb = s.to_broker if msg is None else self.bag_add(s.to_broker, msg)
                return State(br, ws, tb, s.to_workers, faults, s.placed, s.inbox)
            return None
        if isinstance(a, Deliver):
            m = a.m
            if not self.contract or m not in s.to_broker:
                return None
            return State(
                br,
                workers,
                self.bag_remove(s.to_broker, m),
                s.to_workers,
                s.faults,
                s.placed,
                self.bag_add(s.inbox, m),
            )
        if isinstance(a, Reject):
            m = a.m
            if not self.contract or m not in s.inbox:
                return None
            for reply in self.rejections(br, m):
                if reply.kind == a.kind:
                    return State(
                        br,
                        workers,
                        s.to_broker,
                        self.bag_add(s.to_workers, reply),
                        s.faults,
                        s.placed,
                        self.bag_remove(s.inbox, m),
                    )
            return None
        if isinstance(a, Commit) and self.contract:
            m = a.m
            if m not in s.inbox or (not self.v_priority and self.blocked(s.inbox, m)):
                return None
            nb, reply, committed = self.commit(br, m)
            placed = s.placed
            if committed:
                placed = placed[: m.need] + (placed[m.need] + 1,) + placed[m.need + 1 :]
            return State(
                nb,
                workers,
                s.to_broker,
                self.bag_add(s.to_workers, reply),
                s.faults,
                placed,
                self.bag_remove(s.inbox, m),
            )
        if isinstance(a, Commit):
            m = a.m
            if m not in s.to_broker or (not self.v_priority and self.blocked(s.to_broker, m)):
                return None
            nb, reply, committed = self.commit(br, m)
            placed = s.placed
            if committed:
                placed = placed[: m.need] + (placed[m.need] + 1,) + placed[m.need + 1 :]
            return State(
                nb,
                workers,
                self.bag_remove(s.to_broker, m),
                self.bag_add(s.to_workers, reply),
                s.faults,
                placed,
            )
        if isinstance(a, HandleReply):
            r = a.r
            if r not in s.to_workers or not workers[r.worker].up:
                return None
            nw = self.handle(r, workers[r.worker], br)
            ws = workers[: r.worker] + (nw,) + workers[r.worker + 1 :]
            return State(
                br, ws, s.to_broker, self.bag_remove(s.to_workers, r), s.faults, s.placed, s.inbox
            )
        if isinstance(a, Release):
            if not 0 <= a.n < self.N or br.status[a.n] != PLACED:
                return None
            nb = self.release(br, a.n)
            return State(nb, workers, s.to_broker, s.to_workers, s.faults, s.placed, s.inbox)
        if isinstance(a, Drop | Duplicate):
            crashes, drops, dups = s.faults[:3]
            if a.m not in s.to_broker and a.m not in s.to_workers:
                return None
            if isinstance(a, Drop):
                return self._drop(s, a.m) if drops < self.max_drop else None
            return self._dup(s, a.m) if dups < self.max_dup else None
        if isinstance(a, Failover):
            if br.epoch >= self.max_failover:
                return None
            return State(
                self.failover(br), workers, s.to_broker, s.to_workers, s.faults, s.placed, s.inbox
            )
        return None

    def enabled(self, s: State) -> list[Action]:
        return [a for a, _ in self.successors(s)]

    def intern(self, x: _T) -> _T:
        """The canonical object equal to ``x`` (identity-keyed memo tables rely on it)."""
        if not self.memo:
            return x
        return self._interned.setdefault(x, x)  # type: ignore[return-value]

    def state_key(self, s: State) -> tuple[object, ...]:
        """A hashable key equal for equal states, cheap for states built by ``successors``.

        With memo on, every broker and worker in a reachable state is interned,
        so identities stand for values; bags, fault counters and the ghost
        ``placed`` are small and keyed by value. The broker's inbox is a bag like
        ``to_broker`` (interned; the empty tuple in every reference state).
        """
        if not self.memo:
            return s
        return (
            id(s.broker),
            *map(id, s.workers),
            id(s.to_broker),
            id(s.to_workers),
            s.faults,
            s.placed,
            id(s.inbox),
        )

    def bag_add(self, bag: tuple[_M, ...], m: _M) -> tuple[_M, ...]:
        """``bag`` plus one copy of ``m`` (sorted, interned)."""
        key = (id(bag), m, True)
        e = self._bag_cache.get(key)
        if e is not None and e[0] is bag:
            return e[1]  # type: ignore[return-value]
        got = self.intern(bag_add(bag, m))
        if self.memo:
            self._bag_cache[key] = (bag, got)
        return got

    def bag_remove(self, bag: tuple[_M, ...], m: _M) -> tuple[_M, ...]:
        """``bag`` less one copy of ``m`` (interned)."""
        key = (id(bag), m, False)
        e = self._bag_cache.get(key)
        if e is not None and e[0] is bag:
            return e[1]  # type: ignore[return-value]
        got = self.intern(bag_remove(bag, m))
        if self.memo:
            self._bag_cache[key] = (bag, got)
        return got

    def clear_caches(self) -> None:
        for c in self._caches:
            c.clear()

    # --- worker actions --------------------------------------------------------
    def worker_moves(self, wi: int, w: Worker, br: Broker) -> tuple[_Move, ...]:
        """The worker's own steps: (action, new worker, proposal sent, guard flag).

        Two guards depend on more than (w, broker) and are left to the caller:
        ``_NEEDS_LOST`` (StartCycle while waiting: only once the proposal and its
        reply are both gone) and ``_IS_CRASH`` (the crash budget).
        """
        key = (wi, id(w), id(br))
        e = self._moves_cache.get(key)
        if e is not None and e[0] is w and e[1] is br:
            return e[2]
        got = tuple(
            (a, self.intern(nw), m, flag) for a, nw, m, flag in self._worker_moves(wi, w, br)
        )
        if self.memo:
            self._moves_cache[key] = (w, br, got)
        return got

    def _worker_moves(self, wi: int, w: Worker, br: Broker) -> Iterator[_Move]:
        if not w.up:
            if w.cycle < self.max_cycle:  # time passes while down
                yield StartCycle(wi), w._replace(cycle=w.cycle + 1), None, _PLAIN
            yield Recover(wi), self.recover(w, br), None, _PLAIN
            if self.contract:
                yield Restart(wi), self.restart(w), None, _PLAIN
            return
        if self.contract:
            yield from self._contract_moves(wi, w, br)
            return
        if w.cycle < self.max_cycle:
            if not w.waiting and not w.pending:
                yield StartCycle(wi), self.start_cycle(wi, w, br), None, _PLAIN
            elif w.waiting:
                yield StartCycle(wi), self.start_cycle(wi, w, br), None, _NEEDS_LOST
        if not w.waiting and w.pending:
            n = w.pending[0]
            opts = self.choices(w, n)
            if opts:
                for bs in opts:
                    nw, m = self.propose(wi, w, n, bs, br)
                    yield Propose(wi, bs), nw, m, _PLAIN
            else:
                yield Defer(wi), self.defer(w), None, _PLAIN
        if self.max_crash > 0:
            yield Crash(wi), self.crash(w), None, _IS_CRASH

    def _contract_moves(self, wi: int, w: Worker, br: Broker) -> Iterator[_Move]:
        """A live worker's steps under the contract: every choice the ADRs leave open."""
        if w.cycle < self.max_cycle:
            # cycles are time-paced: a worker may start its next cycle at any time,
            # carrying unfinished needs over (they are pending again in the new
            # cycle); while waiting that abandons the attempt: a timeout, unless the
            # proposal and its reply are both gone (as in the reference)
            flag = _LOST_OR_TIMEOUT if w.waiting else _PLAIN
            yield StartCycle(wi), self.start_cycle(wi, w, br), None, flag
        if not w.waiting and w.pending:
            head = w.pending[0]
            limit = self.attempt_limit()
            for n in w.pending:
                fw = w if n == head else self._focus(w, n)
                if fw.attempts >= limit:
                    continue  # PS-6: at most R + 1 proposals per need per cycle
                for bs in self.choices(fw, n):
                    nw, m = self.propose(wi, fw, n, bs, br)
                    yield Propose(wi, bs, -1 if n == head else n), nw, m, _PLAIN
            for n in w.pending:  # a scheduler may hold any need back
                yield Defer(wi, -1 if n == head else n), self.defer_need(w, n), None, _PLAIN
        if w.waiting and self.max_timeout > 0:
            yield Timeout(wi), self.timeout(w), None, _IS_TIMEOUT
        if self.max_extra_read > 0:
            for p in range(self.P):
                yield Refresh(wi, p), self.refresh(w, br, (p,)), None, _IS_EXTRA_READ
        if self.max_crash > 0:
            yield Crash(wi), self.crash(w), None, _IS_CRASH

    def attempt_limit(self) -> int:
        """Contract: a need may be proposed while its attempt count is below this."""
        return self.R + 2 if self.v_retry else self.R + 1

    def _focus(self, w: Worker, n: int) -> Worker:
        """The worker with pending need ``n`` taken up (moved to the head): the old
        head's counters are parked, ``n``'s restored (zero if not worked on yet)."""
        head = w.pending[0]
        if n == head:
            return w
        parked = list(w.parked)
        if w.sent or w.attempts or w.retries:
            parked.append((head, w.retries, w.attempts, w.sent))
        retries = attempts = sent = 0
        for i, e in enumerate(parked):
            if e[0] == n:
                _n, retries, attempts, sent = e
                del parked[i]
                break
        rest = sorted((x for x in w.pending if x != n), key=self._need_key)
        return w._replace(
            pending=(n, *rest),
            retries=retries,
            attempts=attempts,
            sent=sent,
            parked=tuple(sorted(parked)),
        )

    def defer_need(self, w: Worker, n: int) -> Worker:
        """Contract: pending need ``n`` waits for a later cycle (any need, any time)."""
        if n == w.pending[0]:
            return self.defer(w)
        w = w._replace(
            pending=tuple(x for x in w.pending if x != n),
            parked=tuple(e for e in w.parked if e[0] != n),
        )
        if self.adaptive and w.mode == LATENCY:
            w = w._replace(mode=QUALITY)
        return w

    def timeout(self, w: Worker) -> Worker:
        """Contract: the outstanding attempt is abandoned; its replies, whenever they
        come, no longer match (the next proposal has a new attempt tag)."""
        if self.v_timeout_tag and w.attempts > 0:
            return w._replace(waiting=False, attempts=w.attempts - 1)  # the tag is reused
        return w._replace(waiting=False)

    def restart(self, w: Worker) -> Worker:
        """Contract: the worker is up with nothing re-read (Refresh reads partitions one
        at a time, in any order); it cannot name a bucket of a partition not re-read."""
        return w._replace(up=True)

    def start_cycle(self, wi: int, w: Worker, br: Broker) -> Worker:
        c = w.cycle + 1
        p = self.rotation(c)
        w = w._replace(cycle=c)
        w = self.refresh(w, br, (p,))
        known = w.known
        arrival = self.arrival
        pending = tuple(n for n in self.needs_of[wi] if arrival[n] <= c and not (known >> n) & 1)
        return w._replace(pending=pending, waiting=False, retries=0, attempts=0, sent=0, parked=())

    def propose(
        self, wi: int, w: Worker, n: int, bs: tuple[int, ...], br: Broker | None = None
    ) -> tuple[Worker, Proposal]:
        reads = []
        for b in bs:
            e = self.view_entry(w, b)
            assert e is not None
            reads.append((b, e[0]))
        if self.v_stamp_broker and br is not None:
            # the variant: the fit used the view, the proposal claims the broker's seqnos
            reads = [(b, br.seq[b]) for b in bs]
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
        return w._replace(waiting=True, attempts=att, sent=w.sent + 1), m

    def _next_need(self, w: Worker) -> Worker:
        rest = w.pending[1:]
        if w.parked and rest:  # contract: the next need may have been worked on already
            for e in w.parked:
                if e[0] == rest[0]:
                    return w._replace(
                        pending=rest,
                        waiting=False,
                        retries=e[1],
                        attempts=e[2],
                        sent=e[3],
                        parked=tuple(x for x in w.parked if x is not e),
                    )
        return w._replace(pending=rest, waiting=False, retries=0, attempts=0, sent=0)

    def defer(self, w: Worker) -> Worker:
        w = self._next_need(w)
        if self.adaptive and w.mode == LATENCY:
            w = w._replace(mode=QUALITY)  # scheduling delay observed: widen the search
        return w

    def crash(self, w: Worker) -> Worker:
        if self.v_keep_view:
            view, fresh = w.view, w.fresh_at
        else:
            view, fresh = ((),) * self.P, (-1,) * self.P
        return w._replace(
            up=False,
            mode=self.initial_mode,
            fresh_at=fresh,
            view=view,
            pending=(),
            waiting=False,
            retries=0,
            attempts=0,
            known=0,
            sent=0,
            parked=(),
        )

    def recover(self, w: Worker, br: Broker) -> Worker:
        w = w._replace(up=True)
        if self.v_keep_view:
            return w._replace(fresh_at=(w.cycle,) * self.P)  # marked fresh, never re-read
        return self.refresh(w, br, range(self.P))

    # --- broker actions --------------------------------------------------------
    def deliverable(self, to_broker: tuple[Proposal, ...]) -> list[Proposal]:
        """Distinct proposals the broker may take next (priority on conflict) from the
        bag it decides on: ``to_broker`` in the reference, the inbox in the contract."""
        got = self._deliver_cache.get(to_broker)
        if got is None:
            got = [
                m for m in distinct(to_broker) if self.v_priority or not self.blocked(to_broker, m)
            ]
            if self.memo:
                self._deliver_cache[to_broker] = got
        return got

    def blocked(self, to_broker: tuple[Proposal, ...], m: Proposal) -> bool:
        """A higher-priority proposal in the broker's queue (the bag it decides on)
        shares a bucket with m."""
        mine = {b for b, _ in m.reads}
        for o in to_broker:
            if o.priority > m.priority:
                for b, _ in o.reads:
                    if b in mine:
                        return True
        return False

    def commit(self, br: Broker, m: Proposal) -> tuple[Broker, Reply, bool]:
        """The broker's decision on m: (new broker, reply, whether m committed)."""
        key = (id(br), m)
        e = self._commit_cache.get(key)
        if e is not None and e[0] is br:
            return e[1]
        nb, reply, committed = self._decide(br, m)
        got = (self.intern(nb), reply, committed)
        if self.memo:
            self._commit_cache[key] = (br, got)
        return got

    def _fenced(self, br: Broker, m: Proposal) -> bool:
        return m.epoch != br.epoch and not self.v_no_fencing

    def _duplicate(self, br: Broker, m: Proposal) -> bool:
        if self.v_dedup_wc:
            return (m.worker, m.cycle) in br.tags
        return br.status[m.need] != UNPLACED and not self.v_no_dedup

    def _conflicted(self, br: Broker, m: Proposal) -> tuple[int, ...]:
        return tuple(
            b
            for b, sq in m.reads
            if br.seq[b] != sq and not (self.v_fresh_only and self.part[b] != m.fresh)
        )

    def rejections(self, br: Broker, m: Proposal) -> list[Reply]:
        """Contract: every non-commit reply that is true of ``m`` (the broker's check
        order is free): Fenced iff the epoch differs, AlreadyPlaced iff the need is
        placed, Conflict iff a read seqno is stale (naming every stale bucket)."""
        out = []
        if self._fenced(br, m):
            out.append(self._reply(m, FENCED))
        if self._duplicate(br, m):
            out.append(self._reply(m, ALREADY))
        conflicted = self._conflicted(br, m)
        if conflicted:
            out.append(self._reply(m, CONFLICT, conflicted))
        return out

    def _decide(self, br: Broker, m: Proposal) -> tuple[Broker, Reply, bool]:
        n = m.need
        if self._fenced(br, m):
            return br, self._reply(m, FENCED), False
        if self._duplicate(br, m):
            return br, self._reply(m, ALREADY), False
        conflicted = self._conflicted(br, m)
        if conflicted:
            return br, self._reply(m, CONFLICT, conflicted), False
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
        nb = br._replace(
            seq=tuple(seq), claims=tuple(claims), ledger=tuple(ledger), status=tuple(status)
        )
        if self.v_lagging:
            nb = nb._replace(replica=(br.seq, br.claims, br.ledger, br.status))
        if self.v_dedup_wc:
            nb = nb._replace(tags=tuple(sorted({*br.tags, (m.worker, m.cycle)})))
        return nb, self._reply(m, COMMITTED), True

    def _reply(self, m: Proposal, kind: int, buckets: tuple[int, ...] = ()) -> Reply:
        return Reply(m.worker, m.need, kind, m.cycle, m.attempt, buckets)

    def release(self, br: Broker, n: int) -> Broker:
        key = (id(br), n)
        e = self._release_cache.get(key)
        if e is not None and e[0] is br:
            return e[1]
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
        nb = self.intern(nb)
        if self.memo:
            self._release_cache[key] = (br, nb)
        return nb

    def failover(self, br: Broker) -> Broker:
        """A new broker epoch, recovered from the durable state."""
        e = self._failover_cache.get(id(br))
        if e is not None and e[0] is br:
            return e[1]
        nb = br._replace(epoch=br.epoch + 1)
        if self.v_lagging and br.replica is not None:
            seq, claims, ledger, status = br.replica
            nb = nb._replace(seq=seq, claims=claims, ledger=ledger, status=status)
        nb = self.intern(nb)
        if self.memo:
            self._failover_cache[id(br)] = (br, nb)
        return nb

    # --- replies ---------------------------------------------------------------
    def handle(self, r: Reply, w: Worker, br: Broker) -> Worker:
        """The worker's new value after taking reply r (stale replies: unchanged)."""
        key = (r, id(w), id(br))
        e = self._handle_cache.get(key)
        if e is not None and e[0] is w and e[1] is br:
            return e[2]
        got = self.intern(self._handle(r, w, br))
        if self.memo:
            self._handle_cache[key] = (w, br, got)
        return got

    def _handle(self, r: Reply, w: Worker, br: Broker) -> Worker:
        if not (
            w.waiting and r.need == w.pending[0] and r.cycle == w.cycle and r.attempt == w.attempts
        ):
            return w  # stale reply (another need's, or an earlier attempt's): discarded
        if r.kind in (COMMITTED, ALREADY):
            return self._next_need(w._replace(known=w.known | (1 << r.need)))
        if r.kind == CONFLICT:
            parts = tuple(sorted({self.part[b] for b in r.buckets}))
            # ghost (PS-11): these partitions must be read again before they are used
            w = w._replace(reread=w.reread | sum(1 << p for p in parts))
            if not self.v_no_reread:  # the variant skips the forced fresh read
                w = self.refresh(w, br, parts)
            if self.adaptive and w.mode == QUALITY:
                w = w._replace(mode=LATENCY)  # conflicts observed: narrow to fresh data
        else:  # FENCED: re-synchronise everything under the new epoch
            w = self.refresh(w, br, range(self.P))
        if self.v_resets_tag:
            return w._replace(waiting=False, retries=0, attempts=0)  # tag and count reset
        retries = w.retries + 1
        limit = self.R + 1 if self.v_retry else self.R
        if retries > limit:
            return self._next_need(w)
        return w._replace(waiting=False, retries=retries)

    # --- network faults ----------------------------------------------------------
    def _drop(self, s: State, m: Proposal | Reply) -> State:
        f = (s.faults[0], s.faults[1] + 1, *s.faults[2:])
        if isinstance(m, Proposal):
            return s._replace(to_broker=self.bag_remove(s.to_broker, m), faults=f)
        return s._replace(to_workers=self.bag_remove(s.to_workers, m), faults=f)

    def _dup(self, s: State, m: Proposal | Reply) -> State:
        f = (*s.faults[:2], s.faults[2] + 1, *s.faults[3:])
        if isinstance(m, Proposal):
            return s._replace(to_broker=self.bag_add(s.to_broker, m), faults=f)
        return s._replace(to_workers=self.bag_add(s.to_workers, m), faults=f)


# guard flags of worker moves (see ParSyncModel.worker_moves)
_PLAIN = 0
_NEEDS_LOST = 1
_IS_CRASH = 2
_IS_TIMEOUT = 3  # contract: a Timeout uses one of the scope's timeouts
_LOST_OR_TIMEOUT = 4  # contract: StartCycle while waiting; a timeout unless all is lost
_IS_EXTRA_READ = 5  # contract: a Refresh uses one of the scope's extra reads
_Move = tuple[Action, Worker, "Proposal | None", int]
_T = TypeVar("_T")
_M = TypeVar("_M", Proposal, Reply)
