"""Mutant: after a failover the broker accepts proposals stamped with an older epoch."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.broker import CommitBroker
from parsync.refsched.messages import Proposal


class Broker(CommitBroker):
    def fenced(self, m: Proposal) -> bool:
        return m.epoch > self.epoch  # BUG: only proposals from the future are refused


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(broker=Broker)
