"""Benchmark the conformance suite: the reference passes, every mutant is killed.

    python bench/bench_conformance.py [--preset pr] [--json]

Runs `pytest conformance --impl=TARGET -x` for the reference and for each
mutant of refsched.mutants.MUTANTS, each in its own process, and reports the
wall time per target, the median time-to-kill and the total. A measurement,
never a test assertion (issue 4's target: the whole set under 120 s on pr).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from parsync.refsched import REFERENCE
from parsync.refsched.mutants import MUTANTS

SUITE = Path(__file__).resolve().parent.parent / "conformance"


def run(target: str, preset: str) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                str(SUITE),
                f"--impl={target}",
                "-x",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--parsync-preset={preset}",
                f"--parsync-replay-dir={d}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        return time.perf_counter() - t0, p.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="pr")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    secs, rc = run(REFERENCE, args.preset)
    rows.append(
        {
            "target": REFERENCE,
            "seconds": round(secs, 2),
            "outcome": "pass" if rc == 0 else f"FAIL rc={rc}",
        }
    )
    for module, _desc, _expected in MUTANTS:
        secs, rc = run(module, args.preset)
        rows.append(
            {
                "target": module,
                "seconds": round(secs, 2),
                "outcome": "killed" if rc == 1 else f"SURVIVED rc={rc}",
            }
        )
    kills = [r["seconds"] for r in rows[1:] if r["outcome"] == "killed"]
    summary = {
        "preset": args.preset,
        "reference_seconds": rows[0]["seconds"],
        "mutants": len(rows) - 1,
        "killed": len(kills),
        "median_time_to_kill": round(statistics.median(kills), 2) if kills else None,
        "total_seconds": round(sum(r["seconds"] for r in rows), 2),
    }
    if args.json:
        print(json.dumps({"summary": summary, "runs": rows}, indent=2))
    else:
        for r in rows:
            print(f"{r['seconds']:8.2f}s  {r['outcome']:10s} {r['target']}")
        print(json.dumps(summary))
    return 0 if summary["killed"] == summary["mutants"] and rows[0]["outcome"] == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
