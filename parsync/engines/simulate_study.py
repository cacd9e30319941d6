"""``parsync simulate``: the study that puts ADR-0031's numbers to the test.

A *study* is a fixed list of simulated runs (:mod:`model.simulate`), grouped in
sections, each answering one claim:

* ``grid``: the uniform workload, every strategy at every P, under both time
  models (conflict rate, retries, staleness, latency, quality per cell);
* ``calibration``: the hot-cold workload at P = 1 (plain OCC: every strategy is
  the same when every partition is fresh) over a range of demand skew, to find
  the loads at which OCC alone shows the ADR's "before" conflict rates;
* ``adr``: at each calibrated load, P = 8 for every strategy and time model,
  beside the ADR's "after" column;
* ``schedulers``: a fixed total load spread over more and more workers;
* ``shapes``: uniform, hot-cold and deploy-burst workloads at P = 1 and P = 8.

:func:`simulate` runs a plan and returns a :class:`SimulationResult`
(``to_json``, ``rows``, ``adr_rows``, ``findings``), which other documents can
quote; :func:`write_markdown` renders it as ``docs/simulation.md`` with every
figure taken from the result, and :func:`write_plot` draws the plot when the
optional ``plot`` extra (matplotlib) is installed. Runs of one comparison share
a seed, so they see the same random draws wherever their workloads coincide.

Every cell is run under ``seeds`` consecutive seeds (``seed``, ``seed + 1``, ...);
a figure is the mean over the seeds with a 95% Student t confidence interval
(:func:`mean_ci`: mean +- t(0.975, n - 1) * s / sqrt(n), s the sample standard
deviation over the seeds). A workload that two sections share (the ADR rows
that calibrate to one load, the shapes' uniform runs and the grid) is run once
per seed and reused (:class:`Cell` results are looked up by workload and seed).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from parsync.engines.simulate import TIME_MODELS, RunResult, Workload, plain, run
from parsync.manifest import spec_hash, tool_versions
from parsync.model.config import STRATEGIES

FORMAT = "parsync-simulation/2"
#: the number of seeds per cell when none is given (``parsync simulate --seeds``)
DEFAULT_SEEDS = 3

#: t(0.975, df) for df = 1..30 (two-sided 95%); beyond 30 the normal 1.96 is within 2%.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t975(df: int) -> float:
    """The two-sided 95% quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        return math.nan
    return _T975[df - 1] if df <= len(_T975) else 1.96


def mean_ci(xs: list[float]) -> tuple[float, float, int]:
    """(mean, half-width of the 95% Student t interval, n) over the non-NaN ``xs``.

    The half-width is NaN with fewer than two values (no spread to estimate).
    """
    ys = [x for x in xs if not math.isnan(x)]
    n = len(ys)
    if n == 0:
        return math.nan, math.nan, 0
    m = sum(ys) / n
    if n < 2:
        return m, math.nan, n
    sd = math.sqrt(sum((y - m) ** 2 for y in ys) / (n - 1))
    return m, t975(n - 1) * sd / math.sqrt(n), n


#: ADR-0031's table: conflict rate before (OCC alone) -> about this after P = 8.
ADR_TABLE: tuple[tuple[float, float], ...] = (
    (0.15, 0.05),
    (0.30, 0.10),
    (0.50, 0.15),
    (0.80, 0.30),
)
#: |measured - ADR| within this counts as agreeing (the ADR's figures are "~").
TOLERANCE = 0.05

BASE = Workload(
    workload="uniform",
    workers=16,
    buckets=2048,
    capacity=2,
    units=30,
    warmup=10,
    rate=8.0,
    hold=16.0,
    eligible=16,
    hot_fraction=0.05,
)
TINY = replace(
    BASE, workers=4, buckets=64, units=8, warmup=2, rate=2.0, hold=4.0, eligible=6, hot_fraction=0.1
)


