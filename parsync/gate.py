"""``parsync gate``: one pre-merge verdict from every engine, with reports for CI.

The gate runs, in order, the stages a change must pass before it merges:

========== =================================================================
stage      what it runs
========== =================================================================
check      exhaustive BFS of the preset's scope: PS-1..PS-10, coverage, witnesses
liveness   PS-L1..PS-L3 under fairness (the broker strongly fair) on the same scope (when available)
prove      the Z3 inductive proofs of PS-1..PS-10 for every size, non-vacuity
conformance ``pytest --pyargs parsync.conformance --parsync-impl=MODULE`` in a subprocess
           (``--impl`` only)
traces     each trace file validated against the model (``--trace GLOB`` only)
========== =================================================================

The check and prove stages run the model under ``--policy`` (the contract by
default: every scheduling policy ADR-0031 allows; on ``pr``, the preset's
contract scope, ``Preset.config_for``); liveness is about the reference's
heuristics and runs them under either policy.

The check, liveness and prove stages are about the model, which does not
change between a scheduler's pull requests: when the installed model's spec
hash (check, liveness) or sources hash (prove) equals the one its recorded
results were made from (:mod:`parsync.records`: ``spec/manifest.json`` and
``docs/proofs.json``, shipped as package data), the stage reports the recorded
verdict without re-running (``recorded: pass (...) for sources <hash>``). It
is re-run when the hash differs, when no record ships with the install, for a
``--variant`` (a different model) and with ``--recheck``; the reports say
which, and why.

Each stage has a time budget from the gate profile of the preset (overridable
with ``--budget STAGE=SECONDS``). A stage that runs out of budget is
*incomplete*; the ``pr`` profile treats that as a failure (a merge must not go
in on a search that did not finish), the ``nightly`` profile reports it and
lets the other stages decide.

The verdict is *safe* (exit 0) only when every stage that ran passed;
*unsafe* (exit 1) when a stage failed (a counterexample, a failing conformance
test, an out-of-budget search the profile does not accept). Usage and set-up
errors (an unknown preset, an implementation that does not load, a glob that
matches no trace, a report path that cannot be written) exit 2 before any stage
runs; a set-up error found while a stage runs (the conformance suite's pytest
ending in a usage, internal or collection error, or collecting nothing, without
a failing test; or a stage that raises instead of deciding: ``run_stage``) is
the verdict *error*, also exit 2: the gate could not decide, which is not the
same as a change found unsafe. Ctrl-C stops the stage that is running, the
remaining stages do not start, and the verdict is *interrupted* (exit 3), never
*unsafe* or *safe*; the reports are still written, with what finished.

Reports: a rich console table (progress on stderr while it runs), JUnit XML
(one test case per property per stage, so CI systems show each property), JSON
for machines, and a short Markdown summary for a pull-request comment that
includes the first counterexample when there is one.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parsync.errors import EXIT_FAIL, EXIT_OK, EXIT_STOPPED, EXIT_USAGE, UsageError
from parsync.model.properties import PROPERTIES

SAFE = "safe"
UNSAFE = "unsafe"
SETUP_ERROR = "error"  # the gate could not decide (exit 2): a set-up error in a stage
GATE_ERROR = SETUP_ERROR  # the same verdict, under the name this branch used first
INTERRUPTED = "interrupted"  # Ctrl-C stopped the gate (exit 3); also a stage verdict

# stage verdicts
PASSED = "pass"
FAILED = "fail"
INCOMPLETE = "incomplete"
ERROR = "error"

STAGES = ("check", "liveness", "prove", "conformance", "traces")


class GateUsageError(UsageError):
    """Bad usage or set-up: the CLI prints it as one line and exits 2."""


@dataclass(frozen=True)
class GateProfile:
    """How hard the gate looks for one preset, and how it treats a budget overrun."""

    preset: str
    budgets: dict[str, float]  # seconds per stage
    incomplete_fails: bool
    summary: str


PROFILES: dict[str, GateProfile] = {
    "pr": GateProfile(
        "pr",
        {"check": 600, "liveness": 300, "prove": 300, "conformance": 900, "traces": 600},
        incomplete_fails=True,
        summary="pre-merge: every stage must finish within its budget",
    ),
    "nightly": GateProfile(
        "nightly",
        {"check": 3600, "liveness": 1800, "prove": 900, "conformance": 3600, "traces": 3600},
        incomplete_fails=False,
        summary="nightly: a stage out of budget is reported, not failed",
    ),
}


# --- results -----------------------------------------------------------------------


@dataclass
class Case:
    """One JUnit test case: a property (or a test, or a trace file) within a stage."""

    name: str
    seconds: float = 0.0
    failure: str | None = None  # the message when the case failed
    detail: str = ""  # the body of the failure (a counterexample, say)
    skipped: str | None = None  # why the case was not decided
    error: str | None = None  # a set-up error (collection, fixture), not a failure


@dataclass
class StageResult:
    stage: str
    verdict: str  # pass | fail | incomplete | error
    seconds: float
    counts: dict[str, Any]
    summary: str  # one line
    counterexample: str = ""  # the first counterexample, rendered (empty when none)
    headline: str = ""  # what the counterexample shows, one line
    cases: list[Case] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    # the counterexample as parsync.render's parts, for Markdown: (initial state lines,
    # step lines, reasons, Mermaid sequence diagram); empty when there is none
    rendered: tuple[list[str], list[str], list[str], str] | None = None
    diagram: str = ""  # a Mermaid sequence diagram of another stage's counterexample
    #: set when the result is a recorded one, not run: {"source", "hash", "entry"}
    recorded: dict[str, Any] | None = None
    #: why a stage that could have been recorded was run (empty when not applicable)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "verdict": self.verdict,
            "run": "recorded" if self.recorded is not None else "ran",
            "recorded": self.recorded,
            "note": self.note or None,
            "seconds": round(self.seconds, 3),
            "counts": self.counts,
            "summary": self.summary,
            "headline": self.headline or None,
            "counterexample": self.counterexample or None,
            "cases": [
                {
                    "name": c.name,
                    "seconds": round(c.seconds, 3),
                    "result": "fail"
                    if c.failure
                    else ("error" if c.error else ("skipped" if c.skipped else "pass")),
                    "message": c.failure or c.error or c.skipped,
                }
                for c in self.cases
            ],
            "data": self.data,
        }


@dataclass
class GateResult:
    verdict: str  # safe | unsafe | error
    preset: str
    impl: str | None
    traces: list[str]
    variant: str | None
    stages: list[StageResult]
    seconds: float
    incomplete_fails: bool
    versions: dict[str, str]
    policy: str = "contract"  # of the check and prove stages, and of conformance

    @property
    def ok(self) -> bool:
        return self.verdict == SAFE

    @property
    def exit_code(self) -> int:
        """0 safe, 1 unsafe, 2 a stage could not run (error), 3 interrupted."""
        return {SAFE: EXIT_OK, SETUP_ERROR: EXIT_USAGE, INTERRUPTED: EXIT_STOPPED}.get(
            self.verdict, EXIT_FAIL
        )

    def first_failure(self) -> StageResult | None:
        for s in self.stages:
            if s.verdict in (FAILED, ERROR) or (s.verdict == INCOMPLETE and self.incomplete_fails):
                return s
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "parsync-gate/1",
            "verdict": self.verdict,
            "preset": self.preset,
            "impl": self.impl,
            "traces": self.traces,
            "variant": self.variant,
            "policy": self.policy,
            "incomplete_fails": self.incomplete_fails,
            "seconds": round(self.seconds, 3),
            "versions": self.versions,
            "stages": [s.to_json() for s in self.stages],
        }


def stage_blocks(s: StageResult, incomplete_fails: bool) -> bool:
    """Whether a stage's verdict keeps the change from merging (unsafe or undecided)."""
    return s.verdict in (FAILED, ERROR) or (s.verdict == INCOMPLETE and incomplete_fails)


