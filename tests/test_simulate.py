"""The simulation engine (parsync/engines/simulate.py) and the study
(parsync/engines/simulate_study.py).

Tiny sizes only (seconds): the default study that writes docs/simulation.md
is run by `parsync simulate --out docs/simulation.md`, never here. What is
asserted: the transition used by the simulator is ParSyncModel.step, step for
step; the metrics are right on a run small enough to count by hand; a seed
fixes the result; a known-bad variant moves the conflict rate the way its bug
predicts (and the property checks see it); bad options are one line and exit
2; the generated document has the committed one's format.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from parsync.cli import main
from parsync.engines.simulate import SimulationError, Workload, generate, run
from parsync.engines.simulate_study import (
    PLANS,
    figure,
    from_json,
    mean_ci,
    render_markdown,
    simulate,
    t975,
)

ROOT = Path(__file__).resolve().parents[1]
SMALL = Workload(
    workers=3,
    partitions=2,
    buckets=8,
    capacity=2,
    units=6,
    warmup=1,
    rate=1.5,
    hold=3.0,
    eligible=4,
    gang_share=0.25,
)


def _one_worker(**scope: int | float) -> Workload:
    """One worker, one eligible bucket per need, room everywhere, no release in the run."""
    return Workload(workers=1, capacity=1000, warmup=1, hold=1e9, eligible=1, priorities=1, **scope)  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["latency-first", "quality-first", "adaptive"])
@pytest.mark.parametrize("time_model", ["equal-cycle", "equal-bandwidth"])
def test_every_step_is_the_models_own_step(strategy: str, time_model: str) -> None:
    """verify_steps recomputes ParSyncModel.step on every step and fails on a difference."""
    wl = replace(SMALL, strategy=strategy, time_model=time_model, workload="hot-cold", units=12)
    r = run(wl, seed=3, verify_steps=True, check_every=1)
    assert r.complete and r.steps > 100
    assert r.violations == {}  # PS-1..PS-11 on every transition of the correct model
    assert r.metrics["placements"] > 0


def test_metrics_on_a_hand_checkable_run() -> None:
    """One worker, one bucket, P=1, no release in the run: only itself to conflict with.

    The model's worker does not apply its own commit to its view, so its next
    proposal on the same bucket in the same cycle carries a stale seqno and
    conflicts; the forced re-read fixes it, the retry commits, and the view is
    one commit behind again: k needs in a cycle give k - 1 Conflicts, each a
    self-conflict, each retried once.
    """
    wl = _one_worker(partitions=1, buckets=1, units=5, rate=2.0)
    sc = generate(wl, seed=0)
    measured = [t for t in sc.arrival_tick if t > wl.warmup]
    r = run(wl, seed=0, check_every=1)
    m = r.metrics
    assert r.violations == {}
    per_tick = [measured.count(t) for t in sorted(set(measured))]
    expect = sum(k - 1 for k in per_tick)
    assert expect > 0
    assert m["conflicts"] == expect and m["self_conflict_share"] == 1.0
    assert m["conflict_rate"] == expect / (len(measured) + expect)
    assert m["retries_per_placement"] == expect / len(measured)
    assert m["placements"] == len(measured) and m["proposals"] == len(measured) + expect
    assert m["staleness_mean"] == 0.0 and m["staleness_max"] == 0  # P=1: read this cycle
    assert m["latency_mean"] == 0.0  # room everywhere: placed in its arrival cycle
    assert m["quality"] == 1.0  # its only bucket is its first choice


def test_staleness_and_latency_by_hand() -> None:
    """P=4, one worker, everything in partition 0 except what rotation reads.

    The worker reads partition (cycle mod 4) fresh; a bucket of partition p
    proposed at cycle c was read at the last cycle <= c that is = p mod 4, so
    its staleness is (c - p) mod 4, or c before the first rotation reaches it
    (the bootstrap read is at cycle 0): the mean is checked exactly.
    """
    wl = _one_worker(partitions=4, buckets=16, units=12, rate=0.5)
    # a seed whose needs never share a bucket: the worker's view of a bucket
    # it committed to stays one seqno behind (a self-conflict, whose forced
    # re-read would reset the staleness of the retry)
    for seed in range(200):
        sc = generate(wl, seed)
        slots = [need.eligible for need in sc.config.needs]
        if len(set(slots)) == len(slots) >= 3:
            break
    ages = [
        min((sc.arrival_tick[n] - need.eligible[0] % 4) % 4, sc.arrival_tick[n])  # type: ignore[index]
        for n, need in enumerate(sc.config.needs)
        if sc.arrival_tick[n] > wl.warmup
    ]
    r = run(wl, seed)
    assert r.metrics["placements"] == len(ages) > 0
    assert r.metrics["staleness_mean"] == pytest.approx(sum(ages) / len(ages))
    assert r.metrics["staleness_max"] == max(ages)
    assert r.metrics["conflict_rate"] == 0.0


def test_deterministic_under_a_seed() -> None:
    a = run(SMALL, seed=11).to_json()
    b = run(SMALL, seed=11).to_json()
    c = run(SMALL, seed=12).to_json()
    for d in (a, b, c):
        d.pop("seconds")
    assert a == b
    assert a != c


def test_known_bad_variant_lowers_the_conflict_rate_and_is_caught() -> None:
    """validate-fresh-partition-only trusts stale partitions: fewer Conflicts, bad commits.

    Quality-first proposes from stale partitions; the correct broker rejects a
    stale read, the variant lets it through. The measured conflict rate must
    drop, and the property checks on the run must report PS-2 (commit-time
    consistency), the property the variant is catalogued to break.
    """
    wl = replace(SMALL, strategy="quality-first", partitions=4, buckets=12, units=10, rate=2.0)
    good = run(wl, seed=2, check_every=1)
    bad = run(wl, seed=2, check_every=1, variant="validate-fresh-partition-only")
    assert good.violations == {}
    assert good.metrics["conflict_rate"] > 0.1
    assert bad.metrics["conflict_rate"] < good.metrics["conflict_rate"] / 2
    assert bad.violations.get("PS-2", 0) > 0


def test_budget_stops_cleanly_with_a_partial_result() -> None:
    r = run(replace(SMALL, units=50), seed=1, deadline=0.0)
    assert not r.complete and r.ticks_run == 0
    res = simulate("tiny", 1, max_seconds=1e-9)
    assert not res.complete and res.skipped > 0
    assert "PARTIAL" in render_markdown(res, "no plot")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"workload": "spiky"}, "workload must be one of"),
        ({"partitions": 0}, "partitions must be >= 1"),
        ({"eligible": 99}, "eligible (99) cannot exceed buckets (8)"),
        ({"warmup": 6}, "warmup (6) must be below units (6)"),
        ({"hot_share": 1.5}, "hot_share must be in [0, 1]"),
    ],
)
def test_bad_parameters_are_one_line(changes: dict[str, object], message: str) -> None:
    with pytest.raises(SimulationError) as e:
        replace(SMALL, **changes)  # type: ignore[arg-type]
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--max-seconds", "0"], "expected a positive number"),
        (["--plan", "huge"], "invalid choice: 'huge'"),
        (["--seed", "x"], "invalid int value"),
        (["--seeds", "0"], "expected a positive"),
    ],
)
def test_cli_bad_options_exit_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        main(["simulate", *argv])
    assert e.value.code == 2
    assert fragment in capsys.readouterr().err


def test_cli_unwritable_output_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--plan", "tiny", "--out", str(tmp_path), "--no-plot"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"parsync: error: --out {tmp_path}: cannot write: it is a directory"]


def _skeleton(text: str) -> list[str]:
    """Headings and table header rows: the document's format, not its figures."""
    out = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#"):
            out.append(re.sub(r"P=\d+", "P=n", line))
        elif line.startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            out.append(re.sub(r"P=\d+", "P=n", line))
    # the P columns of the grid differ between plans; keep their count out of it
    return [re.sub(r"(\| P=n )+", "| P=n ", s) for s in out]


