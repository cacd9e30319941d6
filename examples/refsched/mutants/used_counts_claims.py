"""Mutant: the broker reports a bucket's ``used`` as its number of claims, not their sizes."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.broker import CommitBroker


class Broker(CommitBroker):
    def used(self, bucket: int) -> int:
        return len(self.state.claims[bucket])  # BUG: a size-2 claim counts as 1


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(broker=Broker)
