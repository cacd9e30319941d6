"""The exhaustive tie of the Z3 encoding to model/protocol.py (issue 17).

* the unpatched model agrees with the encoding on every quick scope (every shape,
  both policies), and on the larger scopes under the slow marker;
* each of the review's eleven one-line bugs (tests/support/review_bugs.py) makes
  the tie fail, naming the scope and the action whose step differs;
* ``parsync prove``, ``parsync bmc`` and the gate's prove stage fail (exit 1, never
  "proved") on a patched protocol, and a report cannot be regenerated on one;
* a Z3 crash in an isolated test body is a clear failure, not a dead pytest.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
from pathlib import Path

import pytest

from parsync.cli import main
from parsync.model.protocol import ParSyncModel
from parsync.proofs.tie import (
    SHAPES,
    TieScope,
    check_scope,
    full_scopes,
    quick_scopes,
    run_tie,
    tie_for,
)
from tests.support import encoding_bugs
from tests.support.encoding_bugs import EncodingBug
from tests.support.isolated import run_isolated
from tests.support.review_bugs import BUGS, Bug, applied

#: the quick scope on which the tie first catches each bug (measured; the test
#: checks that scope, so a bug it no longer catches there fails the test)
CAUGHT_ON: dict[str, str] = {
    "gang-ledger-first-bucket": "pr/contract (depth <= 5)",
    "failover-resets-seq-0": "pr/reference (depth <= 6)",
    "propose-stamps-broker-seq": "pr/reference (depth <= 6)",
    "cas-first-bucket-only": "pr/reference (depth <= 6)",
    "room-ignores-size": "sizes-2/reference",
    "release-forgets-status": "pr/reference (depth <= 6)",
    "start-cycle-next-partition": "pr/reference (depth <= 6)",
    "no-reread-on-conflict": "pr/reference (depth <= 6)",
    "failover-resets-last-seq": "pr/reference (depth <= 6)",
    "retry-resets-attempts": "pr/reference (depth <= 6)",
    "rotation-half-speed": "pr/reference (depth <= 6)",
}


def _scope(label: str) -> TieScope:
    (ts,) = [t for t in quick_scopes() if t.label == label]
    return ts


def _names_action(problem: str, label: str, action: str) -> bool:
    """The first line of a tie problem names the scope and starts with the action (its
    model form ``Commit(...)`` or a sub-action ``Commit[Committed](...)``)."""
    first = problem.splitlines()[0]
    return (
        first.startswith(f"[{label}] ")
        and re.match(rf"\[[^\]]*\] {action}[\[(]", first) is not None
    )


# --- the unpatched model ----------------------------------------------------------------


def test_quick_scopes_cover_every_shape_and_both_policies() -> None:
    scopes = quick_scopes()
    assert {t.shape for t in scopes} == set(SHAPES)
    assert set(SHAPES) >= {"pr", "sizes", "three-partitions", "three-workers", "partition-map"}
    for shape in SHAPES:
        assert {t.policy for t in scopes if t.shape == shape} == {"reference", "contract"}
    by = {t.shape: t.config for t in scopes}
    assert any(n.size == 2 for n in by["sizes"].needs) and 2 in by["sizes"].capacities
    p3 = by["three-partitions"]
    assert p3.partitions == 3
    assert any(len(p3.members(p)) == 2 for p in range(3))  # two buckets in a partition
    w3 = by["three-workers"]
    assert w3.workers == 3 and w3.strategy == "latency-first"
    pm = by["partition-map"]
    assert pm.partition_map is not None and any(n.eligible is not None for n in pm.needs)
    # only the pr preset itself is bounded, and says so
    assert all((t.depth is None) == (t.shape != "pr") for t in scopes)


def test_the_model_agrees_with_the_encoding_on_every_quick_scope() -> None:
    res = run_tie(quick_scopes())
    assert res.ok, "\n".join(res.failures())
    assert len(res.scopes) == 10 and all(r.complete for r in res.scopes)
    for r in res.scopes:
        assert r.states > 100 and r.transitions > r.states, r
    assert "agree with model/protocol.py" in res.summary()
    doc = res.to_json()
    assert doc["ok"] and doc["transitions"] == res.transitions and len(doc["scopes"]) == 10


@pytest.mark.slow
@pytest.mark.parametrize("ts", full_scopes(), ids=lambda t: t.label)
def test_the_model_agrees_with_the_encoding_on_the_larger_scopes(ts: TieScope) -> None:
    r = check_scope(ts)
    assert r.ok, "\n".join(r.problems)


TIE_RECORD = Path(__file__).resolve().parent.parent / "bench" / "results" / "tie-full.json"


def test_the_recorded_exhaustive_tie_is_current_and_covers_the_checkers_states() -> None:
    """The slow scopes' tie, run once by ``python bench/bench_tie.py`` (about an hour of
    CPU) and recorded: it must be for today's sources, agree on every scope, and have
    explored exactly the states ``parsync check`` counts there (the manifest's figure
    for that preset and policy), so the tie covered the checker's whole state space."""
    from parsync.proofs.report import source_hash

    doc = json.loads(TIE_RECORD.read_text(encoding="utf-8"))
    assert doc["sources"] == source_hash(), (
        f"{TIE_RECORD.name} was recorded for other sources ({doc['sources']}, now "
        f"{source_hash()}); re-run `python bench/bench_tie.py` after a model change"
    )
    rows = {r["scope"]: r for r in doc["scopes"]}
    assert set(rows) == {t.label for t in full_scopes()}
    manifest = json.loads(
        (TIE_RECORD.parent.parent.parent / "spec" / "manifest.json").read_text(encoding="utf-8")
    )
    for ts in full_scopes():
        r = rows[ts.label]
        table = manifest["presets"] if ts.policy == "reference" else manifest["contract"]
        assert r["ok"] and r["complete"] and not r["problems"], r
        assert r["states"] == table[ts.name]["states"], (ts.label, r["states"])
        assert r["transitions"] >= r["states"] - 1, r
    assert doc["ok"]
    # docs/guide.md quotes the record's table: the same figures
    guide = (TIE_RECORD.parent.parent.parent / "docs" / "guide.md").read_text(encoding="utf-8")
    for r in doc["scopes"]:
        row = f"| {r['scope']} | {r['states']:,} | {r['transitions']:,} | "
        assert row in guide, f"docs/guide.md does not quote {row}"


