"""Mutant: a gang's room is checked on its first two buckets only (right for gangs of 2)."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.worker import Worker as RefWorker


class Worker(RefWorker):
    def fits(self, need: int, buckets: tuple[int, ...], allowed: set[int] | None) -> bool:
        if not all(self.visible(b, allowed) for b in buckets):
            return False
        return all(self.room_for(need, b, allowed) for b in buckets[:2])  # BUG: [:2]


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(worker=Worker)
