"""The broker's durable state and the store every decision is written to."""

from __future__ import annotations

import threading
from dataclasses import dataclass

# need status at the broker: its memory of what it placed (deduplication)
UNPLACED = 0
PLACED = 1
RELEASED = 2


@dataclass
class BrokerState:
    seq: list[int]  # per bucket
    claims: list[list[int]]  # per bucket: the needs holding a claim there (sorted)
    ledger: list[list[int]]  # attribution, per need: the buckets it holds (sorted)
    status: list[int]  # per need: UNPLACED / PLACED / RELEASED

    @classmethod
    def initial(cls, buckets: int, needs: int) -> BrokerState:
        return cls(
            seq=[0] * buckets,
            claims=[[] for _ in range(buckets)],
            ledger=[[] for _ in range(needs)],
            status=[UNPLACED] * needs,
        )

    def copy(self) -> BrokerState:
        return BrokerState(
            seq=list(self.seq),
            claims=[list(c) for c in self.claims],
            ledger=[list(x) for x in self.ledger],
            status=list(self.status),
        )


class DurableStore:
    """Write-through storage of the broker's state, outliving any one broker.

    The broker writes its whole state after every decision that changes it
    (commit, release). ``recover`` is what a new broker epoch starts from.
    """

    def __init__(self, initial: BrokerState) -> None:
        self._lock = threading.Lock()
        self.epoch = 0
        self.writes = 0
        self._current = initial.copy()
        self._previous = initial.copy()  # the state before the latest write

    def write(self, state: BrokerState) -> None:
        with self._lock:
            self._previous = self._current
            self._current = state.copy()
            self.writes += 1

    def load(self) -> tuple[int, BrokerState]:
        """The current epoch and state (how the first broker starts)."""
        with self._lock:
            return self.epoch, self._current.copy()

    def recover(self) -> tuple[int, BrokerState]:
        """Open a new epoch: (its number, the state to serve it from)."""
        with self._lock:
            self.epoch += 1
            return self.epoch, self._current.copy()