# --- options -----------------------------------------------------------------------


@dataclass
class GateOptions:
    preset: str = "pr"
    impl: str | None = None
    traces: list[str] = field(default_factory=list)  # globs, as given
    variant: str | None = None
    skip: tuple[str, ...] = ()
    budgets: dict[str, float] = field(default_factory=dict)  # overrides
    replay_dir: str = ".parsync/replays"
    seed: int = 0
    recheck: bool = False  # re-run check, liveness and prove even when a record matches
    # the policy of the check and prove stages, and what the conformance stage accepts
    # (--parsync-policy); liveness is about the reference's heuristics and keeps it
    policy: str = "contract"


def parse_budget(text: str) -> tuple[str, float]:
    """``STAGE=SECONDS`` -> (stage, seconds); ValueError with a one-line reason."""
    stage, sep, value = text.partition("=")
    if not sep or stage not in STAGES:
        raise ValueError(
            f"expected STAGE=SECONDS with STAGE one of {', '.join(STAGES)}, got {text!r}"
        )
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"expected a number of seconds in {text!r}") from None
    if not seconds > 0:
        raise ValueError(f"a budget must be positive, got {text!r}")
    return stage, seconds


def expand_traces(globs: list[str]) -> list[str]:
    """Every file the globs match, sorted, without duplicates; a glob that matches nothing
    is a usage error (a CI typo must not turn into a silently skipped stage)."""
    files: list[str] = []
    for g in globs:
        hits = sorted(p for p in glob.glob(g, recursive=True) if os.path.isfile(p))
        if not hits:
            raise GateUsageError(f"--trace {g!r} matches no file")
        files.extend(h for h in hits if h not in files)
    return files


def preflight(opts: GateOptions, report_paths: list[str]) -> tuple[GateProfile, list[str]]:
    """Every check that can fail before a stage runs (exit 2, nothing half-done)."""
    try:
        profile = PROFILES[opts.preset]
    except KeyError:
        raise GateUsageError(
            f"unknown gate preset {opts.preset!r}; known: {', '.join(PROFILES)}"
        ) from None
    for s in opts.skip:
        if s not in STAGES:
            raise GateUsageError(f"--skip {s!r}: unknown stage; stages: {', '.join(STAGES)}")
    if opts.variant is not None:
        from parsync.model.variants import get_variant

        try:
            get_variant(opts.variant)
        except KeyError as e:
            raise GateUsageError(e.args[0]) from None
    from parsync.outputs import check_output_path

    for p in report_paths:
        try:
            check_output_path(p, "report")
        except UsageError as e:
            raise GateUsageError(str(e)) from None
    if opts.impl is not None and "conformance" not in opts.skip:
        from parsync.conformance.adapter import AdapterError, load_adapter

        try:
            ad = load_adapter(opts.impl)
        except AdapterError as e:
            raise GateUsageError(str(e)) from None
        try:
            ad.close()
        except Exception:  # noqa: BLE001 - a bad close shows up again in the stage
            pass
    traces = expand_traces(opts.traces) if "traces" not in opts.skip else []
    return profile, traces


# --- stages ------------------------------------------------------------------------

Tick = Callable[[str], None]


def _property_cases(broken: dict[str, str], verdict: str, detail: str) -> list[Case]:
    """One case per safety property: failed when broken, skipped when not decided."""
    cases = []
    for p in PROPERTIES:
        c = Case(f"{p.id} {p.name}")  # decided together: the time is the stage's
        if p.id in broken:
            c.failure = broken[p.id]
            c.detail = detail
        elif verdict == INCOMPLETE:
            c.skipped = "the search stopped on its budget before deciding this property"
        elif verdict == INTERRUPTED:
            c.skipped = "interrupted (Ctrl-C) before deciding this property"
        elif verdict in (FAILED, ERROR):
            c.skipped = "not decided: the search stopped at the first counterexample"
        cases.append(c)
    return cases


