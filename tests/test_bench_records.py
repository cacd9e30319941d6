"""The figures the docs quote from the benchmarks' records are the records' figures.

Benchmarks (``bench/*.py``) write their measurements to ``bench/results/*.json``; the
docs quote them. These tests fail when a doc's figure and its record disagree, or when
a record's own summary does not follow from its rows, so a re-run benchmark cannot
leave a stale figure behind and no figure is typed in by hand. (The exhaustive tie's
record, ``tie-full.json``, is checked in ``tests/test_tie.py``.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent
RESULTS = ROOT / "bench" / "results"


def _record(name: str) -> Any:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def _doc(name: str) -> str:
    return (ROOT / "docs" / name).read_text(encoding="utf-8")


def _flat(text: str) -> str:
    """The doc's prose with its line breaks as spaces (figures may wrap)."""
    return " ".join(text.split())


_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight")


# --- traces that leave their Drop and Duplicate lines out (docs/traces.md) --------------


def test_docs_traces_quotes_the_left_out_record_before_and_after() -> None:
    d = _record("trace-left-out.json")
    doc = _doc("traces.md")
    before = {r["events"]: r for r in d["before"]["rows"]}
    assert d["after"]["rows"] and before
    for r in d["after"]["rows"]:
        assert r["verdict"] == "valid", r
        o = before.get(r["events"])
        if o is not None:  # the same trace both ways: the same hidden steps found
            assert (o["hidden_steps"], o["verdict"]) == (r["hidden_steps"], "valid")
        was = f"{o['events_per_second_cpu']:,} ({o['peak_rss_mb']} MB)" if o else "-"
        line = (
            f"| {r['events']:,} | {r['lines_left_out']:,} | {r['hidden_steps']:,} | {was} | "
            f"{r['events_per_second_cpu']:,} ({r['peak_rss_mb']} MB) |"
        )
        assert line in doc, line
    ratios = [
        r["events_per_second_cpu"] / before[r["events"]]["events_per_second_cpu"]
        for r in d["after"]["rows"]
        if r["events"] in before
    ]
    words = (*_WORDS, "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen")
    low, high = words[round(min(ratios))], words[round(max(ratios))]
    assert f"{low.capitalize()} to {high} times faster" in _flat(doc), (low, high, ratios)


# --- trace validation on the realistic trace (docs/traces.md) ---------------------------


def test_the_realistic_trace_record_summary_follows_from_its_rows() -> None:
    d = _record("trace-realistic.json")
    rates = [r["events_per_second_wall"] for r in d["rows"]]
    target = d["target_events_per_second_wall"]
    assert d["best_events_per_second_wall"] == max(rates)
    assert d["worst_events_per_second_wall"] == min(rates)
    assert d["rows_meeting_target"] == sum(r >= target for r in rates)
    # met only when every row is: the best row alone would overstate it
    assert d["target_met"] is (min(rates) >= target)
    assert all(r["verdict"] == "valid" for r in d["rows"])


def test_docs_traces_quotes_every_row_of_the_realistic_trace_record() -> None:
    d = _record("trace-realistic.json")
    doc = _doc("traces.md")
    for r in d["rows"]:
        steps = "reference" if r["steps"] == "reference" else "reference + contract"
        if r["deliver_logged"]:
            steps += ", `Deliver` lines"
        by = "Config" if r["needs_declared_by"] == "config" else "`Need` lines"
        walls = r["samples_events_per_second_wall"]
        assert len(walls) == r["repeats"] == d["repeats"] >= 3
        # the row's rate is its samples' median, not its best
        assert r["events_per_second_wall"] == sorted(walls)[len(walls) // 2], r
        line = (
            f"| {r['events']:,} | {r['needs']:,} | {steps} | {by} | yes | "
            f"{r['events_per_second_wall']:,} ({min(walls):,}-{max(walls):,}) | "
            f"{r['events_per_second_cpu']:,} | {r['peak_rss_mb']} MB | "
            f"{r['rss_growth_second_half_mb']} MB |"
        )
        assert line in doc, line
    # every walk: reference and contract steps, needs both ways, the Delivers logged
    assert {
        (r["steps"] != "reference", r["needs_declared_by"], r["deliver_logged"]) for r in d["rows"]
    } == {
        (False, "config", False),
        (False, "Need events", False),
        (True, "config", False),
        (True, "Need events", False),
        (True, "config", True),
    }
    met, n = d["rows_meeting_target"], len(d["rows"])
    words = (*_WORDS, "nine", "ten", "eleven", "twelve")
    if d["target_met"]:
        assert f"**The target is met on every row** ({words[n]} of {words[n]}" in doc
    else:
        assert f"**The target is met on {words[met]} rows of {words[n]}**" in doc
    lo, hi = d["load_average_1min"]["min"], d["load_average_1min"]["max"]
    assert f"load average {lo:.1f} to {hi:.1f}" in _flat(doc)


# --- liveness (docs/liveness.md) ------------------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        "liveness-small.json",
        "liveness-pr.json",
        "liveness-small-contract.json",
        "liveness-pr-complete.json",
    ],
)
def test_docs_liveness_quotes_every_recorded_liveness_run(record: str) -> None:
    doc = _doc("liveness.md")
    assert f"bench/results/{record}" in doc
    lines = doc.splitlines()
    for run in _record(record)["runs"]:
        states, transitions = f"{run['states']:,}", f"{run['transitions']:,}"
        rows = [ln for ln in lines if states in ln and transitions in ln]
        assert rows, (record, run["engine"], states, transitions)
        if len(rows) > 1:  # several engines with the same counts: the engine's own row
            rows = [ln for ln in rows if f"| {run['engine']} |" in ln]
        (row,) = rows
        assert run["verdict"] in row, (row, run["verdict"])
        # the CPU seconds, rounded as the row gives them
        assert f"{run['cpu_s']:.1f} s" in row or f"{run['cpu_s']:.0f} s" in row, row


