"""Liveness graph sizes per scope and abstraction: the figures of docs/liveness.md.

    python bench/bench_liveness.py                       # the quick scopes, every abstraction
    python bench/bench_liveness.py --scope pr --abstraction current --max-seconds 600
    python bench/bench_liveness.py --engines /work/main --scope small   # engine before/after
    python bench/bench_liveness.py --engines - --scope small --policy contract --out FILE

``--engines TREE`` compares the liveness engine of another checkout (``TREE``, put
first on ``PYTHONPATH``; ``-``: none) with this one, run after run on the same scope,
and records each run with the load average before it (``--out``: the JSON file,
e.g. ``bench/results/liveness-small.json``).

Each (scope, abstraction) runs in its own process, so that its peak memory
(``ru_maxrss``) is its own. The abstractions:

* ``before``: message tags clamped at P + 1 like other ages, the crash mark
  aged like a cycle, seqnos exact (the finite workload's abstraction before
  the reductions of issue 6);
* ``tags``: tags current/old and the crash mark older than any age;
* ``current``: ``model.liveness.Abstraction`` as it is (tags, and seqnos
  current/old).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from parsync.engines.liveness import Abstraction, check_liveness, get_liveness_scope
from parsync.engines.liveness_variants import LivenessModel


class Tags(Abstraction):
    """Tags current/old, crash mark oldest; seqnos exact (finite workload)."""

    def __init__(self, m: LivenessModel) -> None:
        super().__init__(m)
        self.seqs = m.steady


class Before(Tags):
    """Tags clamped at P + 1 and the crash mark aged like a cycle value."""

    def __init__(self, m: LivenessModel) -> None:
        super().__init__(m)
        self.tag_age = self.max_age

    def _age(self, c: int, base: int, x: int, limit: int | None = None) -> int:
        a = c - x
        return base - (a if a <= self.max_age else self.max_age + 1)


ABSTRACTIONS: dict[str, type[Abstraction]] = {
    "before": Before,
    "tags": Tags,
    "current": Abstraction,
}
QUICK = ("calm", "lossy", "small")


def one(
    scope: str, abstraction: str, max_seconds: float | None, policy: str = "reference"
) -> dict[str, object]:
    sc = get_liveness_scope(scope)
    t0, c0 = time.perf_counter(), time.process_time()
    r = check_liveness(
        LivenessModel(sc.config, policy=policy),
        steady=sc.steady,
        max_seconds=max_seconds,
        abstraction=ABSTRACTIONS[abstraction],
    )
    return {
        "scope": scope,
        "policy": policy,
        "abstraction": abstraction,
        "verdict": r.verdict,
        "violated": sorted(r.violations),
        "states": r.states,
        "transitions": r.transitions,
        "fair_components": r.fair_components,
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s": round(time.process_time() - c0, 1),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "stop_reason": r.stop_reason,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scope", action="append", help=f"liveness scope (default {QUICK})")
    ap.add_argument("--abstraction", action="append", choices=list(ABSTRACTIONS))
    ap.add_argument("--max-seconds", type=float, help="budget per run (incomplete past it)")
    ap.add_argument("--policy", default="reference", choices=["reference", "contract"])
    ap.add_argument("--engines", metavar="TREE", help="compare with another checkout's engine")
    ap.add_argument("--out", help="with --engines: write the runs as JSON here")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    scopes = a.scope or list(QUICK)
    kinds = a.abstraction or list(ABSTRACTIONS)
    if a.one:
        print(json.dumps(one(scopes[0], kinds[0], a.max_seconds, a.policy)))
        return 0
    if a.engines is not None:
        return engines(a.engines, scopes, a.policy, a.max_seconds, a.out)
    print(
        "| scope | abstraction | verdict | states | transitions | fair | wall s | CPU s | RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for scope in scopes:
        for kind in kinds:
            cmd = [sys.executable, __file__, "--one", "--scope", scope, "--abstraction", kind]
            if a.max_seconds is not None:
                cmd += ["--max-seconds", str(a.max_seconds)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            d = json.loads(out)
            verdict = d["verdict"] + (f" {','.join(d['violated'])}" if d["violated"] else "")
            print(
                f"| {scope} | {kind} | {verdict} | {d['states']:,} | {d['transitions']:,} | "
                f"{d['fair_components']} | {d['wall_s']} | {d['cpu_s']} | {d['max_rss_mb']} |",
                flush=True,
            )
    return 0


def engines(
    other: str, scopes: list[str], policy: str, max_seconds: float | None, out: str | None
) -> int:
    """The engine of checkout ``other`` (``-``: skipped) and this checkout's, one after
    the other on each scope, each in its own process (its own peak RSS)."""
    here = str(Path(__file__).resolve().parent.parent)
    trees = ([("before", other)] if other != "-" else []) + [("after", here)]
    runs = []
    print(
        "| scope | policy | engine | verdict | states | transitions | fair | wall s | CPU s "
        "| RSS MB | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for scope in scopes:
        for label, tree in trees:
            cmd = [sys.executable, __file__, "--one", "--scope", scope, "--policy", policy]
            cmd += ["--abstraction", "current"]
            if max_seconds is not None:
                cmd += ["--max-seconds", str(max_seconds)]
            load = os.getloadavg()[0]
            env = {**os.environ, "PYTHONPATH": tree}
            res = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
            d = {"engine": label, "tree": tree, "load_before": round(load, 2)}
            d |= json.loads(res.stdout)
            d["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            runs.append(d)
            print(
                f"| {scope} | {policy} | {label} | {d['verdict']} | {d['states']:,} | "
                f"{d['transitions']:,} | {d['fair_components']} | {d['wall_s']} | {d['cpu_s']} "
                f"| {d['max_rss_mb']} | {d['load_before']} |",
                flush=True,
            )
    if out:
        Path(out).write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
