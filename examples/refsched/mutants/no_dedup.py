"""Mutant: the broker does not remember placed needs; a re-proposal places one again."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.broker import CommitBroker


class Broker(CommitBroker):
    def placed_before(self, need: int) -> bool:
        return False  # BUG: no idempotency check


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(broker=Broker)
