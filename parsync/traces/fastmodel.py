"""The model as trace validation and trace generation run it: the same steps, without
the costs that grow with the number of needs.

A long trace comes with a long Config: the model places a need at most once,
so a run that keeps receiving work lists its needs by the ten thousand
(``bench/bench_trace.py`` uses one per 25 events). Two of the model's steps
then cost time in proportion to that list, on every event:

* ``StartCycle`` builds the worker's pending list by scanning all its needs
  and testing ``(known >> n) & 1``, a shift of an N-bit integer per need:
  O(N^2 / W) per cycle, tens of milliseconds at 40,000 needs;
* the memo tables (``commit``, ``handle``, the bags) hash their keys even when
  memoisation is off, and interning hashes the broker's N-long tuples;
* a commit or release copies the broker's per-need tuples (``status``,
  ``ledger``) and the ghost ``placed`` counts: three N-long copies, about
  150 microseconds each at 40,000 needs, for a step that changes one entry.

:class:`TraceModel` is :class:`~model.protocol.ParSyncModel` with those
replaced by equal, cheaper computations (memo off; the pending list from a
bit mask of the needs that have arrived; the per-need sequences held as a
:class:`PVec`, a two-level persistent vector that equals, hashes and indexes
like the tuple it stands for and changes one entry by copying about 2 sqrt(N)
slots). ``_decide`` and ``release`` are the model's,
line for line, with each per-need copy written as :func:`pset` (they assume
no design variant: a TraceModel never has one). Nothing else is overridden.
``tests/test_trace_fastmodel.py`` checks each replacement against the model's
own function on reachable states, and the validator's tests check whole traces
against ``successors``.
The hashed model files are untouched.
"""

from __future__ import annotations

import copy
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any, TypeVar, cast, overload

from parsync.model.config import Config
from parsync.model.protocol import _M, ParSyncModel
from parsync.model.state import (
    ALREADY,
    COMMITTED,
    CONFLICT,
    FENCED,
    PLACED,
    RELEASED,
    UNPLACED,
    Broker,
    Proposal,
    Reply,
    Snapshot,
    State,
    Worker,
    bag_remove,
)


def _bits(x: int) -> list[int]:
    """The positions of the set bits of ``x`` >= 0, lowest first."""
    found = []
    if x.bit_count() <= 8:  # peel the lowest set bit off
        while x:
            low = x & -x
            found.append(low.bit_length() - 1)
            x ^= low
    else:  # one pass over the binary digits
        digits = bin(x)[:1:-1]  # least significant first
        i = digits.find("1")
        while i >= 0:
            found.append(i)
            i = digits.find("1", i + 1)
    return found


_SHIFT = 8
_CHUNK = 1 << _SHIFT
_LOW = _CHUNK - 1


class PVec:
    """An immutable sequence stored as a tuple of 256-slot tuples.

    It is equal to, and hashes like, the tuple of its items (so states holding
    one compare and hash as the model's own do, and the two mix in sets), and
    :meth:`set` returns a copy with one item changed by copying one chunk and
    the tuple of chunks: at 40,000 items about a microsecond, against 150 for
    the tuple. Reading an item is one method call.
    """

    __slots__ = ("_chunks", "_len", "_hash")

    def __init__(self, items: Iterable[Any]) -> None:
        flat = tuple(items)
        self._chunks = tuple(flat[i : i + _CHUNK] for i in range(0, len(flat), _CHUNK))
        self._len = len(flat)
        self._hash: int | None = None

    @classmethod
    def _of(cls, chunks: tuple[tuple[Any, ...], ...], n: int) -> PVec:
        v = cls.__new__(cls)
        v._chunks = chunks
        v._len = n
        v._hash = None
        return v

    def set(self, i: int, x: Any) -> PVec:
        """A copy with item ``i`` replaced by ``x``."""
        if not 0 <= i < self._len:
            raise IndexError(i)
        cs = self._chunks
        k = i >> _SHIFT
        c = cs[k]
        j = i & _LOW
        return PVec._of(cs[:k] + (c[:j] + (x,) + c[j + 1 :],) + cs[k + 1 :], self._len)

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[Any, ...]: ...
    def __getitem__(self, i: int | slice) -> Any:
        if type(i) is int and 0 <= i < self._len:
            return self._chunks[i >> _SHIFT][i & _LOW]
        return tuple(self)[i]

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Any]:
        return chain.from_iterable(self._chunks)

    def __eq__(self, other: object) -> bool:
        if type(other) is PVec:
            return self._len == other._len and self._chunks == other._chunks
        if type(other) is tuple:
            return self._len == len(other) and tuple(self) == other
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = self._hash = hash(tuple(self))
        return h

    def __lt__(self, other: object) -> bool:  # states are sorted in some reports
        return tuple(self) < (tuple(other) if isinstance(other, PVec) else other)  # type: ignore[operator]

    def __repr__(self) -> str:
        return repr(tuple(self))