def run_check(opts: GateOptions, budget: float, tick: Tick) -> StageResult:
    from parsync.engines.checker import INCOMPLETE as C_INCOMPLETE
    from parsync.engines.checker import PASS, VACUOUS, Checker, Progress
    from parsync.model.presets import get_preset
    from parsync.model.properties import get_property
    from parsync.model.protocol import ParSyncModel

    # the preset's scope under the policy (a smaller one under the contract for pr)
    model = ParSyncModel(
        get_preset(opts.preset).config_for(opts.policy), opts.variant, policy=opts.policy
    )

    from parsync.progress import known_states, search_text

    total = None
    if opts.variant is None:
        total = known_states(model.config.describe(), policy=opts.policy)

    def cb(p: Progress) -> None:
        tick(search_text(p.states, p.transitions, p.depth, p.queue, p.seconds, total))

    r = Checker(model, symmetry=True, max_seconds=budget, progress=cb, progress_every=2_000).run()
    counts = {"states": r.states, "transitions": r.transitions, "depth": r.depth}
    verdict = {PASS: PASSED, C_INCOMPLETE: INCOMPLETE}.get(r.verdict, FAILED)
    if r.stop_reason == "interrupted":
        verdict = INTERRUPTED
    broken: dict[str, str] = {}
    cex = headline = ""
    rendered = None
    if r.violation is not None:
        from parsync.diagram import events, mermaid

        v = r.violation
        names = ", ".join(f"{i} {get_property(i).name}" for i in v.property_ids)
        headline = f"{names} violated after {len(v.trace.actions)} steps (shortest)"
        parts = v.trace.rendered(model=model, property_ids=v.property_ids)
        cex = parts.text()
        diagram = mermaid(model.W, events(v.trace.steps(), parts.reasons))
        steps = [x for st in parts.steps for x in st]
        rendered = (parts.init, steps, parts.reasons, diagram)
        for i in v.property_ids:
            broken[i] = headline
    cases = _property_cases(broken, verdict, cex)
    cov = Case("coverage and witnesses", 0.0)
    if r.verdict == VACUOUS:
        what = r.unfired + r.missing_witnesses
        cov.failure = f"vacuous scope: never fired or reached: {', '.join(what)}"
        headline = headline or cov.failure
    elif r.verdict != PASS:
        cov.skipped = "decided only on a complete search"
    cases.append(cov)
    if r.verdict == PASS:
        summary = f"{r.states:,} states, {r.transitions:,} transitions, every property holds"
    elif r.verdict == C_INCOMPLETE:
        summary = f"stopped after {r.states:,} states: {r.stop_reason}"
        if verdict == INTERRUPTED:
            summary = f"interrupted after {r.states:,} states, depth {r.depth}; no violation so far"
    else:
        summary = headline
    return StageResult(
        "check", verdict, r.seconds, counts, summary, cex, headline, cases, r.to_json(), rendered
    )


def _goal_name(pid: str) -> str:
    """``PS-1 NoOvercommit``; proof-only goals (TypeOK) keep their own name."""
    from parsync.model.properties import get_property

    try:
        return f"{pid} {get_property(pid).name}"
    except KeyError:
        return pid


def run_prove(opts: GateOptions, budget: float, tick: Tick) -> StageResult:
    from parsync.proofs.proofs import ALL_GOAL_IDS, PROVED, PropertyResult, Prover

    t0 = time.perf_counter()
    from parsync.proofs.solving import install_interrupt

    install_interrupt()  # Ctrl-C in Z3 is a KeyboardInterrupt (the stage is interrupted)
    from parsync.proofs.report import to_json
    from parsync.proofs.tie import tie_for

    # first the tie: the proofs are about the encoding, which must be model/protocol.py's
    # relation on every quick scope (and, nightly, the larger ones), or nothing is proved
    tick("tie to model/protocol.py")

    def tie_tick(label: str) -> None:
        tick(f"tie to model/protocol.py: {label}")

    try:
        tie = tie_for(opts.variant, progress=tie_tick)
        if tie.ok and opts.preset == "nightly" and opts.variant is None:
            from parsync.proofs.tie import TieResult, nightly_scopes, run_tie

            tie_tick("the nightly scopes")
            more = run_tie(nightly_scopes(), progress=tie_tick, stop_first=True)
            tie = TieResult([*tie.scopes, *more.scopes], tie.seconds + more.seconds, tie.sources)
    except KeyboardInterrupt:
        return StageResult(
            "prove",
            INTERRUPTED,
            time.perf_counter() - t0,
            {"obligations": 0, "proved": 0, "properties": 0},
            "interrupted during the tie to model/protocol.py; nothing is proved",
        )
    tie_case = Case("Tie to model/protocol.py", tie.seconds)
    if not tie.ok:
        fails = tie.failures()
        tie_case.failure = fails[0].splitlines()[0] if fails else tie.summary()
        tie_case.detail = "\n".join(fails)
        return StageResult(
            "prove",
            FAILED,
            time.perf_counter() - t0,
            {"obligations": 0, "proved": 0, "properties": 0, "tie_transitions": 0},
            f"{tie.summary()}; nothing is proved",
            tie_case.detail,
            tie_case.failure,
            [tie_case],
            to_json([], None, tie=tie),
        )
    pr = Prover(opts.variant, policy=opts.policy)
    results: list[PropertyResult] = []
    cases: list[Case] = [tie_case]
    stopped = False
    nonvac = None
    interrupted = False
    try:
        for pid in ALL_GOAL_IDS:
            if time.perf_counter() - t0 > budget:
                stopped = True
                cases.append(Case(pid, skipped="the stage ran out of budget before this property"))
                continue
            tick(f"{pid} ({len(results)}/{len(ALL_GOAL_IDS)} properties)")

            def ob_tick(done: int, n: int, pid: str = pid, k: int = len(results)) -> None:
                tick(f"{pid}: {done}/{n} obligations ({k}/{len(ALL_GOAL_IDS)} properties done)")

            r = pr.prove(pid, progress=ob_tick)
            results.append(r)
            c = Case(_goal_name(pid), r.seconds)
            if not r.proved:
                first = r.failures[0]
                c.failure = f"{len(r.failures)} obligation(s) not proved; first: {first.message()}"
                if first.cti is not None and first.cti.pre is not None:
                    c.detail = first.cti.render()
            cases.append(c)
        if opts.variant is None and not stopped:
            tick("non-vacuity")
            nonvac = pr.nonvacuous()
            c = Case("NonVacuous", nonvac.seconds)
            if not nonvac.proved:
                c.failure = "; ".join(f"{o.action}: {o.reason}" for o in nonvac.failures)
            cases.append(c)
    except KeyboardInterrupt:  # Ctrl-C: what was proved stays, nothing more is claimed
        interrupted = True
        done = {r.pid for r in results}
        cases += [Case(g, skipped="interrupted (Ctrl-C)") for g in ALL_GOAL_IDS if g not in done]
    allr = results + ([nonvac] if nonvac is not None else [])
    n = sum(len(r.obligations) for r in allr)
    ok = sum(1 for r in allr for o in r.obligations if o.outcome == PROVED)
    failed = [c for c in cases if c.failure]
    seconds = time.perf_counter() - t0
    counts = {
        "obligations": n,
        "proved": ok,
        "properties": len(results),
        "tie_transitions": tie.transitions,
    }
    headline = cex = ""
    if interrupted:
        verdict = INTERRUPTED
        summary = (
            f"interrupted after {len(results)} of {len(ALL_GOAL_IDS)} properties "
            f"({ok}/{n} obligations proved); the proofs are not complete"
        )
    elif failed:
        verdict = FAILED
        headline = f"{failed[0].name}: {failed[0].failure}"
        cex = failed[0].detail
        summary = f"{ok}/{n} obligations proved; {len(failed)} propert(y/ies) not proved"
    elif stopped:
        verdict = INCOMPLETE
        summary = f"stopped on its budget after {len(results)} of {len(ALL_GOAL_IDS)} properties"
    else:
        verdict = PASSED
        summary = (
            f"{ok}/{n} obligations proved for every size; the tie: {tie.transitions} "
            f"transitions of {len(tie.scopes)} scopes agree with model/protocol.py"
        )
    return StageResult(
        "prove",
        verdict,
        seconds,
        counts,
        summary,
        cex,
        headline,
        cases,
        to_json(results, nonvac, tie=tie),
    )


