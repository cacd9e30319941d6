"""``parsync gate``: one verdict, three report formats, budgets and set-up errors.

The gate is run as users run it (the ``parsync`` entry point in a subprocess)
wherever the exit code or the console matters, and in-process where only the
result is inspected. The full ``pr`` gate with the reference (about a minute
here) is measured by bench/bench_gate.py; these tests skip the stages that
other tests already cover at full size and keep the rest real.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from parsync.gate import (
    ERROR,
    FAILED,
    INCOMPLETE,
    PASSED,
    SAFE,
    SETUP_ERROR,
    UNSAFE,
    Case,
    GateOptions,
    GateResult,
    GateUsageError,
    StageResult,
    conformance_result,
    gate_verdict,
    junit_xml,
    markdown,
    parse_budget,
    run_gate,
)
from parsync.model.properties import PROPERTIES
from parsync.refsched import REFERENCE

MUTANT = "parsync.refsched.mutants.priority_ignored"


def gate(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Path]]:
    reports = {k: tmp_path / f"gate.{k}" for k in ("xml", "json", "md")}
    cmd = [
        sys.executable,
        "-m",
        "parsync.cli",
        "gate",
        "--no-progress",
        f"--junit={reports['xml']}",
        f"--json={reports['json']}",
        f"--markdown={reports['md']}",
        f"--replay-dir={tmp_path / 'replays'}",
        *args,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert "Traceback" not in r.stderr, r.stderr
    return r, reports


def junit_cases(path: Path) -> dict[str, dict[str, str | None]]:
    """{suite/case name: {"failure": message or None, "skipped": ..., "error": ...}}"""
    out: dict[str, dict[str, str | None]] = {}
    for suite in ET.parse(path).getroot().iter("testsuite"):
        for tc in suite.iter("testcase"):
            kinds = {child.tag: child.get("message") for child in tc}
            out[f"{suite.get('name')}/{tc.get('name')}"] = {
                k: kinds.get(k) for k in ("failure", "skipped", "error")
            }
    return out


def test_the_reference_is_safe_with_every_report(tmp_path: Path) -> None:
    # --recheck: prove runs for real here (the recorded stage is tests/test_gate_records.py)
    r, rep = gate(
        tmp_path,
        "--preset=pr",
        f"--impl={REFERENCE}",
        "--skip=check",
        "--skip=liveness",
        "--recheck",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SAFE to merge" in r.stdout
    doc = json.loads(rep["json"].read_text())
    assert doc["verdict"] == SAFE and doc["format"] == "parsync-gate/1"
    assert [s["stage"] for s in doc["stages"]] == ["prove", "conformance"]
    assert all(s["verdict"] == PASSED for s in doc["stages"])
    prove = doc["stages"][0]
    assert prove["counts"]["obligations"] == prove["counts"]["proved"] > 400
    cases = junit_cases(rep["xml"])
    for p in PROPERTIES:  # every property is its own JUnit test case, passed
        assert cases[f"parsync.prove/{p.id} {p.name}"] == {
            "failure": None,
            "skipped": None,
            "error": None,
        }
    assert cases["parsync.conformance/test_exhaustive_lockstep"]["failure"] is None
    md = rep["md"].read_text()
    assert "safe to merge" in md and "| prove | ✅ pass |" in md
    assert "counterexample" not in md


def test_a_mutant_is_unsafe_and_the_comment_shows_the_interleaving(tmp_path: Path) -> None:
    r, rep = gate(tmp_path, f"--impl={MUTANT}", "--skip=check", "--skip=prove", "--skip=liveness")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "UNSAFE" in r.stdout and "PS-7 PriorityOnConflict violated at step 7" in r.stdout
    doc = json.loads(rep["json"].read_text())
    assert doc["verdict"] == UNSAFE
    (conf,) = doc["stages"]
    assert conf["verdict"] == FAILED
    assert conf["headline"] == "PS-7 PriorityOnConflict violated at step 7"
    # the quick stage (the walk's first steps) finds it first
    failure = junit_cases(rep["xml"])["parsync.conformance/test_quick_lockstep"]["failure"]
    assert failure == "PS-7 PriorityOnConflict violated at step 7"
    md = rep["md"].read_text()
    assert "unsafe: do not merge" in md
    assert "7. broker_step()" in md
    assert list((tmp_path / "replays").glob("*.json")), "the replay file is kept"
    # the comment's replay command is the installed form, and copying it reruns the failure
    (line,) = [ln for ln in md.splitlines() if ln.startswith("replay: ")]
    command = line.removeprefix("replay: ")
    assert command.startswith(
        f"python -m pytest --pyargs parsync.conformance --parsync-impl={MUTANT} "
        "--parsync-replay=replays/"
    ), command
    assert command.endswith(" -k test_replay")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    again = subprocess.run(
        shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert again.returncode == 1, again.stdout + again.stderr
    assert "PS-7 PriorityOnConflict violated at step 7" in again.stdout
    # the interleaving as a sequence diagram, from the replay file
    assert "```mermaid\nsequenceDiagram\n" in md and "    Note over B: 7. broker_step\n" in md
    assert "Note over B: FAILED PS-7 PriorityOnConflict violated at step 7" in md


def test_a_bad_design_fails_the_check_with_its_shortest_counterexample(tmp_path: Path) -> None:
    r, rep = gate(tmp_path, "--variant=priority-ignored", "--skip=prove", "--skip=liveness")
    assert r.returncode == 1
    doc = json.loads(rep["json"].read_text())
    (check,) = doc["stages"]
    assert check["verdict"] == FAILED
    # the contract by default: both proposals reach the broker's inbox (two Delivers)
    assert check["headline"] == "PS-7 PriorityOnConflict violated after 7 steps (shortest)"
    assert check["data"]["violation"]["length"] == 7
    cases = junit_cases(rep["xml"])
    assert cases["parsync.check/PS-7 PriorityOnConflict"]["failure"] == check["headline"]
    # the other properties were not decided (the search stopped): skipped, not passed
    assert cases["parsync.check/PS-1 NoOvercommit"]["skipped"]
    md = rep["md"].read_text()
    assert "7. Commit(Proposal(w0 n0 prio=1" in md
    # the initial state in full once, collapsed; the sequence diagram; why it fails
    assert "<details><summary>initial state (every variable)</summary>" in md
    assert "       workers[1].known = {}" in md
    assert "```mermaid\nsequenceDiagram\n" in md and "W0->>B: 2. Propose n0" in md
    assert "**PS-7 PriorityOnConflict: committed n0 (w0, priority 1) while n1" in md
    visible, depth = [], 0
    for line in md.splitlines():
        depth += line.count("<details>") - line.count("</details>")
        if depth == 0:
            visible.append(line)
    assert len(visible) < 60, "short enough for a pull-request comment (the rest collapsed)"
    assert len(md) < 8000


def test_a_bad_design_fails_the_proofs(tmp_path: Path) -> None:
    g = run_gate(GateOptions(variant="priority-ignored", skip=("check", "liveness")))
    assert g.verdict == UNSAFE
    (prove,) = g.stages
    assert prove.verdict == FAILED
    failed = [c.name for c in prove.cases if c.failure]
    assert "PS-7 PriorityOnConflict" in failed
    assert prove.headline.startswith(failed[0])


@pytest.fixture
def calm_liveness_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    """Liveness on the small scope without faults (seconds, not the gate's minute)."""
    import dataclasses

    import parsync.gate
    from parsync.model.config import Faults
    from parsync.model.presets import get_preset

    calm = dataclasses.replace(get_preset("small").config, faults=Faults())
    monkeypatch.setattr(parsync.gate, "_liveness_scope", lambda _lv, _preset: ("calm", calm))


def test_liveness_stage_passes_and_fails_with_a_lasso(calm_liveness_scope: None) -> None:
    ok = run_gate(GateOptions(skip=("check", "prove")))
    (live,) = ok.stages
    assert live.stage == "liveness" and live.verdict == PASSED, live.summary
    assert live.counts["states"] > 1000
    assert [c.name for c in live.cases] == [
        "PS-L1 PartitionRefresh",
        "PS-L2 CycleTermination",
        "PS-L3 AdaptiveStability",
    ]
    bad = run_gate(GateOptions(variant="rotation-skips-partition", skip=("check", "prove")))
    (live,) = bad.stages
    assert bad.verdict == UNSAFE and live.verdict == FAILED
    assert live.headline.startswith("PS-L1 violated (worker")
    assert "-- cycle repeats: steps" in live.counterexample
    failed = [c.name for c in live.cases if c.failure]
    assert failed and failed[0] == "PS-L1 PartitionRefresh"


def test_out_of_budget_blocks_a_pr_but_not_a_nightly(tmp_path: Path) -> None:
    # --recheck: a current record would serve the check without running it
    opts = {"skip": ("prove", "liveness"), "budgets": {"check": 0.3}, "recheck": True}
    pr = run_gate(GateOptions(preset="pr", **opts))  # type: ignore[arg-type]
    (check,) = pr.stages
    assert check.verdict == INCOMPLETE and 0 < check.counts["states"] < 2_070_097
    assert pr.verdict == UNSAFE
    xml = ET.fromstring(junit_xml(pr))
    assert xml.find(".//error") is not None, "an incomplete pr stage shows as an error"
    nightly = run_gate(GateOptions(preset="nightly", **opts))  # type: ignore[arg-type]
    assert nightly.stages[0].verdict == INCOMPLETE and nightly.verdict == SAFE
    assert "out of budget (reported, not failed): check" in markdown(nightly)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--impl=no_such_module_xyz"], "cannot import implementation module 'no_such_module_xyz'"),
        (["--trace=does/not/*.jsonl"], "--trace 'does/not/*.jsonl' matches no file"),
        (["--budget=check=soon"], "expected a number of seconds in 'check=soon'"),
        (["--budget=lunch=5"], "STAGE one of check, liveness, prove"),
        (["--skip=lunch"], "--skip 'lunch': unknown stage"),
        (["--preset=small"], "unknown gate preset 'small'"),
        (["--variant=no-such-variant"], "no-such-variant"),
        (["--junit=/no/such/dir/x.xml"], "directory /no/such/dir does not exist"),
        (
            ["--skip=check", "--skip=liveness", "--skip=prove"],
            "every stage is skipped",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "parsync.cli", "gate", "--no-progress", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("parsync: error:")
    assert not list(tmp_path.iterdir()), "nothing is written on a usage error"


def test_parse_budget() -> None:
    assert parse_budget("prove=2.5") == ("prove", 2.5)
    for bad in ("prove", "prove=0", "prove=-1", "=3"):
        with pytest.raises(ValueError):
            parse_budget(bad)


def _result(*stages: StageResult, incomplete_fails: bool = True) -> GateResult:
    return GateResult(
        SAFE,
        "pr",
        None,
        [],
        None,
        list(stages),
        1.0,
        incomplete_fails,
        {"spec_hash": "sha256:0123456789abcdef", "z3": "4", "python": "3"},
    )


def test_an_error_stage_is_a_junit_error_and_blocks() -> None:
    from parsync.gate import stage_blocks

    s = StageResult("conformance", ERROR, 1.0, {}, "pytest exited 4: bad option")
    assert stage_blocks(s, incomplete_fails=False)
    root = ET.fromstring(junit_xml(_result(s)))
    err = root.find(".//testcase[@name='stage']/error")
    assert err is not None and err.get("message") == "pytest exited 4: bad option"


def _case(name: str, **kw: str) -> Case:
    return Case(name, 0.1, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "cases", "reason"),
    [
        (4, [], "pytest exited 4 (usage error): ERROR: unrecognized arguments: --nope"),
        (3, [], "pytest exited 3 (internal error): ERROR: unrecognized arguments: --nope"),
        (5, [], "pytest exited 5 (no tests collected)"),
        (
            2,
            [_case("test_conformance", error="parsync: cannot import parsync.conformance.x")],
            "test_conformance: parsync: cannot import parsync.conformance.x",
        ),
        (
            1,
            [_case("test_initial_state", error="failed on setup with ValueError")],
            "test_initial_state: failed on setup with ValueError",
        ),
        (0, [_case("test_replay", skipped="skipped")], "pytest exited 0 (no conformance test ran)"),
    ],
)
def test_a_set_up_error_in_the_suite_is_error_not_unsafe(
    code: int, cases: list[Case], reason: str
) -> None:
    """pytest ending in a usage, internal or collection error, an import error, a fixture
    error or running nothing - without a failing test - is a set-up error (exit 2)."""
    stderr = "ERROR: unrecognized arguments: --nope\n" if code in (3, 4) else ""
    s = conformance_result(["pytest"], code, "", stderr, cases, 1.0)
    assert s.verdict == ERROR
    assert s.summary.startswith("set-up error: ") and reason in s.summary, s.summary
    g = _result(s)
    g.verdict = gate_verdict(g.stages, incomplete_fails=True)
    assert g.verdict == SETUP_ERROR and not g.ok
    md = markdown(g)
    assert "set-up error: the gate could not decide" in md and "unsafe" not in md


def test_a_failing_conformance_test_is_unsafe_even_beside_a_set_up_error() -> None:
    failing = [_case("test_exhaustive_lockstep", failure="PS-7 violated at step 5")]
    s = conformance_result(["pytest"], 1, "", "", failing, 1.0)
    assert s.verdict == FAILED and s.headline == "PS-7 violated at step 5"
    broken = StageResult("traces", ERROR, 1.0, {}, "set-up error: x")
    assert gate_verdict([s, broken], incomplete_fails=True) == UNSAFE
    assert gate_verdict([broken], incomplete_fails=True) == SETUP_ERROR
    passed = conformance_result(["pytest"], 0, "", "", [_case("test_initial_state")], 1.0)
    assert passed.verdict == PASSED and gate_verdict([passed], True) == SAFE


def test_a_suite_that_cannot_import_exits_2_not_unsafe(tmp_path: Path) -> None:
    """The real case: the suite's test module fails to import in the gate's pytest."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "hypothesis.py").write_text("raise ImportError('no hypothesis here')\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(
                None,
                [
                    str(shadow),
                    os.environ.get("PYTHONPATH"),
                    str(Path(__file__).resolve().parent.parent),
                ],
            )
        ),
    }
    js = tmp_path / "gate.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "parsync.cli",
            "gate",
            "--no-progress",
            f"--json={js}",
            f"--impl={REFERENCE}",
            "--skip=check",
            "--skip=prove",
            "--skip=liveness",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert "SET-UP ERROR" in r.stdout and "UNSAFE" not in r.stdout
    doc = json.loads(js.read_text())
    assert doc["verdict"] == SETUP_ERROR
    (conf,) = doc["stages"]
    assert conf["verdict"] == ERROR
    assert "cannot import parsync.conformance.test_conformance" in conf["summary"], conf["summary"]


def test_markdown_truncates_a_long_counterexample() -> None:
    cex = "\n".join(f"  {i}. Step" for i in range(1, 200))
    s = StageResult("check", FAILED, 1.0, {"states": 3}, "x", cex, "PS-1 violated")
    md = markdown(_result(s))
    assert "(159 more lines in the JSON report)" in md
    assert len(md.splitlines()) < 70


def test_preflight_rejects_before_running_anything() -> None:
    with pytest.raises(GateUsageError, match="matches no file"):
        run_gate(GateOptions(traces=["/nonexistent/*.jsonl"]))
