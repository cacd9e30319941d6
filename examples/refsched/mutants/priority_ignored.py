"""Mutant: the broker decides in arrival order, ignoring priority on conflict."""

from __future__ import annotations

from refsched.adapter import RefSchedAdapter
from refsched.broker import CommitBroker
from refsched.network import Envelope


class Broker(CommitBroker):
    def select(self, queue: list[Envelope]) -> Envelope:
        return min(queue, key=lambda e: e.order)  # BUG: plain FIFO


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(broker=Broker)
