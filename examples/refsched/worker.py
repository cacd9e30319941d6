"""A scheduling worker: ParSync rotation, carry-forward views, strategies, retries.

Each cycle the worker refreshes ONE partition (``cycle mod P``) from the
broker and carries the others forward from earlier reads, so its view is fresh
in one partition and at most P-1 cycles stale in the others. It places its
arrived needs highest priority first, one proposal at a time, choosing buckets
its view says have room:

* latency-first: only buckets of its freshest partition(s);
* quality-first: any bucket; the set with the most free room by the view
  (ties: lowest bucket ids);
* adaptive: starts quality-first; a Conflict while quality-first switches it to
  latency-first (its stale data is costing it), a deferral while latency-first
  switches it back (it found nothing in its fresh data).

Each proposal carries the seqno read for every bucket it touches, the epoch of
the worker's latest read and a request tag (cycle, attempt) that the reply
echoes; a reply with any other tag is stale and discarded. A Conflict forces a
fresh read of the conflicted partitions and a retry, up to R retries per need
per cycle; past that the need waits for the next cycle. Fenced (a new broker
epoch) forces a full re-read. A crash loses the view, the attempt and what the
worker knew had been placed; cycles still pass while it is down, and it
re-reads everything before proposing again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from parsync.refsched.actor import Actor
from parsync.refsched.broker import PartitionData, ReadNote
from parsync.refsched.events import EventLog
from parsync.refsched.messages import ALREADY_PLACED, COMMITTED, CONFLICT, Proposal, Reply
from parsync.refsched.network import Network
from parsync.refsched.settings import ADAPTIVE, LATENCY_FIRST, QUALITY_FIRST, Settings

Reader = Callable[[Iterable[int], "ReadNote | None"], tuple[int, PartitionData]]


class WorkerDown(RuntimeError):
    """The worker is crashed and cannot take this step."""


class NothingToSchedule(RuntimeError):
    """The worker has no pending need, or its proposal is still outstanding."""


@dataclass(frozen=True)
class Snapshot:
    """One carry-forward read of a partition."""

    read_at: int  # the worker cycle of the read
    entries: tuple[tuple[int, int], ...]  # (seq, used) per bucket of the partition


@dataclass(frozen=True)
class Pacing:
    """Free mode only: how a worker paces its own cycles and timeouts (seconds)."""

    cycle_period: float = 0.01
    reply_timeout: float = 0.2


class Worker(Actor):
    def __init__(
        self,
        wid: int,
        settings: Settings,
        read: Reader,
        network: Network,
        events: EventLog,
        tick: float | None = None,
        pacing: Pacing | None = None,
    ) -> None:
        super().__init__(f"worker-{wid}", tick)
        self.wid = wid
        self.settings = settings
        self._read = read
        self.network = network
        self.events = events
        self.pacing = pacing or Pacing()
        s = settings
        self.P = s.partitions
        self.part = s.partition_map
        self.index = tuple(s.members(s.partition_of(b)).index(b) for b in range(s.buckets))
        # own needs, highest priority first (ties: lowest id)
        self.needs = sorted(
            (n for n, spec in enumerate(s.needs) if spec.owner == wid),
            key=lambda n: (-s.needs[n].priority, n),
        )
        self.initial_mode = LATENCY_FIRST if s.strategy == LATENCY_FIRST else QUALITY_FIRST
        self.adaptive = s.strategy == ADAPTIVE
        # state
        self.up = True
        self.cycle = 0
        self.mode = self.initial_mode
        self.epoch = 0  # broker epoch of the latest read
        self.fresh_at = [-1] * self.P
        self.view: list[list[Snapshot]] = [[] for _ in range(self.P)]
        self.pending: list[int] = []
        self.waiting = False
        self.retries = 0
        self.attempts = 0  # proposals sent for the head need this cycle (the reply tag)
        self.known: set[int] = set()  # own needs known to be placed
        self._sent_at = 0.0
        self._next_cycle_at = 0.0

    # --- reading from the broker ---------------------------------------------------------
    def refresh(self, parts: Iterable[int], action: str | None = None, **fields: Any) -> None:
        """Fresh read of ``parts``: their snapshots, ``fresh_at`` and the epoch."""
        parts = sorted(set(parts))

        def note(epoch: int, data: PartitionData) -> None:
            if action is not None:
                entries = [[list(e) for e in data[p]] for p in parts]  # what was read (traces)
                self.events.emit(
                    action, worker=self.wid, cycle=self.cycle, read=parts, data=entries, **fields
                )

        self.epoch, data = self._read(parts, note)
        for p in parts:
            self.keep(p, Snapshot(self.cycle, data[p]))
        self.mark_fresh(parts)

    def keep(self, p: int, snap: Snapshot) -> None:
        """Carry forward: the new snapshot replaces the old one."""
        self.view[p] = [snap]

    def mark_fresh(self, parts: list[int]) -> None:
        for p in parts:
            self.fresh_at[p] = self.cycle

    def rotation(self, cycle: int) -> int:
        """The partition refreshed at the start of ``cycle``."""
        return cycle % self.P

    def view_entry(self, b: int) -> tuple[int, int] | None:
        """(seq, used) of bucket ``b`` in the latest snapshot of its partition."""
        snaps = self.view[self.part[b]]
        return snaps[-1].entries[self.index[b]] if snaps else None

    # --- steps -------------------------------------------------------------------------
    def bootstrap(self) -> None:
        """Cycle 0: read every partition."""
        self.refresh(range(self.P))

    def start_cycle(self) -> None:
        self._next_cycle_at = time.monotonic() + self.pacing.cycle_period
        if not self.up:
            self.cycle += 1  # cycles are time-paced: they pass while the worker is down
            self.events.emit("StartCycle", worker=self.wid, cycle=self.cycle, read=[])
            return
        self.cycle += 1
        self.refresh([self.rotation(self.cycle)], "StartCycle")
        spec = self.settings.needs
        self.pending = [
            n for n in self.needs if spec[n].arrival <= self.cycle and n not in self.known
        ]
        self.waiting = False
        self.retries = 0
        self.attempts = 0

    def schedule(self) -> None:
        """Propose the head need on buckets that fit, or defer it."""
        if not self.up:
            raise WorkerDown(f"worker {self.wid} is down")
        if self.waiting or not self.pending:
            raise NothingToSchedule(f"worker {self.wid} has nothing to schedule")
        need = self.pending[0]
        options = self.options(need)
        if options:
            self.propose(need, self.choose(need, options))
        else:
            self.defer()

    def allowed_partitions(self) -> set[int] | None:
        """Partitions the strategy may pick from now (None: any)."""
        if self.mode == LATENCY_FIRST:
            top = max(self.fresh_at)
            return {p for p in range(self.P) if self.fresh_at[p] == top}
        return None

    def options(self, need: int) -> list[tuple[int, ...]]:
        allowed = self.allowed_partitions()
        sets = self.settings.needs[need].bucket_sets()
        return [bs for bs in sets if self.fits(need, bs, allowed)]

    def fits(self, need: int, buckets: tuple[int, ...], allowed: set[int] | None) -> bool:
        return all(self.room_for(need, b, allowed) for b in buckets)

    def visible(self, b: int, allowed: set[int] | None) -> bool:
        return (allowed is None or self.part[b] in allowed) and self.view_entry(b) is not None

    def room_for(self, need: int, b: int, allowed: set[int] | None) -> bool:
        if not self.visible(b, allowed):
            return False
        entry = self.view_entry(b)
        assert entry is not None
        return entry[1] + self.settings.needs[need].size <= self.settings.capacities[b]

    def free_room(self, buckets: tuple[int, ...]) -> int:
        total = 0
        for b in buckets:
            entry = self.view_entry(b)
            assert entry is not None
            total += self.settings.capacities[b] - entry[1]
        return total

    def choose(self, need: int, options: list[tuple[int, ...]]) -> tuple[int, ...]:
        """The fitting bucket set with the most free room by the view; ties: lowest ids."""
        return min(options, key=lambda bs: (-self.free_room(bs), bs))

    def propose(self, need: int, buckets: tuple[int, ...]) -> None:
        reads = []
        for b in buckets:
            entry = self.view_entry(b)
            assert entry is not None
            reads.append((b, entry[0]))
        self.attempts += 1
        m = Proposal(
            worker=self.wid,
            need=need,
            priority=self.settings.needs[need].priority,
            epoch=self.epoch,
            reads=tuple(reads),
            cycle=self.cycle,
            attempt=self.attempts,
            fresh=self.rotation(self.cycle),
        )
        self.waiting = True
        self._sent_at = time.monotonic()
        msg_id = self.network.allocate_id()
        self.events.emit(
            "Propose",
            worker=self.wid,
            need=need,
            buckets=list(buckets),
            id=msg_id,
            epoch=m.epoch,
            reads=[list(r) for r in m.reads],
            priority=m.priority,
            cycle=m.cycle,
            attempt=m.attempt,
        )
        self.network.send(m, msg_id)

    def defer(self) -> None:
        need = self.pending[0]
        self.next_need()
        if self.adaptive and self.mode == LATENCY_FIRST:
            self.mode = QUALITY_FIRST  # nothing fits in fresh data: widen the search
        self.events.emit("Defer", worker=self.wid, need=need)

    def next_need(self) -> None:
        self.pending.pop(0)
        self.waiting = False
        self.retries = 0
        self.attempts = 0

    # --- replies -----------------------------------------------------------------------
    def take_reply(self, msg_id: str) -> None:
        """The network hands over reply ``msg_id``."""
        if not self.up:
            raise WorkerDown(f"worker {self.wid} is down")
        self.handle(msg_id, self.network.take(msg_id).reply)

    def handle(self, msg_id: str, r: Reply) -> None:
        if not (
            self.waiting
            and self.pending
            and r.need == self.pending[0]
            and r.cycle == self.cycle
            and r.attempt == self.attempts
        ):
            self.events.emit("HandleReply", worker=self.wid, id=msg_id, kind=r.kind, stale=True)
            return  # a reply to an earlier attempt: discarded
        if r.kind in (COMMITTED, ALREADY_PLACED):
            self.known.add(r.need)
            self.next_need()
            self.events.emit("HandleReply", worker=self.wid, id=msg_id, kind=r.kind, stale=False)
            return
        if r.kind == CONFLICT:
            self.reread_conflicted(r, msg_id)
            if self.adaptive and self.mode == QUALITY_FIRST:
                self.mode = LATENCY_FIRST  # stale data is costing conflicts: stick to fresh
        else:  # Fenced: a new broker epoch, re-synchronise everything
            self.refresh(range(self.P), "HandleReply", id=msg_id, kind=r.kind, stale=False)
        self.retries += 1
        if self.out_of_budget():
            self.next_need()  # the need waits for the next cycle
        else:
            self.waiting = False

    def reread_conflicted(self, r: Reply, msg_id: str) -> None:
        """Forced fresh read of the partitions of the conflicted buckets."""
        parts = {self.part[b] for b in r.buckets}
        self.refresh(parts, "HandleReply", id=msg_id, kind=r.kind, stale=False)

    def out_of_budget(self) -> bool:
        return self.retries > self.settings.retry_budget

    # --- faults --------------------------------------------------------------------------
    def crash(self) -> None:
        if not self.up:
            raise WorkerDown(f"worker {self.wid} is already down")
        self.up = False
        self.mode = self.initial_mode
        self.fresh_at = [-1] * self.P
        self.view = [[] for _ in range(self.P)]
        self.pending = []
        self.waiting = False
        self.retries = 0
        self.attempts = 0
        self.known = set()
        self.events.emit("Crash", worker=self.wid)

    def recover(self) -> None:
        if self.up:
            raise RuntimeError(f"worker {self.wid} is not down")
        self.up = True
        self.refresh(range(self.P), "Recover")

    # --- free mode ---------------------------------------------------------------------
    def autonomous(self) -> None:
        now = time.monotonic()
        can_cycle = now >= self._next_cycle_at and self.cycle < self.settings.max_cycle
        if not self.up:
            if can_cycle:
                self.start_cycle()
        elif self.waiting:
            if now - self._sent_at > self.pacing.reply_timeout:
                self.start_cycle()  # proposal or reply lost: give up on it
        elif self.pending:
            self.schedule()
        elif can_cycle:
            self.start_cycle()

    def offer(self, msg_id: str) -> None:
        """Free mode: the network offers a reply; a down worker leaves it in flight."""
        if self.up:
            self.take_reply(msg_id)
        else:
            self.network.withdraw_offer(msg_id)

    # --- observation -------------------------------------------------------------------
    def observe(self) -> dict[str, Any]:
        return {
            "up": self.up,
            "cycle": self.cycle,
            "mode": self.mode,
            "fresh_at": list(self.fresh_at),
            "view": [[[list(e) for e in snap.entries] for snap in snaps] for snaps in self.view],
            "pending": list(self.pending),
            "waiting": self.waiting,
            "retries": self.retries,
        }