@dataclass(frozen=True)
class Plan:
    """What a study runs; ``default`` writes the docs, ``tiny`` is for tests."""

    name: str
    base: Workload
    partitions: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    hot_shares: tuple[float, ...] = (0.0, 0.6, 0.8, 0.9, 0.95)
    worker_counts: tuple[int, ...] = (4, 8, 16, 32)
    after_p: int = 8

    def cells(self, section: str) -> list[tuple[dict[str, Any], Workload]]:
        """The (key, workload) of every run of a section that needs no other result."""
        b = self.base
        out: list[tuple[dict[str, Any], Workload]] = []
        if section == "grid":
            for tm in TIME_MODELS:
                for st in STRATEGIES:
                    for p in self.partitions:
                        key = {"time_model": tm, "strategy": st, "P": p}
                        out.append((key, replace(b, time_model=tm, strategy=st, partitions=p)))
        elif section == "calibration":
            for hs in self.hot_shares:
                wl = replace(b, workload="hot-cold", hot_share=hs, partitions=1)
                out.append(({"hot_share": hs}, wl))
        elif section == "schedulers":
            total = b.rate * b.workers
            for st in ("latency-first", "quality-first"):
                for w in self.worker_counts:
                    wl = replace(b, workers=w, rate=total / w, strategy=st, partitions=self.after_p)
                    out.append(({"strategy": st, "W": w}, wl))
        elif section == "shapes":
            for shape in ("uniform", "hot-cold", "burst"):
                shaped = replace(b, workload=shape, time_model="equal-bandwidth")
                out.append(
                    (
                        {"workload": shape, "strategy": "(any)", "P": 1},
                        replace(shaped, partitions=1),
                    )
                )
                for st in STRATEGIES:
                    wl = replace(shaped, strategy=st, partitions=self.after_p)
                    out.append(({"workload": shape, "strategy": st, "P": self.after_p}, wl))
        return out

    def adr_cells(self, levels: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Workload]]:
        """P = ``after_p`` at each calibrated load, every strategy and time model."""
        out: list[tuple[dict[str, Any], Workload]] = []
        for lv in levels:
            hs = lv["hot_share"]
            for tm in TIME_MODELS:
                for st in STRATEGIES:
                    wl = replace(
                        self.base,
                        workload="hot-cold",
                        hot_share=hs,
                        partitions=self.after_p,
                        strategy=st,
                        time_model=tm,
                    )
                    key = {
                        "before": lv["before"],
                        "hot_share": hs,
                        "time_model": tm,
                        "strategy": st,
                    }
                    out.append((key, wl))
        return out


PLANS = {
    "default": Plan("default", BASE),
    "tiny": Plan(
        "tiny", TINY, partitions=(1, 2, 4), hot_shares=(0.0, 0.8), worker_counts=(2, 4), after_p=2
    ),
}
SECTIONS = ("grid", "calibration", "adr", "schedulers", "shapes")


@dataclass(frozen=True)
class Cell:
    """One cell of a study: its runs, one per seed; ``metrics`` are the means."""

    results: tuple[RunResult, ...]

    @property
    def metrics(self) -> dict[str, float]:
        return {m: mean_ci([r.metrics[m] for r in self.results])[0] for m in self._names()}

    @property
    def half(self) -> dict[str, float]:
        """The 95% confidence half-width of each metric (NaN below two seeds)."""
        return {m: mean_ci([r.metrics[m] for r in self.results])[1] for m in self._names()}

    def ci(self, name: str) -> tuple[float, float, int]:
        return mean_ci([r.metrics[name] for r in self.results])

    def _names(self) -> list[str]:
        return list(self.results[0].metrics) if self.results else []

    @property
    def complete(self) -> bool:
        return all(r.complete for r in self.results)

    @property
    def steps(self) -> int:
        return sum(r.steps for r in self.results)

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.results]

    def to_json(self) -> dict[str, Any]:
        return {
            "seeds": self.seeds,
            "complete": self.complete,
            "metrics": plain(self.metrics),
            "ci95_half": plain(self.half),
            "runs": [r.to_json() for r in self.results],
        }