def test_cli_writes_the_report_in_the_committed_format(tmp_path: Path) -> None:
    out = tmp_path / "sim.md"
    js = tmp_path / "sim.json"
    assert main(["simulate", "--plan", "tiny", "--out", str(out), "--json", str(js)]) == 0
    text = out.read_text()
    doc = json.loads(js.read_text())
    assert doc["format"] == "parsync-simulation/2" and doc["complete"]
    assert doc["seed"] == 1 and doc["spec_hash"].startswith("sha256:")
    assert doc["seeds"] == 3  # the default: each cell run under seeds 1, 2, 3
    assert {f["verdict"] for f in doc["findings"]} <= {
        "agrees",
        "direction only",
        "partly",
        "disagrees",
        "not reached",
    }
    # every figure in the document is from the run: spot-check one grid cell
    cell = doc["sections"]["grid"][0]
    assert cell["seeds"] == [1, 2, 3] and len(cell["runs"]) == 3
    mean = cell["metrics"]["conflict_rate"]
    half = cell["ci95_half"]["conflict_rate"]
    assert f"{mean:.3f} ± {half:.3f}" in text
    assert mean == pytest.approx(sum(r["metrics"]["conflict_rate"] for r in cell["runs"]) / 3)
    committed = (ROOT / "docs" / "simulation.md").read_text()
    assert _skeleton(text) == _skeleton(committed)
    assert "plan: `default`" in committed and "status: complete" in committed