#: pytest's exit codes that mean the suite could not run as asked (never a failing test)
PYTEST_SETUP_EXITS = {
    2: "interrupted or collection error",
    3: "internal error",
    4: "usage error",
    5: "no tests collected",
}


def conformance_command(opts: GateOptions, junit: Path) -> list[str]:
    """The suite as an installed user runs it (``--pyargs``), so the replay command it
    prints on a failure - shown in the reports - is one the user can copy."""
    assert opts.impl is not None
    return [
        sys.executable,
        "-m",
        "pytest",
        "--pyargs",
        "parsync.conformance",
        "-p",
        "no:cacheprovider",
        "-q",
        "-x",
        f"--parsync-impl={opts.impl}",
        f"--parsync-preset={opts.preset}",
        f"--parsync-seed={opts.seed}",
        f"--parsync-policy={opts.policy}",
        f"--parsync-replay-dir={opts.replay_dir}",
        f"--junitxml={junit}",
    ]


def run_conformance(opts: GateOptions, budget: float, tick: Tick) -> StageResult:
    """``pytest --pyargs parsync.conformance --parsync-impl=...`` in a subprocess: the
    implementation under test runs its own threads and may hang or crash; the gate must
    survive both."""
    assert opts.impl is not None
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="parsync-gate-") as tmp:
        junit = Path(tmp) / "conformance.xml"
        cmd = conformance_command(opts, junit)
        tick(f"pytest --pyargs parsync.conformance --parsync-impl={opts.impl}")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=budget, check=False)
        except subprocess.TimeoutExpired:
            seconds = time.perf_counter() - t0
            return StageResult(
                "conformance",
                INCOMPLETE,
                seconds,
                {"tests": 0},
                f"the suite did not finish within its budget ({budget:g}s)",
                cases=[Case("conformance suite", seconds, skipped="out of budget")],
                data={"command": cmd},
            )
        seconds = time.perf_counter() - t0
        cases = _junit_cases(junit) if junit.exists() else []
    return conformance_result(cmd, proc.returncode, proc.stdout, proc.stderr, cases, seconds)


def conformance_result(
    cmd: list[str], code: int, stdout: str, stderr: str, cases: list[Case], seconds: float
) -> StageResult:
    """The stage's verdict from pytest's exit code and JUnit cases: a failing test is
    *fail*; pytest ending any other way than 0 without one (a usage, internal or
    collection error, an import error, an error in a fixture, nothing collected) is a
    set-up *error*, which makes the gate's verdict *error* (exit 2), never *unsafe*."""
    counts = {
        "tests": len(cases),
        "passed": sum(1 for c in cases if not c.failure and not c.error and not c.skipped),
        "failed": sum(1 for c in cases if c.failure),
        "skipped": sum(1 for c in cases if c.skipped),
    }
    if any(c.error for c in cases):  # only then: the usual counts stay as they were
        counts["errors"] = sum(1 for c in cases if c.error)
    data: dict[str, Any] = {"command": cmd, "exit": code}
    failed = [c for c in cases if c.failure]
    if failed:
        headline = failed[0].failure or ""
        return StageResult(
            "conformance",
            FAILED,
            seconds,
            counts,
            f"{failed[0].name}: {headline}",
            failed[0].detail,
            headline,
            cases,
            data,
            diagram=_conformance_diagram(failed[0].detail, headline),
        )
    errored = [c for c in cases if c.error]
    if code == 0 and not errored and counts["passed"]:
        return StageResult(
            "conformance",
            PASSED,
            seconds,
            counts,
            f"{counts['passed']} conformance tests passed ({counts['skipped']} skipped)",
            cases=cases,
            data=data,
        )
    # set-up error: show why, in one line
    if errored:
        reason = f"{errored[0].name}: {errored[0].error}"
    else:
        tail = [ln for ln in (stderr + stdout).splitlines() if ln.strip()]
        what = PYTEST_SETUP_EXITS.get(code, "no conformance test ran")
        reason = f"pytest exited {code} ({what})" + (f": {tail[-1].strip()}" if tail else "")
    data["output"] = (stdout + stderr)[-4000:]
    return StageResult(
        "conformance",
        ERROR,
        seconds,
        counts,
        f"set-up error: {reason}",
        headline=f"set-up error: {reason}",
        cases=cases,
        data=data,
    )


