"""Honest stops, early checks, visible progress (issue 16).

* Ctrl-C: every long command is run as a real process, sent SIGINT once it has
  started real work (its first progress line on stderr is the readiness
  marker), and must exit 3 with its partial result and one
  ``parsync: interrupted: ...`` line, never a traceback, never a pass.
* Output paths: every option that names a file to write is checked before any
  work starts (the work is replaced by a function that fails the test).
* Progress: off a terminal, TLC-style lines with the figures, and the
  percentage when spec/manifest.json knows the scope's count.
* ``--version``, one ``--json`` convention, ``simulate``'s default output,
  and the gate's stage errors (exit 2).
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from parsync import cli
from parsync.cli import EXIT_STOPPED, EXIT_USAGE, build_parser, main

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((ROOT / "spec" / "manifest.json").read_text(encoding="utf-8"))


def _env(interval: float = 0.2) -> dict[str, str]:
    return {
        **os.environ,
        "PARSYNC_PROGRESS_INTERVAL": str(interval),
        "COLUMNS": "200",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def interrupt(
    args: list[str], marker: str, cwd: Path, *, after: Any = None, sig: int = signal.SIGINT
) -> tuple[int, str, str, str]:
    """Run ``parsync ARGS``, wait for a stderr line containing ``marker`` (the work has
    started), send SIGINT (or ``sig``); (exit code, stdout, stderr, the marker line)."""
    p = subprocess.Popen(
        [sys.executable, "-m", "parsync.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=_env(),
    )
    killer = threading.Timer(300, p.kill)  # a hung process fails the test, not the suite
    killer.start()
    try:
        if after is not None:
            after(p)
        assert p.stderr is not None
        seen: list[str] = []
        for line in p.stderr:
            seen.append(line)
            if marker in line:
                break
        else:
            out = p.stdout.read() if p.stdout else ""
            pytest.fail(f"no {marker!r} line before the end: {''.join(seen)}{out}")
        p.send_signal(sig)
        out, rest = p.communicate(timeout=240)
    finally:
        killer.cancel()
    return p.returncode, out, "".join(seen) + rest, seen[-1]


def assert_interrupted(code: int, out: str, err: str, *needles: str) -> str:
    """Exit 3, no traceback, the partial line last on stderr (with ``needles``)."""
    assert code == EXIT_STOPPED, (code, out[-2000:], err[-2000:])
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    last = lines[-1]
    assert last.startswith("parsync: interrupted: "), err[-2000:]
    assert sum(ln.startswith("parsync: interrupted") for ln in lines) == 1
    for n in needles:
        assert n in last, (n, last)
    return last


# --- Ctrl-C --------------------------------------------------------------------------


def test_ctrl_c_in_check_prints_the_partial_result(tmp_path: Path) -> None:
    code, out, err, _ = interrupt(["check", "--preset", "pr"], "distinct", tmp_path)
    last = assert_interrupted(code, out, err, "check pr:", "distinct states", "incomplete")
    assert "INCOMPLETE" in out and "stopped: interrupted" in out
    assert re.search(r"[\d,]+ distinct states", last)


def test_sigterm_in_check_is_a_ctrl_c(tmp_path: Path) -> None:
    """``kill`` or a CI job's time limit: the same partial result and exit 3."""
    code, out, err, _ = interrupt(
        ["check", "--preset", "pr"], "distinct", tmp_path, sig=signal.SIGTERM
    )
    assert_interrupted(code, out, err, "check pr:", "distinct states", "incomplete")
    assert "stopped: interrupted" in out


def test_sigterm_in_prove_is_never_proved(tmp_path: Path) -> None:
    code, out, err, _ = interrupt(["prove"], "obligations", tmp_path, sig=signal.SIGTERM)
    assert_interrupted(code, out, err)
    assert "PROVED" not in out


def test_ctrl_c_in_check_json_says_interrupted(tmp_path: Path) -> None:
    code, out, err, _ = interrupt(["check", "--preset", "pr", "--json"], "distinct", tmp_path)
    assert_interrupted(code, out, err)
    doc = json.loads(out)
    assert doc["verdict"] == "incomplete" and doc["interrupted"] is True
    assert doc["stop_reason"] == "interrupted"


