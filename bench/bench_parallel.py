"""Benchmark ``parsync check --workers N`` against the single-process search, side by side.

    python bench/bench_parallel.py [--preset pr] [--workers 1,2] [--repeat 1] [--json-out F]

Each run is a fresh process (so peak memory is its own), one after another in
this one invocation, on the same machine state: the single-process ``Checker``,
then the fingerprint-partitioned search with each worker count. Prints distinct
states/s, the speed-up of each worker count over ``--workers 1`` and over the
single-process search, peak RSS (the coordinator plus each shard's peak, summed:
an upper bound, shards peak at different levels) and bytes per distinct state,
and each shard's time split (expand, exchange, waiting on the others, admit).
A measurement, never a test assertion (issue 15's targets are tracked here).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys

RUN = r"""
import json, resource, sys, time
from parsync.engines.checker import Checker
from parsync.engines.parallel import ParallelChecker
from parsync.model.presets import PRESETS
from parsync.model.protocol import ParSyncModel
preset, workers = sys.argv[1], int(sys.argv[2])
m = ParSyncModel(PRESETS[preset].config)
t0 = time.perf_counter()
if workers == 0:
    r = Checker(m, symmetry=True).run()
else:
    r = ParallelChecker(m, workers=workers, symmetry=True).run()
dt = time.perf_counter() - t0
me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({
    "workers": workers, "verdict": r.verdict, "states": r.states,
    "transitions": r.transitions, "depth": r.depth, "seconds": round(dt, 2),
    "rss_bytes": me + workers * kids, "shard_seconds": r.extra.get("shard_seconds"),
}))
"""


def run_one(preset: str, workers: int) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", RUN, preset, str(workers)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="pr")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json-out", metavar="FILE")
    args = ap.parse_args()
    counts = [0, *(int(x) for x in args.workers.split(","))]
    runs: dict[int, list[dict[str, object]]] = {w: [] for w in counts}
    for _ in range(args.repeat):
        for w in counts:  # interleaved, so a noisy spell hits every count alike
            r = run_one(args.preset, w)
            runs[w].append(r)
            print(
                f"  {'single process' if w == 0 else f'--workers {w}'}: {r['seconds']}s",
                file=sys.stderr,
            )
    base = {w: statistics.median(float(r["seconds"]) for r in rs) for w, rs in runs.items()}  # type: ignore[arg-type]
    first = runs[0][0]
    rows = []
    for w in counts:
        r = runs[w][-1]
        assert (r["states"], r["transitions"], r["depth"]) == (
            first["states"],
            first["transitions"],
            first["depth"],
        ), f"--workers {w} explored a different graph: {r} against {first}"
        rows.append(
            {
                "engine": "single process" if w == 0 else f"--workers {w}",
                "workers": w,
                "seconds": base[w],
                "states_per_second": round(int(first["states"]) / base[w]),  # type: ignore[call-overload]
                "speedup_over_workers_1": round(base[1] / base[w], 2) if 1 in base else None,
                "speedup_over_single_process": round(base[0] / base[w], 2),
                "peak_rss_bytes": r["rss_bytes"],
                "bytes_per_state": round(int(r["rss_bytes"]) / int(first["states"])),  # type: ignore[call-overload]
                "shard_seconds": r["shard_seconds"],
            }
        )
    print(
        f"{args.preset}: {first['states']:,} distinct states, {first['transitions']:,} "
        f"transitions, depth {first['depth']} (every engine; median of {args.repeat})"
    )
    for row in rows:
        print(
            f"  {row['engine']:>15}: {row['seconds']:7.1f}s  {row['states_per_second']:>9,}/s  "
            f"x{row['speedup_over_workers_1']} over --workers 1, "
            f"x{row['speedup_over_single_process']} over one process, "
            f"{int(row['peak_rss_bytes']) / 2**20:,.0f} MB = {row['bytes_per_state']} B/state"
        )
        for k, sh in enumerate(row["shard_seconds"] or []):  # type: ignore[arg-type]
            print(f"      shard {k}: " + ", ".join(f"{a} {b}s" for a, b in sh.items()))
    if args.json_out:
        doc = {
            "preset": args.preset,
            "repeat": args.repeat,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "rows": rows,
        }
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
