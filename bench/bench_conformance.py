"""Benchmark the conformance suite: the reference passes, every mutant is killed.

    python bench/bench_conformance.py [--preset pr] [--adapter both] [--json] [--json-out F]

Runs `pytest conformance --parsync-impl=TARGET -x` for the reference and for each
mutant of refsched.mutants.MUTANTS, each in its own process, and reports the
wall time per target (pytest's start-up included) and its CPU time (the run's
processes, the pipe's adapter included: the figure to compare on a shared
machine), the median and worst time-to-kill and the total. ``--adapter pipe``
drives the same targets through the language-neutral pipe
(``exec:python -m parsync.conformance.pipe MODULE``), ``both`` (the default) runs
each target both ways, one after the other, so the two columns are measured side
by side. A measurement, never a test assertion
(issue 14's target: every mutant killed on pr, under 10 s median and 30 s worst).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from parsync.refsched import REFERENCE
from parsync.refsched.mutants import MUTANTS

SUITE = Path(__file__).resolve().parent.parent / "conformance"
PIPE = "parsync.conformance.pipe"


def _children_cpu() -> float:
    """CPU seconds (user + system) of every finished child process so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run(target: str, preset: str, policy: str) -> tuple[float, int, float]:
    """(wall seconds, exit code, CPU seconds of the run and its own children: the pipe's
    adapter process too, so the figure does not depend on other jobs' load)."""
    with tempfile.TemporaryDirectory() as d:
        c0 = _children_cpu()
        t0 = time.perf_counter()
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                str(SUITE),
                f"--parsync-impl={target}",
                f"--parsync-policy={policy}",
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
        return time.perf_counter() - t0, p.returncode, _children_cpu() - c0


def _through(adapter: str, module: str) -> str:
    return module if adapter == "in-process" else f"exec:{sys.executable} -m {PIPE} {module}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="pr")
    ap.add_argument("--policy", default="contract", choices=("contract", "reference"))
    ap.add_argument("--adapter", default="both", choices=("in-process", "pipe", "both"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--json-out", metavar="FILE")
    args = ap.parse_args()
    ways = ["in-process", "pipe"] if args.adapter == "both" else [args.adapter]
    rows = []
    for i, module in enumerate([REFERENCE, *(m for m, _d, _e in MUTANTS)]):
        row: dict[str, object] = {"target": module}
        for way in ways:
            secs, rc, cpu = run(_through(way, module), args.preset, args.policy)
            want = 0 if i == 0 else 1
            ok = "pass" if i == 0 else "killed"
            bad = "FAIL" if i == 0 else "SURVIVED"
            row[way] = {
                "seconds": round(secs, 2),
                "cpu_seconds": round(cpu, 2),
                "outcome": ok if rc == want else f"{bad} rc={rc}",
            }
            print(
                f"  {way:10s} {secs:7.2f}s {cpu:7.2f}s CPU  {row[way]['outcome']:9s} {module}",  # type: ignore[index]
                file=sys.stderr,
            )
        rows.append(row)
    summary: dict[str, object] = {
        "preset": args.preset,
        "policy": args.policy,
        "machine": f"{os.cpu_count()} CPUs shared with other jobs; load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
        + " (after the run)",
    }
    good = True
    for way in ways:
        kills = [r[way]["seconds"] for r in rows[1:] if r[way]["outcome"] == "killed"]  # type: ignore[index]
        cpu_kills = [r[way]["cpu_seconds"] for r in rows[1:] if r[way]["outcome"] == "killed"]  # type: ignore[index]
        good = good and len(kills) == len(rows) - 1 and rows[0][way]["outcome"] == "pass"  # type: ignore[index]
        summary[way] = {
            "reference_seconds": rows[0][way]["seconds"],  # type: ignore[index]
            "mutants": len(rows) - 1,
            "killed": len(kills),
            "median_time_to_kill": round(statistics.median(kills), 2) if kills else None,
            "worst_time_to_kill": max(kills) if kills else None,
            "median_cpu_to_kill": round(statistics.median(cpu_kills), 2) if cpu_kills else None,
            "worst_cpu_to_kill": max(cpu_kills) if cpu_kills else None,
            "total_seconds": round(sum(r[way]["seconds"] for r in rows), 2),  # type: ignore[index]
        }
    doc = {"summary": summary, "runs": rows}
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        head = "".join(f"{w:>22s}" for w in ways)
        print(f"{'target':50s}{head}")
        for r in rows:
            cells = "".join(
                f"{r[w]['seconds']:>10.2f}s {r[w]['outcome']:>10s}"
                for w in ways  # type: ignore[index]
            )
            print(f"{str(r['target']).rsplit('.', 1)[-1]:50s}{cells}")
        print(json.dumps(summary))
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
