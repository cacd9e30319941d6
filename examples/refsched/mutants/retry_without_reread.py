"""Mutant: after a Conflict the worker retries from its cached view, without re-reading."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.messages import Reply
from parsync.refsched.worker import Worker as RefWorker


class Worker(RefWorker):
    def reread_conflicted(self, r: Reply, msg_id: str) -> None:
        # BUG: no forced fresh read; the retry is built on the same stale data
        self.events.emit("HandleReply", worker=self.wid, id=msg_id, kind=r.kind, stale=False)


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(worker=Worker)