@dataclass
class SimulationResult:
    """Every run of a study, by section, with its provenance."""

    plan: Plan
    seed: int
    seeds: int = DEFAULT_SEEDS
    runs: dict[str, list[tuple[dict[str, Any], Cell]]] = field(default_factory=dict)
    skipped: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    spec_hash: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    command: str = ""

    @property
    def complete(self) -> bool:
        return (
            not self.skipped
            and not self.interrupted
            and all(r.complete for rs in self.runs.values() for _, r in rs)
        )

    @property
    def steps(self) -> int:
        """Model steps actually executed (a run two cells share counts once)."""
        unique = {id(r): r for rs in self.runs.values() for _, c in rs for r in c.results}
        return sum(r.steps for r in unique.values())

    @property
    def cell_count(self) -> int:
        return sum(len(rs) for rs in self.runs.values())

    @property
    def run_count(self) -> int:
        """Simulated runs actually executed (a run two cells share counts once)."""
        return len({id(r) for rs in self.runs.values() for _, c in rs for r in c.results})

    def rows(self, section: str) -> list[dict[str, Any]]:
        """One flat dict per run of ``section``: its key, then its metrics."""
        return [
            {**key, **r.metrics, "complete": r.complete} for key, r in self.runs.get(section, [])
        ]

    def metric(self, section: str, name: str, **key: Any) -> float:
        """The mean of ``name`` over the seeds of the cell of ``section`` with this key."""
        return self.metric_ci(section, name, **key)[0]

    def metric_ci(self, section: str, name: str, **key: Any) -> tuple[float, float, int]:
        """(mean, 95% half-width, n) of ``name`` in the cell of ``section`` with this key."""
        for k, c in self.runs.get(section, []):
            if all(k.get(f) == v for f, v in key.items()):
                return c.ci(name)
        return math.nan, math.nan, 0

    def levels(self) -> list[dict[str, Any]]:
        """Per ADR row, the calibration load whose P = 1 conflict rate is closest."""
        cal = self.runs.get("calibration", [])
        out = []
        for before, after in ADR_TABLE:
            best = min(
                (c for c in cal if not math.isnan(c[1].metrics["conflict_rate"])),
                key=lambda c: abs(c[1].metrics["conflict_rate"] - before),
                default=None,
            )
            if best is None:
                continue
            measured, half, _ = best[1].ci("conflict_rate")
            out.append(
                {
                    "before": before,
                    "adr_after": after,
                    "hot_share": best[0]["hot_share"],
                    "model_before": measured,
                    "model_before_ci95": half,
                    "reached": abs(measured - before) <= TOLERANCE,
                }
            )
        return out

    def adr_rows(self) -> list[dict[str, Any]]:
        """ADR table beside the model: per ADR row and time model, P = 8 per strategy."""
        rows = []
        for lv in self.levels():
            for tm in TIME_MODELS:
                row = {**lv, "time_model": tm}
                for st in STRATEGIES:
                    m, h, _ = self.metric_ci(
                        "adr", "conflict_rate", before=lv["before"], time_model=tm, strategy=st
                    )
                    row[st] = m
                    row[f"{st}_ci95"] = h
                rows.append(row)
        return rows

    def findings(self) -> list[dict[str, Any]]:
        """Each claim checked against the runs: the claim, the verdict, the evidence."""
        return _findings(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "plan": self.plan.name,
            "seed": self.seed,
            "seeds": self.seeds,
            "interval": "95% Student t over the seeds: mean +- t(0.975, n-1) * sd / sqrt(n)",
            "base": self.plan.base.to_dict(),
            "complete": self.complete,
            "skipped_runs": self.skipped,
            "interrupted": self.interrupted,
            "seconds": round(self.seconds, 2),
            "steps": self.steps,
            "runs": self.run_count,
            "spec_hash": self.spec_hash,
            "versions": self.versions,
            "command": self.command,
            "sections": {
                s: [{"key": k, **c.to_json()} for k, c in rs] for s, rs in self.runs.items()
            },
            "adr_rows": plain(self.adr_rows()),
            "findings": self.findings(),
        }


def from_json(doc: dict[str, Any]) -> SimulationResult:
    """The result a ``parsync simulate --json`` file records, to render it again.

    Raises ValueError (one line) when the file is not a simulation record of
    this format, or names a plan this version does not have.
    """
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} record")
    try:
        pl = PLANS[doc["plan"]]
    except KeyError:
        raise ValueError(f"unknown plan {doc.get('plan')!r} in the record") from None

    def metric(v: Any) -> float:
        return math.nan if v is None else float(v)

    seen: dict[tuple[Workload, int], RunResult] = {}  # a run two cells share is one run
    runs: dict[str, list[tuple[dict[str, Any], Cell]]] = {}
    for section, cells in doc.get("sections", {}).items():
        got = runs.setdefault(section, [])
        for c in cells:
            results = []
            for r in c["runs"]:
                wl = Workload(**r["workload"])
                if (wl, r["seed"]) not in seen:
                    seen[wl, r["seed"]] = RunResult(
                        workload=wl,
                        variant=r["variant"],
                        seed=r["seed"],
                        needs=r["needs"],
                        steps=r["steps"],
                        ticks_run=r["ticks_run"],
                        seconds=r["seconds"],
                        complete=r["complete"],
                        metrics={k: metric(v) for k, v in r["metrics"].items()},
                        violations=r["violations"],
                    )
                results.append(seen[wl, r["seed"]])
            got.append((c["key"], Cell(tuple(results))))
    seeds = int(doc.get("seeds", 1))
    return SimulationResult(
        pl,
        int(doc["seed"]),
        seeds,
        runs,
        skipped=int(doc.get("skipped_runs", 0)),
        seconds=float(doc.get("seconds", 0.0)),
        interrupted=bool(doc.get("interrupted", False)),
        spec_hash=str(doc.get("spec_hash", "")),
        versions=dict(doc.get("versions", {})),
        command=str(
            doc.get("command")
            or f"parsync simulate --plan {pl.name} --seed {doc['seed']} --seeds {seeds}"
        ),
    )


