"""Mutant: a worker proposes on any bucket, ignoring the need's ``eligible`` set."""

from __future__ import annotations

from itertools import combinations

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.worker import Worker as RefWorker


class Worker(RefWorker):
    def options(self, need: int) -> list[tuple[int, ...]]:
        allowed = self.allowed_partitions()
        gang = self.settings.needs[need].gang
        sets = combinations(range(len(self.settings.capacities)), gang)  # BUG: not eligible
        return [bs for bs in sets if self.fits(need, bs, allowed)]


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(worker=Worker)
