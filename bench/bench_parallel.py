"""Benchmark ``parsync check --workers N`` (and ``--ray auto``) against the single-process search.

    python bench/bench_parallel.py [--preset pr] [--workers 1,2] [--ray 2] [--repeat 1]
                                   [--json-out F]

Each run is a fresh process (so peak memory is its own), one after another in
this one invocation, on the same machine state: the single-process ``Checker``,
then the fingerprint-partitioned search with each worker count, then (``--ray N``)
the same search with N actors on a local Ray started in that process (``ray.init``
is timed apart, ``startup_seconds``, and not counted in ``seconds``). Prints
distinct states/s, the speed-up of each engine over ``--workers 1`` and over the
single-process search, peak RSS (the coordinator plus each shard's peak, summed:
an upper bound, shards peak at different levels; not measured for Ray, whose
actors are not this process's children) and bytes per distinct state, the bytes
per state shipped between shards (``wire_bytes_per_state``), and each shard's time
split (expand, exchange, waiting on the others, admit; Ray's waiting is not seen
by the actors) with its CPU time (``cpu``) and its time runnable while other
processes held the cores (``queued``, Linux), and the CPU seconds of the run's
process and of its shard processes (``cpu_seconds``; not for Ray): on a shared,
loaded machine the wall-clock speed-ups mean little, the CPU times still say
where the work went. A measurement, never a test assertion (issue 15's targets are
tracked here).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

RUN = r"""
import json, logging, resource, sys, time
from parsync.engines.checker import Checker
from parsync.engines.parallel import ParallelChecker
from parsync.model.presets import PRESETS
from parsync.model.protocol import ParSyncModel
preset, backend, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
m = ParSyncModel(PRESETS[preset].config)
startup = None
if backend == "ray":
    import ray
    from parsync.engines.ray_backend import RayChecker
    t0 = time.perf_counter()
    ray.init(address="local", include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING)
    startup = round(time.perf_counter() - t0, 2)
t0 = time.perf_counter()
if backend == "single":
    r = Checker(m, symmetry=True).run()
elif backend == "ray":
    r = RayChecker(m, address="auto", workers=workers, symmetry=True).run()
else:
    r = ParallelChecker(m, workers=workers, symmetry=True).run()
dt = time.perf_counter() - t0
ru_me = resource.getrusage(resource.RUSAGE_SELF)
ru_kids = resource.getrusage(resource.RUSAGE_CHILDREN)
me, kids = ru_me.ru_maxrss * 1024, ru_kids.ru_maxrss * 1024
cpu = {"this process": round(ru_me.ru_utime + ru_me.ru_stime, 2),
       "shard processes": round(ru_kids.ru_utime + ru_kids.ru_stime, 2)}
