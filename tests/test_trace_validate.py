"""The validator: model-made traces validate, hand-corrupted ones are rejected at the
right line with the right reason and property, and garbage never crashes it."""

from __future__ import annotations

import io
import json
import random
import re
from dataclasses import replace
from itertools import combinations
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsync.model.actions import Propose
from parsync.model.config import Faults
from parsync.model.presets import get_preset
from parsync.model.protocol import ParSyncModel
from parsync.traces import validate_stream
from parsync.traces.simulate import long_config, simulate
from parsync.traces.validate import VALID, Validator

SCOPES = {
    name: replace(
        get_preset(name).config,
        max_cycle=8,
        faults=Faults(crash=2, drop=2, duplicate=2, failover=2),
    )
    for name in ("small", "pr", "nightly")
}


def _lines(cfg: Any, seed: int, steps: int = 300) -> list[dict[str, Any]]:
    return list(simulate(cfg, seed=seed, steps=steps, fault_rate=0.15))


def _run(lines: list[dict[str, Any]], **kw: Any) -> Any:
    data = "".join(json.dumps(d) + "\n" for d in lines).encode()
    return validate_stream(io.BytesIO(data), "t.jsonl", **kw)


@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_model_walks_validate(scope: str) -> None:
    for seed in range(6):
        r = _run(_lines(SCOPES[scope], seed))
        assert r.verdict == VALID, r.explanation
        assert r.hidden_steps == 0 and r.peak_candidates == 1


def test_long_scope_validates() -> None:
    r = _run(list(simulate(long_config(needs=40), seed=2, steps=3000, fault_rate=0.02)))
    assert r.verdict == VALID and r.events == 3000, r.explanation


def test_propose_fast_path_agrees_with_successors() -> None:
    """Validator._ev_Propose (the Propose guard for one bucket set, then the step) gives
    exactly the state ``successors`` gives for that Propose, and none where it has none."""
    for scope, cfg in SCOPES.items():
        m = ParSyncModel(cfg)
        v = Validator(cfg)
        rng = random.Random(scope)
        s = m.init_state()
        for _ in range(200):
            moves = list(m.successors(s))
            if not moves:
                break
            for wi in range(m.W):
                w = s.workers[wi]
                want = {a.buckets: t for a, t in moves if isinstance(a, Propose) and a.w == wi}
                for n in range(m.N):
                    for bs in combinations(range(m.B), m.gang[n]):
                        reads = [[b, (m.view_entry(w, b) or (0, 0))[0]] for b in bs]
                        need = w.pending[0] if w.pending else n
                        ev = {"type": "Propose", "worker": wi, "need": need, "buckets": reads}
                        ok, why, _ = v._ev_Propose(s, ev)
                        assert ok == ([want[bs]] if bs in want else []), (s, wi, bs)
                        assert bool(why) != bool(ok)
            s = rng.choice(moves)[1]


# --- hand-edited traces ------------------------------------------------------------------------


def _find(pred: Any) -> tuple[list[dict[str, Any]], int]:
    """A model walk (deterministic seed scan) and the index of its first line matching ``pred``."""
    for seed in range(300):
        lines = _lines(SCOPES["pr"], seed, 200)
        for i, d in enumerate(lines):
            if pred(d, lines, i):
                return lines, i
    raise AssertionError("no walk has the line this test edits")


def test_commit_with_a_stale_seqno_is_rejected_with_ps2() -> None:
    lines, i = _find(lambda d, ls, i: d["type"] == "Commit" and d["result"] == "conflict")
    d = lines[i]
    d["result"] = "committed"
    d.pop("conflicts")
    d["seq"] = [[b, q + 1] for b, q in d["seq"]]
    r = _run(lines)
    assert r.verdict == "invalid" and r.line == i + 1
    assert "the broker's answer is conflict" in r.message
    assert r.property_ids[0] == "PS-2" and "CommitTimeConsistency" in r.explanation


