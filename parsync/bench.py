"""Benchmark of the explicit-state checker: distinct states per second.

Used by ``parsync bench`` and ``bench/bench_check.py``. A measurement, never a
test assertion: speed targets are tracked here, not in the test suite.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any

from parsync.engines.checker import Checker, Progress
from parsync.model.config import Config
from parsync.model.protocol import ParSyncModel


def bench(
    cfg: Config,
    *,
    repeat: int = 1,
    symmetry: bool = True,
    progress: Callable[[Progress], None] | None = None,
) -> list[dict[str, Any]]:
    """One row per run; a run Ctrl-C stopped is the last row, verdict ``interrupted``."""
    rows = []
    for _ in range(repeat):
        r = Checker(ParSyncModel(cfg), symmetry=symmetry, progress=progress).run()
        interrupted = r.stop_reason == "interrupted"
        rows.append(
            {
                "verdict": "interrupted" if interrupted else r.verdict,
                "states": r.states,
                "transitions": r.transitions,
                "depth": r.depth,
                "seconds": round(r.seconds, 3),
                "states_per_second": round(r.states_per_second),
                "python": platform.python_version(),
                "machine": platform.machine(),
            }
        )
        if interrupted:
            break
    return rows
