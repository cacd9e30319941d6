"""Trace validation benchmark (issue 5): events/s and memory on a long trace with no hidden steps.

    python bench/bench_trace.py [--events N] [--needs N] [--seed N] [--keep FILE]
                                [--trace FILE] [--doc docs/traces.md]

Targets: at least 50,000 events/s validated on a trace with no hidden steps,
and a 1,000,000-event trace validated in constant memory.

What it measures, honestly:

* the trace is a seeded random walk of the model itself
  (``parsync/traces/simulate.py``) over ``long_config`` (4 workers, 4
  partitions, 8 buckets, one need per 25 events arriving two per cycle, 1%
  faults: crashes, drops, duplicates, failovers). Every field is filled in, so
  there are no hidden steps and one candidate state throughout. The walk is
  generated first and streamed to disk; its time is reported but not part of
  the rate. ``--trace FILE`` validates an existing file instead;
* the validation runs in a fresh child process (``validate_path``, what
  ``parsync trace`` runs: reading, shape checks, range checks, the model), so
  its memory figures are its own. The child samples its resident set size
  (``VmRSS`` in ``/proc/self/status``) at every tenth of the trace and reports
  the peak (``VmHWM``): a flat column is constant memory. (tracemalloc would
  show the Python heap but slows validation several times; RSS includes it.)
* events/s is given against wall-clock time and against the process's CPU
  time: the machine may be shared, and the load average is printed with them.

``--doc FILE`` writes the figures, with the command that produced them, into
FILE between ``<!-- bench_trace:begin -->`` and ``<!-- bench_trace:end -->``.

``--realistic`` (issue 14) measures a realistic trace instead, at several lengths
(``--lengths``): 16 workers, 256 buckets, P = 8, needs of 1 to 3 buckets (some
eligible on a quarter of the buckets only), the adaptive strategy, R = 2, and every
fault of the reference (crashes, recoveries, drops, duplicates, failovers), generated
by ``simulate_sampled`` (a reference walk in which each Propose is one bucket set
drawn among those that fit) and written as a version 2 trace judged against the
contract. Target: at least 100,000 events/s (wall, one core). ``--results FILE``
writes the rows as JSON (``bench/results/trace-realistic.json``). ``--need-events``
also measures each run with its needs declared by version 2 ``Need`` events;
``--contract-events`` also measures, at each length, a walk with the contract's own
steps among its faults (Timeout, Refresh, Restart, and the Defer PS-6 then calls for);
``--deliver-events`` that walk once more with a Deliver line logged for every proposal
the broker decides on. Each trace is validated ``--repeats`` times (default 5), one
process per validation, the traces in turn and the order rotated each round; a row's
rates are the medians of its samples, and every sample is recorded.

    python bench/bench_trace.py --realistic --need-events --contract-events --deliver-events \
        --lengths 25000,100000 --repeats 5 --results bench/results/trace-realistic.json

``--hidden Drop,Duplicate`` (``--realistic``) writes the header with those step types
declared hidden (the documented default of a recorder that may leave them out); every
event is still logged, so none is needed, but the validator keeps the window of past
events an unlogged step may be placed in (lazily: see ``Validator._go_lazy``).

``--left-out`` measures traces that really omit steps: the realistic walk at each
length (``--lengths``) with Drop and Duplicate declared hidden and every Drop and
Duplicate line removed, as a recorder that does not see the network writes it. Each
copy a later line takes must then be found by the hidden-step search
(``Validator._earlier_hidden``); the rows give events/s (wall and CPU), the lines left
out and the hidden steps the validator found.

    python bench/bench_trace.py --left-out --lengths 5000,20000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from parsync.model.config import Config, Faults, Need
from parsync.traces import format as format_module
from parsync.traces import validate_path
from parsync.traces.simulate import (
    long_config,
    simulate,
    simulate_sampled,
    with_delivers,
    write_file,
)

BEGIN, END = "<!-- bench_trace:begin -->", "<!-- bench_trace:end -->"
TARGET_RATE = 50_000
REALISTIC_TARGET = 100_000


def _timing(m: dict[str, Any]) -> dict[str, float]:
    """A validation run's seconds and events per second, wall and CPU, as a row gives them."""
    return {
        "wall_seconds": round(m["seconds"], 2),
        "cpu_seconds": round(m["cpu_seconds"], 2),
        "events_per_second_wall": round(m["events"] / m["seconds"]),
        "events_per_second_cpu": round(m["events"] / m["cpu_seconds"]),
    }


