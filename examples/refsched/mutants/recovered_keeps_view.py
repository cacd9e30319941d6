"""Mutant: a recovered worker reloads its view from local disk and marks it all fresh."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.worker import Snapshot
from parsync.refsched.worker import Worker as RefWorker


class Worker(RefWorker):
    disk: list[list[Snapshot]] = []

    def crash(self) -> None:
        saved = [list(snaps) for snaps in self.view]  # persisted before going down
        super().crash()
        self.disk = saved

    def recover(self) -> None:
        self.up = True
        self.view = self.disk  # BUG: no re-read; the old view is declared fresh
        self.fresh_at = [self.cycle] * self.P
        self.events.emit("Recover", worker=self.wid, cycle=self.cycle, read=[])


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(worker=Worker)