def test_a_rejected_line_shows_the_forced_step_like_a_counterexample() -> None:
    """The report renders the step taken anyway with the counterexample renderer: only
    what changes (sets as +added), and why the property fails in the state's terms."""
    lines, i = _find(lambda d, ls, i: d["type"] == "Commit" and d["result"] == "conflict")
    d = lines[i]
    d["result"] = "committed"
    d.pop("conflicts")
    d["seq"] = [[b, q + 1] for b, q in d["seq"]]
    r = _run(lines)
    assert r.forced[0].startswith("Commit(Proposal(")
    assert any(re.match(r"  broker\.claims\[b\d\]: \+n\d", x) for x in r.forced), r.forced
    assert any(
        re.match(r"=> PS-2 CommitTimeConsistency: committed n\d \(w\d\) read b\d@\d+ but", x)
        for x in r.forced
    ), r.forced
    assert "    => PS-2 CommitTimeConsistency" in r.explanation
    assert r.to_json()["forced"] == r.forced
    assert "workers[0].known = {" in r.candidates[0]  # a set, in full, in the candidate


def test_refresh_that_skips_a_partition_is_rejected_with_ps3() -> None:
    """Every edited refresh is rejected at its line; where the skipped partition's data is
    then older than P-1 cycles (no re-read since), the report names PS-3 BoundedStaleness."""
    named = 0
    for seed in range(40):
        base = _lines(SCOPES["pr"], seed, 120)
        for i, d in enumerate(base):
            if not (d["type"] == "StartCycle" and d["read"]):
                continue
            lines = json.loads(json.dumps(base))
            p = d["read"][0]["partition"]
            lines[i]["read"] = [{"partition": 1 - p}]  # pr has two partitions: the other one
            r = _run(lines)
            assert r.verdict == "invalid" and r.line == i + 1
            assert f"read partition(s) [{1 - p}], the model reads [{p}]" in r.message
            named += "PS-3" in r.property_ids
        if named >= 3:
            return
    raise AssertionError("no edited refresh was reported as breaking PS-3")


def test_duplicated_placement_is_rejected_with_ps8() -> None:
    lines, i = _find(lambda d, ls, i: d["type"] == "Commit" and d["result"] == "already-placed")
    d = lines[i]
    d["result"] = "committed"
    d["seq"] = [[b, q + 1] for b, q in d["seq"]]
    r = _run(lines)
    assert r.verdict == "invalid" and r.line == i + 1
    assert "the need is already placed" in r.message
    assert "PS-8" in r.property_ids


def test_commit_line_repeated_is_rejected() -> None:
    lines, i = _find(lambda d, ls, i: d["type"] == "Commit" and d["result"] == "committed")
    lines.insert(i + 1, dict(lines[i]))
    r = _run(lines)
    assert r.verdict == "invalid" and r.line == i + 2
    assert "names no message in flight (unknown, or already consumed)" in r.message


def test_hidden_drop_is_searched_when_the_header_allows_it() -> None:
    lines, i = _find(lambda d, ls, i: d["type"] == "Drop")
    hidden = [dict(lines[0], hidden=["Drop"]), *lines[1:i], *lines[i + 1 :]]
    r = _run(hidden)
    assert r.verdict == VALID, r.explanation
    assert r.hidden_steps >= 1
    strict = [dict(lines[0], hidden=[]), *lines[1:i], *lines[i + 1 :]]
    assert _run(strict).verdict != VALID or _run(strict, max_hidden=0).verdict != VALID


# --- garbage never crashes -----------------------------------------------------------------------

_BASE = "".join(json.dumps(d) + "\n" for d in _lines(SCOPES["pr"], 5, 60)).encode()


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400))
def test_garbage_bytes_never_crash(data: bytes) -> None:
    r = validate_stream(io.BytesIO(data), "g.jsonl")
    assert r.verdict in ("unreadable", "invalid", "valid")


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["del", "dup", "swap", "int", "cut", "junk"]), st.integers(0, 10**6)
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_valid_traces_never_crash(ops: list[tuple[str, int]]) -> None:
    lines = _BASE.split(b"\n")
    for op, k in ops:
        i = k % len(lines)
        if op == "del":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap" and len(lines) > 1:
            j = (i + 1) % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "int":
            lines[i] = lines[i].replace(b"1", str(k % 13 - 3).encode(), 1)
        elif op == "cut":
            lines[i] = lines[i][: k % (len(lines[i]) + 1)]
        else:
            lines[i] = b'{"type": "Commit", "result": "committed", "id": [], "worker": 1e9}'
        if not lines:
            lines = [b""]
    r = validate_stream(io.BytesIO(b"\n".join(lines)), "m.jsonl")
    assert r.verdict in ("unreadable", "invalid", "valid")
    assert r.to_json()["verdict"] == r.verdict and isinstance(r.explanation, str)