def test_tiny_plan_covers_every_section() -> None:
    res = simulate(PLANS["tiny"], 4)
    assert res.complete
    assert set(res.runs) == {"grid", "calibration", "adr", "schedulers", "shapes"}
    assert all(res.runs[s] for s in res.runs)
    assert len(res.adr_rows()) == 8  # four ADR rows x two time models
    js = res.to_json()
    assert json.loads(json.dumps(js)) == js  # plain JSON, nothing lost


def test_student_t_interval_by_hand() -> None:
    """mean +- t(0.975, n-1) * s / sqrt(n): [1, 2, 3] has s = 1, t(0.975, 2) = 4.303."""
    m, h, n = mean_ci([1.0, 2.0, 3.0])
    assert (m, n) == (2.0, 3) and h == pytest.approx(4.303 / 3**0.5)
    assert mean_ci([5.0, float("nan")])[1] != mean_ci([5.0, float("nan")])[1]  # NaN: one value
    assert mean_ci([])[2] == 0
    assert t975(1) == 12.706 and t975(30) == 2.042 and t975(1000) == 1.96


def test_seeds_are_run_and_shared_runs_are_not_repeated() -> None:
    one = simulate("tiny", 1, seeds=1)
    two = simulate("tiny", 1, seeds=2)
    assert two.seeds == 2 and two.cell_count == one.cell_count
    k, c = two.runs["grid"][0]
    assert c.seeds == [1, 2]
    # a seed's run is the single-seed run: seed 1 of the two-seed study equals the one-seed study
    assert c.results[0].metrics == one.runs["grid"][0][1].results[0].metrics
    # ADR rows that calibrate to one load share their runs: fewer runs than cells x seeds
    assert two.run_count < two.cell_count * 2
    with pytest.raises(ValueError):
        simulate("tiny", 1, seeds=0)


def test_plot_draws_adr_rows_as_targets_and_unreached_rows_not_as_data() -> None:
    pytest.importorskip("matplotlib")
    res = simulate("tiny", 1, seeds=3)  # reaches the first ADR rows, not the last
    fig = figure(res)
    axes = fig.axes
    assert len(axes) == 10  # 2 time models x (4 quantities + the ADR table)
    ylabels = {ax.get_ylabel() for ax in axes}
    assert {"conflict rate", "staleness mean (cycles)", "retries / placement"} <= ylabels
    rows = res.adr_rows()
    unreached = {r["before"] for r in rows if not r["reached"]}
    assert unreached  # the tiny plan leaves some ADR rows unreached
    reached = {r["before"] for r in rows if r["reached"]}
    assert reached
    for ax in (axes[4], axes[9]):
        target = [ln for ln in ax.get_lines() if ln.get_label().startswith("ADR target")]
        assert len(target) == 1 and target[0].get_linestyle() == "--"
        assert sorted(target[0].get_xdata()) == sorted(r["before"] for r in rows[::2])
        # the model's points (error-bar containers) sit only at reached rows
        model = [c for c in ax.containers if str(c.get_label()).startswith("model")]
        assert model
        for c in model:
            for x in c.lines[0].get_xdata():
                assert any(abs(x - b) < 0.02 for b in reached)
                assert not any(abs(x - b) < 0.02 for b in unreached)
        notes = [t.get_text() for t in ax.texts]
        assert notes.count("not reached") == len(unreached)
    # error bars on the grid panels
    assert all(ax.containers for ax in axes[:4])


def test_a_recorded_study_renders_again_identically(tmp_path: Path) -> None:
    """--from-json renders the record without running: the same document, every figure."""
    out, js, again = tmp_path / "a.md", tmp_path / "a.json", tmp_path / "b.md"
    assert (
        main(["simulate", "--plan", "tiny", "--no-plot", "--out", str(out), "--json", str(js)]) == 0
    )
    assert main(["simulate", "--from-json", str(js), "--no-plot", "--out", str(again)]) == 0
    assert again.read_text() == out.read_text()
    res = from_json(json.loads(js.read_text()))
    assert res.run_count == json.loads(js.read_text())["runs"]  # shared runs stay shared
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "parsync-simulation/1"}')
    assert main(["simulate", "--from-json", str(bad), "--out", str(again)]) == 2