def _conformance_diagram(detail: str, headline: str) -> str:
    """The failing interleaving as a Mermaid sequence diagram, from its replay file."""
    import re

    from parsync.conformance.driver import read_replay
    from parsync.diagram import mermaid, step_events

    m = re.search(r"--parsync-replay=(\S+)", detail)
    if m is None:
        return ""
    try:
        config, steps = read_replay(Path(m.group(1)))
    except ValueError:
        return ""
    return mermaid(config.workers, step_events(steps, headline))


def _junit_cases(path: Path) -> list[Case]:
    """Test cases of a pytest JUnit file; the failure headline is the message's first line."""
    cases = []
    for tc in ET.parse(path).iter("testcase"):
        c = Case(tc.get("name", "?"), float(tc.get("time", "0") or 0))
        for child in tc:
            if child.tag == "failure":
                text = (child.text or child.get("message") or "").strip()
                lines = text.splitlines()
                head = lines[0] if lines else child.tag
                c.failure = head.removeprefix("Failed: ")
                c.detail = "\n".join(lines[1:]).strip()
            elif child.tag == "error":  # collection or fixture error: not a test failure
                message = child.get("message") or "error"
                body = [ln for ln in (child.text or "").splitlines() if ln.strip()]
                # a collection error's message is only "collection failure": say which
                c.error = body[0].strip() if message == "collection failure" and body else message
            elif child.tag == "skipped":
                c.skipped = child.get("message", "skipped")
        cases.append(c)
    return cases


def _liveness_scope(liveness: Any, preset: str) -> tuple[str, Any]:
    """The scope liveness runs on for a gate preset: the liveness engine says which
    (``liveness_scope_for``); older engines: the ``small`` preset, the largest scope
    whose lifted graph is known to finish (see docs/liveness.md)."""
    from parsync.model.presets import get_preset

    pick = getattr(liveness, "liveness_scope_for", None)
    if pick is not None:
        name, cfg = pick(preset)
        return str(name), cfg
    return "small", get_preset("small").config


def run_liveness(opts: GateOptions, budget: float, tick: Tick) -> StageResult | None:
    """PS-L1..L3 under fairness; None when the liveness engine is not installed."""
    import importlib

    try:  # the liveness engine is optional to the gate: older checkouts lack it
        liveness: Any = importlib.import_module("parsync.engines.liveness")
    except ImportError:
        return None
    from parsync.model.protocol import ParSyncModel

    scope, cfg = _liveness_scope(liveness, opts.preset)
    model = ParSyncModel(cfg, opts.variant)

    from parsync.progress import search_text

    def cb(p: Any) -> None:
        tick(f"{scope}: " + search_text(p.states, p.transitions, None, p.queue, p.seconds))

    r = liveness.check_liveness(model, max_seconds=budget, progress=cb)
    d = r.to_json()
    d["scope"] = scope
    verdict = {"pass": PASSED, "incomplete": INCOMPLETE}.get(r.verdict, FAILED)
    if r.stop_reason.startswith("interrupted"):
        verdict = INTERRUPTED
    headline = cex = ""
    cases = []
    for pid in liveness.LIVENESS_IDS:
        c = Case(f"{pid} {liveness.LIVENESS_NAMES.get(pid, '')}".strip())
        lasso = r.violations.get(pid)
        if lasso is not None:
            c.failure = (
                f"{pid} violated ({lasso.subject}): a fair behaviour that repeats forever "
                f"after {len(lasso.prefix.actions)} steps, cycle of {len(lasso.cycle.actions)}"
            )
            c.detail = lasso.render()
            if not headline:
                headline, cex = c.failure, c.detail
        elif verdict in (INCOMPLETE, INTERRUPTED):
            c.skipped = f"the search stopped ({r.stop_reason}) before deciding this property"
        elif r.verdict == "vacuous":
            c.failure = "vacuous: no fair behaviour runs forever in this scope"
        cases.append(c)
    if r.verdict == "vacuous":
        headline = "vacuous: no fair behaviour runs forever in this scope"
    if verdict == PASSED:
        summary = f"{scope}: {r.states:,} states, PS-L1..L3 hold under {r.fairness} fairness"
    elif verdict in (INCOMPLETE, INTERRUPTED):
        summary = f"{scope}: stopped after {r.states:,} states: {r.stop_reason}"
    else:
        summary = f"{scope}: {headline}"
    return StageResult(
        "liveness",
        verdict,
        r.seconds,
        {"states": r.states, "transitions": r.transitions},
        summary,
        cex,
        headline,
        cases,
        d,
    )


def run_traces(files: list[str], opts: GateOptions, budget: float, tick: Tick) -> StageResult:
    from parsync.traces import validate_path  # type: ignore[import-not-found,unused-ignore]

    t0 = time.perf_counter()
    cases: list[Case] = []
    events = 0
    stopped = False
    results = []
    for f in files:
        if time.perf_counter() - t0 > budget:
            stopped = True
            cases.append(Case(f, skipped="the stage ran out of budget before this trace"))
            continue
        tick(f"validating {f}")
        t1 = time.perf_counter()
        r = validate_path(f)
        results.append(r.to_json())
        events += r.events
        c = Case(f, time.perf_counter() - t1)
        if getattr(r, "interrupted", False):
            c.skipped = r.message
            cases.append(c)
            return StageResult(
                "traces",
                INTERRUPTED,
                time.perf_counter() - t0,
                {"files": len(files), "events": events, "failed": 0},
                f"interrupted in {f} after {r.events:,} events (all valid so far)",
                cases=cases,
                data={"results": results},
            )
        if r.verdict != "valid":
            where = f"{f}:{r.line}" if r.line else f
            c.failure = f"{r.verdict}: {where}: {r.message}"
            c.detail = getattr(r, "explanation", "") or ""
        cases.append(c)
    seconds = time.perf_counter() - t0
    failed = [c for c in cases if c.failure]
    counts = {"files": len(files), "events": events, "failed": len(failed)}
    if failed:
        return StageResult(
            "traces",
            FAILED,
            seconds,
            counts,
            failed[0].failure or "",
            failed[0].detail,
            failed[0].failure or "",
            cases,
            {"results": results},
        )
    verdict = INCOMPLETE if stopped else PASSED
    summary = (
        f"stopped on its budget after {len(results)} of {len(files)} traces"
        if stopped
        else f"{len(files)} trace(s), {events:,} events, all allowed by the model"
    )
    return StageResult(
        "traces", verdict, seconds, counts, summary, cases=cases, data={"results": results}
    )