def pappend(vec: Any, x: Any) -> Any:
    """``vec`` with ``x`` appended: a PVec's last chunk copied (or a new one), a tuple's copy."""
    if type(vec) is PVec:
        cs = vec._chunks
        n = len(vec)
        if n & _LOW:  # room in the last chunk
            return PVec._of(cs[:-1] + (cs[-1] + (x,),), n + 1)
        return PVec._of(cs + ((x,),), n + 1)
    return (*vec, x)


def pset(vec: Any, i: int, x: Any) -> Any:
    """``vec`` with item ``i`` replaced: a PVec's :meth:`PVec.set`, a tuple's slice copy."""
    if type(vec) is PVec:
        return vec.set(i, x)
    return vec[:i] + (x,) + vec[i + 1 :]


class TraceModel(ParSyncModel):
    """ParSyncModel (no variant, memo off) with need-count-independent step costs.

    ``policy`` is the model's (``reference``: version 1 traces; ``contract``). Needs
    may be added after construction (:meth:`add_need`, a version 2 ``Need`` event):
    a need added so is *arrived* in a state whose broker already has its slot
    (``n < len(broker.status)``: the validator extends each candidate state when
    the event comes), so a StartCycle after the event takes it up and one before it
    does not - in each candidate, the model with that need's arrival cycle set to
    its owner's next cycle.
    """

    def __init__(self, config: Config, policy: str = "reference") -> None:
        # ParSyncModel.__init__ on the Config less its needs, then the per-need tables
        # built here: the model's cost O(needs x buckets) to start (a tuple, a sort and a
        # set of every eligible bucket per need: a tenth of a second at 4,000 needs of
        # 256 buckets), these one tuple and set per distinct eligible list
        bare = copy.copy(config)
        object.__setattr__(bare, "needs", ())
        super().__init__(bare, memo=False, policy=policy)
        self.config = config
        assert self.variant is None, "a TraceModel is the model itself, without variants"
        needs = config.needs
        self.N = len(needs)
        # the per-need tables as lists (they index alike), so that a need declared by an
        # event is an append, not a copy of every table (quadratic over a long trace)
        grow: Any = list
        self.size = grow(n.size for n in needs)
        self.prio = grow(n.priority for n in needs)
        self.owner = grow(n.owner for n in needs)
        self.arrival = grow(n.arrival for n in needs)
        self.gang = grow(n.gang for n in needs)
        mine: list[list[int]] = [[] for _ in range(self.W)]
        for n, need in enumerate(needs):
            mine[need.owner].append(n)
        # a worker works on its needs highest priority first (ties: lowest id)
        self.needs_of = tuple(tuple(sorted(ns, key=self._need_key)) for ns in mine)
        # one tuple and set per distinct eligible list (most needs may use every bucket)
        self._elig: dict[tuple[int, ...], tuple[tuple[int, ...], frozenset[int]]] = {}
        self.all_buckets = tuple(range(self.B))  # a need eligible everywhere
        self._elig_all = self._elig[self.all_buckets] = (
            self.all_buckets,
            frozenset(self.all_buckets),
        )
        shared = [self._shared_eligible(n.eligible) for n in needs]
        self.eligible = grow(e for e, _ in shared)
        self.eligible_sets = grow(f for _, f in shared)
        # per worker: its needs in arrival order and their arrival cycles
        self._by_arrival = tuple(
            sorted(ns, key=lambda n: (self.arrival[n], n)) for ns in self.needs_of
        )
        self._arrivals = tuple(tuple(self.arrival[n] for n in ns) for ns in self._by_arrival)
        # per worker, for the last k asked: (k, mask of the first k, them in model order)
        self._arrived: list[tuple[int, int, tuple[int, ...]]] = [(0, 0, ())] * self.W
        # the model's need order (_need_key) as a per-need sort key; a list, as needs
        # declared by events extend it
        self._rank: list[tuple[int, int]] = [self._need_key(n) for n in range(self.N)]
        self._static = self.N  # needs of the Config; later ids were added by add_need
        # per worker: the needs added by add_need, in id order, and the cache of the
        # last prefix asked (count, mask, them in model order)
        self._dyn: list[list[int]] = [[] for _ in range(self.W)]
        self._declared: list[tuple[int, int, tuple[int, ...]]] = [(0, 0, ())] * self.W
        self._unit = all(z == 1 for z in self.size)  # every need takes one unit per bucket

    def _shared_eligible(
        self, eligible: tuple[int, ...] | None
    ) -> tuple[tuple[int, ...], frozenset[int]]:
        """A need's eligible buckets ascending and as a set (every bucket when None; the
        model's ``eligible`` / ``eligible_sets``), one pair per distinct list."""
        if eligible is None or eligible is self.all_buckets:
            return self._elig_all
        elig = tuple(sorted(eligible))
        known = self._elig.get(elig)
        if known is None:
            known = self._elig[elig] = (elig, frozenset(elig))
        return known

    # -- needs declared by events (version 2 Need) ---------------------------------------------
    def add_need(
        self, owner: int, priority: int, gang: int, size: int, eligible: tuple[int, ...]
    ) -> int:
        """Add a need (its id: the next one); the caller checked the fields."""
        n = self.N
        self.N = n + 1
        cast(list[int], self.prio).append(priority)
        cast(list[int], self.size).append(size)
        self._unit = self._unit and size == 1
        cast(list[int], self.owner).append(owner)
        cast(list[int], self.arrival).append(0)
        cast(list[int], self.gang).append(gang)
        shared = self._shared_eligible(eligible)
        cast(list[tuple[int, ...]], self.eligible).append(shared[0])
        cast(list[frozenset[int]], self.eligible_sets).append(shared[1])
        self._rank.append(self._need_key(n))
        mine = list(self.needs_of[owner])
        insort(mine, n, key=self._need_key)
        self.needs_of = (*self.needs_of[:owner], tuple(mine), *self.needs_of[owner + 1 :])
        self._dyn[owner].append(n)
        return n

    def extend_state(self, s: State, count: int = 1) -> State:
        """``s`` with broker and ghost slots for ``count`` more needs (unplaced)."""
        br = s.broker
        ledger, status, placed = br.ledger, br.status, s.placed
        for _ in range(count):
            ledger = pappend(ledger, ())
            status = pappend(status, UNPLACED)
            placed = pappend(placed, 0)
        return s._replace(broker=br._replace(ledger=ledger, status=status), placed=placed)

    def _declared_by(self, wi: int, known_needs: int) -> tuple[int, tuple[int, ...]]:
        """Worker ``wi``'s event-declared needs with an id below ``known_needs`` (the
        broker's need count in a state): (bit mask, the needs in model order)."""
        dyn = self._dyn[wi]
        k = bisect_left(dyn, known_needs)
        have, mask, ranked = self._declared[wi]
        if k != have:
            if k < have:
                have, mask, ranked = 0, 0, ()
            got = list(ranked)
            rank = self._rank.__getitem__
            for n in dyn[have:k]:
                mask |= 1 << n
                insort(got, n, key=rank)
            ranked = tuple(got)
            self._declared[wi] = (k, mask, ranked)
        return mask, ranked

    # -- the per-need sequences as PVecs --------------------------------------------------
    def init_state(self) -> State:
        s = super().init_state()
        br = s.broker
        # typed as the tuples they stand for (they compare, hash and index alike)
        ledger: Any = PVec(br.ledger)
        status: Any = PVec(br.status)
        placed: Any = PVec(s.placed)
        return s._replace(broker=br._replace(ledger=ledger, status=status), placed=placed)

    def _decide(self, br: Broker, m: Proposal) -> tuple[Broker, Reply, bool]:
        # ParSyncModel._decide without variants, the ledger and status copies as pset
        n = m.need
        if m.epoch != br.epoch:
            return br, self._reply(m, FENCED), False
        if br.status[n] != UNPLACED:
            return br, self._reply(m, ALREADY), False
        conflicted = tuple(b for b, sq in m.reads if br.seq[b] != sq)
        if conflicted:
            return br, self._reply(m, CONFLICT, conflicted), False
        seq = list(br.seq)
        claims = list(br.claims)
        for b, _ in m.reads:
            seq[b] += 1
            claims[b] = tuple(sorted((*claims[b], n)))
        ledger = pset(br.ledger, n, tuple(sorted({*br.ledger[n], *(b for b, _ in m.reads)})))
        status = pset(br.status, n, PLACED)
        nb = br._replace(seq=tuple(seq), claims=tuple(claims), ledger=ledger, status=status)
        return nb, self._reply(m, COMMITTED), True

    def release(self, br: Broker, n: int) -> Broker:
        # ParSyncModel.release without variants, the ledger and status copies as pset
        seq = list(br.seq)
        claims = list(br.claims)
        for b in br.ledger[n]:
            seq[b] += 1
            cl = list(claims[b])
            cl.remove(n)
            claims[b] = tuple(cl)
        ledger = pset(br.ledger, n, ())
        status = pset(br.status, n, RELEASED)
        return br._replace(seq=tuple(seq), claims=tuple(claims), ledger=ledger, status=status)

    # -- reads ----------------------------------------------------------------------------------
    def read(self, br: Broker, p: int, at: int) -> Snapshot:
        # ParSyncModel.read without variants: used units per bucket as a list comprehension
        # (len of the claims when every need is one unit: the common case)
        seq = br.seq
        claims = br.claims
        if self._unit:
            return Snapshot(at, tuple([(seq[b], len(claims[b])) for b in self.members[p]]))
        size = self.size
        return Snapshot(
            at, tuple([(seq[b], sum([size[n] for n in claims[b]])) for b in self.members[p]])
        )

    # -- StartCycle -------------------------------------------------------------------------
    def _arrived_by(self, wi: int, cycle: int) -> tuple[int, tuple[int, ...]]:
        """Worker ``wi``'s needs arrived by ``cycle``: (bit mask, the needs in model order)."""
        k = bisect_right(self._arrivals[wi], cycle)
        have, mask, ranked = self._arrived[wi]
        if k != have:
            order = self._by_arrival[wi]
            if k < have:  # an earlier cycle (another candidate state): rebuild
                have, mask, ranked = 0, 0, ()
            got = list(ranked)
            rank = self._rank.__getitem__
            for n in order[have:k]:
                mask |= 1 << n
                insort(got, n, key=rank)
            ranked = tuple(got)
            self._arrived[wi] = (k, mask, ranked)
        return mask, ranked

    def arrived_mask(self, wi: int, cycle: int) -> int:
        """Bit n set for each need n of worker ``wi`` that has arrived by ``cycle``."""
        return self._arrived_by(wi, cycle)[0]

    def pending_of(self, wi: int, cycle: int, known: int) -> tuple[int, ...]:
        """The model's pending list: own needs arrived by ``cycle``, not known placed,
        highest priority first (ties: lowest id).

        Three cases, by which set is small: a few needs to do (peel their bits
        off and sort them), none known (every arrived need, kept in model order
        as they arrive: after a crash, the common case), or else the arrived
        needs in model order less the known ones.
        """
        mask, ranked = self._arrived_by(wi, cycle)
        return self._less_known(mask, ranked, known)

    def _less_known(self, mask: int, ranked: tuple[int, ...], known: int) -> tuple[int, ...]:
        """The needs of ``mask`` (``ranked``: them in model order) not in ``known``, in
        model order: the few (or fewer than those known) peeled off and sorted, all of
        them when none is known, else ``ranked`` less the known ones."""
        todo = mask & ~known
        n_todo = todo.bit_count()
        if n_todo <= 4:
            return tuple(sorted(_bits(todo), key=self._rank.__getitem__))
        hit = mask & known
        if not hit:
            return ranked
        if n_todo <= hit.bit_count():
            return tuple(sorted(_bits(todo), key=self._rank.__getitem__))
        drop = set(_bits(hit))
        return tuple([n for n in ranked if n not in drop])

    def start_cycle(self, wi: int, w: Worker, br: Broker) -> Worker:
        # ParSyncModel.start_cycle, with the pending scan replaced by pending_at
        c = w.cycle + 1
        w = self.refresh(w._replace(cycle=c), br, (self.rotation(c),))
        pending = self.pending_at(wi, c, w.known, len(br.status))
        return w._replace(pending=pending, waiting=False, retries=0, attempts=0, sent=0, parked=())

    def pending_at(self, wi: int, c: int, known: int, known_needs: int) -> tuple[int, ...]:
        """The pending list :meth:`start_cycle` gives worker ``wi`` starting cycle ``c``
        with ``known`` placed, in a state whose broker has ``known_needs`` need slots
        (the needs declared by events so far): :meth:`pending_of`, and the
        event-declared needs it has seen arrive merged in model order."""
        pending = self.pending_of(wi, c, known)
        if self._dyn[wi]:  # needs declared by events that this state has seen arrive
            dmask, dranked = self._declared_by(wi, known_needs)
            if dmask & ~known:
                got = self._less_known(dmask, dranked, known)
                # both in model order (the rank is unique per need): one sorted run each
                rank = self._rank.__getitem__
                pending = tuple(sorted((*pending, *got), key=rank)) if pending else got
        return pending

    # -- the worker's hot steps, built positionally ------------------------------------------
    # NamedTuple._replace costs about 2 microseconds (a map over every field by
    # name); Propose and a Committed / AlreadyPlaced reply are most of a trace's
    # events, so these three build the same Worker and Proposal in one call.
    def propose(
        self, wi: int, w: Worker, n: int, bs: tuple[int, ...], br: Broker | None = None
    ) -> tuple[Worker, Proposal]:
        if self.v_stamp_broker:
            return super().propose(wi, w, n, bs, br)
        reads = []
        for b in bs:
            e = self.view_entry(w, b)
            assert e is not None
            reads.append((b, e[0]))
        att = w.attempts + 1
        c = w.cycle
        m = Proposal(wi, n, self.prio[n], w.epoch, tuple(reads), c, att, self.rotation(c))
        nw = Worker(
            w.up, w.cycle, w.mode, w.epoch, w.fresh_at, w.view, w.pending, True, w.retries, att,
            w.known, w.sent + 1, w.parked, w.reread,
        )  # fmt: skip
        return nw, m

    def _next_need(self, w: Worker) -> Worker:
        if w.parked:  # the contract policy's set-aside needs: the general path
            return super()._next_need(w)
        return Worker(
            w.up, w.cycle, w.mode, w.epoch, w.fresh_at, w.view, w.pending[1:], False, 0, 0,
            w.known, 0, (), w.reread,
        )  # fmt: skip

    def _handle(self, r: Reply, w: Worker, br: Broker) -> Worker:
        if (
            r.kind in (COMMITTED, ALREADY)
            and w.waiting
            and r.need == w.pending[0]
            and r.cycle == w.cycle
            and r.attempt == w.attempts
            and not w.parked
        ):  # the model's known |= need, then _next_need, in one construction
            return Worker(
                w.up, w.cycle, w.mode, w.epoch, w.fresh_at, w.view, w.pending[1:], False, 0, 0,
                w.known | (1 << r.need), 0, (), w.reread,
            )  # fmt: skip
        return super()._handle(r, w, br)

    # -- memo off, without the table look-ups ------------------------------------------------
    def intern(self, x: _T) -> _T:
        return x

    def commit(self, br: Broker, m: Proposal) -> tuple[Broker, Reply, bool]:
        return self._decide(br, m)

    def handle(self, r: Reply, w: Worker, br: Broker) -> Worker:
        return self._handle(r, w, br)

    def bag_add(self, bag: tuple[_M, ...], m: _M) -> tuple[_M, ...]:
        # the model's bag_add (a sorted copy), by bisection: the bag is sorted already
        i = bisect_right(bag, m)
        return bag[:i] + (m,) + bag[i:]

    def bag_remove(self, bag: tuple[_M, ...], m: _M) -> tuple[_M, ...]:
        return bag_remove(bag, m)


_T = TypeVar("_T")


__all__ = ["PVec", "TraceModel", "pappend", "pset"]
