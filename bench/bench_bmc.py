"""Benchmark bounded model checking (parsync/proofs/bmc.py) on a preset.

    python bench/bench_bmc.py [--preset pr] [--depth 12] [--no-hints] [--variants] [--json]

Design: BMC of the correct model to ``--depth`` (issue 3's target: depth 12 on
``pr`` under 60 s), with wall and CPU seconds (the CI machine is shared: CPU
time is the steadier figure), seconds per depth and the hints BMC proved and
used. ``--no-hints`` measures the search without them (the earlier engine).
``--variants``: for every known-bad variant, the BFS's shortest counterexample
depth and BMC's first violation (run to the BFS depth), and whether they agree.
A measurement, never a test assertion (tests/test_bmc.py checks the agreement).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

import z3  # type: ignore[import-untyped]

from parsync.engines.checker import Checker
from parsync.model.presets import PRESETS, get_preset
from parsync.model.protocol import ParSyncModel
from parsync.model.variants import VARIANTS
from parsync.proofs.bmc import Bmc


def timed_bmc(
    model: ParSyncModel, depth: int, *, hints: bool, also: tuple[str, ...] = ()
) -> dict[str, Any]:
    w0, c0 = time.perf_counter(), time.process_time()
    bmc = Bmc(model, depth, hints=hints)
    res = bmc.run(also=also)
    return {
        "depth": res.depth,
        "properties": res.properties,
        "replayed": res.replayed,
        "unknown": res.unknown,
        "problem": res.problem,
        "wall_s": round(time.perf_counter() - w0, 2),
        "cpu_s": round(time.process_time() - c0, 2),
        "per_depth_s": [round(x, 2) for x in res.per_depth_seconds],
        "hints_kept": list(bmc.hints),
        "hints_dropped": [f"{name}@{d}" for d, name in bmc.dropped],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="pr", choices=sorted(PRESETS))
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--no-hints", action="store_true", help="search without hints")
    ap.add_argument("--variants", action="store_true", help="also every known-bad variant")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    cfg = get_preset(a.preset).config
    hints = not a.no_hints
    out: dict[str, Any] = {
        "preset": a.preset,
        "z3": z3.get_version_string(),
        "python": platform.python_version(),
        "hints": hints,
        "design": timed_bmc(ParSyncModel(cfg), a.depth, hints=hints),
    }
    d = out["design"]
    if not a.json:
        verdict = "no violation" if d["depth"] is None else f"VIOLATION at {d['depth']}"
        print(
            f"bmc {a.preset} design depth<={a.depth} (hints {'on' if hints else 'off'}): "
            f"{verdict}; wall {d['wall_s']} s, cpu {d['cpu_s']} s"
        )
        print(f"  per depth (wall s): {d['per_depth_s']}")
        print(f"  hints kept: {len(d['hints_kept'])}, dropped: {d['hints_dropped'] or 'none'}")
    if a.variants:
        rows = []
        for v in VARIANTS:
            model = ParSyncModel(cfg, v.name)
            bfs = Checker(model).run()
            if bfs.violation is None:
                rows.append({"variant": v.name, "bfs_depth": None, "agree": False})
                continue
            depth = len(bfs.violation.trace.actions)
            r = timed_bmc(ParSyncModel(cfg, v.name), depth, hints=hints, also=(v.breaks,))
            agree = r["depth"] == depth and v.breaks in r["properties"] and r["replayed"]
            rows.append(
                {"variant": v.name, "breaks": v.breaks, "bfs_depth": depth, **r, "agree": agree}
            )
            if not a.json:
                print(
                    f"  {v.name:<32} BFS {depth:>2}  BMC {r['depth']!s:>4} "
                    f"{','.join(r['properties']):<12} {'agree' if agree else 'DISAGREE'}  "
                    f"wall {r['wall_s']:>6} s  cpu {r['cpu_s']:>6} s"
                )
        out["variants"] = rows
    if a.json:
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