# --- recorded results ---------------------------------------------------------------

RECORDABLE = ("check", "liveness", "prove")


def _short(h: str) -> str:
    return h.removeprefix("sha256:")[:12]


def recorded_stage(stage: str, opts: GateOptions) -> tuple[StageResult | None, str]:
    """The recorded result of ``stage`` for the installed model, or (None, why it runs).

    Only a passing record is served (a failure is re-run for its counterexample);
    a variant is a different model and is never served from the record.
    """
    from parsync import records

    if opts.recheck:
        return None, "run: --recheck"
    if opts.variant is not None:
        return None, f"run: variant {opts.variant!r} is a different model, never recorded"
    if stage == "check":
        from parsync.model.presets import get_preset

        lk = records.lookup_check(
            opts.preset, get_preset(opts.preset).config_for(opts.policy).describe(), opts.policy
        )
        if lk.entry is None:
            return None, f"run: {lk.reason}"
        e = lk.entry
        counts = {"states": e["states"], "transitions": e["transitions"], "depth": e["depth"]}
        cases = [*_property_cases({}, PASSED, ""), Case("coverage and witnesses")]
        what = f"{e['states']:,} states, {e['transitions']:,} transitions"
    elif stage == "liveness":
        import importlib

        try:
            liveness: Any = importlib.import_module("parsync.engines.liveness")
        except ImportError:
            return None, "run: no liveness engine"
        scope, cfg = _liveness_scope(liveness, opts.preset)
        lk = records.lookup_liveness(scope, cfg.describe())
        if lk.entry is None:
            return None, f"run: {lk.reason}"
        e = lk.entry
        counts = {"states": e["states"], "transitions": e["transitions"]}
        cases = [
            Case(f"{pid} {liveness.LIVENESS_NAMES.get(pid, '')}".strip())
            for pid in liveness.LIVENESS_IDS
        ]
        what = f"{scope}: {e['states']:,} states, {e['transitions']:,} transitions"
    elif stage == "prove":
        lk = records.lookup_proofs(opts.policy)
        if lk.entry is None:
            return None, f"run: {lk.reason}"
        e = lk.entry
        props = e.get("properties", {})
        counts = {"obligations": e["obligations"], "proved": e["proved"], "properties": len(props)}
        cases = [Case(_goal_name(pid)) for pid in props]
        if e.get("nonvacuous") is not None:
            cases.append(Case("NonVacuous"))
        what = f"{e['proved']}/{e['obligations']} obligations proved for every size"
    else:
        return None, ""
    summary = f"recorded: pass ({what}) for sources {_short(lk.hash)}"
    rec = {"source": lk.source, "hash": lk.hash, "entry": e}
    return (
        StageResult(stage, PASSED, 0.0, counts, summary, cases=cases, data={}, recorded=rec),
        "",
    )


def _recorded_or_run(
    stage: str, opts: GateOptions, run: Callable[[], StageResult | None]
) -> StageResult | None:
    got, why = recorded_stage(stage, opts)
    if got is not None:
        return got
    r = run()
    if r is not None:
        r.note = why
    return r


# --- the gate ----------------------------------------------------------------------


def run_stage(name: str, fn: Callable[[], StageResult | None]) -> StageResult | None:
    """One stage, with its two ways of not finishing made results: Ctrl-C is an
    *interrupted* stage, an exception (not a property failure: the stage could not
    run) an *error* stage with the exception in one line."""
    t0 = time.perf_counter()
    try:
        return fn()
    except KeyboardInterrupt:
        return StageResult(
            name,
            INTERRUPTED,
            time.perf_counter() - t0,
            {},
            "interrupted (Ctrl-C) before the stage finished; nothing decided",
            cases=[Case(name, time.perf_counter() - t0, skipped="interrupted (Ctrl-C)")],
        )
    except Exception as e:  # noqa: BLE001 - a stage that cannot run is a set-up error
        why = f"{type(e).__name__}: {e}".splitlines()[0]
        return StageResult(
            name,
            ERROR,
            time.perf_counter() - t0,
            {},
            f"the stage could not run: {why}",
            headline=f"the stage could not run: {why}",
            data={"exception": f"{type(e).__name__}: {e}"},
        )


def gate_verdict(stages: list[StageResult], incomplete_fails: bool) -> str:
    """interrupted (Ctrl-C) > unsafe (a stage failed, or was out of budget when the
    profile does not accept it) > error (a stage could not be set up) > safe."""
    if any(s.verdict == INTERRUPTED for s in stages):
        return INTERRUPTED
    if any(s.verdict != ERROR and stage_blocks(s, incomplete_fails) for s in stages):
        return UNSAFE
    if any(s.verdict == ERROR for s in stages):
        return SETUP_ERROR
    return SAFE


def versions() -> dict[str, str]:
    from parsync.proofs.report import versions as tool_versions
    from parsync.records import current_spec_hash

    # hashed from the package's own files: manifest.spec_hash() reads the checkout's
    # model/ folder, which an installed copy does not have
    return {**tool_versions(), "spec_hash": current_spec_hash() or "unknown"}


