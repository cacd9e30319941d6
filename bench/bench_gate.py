"""Benchmark: ``parsync gate --preset pr --impl <reference>`` end to end (issue 7: < 5 min).

Runs the gate as a user would (the ``parsync`` entry point, a subprocess), with
every stage on, and prints the wall time of the whole and of each stage from
the gate's own JSON report. Usage: ``python bench/bench_gate.py [--preset pr]
[--impl MODULE] [--recheck]`` (``--recheck``: run the model stages even when
their recorded results are current; a recorded stage is shown as such).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="pr")
    ap.add_argument("--impl", default="parsync.refsched")
    ap.add_argument("--recheck", action="store_true", help="re-run recorded model stages")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "gate.json"
        t0 = time.perf_counter()
        r = subprocess.run(
            [
                sys.executable, "-m", "parsync.cli", "gate", "--no-progress",
                f"--preset={args.preset}", f"--impl={args.impl}", f"--json-out={report}",
                f"--replay-dir={tmp}/replays", *(["--recheck"] if args.recheck else []),
            ],
            capture_output=True, text=True, check=False, cwd=tmp,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        if not report.exists():
            print(r.stdout + r.stderr, file=sys.stderr)
            return 2
        doc = json.loads(report.read_text())
    print(f"parsync gate --preset {args.preset} --impl {args.impl}: {doc['verdict']} "
          f"(exit {r.returncode}), wall {wall:.1f}s")  # fmt: skip
    for s in doc["stages"]:
        counts = ", ".join(f"{k}={v}" for k, v in s["counts"].items())
        run = "recorded" if s.get("run") == "recorded" else f"{s['seconds']:7.1f}s"
        print(f"  {s['stage']:<12} {s['verdict']:<10} {run:>8}  {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
