"""Mutant: carry-forward appends every snapshot read instead of replacing the old one."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.worker import Snapshot
from parsync.refsched.worker import Worker as RefWorker


class Worker(RefWorker):
    def keep(self, p: int, snap: Snapshot) -> None:
        self.view[p].append(snap)  # BUG: the old snapshots are never dropped


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(worker=Worker)