def run_gate(
    opts: GateOptions,
    *,
    report_paths: list[str] = (),  # type: ignore[assignment]
    on_stage: Callable[[str], Any] | None = None,
    tick: Tick | None = None,
) -> GateResult:
    """Run every applicable stage; ``on_stage(name)`` is called as each starts."""
    profile, files = preflight(opts, list(report_paths))
    budgets = {**profile.budgets, **opts.budgets}
    t0 = time.perf_counter()
    stages: list[StageResult] = []
    tk: Tick = tick or (lambda _msg: None)

    def want(s: str) -> bool:
        return s not in opts.skip

    plan: list[tuple[str, Callable[[], StageResult | None]]] = []
    if want("check"):
        plan.append(
            (
                "check",
                lambda: _recorded_or_run(
                    "check", opts, lambda: run_check(opts, budgets["check"], tk)
                ),
            )
        )
    if want("liveness"):
        plan.append(
            (
                "liveness",
                lambda: _recorded_or_run(
                    "liveness", opts, lambda: run_liveness(opts, budgets["liveness"], tk)
                ),
            )
        )
    if want("prove"):
        plan.append(
            (
                "prove",
                lambda: _recorded_or_run(
                    "prove", opts, lambda: run_prove(opts, budgets["prove"], tk)
                ),
            )
        )
    if opts.impl is not None and want("conformance"):
        plan.append(("conformance", lambda: run_conformance(opts, budgets["conformance"], tk)))
    if files and want("traces"):
        plan.append(("traces", lambda: run_traces(files, opts, budgets["traces"], tk)))
    if not plan:
        raise GateUsageError("every stage is skipped: nothing to decide")
    for name, fn in plan:
        if on_stage is not None:
            on_stage(name)
        r = run_stage(name, fn)
        if r is not None:
            stages.append(r)
            if r.verdict == INTERRUPTED:  # Ctrl-C: the remaining stages do not start
                break
    return GateResult(
        gate_verdict(stages, profile.incomplete_fails),
        opts.preset,
        opts.impl,
        files,
        opts.variant,
        stages,
        time.perf_counter() - t0,
        profile.incomplete_fails,
        versions(),
        opts.policy,
    )


# --- reports -----------------------------------------------------------------------


def junit_xml(g: GateResult) -> str:
    """JUnit XML: one <testsuite> per stage, one <testcase> per property / test / trace."""
    root = ET.Element(
        "testsuites",
        name="parsync gate",
        tests=str(sum(len(s.cases) for s in g.stages)),
        failures=str(sum(1 for s in g.stages for c in s.cases if c.failure)),
        time=f"{g.seconds:.3f}",
    )
    for s in g.stages:
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"parsync.{s.stage}",
            tests=str(len(s.cases)),
            failures=str(sum(1 for c in s.cases if c.failure)),
            skipped=str(sum(1 for c in s.cases if c.skipped)),
            errors="1" if s.verdict == ERROR else "0",
            time=f"{s.seconds:.3f}",
        )
        props = ET.SubElement(suite, "properties")
        run = "recorded" if s.recorded is not None else "ran"
        for k, v in [("verdict", s.verdict), ("run", run), ("preset", g.preset), *s.counts.items()]:
            ET.SubElement(props, "property", name=str(k), value=str(v))
        if s.recorded is not None:
            ET.SubElement(props, "property", name="recorded_hash", value=s.recorded["hash"])
            ET.SubElement(props, "property", name="recorded_source", value=s.recorded["source"])
        for c in s.cases:
            tc = ET.SubElement(
                suite,
                "testcase",
                classname=f"parsync.{s.stage}",
                name=c.name,
                time=f"{c.seconds:.3f}",
            )
            if s.recorded is not None:
                out = ET.SubElement(tc, "system-out")
                out.text = f"recorded, not run: {s.summary}"
            if c.failure:
                f = ET.SubElement(tc, "failure", message=c.failure)
                f.text = c.detail or c.failure
            elif c.error:
                ET.SubElement(tc, "error", message=c.error)
            elif c.skipped:
                sk = ET.SubElement(tc, "skipped", message=c.skipped)
                if s.verdict == INCOMPLETE and g.incomplete_fails:
                    # an out-of-budget search blocks the merge: show it as an error, not a skip
                    tc.remove(sk)
                    ET.SubElement(tc, "error", message=f"incomplete: {c.skipped}")
        if s.verdict == ERROR:
            tc = ET.SubElement(suite, "testcase", classname=f"parsync.{s.stage}", name="stage")
            ET.SubElement(tc, "error", message=s.summary)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_ICON = {PASSED: "✅", FAILED: "❌", INCOMPLETE: "⏳", ERROR: "⚠️", INTERRUPTED: "⏹️"}
_HEADS = {
    INTERRUPTED: "⏹️ **interrupted: no verdict** (Ctrl-C; the stages below finished or stopped)",
}
MARKDOWN_MAX_LINES = 40


def _counts_text(s: StageResult) -> str:
    return ", ".join(
        f"{v:,} {k}" if isinstance(v, int) else f"{v} {k}" for k, v in s.counts.items()
    )


def _without_init(lines: list[str]) -> list[str]:
    """A trace without its full initial state (every variable), which says little in a
    pull-request comment; the steps after it show what changed."""
    if not lines or not lines[0].strip().startswith("0. Init"):
        return lines
    rest = next((i for i, ln in enumerate(lines) if ln.strip().startswith("1. ")), len(lines))
    return [lines[0] + " (the full initial state is in the JSON report)", *lines[rest:]]


def _capped(body: list[str]) -> list[str]:
    if len(body) <= MARKDOWN_MAX_LINES:
        return body
    more = len(body) - MARKDOWN_MAX_LINES
    return body[:MARKDOWN_MAX_LINES] + [f"... ({more} more lines in the JSON report)"]


def _markdown_counterexample(
    init: list[str], steps: list[str], reasons: list[str], diagram: str
) -> list[str]:
    """The sequence diagram (GitHub renders ```mermaid), why it fails, then the steps
    with the initial state collapsed."""
    out = ["", "```mermaid", *diagram.rstrip("\n").splitlines(), "```", ""]
    out += [f"**{r}**" for r in reasons]
    out += [
        "",
        "<details><summary>first counterexample</summary>",
        "",
        "<details><summary>initial state (every variable)</summary>",
        "",
        "```text",
        *init,
        "```",
        "",
        "</details>",
        "",
        "```text",
        *_capped(steps),
        "```",
        "",
        "</details>",
    ]
    return out


