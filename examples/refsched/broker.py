"""The commit broker: per-bucket seqno CAS, priority on conflict, epochs.

One broker serves one epoch. It decides on the proposals in its queue one at a
time, on its own thread: the highest-priority proposal first (first come,
first served among equals), so a lower-priority proposal is never committed
ahead of a higher-priority one on a shared bucket. For each it answers, in this
order: Fenced (stamped with another epoch), AlreadyPlaced (the need was placed
before: idempotent), Conflict (some bucket's seqno moved since the worker read
it; every touched bucket is checked, in every partition), else Committed. It
does no capacity re-check: the CAS is what keeps stale views from committing.
Every decision that changes its state is written to the durable store, from
which a failover builds the next epoch's broker.

Workers read partitions directly (``read``), under the broker's lock.
"""

from __future__ import annotations

import threading
from bisect import insort
from collections.abc import Callable, Iterable
from typing import Any

from parsync.refsched.actor import Actor
from parsync.refsched.events import EventLog
from parsync.refsched.messages import ALREADY_PLACED, COMMITTED, CONFLICT, FENCED, Proposal, Reply
from parsync.refsched.network import Envelope, Network
from parsync.refsched.settings import Settings
from parsync.refsched.store import PLACED, RELEASED, UNPLACED, BrokerState, DurableStore

PartitionData = dict[int, tuple[tuple[int, int], ...]]  # partition -> (seq, used) per bucket
ReadNote = Callable[[int, PartitionData], None]


class CommitBroker(Actor):
    def __init__(
        self,
        settings: Settings,
        epoch: int,
        state: BrokerState,
        store: DurableStore,
        network: Network,
        events: EventLog,
        tick: float | None = None,
    ) -> None:
        super().__init__(f"broker-e{epoch}", tick)
        self.settings = settings
        self.epoch = epoch
        self.state = state
        self.store = store
        self.network = network
        self.events = events
        self.sizes = tuple(n.size for n in settings.needs)
        self.members = tuple(settings.members(p) for p in range(settings.partitions))
        self.serving = True
        self._lock = threading.Lock()

    # --- reads (any thread) ---------------------------------------------------------
    def read(self, parts: Iterable[int], note: ReadNote | None = None) -> PartitionData | None:
        """(seq, used) of every bucket of ``parts``; None once this broker has stepped down.

        ``note(epoch, data)`` runs under the lock, so the reader's own step is
        ordered with the broker's decisions.
        """
        with self._lock:
            if not self.serving:
                return None
            st = self.state
            data = {p: tuple((st.seq[b], self.used(b)) for b in self.members[p]) for p in parts}
            if note is not None:
                note(self.epoch, data)
            return data

    def used(self, bucket: int) -> int:
        return sum(self.sizes[n] for n in self.state.claims[bucket])

    def step_down(self) -> None:
        """Stop serving (failover): no more reads or decisions from this epoch."""
        with self._lock:
            self.serving = False

    # --- the queue --------------------------------------------------------------------
    def select(self, queue: list[Envelope]) -> Envelope:
        """Highest priority first; first come, first served among equals."""
        return min(queue, key=lambda e: (-e.proposal.priority, e.order))

    def step(self) -> str | None:
        """Decide on one queued proposal; the id of the proposal, None if the queue is empty."""
        if not self.serving:
            return None
        queue = self.network.broker_queue()
        if not queue:
            return None
        env = self.select(queue)
        self.network.take(env.id)
        self._queued = [e.id for e in queue if e is not env]  # what the choice was among
        self.decide(env.id, env.proposal)
        return env.id

    def autonomous(self) -> None:  # free mode: drain the queue
        while self.step() is not None:
            pass

    # --- deciding ---------------------------------------------------------------------
    def decide(self, msg_id: str, m: Proposal) -> None:
        with self._lock:
            reply = self.judge(m)
            reply_id = self.network.allocate_id()
            self.events.emit(
                "Commit",
                id=msg_id,
                worker=m.worker,
                need=m.need,
                buckets=list(m.buckets),
                epoch=self.epoch,
                result=reply.kind,
                reply=reply_id,
                conflicts=list(reply.buckets),
                queued=getattr(self, "_queued", []),
                seq=[[b, self.state.seq[b]] for b in m.buckets],  # seqnos after the decision
            )
        self.network.send(reply, reply_id)

    def judge(self, m: Proposal) -> Reply:
        if self.fenced(m):
            return self.reply(m, FENCED)
        if self.placed_before(m.need):
            return self.reply(m, ALREADY_PLACED)
        conflicted = self.conflicts(m)
        if conflicted:
            return self.reply(m, CONFLICT, conflicted)
        self.commit(m)
        self.store.write(self.state)
        return self.reply(m, COMMITTED)

    def fenced(self, m: Proposal) -> bool:
        return m.epoch != self.epoch

    def placed_before(self, need: int) -> bool:
        return self.state.status[need] != UNPLACED

    def conflicts(self, m: Proposal) -> tuple[int, ...]:
        """The touched buckets whose seqno moved since the worker read them."""
        return tuple(b for b, seen in m.reads if self.state.seq[b] != seen)

    def commit(self, m: Proposal) -> None:
        st = self.state
        for b in m.buckets:
            st.seq[b] += 1
            insort(st.claims[b], m.need)
        st.ledger[m.need] = sorted({*st.ledger[m.need], *m.buckets})
        st.status[m.need] = PLACED

    @staticmethod
    def reply(m: Proposal, kind: str, buckets: tuple[int, ...] = ()) -> Reply:
        return Reply(m.worker, m.need, kind, m.cycle, m.attempt, buckets)

    # --- completions ------------------------------------------------------------------
    def release(self, need: int) -> None:
        """A placed need has completed: its claims go, the seqnos of its buckets rise."""
        with self._lock:
            st = self.state
            if st.status[need] != PLACED:
                raise ValueError(f"need {need} is not placed")
            buckets = list(st.ledger[need])
            for b in buckets:
                st.seq[b] += 1
                st.claims[b].remove(need)
            self.unattribute(need)
            st.status[need] = RELEASED
            self.store.write(st)
            self.events.emit(
                "Release", need=need, buckets=buckets, seq=[[b, st.seq[b]] for b in buckets]
            )

    def unattribute(self, need: int) -> None:
        """Remove the need's entry from the attribution ledger (mirrored to Phase 3)."""
        self.state.ledger[need] = []

    # --- observation ------------------------------------------------------------------
    def observe(self) -> dict[str, Any]:
        with self._lock:
            st = self.state
            return {
                "epoch": self.epoch,
                "seq": list(st.seq),
                "claims": [list(c) for c in st.claims],
                "ledger": [list(x) for x in st.ledger],
            }

    def status(self) -> list[int]:
        with self._lock:
            return list(self.state.status)