def realistic_config(needs: int) -> Config:
    """16 workers, 256 buckets in 8 partitions, needs arriving eight per cycle: one in
    five a gang of 2, one in eleven a gang of 3, one in thirteen eligible on a quarter of
    the buckets only; every fault budget unbounded."""
    big = 1 << 30
    ns = tuple(
        Need(
            owner=i % 16,
            priority=1 + i % 4,
            arrival=1 + i // 8,
            gang=3 if i % 11 == 0 else 2 if i % 5 == 0 else 1,
            eligible=tuple(range((i % 4) * 64, (i % 4) * 64 + 64)) if i % 13 == 0 else None,
        )
        for i in range(needs)
    )
    return Config(
        workers=16,
        partitions=8,
        capacities=tuple(2 + b % 3 for b in range(256)),
        needs=ns,
        retry_budget=2,
        strategy="adaptive",
        max_cycle=big,
        faults=Faults(big, big, big, big),
    )


def _child(path: Path, stdlib_json: bool) -> dict[str, Any] | None:
    child = subprocess.run(
        [sys.executable, __file__, "--child", str(path)]
        + (["--stdlib-json"] if stdlib_json else []),
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        print(child.stderr, file=sys.stderr)
        return None
    got: dict[str, Any] = json.loads(child.stdout)
    return got


def _to_need_events(path: Path) -> Path:
    """The same run with its needs declared by version 2 Need events instead of the
    Config: each need just before its owner's StartCycle that reaches its arrival cycle,
    renumbered in declaration order (a Need's id is the next one); streamed."""
    out = path.with_suffix(".needs.jsonl")
    with open(path, "rb") as src, open(out, "w", encoding="utf-8") as dst:
        h = json.loads(src.readline())
        needs = h["config"]["needs"]
        todo: dict[int, list[int]] = {}  # owner -> its needs, latest arrival last
        for n in sorted(range(len(needs)), key=lambda n: (needs[n].get("arrival", 1), n)):
            todo.setdefault(needs[n]["owner"], []).append(n)
        at = dict.fromkeys(todo, 0)
        new: dict[int, int] = {}
        dst.write(json.dumps({**h, "config": {**h["config"], "needs": []}}) + "\n")
        for line in src:
            ev = json.loads(line)
            if ev["type"] == "StartCycle" and ev["worker"] in todo:
                mine, i = todo[ev["worker"]], at[ev["worker"]]
                while i < len(mine) and needs[mine[i]].get("arrival", 1) <= ev["cycle"]:
                    d = {k: v for k, v in needs[mine[i]].items() if k != "arrival"}
                    new[mine[i]] = len(new)
                    dst.write(json.dumps({"type": "Need", "need": new[mine[i]], **d}) + "\n")
                    i += 1
                at[ev["worker"]] = i
            if "need" in ev:
                ev["need"] = new[ev["need"]]
            dst.write(json.dumps(ev, separators=(",", ":")) + "\n")
    return out


def _declare_hidden(path: Path, hidden: list[str]) -> None:
    """Rewrite the trace's header with ``hidden`` declared (the events are unchanged)."""
    tmp = path.with_suffix(".hidden.jsonl")
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        h = json.loads(src.readline())
        dst.write(json.dumps({**h, "hidden": hidden}).encode() + b"\n")
        for line in src:
            dst.write(line)
    tmp.replace(path)


def _with_delivers(path: Path) -> Path:
    """The same contract walk with its Delivers logged (``with_delivers``), as a file."""
    with open(path, "rb") as src:
        walk = [json.loads(line) for line in src]
    out = path.with_suffix(".delivers.jsonl")
    write_file(out, iter(with_delivers(walk)))
    return out


_STEPS = {
    False: "reference",
    True: "reference and contract (Timeout, Refresh, Restart, Defer)",
}


def _realistic_traces(
    a: argparse.Namespace, n: int, needs: int, contract_steps: bool, d: Path
) -> list[tuple[dict[str, Any], Path, int]]:
    """Generate one realistic walk of ``n`` events and its variants (``--need-events``:
    needs declared by Need lines; ``--deliver-events``, on a contract walk: its Delivers
    logged); each as (the row's description, the file, the events it must count)."""
    path = d / f"realistic-{n}-{int(contract_steps)}.jsonl"
    t0 = time.perf_counter()
    walk = simulate_sampled(
        realistic_config(needs), seed=a.seed, steps=n, contract_steps=contract_steps
    )
    k = write_file(path, walk)
    hidden = None if a.hidden is None else [x for x in a.hidden.split(",") if x]
    if hidden is not None:
        _declare_hidden(path, hidden)
    gen_s = time.perf_counter() - t0
    variants = [("config", "", path)]
    if a.need_events:
        variants.append(("Need events", "", _to_need_events(path)))
    if a.deliver_events and contract_steps:
        variants.append(("config", "Deliver", _with_delivers(path)))
    out = []
    for by, logged, vpath in variants:
        kinds: dict[str, int] = {}
        with open(vpath, "rb") as f:
            f.readline()
            for line in f:
                t = json.loads(line)["type"]
                kinds[t] = kinds.get(t, 0) + 1
        row = {
            "steps": _STEPS[contract_steps],
            "hidden": hidden or [],
            "needs_declared_by": by,
            "deliver_logged": logged == "Deliver",
            "events": sum(kinds.values()),
            "needs": needs,
            "mb": round(vpath.stat().st_size / 1e6, 1),
            "generate_seconds": round(gen_s, 1),
            "event_types": dict(sorted(kinds.items())),
        }
        out.append((row, vpath, k + kinds.get("Need", 0) + kinds.get("Deliver", 0)))
    return out


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def _measured_row(row: dict[str, Any], ms: list[dict[str, Any]]) -> dict[str, Any]:
    """A row from its repeated validations: the median rates (wall and CPU, each its own
    median), every sample's rates, and the worst memory figures."""
    walls = [m["events"] / m["seconds"] for m in ms]
    cpus = [m["events"] / m["cpu_seconds"] for m in ms]
    growth = []
    for m in ms:
        half = [kb for _, kb in m["rss_kb"]][len(m["rss_kb"]) // 2 :]
        growth.append((max(half) - min(half)) / 1024 if half else 0.0)
    m = ms[0]
    return {
        **{k: v for k, v in row.items() if k != "event_types"},
        "verdict": m["verdict"],
        "message": m["message"],
        "repeats": len(ms),
        "wall_seconds": round(_median([x["seconds"] for x in ms]), 2),
        "cpu_seconds": round(_median([x["cpu_seconds"] for x in ms]), 2),
        "events_per_second_wall": round(_median(walls)),
        "events_per_second_cpu": round(_median(cpus)),
        "samples_events_per_second_wall": [round(x) for x in walls],
        "samples_events_per_second_cpu": [round(x) for x in cpus],
        "rss_before_mb": round(max(x["rss_start_kb"] for x in ms) / 1024, 1),
        "peak_rss_mb": round(max(x["hwm_kb"] for x in ms) / 1024, 1),
        "rss_growth_second_half_mb": round(max(growth), 1),
        "peak_candidates": max(x["peak_candidates"] for x in ms),
        "hidden_steps": max(x["hidden_steps"] for x in ms),
        "event_types": row["event_types"],
    }


def realistic(a: argparse.Namespace) -> int:
    """Generate the realistic traces at each length, then validate each ``--repeats``
    times, one process per validation, the traces taken in turn and the order rotated
    each round (so a noisy spell of a shared machine spreads over every row); record
    each row's median rates and every sample."""
    d = Path(tempfile.mkdtemp())
    traces: list[tuple[dict[str, Any], Path, int]] = []
    for n in (int(x) for x in a.lengths.split(",")):
        needs = max(40, n // 25)
        for contract_steps in [False, True] if a.contract_events else [False]:
            traces += _realistic_traces(a, n, needs, contract_steps, d)
            print(f"generated {traces[-1][0]['steps']} walk of {n:,} steps", flush=True)
    samples: list[list[dict[str, Any]]] = [[] for _ in traces]
    loads = [os.getloadavg()[0]]
    ok = True
    for r in range(a.repeats):
        for i in [(j + r) % len(traces) for j in range(len(traces))]:
            row, vpath, want = traces[i]
            m = _child(vpath, a.stdlib_json)
            if m is None:
                raise SystemExit(2)
            ok = ok and m["verdict"] == "valid" and m["events"] == want
            samples[i].append(m)
            print(
                f"round {r + 1}/{a.repeats}: {m['events']:>9,} events, {row['steps'].split()[0]}"
                f"{' + contract' if 'contract' in row['steps'] else ''}, needs in the "
                f"{row['needs_declared_by']}{', Delivers logged' if row['deliver_logged'] else ''}"
                f": {m['verdict']}, {m['events'] / m['seconds']:,.0f} events/s wall "
                f"({m['events'] / m['cpu_seconds']:,.0f} CPU), peak RSS "
                f"{m['hwm_kb'] / 1024:.1f} MB; load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            loads.append(os.getloadavg()[0])
    rows = [_measured_row(row, ms) for (row, _, _), ms in zip(traces, samples, strict=True)]
    for _, vpath, _ in traces:
        vpath.unlink()
    for row in rows:
        print(
            f"{row['events']:>9,} events ({row['mb']} MB, {row['needs']:,} needs), "
            f"{row['steps'].split()[0]}{' + contract' if 'contract' in row['steps'] else ''}, "
            f"needs in the {row['needs_declared_by']}"
            f"{', Delivers logged' if row['deliver_logged'] else ''}: {row['verdict']}, median of "
            f"{row['repeats']} {row['events_per_second_wall']:,} events/s wall "
            f"({row['events_per_second_cpu']:,} CPU; wall samples "
            f"{min(row['samples_events_per_second_wall']):,}-"
            f"{max(row['samples_events_per_second_wall']):,}), peak RSS {row['peak_rss_mb']} MB, "
            f"growth over the second half {row['rss_growth_second_half_mb']} MB"
        )
    rates = [r["events_per_second_wall"] for r in rows]
    best, worst = max(rates), min(rates)
    doc = {
        "command": f"python bench/bench_trace.py {' '.join(a.argv)}".rstrip(),
        "machine": f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs shared with other jobs",
        "load_average_1min": {"min": min(loads), "max": max(loads)},
        "parser": format_module.json_parser(),
        "trace": "version 2, policy contract; simulate_sampled (seed "
        f"{a.seed}) over realistic_config: 16 workers, 256 buckets, P = 8, gangs of 2 and "
        "3, eligibility subsets, adaptive, R = 2, crashes, recoveries, drops, duplicates, "
        "failovers; every field logged (no hidden steps"
        + (f", header declaring {a.hidden} hidden)" if a.hidden else ")")
        + (
            "; rows with steps 'reference and contract' are the same walk with the contract's "
            "own steps drawn among the faults (simulate_sampled(contract_steps=True))"
            if a.contract_events
            else ""
        )
        + (
            "; rows with deliver_logged have a Deliver line for every proposal the broker "
            "decides on (_with_delivers)"
            if a.deliver_events
            else ""
        ),
        "method": f"each trace validated {a.repeats} times, one process per validation, the "
        "traces in turn and the order rotated each round; a row's rates are the medians",
        "repeats": a.repeats,
        "target_events_per_second_wall": REALISTIC_TARGET,
        "best_events_per_second_wall": best,
        "worst_events_per_second_wall": worst,
        "rows_meeting_target": sum(r >= REALISTIC_TARGET for r in rates),
        # met only when every row's median (every length, every walk) reaches the target
        "target_met": worst >= REALISTIC_TARGET,
        "rows": rows,
    }
    if a.results:
        Path(a.results).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {a.results}")
    print(
        f"target {REALISTIC_TARGET:,} events/s (wall, median of {a.repeats}): "
        + (
            "met on every row"
            if worst >= REALISTIC_TARGET
            else f"missed (worst row {worst:,}, best {best:,})"
        )
    )
    return 0 if ok else 1


def left_out(a: argparse.Namespace) -> int:
    """Validate the realistic walk at each length with its Drop and Duplicate lines left
    out (declared hidden); print a row per length (``--results``: write them as JSON)."""
    rows: list[dict[str, Any]] = []
    ok = True
    for n in (int(x) for x in a.lengths.split(",")):
        needs = max(40, n // 25)
        d = Path(tempfile.mkdtemp())
        full = d / f"realistic-{n}.jsonl"
        t0 = time.perf_counter()
        write_file(full, simulate_sampled(realistic_config(needs), seed=a.seed, steps=n))
        _declare_hidden(full, ["Drop", "Duplicate"])
        path = d / f"left-out-{n}.jsonl"
        removed = 0
        with open(full, "rb") as src, open(path, "wb") as dst:
            dst.write(src.readline())
            for line in src:
                if json.loads(line)["type"] in ("Drop", "Duplicate"):
                    removed += 1
                else:
                    dst.write(line)
        full.unlink()
        gen_s = time.perf_counter() - t0
        m = _child(path, a.stdlib_json)
        if m is None:
            raise SystemExit(2)
        row = {
            "steps": n,
            "events": m["events"],
            "lines_left_out": removed,
            "needs": needs,
            "generate_seconds": round(gen_s, 1),
            "verdict": m["verdict"],
            "message": m["message"],
            "hidden_steps": m["hidden_steps"],
            **_timing(m),
            "peak_rss_mb": round(m["hwm_kb"] / 1024, 1),
            "peak_candidates": m["peak_candidates"],
        }
        ok = ok and m["verdict"] == "valid"
        rows.append(row)
        print(
            f"{row['events']:>9,} events ({removed:,} Drop/Duplicate lines left out, "
            f"{needs:,} needs): {row['verdict']}, {row['hidden_steps']:,} hidden steps found, "
            f"{row['wall_seconds']} s wall / {row['cpu_seconds']} s CPU: "
            f"{row['events_per_second_wall']:,} events/s wall "
            f"({row['events_per_second_cpu']:,} CPU), peak RSS {row['peak_rss_mb']} MB; "
            "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()),
            flush=True,
        )
        path.unlink()
    if a.results:
        doc = {
            "command": f"python bench/bench_trace.py {' '.join(a.argv)}".rstrip(),
            "machine": f"{platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} CPUs shared with other jobs",
            "parser": format_module.json_parser(),
            "trace": "version 2, policy contract; simulate_sampled (seed "
            f"{a.seed}) over realistic_config, Drop and Duplicate declared hidden and "
            "every Drop and Duplicate line removed",
            "rows": rows,
        }
        Path(a.results).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {a.results}")
    return 0 if ok else 1


def _status_kb(field: str) -> int:
    """A ``/proc/self/status`` figure in kB (Linux), 0 where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(path: str) -> dict[str, Any]:
    """Validate ``path`` once (in this process); the verdict, times and memory samples."""
    samples: list[tuple[int, int]] = []
    size = Path(path).stat().st_size
    tenth = [size // 10 * k for k in range(1, 11)]

    def progress(events: int, done: int, total: int | None) -> None:
        if tenth and done >= tenth[0]:
            while tenth and done >= tenth[0]:
                tenth.pop(0)
            samples.append((events, _status_kb("VmRSS")))

    rss0 = _status_kb("VmRSS")
    c0 = time.process_time()
    r = validate_path(path, progress=progress)
    cpu = time.process_time() - c0
    return {
        "verdict": r.verdict,
        "message": r.message,
        "events": r.events,
        "seconds": r.seconds,
        "cpu_seconds": cpu,
        "hidden_steps": r.hidden_steps,
        "peak_candidates": r.peak_candidates,
        "rss_start_kb": rss0,
        "rss_kb": samples,
        "hwm_kb": _status_kb("VmHWM"),
        "parser": format_module.json_parser(),
    }


def _report(a: argparse.Namespace, gen: dict[str, Any], m: dict[str, Any]) -> str:
    ev = m["events"]
    wall = ev / m["seconds"]
    cpu = ev / m["cpu_seconds"]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"command: python bench/bench_trace.py {' '.join(a.argv)}".rstrip(),
        f"machine: {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load} (after the run); lines parsed with "
        f"{m['parser']}",
        f"trace: {gen['events']:,} events, {gen['mb']:.1f} MB, {gen['needs']:,} needs in the "
        f"Config, {gen['source']}",
        f"verdict: {m['verdict']} ({m['message'] or 'all events explained'}); hidden steps "
        f"{m['hidden_steps']}, peak candidate states {m['peak_candidates']}",
        f"validated {ev:,} events in {m['seconds']:.1f} s wall / {m['cpu_seconds']:.1f} s CPU: "
        f"{wall:,.0f} events/s (wall), {cpu:,.0f} events/s (CPU); target {TARGET_RATE:,}",
        f"resident memory (VmRSS) before validating: {m['rss_start_kb'] / 1024:.1f} MB; "
        f"peak (VmHWM): {m['hwm_kb'] / 1024:.1f} MB",
        "VmRSS while validating (events -> MB):",
        *(f"  {e:>10,}  {kb / 1024:7.1f}" for e, kb in m["rss_kb"]),
    ]
    rss = [kb for _, kb in m["rss_kb"]]
    if len(rss) >= 2:
        half = rss[len(rss) // 2 :]
        lines.append(
            f"growth over the second half of the trace: {(max(half) - min(half)) / 1024:.1f} MB"
        )
    return "\n".join(lines)


def _write_doc(doc: Path, text: str) -> None:
    body = doc.read_text(encoding="utf-8")
    if BEGIN not in body or END not in body:
        raise SystemExit(f"{doc}: no {BEGIN} ... {END} block to fill in")
    head, rest = body.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{BEGIN}\n```text\n{text}\n```\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--needs", type=int, default=0, help="default: events / 25")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", help="write the generated trace here (default: a temporary file)")
    ap.add_argument("--trace", help="validate this trace instead of generating one")
    ap.add_argument("--doc", type=Path, help="write the figures into this Markdown file")
    ap.add_argument(
        "--stdlib-json",
        action="store_true",
        help="parse lines with the json module, as an installation without orjson does",
    )
    ap.add_argument(
        "--realistic",
        action="store_true",
        help="measure the realistic trace (16 workers, 256 buckets, P = 8, faults, gangs)",
    )
    ap.add_argument(
        "--lengths",
        default="25000,100000,400000",
        help="--realistic, --left-out: trace lengths, comma-separated",
    )
    ap.add_argument("--results", help="--realistic, --left-out: write the rows as JSON here")
    ap.add_argument(
        "--need-events",
        action="store_true",
        help="--realistic: also measure the same runs with their needs declared by Need events",
    )
    ap.add_argument(
        "--contract-events",
        action="store_true",
        help="--realistic: also measure a walk with the contract's own steps "
        "(Timeout, Refresh, Restart; simulate_sampled(contract_steps=True))",
    )
    ap.add_argument(
        "--deliver-events",
        action="store_true",
        help="--realistic, with --contract-events: also measure the contract walk with a "
        "Deliver logged for every proposal the broker decides on",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="--realistic: validations per trace, alternated; rows give the medians",
    )
    ap.add_argument(
        "--hidden",
        help="--realistic: declare these step types hidden in the header, comma-separated "
        "(e.g. Drop,Duplicate; every event is still logged)",
    )
    ap.add_argument(
        "--left-out",
        action="store_true",
        help="measure realistic walks (--lengths) with their Drop and Duplicate lines "
        "removed and declared hidden: the hidden-step search finds the copies",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)  # the measuring process
    a = ap.parse_args(argv)
    a.argv = sys.argv[1:] if argv is None else argv
    if a.child:
        if a.stdlib_json:  # the fallback of an installation without orjson
            format_module._loads = json.loads
        print(json.dumps(measure(a.child)))
        return 0
    if a.left_out:
        return left_out(a)
    if a.realistic:
        return realistic(a)

    if a.trace:
        path = Path(a.trace)
        with open(path, "rb") as f:
            h = json.loads(f.readline())
            n = sum(1 for line in f if line.strip())
        gen = {"events": n, "needs": len(h["config"]["needs"]), "source": f"file {path}"}
    else:
        needs = a.needs or max(40, a.events // 25)
        path = Path(a.keep) if a.keep else Path(tempfile.mkdtemp()) / "bench.jsonl"
        cfg = long_config(needs=needs)
        t0 = time.perf_counter()
        n = write_file(path, simulate(cfg, seed=a.seed, steps=a.events, fault_rate=0.01))
        secs = time.perf_counter() - t0
        gen = {
            "events": n,
            "needs": needs,
            "source": f"model random walk, seed {a.seed}, generated in {secs:.0f} s "
            f"({n / secs:,.0f} events/s)",
        }
    gen["mb"] = path.stat().st_size / 1e6
    print(f"trace ready: {gen['events']:,} events ({gen['source']}); validating ...", flush=True)
    child = subprocess.run(
        [sys.executable, __file__, "--child", str(path)]
        + (["--stdlib-json"] if a.stdlib_json else []),
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        print(child.stderr, file=sys.stderr)
        return 2
    m = json.loads(child.stdout)
    text = _report(a, gen, m)
    print(text)
    if a.doc:
        _write_doc(a.doc, text)
        print(f"figures written to {a.doc}")
    if not (a.keep or a.trace):
        path.unlink()
    return 0 if m["verdict"] == "valid" else 1


if __name__ == "__main__":
    sys.exit(main())
