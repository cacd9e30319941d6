"""``parsync check --workers N``: the fingerprint-partitioned multi-process search
(parsync/engines/parallel.py) gives exactly the single-process result.

Passing scopes: the same distinct states, transitions, depth, coverage and
witnesses. Failing variants: the same properties and the same counterexample,
step for step (both report the violation with the least BFS key). Budgets,
Ctrl-C and a failing or dying shard end with the documented result or one line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from parsync.cli import main
from parsync.engines.checker import Checker
from parsync.engines.parallel import ParallelChecker, ShardError, collision_probability
from parsync.model.presets import PRESETS
from parsync.model.protocol import ParSyncModel
from parsync.model.variants import CAPACITY_VARIANTS, CONTRACT_VARIANTS, REFERENCE_VARIANTS
from tests.support.failing_models import Boom, Dies

ROOT = Path(__file__).resolve().parents[1]
PR2 = [  # the reference's pr (2,070,097 states): long enough to interrupt twice
    *(sys.executable, "-m", "parsync.cli", "check", "--preset", "pr", "--workers", "2"),
    *("--policy", "reference"),
]


def _interrupted(
    *extra: str, after: float, again: float | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    """``parsync check --preset pr --workers 2 EXTRA``, Ctrl-C after ``after`` seconds
    (and a second one ``again`` seconds later): exit code, stdout, stderr."""
    p = subprocess.Popen(
        [*PR2, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    time.sleep(after)
    p.send_signal(signal.SIGINT)
    if again is not None:
        time.sleep(again)
        p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def _same(a: object, b: object) -> None:
    assert a.verdict == b.verdict  # type: ignore[attr-defined]
    for f in ("states", "transitions", "depth", "coverage", "witnesses", "unfired", "symmetry"):
        assert getattr(a, f) == getattr(b, f), f


def _same_violation(a: object, b: object) -> None:
    va, vb = a.violation, b.violation  # type: ignore[attr-defined]
    assert va is not None and vb is not None
    assert va.property_ids == vb.property_ids
    assert va.trace.actions == vb.trace.actions
    assert va.trace.states == vb.trace.states
    assert a.depth == b.depth  # type: ignore[attr-defined]


@pytest.mark.parametrize("preset", ["small", "twins", "capacity"])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_a_passing_preset_has_the_single_process_counts(preset: str, workers: int) -> None:
    m = ParSyncModel(PRESETS[preset].config)
    one = Checker(m, symmetry=True).run()
    par = ParallelChecker(m, workers=workers, symmetry=True).run()
    assert one.verdict == "pass"
    _same(one, par)
    assert par.extra["workers"] == workers
    assert par.extra["fingerprint_collision_probability"] == collision_probability(one.states)


@pytest.mark.parametrize("symmetry", [True, False])
def test_the_contract_with_its_inbox_has_the_single_process_counts(symmetry: bool) -> None:
    """A contract state carries the broker's inbox: one more component code."""
    m = ParSyncModel(PRESETS["twins"].config, policy="contract")
    one = Checker(m, symmetry=symmetry).run()
    par = ParallelChecker(m, workers=2, symmetry=symmetry).run()
    assert one.verdict == "pass" and one.coverage["Deliver"] > 0
    _same(one, par)


def test_a_contract_run_resumes_to_the_uninterrupted_counts(tmp_path: Path) -> None:
    m = ParSyncModel(PRESETS["twins"].config, policy="contract")
    straight = Checker(m, symmetry=True).run()
    cp = tmp_path / "cp"
    a = ParallelChecker(m, workers=2, symmetry=True, max_states=10_000, checkpoint=cp).run()
    assert a.verdict == "incomplete"
    b = ParallelChecker(m, workers=1, symmetry=True, resume=cp).run()
    _same(straight, b)


def test_symmetry_off_too() -> None:
    m = ParSyncModel(PRESETS["twins"].config)
    one = Checker(m, symmetry=False).run()
    par = ParallelChecker(m, workers=2, symmetry=False).run()
    _same(one, par)
    assert par.symmetry == 1 and one.states > Checker(m, symmetry=True).run().states


