"""Mutant: failover recovers from a replica that lags the primary by one write."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.store import BrokerState, DurableStore


class LaggingStore(DurableStore):
    def recover(self) -> tuple[int, BrokerState]:
        with self._lock:
            self.epoch += 1
            self._current = self._previous.copy()  # BUG: the lagging replica is promoted
            return self.epoch, self._current.copy()


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(store=LaggingStore)
