"""The language-neutral adapter: ``--parsync-impl=exec:COMMAND`` (conformance/pipe.py).

The reference implementation behind the pipe gives exactly the in-process
verdicts; every way a process can misbehave is one line naming the call; the
protocol's schema accepts what both ends write.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from parsync.conformance.pipe import CALLS, ExecAdapter, serve

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
SUITE = str(ROOT / "conformance")
PY = sys.executable
SERVE = f"exec:{PY} -m parsync.conformance.pipe"

pytestmark = pytest.mark.usefixtures("repo_on_path")


def run_suite(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        SUITE, "-p", "no:cacheprovider", f"--parsync-replay-dir={pytester.path / 'replays'}", *args
    )


def _headline(r: pytest.RunResult) -> str:
    out = r.stdout.str()
    found = [line.strip() for line in out.splitlines() if " at step " in line]
    assert found, f"no failure headline in the output:\n{out[-3000:]}"
    return found[0]


def test_the_reference_through_the_pipe_walks_like_in_process(pytester: pytest.Pytester) -> None:
    lines = []
    for impl in ("parsync.refsched", f"{SERVE} parsync.refsched"):
        r = run_suite(pytester, f"--parsync-impl={impl}", "-s", "-k", "initial or exhaustive")
        r.assert_outcomes(passed=2, deselected=4)
        lines.append(next(x for x in r.stdout.str().splitlines() if "exhaustive lockstep:" in x))
    assert lines[0].lstrip(".") == lines[1].lstrip("."), lines


# the in-process kill of these is pinned in tests/test_refsched_conformance.py; the
# full matrix through the pipe is behind slow (test_every_mutant_through_the_pipe)
PIPED = ("priority_ignored", "release_keeps_ledger", "unbounded_carry_forward")


def _same_kill(pytester: pytest.Pytester, mutant: str) -> None:
    module = f"parsync.refsched.mutants.{mutant}"
    got = []
    for impl in (module, f"{SERVE} {module}"):
        r = run_suite(pytester, f"--parsync-impl={impl}", "-x")
        assert r.ret == 1, r.stdout.str()
        got.append(_headline(r))
    assert got[0] == got[1], got


@pytest.mark.parametrize("mutant", PIPED)
def test_a_mutant_dies_the_same_way_through_the_pipe(
    pytester: pytest.Pytester, mutant: str
) -> None:
    _same_kill(pytester, mutant)


@pytest.mark.slow
def test_every_mutant_through_the_pipe(pytester: pytest.Pytester) -> None:
    from parsync.refsched.mutants import MUTANTS

    for module, _d, _e in MUTANTS:
        _same_kill(pytester, module.rsplit(".", 1)[1])


FAULTS = f"exec:{PY} -m tests.support.pipe_faults"


@pytest.mark.parametrize(
    ("mode", "call", "message"),
    [
        ("hang", "schedule", "did not answer schedule within 1s (per-step timeout)"),
        (
            "exit",
            "broker_step",
            "exited with code 3 during broker_step (stderr: pipe_faults: giving up)",
        ),
        ("garbage", "observe", "the reply to observe is not JSON: 'hello, this is not json'"),
        (
            "shape",
            "reset",
            'the reply to reset must be {"ok": ...} or {"error": "..."}, got [1, 2]',
        ),
        (
            "error",
            "start_cycle",
            "the implementation answered start_cycle with error: no such thing",
        ),
    ],
)
def test_a_misbehaving_process_is_one_line_naming_the_call(
    pytester: pytest.Pytester, mode: str, call: str, message: str
) -> None:
    r = run_suite(
        pytester, f"--parsync-impl={FAULTS} {mode} {call}", "--parsync-step-timeout=1", "-x"
    )
    assert r.ret == 1
    out = r.stdout.str()
    assert message in out, out[-2000:]
    assert "Traceback" not in out


def test_a_command_that_cannot_start_is_a_usage_error(pytester: pytest.Pytester) -> None:
    r = run_suite(pytester, "--parsync-impl=exec:no-such-program-xyz --flag")
    assert r.ret == 4
    err = r.stderr.str()
    assert "parsync: cannot start exec adapter 'no-such-program-xyz --flag'" in err
    assert "Traceback" not in err + r.stdout.str()


def test_close_kills_a_process_that_does_not_exit(tmp_path: Path) -> None:
    script = tmp_path / "stubborn.py"
    script.write_text(
        "import sys, json, time\n"
        "for line in sys.stdin:\n"
        "    print(json.dumps({'ok': None}), flush=True)\n"
        "time.sleep(60)\n",
        encoding="utf-8",
    )
    ad = ExecAdapter(f"{PY} {script}", timeout=2.0)
    ad.reset({})
    import parsync.conformance.pipe as pipe

    old, pipe.CLOSE_WAIT = pipe.CLOSE_WAIT, 0.5
    try:
        ad.shutdown()
    finally:
        pipe.CLOSE_WAIT = old
    assert ad.proc.returncode is not None


def test_a_closed_process_is_reused_by_the_next_run_and_shut_down_at_the_end() -> None:
    """Each Hypothesis example is a new adapter: the process is kept between them
    (every run starts with reset), not started again."""
    cmd = f"{PY} -m parsync.conformance.pipe tests.support.model_adapter"
    a = ExecAdapter(cmd)
    a.reset(_small())
    a.start_cycle(0)
    a.close()
    b = ExecAdapter(cmd)
    assert b is a and b.proc.poll() is None and not b.closed
    b.reset(_small())  # a fresh run on the same process
    assert b.observe()["workers"][0]["cycle"] == 0
    b.close()
    ExecAdapter.shutdown_all()
    assert a.proc.wait(5) == 0  # it got its close and exited
    c = ExecAdapter(cmd)
    assert c is not a
    c.shutdown()


def test_the_python_end_serves_an_adapter() -> None:
    reqs = [
        {"call": "reset", "config": _small()},
        {"call": "start_cycle", "worker": 0},
        {"call": "observe"},
        {"call": "start_cycle", "worker": 7},
        {"call": "close"},
    ]
    out = io.StringIO()
    rc = serve(
        "tests.support.model_adapter", io.StringIO("".join(json.dumps(r) + "\n" for r in reqs)), out
    )
    assert rc == 0
    replies = [json.loads(x) for x in out.getvalue().splitlines()]
    assert replies[0] == {"ok": None} and replies[1] == {"ok": None}
    assert replies[2]["ok"]["workers"][0]["cycle"] == 1
    assert "error" in replies[3] and list(replies[3]) == ["error"]
    assert replies[4] == {"ok": None}


def _small() -> dict[str, object]:
    from parsync.model.presets import get_preset

    return get_preset("small").config.to_dict()


def test_the_schema_accepts_both_ends_and_rejects_a_bad_request() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "spec" / "adapter-protocol.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    from parsync.conformance.observe import observation_of
    from parsync.model.presets import get_preset
    from parsync.model.protocol import ParSyncModel

    cfg = get_preset("small").config
    for name, key in CALLS.items():  # every request the suite writes
        arg = {"config": cfg.to_dict(), "worker": 0, "need": 0, "id": "m1"}.get(key or "")
        req = {"call": name, **({key: arg} if key else {})}
        assert v.is_valid(req), req
    obs = observation_of(ParSyncModel(cfg).init_state())
    assert v.is_valid({"ok": obs}) and v.is_valid({"error": "boom"}) and v.is_valid({"ok": None})
    assert jsonschema.Draft202012Validator(schema["$defs"]["observation"]).is_valid(obs)
    assert not v.is_valid({"call": "start_cycle"})  # no worker
    assert not v.is_valid({"ok": 1, "error": "both"})


@pytest.mark.parametrize(("mode", "kept"), [("garbage", False), ("shape", False), ("error", True)])
def test_a_process_out_of_step_is_killed_not_reused(mode: str, kept: bool) -> None:
    """A line that is not a reply leaves the stream in doubt: that process is not given
    the next run; an error reply is part of the protocol, and the process is kept."""
    from parsync.conformance.adapter import AdapterError

    cmd = f"{PY} -m tests.support.pipe_faults {mode} start_cycle"
    a = ExecAdapter(cmd)
    a.reset(_small())
    with pytest.raises(AdapterError):
        a.start_cycle(0)
    a.close()
    b = ExecAdapter(cmd)
    try:
        assert (b is a) == kept
        if not kept:
            assert a.proc.poll() is not None  # killed
    finally:
        b.shutdown()
        ExecAdapter.shutdown_all()