def _variants() -> list[tuple[str, str, str]]:
    out = [("small", v.name, "reference") for v in REFERENCE_VARIANTS]
    out += [("capacity", v.name, "reference") for v in CAPACITY_VARIANTS]
    # timeout-reuses-tag needs a timeout budget that small's contract model lacks
    out += [("small", v.name, "contract") for v in CONTRACT_VARIANTS if "timeout" not in v.name]
    assert len(out) >= 17
    return out


@pytest.mark.parametrize(("preset", "variant", "policy"), _variants())
def test_a_variant_gives_the_same_verdict_and_counterexample(
    preset: str, variant: str, policy: str
) -> None:
    m = ParSyncModel(PRESETS[preset].config, variant=variant, policy=policy)
    one = Checker(m, symmetry=True, max_states=400_000).run()
    par = ParallelChecker(m, workers=2, symmetry=True, max_states=400_000).run()
    assert one.verdict == par.verdict
    if one.verdict == "violation":
        _same_violation(one, par)
    else:  # the capacity mistakes are the correct rule at small's unit sizes
        assert one.verdict == "pass", (variant, one.verdict)
        _same(one, par)


def test_a_state_budget_stops_with_an_incomplete_result() -> None:
    m = ParSyncModel(PRESETS["small"].config)
    r = ParallelChecker(m, workers=2, symmetry=True, max_states=5_000).run()
    assert r.verdict == "incomplete"
    assert r.stop_reason == "state budget of 5000 reached"
    assert 5_000 <= r.states < 111_204
    assert r.unfired == [] and all(v is not False for v in r.witnesses.values())


def test_progress_is_reported_per_level() -> None:
    m = ParSyncModel(PRESETS["small"].config)
    seen: list[tuple[int, int]] = []
    r = ParallelChecker(
        m, workers=2, symmetry=True, progress=lambda p: seen.append((p.depth, p.states))
    ).run()
    assert [d for d, _ in seen] == sorted({d for d, _ in seen})
    assert seen[-1] == (r.depth, r.states)


def test_a_shard_that_raises_is_one_line_naming_it() -> None:
    with pytest.raises(ShardError) as e:
        ParallelChecker(Boom(PRESETS["small"].config), workers=2).run()
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("shard ") and "ValueError: boom in successors" in msg, msg


def test_a_shard_that_dies_is_one_line_with_its_exit_code() -> None:
    t0 = time.perf_counter()
    with pytest.raises(ShardError, match=r"^shard \d of 2 died \(exit code 9\)"):
        ParallelChecker(Dies(PRESETS["small"].config), workers=2).run()
    assert time.perf_counter() - t0 < 60


def test_fingerprints_are_values_not_identities() -> None:
    m = ParSyncModel(PRESETS["small"].config)
    s0 = next(iter(m.init_states()))
    copy = type(s0)(*s0)  # an equal state from other objects
    from parsync.engines.parallel import _Shard

    sh = _Shard(0, 1, m, False, [s0])
    assert sh.fp(s0) == sh.fp(sh.interned(copy))
    assert 0 <= sh.fp(s0) < 2**64
    assert collision_probability(2_070_097) == pytest.approx(1.16e-7, rel=0.01)


