"""Simulation: long random runs of the model's own transitions at large sizes.

Exhaustive checking stops at a handful of workers, buckets and needs; ADR-0031's
quantitative claims (conflict rate before and after P = 8, the ParSync paper's
qualitative findings) are about tens of workers and thousands of buckets. This
module runs :class:`~model.protocol.ParSyncModel` itself for thousands of steps
at such sizes, under a workload generator and a scheduling policy, and measures
what happens. Nothing here re-implements the protocol: every next state is
``ParSyncModel.step``, which builds only the chosen action's successor (with the
same guards and updates as ``successors``: ``tests/test_step.py``); with
``verify_steps`` each step is also looked up among ``successors``. Looking it up
there on every step would cost milliseconds to seconds at these sizes
(``successors`` builds one ``Release(n)`` per placed need, each copying the
broker's per-bucket and per-need tuples: ``bench/bench_simulate.py``).

**Time and scheduling.** The run advances in *ticks*. In a tick every worker
starts one cycle (``StartCycle``: one partition read fresh), then an event loop
picks uniformly at random among everything that can happen next: a worker with
pending needs proposes (or defers), the broker commits a deliverable proposal, a
worker handles a reply, a placement whose hold time is over is released. The
tick ends when every worker is idle and the network is empty. ParSync staggers
the schedulers so that they refresh different partitions at a time: with
``stagger`` worker ``w`` runs ``w mod P`` cycles ahead (its needs arrive shifted
by the same amount), so at any tick the workers' fresh partitions are spread.

**Time models.** The protocol says what a cycle does, not how long it takes.
``equal-cycle`` keeps a cycle's duration fixed whatever P is (arrivals and hold
times per cycle do not change with P): partitioning then only makes 1 - 1/P of
the view older. ``equal-bandwidth`` is ParSync's premise: reading 1/P of the
state takes 1/P of the time, so a cycle is P times shorter, and per cycle
arrive 1/P as many needs and holds last P times as many cycles.

**Placement quality.** Each need ranks its eligible buckets (its preference:
locality, machine fit...). The policy proposes the best-ranked option the
strategy allows among those the worker's view says have room; quality is
``1 - rank / (k - 1)`` for the chosen bucket (mean over a gang), 1 being the
need's first choice.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from parsync.model.actions import Action, Commit, Defer, HandleReply, Propose, Release, StartCycle
from parsync.model.config import STRATEGIES, Config, Need
from parsync.model.properties import action_violations, state_violations
from parsync.model.protocol import ParSyncModel
from parsync.model.state import CONFLICT, Proposal, Reply, State, Worker, distinct

WORKLOADS = ("uniform", "hot-cold", "burst")
TIME_MODELS = ("equal-cycle", "equal-bandwidth")


class SimulationError(ValueError):
    """A simulation parameter is out of range; the message names it (one line)."""


@dataclass(frozen=True)
class Workload:
    """One simulated scenario: the scope, the workload shape, strategy and P.

    Rates and holds are per *time unit* (one cycle at P = 1); the time model
    decides how many cycles a unit holds at larger P.
    """

    workload: str = "uniform"
    strategy: str = "quality-first"
    partitions: int = 8
    workers: int = 16
    buckets: int = 2048
    capacity: int = 4  # slots per bucket
    units: int = 40  # time units simulated
    warmup: int = 10  # time units left out of the metrics (the cluster filling up)
    rate: float = 4.0  # mean new needs per worker per time unit (Poisson)
    hold: float = 16.0  # mean time units a placement is held before its Release
    eligible: int = 16  # buckets each need may use, in its order of preference
    gang_share: float = 0.0  # fraction of needs that are 2-bucket gangs
    priorities: int = 3  # needs draw a priority in 0..priorities-1
    retry_budget: int = 2
    time_model: str = "equal-cycle"
    stagger: bool = True
    hot_fraction: float = 0.1  # hot-cold: share of buckets that are hot
    hot_share: float = 0.8  # hot-cold: probability a preference position is a hot bucket
    burst_at: float = 0.5  # burst: when (fraction of the run) the deploy burst starts
    burst_units: int = 3  # burst: how long it lasts
    burst_factor: float = 4.0  # burst: arrival-rate multiplier during the burst

    def __post_init__(self) -> None:
        _check_choice("workload", self.workload, WORKLOADS)
        _check_choice("strategy", self.strategy, STRATEGIES)
        _check_choice("time_model", self.time_model, TIME_MODELS)
        for name in ("partitions", "workers", "buckets", "capacity", "units", "eligible"):
            if getattr(self, name) < 1:
                raise SimulationError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup", "retry_budget", "burst_units"):
            if getattr(self, name) < 0:
                raise SimulationError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.warmup >= self.units:
            raise SimulationError(f"warmup ({self.warmup}) must be below units ({self.units})")
        if self.eligible > self.buckets:
            raise SimulationError(
                f"eligible ({self.eligible}) cannot exceed buckets ({self.buckets})"
            )
        if self.gang_share > 0 and self.eligible < 2:
            raise SimulationError("gang_share > 0 needs eligible >= 2")
        for name in ("rate", "hold", "burst_factor"):
            if not getattr(self, name) > 0:
                raise SimulationError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("gang_share", "hot_fraction", "hot_share", "burst_at"):
            if not 0 <= getattr(self, name) <= 1:
                raise SimulationError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.priorities < 1:
            raise SimulationError(f"priorities must be >= 1, got {self.priorities}")

    @property
    def cycles_per_unit(self) -> int:
        return self.partitions if self.time_model == "equal-bandwidth" else 1

    @property
    def ticks(self) -> int:
        return self.units * self.cycles_per_unit

    def describe(self) -> str:
        return (
            f"{self.workload} {self.strategy} P={self.partitions} W={self.workers} "
            f"B={self.buckets}x{self.capacity} rate={self.rate:g} hold={self.hold:g} "
            f"{self.time_model}{'' if self.stagger else ' unstaggered'}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SimulationError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


# --- the workload generator ----------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A generated run: the model's Config plus what the policy needs beside it."""

    workload: Workload
    config: Config
    offsets: tuple[int, ...]  # per worker: cycles ahead of the global tick (stagger)
    arrival_tick: tuple[int, ...]  # per need: the global tick it arrives at
    hold_ticks: tuple[int, ...]  # per need: ticks between its commit and its Release
    rank: tuple[dict[int, int], ...]  # per need: bucket -> preference rank (0 = best)


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method, split so large means do not underflow exp(-lam)."""
    n = 0
    while lam > 0:
        step = min(lam, 30.0)
        lam -= step
        limit, k, p = math.exp(-step), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        n += k
    return n


def _preference(
    rng: random.Random, wl: Workload, hot: tuple[int, ...], cold: tuple[int, ...]
) -> tuple[int, ...]:
    """``eligible`` distinct buckets, best first.

    Uniform: a random sample. Hot-cold: each position is a hot bucket with
    probability ``hot_share`` (uniform within the hot or the cold set), a bucket
    drawn twice is drawn again, and a set that runs out gives way to the other.
    """
    if wl.workload != "hot-cold":
        return tuple(rng.sample(range(wl.buckets), wl.eligible))
    out: list[int] = []
    seen: set[int] = set()
    while len(out) < wl.eligible:
        pool = hot if rng.random() < wl.hot_share else cold
        if len(seen.intersection(pool)) == len(pool):
            pool = cold if pool is hot else hot
        b = pool[rng.randrange(len(pool))]
        if b not in seen:
            seen.add(b)
            out.append(b)
    return tuple(out)


def generate(wl: Workload, seed: int) -> Scenario:
    """Draw the needs of a run (deterministic in ``seed``) and build its Config."""
    rng = random.Random(f"parsync-sim:{seed}")
    cpu = wl.cycles_per_unit
    per_tick = wl.rate / cpu
    offsets = tuple(w % wl.partitions if wl.stagger else 0 for w in range(wl.workers))
    hot_set = set(rng.sample(range(wl.buckets), max(1, round(wl.hot_fraction * wl.buckets))))
    hot = tuple(sorted(hot_set))
    cold = tuple(b for b in range(wl.buckets) if b not in hot_set)
    burst_from = round(wl.burst_at * wl.ticks) + 1
    burst_to = burst_from + wl.burst_units * cpu
    needs: list[Need] = []
    arrival: list[int] = []
    holds: list[int] = []
    ranks: list[dict[int, int]] = []
    for tick in range(1, wl.ticks + 1):
        lam = per_tick
        if wl.workload == "burst" and burst_from <= tick < burst_to:
            lam *= wl.burst_factor
        for w in range(wl.workers):
            for _ in range(_poisson(rng, lam)):
                pref = _preference(rng, wl, hot, cold)
                gang = 2 if rng.random() < wl.gang_share else 1
                needs.append(
                    Need(
                        owner=w,
                        priority=rng.randrange(wl.priorities),
                        arrival=tick + offsets[w],
                        gang=gang,
                        eligible=tuple(sorted(pref)),
                    )
                )
                arrival.append(tick)
                holds.append(max(1, round(rng.expovariate(1.0 / (wl.hold * cpu)))))
                ranks.append({b: i for i, b in enumerate(pref)})
    if not needs:
        raise SimulationError(f"the workload draws no needs at all ({wl.describe()})")
    config = Config(
        workers=wl.workers,
        partitions=wl.partitions,
        capacities=(wl.capacity,) * wl.buckets,
        needs=tuple(needs),
        retry_budget=wl.retry_budget,
        strategy=wl.strategy,
        max_cycle=wl.ticks + max(offsets),
    )
    return Scenario(wl, config, offsets, tuple(arrival), tuple(holds), tuple(ranks))


# --- one step of the model, dispatched on the action ----------------------------------------


# --- metrics -------------------------------------------------------------------------------


@dataclass
class Tally:
    """Counters over the measured window (ticks after the warm-up)."""

    proposals: int = 0
    committed: int = 0
    conflicts: int = 0
    self_conflicts: int = 0  # Conflicts whose every intervening seqno bump was the proposer's
    retries: int = 0  # proposals of a need after a Conflict on it, same cycle
    gave_up: int = 0  # retry budget exhausted: the need waits for the next cycle
    deferred: int = 0  # Defer: the view shows no room the strategy allows
    staleness_sum: int = 0  # over every bucket of every proposal
    staleness_n: int = 0
    staleness_max: int = 0
    latencies: list[int] = field(default_factory=list)  # per placement, in cycles
    quality_sum: float = 0.0
    mode_switches: int = 0
    violations: dict[str, int] = field(default_factory=dict)
    worker_cycles: int = 0


@dataclass(frozen=True)
class RunResult:
    """The measured metrics of one simulated run (see ``metrics`` for definitions)."""

    workload: Workload
    variant: str | None
    seed: int
    needs: int
    steps: int
    ticks_run: int
    seconds: float
    complete: bool  # False: a budget stopped the run before its last tick
    metrics: dict[str, float]
    violations: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload.to_dict(),
            "variant": self.variant,
            "seed": self.seed,
            "needs": self.needs,
            "steps": self.steps,
            "ticks_run": self.ticks_run,
            "seconds": round(self.seconds, 3),
            "complete": self.complete,
            "metrics": plain(self.metrics),
            "violations": self.violations,
        }


def plain(x: Any) -> Any:
    """``x`` with every NaN (a metric with nothing to measure) as None: strict JSON."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [plain(v) for v in x]
    return x


