"""Benchmark the simulator (ParSyncModel.step) against enumerating successors at large sizes.

    python bench/bench_simulate.py [--workers 16] [--buckets 2048] [--partitions 8]

Runs one default-scope simulation (model steps per second through
``ParSyncModel.step``, which builds only the chosen action's successor), then
walks the same scope looking each step up among ``ParSyncModel.successors``
(which builds every enabled action's successor), to show why ``step``
dispatches on the action. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from parsync.engines.simulate import Workload, generate, run
from parsync.engines.simulate_study import BASE
from parsync.model.protocol import ParSyncModel


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=BASE.workers)
    ap.add_argument("--buckets", type=int, default=BASE.buckets)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--strategy", default="quality-first")
    ap.add_argument("--step-seconds", type=float, default=10.0)
    a = ap.parse_args()
    wl: Workload = replace(
        BASE, workers=a.workers, buckets=a.buckets, partitions=a.partitions, strategy=a.strategy
    )
    r = run(wl, seed=1)
    print(
        f"simulate ({wl.describe()}): {r.needs:,} needs, {r.steps:,} steps in {r.seconds:.2f}s "
        f"= {r.steps / r.seconds:,.0f} steps/s ({r.seconds / r.steps * 1e6:.0f} us/step)"
    )
    # ParSyncModel.step on the same scope: a random walk of StartCycles and the
    # first enabled action, for at most --step-seconds
    model = ParSyncModel(generate(wl, 1).config, memo=False)
    s = model.init_state()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < a.step_seconds:
        acts = model.enabled(s)
        if not acts:
            break
        act = acts[n % len(acts)]
        nxt = dict(model.successors(s)).get(act)
        assert nxt == model.step(s, act)
        s = nxt if nxt is not None else s
        n += 1
    dt = time.perf_counter() - t0
    print(
        f"ParSyncModel.successors (every successor built) on the same scope: {n} steps in "
        f"{dt:.2f}s "
        f"= {dt / max(n, 1) * 1e3:.1f} ms/step (early steps, few placements yet)"
    )


if __name__ == "__main__":
    main()