def test_ctrl_c_in_liveness(tmp_path: Path) -> None:
    code, out, err, _ = interrupt(
        ["check", "--liveness", "--preset", "small"], "distinct", tmp_path
    )
    assert_interrupted(code, out, err, "check small --liveness:", "no liveness property decided")


def test_ctrl_c_in_prove_is_never_proved(tmp_path: Path) -> None:
    code, out, err, _ = interrupt(["prove"], "obligations", tmp_path)
    assert_interrupted(code, out, err, "obligations decided", "not proved")
    assert "PROVED" not in out


def test_ctrl_c_in_prove_json_says_interrupted(tmp_path: Path) -> None:
    report = tmp_path / "proofs.md"
    code, out, err, _ = interrupt(
        ["prove", "--json", "--report", str(report)], "obligations", tmp_path
    )
    assert_interrupted(code, out, err, f"{report} not written")
    doc = json.loads(out)
    assert doc["verdict"] == "interrupted"
    assert doc["interrupted"]["obligations_decided"] < doc["interrupted"]["obligations_total"]
    assert not report.exists()


def test_ctrl_c_in_bmc(tmp_path: Path) -> None:
    code, out, err, _ = interrupt(["bmc", "--preset", "pr", "--depth", "14"], "depths", tmp_path)
    assert_interrupted(code, out, err, "bmc pr: no violation at depths <", "incomplete")
    assert "PASS" not in out


def test_ctrl_c_in_gate_stops_the_stages_and_is_never_unsafe(tmp_path: Path) -> None:
    js, md = tmp_path / "gate.json", tmp_path / "gate.md"
    code, out, err, marker = interrupt(
        # --recheck: the recorded model stages would answer at once, with nothing to stop
        ["gate", "--preset", "pr", "--recheck", "--json-out", str(js), "--markdown", str(md)],
        "distinct",
        tmp_path,
    )
    assert marker.startswith("parsync gate check: ")
    assert_interrupted(code, out, err, "check interrupted", "remaining stages did not start")
    assert "UNSAFE" not in out and "SAFE" not in out.replace("INTERRUPTED", "")
    assert "INTERRUPTED" in out
    doc = json.loads(js.read_text())
    assert doc["verdict"] == "interrupted"
    assert [(s["stage"], s["verdict"]) for s in doc["stages"]] == [("check", "interrupted")]
    assert "interrupted" in md.read_text() and "unsafe" not in md.read_text()


def test_ctrl_c_in_the_gates_proofs_keeps_what_was_proved(tmp_path: Path) -> None:
    js = tmp_path / "gate.json"
    code, out, err, _ = interrupt(
        ["gate", "--skip", "check", "--skip", "liveness", "--recheck", "--json-out", str(js)],
        "obligations",
        tmp_path,
    )
    assert_interrupted(code, out, err, "prove interrupted", "remaining stages did not start")
    doc = json.loads(js.read_text())
    assert doc["verdict"] == "interrupted"
    (stage,) = doc["stages"]
    assert stage["verdict"] == "interrupted" and "not complete" in stage["summary"]
    assert any(c["message"] == "interrupted (Ctrl-C)" for c in stage["cases"])