@pytest.mark.parametrize("policy", ["reference", "contract"])
def test_a_chunk_at_once_is_the_states_one_at_a_time(policy: str) -> None:
    """The shard's column-by-column work (fingerprints, codes, decoding, the wire) gives
    what the per-state definitions give, inbox (contract) included."""
    from parsync.engines.parallel import _Shard, value_fingerprint

    cfg = PRESETS["small"].config
    m = ParSyncModel(cfg, policy=policy)
    s0 = next(iter(m.init_states()))
    states, frontier = [s0], [s0]
    while len(states) < 3_000 and frontier:
        frontier = [t for s in frontier for _a, t in m.successors(s)]
        states += frontier
    assert policy == "reference" or any(t.inbox for t in states)
    a = _Shard(0, 2, m, False, [s0])
    got = a.fps(states)
    assert got.dtype.name == "uint64"
    assert got.tolist() == [a.fp(t) for t in states] == list(map(value_fingerprint, states))
    codes = a._codes(states)
    assert codes.shape == (len(states), m.W + 6)
    back = a._states(codes)
    assert back == states and {type(t) for t in back} == {type(s0)}
    # shard 1 in "another process" (its own model): two batches, the second reusing codes
    other = ParSyncModel(cfg, policy=policy)
    b = _Shard(1, 2, other, False, [next(iter(other.init_states()))])
    half = len(states) // 2
    first = b._states(b._unpack(0, a._ship(1, codes[:half])))
    again = b._states(b._unpack(0, a._ship(1, codes[::-1])))
    assert first == states[:half] and again == states[::-1]
    assert all(b.fp(t) == f for t, f in zip(again, got[::-1].tolist(), strict=True))
    assert b._states(b._unpack(0, a._ship(1, codes[:0]))) == []


def test_cli_workers_json_and_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    argv = ["check", "--policy", "reference", "--workers", "2", "--no-progress"]
    assert main([*argv, "--json-out", str(out)]) == 0
    d = json.loads(out.read_text(encoding="utf-8"))
    assert d["states"] == 111_204 and d["workers"] == 2
    assert d["fingerprint_collision_probability"] == collision_probability(111_204)
    assert "2 worker process(es)" in capsys.readouterr().out
    assert main(["check", "--variant", "no-dedup", "--workers", "auto", "--no-progress"]) == 1
    for bad in ("0", "x", "300"):
        with pytest.raises(SystemExit) as e:
            main(["check", "--workers", bad])
        assert e.value.code == 2
        assert "--workers" in capsys.readouterr().err


def test_ctrl_c_stops_the_shards_and_prints_a_partial_result() -> None:
    rc, out, err = _interrupted(after=6)
    assert rc == 3, (out, err)
    assert "Traceback" not in err, err
    assert "interrupted" in (out + err)
    assert "the result is incomplete" in (out + err)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["pr", "nightly", "three-partitions", "duplicates"])
def test_every_larger_preset_has_the_recorded_counts(preset: str) -> None:
    rec = json.loads((ROOT / "spec" / "manifest.json").read_text(encoding="utf-8"))
    want = rec["presets"][preset]
    par = ParallelChecker(ParSyncModel(PRESETS[preset].config), workers=2, symmetry=True).run()
    assert par.verdict == want["verdict"]
    assert (par.states, par.transitions, par.depth) == (
        want["states"],
        want["transitions"],
        want["depth"],
    )


def test_the_benchmark_runs_side_by_side(tmp_path: Path) -> None:
    """bench/bench_parallel.py (a measurement, not a timed test) keeps working."""
    out = tmp_path / "b.json"
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_parallel.py"),
            "--preset",
            "twins",
            "--workers",
            "1,2",
            "--json-out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text(encoding="utf-8"))
    assert [row["workers"] for row in d["rows"]] == [0, 1, 2]
    assert all(row["bytes_per_state"] > 0 and row["seconds"] > 0 for row in d["rows"])
    assert "11,660 distinct states" in r.stdout


# --- checkpoint and resume -------------------------------------------------------------


def test_a_run_stopped_twice_resumes_to_the_uninterrupted_counts(tmp_path: Path) -> None:
    """Stopped by a budget at two points, resumed each time with another worker count."""
    m = ParSyncModel(PRESETS["small"].config)
    straight = Checker(m, symmetry=True).run()
    cp = tmp_path / "cp"
    a = ParallelChecker(m, workers=2, symmetry=True, max_states=20_000, checkpoint=cp).run()
    assert a.verdict == "incomplete" and a.extra["checkpoint"] == str(cp)
    meta = json.loads((cp / "checkpoint.json").read_text(encoding="utf-8"))
    assert meta["states"] == a.states and meta["workers"] == 2
    b = ParallelChecker(m, workers=3, symmetry=True, max_states=60_000, resume=cp).run()
    assert b.verdict == "incomplete" and b.states > a.states
    assert b.extra["resumed_from"]["states"] == a.states
    assert sorted(p.name for p in cp.iterdir()) == [
        "checkpoint.json",
        *(f"shard-{k}-level{b.depth}.pickle" for k in range(3)),
    ]  # the first checkpoint's files are gone
    c = ParallelChecker(m, workers=1, symmetry=True, resume=cp).run()
    _same(straight, c)