def _percentile(xs: list[int], q: float) -> float:
    if not xs:
        return float("nan")
    ys = sorted(xs)
    return float(ys[min(len(ys) - 1, math.ceil(q * len(ys)) - 1)])


def metrics(t: Tally, cycles_per_unit: int) -> dict[str, float]:
    """The reported figures, each from the counters of the measured window.

    * ``conflict_rate``: Conflict replies / proposals the broker decided
      (Committed + Conflict; no faults, so no AlreadyPlaced or Fenced).
    * ``self_conflict_share``: the share of Conflicts in which every seqno bump
      since the proposer's read came from the proposer's own earlier commits
      (the model's worker does not apply its own commits to its view).
    * ``retries_per_placement``: re-proposals after a Conflict / placements.
    * ``staleness_mean`` / ``staleness_max``: over every bucket of every
      proposal, the proposer's cycle minus the ghost ``read_at`` of the
      snapshot the bucket's seqno came from (0 = read this cycle).
    * ``latency_mean`` / ``latency_p95``: cycles from a need's arrival to the
      proposer's cycle at its commit; ``latency_units`` divides by the cycles
      per time unit, so equal-bandwidth runs compare with equal-cycle ones.
    * ``quality``: mean over placements of 1 - rank / (eligible - 1).
    * ``mode_switches_per_cycle``: adaptive mode changes / worker cycles.
    """
    decided = t.committed + t.conflicts
    placed = len(t.latencies)
    lat_mean = sum(t.latencies) / placed if placed else float("nan")
    return {
        "proposals": float(t.proposals),
        "placements": float(placed),
        "conflicts": float(t.conflicts),
        "conflict_rate": t.conflicts / decided if decided else float("nan"),
        "self_conflict_share": t.self_conflicts / t.conflicts if t.conflicts else float("nan"),
        "retries_per_placement": t.retries / placed if placed else float("nan"),
        "gave_up": float(t.gave_up),
        "deferred": float(t.deferred),
        "staleness_mean": t.staleness_sum / t.staleness_n if t.staleness_n else float("nan"),
        "staleness_max": float(t.staleness_max),
        "latency_mean": lat_mean,
        "latency_p95": _percentile(t.latencies, 0.95),
        "latency_units": lat_mean / cycles_per_unit,
        "quality": t.quality_sum / placed if placed else float("nan"),
        "mode_switches_per_cycle": t.mode_switches / t.worker_cycles if t.worker_cycles else 0.0,
    }