# --- hidden steps anywhere before the line that needs them; message ids -------------------------


def _hide(lines: list[dict[str, Any]], kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    """The trace a recorder that does not log ``kinds`` writes (declared hidden)."""
    return [dict(lines[0], hidden=list(kinds)), *(d for d in lines[1:] if d["type"] not in kinds)]


@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_walks_with_unlogged_drops_and_duplicates_validate(scope: str) -> None:
    """Every walk with faults, its Drop and Duplicate lines removed and declared hidden,
    validates: a Duplicate whose copy is taken after the original was consumed has to
    be placed before that consumption, lines back."""
    hid = 0
    for seed in range(10):
        lines = _lines(SCOPES[scope], seed)
        hidden = _hide(lines, ("Drop", "Duplicate"))
        hid += len(lines) - len(hidden)
        r = _run(hidden)
        assert r.verdict == VALID, (seed, r.explanation)
    assert hid >= 10  # the walks really had faults to hide


def test_a_duplicate_hidden_lines_back_is_found() -> None:
    """Seed 4 of small: a copy of m10 is made before its Commit (line 32 of the hidden
    trace) and a copy of the copy later; three Commits of one proposal follow, the
    last nine lines after the first. The old search (hidden steps only just before
    the failing line) rejected it; the window places both copies."""
    lines = _lines(SCOPES["small"], 4)
    dups = [i for i, d in enumerate(lines) if d["type"] == "Duplicate"]
    assert dups, "the walk has a Duplicate"
    r = _run(_hide(lines, ("Drop", "Duplicate")))
    assert r.verdict == VALID, r.explanation
    assert r.hidden_steps >= 2
    # the same trace with the window closed is rejected at a Commit of a consumed copy
    closed = _run(_hide(lines, ("Drop", "Duplicate")), hidden_window=0)
    assert closed.verdict == "invalid" and closed.message.startswith("Commit")


def _with(lines: list[dict[str, Any]], i: int, **kw: Any) -> list[dict[str, Any]]:
    return [*lines[:i], dict(lines[i], **kw), *lines[i + 1 :]]


def _strict(seed: int) -> list[dict[str, Any]]:
    lines = _lines(SCOPES["small"], seed)
    return [dict(lines[0], hidden=[]), *lines[1:]]


def test_unknown_and_reused_message_ids_are_invalid_lines() -> None:
    strict = _strict(1)
    assert _run(strict).verdict == VALID
    ci = next(i for i, d in enumerate(strict) if d["type"] == "Commit")
    r = _run(_with(strict, ci, id="m999"))
    assert r.verdict == "invalid" and r.line == ci + 1
    assert "message id 'm999' names no message in flight" in r.message
    # a Propose under the id of a proposal still in flight (another worker's)
    for seed in range(20):
        strict = _strict(seed)
        flight: dict[str, int] = {}
        for i, d in enumerate(strict[1:], start=1):
            if d["type"] == "Propose" and flight:
                other = next(iter(flight))
                r = _run(_with(strict, i, id=other))
                assert r.verdict == "invalid" and r.line == i + 1
                assert f"message id {other!r} is already in use" in r.message
                return
            if d["type"] == "Propose":
                flight[d["id"]] = i
            elif d["type"] in ("Commit", "Drop"):
                flight.pop(d["id"], None)
    raise AssertionError("no walk has two proposals in flight at once")


def test_queued_ids_must_be_proposals_in_flight() -> None:
    strict = _strict(1)
    ci = next(i for i, d in enumerate(strict) if d["type"] == "Commit")
    r = _run(_with(strict, ci, queued=["nope"]))
    assert r.verdict == "invalid" and "queued id 'nope' names no proposal in flight" in r.message
    for seed in range(20):
        strict = _strict(seed)
        replies: set[str] = set()
        for i, d in enumerate(strict[1:], start=1):
            if d["type"] == "Commit" and replies:
                rid = next(iter(replies))
                r = _run(_with(strict, i, queued=[rid]))
                assert r.verdict == "invalid" and f"queued id {rid!r} is a reply" in r.message
                return
            if d["type"] == "Commit":
                replies.add(d["reply"])
            elif d["type"] in ("HandleReply", "Drop"):
                replies.discard(d["id"])
    raise AssertionError("no walk has a Commit while a reply is in flight")


def test_a_reply_copy_that_waited_out_a_crash_is_found() -> None:
    """From a refsched free run (tests/data, its first 169 events): a Duplicate of a
    reply to worker 0 (unlogged) at event 62, the original taken at once, worker 0
    crashed; the copy is taken 88 events later, after its Recover. Only a Duplicate
    of a consumed message the event can take is placed that far back, and it is found;
    with the window cut to 64 events the line is rejected."""
    from pathlib import Path

    from parsync.traces import validate_path

    path = Path(__file__).parent / "data" / "hidden-copy-after-crash.jsonl"
    r = validate_path(path)
    assert r.verdict == VALID, r.explanation
    assert r.events == 169 and r.hidden_steps >= 1
    short = validate_path(path, hidden_window=64)
    assert short.verdict == "invalid" and short.line == 151
    assert short.message.startswith("HandleReply")


_small_nat = st.integers(min_value=0, max_value=12)


@settings(max_examples=400, deadline=None)
@given(
    version=st.sampled_from([1, 2]),
    t=st.sampled_from(
        [
            "StartCycle",
            "Propose",
            "Commit",
            "HandleReply",
            "Release",
            "Recover",
            "Refresh",
            "Restart",
            "Defer",
            "Crash",
            "Failover",
        ]
    ),
    fields=st.fixed_dictionaries(
        {},
        optional={
            "worker": _small_nat,
            "need": _small_nat,
            "buckets": st.one_of(
                st.lists(st.tuples(_small_nat, _small_nat).map(list), max_size=3),
                st.lists(_small_nat, max_size=3),
            ),
            "seq": st.lists(st.tuples(_small_nat, _small_nat).map(list), max_size=3),
            "conflicts": st.lists(_small_nat, max_size=3),
            "read": st.lists(
                st.fixed_dictionaries(
                    {"partition": st.integers(0, 4)},
                    optional={
                        "entries": st.lists(st.tuples(_small_nat, _small_nat).map(list), max_size=5)
                    },
                ),
                max_size=3,
            ),
        },
    ),
)
def test_compiled_range_check_agrees_with_the_worded_one(
    version: int, t: str, fields: dict[str, Any]
) -> None:
    """check_ranges' straight-line test (Validator._ranges_ok) passes an event exactly
    when the field-by-field check that words the error (_check_ranges) raises nothing."""
    v = Validator(get_preset("pr").config, version=version)
    if t not in v._ranges_ok:
        return
    # only the fields the event type has (the shape check guarantees no others)
    from parsync.traces.format import TABLES

    req, opt = TABLES[version][t]
    ev = {"type": t, **{k: x for k, x in fields.items() if k in req or k in opt}}
    if t == "Release" and "buckets" in ev and ev["buckets"] and type(ev["buckets"][0]) is list:
        ev["buckets"] = [b for b, _ in ev["buckets"]]  # NATS in a Release
    if t in ("Propose",) and "buckets" in ev and ev["buckets"] and type(ev["buckets"][0]) is int:
        ev["buckets"] = [[b, 0] for b in ev["buckets"]]  # PAIRS in a Propose
    try:
        v._check_ranges(ev, t)
        worded_ok = True
    except ValueError:
        worded_ok = False
    assert v._ranges_ok[t](ev) == worded_ok, ev
