"""Mutant: a release removes the claims but leaves the attribution ledger entry behind."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.broker import CommitBroker


class Broker(CommitBroker):
    def unattribute(self, need: int) -> None:
        pass  # BUG: Phase 3 keeps seeing the need on buckets it no longer holds


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(broker=Broker)