def simulate(
    plan: Plan | str = "default",
    seed: int = 1,
    *,
    seeds: int = DEFAULT_SEEDS,
    max_seconds: float | None = None,
    on_run: Callable[[str, int, int, str], None] | None = None,
    command: str = "",
) -> SimulationResult:
    """Run every section of ``plan``; stop cleanly at ``max_seconds`` or Ctrl-C.

    Each cell runs under the seeds ``seed .. seed + seeds - 1``; a workload and
    seed already run for another cell is reused, not run again. A run cut by the
    budget is kept (marked incomplete); the cells not finished are counted in
    ``skipped``. ``on_run(section, done, total, label)`` reports progress before
    each cell.
    """
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    pl = PLANS[plan] if isinstance(plan, str) else plan
    started = time.monotonic()
    deadline = None if max_seconds is None else started + max_seconds
    res = SimulationResult(
        pl, seed, seeds, spec_hash=spec_hash(), versions=tool_versions(), command=command
    )
    done_runs: dict[tuple[Workload, int], RunResult] = {}
    total = sum(len(pl.cells(s)) for s in SECTIONS if s != "adr") + len(ADR_TABLE) * len(
        TIME_MODELS
    ) * len(STRATEGIES)
    done = 0
    try:
        for section in SECTIONS:
            cells = pl.adr_cells(res.levels()) if section == "adr" else pl.cells(section)
            got = res.runs.setdefault(section, [])
            for key, wl in cells:
                if deadline is not None and time.monotonic() >= deadline:
                    res.skipped = total - done
                    return res
                if on_run is not None:
                    on_run(section, done, total, wl.describe())
                results = []
                for sd in range(seed, seed + seeds):
                    if (wl, sd) not in done_runs:
                        done_runs[wl, sd] = run(wl, sd, deadline=deadline)
                    results.append(done_runs[wl, sd])
                got.append((key, Cell(tuple(results))))
                done += 1
    except KeyboardInterrupt:
        res.interrupted = True
        res.skipped = total - done
    finally:
        res.seconds = time.monotonic() - started
    return res


# --- findings: each claim against the runs ---------------------------------------------------


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3f}"


def _fmt_ci(x: float, half: float) -> str:
    """``mean ± half-width`` (the 95% interval), or the mean alone with one seed."""
    if math.isnan(x) or math.isnan(half):
        return _fmt(x)
    return f"{x:.3f} ± {half:.3f}"


def _findings(res: SimulationResult) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    pl = res.plan
    after = pl.after_p
    for lv_row in res.adr_rows():
        lower = [st for st in STRATEGIES if lv_row[st] < lv_row["model_before"]]
        near = [st for st in STRATEGIES if abs(lv_row[st] - lv_row["adr_after"]) <= TOLERANCE]
        if not lv_row["reached"]:
            verdict = "not reached"
        elif near:
            verdict = "agrees"
        elif len(lower) == len(STRATEGIES):
            verdict = "direction only"
        elif lower:
            verdict = "partly"  # some strategies lower the rate, others raise it
        else:
            verdict = "disagrees"
        out.append(
            {
                "claim": f"ADR row {lv_row['before']:.2f} -> ~{lv_row['adr_after']:.2f} "
                f"at P={after} ({lv_row['time_model']})",
                "verdict": verdict,
                "evidence": f"model P=1 "
                f"{_fmt_ci(lv_row['model_before'], lv_row['model_before_ci95'])} (hot_share "
                f"{lv_row['hot_share']:g}); P={after}: "
                + ", ".join(
                    f"{st} {_fmt_ci(lv_row[st], lv_row[st + '_ci95'])}" for st in STRATEGIES
                ),
            }
        )
    for tm in TIME_MODELS:
        base, bh, _ = res.metric_ci(
            "grid", "conflict_rate", time_model=tm, strategy="quality-first", P=1
        )
        cis = {
            st: res.metric_ci("grid", "conflict_rate", time_model=tm, strategy=st, P=after)
            for st in STRATEGIES
        }
        vals = {st: c[0] for st, c in cis.items()}
        lower = [st for st, v in vals.items() if v < base]
        out.append(
            {
                "claim": f"P={after} lowers the conflict rate of OCC alone (uniform, {tm})",
                "verdict": "agrees"
                if len(lower) == len(STRATEGIES)
                else ("partly" if lower else "disagrees"),
                "evidence": f"P=1 {_fmt_ci(base, bh)}; P={after}: "
                + ", ".join(f"{st} {_fmt_ci(c[0], c[1])}" for st, c in cis.items()),
            }
        )
    for st in ("latency-first", "quality-first"):
        pts = [
            (k["W"], *c.ci("conflict_rate")[:2])
            for k, c in res.runs.get("schedulers", [])
            if k["strategy"] == st
        ]
        if len(pts) >= 2:
            first, last = pts[0][1], pts[-1][1]
            out.append(
                {
                    "claim": "more schedulers at fixed total load lower conflicts "
                    f"({st}, P={after})",
                    "verdict": "agrees" if last < first else "disagrees",
                    "evidence": ", ".join(f"W={w}: {_fmt_ci(v, h)}" for w, v, h in pts),
                }
            )
    for metric, best_st, claim, pick in (
        ("conflict_rate", "latency-first", "latency-first has the lowest conflict rate", min),
        ("quality", "quality-first", "quality-first has the best placement quality", max),
    ):
        held, cases = 0, []
        for tm in TIME_MODELS:
            for p in pl.partitions:
                if p == 1:
                    continue
                vals = {
                    st: res.metric("grid", metric, time_model=tm, strategy=st, P=p)
                    for st in STRATEGIES
                }
                if any(math.isnan(v) for v in vals.values()):
                    continue
                cases.append((tm, p))
                if vals[best_st] == pick(vals.values()):
                    held += 1
        out.append(
            {
                "claim": f"{claim} (uniform, P>1, both time models)",
                "verdict": "agrees"
                if cases and held == len(cases)
                else ("partly" if held else "disagrees"),
                "evidence": f"holds in {held} of {len(cases)} (time model, P) cells",
            }
        )
    return out


