"""Mutant: the broker decides in arrival order, ignoring priority on conflict."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.broker import CommitBroker
from parsync.refsched.network import Envelope


class Broker(CommitBroker):
    def select(self, queue: list[Envelope]) -> Envelope:
        return min(queue, key=lambda e: e.order)  # BUG: plain FIFO


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(broker=Broker)
