"""Mutant: the gang fit check overwrites its verdict per bucket; only the last bucket counts."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.worker import Worker as RefWorker


class Worker(RefWorker):
    def fits(self, need: int, buckets: tuple[int, ...], allowed: set[int] | None) -> bool:
        ok = True
        for b in buckets:
            ok = self.room_for(need, b, allowed)  # BUG: should be `ok = ok and ...`
        return ok


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(worker=Worker)
