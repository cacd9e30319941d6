"""Recording a JSONL event trace from a free run of the reference scheduler.

This is what a recorder in any scheduler looks like (docs/traces.md is the
format; nothing here imports the spec project's ``model``): the cluster runs
on its own - workers cycle on timers, the network delays, reorders, drops and
duplicates, needs complete after random times - while a seeded fault thread
crashes and recovers workers and fails the broker over. Every step the
scheduler takes is written, in the order its ``EventLog`` fixes (each event is
emitted under the lock that orders the step), as one trace line.

The run is random but seeded, and **not reproducible**: ``seed`` fixes the
workload and the sequences of random draws (delays, drops, duplicates, release
times, faults), but the threads' timing decides which step each draw meets and
in what order steps happen, so two runs with one seed give different traces.
That is the point (real concurrency, not a driver's interleaving); keep the
trace file to reproduce a run.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from parsync.refsched.actor import ActorStopped, StepTimeout
from parsync.refsched.cluster import Cluster, Components, FreeRun
from parsync.refsched.events import Event
from parsync.refsched.network import Mode, NetworkFaults
from parsync.refsched.settings import Settings
from parsync.refsched.worker import Pacing

FORMAT = "parsync-trace"
VERSION = 1


def workload(seed: int, needs: int = 12) -> dict[str, Any]:
    """A random cluster config: contention on few buckets, gangs, priorities, late arrivals."""
    rng = random.Random(seed)
    buckets = rng.choice([4, 5, 6])
    return {
        "workers": 3,
        "partitions": rng.choice([2, 3]),
        "capacities": [rng.randint(1, 2) for _ in range(buckets)],
        "needs": [
            {
                "owner": rng.randrange(3),
                "priority": rng.randint(1, 3),
                "arrival": rng.randint(1, 6),
                "gang": rng.choice([1, 1, 1, 2]),
                "size": 1,
            }
            for _ in range(needs)
        ],
        "retry_budget": rng.choice([0, 1]),
        "strategy": ("quality-first", "adaptive", "latency-first")[seed % 3],
        "max_cycle": 100_000,
    }


def _read(ev: Event) -> list[dict[str, Any]]:
    data = ev.get("data") or [None] * len(ev.get("read", []))
    return [
        {"partition": p, **({"entries": e} if e is not None else {})}
        for p, e in zip(ev.get("read", []), data, strict=True)
    ]


def trace_event(ev: Event) -> dict[str, Any]:
    """One refsched event as a trace line (docs/traces.md)."""
    a = ev["action"]
    if a == "StartCycle":
        return {"type": a, "worker": ev["worker"], "cycle": ev["cycle"], "read": _read(ev)}
    if a == "Propose":
        return {
            "type": a,
            "worker": ev["worker"],
            "need": ev["need"],
            "buckets": ev["reads"],
            "epoch": ev["epoch"],
            "priority": ev["priority"],
            "cycle": ev["cycle"],
            "attempt": ev["attempt"],
            "id": ev["id"],
        }
    if a == "Defer":
        return {"type": a, "worker": ev["worker"], "need": ev["need"]}
    if a == "Commit":
        out = {
            "type": a,
            "id": ev["id"],
            "worker": ev["worker"],
            "need": ev["need"],
            "result": ev["result"],
            "epoch": ev["epoch"],
            "seq": ev["seq"],
            "reply": ev["reply"],
            "queued": ev.get("queued", []),
        }
        if ev.get("conflicts"):
            out["conflicts"] = ev["conflicts"]
        return out
    if a == "HandleReply":
        # a reply that causes no read logs none: an explicit empty list says so
        return {
            "type": a,
            "worker": ev["worker"],
            "id": ev["id"],
            "kind": ev["kind"],
            "stale": ev["stale"],
            "read": _read(ev),
        }
    if a == "Release":
        return {"type": a, "need": ev["need"], "buckets": ev["buckets"], "seq": ev["seq"]}
    if a == "Crash":
        return {"type": a, "worker": ev["worker"]}
    if a == "Recover":
        return {"type": a, "worker": ev["worker"], "read": _read(ev)}
    if a == "Drop":
        return {"type": a, "id": ev["id"]}
    if a == "Duplicate":
        return {"type": a, "id": ev["id"], "copy": ev["copy"]}
    if a == "Failover":
        return {"type": a, "epoch": ev["epoch"]}
    raise ValueError(f"unknown refsched event {a!r}")


@dataclass(frozen=True)
class Recording:
    events: int  # event lines written (the header excluded)
    seconds: float
    finished: bool  # the workload completed (every need placed and released) before the cut
    errors: list[str]  # failures inside the scheduler's threads (none in a healthy run)


class _Writer:
    """An EventLog listener: converts and writes each event, up to a limit."""

    def __init__(self, out: IO[str], limit: int) -> None:
        self.out = out
        self.limit = limit
        self.n = 0
        self.full = threading.Event()

    def __call__(self, ev: Event) -> None:
        if self.n >= self.limit:
            self.full.set()
            return
        self.out.write(json.dumps(trace_event(ev), separators=(",", ":")) + "\n")
        self.n += 1


def _inject_faults(cluster: Cluster, rng: random.Random, stop: threading.Event) -> None:
    """Crash, recover and fail over at random moments (the recorder's fault schedule)."""
    down: set[int] = set()
    while not stop.wait(rng.uniform(0.02, 0.06)):
        r = rng.random()
        try:
            if down and r < 0.4:
                w = rng.choice(sorted(down))
                cluster.recover(w)
                down.discard(w)
            elif r < 0.6 and len(down) < len(cluster.workers) - 1:
                w = rng.choice([w for w in range(len(cluster.workers)) if w not in down])
                cluster.crash(w)
                down.add(w)
            elif r < 0.7:
                cluster.failover()
        except (ActorStopped, StepTimeout, RuntimeError):
            return  # the cluster is shutting down


def record(
    out: IO[str],
    *,
    components: Components | None = None,
    seed: int = 0,
    steps: int = 2000,
    timeout: float = 20.0,
    source: str = "refsched",
    config: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Recording:
    """Run the scheduler freely and write its trace to ``out`` (header first)."""
    cfg = config if config is not None else workload(seed)
    header = {
        "type": "header",
        "format": FORMAT,
        "version": VERSION,
        "config": cfg,
        "hidden": [],  # refsched logs every step, network faults included
        "source": f"{source} free run, seed {seed}",
    }
    out.write(json.dumps(header, separators=(",", ":")) + "\n")
    free = FreeRun(
        tick=0.002,
        pacing=Pacing(cycle_period=0.004, reply_timeout=0.5),
        faults=NetworkFaults(max_delay=0.003, drop_rate=0.03, duplicate_rate=0.03, seed=seed),
        release_after=(0.005, 0.04),
        seed=seed,
    )
    cluster = Cluster(Settings.from_config(cfg), Mode.FREE, components, free=free)
    writer = _Writer(out, steps)
    cluster.events.subscribe(writer)
    stop = threading.Event()
    faults = threading.Thread(
        target=_inject_faults, args=(cluster, random.Random(seed), stop), daemon=True
    )
    t0 = time.monotonic()
    finished = False
    cluster.start()
    faults.start()
    try:
        while time.monotonic() - t0 < timeout and not writer.full.is_set():
            if progress is not None:
                progress(writer.n)
            if all(s == 2 for s in cluster.broker.status()):  # every need placed and released
                finished = True
                break
            time.sleep(0.01)
    finally:
        stop.set()
        faults.join(10)
        cluster.close()
        writer.limit = writer.n  # nothing after the cut
    errors = [f"{type(e).__name__}: {e}" for e in cluster.errors()]
    return Recording(writer.n, time.monotonic() - t0, finished, errors)


__all__ = ["Recording", "record", "trace_event", "workload"]
