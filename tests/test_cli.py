"""The ``parsync`` command: exit codes, output, files written, errors.

Exit codes: 0 pass; 1 violation or vacuous scope; 2 bad usage or bad input (one
line on stderr, never a traceback); 3 incomplete (budget reached).

Most tests run the command in-process through ``parsync.cli.main``; a few run it
as a real subprocess (``python -m parsync.cli`` and the ``parsync`` script).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from parsync.cli import EXIT_FAIL, EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE, main
from parsync.model.config import config_from_dict
from parsync.model.presets import PRESETS, get_preset
from parsync.model.properties import PROPERTIES, WITNESSES
from parsync.model.state import State
from parsync.model.variants import ALL_VARIANTS, REFERENCE_VARIANTS, VARIANT_NAMES, get_variant

REFERENCE_NAMES = [v.name for v in REFERENCE_VARIANTS]
ALL_NAMES = [v.name for v in ALL_VARIANTS]  # the contract's (the default policy's)

ROOT = Path(__file__).resolve().parent.parent
WIDE = {"COLUMNS": "200"}  # rich wraps at the terminal width; keep lines whole

VACUOUS_TOML = """\
# latency-first with one bucket per partition: a gang of 2 never sees both fresh
workers = 2
partitions = 2
capacities = [1, 1]
strategy = "latency-first"
max_cycle = 2

[[needs]]
owner = 0

[[needs]]
owner = 1
gang = 2
"""


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in WIDE.items():
        monkeypatch.setenv(k, v)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``parsync ARGS`` in-process: (exit code, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as e:  # argparse errors exit from inside parse_args
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def run_proc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m parsync.cli ARGS`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "parsync.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd or ROOT,
        env={**os.environ, **WIDE},
    )


def assert_usage_error(code: int, out: str, err: str, *needles: str) -> str:
    """Exit 2, nothing on stdout, exactly one error line (after argparse's usage), no traceback."""
    assert code == EXIT_USAGE, (out, err)
    assert out == ""
    assert "Traceback" not in err
    lines = err.rstrip("\n").split("\n")
    errors = [ln for ln in lines if ln.startswith("parsync: error: ")]
    assert len(errors) == 1, err
    assert lines[-1] == errors[0], "the error is the last line"
    assert all(ln.startswith(("usage:", " ")) for ln in lines[:-1]), err
    for n in needles:
        assert n in errors[0], (n, errors[0])
    return errors[0]


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# --- check: pass, listings ------------------------------------------------------------------------


@pytest.mark.slow  # in the default suite: tests/test_fresh_env.py runs it as a new user does
def test_check_default_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check")
    assert code == EXIT_OK, out + err
    assert "parsync check small" in out
    assert "PASS" in out
    assert re.search(r"[\d,]+ distinct states, [\d,]+ transitions, depth \d+", out)
    for p in PROPERTIES:
        assert re.search(rf"{re.escape(p.id)}\s.*{p.name}.*holds", out), p.id
    for w in WITNESSES:
        assert w.id in out
    assert "NOT REACHED" not in out and "vacuous" not in out
    assert "Traceback" not in err


def test_list_variants(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "--list-variants")
    assert code == EXIT_OK
    assert out == "".join(f"{n}\n" for n in ALL_NAMES)  # the contract's, by default
    assert err == ""
    code, out, err = run(capsys, "check", "--list-variants", "--policy", "reference")
    assert code == EXIT_OK
    assert out == "".join(f"{n}\n" for n in REFERENCE_NAMES)


def test_list_variants_subprocess() -> None:
    p = run_proc("check", "--list-variants")
    assert p.returncode == EXIT_OK, p.stderr
    assert p.stdout.splitlines() == ALL_NAMES


def test_list_presets(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "--list-presets")
    assert code == EXIT_OK
    for name, preset in PRESETS.items():
        assert f"{name}: {preset.summary}" in out
        assert preset.config.describe() in out
        if preset.contract is not None:  # the smaller scope exhaustive search takes there
            assert f"under the contract: {preset.contract.describe()}" in out
            assert preset.contract_note in out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == EXIT_USAGE
    assert "check" in out and "replay" in out and "bench" in out


# --- check: violations ----------------------------------------------------------------------------


def test_variant_violation_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "--variant", "no-epoch-fencing")
    assert code == EXIT_FAIL, out + err
    assert "parsync check small --variant no-epoch-fencing" in out
    assert "VIOLATION" in out
    assert re.search(r"PS-9\s.*EpochFencing.*VIOLATED", out)
    # the contract by default: the proposal reaches the broker's inbox in a step of its own
    assert "PS-9 EpochFencing violated after 5 steps" in out
    steps = re.findall(r"^\s+(\d+)\. (\w+)\(", out, flags=re.M)
    assert steps == [
        ("1", "StartCycle"),
        ("2", "Propose"),
        ("3", "Deliver"),
        ("4", "Failover"),
        ("5", "Commit"),
    ]
    assert "  0. Init" in out
    assert "broker.epoch: 0 -> 1" in out
    # the search stopped at the violation: unreached witnesses prove nothing
    assert "vacuous" not in out and "NOT REACHED" not in out
    assert "Traceback" not in err


