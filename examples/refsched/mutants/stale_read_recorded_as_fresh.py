"""Mutant: reading one partition stamps every partition fresh, stale ones included."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.worker import Worker as RefWorker


class Worker(RefWorker):
    def mark_fresh(self, parts: list[int]) -> None:
        self.fresh_at = [self.cycle] * self.P  # BUG: one freshness stamp for the whole view


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(worker=Worker)