# --- exploration speed and memory (docs/scale.md) -----------------------------------------


def test_docs_scale_quotes_the_long_wide_probe() -> None:
    d = _record("wide-probe-long.json")
    doc = _flat(_doc("scale.md"))
    levels = [r for r in d["levels"] if 12 <= r["depth"] <= 17]
    assert [r["depth"] for r in levels] == list(range(12, 18))
    for a, b in zip(levels, levels[1:], strict=False):  # the rows are consistent
        assert b["distinct"] == a["distinct"] + b["next_level"]
    sizes = ", ".join(f"{r['next_level']:,}" for r in levels[:-1])
    assert f"found {sizes} and {levels[-1]['next_level']:,} new states" in doc
    assert f"{levels[-1]['distinct']:,} in all by depth 17" in doc
    ratios = [b["next_level"] / a["next_level"] for a, b in zip(levels, levels[1:], strict=False)]
    quoted = ", ".join(f"{x:.2f}" for x in ratios[:-1]) + f" and {ratios[-1]:.2f} times"
    assert quoted in doc, quoted
    assert d["checkpoint"]["states"] == next(r["distinct"] for r in levels if r["depth"] == 16)
    # the doc's extrapolation: each level's ratio a tenth below the last one's
    ratio, size, total, depth, peak = ratios[-1], float(levels[-1]["next_level"]), 0.0, 17, 17
    total, top = float(levels[-1]["distinct"]), size
    while ratio - 0.1 > 0.05:
        ratio, depth = ratio - 0.1, depth + 1
        size *= ratio
        total += size
        if size > top:
            top, peak = size, depth
    assert f"peak near depth {peak} and the whole graph" in doc
    assert f"would hold about {round(total / 1e7) * 10} million states" in doc


def test_docs_scale_quotes_the_wide_reference_run() -> None:
    d = _record("wide-reference-run.json")
    doc = _flat(_doc("scale.md"))
    res, levels = d["result"], d["levels"]
    for a, b in zip(levels, levels[1:], strict=False):  # the rows are consistent
        if b["depth"] == a["depth"] + 1:  # (a level whose line was not printed is absent)
            assert b["distinct"] == a["distinct"] + b["next_level"]
    complete = res["verdict"] != "incomplete"
    why = res.get("stop_reason", "")
    assert complete or why.startswith("interrupted") or "budget" in why
    last = levels[-1]
    quoted = (
        f"{res['states']:,} distinct states, {res['transitions']:,} transitions, "
        f"depth {res['depth']}, in {res['seconds'] / 60:.0f} minutes"
    )
    assert quoted in doc, quoted
    assert f"peak RSS {d['peak_rss_mb'] / 1024:.1f} GB" in doc
    if not complete:
        ratios = [
            b["next_level"] / a["next_level"]
            for a, b in zip(levels, levels[1:], strict=False)
            if b["depth"] == a["depth"] + 1
        ]
        tail = ", ".join(f"{x:.2f}" for x in ratios[-4:])
        assert f"the last levels {tail} times the one before" in doc, tail
        assert f"{last['next_level']:,} new states at depth {last['depth']}" in doc


