"""Mutant: a bucket has room while ``used < capacity``, whatever the need's size."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.worker import Worker as RefWorker


class Worker(RefWorker):
    def room_for(self, need: int, b: int, allowed: set[int] | None) -> bool:
        if not self.visible(b, allowed):
            return False
        entry = self.view_entry(b)
        assert entry is not None
        return entry[1] < self.settings.capacities[b]  # BUG: ignores the need's size


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(worker=Worker)