def test_variant_violation_subprocess() -> None:
    # the reference's pr: the contract's pr scope (pr's crash alone) has no failover
    p = run_proc(
        "check", "--preset", "pr", "--variant", "no-epoch-fencing", "--policy", "reference"
    )
    assert p.returncode == EXIT_FAIL, p.stderr
    assert "PS-9" in p.stdout and "EpochFencing" in p.stdout
    assert "violated after 4 steps" in p.stdout
    assert "3. Failover()" in p.stdout
    assert "Traceback" not in p.stderr


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["check", "--preset", "pr", "--variant", "no-epoch-fencing", "--json"]
    code, out, _ = run(capsys, *argv, "--policy", "reference")
    assert code == EXIT_FAIL
    d = json.loads(out)
    assert d["verdict"] == "violation"
    assert d["scope"] == "pr"
    assert d["variant"] == "no-epoch-fencing"
    assert isinstance(d["states"], int) and d["states"] > 0
    assert isinstance(d["transitions"], int) and d["transitions"] >= d["states"] - 1
    assert d["violation"]["property"] == "PS-9"
    assert d["violation"]["properties"] == ["PS-9"]
    assert d["violation"]["length"] == 4
    assert [a["action"] for a in d["violation"]["trace"]["actions"]] == [
        "StartCycle",
        "Propose",
        "Failover",
        "Commit",
    ]
    assert set(d["coverage"]) >= {"StartCycle", "Commit", "Failover"}


def test_json_output_subprocess() -> None:
    p = run_proc("check", "--variant", "release-keeps-ledger", "--json")
    assert p.returncode == EXIT_FAIL, p.stderr
    d = json.loads(p.stdout)
    assert d["verdict"] == "violation" and d["violation"]["property"] == "PS-4"


# --- check: budgets and vacuous scopes ------------------------------------------------------------


def test_state_budget_is_incomplete(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "--preset", "pr", "--max-states", "100")
    assert code == EXIT_INCOMPLETE
    assert "INCOMPLETE" in out
    assert "stopped: state budget of 100 reached; the result is incomplete" in out
    m = re.search(r"([\d,]+) distinct states, ([\d,]+) transitions", out)
    assert m is not None
    assert int(m.group(1).replace(",", "")) >= 100
    assert int(m.group(2).replace(",", "")) > 0
    assert "not violated so far" in out
    assert "vacuous" not in out


def test_state_budget_is_incomplete_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "--preset", "pr", "--max-states", "100", "--json")
    assert code == EXIT_INCOMPLETE
    d = json.loads(out)
    assert d["verdict"] == "incomplete"
    assert d["stop_reason"] == "state budget of 100 reached"
    assert 100 <= d["states"] < 200 and d["transitions"] > 0
    assert "violation" not in d
    assert d["unfired_actions"] == []
    assert False not in d["witnesses"].values()