# --- the document ----------------------------------------------------------------------------

_METRIC_COLUMNS: tuple[tuple[str, str], ...] = (
    ("conflict_rate", "conflict rate"),
    ("self_conflict_share", "self share"),
    ("retries_per_placement", "retries/placement"),
    ("staleness_mean", "staleness mean"),
    ("staleness_max", "staleness max"),
    ("latency_units", "latency (units)"),
    ("latency_p95", "latency p95 (cycles)"),
    ("quality", "quality"),
    ("placements", "placements"),
)

_HOW = """\
Every run executes the model itself (`model/protocol.py`, `ParSyncModel`): each
next state is `ParSyncModel.step`, which builds only the chosen action's successor
(`tests/test_step.py` shows it equal to the model's `successors` on every
transition of the presets and variants; enumerating `successors` on every step
would be far too slow at these sizes).
A run advances in ticks: every worker starts a cycle (one partition read fresh,
rotation staggered across workers as in ParSync), then an event loop picks at
random among the enabled proposals, commits, replies and due releases until
every worker is idle. Needs arrive as a Poisson stream per worker and are held
for an exponential time before their `Release`. Each need ranks its eligible
buckets; the policy proposes its best-ranked option that the strategy and the
worker's view allow (latency-first: freshest partition only; quality-first:
any; adaptive: the model's mode switch), else `Defer`.

Two time models, because the protocol says what a cycle does but not how long
it takes: **equal-cycle** (a cycle lasts the same at every P, so partitioning
only makes the view older) and **equal-bandwidth** (ParSync's premise: reading
1/P of the state takes 1/P of the time, so cycles are P times shorter and
arrivals and holds are scaled per cycle). Latency is reported in time units
(one cycle at P = 1) so the two compare.
"""

_METRICS = """\
- **conflict rate**: Conflict replies / proposals the broker decided (Committed
  + Conflict), over the measured window (after the warm-up).
- **self share**: the share of Conflicts in which every seqno bump since the
  proposer's read came from the proposer's own earlier commits (the model's
  worker does not apply its own commit to its view, so its next proposal on the
  same bucket in the same cycle is stale).
- **retries/placement**: proposals re-sent after a Conflict (same need, same
  cycle) / placements.
- **staleness**: for every bucket of every proposal, the proposer's cycle minus
  the ghost `read_at` of the snapshot its seqno came from (0 = read this
  cycle); mean and maximum, in cycles.
- **latency**: cycles from a need's arrival to the proposer's cycle when it
  commits; shown in time units (cycles / cycles per unit) and as a p95 in cycles.
- **quality**: placement quality, 1 - rank / (eligible - 1) of the chosen
  bucket in the need's preference order (1 = its first choice), mean over
  placements.
- **placements**: needs committed in the measured window.
"""

_LIMITS = """\
This is a protocol model, not a performance model. It has no decision time, no
network latency, no cost for a read and no clock: a "tick" is a round in which
every worker starts one cycle, and concurrency is the random interleaving of
the workers' steps. Two of its rules bound the conflict rate of plain OCC
(P = 1): a worker has one proposal in flight at a time, and a Conflict forces a
fresh read of the conflicted partition, which at P = 1 is the whole state.
Conflicts therefore only come from commits and releases that land between a
worker's read and its commit. The ADR's and ParSync's figures also fold in
decision time and synchronisation cost, which the model does not have; where
the model disagrees with them, the table says so rather than tuning the
workload until it agrees.
"""


