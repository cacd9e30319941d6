"""The exhaustive tie on the larger scopes (issue 17), run once and recorded.

    python bench/bench_tie.py [--json-out bench/results/tie-full.json] [--scope LABEL ...]

Runs :func:`parsync.proofs.tie.check_scope` on every scope of
:func:`parsync.proofs.tie.full_scopes` (the ``pr`` preset and the ``capacity`` and
``three-partitions`` presets, each under both policies, each on the scope
``parsync check --preset NAME --policy POLICY`` explores): every reachable state,
every transition, the Z3 encoding's relation against model/protocol.py. These are
the slow tests' scopes (``tests/test_tie.py``, ``-m slow``); this script records
their result with the sources hash it holds for, per scope: distinct states,
transitions, wall and CPU seconds, peak resident memory so far, and whether the two
statements agreed. The file is written after every scope, so a stopped run keeps
what it finished. ``tests/test_tie.py`` checks the recorded state counts against
the manifest's (the tie's BFS and the checker's must find the same state space).
A measurement, never a test assertion.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path

from parsync.proofs.report import source_hash
from parsync.proofs.tie import check_scope, full_scopes

OUT = Path(__file__).resolve().parent / "results" / "tie-full.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json-out", default=str(OUT), metavar="FILE")
    ap.add_argument("--scope", action="append", metavar="LABEL", help="only these scopes")
    args = ap.parse_args(argv)
    scopes = [t for t in full_scopes() if not args.scope or t.label in args.scope]
    if not scopes:
        print(f"no scope named {args.scope}; known: {[t.label for t in full_scopes()]}")
        return 2
    doc: dict[str, object] = {
        "command": "python bench/bench_tie.py" + "".join(f" --scope {s}" for s in args.scope or ()),
        "sources": source_hash(),
        "machine": f"{os.cpu_count()} CPUs, shared; load average at start "
        + " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "scopes": [],
    }
    ok = True
    for ts in sorted(scopes, key=lambda t: t.name == "pr"):  # the longest, pr, last
        print(f"tie: {ts.label} ...", flush=True)
        r = check_scope(ts)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        row = {
            "scope": ts.label,
            "preset": ts.name,
            "policy": ts.policy,
            "shape": ts.shape,
            "states": r.states,
            "transitions": r.transitions,
            "seconds": round(r.seconds, 1),
            "cpu_seconds": round(r.cpu_seconds, 1),
            "peak_rss_mb": round(rss),
            "complete": r.complete,
            "ok": r.ok,
            "problems": r.problems[:5],
            "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        }
        ok = ok and r.ok
        doc["scopes"].append(row)  # type: ignore[union-attr]
        doc["ok"] = ok
        Path(args.json_out).write_text(json.dumps(doc, indent=1) + "\n")
        print(
            f"  {'agree' if r.ok else 'DIFFER'}: {r.states:,} states, {r.transitions:,} "
            f"transitions, {r.seconds:.0f}s ({r.cpu_seconds:.0f}s CPU), peak {rss:.0f} MB",
            flush=True,
        )
        for p in r.problems[:3]:
            print("   ", p)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