# --- the run -------------------------------------------------------------------------------


class _Run:
    """The event loop of one simulated run (module docstring: time and scheduling)."""

    def __init__(
        self,
        sc: Scenario,
        variant: str | None,
        seed: int,
        check_every: int,
        verify_steps: bool,
    ) -> None:
        self.sc = sc
        self.model = ParSyncModel(sc.config, variant, memo=False)
        self.rng = random.Random(f"parsync-sim-run:{seed}")
        self.check_every = check_every
        self.verify_steps = verify_steps
        self.tally = Tally()
        self.steps = 0
        self.tick = 0
        self.measuring = False
        self.committed_at: dict[int, int] = {}
        self.release_due: dict[int, list[int]] = {}
        self.move_cache: dict[int, tuple[Worker, Action]] = {}
        self.bumped_by: list[dict[int, int]] = [{} for _ in range(sc.config.buckets)]
        self.state = self.model.init_state()
        self.span = max(1, sc.workload.eligible - 1)

    def do(self, a: Action) -> None:
        s = self.state
        t = self.model.step(s, a)
        if t is None:
            raise AssertionError(f"simulation chose a disabled action {a}")
        if self.verify_steps and dict(self.model.successors(s)).get(a) != t:
            raise AssertionError(f"ParSyncModel.step and successors disagree on {a}")
        self.steps += 1
        if self.check_every and self.steps % self.check_every == 0:
            for pid in (*state_violations(self.model, t), *action_violations(self.model, s, a, t)):
                self.tally.violations[pid] = self.tally.violations.get(pid, 0) + 1
        if self.measuring:
            self.observe(s, a, t)
        if t.broker is not s.broker:  # a commit or a release: who raised each seqno
            who = a.m.worker if isinstance(a, Commit) else -1
            for b in _bumped(s.broker.seq, t.broker.seq, a):
                self.bumped_by[b][t.broker.seq[b]] = who
        if isinstance(a, Commit) and t.placed[a.m.need] > s.placed[a.m.need]:
            n = a.m.need
            self.committed_at[n] = a.m.cycle
            due = self.tick + self.sc.hold_ticks[n]
            self.release_due.setdefault(due, []).append(n)
        self.state = t

    def observe(self, s: State, a: Action, t: State) -> None:
        tl, m = self.tally, self.model
        if isinstance(a, Propose):
            w = s.workers[a.w]
            tl.proposals += 1
            if w.attempts > 0:
                tl.retries += 1
            for b in a.buckets:
                age = w.cycle - w.view[m.part[b]][-1].read_at
                tl.staleness_sum += age
                tl.staleness_n += 1
                tl.staleness_max = max(tl.staleness_max, age)
        elif isinstance(a, Defer):
            tl.deferred += 1
        elif isinstance(a, Commit):
            n = a.m.need
            if t.placed[n] > s.placed[n]:
                tl.committed += 1
                tl.latencies.append(a.m.cycle - self.sc.config.needs[n].arrival)
                rank = self.sc.rank[n]
                r = sum(rank[b] for b, _ in a.m.reads) / len(a.m.reads)
                tl.quality_sum += 1.0 - r / self.span
            elif _reply_to(t, a.m).kind == CONFLICT:
                tl.conflicts += 1
                if all(
                    self.bumped_by[b].get(v) == a.m.worker
                    for b, sq in a.m.reads
                    for v in range(sq + 1, s.broker.seq[b] + 1)
                ):
                    tl.self_conflicts += 1
        elif isinstance(a, HandleReply):
            w0, w1 = s.workers[a.r.worker], t.workers[a.r.worker]
            if a.r.kind == CONFLICT and w0.waiting and not w1.waiting and w1.retries == 0:
                tl.gave_up += 1
            if w0.mode != w1.mode:
                tl.mode_switches += 1
        elif isinstance(a, StartCycle):
            tl.worker_cycles += 1

    def start_tick(self) -> None:
        self.tick += 1
        self.measuring = self.tick > self.sc.workload.warmup * self.sc.workload.cycles_per_unit
        for wi in range(self.model.W):
            self.do(StartCycle(wi))

    def moves(self) -> list[Action]:
        """Everything that may happen next within the tick, in a deterministic order."""
        s = self.state
        out: list[Action] = []
        cache = self.move_cache
        for wi, w in enumerate(s.workers):
            if w.pending and not w.waiting:
                hit = cache.get(wi)
                if hit is None or hit[0] is not w:  # a worker's move depends on it alone
                    hit = cache[wi] = (w, _worker_move(self.model, self.sc, wi, w))
                out.append(hit[1])
        out.extend(Commit(m) for m in self.model.deliverable(s.to_broker))
        out.extend(HandleReply(r) for r in distinct(s.to_workers))
        out.extend(Release(n) for n in self.release_due.get(self.tick, ()))
        return out

    def run_tick(self) -> None:
        self.start_tick()
        while True:
            options = self.moves()
            if not options:
                break
            a = options[self.rng.randrange(len(options))]
            if isinstance(a, Release):
                self.release_due[self.tick].remove(a.n)
            self.do(a)
        self.release_due.pop(self.tick, None)