def _key(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out.extend("| " + " | ".join(r) + " |" for r in rows)
    return out


def render_markdown(res: SimulationResult, plot_note: str) -> str:
    """The whole of ``docs/simulation.md``; every figure comes from ``res``."""
    pl, b = res.plan, res.plan.base
    status = (
        "complete"
        if res.complete
        else (
            f"PARTIAL: {res.skipped} run(s) not started"
            + (", interrupted" if res.interrupted else "")
            + (
                ""
                if all(r.complete for rs in res.runs.values() for _, r in rs)
                else ", some runs cut by the budget"
            )
        )
    )
    L: list[str] = [
        "# Simulation: ADR-0031's numbers against the model",
        "",
        f"Generated by `{res.command or 'parsync simulate'}`; do not edit by hand.",
        "",
        f"- status: {status}",
        f"- plan: `{pl.name}`, seeds {res.seed}..{res.seed + res.seeds - 1} ({res.seeds} per "
        f"cell), {res.cell_count} cells, {res.run_count} runs, {res.steps:,} model steps, "
        f"{res.seconds:.0f} s",
        f"- figures: mean over the {res.seeds} seeds of a cell ± the half-width of its 95% "
        "Student t confidence interval (mean ± t(0.975, n-1) · sd / √n over the seeds; no "
        "interval with one seed); a run two cells share is run once. Three seeds are few "
        "(t(0.975, 2) = 4.30 makes the intervals wide); they keep the default study's run "
        "time to tens of minutes on a shared two-core machine (`--seeds N` for more)",
        f"- base scope: W={b.workers} workers, B={b.buckets} buckets x {b.capacity} slots, "
        f"P in {list(pl.partitions)}, {b.units} time units ({b.warmup} warm-up), "
        f"{b.rate:g} needs/worker/unit, hold {b.hold:g} units, {b.eligible} eligible buckets/need, "
        f"retry budget R={b.retry_budget}",
        f"- spec hash: `{res.spec_hash}`",
        "- tools: " + ", ".join(f"{k} {v}" for k, v in sorted(res.versions.items())),
        "",
        "## How the runs are made",
        "",
        _HOW,
        "## Metrics",
        "",
        _METRICS,
        "## ADR-0031's table beside the model",
        "",
        "The ADR's rows are conflict rates of OCC alone at increasing load. Load here is "
        "demand skew on the hot-cold workload (share of preferences that fall on the "
        f"{b.hot_fraction:.0%} hot buckets); for each row, the calibration run whose P = 1 "
        f"conflict rate is closest stands in for it (reached: within {TOLERANCE}).",
        "",
    ]
    L += _table(
        [
            "ADR before",
            f"ADR after (P={pl.after_p})",
            "hot share",
            "model P=1",
            "reached",
            "time model",
            *STRATEGIES,
        ],
        [
            [
                f"{r['before']:.2f}",
                f"~{r['adr_after']:.2f}",
                f"{r['hot_share']:g}",
                _fmt_ci(r["model_before"], r["model_before_ci95"]),
                "yes" if r["reached"] else "no",
                r["time_model"],
                *(_fmt_ci(r[st], r[st + "_ci95"]) for st in STRATEGIES),
            ]
            for r in res.adr_rows()
        ],
    )
    L += ["", "## Findings", "", "Each claim, the verdict the runs give, and the evidence.", ""]
    L += _table(
        ["claim", "verdict", "evidence"],
        [[f["claim"], f["verdict"], f["evidence"]] for f in res.findings()],
    )
    for tm in TIME_MODELS:
        L += ["", f"## Conflict rate by strategy and P ({tm}, uniform)", ""]
        L += _table(
            ["strategy", *(f"P={p}" for p in pl.partitions)],
            [
                [
                    st,
                    *(
                        _fmt_ci(
                            *res.metric_ci(
                                "grid", "conflict_rate", time_model=tm, strategy=st, P=p
                            )[:2]
                        )
                        for p in pl.partitions
                    ),
                ]
                for st in STRATEGIES
            ],
        )
    sections = (
        ("## Every metric of the grid", "grid", ("time_model", "strategy", "P")),
        (
            f"## More schedulers at fixed total load (P={pl.after_p}, equal-cycle)",
            "schedulers",
            ("strategy", "W"),
        ),
        ("## Workload shapes (equal-bandwidth)", "shapes", ("workload", "strategy", "P")),
        ("## Calibration (hot-cold, P=1)", "calibration", ("hot_share",)),
    )
    for heading, section, keys in sections:
        L += ["", heading, ""]
        L += _table(
            [*(k.replace("_", " ") for k in keys), *(h for _, h in _METRIC_COLUMNS)],
            [
                [*(_key(k[f]) for f in keys), *(_fmt_ci(*c.ci(m)[:2]) for m, _ in _METRIC_COLUMNS)]
                for k, c in res.runs.get(section, [])
            ],
        )
    L += ["", "## Plot", "", plot_note, "", "## Reading: where the model agrees and where not", ""]
    L += _reading(res)
    L += ["", "## Limits of this model", "", _LIMITS]
    return "\n".join(L).rstrip() + "\n"


def _reading(res: SimulationResult) -> list[str]:
    """Plain sentences derived from the findings (no figure is typed here)."""
    out = []
    fs = res.findings()
    by = {
        v: [f for f in fs if f["verdict"] == v]
        for v in ("agrees", "direction only", "partly", "disagrees", "not reached")
    }
    for verdict, lead in (
        ("agrees", "The model agrees with"),
        ("direction only", "The model agrees in direction but not in size with"),
        ("partly", "The model agrees only in part with"),
        ("disagrees", "The model disagrees with"),
        ("not reached", "The model does not reach the load of"),
    ):
        for f in by[verdict]:
            out.append(f"- {lead}: {f['claim']} ({f['evidence']}).")
    cal = [r.metrics["conflict_rate"] for _, r in res.runs.get("calibration", [])]
    if cal:
        top = max((c for c in cal if not math.isnan(c)), default=math.nan)
        out.append(
            "- The highest conflict rate plain OCC (P = 1) reaches in the calibration is "
            f"{_fmt(top)}; ADR rows above it have no load in this model that produces "
            "them (see Limits)."
        )
    return out


#: the quantities the plot draws against P, one column each (one y-scale per quantity)
PLOT_QUANTITIES: tuple[tuple[str, str], ...] = (
    ("conflict_rate", "conflict rate"),
    ("staleness_mean", "staleness mean (cycles)"),
    ("retries_per_placement", "retries / placement"),
    ("latency_units", "latency (time units)"),
)


def write_plot(res: SimulationResult, path: Path) -> str | None:
    """Draw the grid and the ADR table with 95% error bars; None without matplotlib.

    Rows are the time models; the first four columns are conflict rate,
    staleness, retries and latency against P per strategy (a column shares its
    y-scale), the last puts ADR-0031's table beside the model. ADR "after"
    figures are targets (hollow dashed markers), never data; the model's P = 8
    rates are drawn only for ADR rows whose load the model reached.
    """
    fig = figure(res)
    if fig is None:
        return None
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def figure(res: SimulationResult) -> Any:
    """The plot of :func:`write_plot` as a matplotlib Figure; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    pl = res.plan
    ncols = len(PLOT_QUANTITIES) + 1
    fig, axes = plt.subplots(
        len(TIME_MODELS), ncols, figsize=(4.0 * ncols, 3.6 * len(TIME_MODELS)), squeeze=False
    )
    colours = dict(zip(STRATEGIES, ("tab:blue", "tab:orange", "tab:green"), strict=False))
    for col, (metric, label) in enumerate(PLOT_QUANTITIES):
        column = [axes[row][col] for row in range(len(TIME_MODELS))]
        for ax, tm in zip(column, TIME_MODELS, strict=True):
            for i, st in enumerate(STRATEGIES):
                cis = [
                    res.metric_ci("grid", metric, time_model=tm, strategy=st, P=p)
                    for p in pl.partitions
                ]
                # a small sideways offset per strategy keeps overlapping bars apart
                xs = [p * (1 + 0.04 * (i - 1)) for p in pl.partitions]
                ax.errorbar(
                    xs,
                    [c[0] for c in cis],
                    yerr=[0.0 if math.isnan(c[1]) else c[1] for c in cis],
                    marker="o",
                    ms=4,
                    capsize=3,
                    color=colours[st],
                    label=st,
                )
            ax.set_xscale("log", base=2)
            ax.set_xticks(list(pl.partitions), [str(p) for p in pl.partitions])
            ax.set_title(f"{label}\nuniform, {tm}", fontsize=9)
            ax.set_ylabel(label, fontsize=8)
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
        hi = max(ax.get_ylim()[1] for ax in column)
        for ax in column:  # every quantity is >= 0: an interval below 0 is cut at the axis
            ax.set_ylim(0.0, hi)
        column[-1].set_xlabel("partitions P", fontsize=8)
    axes[0][0].legend(fontsize=7, title="strategy", title_fontsize=7)
    adr_axes = [axes[row][-1] for row in range(len(TIME_MODELS))]
    for ax, tm in zip(adr_axes, TIME_MODELS, strict=True):
        rows = [r for r in res.adr_rows() if r["time_model"] == tm]
        xs = [r["before"] for r in rows]
        ax.plot(
            xs,
            [r["adr_after"] for r in rows],
            linestyle="--",
            color="black",
            marker="D",
            mfc="none",
            label=f"ADR target (after, P={pl.after_p})",
        )
        ax.plot(xs, xs, linestyle=":", color="grey", label="ADR before (OCC alone)")
        got = [r for r in rows if r["reached"]]
        if got:
            ax.errorbar(
                [r["before"] for r in got],
                [r["model_before"] for r in got],
                yerr=[_nan0(r["model_before_ci95"]) for r in got],
                fmt="kx",
                capsize=3,
                label="model P=1 (calibrated)",
            )
        for i, st in enumerate(STRATEGIES):
            if got:
                ax.errorbar(
                    [r["before"] + 0.01 * (i - 1) for r in got],
                    [r[st] for r in got],
                    yerr=[_nan0(r[st + "_ci95"]) for r in got],
                    fmt="o",
                    ms=4,
                    capsize=3,
                    color=colours[st],
                    label=f"model P={pl.after_p} {st}",
                )
        for r in rows:
            if not r["reached"]:
                ax.annotate(
                    "not reached",
                    (r["before"], r["adr_after"]),
                    textcoords="offset points",
                    xytext=(0, 8),
                    ha="center",
                    fontsize=7,
                    color="dimgrey",
                )
        ax.set_xlim(0.0, 0.9)
        ax.set_ylim(0.0, 0.9)
        ax.set_title(f"ADR-0031 table vs model\nhot-cold, {tm}", fontsize=9)
        ax.set_ylabel("conflict rate", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    adr_axes[0].legend(fontsize=6, loc="upper left")
    adr_axes[-1].set_xlabel("ADR row: conflict rate before (OCC alone)", fontsize=8)
    fig.suptitle(
        f"parsync simulate, plan {pl.name}: mean over {res.seeds} seed(s) per point, "
        "error bars = 95% Student t interval",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _nan0(x: float) -> float:
    return 0.0 if math.isnan(x) else x


def write_outputs(res: SimulationResult, out: Path, plot: Path | None) -> tuple[str, str | None]:
    """Write the Markdown (and the plot); returns (markdown, plot path or None)."""
    drawn = write_plot(res, plot) if plot is not None else None
    if drawn is not None and plot is not None:
        rel = Path(plot).name if Path(plot).parent == Path(out).parent else str(plot)
        note = (
            f"![conflict rate, staleness, retries and latency against P with 95% error bars, "
            f"and the ADR table beside the model]({rel})"
        )
    elif plot is None:
        note = "No plot was requested (`--no-plot`)."
    else:
        note = "No plot: matplotlib is not installed (`pip install -e '.[plot]'`)."
    text = render_markdown(res, note)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return text, drawn


# --- the command -----------------------------------------------------------------------------


def command(args: Any) -> int:
    """``parsync simulate``: run the plan with progress on stderr; exit 0, or 3 when partial.

    The output paths were checked by the CLI before this runs; a write that still
    fails raises :class:`ValueError` with one line (the CLI prints it, exit 2).
    Ctrl-C stops the runs; what finished is written, marked PARTIAL, and the
    command ends with :class:`parsync.errors.Interrupted` (exit 3).
    """
    from rich.console import Console

    from parsync.errors import Interrupted
    from parsync.outputs import emit_json
    from parsync.progress import Display

    out = Path(args.out)
    plot = None if args.no_plot else Path(args.plot or out.with_suffix(".png"))
    for p in (out, plot):
        if p is not None and p.exists() and p.is_dir():
            raise ValueError(f"cannot write {p}: it is a directory")
    cmd = f"parsync simulate --plan {args.plan} --seed {args.seed} --seeds {args.seeds}"
    err = Console(stderr=True)
    again = getattr(args, "from_json", None)
    if again is not None:  # render a recorded study again: no run
        try:
            res = from_json(json.loads(Path(again).read_text(encoding="utf-8")))
        except OSError as e:
            raise ValueError(f"cannot read {again}: {e.strerror or e}") from None
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{again}: not a simulation record: {e}") from None
        try:
            _, drawn = write_outputs(res, out, plot)
        except OSError as e:
            raise ValueError(f"cannot write {e.filename}: {e.strerror or e}") from None
        err.print(
            f"rendered {again} ({res.run_count} runs, no run made) -> {out}"
            + (f", {drawn}" if drawn else "")
        )
        return 0 if res.complete else 3
    with Display("parsync simulate", enabled=getattr(args, "progress", None) is not False) as bar:

        def on_run(section: str, done: int, total: int, label: str) -> None:
            bar.count(done, total, "runs", f"{section}: {label}")

        res = simulate(
            args.plan,
            args.seed,
            seeds=args.seeds,
            max_seconds=args.max_seconds,
            on_run=on_run,
            command=cmd,
        )
    json_out = getattr(args, "json_out", None)
    try:
        _, drawn = write_outputs(res, out, plot)
        if args.json or json_out:
            emit_json(res.to_json(), stdout=bool(args.json), path=json_out)
    except OSError as e:
        raise ValueError(f"cannot write {e.filename}: {e.strerror or e}") from None
    err.print(
        f"{res.cell_count} cells x {res.seeds} seed(s), {res.run_count} runs, "
        f"{res.steps:,} model steps in {res.seconds:.1f}s -> {out}"
        + (
            f", {drawn}"
            if drawn
            else " (no plot: " + ("--no-plot)" if plot is None else "matplotlib is not installed)")
        )
    )
    for f in res.findings():
        err.print(f"  {f['verdict']:>14}: {f['claim']}")
    if res.interrupted:
        raise Interrupted(
            f"simulate: {res.run_count} run(s) finished, {res.skipped} not finished; "
            f"{out} is written from them and marked PARTIAL"
        )
    if not res.complete:
        err.print(
            f"stopped early: {res.skipped} run(s) not started; the document is marked PARTIAL"
        )
        return 3
    return 0
