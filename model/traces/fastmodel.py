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
  memoisation is off, and interning hashes the broker's N-long tuples.

:class:`TraceModel` is :class:`~model.protocol.ParSyncModel` with those
replaced by equal, cheaper computations (memo off; the pending list from a
bit mask of the needs that have arrived), and :meth:`TraceModel.fits`, the
Propose guard for one bucket set (``choices`` builds every set). Nothing else
is overridden: every guard and update is the model's. ``tests/test_trace_fastmodel.py``
checks each replacement against the model's own function on reachable
states, and the validator's tests check whole traces against ``successors``.
The hashed model files are untouched.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TypeVar

from ..config import Config
from ..protocol import _M, ParSyncModel
from ..state import LATENCY, Broker, Proposal, Reply, Worker, bag_add, bag_remove


class TraceModel(ParSyncModel):
    """ParSyncModel (no variant, memo off) with need-count-independent step costs."""

    def __init__(self, config: Config) -> None:
        super().__init__(config, memo=False)
        # per worker: its needs in arrival order, their arrival cycles, and the
        # bit mask of the first k of them for the last k asked (cycles only grow)
        self._by_arrival = tuple(
            sorted(ns, key=lambda n: (self.arrival[n], n)) for ns in self.needs_of
        )
        self._arrivals = tuple(tuple(self.arrival[n] for n in ns) for ns in self._by_arrival)
        self._arrived: list[tuple[int, int]] = [(0, 0)] * self.W  # (k, mask of first k)
        self._combos = tuple(frozenset(c) for c in self.combos)
        rank = [0] * self.N  # position in the model's need order (_need_key)
        for i, n in enumerate(sorted(range(self.N), key=self._need_key)):
            rank[n] = i
        self._rank = tuple(rank)

    # -- StartCycle -------------------------------------------------------------------------
    def arrived_mask(self, wi: int, cycle: int) -> int:
        """Bit n set for each need n of worker ``wi`` that has arrived by ``cycle``."""
        k = bisect_right(self._arrivals[wi], cycle)
        have, mask = self._arrived[wi]
        if k != have:
            order = self._by_arrival[wi]
            if k < have:  # an earlier cycle (another candidate state): rebuild
                have, mask = 0, 0
            for n in order[have:k]:
                mask |= 1 << n
            self._arrived[wi] = (k, mask)
        return mask

    def pending_of(self, wi: int, cycle: int, known: int) -> tuple[int, ...]:
        """The model's pending list: own needs arrived by ``cycle``, not known placed,
        highest priority first (ties: lowest id), from the set bits of one mask."""
        todo = self.arrived_mask(wi, cycle) & ~known
        found = []
        if todo.bit_count() <= 4:  # the usual case: peel the lowest set bit off
            while todo:
                low = todo & -todo
                found.append(low.bit_length() - 1)
                todo ^= low
        else:  # after a crash (known = 0): one pass over the binary digits
            digits = bin(todo)[:1:-1]  # least significant first
            i = digits.find("1")
            while i >= 0:
                found.append(i)
                i = digits.find("1", i + 1)
        return tuple(sorted(found, key=self._rank.__getitem__))

    def start_cycle(self, wi: int, w: Worker, br: Broker) -> Worker:
        # ParSyncModel.start_cycle, with the pending scan replaced by pending_of
        c = w.cycle + 1
        w = self.refresh(w._replace(cycle=c), br, (self.rotation(c),))
        pending = self.pending_of(wi, c, w.known)
        return w._replace(pending=pending, waiting=False, retries=0, attempts=0)

    # -- Propose ---------------------------------------------------------------------------
    def fits(self, w: Worker, n: int, bs: tuple[int, ...]) -> bool:
        """``bs in self.choices(w, n)``, testing ``bs`` alone (the model's guards per set)."""
        if bs not in self._combos[n]:
            return False
        if w.mode == LATENCY:
            top = max(w.fresh_at)
            fresh = w.fresh_at
            if any(fresh[self.part[b]] != top for b in bs):
                return False
        sz = self.size[n]
        for b in bs:
            e = self.view_entry(w, b)
            if e is None or e[1] + sz > self.cap[b]:
                return False
        return True

    # -- memo off, without the table look-ups ------------------------------------------------
    def intern(self, x: _T) -> _T:
        return x

    def commit(self, br: Broker, m: Proposal) -> tuple[Broker, Reply, bool]:
        return self._decide(br, m)

    def handle(self, r: Reply, w: Worker, br: Broker) -> Worker:
        return self._handle(r, w, br)

    def bag_add(self, bag: tuple[_M, ...], m: _M) -> tuple[_M, ...]:
        return bag_add(bag, m)

    def bag_remove(self, bag: tuple[_M, ...], m: _M) -> tuple[_M, ...]:
        return bag_remove(bag, m)


_T = TypeVar("_T")


__all__ = ["TraceModel"]