def _bumped(before: tuple[int, ...], after: tuple[int, ...], a: Action) -> list[int]:
    """The buckets whose seqno this commit or release raised (only its own buckets)."""
    if isinstance(a, Commit):
        cand: tuple[int, ...] = tuple(b for b, _ in a.m.reads)
    else:
        cand = tuple(range(len(before)))
    return [b for b in cand if after[b] != before[b]]


def _reply_to(t: State, m: Proposal) -> Reply:
    """The broker's answer to ``m`` in ``t``'s reply bag (the reply tag is unique)."""
    for r in t.to_workers:
        if (r.worker, r.need, r.cycle, r.attempt) == (m.worker, m.need, m.cycle, m.attempt):
            return r
    raise AssertionError(f"no reply to {m} after its Commit")


def _worker_move(model: ParSyncModel, sc: Scenario, wi: int, w: Worker) -> Action:
    """The policy: the best-ranked option the strategy and the view allow, else Defer."""
    n = w.pending[0]
    opts = model.choices(w, n)
    if not opts:
        return Defer(wi)
    rank = sc.rank[n]
    best = min(opts, key=lambda bs: (sum(rank[b] for b in bs), bs))
    return Propose(wi, best)


def run(
    wl: Workload,
    seed: int = 0,
    *,
    variant: str | None = None,
    check_every: int = 0,
    verify_steps: bool = False,
    deadline: float | None = None,
    on_tick: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Simulate one workload; stop early (``complete=False``) at ``deadline``.

    ``check_every=k`` checks every PS property on every k-th transition and
    counts violations (1 = all; PS-4 is O(needs x buckets), so large runs
    sample). ``verify_steps`` also looks the step up among ``ParSyncModel.successors``
    on every step and fails if it differs (small sizes only: see above).
    """
    started = time.perf_counter()
    sc = generate(wl, seed)
    r = _Run(sc, variant, seed, check_every, verify_steps)
    for wi, off in enumerate(sc.offsets):  # stagger: worker wi runs `off` cycles ahead
        for _ in range(off):
            r.do(StartCycle(wi))
    complete = True
    for _ in range(wl.ticks):
        if deadline is not None and time.monotonic() >= deadline:
            complete = False
            break
        r.run_tick()
        if on_tick is not None:
            on_tick(r.tick, wl.ticks)
    return RunResult(
        workload=wl,
        variant=variant,
        seed=seed,
        needs=len(sc.config.needs),
        steps=r.steps,
        ticks_run=r.tick,
        seconds=time.perf_counter() - started,
        complete=complete,
        metrics=metrics(r.tally, wl.cycles_per_unit),
        violations=dict(sorted(r.tally.violations.items())),
    )


__all__ = [
    "RunResult",
    "Scenario",
    "SimulationError",
    "Tally",
    "TIME_MODELS",
    "WORKLOADS",
    "Workload",
    "generate",
    "metrics",
    "run",
]
