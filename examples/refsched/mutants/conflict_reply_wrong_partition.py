"""Mutant: the forced re-read after a Conflict goes to the wrong partition (this cycle's)."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.messages import Reply
from parsync.refsched.worker import Worker as RefWorker


class Worker(RefWorker):
    def reread_conflicted(self, r: Reply, msg_id: str) -> None:
        parts = {self.rotation(self.cycle)}  # BUG: should be the conflicted buckets' partitions
        self.refresh(parts, "HandleReply", id=msg_id, kind=r.kind, stale=False)


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(worker=Worker)
