"""Mutant: the retry budget check is ``retries > R + 1``: one retry too many per cycle."""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.worker import Worker as RefWorker


class Worker(RefWorker):
    def out_of_budget(self) -> bool:
        return self.retries > self.settings.retry_budget + 1  # BUG: off by one


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(worker=Worker)