def test_a_resumed_run_finds_the_same_counterexample(tmp_path: Path) -> None:
    m = ParSyncModel(PRESETS["small"].config, variant="no-dedup")
    straight = Checker(m, symmetry=True).run()
    cp = tmp_path / "cp"
    a = ParallelChecker(m, workers=2, symmetry=True, max_states=50, checkpoint=cp).run()
    assert a.verdict == "incomplete" and a.depth < len(straight.violation.trace.actions)  # type: ignore[union-attr]
    b = ParallelChecker(m, workers=2, symmetry=True, resume=cp).run()
    _same_violation(straight, b)


def test_checkpoint_problems_are_one_line_before_the_search(tmp_path: Path) -> None:
    from parsync.engines.parallel import CheckpointError

    small = ParSyncModel(PRESETS["small"].config)
    cp = tmp_path / "cp"
    ParallelChecker(small, workers=1, max_states=1_000, checkpoint=cp).run()
    cases = [
        (ParSyncModel(PRESETS["twins"].config), cp, "is a checkpoint of config"),
        (ParSyncModel(PRESETS["small"].config, variant="no-dedup"), cp, "of variant None"),
        (small, tmp_path / "empty", "holds no checkpoint"),
    ]
    (tmp_path / "empty").mkdir()
    for model, where, message in cases:
        with pytest.raises(CheckpointError, match=message):
            ParallelChecker(model, workers=1, resume=where)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "checkpoint.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        ParallelChecker(small, workers=1, resume=bad)
    (cp / "shard-0-level0.pickle").unlink(missing_ok=True)
    for f in cp.glob("shard-*"):
        f.unlink()
    with pytest.raises(CheckpointError, match="is incomplete: shard-0-level"):
        ParallelChecker(small, workers=1, resume=cp)
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(CheckpointError, match="cannot write checkpoints to"):
        ParallelChecker(small, workers=1, checkpoint=blocker / "sub")


