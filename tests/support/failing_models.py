"""Models whose successors fail at the second cycle: a shard that raises, and one whose
process dies (tests/test_parallel.py with worker processes, tests/test_ray.py with Ray
actors, which receive these classes pickled by value)."""

from __future__ import annotations

import os

from parsync.model.protocol import ParSyncModel


class Boom(ParSyncModel):
    def successors(self, s):  # type: ignore[no-untyped-def]
        if any(w.cycle >= 2 for w in s.workers):
            raise ValueError("boom in successors")
        return super().successors(s)


class Dies(ParSyncModel):
    def successors(self, s):  # type: ignore[no-untyped-def]
        if any(w.cycle >= 2 for w in s.workers):
            os._exit(9)
        return super().successors(s)