# --- the review's eleven bugs -------------------------------------------------------------


def test_every_review_bug_has_an_expected_scope() -> None:
    assert len(BUGS) == 11 and set(CAUGHT_ON) == {b.name for b in BUGS}


@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.name)
def test_the_tie_catches_each_review_bug_naming_the_action(bug: Bug) -> None:
    label = CAUGHT_ON[bug.name]
    ts = _scope(label)
    clean = check_scope(ts, max_problems=1)  # the scope itself is fine without the bug
    assert clean.ok, clean.problems
    with applied(bug):
        r = check_scope(ts, max_problems=1)
    assert not r.ok and r.problems, f"{bug.name} ({bug.text}) not caught on {label}"
    p = r.problems[0]
    assert _names_action(p, label, bug.action), p
    # says what differs: a variable entry (Python says X, the encoding says Y), or that
    # one side has a step the other lacks
    assert (
        "Python says" in p
        or "Python step not in the encoding" in p
        or "encoding successor the Python model lacks" in p
    ), p
    assert "in the state reached by:" in p


def test_a_bug_fails_prove_with_exit_1_naming_the_action(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bug = next(b for b in BUGS if b.name == "release-forgets-status")
    with applied(bug):
        code = main(["prove", "--property", "PS-9", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "tie: FAILED on scope pr/reference (depth <= 6)" in out, out
    assert re.search(r"\] Release\(n=\d\): Python step not in the encoding", out), out
    assert "status[" in out and "Python says 0, the encoding says 2" in out
    assert "PROVED" not in out and "nothing is proved" in out
    # and the unpatched model proves (the tie is remembered for this process)
    assert main(["prove", "--property", "PS-9", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"^tie: \d+ transitions of 10 scopes .* agree with model/protocol\.py", out, re.M
    )


def test_a_bug_fails_prove_json_and_bmc(capsys: pytest.CaptureFixture[str]) -> None:
    bug = next(b for b in BUGS if b.name == "cas-first-bucket-only")
    with applied(bug):
        assert main(["prove", "--property", "PS-9", "--json", "--no-progress"]) == 1
        doc = json.loads(capsys.readouterr().out)
        assert doc["verdict"] == "fail" and not doc["tie"]["ok"]
        (bad,) = [s for s in doc["tie"]["scopes"] if not s["ok"]]
        assert bad["scope"] == "pr/reference (depth <= 6)"
        assert "] Commit(" in bad["problems"][0]
        assert main(["bmc", "--preset", "pr", "--depth", "2", "--no-progress"]) == 1
        out = capsys.readouterr().out
        assert "tie: FAILED" in out and "PASS" not in out


def test_a_report_cannot_be_regenerated_on_a_drifted_protocol(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "proofs.md"
    bug = next(b for b in BUGS if b.name == "room-ignores-size")
    with applied(bug):
        assert main(["prove", "--report", str(report), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "sizes-2/reference" in out and "] Propose(" in out
    assert not report.exists() and not report.with_suffix(".json").exists()


def test_the_report_carries_the_tie_certificate() -> None:
    from parsync.proofs.report import render, source_hash, to_json
    from parsync.records import proof_summary

    res = tie_for(None)
    assert res.ok and res.sources == source_hash()
    text = render([], None, tie=res)
    assert "## Tie to the checked model" in text
    assert f"{res.transitions} transitions from {res.states} states of 10 scopes" in text
    assert f"sources hash `{res.sources}`" in text
    for r in res.scopes:
        assert f"| {r.scope} | {r.shape} | {r.states} | {r.transitions} | agree |" in text
    doc = to_json([], None, tie=res)
    assert doc["tie"]["ok"] and doc["tie"]["sources"] == doc["sources_hash"]
    summ = proof_summary(doc)
    assert summ["tie"] == {
        "ok": True,
        "sources": res.sources,
        "states": res.states,
        "transitions": res.transitions,
        "scopes": 10,
    }


def test_the_gate_prove_stage_fails_on_a_drifted_protocol() -> None:
    from parsync.gate import FAILED, GateOptions, run_gate

    bug = next(b for b in BUGS if b.name == "failover-resets-seq-0")
    skip = ("check", "liveness", "conformance", "traces")
    with applied(bug):
        g = run_gate(GateOptions(skip=skip, recheck=True))
    (st,) = g.stages
    assert st.stage == "prove" and st.verdict == FAILED, st.summary
    assert st.headline.startswith("[pr/reference (depth <= 6)] Failover(): "), st.headline
    assert "nothing is proved" in st.summary
    assert [c.name for c in st.cases] == ["Tie to model/protocol.py"]


def test_the_nightly_gate_also_ties_the_larger_scopes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``gate --preset nightly`` ties ``nightly_scopes`` after the quick ones (replaced
    here by one quick scope, so the test takes seconds), and a difference found there
    fails the stage before any proof, naming the scope."""
    from parsync.gate import FAILED, GateOptions, run_gate
    from parsync.proofs import tie as tie_mod

    assert [t.label for t in tie_mod.nightly_scopes()] == [
        "capacity/reference",
        "three-partitions/reference",
        "three-partitions/contract",
    ]
    extra = [dataclasses.replace(_scope("p3-gang/reference"), name="extra")]
    monkeypatch.setattr(tie_mod, "nightly_scopes", lambda: extra)
    skip = ("check", "liveness", "conformance", "traces")
    quick = tie_mod.tie_for(None)
    g = run_gate(GateOptions(preset="nightly", skip=skip, recheck=True, budgets={"prove": 1e-3}))
    (st,) = g.stages
    assert st.counts["tie_transitions"] > quick.transitions, st.counts
    pr = run_gate(GateOptions(preset="pr", skip=skip, recheck=True, budgets={"prove": 1e-3}))
    assert pr.stages[0].counts["tie_transitions"] == quick.transitions  # pr: the quick tie only

    real = tie_mod.run_tie

    def differs_on_extra(scopes: list[TieScope], **kw: object) -> object:
        res = real(scopes, **kw)  # type: ignore[arg-type]
        if scopes is extra:  # the nightly scopes: report a difference there
            res.scopes[0].problems.append("[extra/reference] Commit(m): doctored difference")
        return res

    monkeypatch.setattr(tie_mod, "run_tie", differs_on_extra)
    bad = run_gate(GateOptions(preset="nightly", skip=skip, recheck=True))
    (st,) = bad.stages
    assert st.verdict == FAILED and "nothing is proved" in st.summary, st.summary
    assert "[extra/reference] Commit(m)" in st.headline, st.headline


def test_a_variant_is_tied_with_its_switch_on_both_sides() -> None:
    ts = dataclasses.replace(_scope("p3-gang/reference"), variant="rotation-skips-partition")
    r = check_scope(ts)
    assert r.ok, r.problems
    assert ParSyncModel(ts.config, ts.variant).v_rotation and r.transitions > 100


# --- used-counts-claims: the encoding's claim counter (variant only) --------------------------

COUNT_CLAIMS = "used-counts-claims"


@pytest.mark.parametrize("policy", ["reference", "contract"])
def test_the_claim_counter_variant_is_tied_on_the_sizes_shape(policy: str) -> None:
    """sizes 2, capacity 2: a size-2 claim makes the counter (1) differ from used (2), and
    the reads report the counter on both sides."""
    ts = dataclasses.replace(_scope(f"sizes-2/{policy}"), variant=COUNT_CLAIMS)
    r = check_scope(ts)
    assert r.ok, "\n".join(r.problems)
    assert ParSyncModel(ts.config, ts.variant).v_count_claims and r.transitions > 1000
    # the counter is a state entry of the variant only
    from parsync.proofs.tie import Relation

    names = {n for n, _ in Relation(ts.model(), 1, 1).keys}
    assert "nclaims" in names
    assert "nclaims" not in {n for n, _ in Relation(_scope(f"sizes-2/{policy}").model(), 1, 1).keys}


@pytest.mark.slow
def test_the_claim_counter_variant_is_tied_on_the_capacity_preset() -> None:
    """Every reachable state of ``capacity`` (50,627, about 25 s). The contract's (495,510
    states, about 9 CPU minutes) agreed too when measured, and is left out of the suite."""
    (ts,) = [t for t in full_scopes() if t.name == "capacity" and t.policy == "reference"]
    r = check_scope(dataclasses.replace(ts, variant=COUNT_CLAIMS))
    assert r.ok, "\n".join(r.problems)


@pytest.mark.parametrize("bug", encoding_bugs.BUGS, ids=lambda b: b.name)
def test_the_tie_catches_a_wrong_claim_counter_in_the_encoding(bug: EncodingBug) -> None:
    for policy in ("reference", "contract"):
        label = f"sizes-2/{policy}/{COUNT_CLAIMS}"
        ts = dataclasses.replace(_scope(f"sizes-2/{policy}"), variant=COUNT_CLAIMS)
        with encoding_bugs.applied(bug):
            r = check_scope(ts, max_problems=1)
        assert not r.ok and r.problems, f"{bug.name} ({bug.text}) not caught on {label}"
        p = r.problems[0]
        assert _names_action(p, label, bug.action), p
        assert "Python says" in p and ("nclaims[" in p or "vused[" in p), p


# --- Z3 crash isolation ---------------------------------------------------------------------


def _dies_of_sigsegv() -> None:
    import faulthandler

    faulthandler.disable()  # pytest's handler would print this deliberate crash's stack
    os.kill(os.getpid(), signal.SIGSEGV)


def _fails() -> None:
    assert 1 + 1 == 3, "the body's own assertion"


def test_a_crash_in_an_isolated_body_is_a_clear_failure() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"Z3 crashed: .* died of SIGSEGV"):
        run_isolated(_dies_of_sigsegv)
    with pytest.raises(pytest.fail.Exception, match="the body's own assertion"):
        run_isolated(_fails)
    run_isolated(lambda: None)


def test_sources_edited_while_proving_fail_the_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report's hash and its tie certificate's are the same sources, or nothing is
    claimed (the report is written after the same check)."""
    import parsync.proofs.tie as tie_mod
    from parsync.proofs.tie import TieResult

    stale = TieResult([], 0.0, "sha256:" + "0" * 64)  # a tie checked at other sources
    monkeypatch.setattr(tie_mod, "tie_for", lambda variant=None, progress=None: stale)
    assert main(["prove", "--property", "PS-9", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "the sources changed while proving" in out and "PROVED" not in out
