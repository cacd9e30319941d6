"""Traces recorded from free runs of refsched (real threads, random workload, faults):
the reference's validate; each mutant whose bug a free run can reach is rejected;
the table in docs/traces.md says which are reachable and why."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from parsync.cli import main
from parsync.refsched.mutants import MUTANT_NAMES
from parsync.refsched.recorder import record
from parsync.traces import validate_path

ROOT = Path(__file__).resolve().parents[1]
P = "parsync.refsched.mutants."

# mutant -> how a free-run trace shows it ("" = it cannot: see docs/traces.md)
REACH: dict[str, str] = {
    P + "validate_fresh_partition_only": "Commit",
    P + "gang_second_bucket_no_bump": "Commit",
    P + "retry_without_reread": "HandleReply",
    P + "rotation_off_by_one": "StartCycle",
    P + "no_dedup": "Commit",
    P + "no_epoch_fencing": "?Commit",  # rarely: a timing window free runs seldom hit
    P + "lagging_replica_failover": "StartCycle|Commit|HandleReply|Recover|Release",
    P + "priority_ignored": "Commit",
    P + "recovered_keeps_view": "Recover",
    P + "unbounded_carry_forward": "",
    P + "stale_read_recorded_as_fresh": "Propose",
    P + "conflict_reply_wrong_partition": "HandleReply",
    P + "gang_fit_last_bucket_only": "Propose",
    P + "release_keeps_ledger": "",
    P + "retry_off_by_one": "Propose",
    P + "used_counts_claims": "",  # free runs: size-1 needs only
    P + "gang_fit_first_two_only": "",  # free runs: gangs of at most two
    P + "ignores_eligible": "",  # free runs: every bucket eligible
    P + "room_as_used_below_cap": "",  # free runs: size-1 needs only
}
FAST = [P + "rotation_off_by_one", P + "recovered_keeps_view", P + "retry_without_reread"]


def _record(tmp_path: Path, impl: str | None, seed: int, steps: int = 1500) -> Path:
    out = tmp_path / f"{(impl or 'ref').split('.')[-1]}-{seed}.jsonl"
    comps = importlib.import_module(impl).parsync_adapter().components if impl else None
    with open(out, "w", encoding="utf-8") as f:
        rec = record(f, components=comps, seed=seed, steps=steps, timeout=8)
    assert rec.errors == [] and rec.events > 50
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_free_runs_of_the_reference_validate(tmp_path: Path, seed: int) -> None:
    """Each free run validates as recorded, and again as a recorder that does not log
    Drop and Duplicate writes it (declared hidden in the header): the copies are found
    lines before the events that take them."""
    import json

    path = _record(tmp_path, None, seed)
    r = validate_path(path)
    assert r.verdict == "valid", r.explanation
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    kept = [dict(lines[0], hidden=["Drop", "Duplicate"])]
    kept += [d for d in lines[1:] if d["type"] not in ("Drop", "Duplicate")]
    hidden = tmp_path / "hidden.jsonl"
    hidden.write_text("".join(json.dumps(d) + "\n" for d in kept), encoding="utf-8")
    r = validate_path(hidden)
    assert r.verdict == "valid", r.explanation


def test_record_command_then_trace_command(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    assert main(["record", "--out", str(out), "--seed", "4", "--steps", "400"]) == 0
    assert main(["trace", str(out)]) == 0
    assert main(["record", "--out", str(out), "--impl", "json"]) == 2


def test_reach_table_covers_every_mutant_and_matches_the_docs() -> None:
    assert sorted(REACH) == sorted(MUTANT_NAMES)
    doc = (ROOT / "docs" / "traces.md").read_text(encoding="utf-8")
    for name, how in REACH.items():
        row = next((ln for ln in doc.splitlines() if f"`{name.split('.')[-1]}`" in ln), None)
        assert row is not None, name
        assert ("| no " in row) == (how == ""), row
        assert ("| rarely " in row) == how.startswith("?"), row


def _rejected(tmp_path: Path, name: str, seeds: range) -> tuple[str, int]:
    for seed in seeds:
        r = validate_path(_record(tmp_path, name, seed))
        if r.verdict == "invalid":
            return r.message, seed
        assert r.verdict == "valid", r.explanation
    return "", -1


@pytest.mark.parametrize("name", FAST)
def test_reachable_mutants_are_rejected(tmp_path: Path, name: str) -> None:
    msg, seed = _rejected(tmp_path, name, range(6))
    assert msg, f"{name}: no free run was rejected"
    assert re.match(rf"({REACH[name]}) is not explained by the model", msg), msg


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", [n for n in MUTANT_NAMES if REACH[n] and n not in FAST and REACH[n][0] != "?"]
)
def test_every_reachable_mutant_is_rejected(tmp_path: Path, name: str) -> None:
    msg, seed = _rejected(tmp_path, name, range(8))
    assert msg, f"{name}: no free run was rejected"
    assert re.match(rf"({REACH[name]}) is not explained by the model", msg), msg


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in MUTANT_NAMES if not REACH[n]])
def test_unreachable_mutants_validate(tmp_path: Path, name: str) -> None:
    """What the table claims: these free runs look like the reference's."""
    r = validate_path(_record(tmp_path, name, 0))
    assert r.verdict == "valid", r.explanation


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in MUTANT_NAMES if REACH[n].startswith("?")])
def test_rarely_reachable_mutants_validate_or_are_rejected_for_their_bug(
    tmp_path: Path, name: str
) -> None:
    """Timing decides whether a free run hits the bug: either outcome is allowed, but a
    rejection must be at the event kind the table names, never elsewhere."""
    r = validate_path(_record(tmp_path, name, 0))
    if r.verdict == "invalid":
        assert re.match(rf"({REACH[name][1:]}) is not explained by the model", r.message), r.message
    else:
        assert r.verdict == "valid", r.explanation