wire = r.extra.get("wire")
print(json.dumps({
    "workers": workers, "verdict": r.verdict, "states": r.states,
    "transitions": r.transitions, "depth": r.depth, "seconds": round(dt, 2),
    "rss_bytes": None if backend == "ray" else me + workers * kids,
    "shard_seconds": r.extra.get("shard_seconds"), "startup_seconds": startup,
    "cpu_seconds": None if backend == "ray" else cpu,
    "wire_bytes_per_state": round(wire["bytes"] / wire["states"], 1)
    if wire and wire["states"] else None,
}))
"""


def run_one(preset: str, backend: str, workers: int, path: str | None = None) -> dict[str, object]:
    """One engine in a fresh process; ``path``: run the code found there (PYTHONPATH)."""
    env = dict(os.environ, PYTHONPATH=path) if path else None
    out = subprocess.run(
        [sys.executable, "-c", RUN, preset, backend, str(workers)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=path,  # `python -c` puts the working directory first on sys.path
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="pr")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--ray", type=int, metavar="N", help="also N actors on a local Ray")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json-out", metavar="FILE")
    ap.add_argument(
        "--no-single",
        action="store_true",
        help="skip the single-process search (about 600 bytes a state: 6 GB on nightly)",
    )
    ap.add_argument(
        "--baseline",
        metavar="PATH",
        help="also run each worker count with the code at PATH (another checkout, e.g. main), "
        "in the same invocation, labelled 'baseline'",
    )
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    # (engine, backend, workers, PYTHONPATH): the single process, each worker count (the
    # baseline checkout's first), then Ray
    engines: list[tuple[str, str, int, str | None]] = []
    if not args.no_single:
        engines.append(("single process", "single", 0, None))
    if args.baseline:
        engines += [(f"baseline --workers {w}", "procs", w, args.baseline) for w in counts]
    engines += [(f"--workers {w}", "procs", w, None) for w in counts]
    if args.ray:
        engines.append((f"--ray auto, {args.ray} actors", "ray", args.ray, None))
    runs: dict[str, list[dict[str, object]]] = {e[0]: [] for e in engines}
    load_start = os.getloadavg()[0]  # a loaded machine makes every speed-up meaningless
    for _ in range(args.repeat):
        for name, backend, w, path in engines:  # interleaved: a noisy spell hits all alike
            r = run_one(args.preset, backend, w, path)
            runs[name].append(r)
            cpu = r.get("cpu_seconds") or {}
            print(
                f"  {name}: {r['seconds']}s (CPU: "
                + ", ".join(f"{a} {b}s" for a, b in cpu.items())  # type: ignore[attr-defined]
                + f"; load {os.getloadavg()[0]:.1f})",
                file=sys.stderr,
            )
    base = {e: statistics.median(float(r["seconds"]) for r in rs) for e, rs in runs.items()}  # type: ignore[arg-type]
    first = runs[engines[0][0]][0]
    rows = []
    for name, backend, w, path in engines:
        r = runs[name][-1]
        assert (r["states"], r["transitions"], r["depth"]) == (
            first["states"],
            first["transitions"],
            first["depth"],
        ), f"{name} explored a different graph: {r} against {first}"
        rss = r["rss_bytes"]
        rows.append(
            {
                "engine": name,
                "workers": w,
                "seconds": base[name],
                "states_per_second": round(int(first["states"]) / base[name]),  # type: ignore[call-overload]
                "speedup_over_workers_1": round(base["--workers 1"] / base[name], 2)
                if "--workers 1" in base
                else None,
                "speedup_over_single_process": round(base["single process"] / base[name], 2)
                if "single process" in base
                else None,
                "peak_rss_bytes": rss,
                "bytes_per_state": round(int(rss) / int(first["states"])) if rss else None,  # type: ignore[call-overload]
                "wire_bytes_per_state": r["wire_bytes_per_state"],
                "shard_seconds": r["shard_seconds"],
                "cpu_seconds": r.get("cpu_seconds"),
                **({"code": path} if path else {}),
                **(
                    {"backend": "ray", "startup_seconds": r["startup_seconds"]}
                    if backend == "ray"
                    else {}
                ),
            }
        )
    print(
        f"{args.preset}: {first['states']:,} distinct states, {first['transitions']:,} "
        f"transitions, depth {first['depth']} (every engine; median of {args.repeat}; "
        f"load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)"
    )
    for row in rows:
        mem = (
            f"{int(row['peak_rss_bytes']) / 2**20:,.0f} MB = {row['bytes_per_state']} B/state"  # type: ignore[call-overload]
            if row["peak_rss_bytes"]
            else "memory not measured"
        )
        wire = (
            f", {row['wire_bytes_per_state']} B/state on the wire"
            if row["wire_bytes_per_state"]
            else ""
        )
        start = f" (+{row['startup_seconds']}s to start Ray)" if row.get("startup_seconds") else ""
        print(
            f"  {row['engine']:>22}: {row['seconds']:7.1f}s{start}  "
            f"{row['states_per_second']:>9,}/s  "
            f"x{row['speedup_over_workers_1']} over --workers 1, "
            f"x{row['speedup_over_single_process']} over one process, {mem}{wire}"
        )
        if row["cpu_seconds"]:
            print(
                "      CPU: " + ", ".join(f"{a} {b}s" for a, b in row["cpu_seconds"].items())  # type: ignore[attr-defined]
            )
        for k, sh in enumerate(row["shard_seconds"] or []):  # type: ignore[arg-type]
            print(f"      shard {k}: " + ", ".join(f"{a} {b}s" for a, b in sh.items()))
    if args.json_out:
        doc = {
            "preset": args.preset,
            "repeat": args.repeat,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]},
            "rows": rows,
        }
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