def test_vacuous_config_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg = write(tmp_path, "vacuous.toml", VACUOUS_TOML)
    trace = tmp_path / "trace.json"
    code, out, _ = run(capsys, "check", "--config", str(cfg), "--trace-out", str(trace))
    assert code == EXIT_FAIL
    assert "parsync check vacuous.toml" in out
    assert "VACUOUS" in out
    assert re.search(r"vacuous scope: witness\(es\) never reached: .*W-gang-commit", out)
    assert re.search(r"W-gang-commit\s.*NOT REACHED", out)
    assert not trace.exists(), "no counterexample, no trace file"
    code, out, _ = run(capsys, "check", "--config", str(cfg), "--json")
    assert code == EXIT_FAIL
    d = json.loads(out)
    assert d["verdict"] == "vacuous" and d["witnesses"]["W-gang-commit"] is False


# --- check: bad usage / bad input -> exit 2, one line, no traceback -------------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["check", "--preset", "nope"], ["unknown preset 'nope'", "small"]),
        (["check", "--variant", "nope"], ["unknown variant 'nope'", "no-epoch-fencing"]),
        (["check", "--max-states", "-5"], ["--max-states", "'-5'"]),
        (["check", "--max-states=-5"], ["--max-states", "'-5'"]),
        (["check", "--max-states", "0"], ["--max-states", "'0'"]),
        (["check", "--max-states", "many"], ["--max-states", "'many'"]),
        (["check", "--max-seconds", "-1"], ["--max-seconds", "'-1'"]),
        (["check", "--preset", "pr", "--config", "x.toml"], ["--config", "--preset"]),
        (["check", "--frobnicate"], ["--frobnicate"]),
        (["bench", "--preset", "nope"], ["unknown preset 'nope'"]),
        (["nonsense"], ["nonsense"]),
    ],
)
def test_usage_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], needles: list[str]
) -> None:
    assert_usage_error(*run(capsys, *args), *needles)


def test_missing_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    line = assert_usage_error(*run(capsys, "check", "--config", str(missing)), str(missing))
    assert "cannot read config" in line


def test_invalid_toml(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.toml", "workers = \n")
    assert_usage_error(*run(capsys, "check", "--config", str(bad)), str(bad), "not valid TOML")


def test_non_utf8_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(VACUOUS_TOML.encode() + b"# caf\xe9\n")
    assert_usage_error(*run(capsys, "check", "--config", str(bad)), str(bad), "UTF-8")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (("owner = 1", "owner = 5"), "needs[1] is owned by worker 5"),
        (("workers = 2", "workers = true"), "workers must be an integer, got True"),
        (("max_cycle = 2", "max_cycle = 2\ncolour = 1"), "unknown config field(s): colour"),
        (('strategy = "latency-first"', 'strategy = "eager"'), "strategy must be one of"),
        (("capacities = [1, 1]\n", ""), "missing required config field 'capacities'"),
    ],
)
def test_invalid_config_content(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, change: tuple[str, str], needle: str
) -> None:
    cfg = write(tmp_path, "scope.toml", VACUOUS_TOML.replace(*change))
    assert_usage_error(*run(capsys, "check", "--config", str(cfg)), str(cfg), needle)


def test_usage_error_subprocess() -> None:
    p = run_proc("check", "--preset", "nope")
    assert p.returncode == EXIT_USAGE
    assert p.stdout == ""
    assert p.stderr.splitlines() == [
        "parsync: error: unknown preset 'nope'; known presets: " + ", ".join(PRESETS)
    ]


def test_argparse_error_subprocess(tmp_path: Path) -> None:
    p = run_proc("check", "--max-states", "-5")
    assert_usage_error(p.returncode, p.stdout, p.stderr, "expected a positive integer, got '-5'")


def test_console_script_is_installed() -> None:
    exe = shutil.which("parsync")
    if exe is None:
        pytest.skip("the parsync console script is not on PATH")
    p = subprocess.run(
        [exe, "check", "--list-variants"], capture_output=True, text=True, timeout=60
    )
    assert p.returncode == EXIT_OK, p.stderr
    assert p.stdout.splitlines() == ALL_NAMES