def test_docs_scale_quotes_the_unloaded_parallel_record() -> None:
    d = _record("parallel-pr-unloaded.json")
    doc = _flat(_doc("scale.md"))
    rows = {r["engine"]: r for r in d["rows"]}
    one, w1, w2, ray = (
        rows["single process"],
        rows["--workers 1"],
        rows["--workers 2"],
        rows["--ray auto, 2 actors"],
    )
    assert d["load_average_1min"]["start"] < 1.0  # "unloaded" is what the record says
    quoted = (
        f"one process {one['seconds']:.1f} s ({one['states_per_second']:,} states/s), "
        f"`--workers 1` {w1['seconds']:.1f} s, `--workers 2` {w2['seconds']:.1f} s, Ray with 2 "
        f"actors {ray['seconds']:.1f} s: **{w2['speedup_over_workers_1']:.2f}x** for "
        "`--workers 2` over `--workers 1`"
    )
    assert quoted in doc, quoted
    assert w2["speedup_over_workers_1"] == round(w1["seconds"] / w2["seconds"], 2)
    assert d["repeat"] >= 3  # a median, not one run
    met = w2["speedup_over_workers_1"] >= 1.7
    assert ("so the 1.7x target is met on an idle machine" in doc) is met
    assert (
        f"(Ray with 2 actors: {ray['speedup_over_workers_1']:.2f}x)" in doc
        and f"`--workers 2` is {w2['speedup_over_single_process']:.2f}x faster" in doc
    )
    lo, hi = d["load_average_1min"]["start"], d["load_average_1min"]["end"]
    assert f"load {lo:.1f} at the start, {hi:.1f} at the end" in doc
    shard, single = w1["cpu_seconds"]["shard processes"], one["cpu_seconds"]["this process"]
    assert f"({shard:.1f} s of CPU for `--workers 1`, against {single:.1f} s)" in doc
    assert 1.15 < shard / single < 1.35  # "about a quarter more CPU"
    per_state = f"({w1['bytes_per_state']} bytes a state at `pr` against {one['bytes_per_state']})"
    assert per_state in doc


def test_docs_scale_quotes_the_recorded_parallel_run_under_load() -> None:
    d = _record("parallel-pr.json")
    doc = _flat(_doc("scale.md"))
    rows = {r["engine"]: r for r in d["rows"]}
    quoted = (
        f"one process {rows['single process']['seconds']:.0f} s, "
        f"`--workers 1` {rows['--workers 1']['seconds']:.0f} s, "
        f"`--workers 2` {rows['--workers 2']['seconds']:.0f} s, "
        f"`--ray auto` with 2 actors {rows['--ray auto, 2 actors']['seconds']:.0f} s"
    )
    assert quoted in doc, quoted


def test_docs_scale_quotes_the_compact_store_records() -> None:
    doc = _doc("scale.md")
    for record, preset in (
        ("parallel-store-nightly.json", "nightly"),
        ("parallel-store-pr.json", "pr"),
    ):
        d = _record(record)
        assert d["preset"] == preset
        for r in d["rows"]:
            engine = r["engine"].removeprefix("main ")
            code = "main (039d333)" if r["engine"].startswith("main ") else "this"
            row = [
                ln
                for ln in doc.splitlines()
                if ln.startswith(f"| `{preset}`")
                and f"| `{engine}` | {code} |" in ln
                and f"| {r['seconds']:.0f} s |" in ln
            ]
            assert len(row) == 1, (record, r["engine"])
            bps = r["bytes_per_state"]
            assert f"| {bps} |" in row[0] or f"| **{bps}** |" in row[0], row[0]
    nightly = {r["workers"]: r for r in _record("parallel-store-nightly.json")["rows"]}
    assert all(r["bytes_per_state"] <= 64 for r in nightly.values())  # "the target is met"


def test_docs_scale_quotes_the_wide_probe() -> None:
    d = _record("wide-probe.json")
    doc = _flat(_doc("scale.md"))
    runs = {r["policy"]: r for r in d["runs"]}
    ref, con = runs["reference"], runs["contract"]
    assert ref["verdict"] == con["verdict"] == "incomplete"  # a probe, stopped by its budget
    quoted = (
        f"reached {ref['states']:,} distinct states at depth {ref['depth']} under the "
        f"reference policy and {con['states']:,} at depth {con['depth']} under the contract"
    )
    assert quoted in doc, quoted
    pr = json.loads((ROOT / "spec" / "manifest.json").read_text(encoding="utf-8"))["presets"]["pr"]
    assert f"all of `pr` is {pr['states']:,} states at depth {pr['depth']}" in doc
    # the probe's scope is the file the doc names
    text = (ROOT / "bench" / "wide-probe.toml").read_text(encoding="utf-8")
    assert "workers = 3" in text and "partitions = 3" in text
    assert ref["config"].startswith("W=3 P=3 B=3 caps=[2, 2, 2]")
