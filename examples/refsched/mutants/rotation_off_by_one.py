"""Mutant: rotation computes ``cycle mod (P - 1)``; the last partition is never refreshed."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.worker import Worker as RefWorker


class Worker(RefWorker):
    def rotation(self, cycle: int) -> int:
        return cycle % max(self.P - 1, 1)  # BUG: should be cycle % P


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(worker=Worker)