def markdown(g: GateResult) -> str:
    """A pull-request comment: verdict, one row per stage, the first counterexample."""
    head = (
        "✅ **safe to merge**"
        if g.ok
        else (
            "⚠️ **set-up error: the gate could not decide**"
            if g.verdict == SETUP_ERROR
            else _HEADS.get(g.verdict, "❌ **unsafe: do not merge**")
        )
    )
    target = f" · impl `{g.impl}`" if g.impl else ""
    variant = f" · variant `{g.variant}`" if g.variant else ""
    short_hash = g.versions["spec_hash"].removeprefix("sha256:")[:12]
    lines = [
        f"### parsync gate: {head}",
        "",
        f"preset `{g.preset}` · policy `{g.policy}`{target}{variant} · spec `{short_hash}` · "
        f"z3 {g.versions['z3']} · {g.seconds:.0f}s",
        "",
        "| stage | verdict | time | counts |",
        "|---|---|---|---|",
    ]
    for s in g.stages:
        rec = s.recorded is not None
        lines.append(
            f"| {s.stage} | {_ICON.get(s.verdict, '')} {s.verdict}{' (recorded)' if rec else ''} "
            f"| {'recorded' if rec else f'{s.seconds:.1f}s'} | {_counts_text(s)} |"
        )
    lines += _record_notes(g, "`")
    bad = g.first_failure()
    if bad is not None:
        lines += ["", f"**{bad.stage}**: {bad.headline or bad.summary}"]
        if bad.rendered is not None:
            lines += _markdown_counterexample(*bad.rendered)
        elif bad.counterexample:
            body = _without_init(bad.counterexample.splitlines())
            if len(body) > MARKDOWN_MAX_LINES:
                more = len(body) - MARKDOWN_MAX_LINES
                body = body[:MARKDOWN_MAX_LINES] + [f"... ({more} more lines in the JSON report)"]
            if bad.diagram:
                lines += ["", "```mermaid", *bad.diagram.rstrip("\n").splitlines(), "```"]
            lines += [
                "",
                "<details><summary>first counterexample</summary>",
                "",
                "```text",
                *body,
                "```",
                "",
                "</details>",
            ]
    incomplete = [s.stage for s in g.stages if s.verdict == INCOMPLETE]
    if incomplete and not g.incomplete_fails:
        lines += ["", f"note: out of budget (reported, not failed): {', '.join(incomplete)}"]
    return "\n".join(lines) + "\n"


def _record_notes(g: GateResult, tick: str) -> list[str]:
    """Which model stages were recorded (not run) and which ran, and why."""
    recorded = [s for s in g.stages if s.recorded is not None]
    ran = [s for s in g.stages if s.stage in RECORDABLE and s.recorded is None and s.note]
    out: list[str] = []
    if recorded:
        out += [
            "",
            "recorded, not run: "
            + ", ".join(
                f"{s.stage} ({tick}{s.recorded['source']}{tick}, sources "
                f"{tick}{_short(s.recorded['hash'])}{tick})"
                for s in recorded
                if s.recorded is not None
            )
            + f"; {tick}--recheck{tick} runs them",
        ]
    for s in ran:
        out += ["", f"{s.stage}: {s.note}"]
    return out


def write_reports(g: GateResult, junit: str | None, js: str | None, md: str | None) -> None:
    for path, text in (
        (junit, junit_xml(g) if junit else ""),
        (js, json.dumps(g.to_json(), indent=2) + "\n" if js else ""),
        (md, markdown(g) if md else ""),
    ):
        if path:
            try:
                Path(path).write_text(text, encoding="utf-8")
            except OSError as e:
                raise GateUsageError(f"cannot write {path}: {e.strerror or e}") from None


@contextmanager
def console_progress(enabled: bool) -> Iterator[tuple[Callable[[str], None], Tick]]:
    """(on_stage, tick) callbacks driving the shared progress display on stderr
    (:class:`parsync.progress.Display`: a bar on a terminal, else periodic lines)."""
    from parsync.progress import Display

    with Display("parsync gate", enabled=enabled) as bar:
        yield (
            (lambda s: bar.relabel(f"parsync gate {s}")),
            (lambda m: bar.update(m)),
        )


def print_summary(g: GateResult, *, stderr: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console(highlight=False, stderr=stderr)
    if not out.is_terminal:  # a CI log: room for the summaries, no wrapping at 80 columns
        out = Console(highlight=False, width=140, stderr=stderr)
    colour = {
        PASSED: "green",
        FAILED: "red",
        INCOMPLETE: "yellow",
        ERROR: "red",
        INTERRUPTED: "yellow",
    }
    t = Table(title=f"parsync gate --preset {g.preset} --policy {g.policy}", show_edge=False)
    for col in ("stage", "verdict", "time", "counts", "summary"):
        t.add_column(col)
    for s in g.stages:
        c = colour.get(s.verdict, "white")
        t.add_row(
            s.stage,
            f"[{c}]{s.verdict}[/{c}]",
            "recorded" if s.recorded is not None else f"{s.seconds:.1f}s",
            _counts_text(s),
            s.summary,
        )
    out.print(t)
    for line in _record_notes(g, ""):
        if line:
            out.print(line, markup=False)
    bad = g.first_failure()
    if bad is not None:
        out.print(f"\n[bold red]{bad.stage}[/bold red]: {bad.headline or bad.summary}")
        if bad.counterexample:
            out.print(bad.counterexample, markup=False, soft_wrap=True)
    if g.verdict == INTERRUPTED:
        out.print(f"[bold yellow]INTERRUPTED[/bold yellow]: no verdict ({g.seconds:.1f}s)")
    elif g.ok:
        out.print(f"[bold green]SAFE[/bold green] to merge ({g.seconds:.1f}s)")
    elif g.verdict == SETUP_ERROR:
        out.print(
            f"[bold yellow]SET-UP ERROR[/bold yellow]: the gate could not decide; "
            f"fix the set-up and run it again ({g.seconds:.1f}s)"
        )
    else:
        out.print(f"[bold red]UNSAFE[/bold red]: do not merge ({g.seconds:.1f}s)")