def test_cli_checkpoint_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--resume", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "holds no checkpoint" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("to_the_end", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_ctrl_c_with_a_checkpoint_saves_the_level_and_resumes(
    tmp_path: Path, to_the_end: bool
) -> None:
    """The first Ctrl-C gives the level under way up and saves the last whole one; the
    run resumes from it
    (in the default suite, up to a state budget past the saved count: resumed runs
    reaching the uninterrupted counts are tested on smaller scopes above; the slow
    variant resumes ``pr`` to the counts the manifest records for an uninterrupted run)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cp = tmp_path / "cp"
    rc, out, err = _interrupted("--checkpoint", str(cp), after=6, timeout=120)
    assert rc == 3, (out, err)
    assert "Traceback" not in err
    assert "the level under way is given up and the last whole level is saved" in err
    assert f"continue it with --resume {cp}" in err
    meta = json.loads((cp / "checkpoint.json").read_text(encoding="utf-8"))
    assert 0 < meta["states"] < 2_070_097
    budget = [] if to_the_end else ["--max-states", str(meta["states"] + 50_000)]
    r = subprocess.run(
        [*PR2, "--resume", str(cp), "--json", *budget],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    d = json.loads(r.stdout)
    if not to_the_end:  # stopped by the budget, past the saved level, from the saved count
        assert r.returncode == 3, r.stderr
        assert d["verdict"] == "incomplete" and "state budget" in d["stop_reason"], d
        assert d["states"] >= meta["states"] + 50_000 and d["depth"] >= meta["depth"], d
        return
    assert r.returncode == 0, r.stderr
    want = json.loads((ROOT / "spec" / "manifest.json").read_text(encoding="utf-8"))
    want = want["presets"]["pr"]
    assert (d["states"], d["transitions"], d["depth"]) == (
        want["states"],
        want["transitions"],
        want["depth"],
    )


def _session_processes(sid: int) -> list[int]:
    """The live processes of session ``sid`` (from /proc; zombies left out)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_sigterm_to_the_process_group_saves_a_checkpoint_and_leaves_no_shard(
    tmp_path: Path,
) -> None:
    """A CI job's time limit sends SIGTERM to every process of the job: the shards ignore
    it, the coordinator takes it as a Ctrl-C (the level given up, the last whole level
    saved, exit 3), and no shard process is left behind."""
    cp = tmp_path / "cp"
    p = subprocess.Popen(
        [*PR2, "--checkpoint", str(cp)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        start_new_session=True,
    )
    time.sleep(6)
    os.killpg(p.pid, signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 3, (out, err)
    assert "Traceback" not in err, err
    assert "the level under way is given up" in err
    meta = json.loads((cp / "checkpoint.json").read_text(encoding="utf-8"))
    assert 0 < meta["states"] < 2_070_097
    deadline = time.monotonic() + 10
    while _session_processes(p.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _session_processes(p.pid) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_coordinator_killed_outright_leaves_no_shard(tmp_path: Path) -> None:
    """SIGKILL cannot be handled: the shards (which ignore SIGTERM) go with it."""
    p = subprocess.Popen(
        PR2,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        start_new_session=True,
    )
    time.sleep(6)
    assert len(_session_processes(p.pid)) >= 3  # the coordinator and two shards
    p.kill()
    p.wait()
    deadline = time.monotonic() + 10
    while _session_processes(p.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _session_processes(p.pid) == []


def _give_up_at(monkeypatch: pytest.MonkeyPatch, level: int, shard: int | None) -> None:
    """Shards (forked: they inherit the patch) see a stop at ``level``: every shard, or
    only ``shard`` (the others then learn it from its offer)."""
    from parsync.engines import parallel

    def stopping(self: parallel._Shard) -> bool:
        return self.level == level and (shard is None or self.k == shard)

    monkeypatch.setattr(parallel._QueueShard, "stopping", stopping)


@pytest.mark.parametrize(("workers", "shard"), [(1, None), (2, None), (2, 0), (2, 1)])
def test_a_level_given_up_mid_way_resumes_to_the_uninterrupted_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int, shard: int | None
) -> None:
    """What the first Ctrl-C does with --checkpoint: the level under way is given up in
    ``expand`` (by one shard or all), every shard is left as before the level (shard 0's
    trail included), the last whole level is saved, and the resumed run expands the
    given-up level again and ends with the uninterrupted counts and counterexample."""
    for variant in (None, "no-dedup"):
        m = ParSyncModel(PRESETS["small"].config, variant=variant)
        straight = Checker(m, symmetry=True).run()
        cp = tmp_path / f"cp-{variant}"
        with monkeypatch.context() as mp:
            _give_up_at(mp, 4, shard)
            a = ParallelChecker(m, workers=workers, symmetry=True, checkpoint=cp).run()
        assert a.verdict == "incomplete" and a.stop_reason == "interrupted"
        assert a.depth == 4 and 0 < a.states < straight.states
        meta = json.loads((cp / "checkpoint.json").read_text(encoding="utf-8"))
        assert (meta["states"], meta["depth"]) == (a.states, 4)
        b = ParallelChecker(m, workers=2, symmetry=True, resume=cp).run()
        if variant is None:
            _same(straight, b)
        else:
            _same_violation(straight, b)  # the trail, cut back, still walks the path


def test_a_second_ctrl_c_stops_at_once(tmp_path: Path) -> None:
    cp = ["--checkpoint", str(tmp_path / "cp"), "--checkpoint-every", "1000"]
    rc, out, err = _interrupted(*cp, after=5, again=0.3)
    assert rc == 3, (out, err)
    assert "Traceback" not in err, err
    assert "interrupted" in out + err


def test_fingerprints_are_the_same_in_every_interpreter_run() -> None:
    """A checkpoint is resumed by another run: no fingerprint may depend on an address
    (in Python 3.11 hash(None) does: the broker's absent replica is hashed apart)."""
    code = (
        "from parsync.model.presets import PRESETS\n"
        "from parsync.model.protocol import ParSyncModel\n"
        "from parsync.engines.parallel import value_fingerprint\n"
        "m = ParSyncModel(PRESETS['small'].config)\n"
        "s = next(iter(m.init_states()))\n"
        "print([value_fingerprint(t) for _a, t in m.successors(s)])\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and len(json.loads(runs[0])) > 1
    from parsync.engines.parallel import stable_hash

    m = ParSyncModel(PRESETS["small"].config)
    b = next(iter(m.init_states())).broker
    assert b.replica is None and stable_hash(b) != hash(b)


# --- the compact frontier, spilled to disk ---------------------------------------------


def test_the_seen_set_is_a_set() -> None:
    import numpy as np

    from parsync.engines.parallel import FingerprintSet

    rng = np.random.default_rng(7)
    a = np.unique(rng.integers(0, 2**64, size=5_000, dtype=np.uint64))
    fs = FingerprintSet(a[:3_000])
    fs.add(a[3_000:4_000])
    assert len(fs) == 4_000
    assert fs.contains(a).tolist() == [i < 4_000 for i in range(len(a))]
    assert fs.array().tolist() == sorted(a[:4_000].tolist())


@pytest.mark.parametrize("workers", [1, 2])
def test_a_spilled_frontier_gives_the_same_counts(tmp_path: Path, workers: int) -> None:
    """A bound of 0 bytes: every level's states go to disk and are streamed back."""
    m = ParSyncModel(PRESETS["small"].config)
    one = Checker(m, symmetry=True).run()
    spill = tmp_path / "spill"
    par = ParallelChecker(
        m, workers=workers, symmetry=True, frontier_memory=0, spill_dir=spill
    ).run()
    _same(one, par)
    assert par.extra["spilled_states"] == one.states - 1  # all but the initial state
    assert list(spill.iterdir()) == []  # the run's files are gone, the user's directory stays


def test_a_spilled_frontier_gives_the_same_counterexample(tmp_path: Path) -> None:
    for variant in ("no-dedup", "rotation-skips-partition"):
        m = ParSyncModel(PRESETS["small"].config, variant=variant)
        one = Checker(m, symmetry=True).run()
        par = ParallelChecker(
            m, workers=2, symmetry=True, frontier_memory=0, spill_dir=tmp_path
        ).run()
        _same_violation(one, par)
        assert par.extra["spilled_states"] > 0
    assert list(tmp_path.iterdir()) == []


def test_a_spilled_frontier_checkpoints_and_resumes(tmp_path: Path) -> None:
    m = ParSyncModel(PRESETS["small"].config, variant="no-dedup")
    straight = Checker(m, symmetry=True).run()
    cp, spill = tmp_path / "cp", tmp_path / "spill"
    kw: dict[str, object] = {"symmetry": True, "frontier_memory": 0, "spill_dir": spill}
    a = ParallelChecker(m, workers=2, max_states=50, checkpoint=cp, **kw).run()  # type: ignore[arg-type]
    assert a.verdict == "incomplete" and a.extra["spilled_states"] > 0
    b = ParallelChecker(m, workers=3, resume=cp, **kw).run()  # type: ignore[arg-type]
    _same_violation(straight, b)
    assert list(spill.iterdir()) == []


def test_spill_files_are_gone_after_ctrl_c(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    rc, out, err = _interrupted("--spill-dir", str(spill), "--frontier-memory", "0.01", after=8)
    assert rc == 3, (out, err)
    assert "Traceback" not in err, err
    assert spill.is_dir() and list(spill.iterdir()) == []


def test_cli_frontier_memory_reports_the_spill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["check", "--preset", "twins", "--no-progress", "--frontier-memory", "0.001"]
    assert main([*args, "--spill-dir", str(tmp_path)]) == 0
    assert "frontier spilled to disk:" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