def test_unwritable_trace_out(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir" / "t.json"
    assert_usage_error(
        *run(capsys, "check", "--variant", "no-epoch-fencing", "--trace-out", str(target)),
        "cannot write",
        str(target),
    )


# --- counterexample files and replay --------------------------------------------------------------


@pytest.fixture
def written(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[Path, Path]:
    trace, itf = tmp_path / "cex.json", tmp_path / "cex.itf.json"
    code, _, _ = run(
        capsys,
        "check",
        "--preset",
        "pr",
        "--variant",
        "no-epoch-fencing",
        "--trace-out",
        str(trace),
        "--itf-out",
        str(itf),
        "--policy",  # the reference's pr has the failover (the contract's pr scope has not)
        "reference",
    )
    assert code == EXIT_FAIL
    return trace, itf


def test_trace_out_document(written: tuple[Path, Path]) -> None:
    doc = json.loads(written[0].read_text(encoding="utf-8"))
    assert doc["format"] == "parsync-counterexample/1"
    assert doc["scope"] == "pr"
    assert doc["variant"] == "no-epoch-fencing"
    assert doc["property"] == "PS-9" and doc["property_name"] == "EpochFencing"
    assert doc["properties"] == ["PS-9"]
    assert config_from_dict(doc["config"]) == get_preset("pr").config
    assert [a["action"] for a in doc["actions"]] == ["StartCycle", "Propose", "Failover", "Commit"]
    assert len(doc["states"]) == 5


def test_itf_out_document(written: tuple[Path, Path]) -> None:
    itf = json.loads(written[1].read_text(encoding="utf-8"))
    assert itf["#meta"]["format"] == "ITF"
    assert itf["#meta"]["property"] == "PS-9"
    assert itf["#meta"]["variant"] == "no-epoch-fencing"
    assert itf["vars"] == list(State._fields)
    assert len(itf["states"]) == 5
    for st in itf["states"]:
        assert set(st) == {*State._fields, "#meta"}
    assert itf["states"][3]["broker"]["epoch"] == {"#bigint": "1"}


def test_replay_reproduces_the_violation(
    capsys: pytest.CaptureFixture[str], written: tuple[Path, Path]
) -> None:
    code, out, err = run(capsys, "replay", str(written[0]))
    assert code == EXIT_FAIL, err
    assert out.startswith("replayed 4 steps: violates PS-9\n")
    assert "  4. Commit(" in out
    code, out, _ = run(capsys, "replay", str(written[0]), "--json")
    assert code == EXIT_FAIL
    assert json.loads(out) == {
        "file": str(written[0]),
        "steps": 4,
        "violations": ["PS-9"],
        "notes": [],
    }


def test_replay_subprocess(written: tuple[Path, Path]) -> None:
    p = run_proc("replay", str(written[0]))
    assert p.returncode == EXIT_FAIL, p.stderr
    assert "violates PS-9" in p.stdout


@pytest.mark.parametrize("policy", ["reference", "contract"])
@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_every_variant_counterexample_replays(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, policy: str
) -> None:
    """Each design variant's counterexample replays (the policy recorded in the file):
    on pr, or, under the contract, where pr's contract scope (its crash alone) lacks
    the failover the variant needs, on small (drops and failover)."""
    trace = tmp_path / "cex.json"
    needs_failover = name in ("no-epoch-fencing", "lagging-replica-failover")
    preset = "small" if policy == "contract" and needs_failover else "pr"
    argv = ["check", "--preset", preset, "--variant", name, "--policy", policy]
    code, _, _ = run(capsys, *argv, "--trace-out", str(trace), "--json")
    assert code == EXIT_FAIL
    code, out, err = run(capsys, "replay", str(trace), "--json")
    assert code == EXIT_FAIL, err
    d = json.loads(out)
    doc = json.loads(trace.read_text(encoding="utf-8"))
    assert d["steps"] == len(doc["actions"])
    assert get_variant(name).breaks in d["violations"]
    assert set(doc["properties"]) <= set(d["violations"])


def _corrupt(src: Path, dst: Path, f: Any) -> Path:
    doc = json.loads(src.read_text(encoding="utf-8"))
    f(doc)
    dst.write_text(json.dumps(doc), encoding="utf-8")
    return dst


def _set(key: str, value: Any) -> Any:
    def f(doc: dict[str, Any]) -> None:
        doc[key] = value

    return f


def _disable_step(doc: dict[str, Any]) -> None:
    doc["actions"][0]["args"]["w"] = 7  # there is no worker 7


def _swap_steps(doc: dict[str, Any]) -> None:
    doc["actions"][0], doc["actions"][1] = doc["actions"][1], doc["actions"][0]


def _bad_action(doc: dict[str, Any]) -> None:
    doc["actions"][2] = {"action": "Teleport", "args": {}}


def _bad_owner(doc: dict[str, Any]) -> None:
    doc["config"]["needs"][0]["owner"] = 9


@pytest.mark.parametrize(
    ("corrupt", "needle"),
    [
        (_disable_step, "step 1: StartCycle(w=7) is not enabled"),
        (_swap_steps, "step 1: Propose(w=0, buckets=[0]) is not enabled"),
        (_bad_action, "not a valid action"),
        (_bad_owner, "needs[0] is owned by worker 9"),
        (_set("variant", "nope"), "unknown variant 'nope'"),
        (_set("variant", ["no-epoch-fencing"]), "variant must be a variant name or null"),
        (_set("actions", {"0": 1}), "'actions' must be a list"),
        (_set("config", [1]), "a config must be a table"),
    ],
)
def test_replay_corrupted_counterexample(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    written: tuple[Path, Path],
    corrupt: Any,
    needle: str,
) -> None:
    bad = _corrupt(written[0], tmp_path / "bad.json", corrupt)
    assert_usage_error(*run(capsys, "replay", str(bad)), str(bad), needle)


def test_replay_bad_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.json", '{"config": {"workers": 2,')
    assert_usage_error(*run(capsys, "replay", str(bad)), str(bad), "not valid JSON")
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    assert_usage_error(*run(capsys, "replay", str(binary)), str(binary), "not valid JSON")


def test_replay_not_a_counterexample(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, written: tuple[Path, Path]
) -> None:
    for i, text in enumerate(["[1, 2, 3]", '"trace"', '{"actions": []}', '{"config": {}}']):
        f = write(tmp_path, f"other{i}.json", text)
        assert_usage_error(*run(capsys, "replay", str(f)), str(f), "not a parsync counterexample")


def test_replay_accepts_itf(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, written: tuple[Path, Path]
) -> None:
    """The ITF file of the same counterexample replays; its decoded states are re-checked
    against the replay, with or without the recorded actions."""
    itf = written[1]
    code, out, err = run(capsys, "replay", str(itf), "--json")
    assert code == EXIT_FAIL, err
    assert json.loads(out)["violations"] == ["PS-9"] and json.loads(out)["notes"] == []
    doc = json.loads(itf.read_text(encoding="utf-8"))
    for st in doc["states"]:  # as another tool writes it: states only, actions inferred
        st["#meta"].pop("parsync-action", None)
    bare = write(tmp_path, "bare.itf.json", json.dumps(doc))
    code, out, err = run(capsys, "replay", str(bare))
    assert code == EXIT_FAIL, err
    assert out.startswith("replayed 4 steps: violates PS-9\n") and "  4. Commit(" in out
    doc["states"][2]["faults"]["crash"] = {"#bigint": "1"}  # a state no step reaches
    bad = write(tmp_path, "bad.itf.json", json.dumps(doc))
    assert_usage_error(*run(capsys, "replay", str(bad)), "state 2: no model step leads to it")
    with_actions = json.loads(itf.read_text(encoding="utf-8"))
    with_actions["states"][2]["faults"]["crash"] = {"#bigint": "1"}
    drift = write(tmp_path, "drift.itf.json", json.dumps(with_actions))
    code, out, err = run(capsys, "replay", str(drift), "--json")
    assert code == EXIT_FAIL and json.loads(out)["notes"] == [
        "the replayed states differ from the recorded ones from step 2 on "
        "(the model, config or variant changed since it was recorded)"
    ]
    del doc["#meta"]["config"]
    nocfg = write(tmp_path, "nocfg.itf.json", json.dumps(doc))
    assert_usage_error(*run(capsys, "replay", str(nocfg)), "needs its scope")
    doc = json.loads(itf.read_text(encoding="utf-8"))
    doc["states"][1]["broker"]["seq"] = [1, 2]  # a list where the spec has a function
    typo = write(tmp_path, "typo.itf.json", json.dumps(doc))
    assert_usage_error(*run(capsys, "replay", str(typo)), "state 1: not a #map")


def test_replay_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    assert_usage_error(*run(capsys, "replay", str(missing)), "cannot read", str(missing))


def test_replay_of_a_harmless_trace_exits_0(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, written: tuple[Path, Path]
) -> None:
    """The same actions against the correct protocol: the commit is fenced, nothing breaks."""
    ok = _corrupt(written[0], tmp_path / "fixed.json", _set("variant", None))
    code, out, _ = run(capsys, "replay", str(ok))
    assert code == EXIT_OK
    assert out == "replayed 4 steps: no property violated\n"


def test_replay_corrupted_subprocess(tmp_path: Path, written: tuple[Path, Path]) -> None:
    bad = _corrupt(written[0], tmp_path / "bad.json", _disable_step)
    p = run_proc("replay", str(bad))
    assert p.returncode == EXIT_USAGE
    assert "Traceback" not in p.stderr
    assert p.stderr.splitlines() == [
        f"parsync: error: {bad}: step 1: StartCycle(w=7) is not enabled in the replayed state"
    ]


# --- bench ----------------------------------------------------------------------------------------


def test_bench_small(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "bench", "--preset", "small")
    assert code == EXIT_OK, err
    assert re.fullmatch(
        r"small: [\d,]+ distinct states in [\d.]+s = [\d,]+ states/s "
        r"\([\d,]+ transitions, depth \d+, verdict pass\)\n",
        out,
    ), out


def test_replay_notes_a_counterexample_that_drifted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, written: tuple[Path, Path]
) -> None:
    """Replayed against the correct protocol, the recorded states and PS-9 are both stale."""
    ok = _corrupt(written[0], tmp_path / "fixed.json", _set("variant", None))
    code, _, err = run(capsys, "replay", str(ok))
    assert code == EXIT_OK
    assert "the replayed states differ from the recorded ones from step 4 on" in err
    assert "the recorded violation of PS-9 no longer reproduces" in err


def test_mutants_lists_every_impl_target(capsys: pytest.CaptureFixture[str]) -> None:
    from parsync.refsched import REFERENCE
    from parsync.refsched.mutants import MUTANTS

    code, out, _ = run(capsys, "mutants")
    assert code == EXIT_OK
    assert out.splitlines() == [m for m, _d, _e in MUTANTS]
    code, out, _ = run(capsys, "mutants", "--reference")
    assert (code, out) == (EXIT_OK, f"{REFERENCE}\n")


def test_a_ctrl_c_after_the_command_returned_keeps_its_exit_code() -> None:
    """The console entry point (``parsync.cli:run``, and ``python -m parsync.cli``) ignores
    a Ctrl-C that lands once ``main()`` has returned (a second Ctrl-C while the
    interpreter shuts down): the documented exit code stands, and no traceback."""
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["parsync"] == "parsync.cli:run"
    code = (
        "import atexit, os, signal, time\n"
        "from parsync import cli\n"
        "cli.main = lambda argv=None: 3\n"
        "atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(0.2)))\n"
        "cli.run()\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        check=False,
    )
    assert p.returncode == 3, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr and "KeyboardInterrupt" not in p.stderr, p.stderr