def test_ctrl_c_in_manifest_write_leaves_the_manifest_alone(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    original = (ROOT / "spec" / "manifest.json").read_bytes()
    path.write_bytes(original)
    code, out, err, _ = interrupt(
        ["manifest", "--write", "--file", str(path)], "distinct", tmp_path
    )
    assert_interrupted(code, out, err, "preset(s) finished (none)", "not written (unchanged)")
    assert path.read_bytes() == original


def test_ctrl_c_in_manifest_check_stops(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes((ROOT / "spec" / "manifest.json").read_bytes())
    code, out, err, _ = interrupt(
        ["manifest", "--check", "--file", str(path)], "distinct", tmp_path
    )
    last = assert_interrupted(code, out, err, "preset(s) finished")
    assert "nothing compared" in last or "the rest is not compared" in last


def test_ctrl_c_in_bench_stops_all_runs(tmp_path: Path) -> None:
    code, out, err, _ = interrupt(["bench", "--repeat", "3"], "distinct", tmp_path)
    assert_interrupted(code, out, err, "0 of 3 run(s) finished", "not a measurement")
    assert out.count("verdict interrupted") == 1


def test_ctrl_c_in_simulate_writes_a_partial_report(tmp_path: Path) -> None:
    out_md = tmp_path / "sim.md"
    code, out, err, _ = interrupt(["simulate", "--no-plot", "--out", str(out_md)], "runs", tmp_path)
    assert_interrupted(code, out, err, "simulate:", "marked PARTIAL")
    assert "PARTIAL" in out_md.read_text()


def test_ctrl_c_in_record(tmp_path: Path) -> None:
    trace = tmp_path / "run.jsonl"
    code, out, err, _ = interrupt(
        ["record", "--out", str(trace), "--steps", "1000000", "--timeout", "120"],
        "events",
        tmp_path,
    )
    assert_interrupted(code, out, err, f"record: {trace} holds the header")
    assert trace.read_text().startswith('{"type":"header"')


def test_ctrl_c_in_trace_validation(tmp_path: Path) -> None:
    """The trace comes through a FIFO the test keeps open: the validator is really at
    work (blocked on the next event) when Ctrl-C comes."""
    from parsync.refsched.recorder import record

    buf = io.StringIO()
    record(buf, seed=3, steps=40, timeout=10)
    lines = buf.getvalue().splitlines(keepends=True)
    fifo = tmp_path / "live.jsonl"
    os.mkfifo(fifo)
    writer: list[Any] = []

    def feed(_p: subprocess.Popen[str]) -> None:
        f = open(fifo, "w", encoding="utf-8")  # noqa: SIM115 - kept open past the signal
        f.writelines(lines[:20])
        f.flush()
        writer.append(f)

    try:
        code, out, err, _ = interrupt(["trace", str(fifo)], "parsync trace", tmp_path, after=feed)
    finally:
        for f in writer:
            try:
                f.close()
            except BrokenPipeError:
                pass
    assert_interrupted(code, out, err, "0 of 1 file(s) validated", "all valid so far")


# --- output paths ------------------------------------------------------------------------

#: (command line before the output option, the output option); the option's value is
#: appended. Each must be refused before the command's work starts.
OUTPUT_OPTIONS: list[tuple[list[str], str]] = [
    (["check", "--preset", "small"], "--trace-out"),
    (["check", "--preset", "small"], "--itf-out"),
    (["check", "--preset", "small"], "--json-out"),
    (["check", "--liveness"], "--json-out"),
    (["check", "--preset", "small"], "--mermaid-out"),
    (["check", "--preset", "small"], "--svg-out"),
    (["replay", "cx.json"], "--html-out"),
    (["replay", "cx.json"], "--json-out"),
    (["bench"], "--json-out"),
    (["manifest", "--write"], "--file"),
    (["manifest"], "--json-out"),
    (["prove"], "--report"),
    (["prove"], "--json-out"),
    (["bmc"], "--json-out"),
    (["simulate"], "--out"),
    (["simulate", "--out", "ok.md"], "--plot"),
    (["simulate"], "--json-out"),
    (["simulate"], "--json"),  # the old spelling of --json-out FILE
    (["trace", "t.jsonl"], "--json-out"),
    (["record"], "--out"),
    (["cite"], "--write"),
    (["cite"], "--json-out"),
    (["gate"], "--junit"),
    (["gate"], "--json-out"),
    (["gate"], "--json"),  # the old spelling of --json-out FILE
    (["gate"], "--markdown"),
]

BAD_PATHS = {
    "missing-dir": ("{tmp}/no/such/dir/out.x", "directory {tmp}/no/such/dir does not exist"),
    "a-directory": ("{tmp}", "it is a directory"),
    "proc": ("/proc/parsync-out.xml", "cannot write: "),
}


@pytest.mark.parametrize("kind", sorted(BAD_PATHS))
@pytest.mark.parametrize(("before", "option"), OUTPUT_OPTIONS, ids=lambda x: str(x))
def test_every_output_path_is_checked_before_work(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    before: list[str],
    option: str,
    kind: str,
) -> None:
    def no_work(*_a: Any, **_k: Any) -> int:
        raise AssertionError("the command started its work before checking its outputs")

    monkeypatch.setattr(cli, "_dispatch", no_work)
    monkeypatch.chdir(tmp_path)
    raw, needle = BAD_PATHS[kind]
    path = raw.format(tmp=tmp_path)
    code = main([*before, option, path])
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE, (out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"parsync: error: {option} {path}: cannot write"), lines[0]
    assert needle.format(tmp=tmp_path) in lines[0]
    assert not Path("/proc/parsync-out.xml").exists()


def test_a_good_output_path_is_left_as_it_was(tmp_path: Path) -> None:
    from parsync.outputs import check_output_path

    new = tmp_path / "new.json"
    check_output_path(new, "--json-out")
    assert not new.exists(), "the probe leaves nothing behind"
    old = tmp_path / "old.json"
    old.write_text("keep")
    check_output_path(old, "--json-out")
    assert old.read_text() == "keep", "the probe never truncates"


def test_a_bad_output_path_is_refused_at_once_by_the_real_command(tmp_path: Path) -> None:
    """The same as a user meets it: a process, the long check not started."""
    t0 = time.monotonic()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "parsync.cli",
            "check",
            "--preset",
            "nightly",
            "--itf-out",
            "/proc/x.itf.json",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert r.returncode == EXIT_USAGE
    assert r.stderr.strip() == (
        "parsync: error: --itf-out /proc/x.itf.json: cannot write: "
        + r.stderr.strip().split("cannot write: ", 1)[1]
    )
    # nightly takes minutes; a generous bound only shows the search never ran
    assert time.monotonic() - t0 < 60


# --- progress -----------------------------------------------------------------------------

PROGRESS_LINE = re.compile(
    r"^parsync check small: (?P<gen>[\d,]+) states generated, (?P<distinct>[\d,]+) distinct, "
    r"[\d,]+ on queue, depth \d+, [\d,]+ states/s, RSS [\d,]+ MB, "
    r"(?P<pct>\d+)% of (?P<total>[\d,]+) \(ETA \d+:\d\d:\d\d\)$"
)


def test_check_off_a_terminal_prints_tlc_style_progress_with_a_percentage(tmp_path: Path) -> None:
    r = subprocess.run(
        # the reference's small: seconds, and the manifest's presets table holds its total
        [
            sys.executable,
            "-m",
            "parsync.cli",
            "check",
            "--preset",
            "small",
            "--policy",
            "reference",
        ],
        capture_output=True,
        text=True,
        env=_env(0.05),
        cwd=tmp_path,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    hits = [m for m in map(PROGRESS_LINE.match, r.stderr.splitlines()) if m]
    assert hits, r.stderr
    total = MANIFEST["presets"]["small"]["states"]
    assert all(int(m["total"].replace(",", "")) == total for m in hits)
    assert all(0 <= int(m["pct"]) < 100 for m in hits)


def test_no_progress_prints_none(tmp_path: Path) -> None:
    r = subprocess.run(
        [
            *(sys.executable, "-m", "parsync.cli", "check", "--preset", "small"),
            *("--policy", "reference", "--no-progress"),
        ],
        capture_output=True,
        text=True,
        env=_env(0.05),
        cwd=tmp_path,
        timeout=600,
    )
    assert r.returncode == 0 and "states generated" not in r.stderr, r.stderr


def test_display_prints_a_line_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    from parsync import progress
    from parsync.progress import Display, count_text

    now = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    buf = io.StringIO()
    with Display("parsync x", stream=buf, tty=False, every=10, heartbeat=False) as d:
        d.search(10, 20, 3, 4, 1.0, total=40)  # within the first interval: quiet
        now[0] += 10
        d.search(20, 40, 4, 5, 2.0, total=40)
        now[0] += 5
        d.search(30, 60, 5, 6, 3.0, total=40)  # 5 s after the last line: quiet
    (line,) = buf.getvalue().splitlines()
    assert line == (
        "parsync x: 40 states generated, 20 distinct, 5 on queue, depth 4, 10 states/s, "
        + line.split("states/s, ")[1]
    )
    assert re.search(r"RSS [\d,]+ MB, 50% of 40 \(ETA 0:00:02\)$", line), line
    assert count_text(3, 12, "obligations", 3.0).startswith("3/12 obligations, 25% (ETA 0:00:09)")
    quiet = io.StringIO()
    with Display("parsync x", stream=quiet, tty=False, every=0.01, enabled=False) as d:
        now[0] += 100
        d.search(1, 1, 1, 1, 1.0)
    assert quiet.getvalue() == ""


def test_the_heartbeat_repeats_the_figures_of_a_long_step() -> None:
    from parsync.progress import Display

    buf = io.StringIO()
    with Display("parsync x", stream=buf, tty=False, every=0.01) as d:
        d.count(1, 85, "runs", "grid")
        for _ in range(500):  # until the heartbeat has spoken (no bound on how soon)
            if "still running" in buf.getvalue():
                break
            time.sleep(0.01)
    assert re.search(r"^parsync x: 1/85 runs, .*\(still running, ", buf.getvalue(), re.M)


def test_known_states_matches_the_manifest() -> None:
    from parsync.model.presets import get_preset
    from parsync.progress import known_states

    cfg = get_preset("pr").config
    assert known_states(cfg.describe()) == MANIFEST["presets"]["pr"]["states"]
    assert known_states("W=99 nothing like it") is None


# --- version, --json, simulate's default output, gate stage errors -----------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import parsync

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    out = capsys.readouterr().out.strip()
    assert re.fullmatch(r"parsync-spec \S+ \(Python \d+\.\d+\.\d+, Z3 \S+\)", out), out
    assert out.startswith(f"parsync-spec {parsync.__version__} ")


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for line in ("0  pass", "1  fail", "2  usage or set-up error", "3  stopped"):
        assert line in out
    readme = (ROOT / "README.md").read_text()
    assert "| 3 |" in readme and "--json-out FILE" in readme


def _subparsers() -> dict[str, Any]:
    import argparse

    p = build_parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_one_json_convention_everywhere() -> None:
    """Every command with a result takes --json (stdout) and --json-out FILE."""
    with_json = {n for n, sp in _subparsers().items() if "--json" in sp._option_string_actions}
    assert with_json >= {
        "check",
        "replay",
        "bench",
        "manifest",
        "prove",
        "bmc",
        "simulate",
        "trace",
        "cite",
        "gate",
    }
    for name in with_json:
        sp = _subparsers()[name]
        assert "--json-out" in sp._option_string_actions, name
    p = build_parser()
    for argv in (["check"], ["gate"], ["simulate"], ["trace", "f"], ["prove"]):
        assert p.parse_args([*argv, "--json"]).json == "-"
    assert p.parse_args(["trace", "--json", "a.jsonl"]).files == ["a.jsonl"]


def test_json_out_writes_what_json_prints(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    f = tmp_path / "r.json"
    argv = ["check", "--preset", "small", "--policy", "reference", "--no-progress"]
    assert main([*argv, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert main([*argv, "--json-out", str(f)]) == 0
    assert "PASS" in capsys.readouterr().out  # the human result stays on stdout
    written = json.loads(f.read_text())
    for k in ("verdict", "states", "transitions", "depth", "coverage"):
        assert written[k] == printed[k]


def test_simulate_writes_a_new_folder_by_default_never_the_docs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    docs = ROOT / "docs" / "simulation.md"
    before = docs.read_bytes()
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", "--plan", "tiny", "--no-plot", "--no-progress"]) == 0
    out = tmp_path / "parsync-simulation" / "simulation.md"
    assert out.exists() and "plan: `tiny`" in out.read_text()
    assert docs.read_bytes() == before
    assert cli.SIMULATE_DEFAULT_OUT == "parsync-simulation/simulation.md"


def test_an_exception_in_a_gate_stage_is_an_error_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from parsync import gate

    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("the model would not load\nsecond line")

    monkeypatch.setattr(gate, "run_check", broken)
    js = tmp_path / "g.json"
    code = main(
        [
            "gate",
            *("--skip", "liveness", "--skip", "prove", "--recheck", "--no-progress"),
            *("--json-out", str(js)),
        ]
    )
    out = capsys.readouterr().out
    assert code == EXIT_USAGE, out
    doc = json.loads(js.read_text())
    assert doc["verdict"] == "error"
    (stage,) = doc["stages"]
    assert stage["verdict"] == "error"
    assert stage["summary"] == "the stage could not run: RuntimeError: the model would not load"
    assert "UNSAFE" not in out and "SAFE to merge" not in out


def test_gate_verdict_precedence() -> None:
    from parsync.gate import (
        ERROR,
        FAILED,
        GATE_ERROR,
        INCOMPLETE,
        INTERRUPTED,
        PASSED,
        SAFE,
        UNSAFE,
        StageResult,
        gate_verdict,
    )

    def st(v: str) -> StageResult:
        return StageResult("x", v, 0.0, {}, "")

    assert gate_verdict([st(PASSED)], True) == SAFE
    assert gate_verdict([st(PASSED), st(ERROR)], True) == GATE_ERROR
    assert gate_verdict([st(FAILED), st(ERROR)], True) == UNSAFE
    assert gate_verdict([st(INCOMPLETE)], True) == UNSAFE
    assert gate_verdict([st(INCOMPLETE)], False) == SAFE
    assert gate_verdict([st(FAILED), st(INTERRUPTED)], True) == INTERRUPTED


def test_a_z3_interrupt_is_a_keyboard_interrupt() -> None:
    """Z3's own answer to SIGINT (unknown, "interrupted from keyboard") is never an
    ordinary unknown; a timeout still is."""
    from parsync.errors import z3_exception_interrupted, z3_interrupted

    assert z3_interrupted("interrupted from keyboard")
    assert not z3_interrupted("timeout")
    assert z3_exception_interrupted(Exception("canceled"))

    class FakeSolver:
        def __init__(self, reason: str) -> None:
            self.reason = reason

        def check(self, *_a: Any) -> Any:
            import z3

            return z3.unknown

        def reason_unknown(self) -> str:
            return self.reason

        def set(self, *_a: Any) -> None:
            pass

    from parsync.proofs.solving import check

    with pytest.raises(KeyboardInterrupt):
        check(FakeSolver("interrupted from keyboard"))  # type: ignore[arg-type]
    import z3

    assert check(FakeSolver("timeout")) == z3.unknown  # type: ignore[arg-type]


def test_gate_json_on_stdout_keeps_the_table_on_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace = tmp_path / "run.jsonl"
    assert main(["record", "--out", str(trace), "--steps", "30", "--no-progress"]) == 0
    capsys.readouterr()
    skip = ["--skip", "check", "--skip", "liveness", "--skip", "prove"]
    code = main(["gate", *skip, "--trace", str(trace), "--json", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["verdict"] == "safe" and [s["stage"] for s in doc["stages"]] == ["traces"]
    assert "SAFE to merge" in err


def test_cite_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cite", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "parsync-citations/1"
    assert {p["id"] for p in doc["properties"]} >= {"PS-1", "PS-10"}
    assert all(p["verdict"] and p["evidence"] for p in doc["properties"])


def test_gate_shows_progress_per_stage(tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "parsync.cli",
            "gate",
            "--skip",
            "liveness",
            "--skip",
            "prove",
            "--budget",
            "check=2",
            "--recheck",
        ],
        capture_output=True,
        text=True,
        env=_env(0.1),
        cwd=tmp_path,
        timeout=600,
    )
    assert r.returncode == 1, r.stdout + r.stderr  # pr: out of budget blocks the merge
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("parsync gate check: ")]
    assert lines, r.stderr
    total = MANIFEST["contract"]["pr"]["states"]  # the gate's default: pr's contract scope
    assert any("states generated" in ln and f"% of {total:,}" in ln for ln in lines), lines


def test_display_on_a_terminal_drives_a_bar() -> None:
    from parsync.progress import Display

    buf = io.StringIO()
    with Display("parsync x", stream=buf, tty=True) as d:
        assert d._bar is not None and d._beat is None
        d.search(10, 20, 3, 4, 1.0, total=40)
        d.relabel("parsync y")
        d.count(1, 2, "runs")
    assert d._bar is None


def test_z3_destructor_noise_after_ctrl_c_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by CI once: a Ctrl-C inside z3's ExprRef construction printed 'Exception
    ignored in AstRef.__del__ ... Traceback'. After Ctrl-C such an error from a z3
    destructor is dropped; before Ctrl-C, or from anything else, it is not."""
    import types

    import z3

    from parsync.proofs import solving

    z3_del = types.SimpleNamespace(object=z3.AstRef.__del__, exc_value=AttributeError("ctx"))
    other = types.SimpleNamespace(object=Path.__init__, exc_value=AttributeError("x"))
    monkeypatch.setattr(solving, "_requested", False)
    assert not solving.is_z3_destructor_noise(z3_del)
    monkeypatch.setattr(solving, "_requested", True)
    assert solving.is_z3_destructor_noise(z3_del)
    assert not solving.is_z3_destructor_noise(other)
