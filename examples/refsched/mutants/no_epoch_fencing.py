"""Mutant: after a failover the broker accepts proposals stamped with an older epoch."""

from __future__ import annotations

from refsched.adapter import RefSchedAdapter
from refsched.broker import CommitBroker
from refsched.messages import Proposal


class Broker(CommitBroker):
    def fenced(self, m: Proposal) -> bool:
        return m.epoch > self.epoch  # BUG: only proposals from the future are refused


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(broker=Broker)
