"""Mutant: the broker's CAS checks only the proposer's fresh partition."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.broker import CommitBroker
from parsync.refsched.messages import Proposal


class Broker(CommitBroker):
    def conflicts(self, m: Proposal) -> tuple[int, ...]:
        # BUG: buckets outside the partition read fresh this cycle are trusted
        part = self.settings.partition_of
        return tuple(b for b, seen in m.reads if part(b) == m.fresh and self.state.seq[b] != seen)


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(broker=Broker)
