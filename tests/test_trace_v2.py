"""Trace format version 2: validated against the model's contract (or the reference when
the header says so), the contract's own events, broker answers in any order, needs
declared by events, hidden timeouts and hidden ticks of a crashed worker, bucket sets
checked against the rules (never enumerated), and bad input as one line with exit 2.

Every rule added for version 2 has a trace here that breaks it and is rejected at
its line with a reason naming the rule or the property."""

from __future__ import annotations

import dataclasses
import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from parsync.cli import main
from parsync.model.actions import action_name
from parsync.model.config import Config, Faults, Need
from parsync.model.presets import get_preset
from parsync.traces.format import HIDEABLE_V2
from parsync.traces.simulate import (
    long_config,
    simulate,
    simulate_contract,
    simulate_sampled,
    write_trace,
)
from parsync.traces.validate import TraceResult, Validator, validate_path, validate_stream

CFG: dict[str, Any] = {
    "workers": 2,
    "partitions": 2,
    "capacities": [1, 1],
    "needs": [{"owner": 0}, {"owner": 1, "priority": 2}],
    "retry_budget": 1,
    "strategy": "quality-first",
}


def _header(policy: str | None = None, hidden: list[str] | None = None, **cfg: Any) -> Any:
    h: dict[str, Any] = {
        "type": "header",
        "format": "parsync-trace",
        "version": 2,
        "config": {**CFG, **cfg},
        "hidden": [] if hidden is None else hidden,
    }
    if policy is not None:
        h["policy"] = policy
    return h


def _validate(lines: list[Any]) -> TraceResult:
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    return validate_stream(io.BytesIO(data), "t.jsonl")


def _rejected(lines: list[Any], line: int, *reasons: str) -> TraceResult:
    r = _validate(lines)
    assert r.verdict == "invalid", (r.verdict, r.message)
    assert r.line == line, (r.line, r.message)
    text = r.message + " | " + " | ".join(r.reasons)
    for reason in reasons:
        assert reason in text, text
    return r


def _cli(tmp_path: Path, lines: list[Any] | bytes, capsys: pytest.CaptureFixture[str]) -> str:
    f = tmp_path / "t.jsonl"
    if isinstance(lines, bytes):
        f.write_bytes(lines)
    else:
        f.write_text("".join(json.dumps(x) + "\n" for x in lines))
    code = main(["trace", str(f)])
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert "Traceback" not in out + err
    errs = err.strip().splitlines()
    assert len(errs) == 1, err
    return errs[0]


def R(p: int, *entries: tuple[int, int]) -> dict[str, Any]:
    return {"partition": p, "entries": [list(e) for e in entries]}


# A contract run the reference does not allow: w0 times out while its proposal is merely
# slow and proposes again on another bucket; the broker answers the late first proposal
# already-placed (not the fixed order's); w1 crashes, restarts with nothing read, reads
# the partitions one at a time (a StartCycle, a Refresh) and proposes.
GOOD = [
    _header(),
    {"type": "StartCycle", "worker": 0, "cycle": 1, "read": [R(1, (0, 0))]},  # 2
    {"type": "Propose", "worker": 0, "need": 0, "buckets": [[0, 0]], "id": "m1"},  # 3
    {"type": "Timeout", "worker": 0},  # 4
    {"type": "Propose", "worker": 0, "need": 0, "buckets": [[1, 0]], "id": "m2", "attempt": 2},
    {"type": "Commit", "id": "m2", "result": "committed", "seq": [[1, 1]], "reply": "r2"},  # 6
    {"type": "Commit", "id": "m1", "result": "already-placed", "reply": "r1"},  # 7
    {"type": "HandleReply", "worker": 0, "id": "r1", "stale": True},  # 8
    {"type": "HandleReply", "worker": 0, "id": "r2", "kind": "committed", "stale": False},  # 9
    {"type": "StartCycle", "worker": 1, "cycle": 1, "read": [R(1, (1, 1))]},  # 10
    {"type": "Crash", "worker": 1},  # 11
    {"type": "Restart", "worker": 1},  # 12
    {"type": "StartCycle", "worker": 1, "cycle": 2, "read": [R(0, (0, 0))]},  # 13
    {"type": "Refresh", "worker": 1, "read": [R(1, (1, 1))]},  # 14
    {"type": "Propose", "worker": 1, "need": 1, "buckets": [[0, 0]], "id": "m3"},  # 15
    {"type": "Commit", "id": "m3", "result": "committed", "seq": [[0, 1]], "reply": "r3"},  # 16
    {"type": "HandleReply", "worker": 1, "id": "r3", "kind": "committed"},  # 17
    {"type": "Release", "need": 1, "buckets": [0], "seq": [[0, 2]]},  # 18
]


def _edit(i: int, **fields: Any) -> list[Any]:
    out = [dict(x) for x in GOOD]
    out[i - 1] = {**out[i - 1], **fields}
    return out


def _drop_line(i: int) -> list[Any]:
    return [x for k, x in enumerate(GOOD, 1) if k != i]


def test_contract_run_is_valid_and_the_reference_rejects_it() -> None:
    r = _validate(GOOD)
    assert r.verdict == "valid", r.message
    assert r.events == len(GOOD) - 1
    # the same events under the reference policy: the Timeout is not a reference step
    _rejected([_header("reference"), *GOOD[1:]], 4, "the reference policy has no Timeout")
    # explicit policy contract = the default
    assert _validate([_header("contract"), *GOOD[1:]]).verdict == "valid"


def test_contract_events_are_checked() -> None:
    # Timeout with nothing outstanding
    bad = [*GOOD[:4], {"type": "Timeout", "worker": 1}, *GOOD[4:]]
    _rejected(bad, 5, "no outstanding attempt")
    # a Refresh that read other data than the broker held
    _rejected(_edit(14, read=[R(1, (0, 0))]), 14, "read [[1, 1]] from partition 1 per the model")
    # Restart of a live worker
    _rejected(_edit(12, worker=0), 12, "cannot take a Restart step here (it is up)")
    # after Restart nothing is read: a bucket of a partition not re-read cannot be named
    _rejected(_drop_line(13)[:13] + [GOOD[14]], 14, "it has nothing pending")
    bad = _drop_line(14)
    bad[13] = {**bad[13], "buckets": [[1, 1]]}  # (after the StartCycle: partition 1 unread)
    _rejected(bad, 14, "holds no data of bucket 1's partition 1")


def test_broker_answers_in_any_order_but_only_true_ones() -> None:
    # already-placed is true of m1 (n0 is placed) and conflict is not (b0 is unchanged)
    _rejected(
        _edit(7, result="conflict", conflicts=[0]),
        7,
        "the reply conflict is not true of the proposal",
        "conflict iff a read seqno is stale",
    )
    _rejected(_edit(7, result="fenced"), 7, "fenced iff the epochs differ")
    # m2 is not placed yet when m1 is answered first: already-placed is untrue there
    bad = [*GOOD[:5], GOOD[6], GOOD[5], *GOOD[7:]]
    _rejected(bad, 6, "already-placed iff the need is placed")
    # a commit the CAS must refuse is still named by its property
    bad = [*GOOD[:6], {**GOOD[6], "result": "committed", "seq": [[0, 1]]}, *GOOD[7:]]
    r = _rejected(bad, 7)
    assert "PS-8" in r.property_ids


def test_fenced_or_conflict_either_is_true() -> None:
    """A stale proposal from an older epoch may be answered fenced or conflict."""
    base = [
        _header(),
        {"type": "StartCycle", "worker": 1, "cycle": 1, "read": [R(1, (0, 0))]},
        {"type": "Propose", "worker": 1, "need": 1, "buckets": [[1, 0]], "id": "a"},
        {"type": "StartCycle", "worker": 0, "cycle": 1, "read": [R(1, (0, 0))]},
        {"type": "Propose", "worker": 0, "need": 0, "buckets": [[1, 0]], "id": "b"},
        {"type": "Commit", "id": "a", "result": "committed", "seq": [[1, 1]], "reply": "ra"},
        {"type": "Failover", "epoch": 1},
    ]
    for kind, extra in (("fenced", {}), ("conflict", {"conflicts": [1]})):
        ev = {"type": "Commit", "id": "b", "result": kind, "reply": "rb", **extra}
        assert _validate([*base, ev]).verdict == "valid", kind
    # the reference policy answers fenced first
    ev = {"type": "Commit", "id": "b", "result": "conflict", "reply": "rb", "conflicts": [1]}
    _rejected([_header("reference"), *base[1:], ev], 8, "fenced per the model")


def test_any_pending_need_and_defer_any_time() -> None:
    cfg = {"needs": [{"owner": 0}, {"owner": 0, "priority": 3}]}
    base = [
        _header(**cfg),
        {"type": "StartCycle", "worker": 0, "cycle": 1, "read": [R(1, (0, 0))]},
        # n1 is the head (priority 3); the contract lets n0 go first
        {"type": "Propose", "worker": 0, "need": 0, "buckets": [[0, 0]], "id": "m1"},
        {"type": "Commit", "id": "m1", "result": "committed", "reply": "r1"},
        {"type": "HandleReply", "worker": 0, "id": "r1", "kind": "committed"},
        # a bucket still fits n1 (b1), and the worker holds it back anyway
        {"type": "Defer", "worker": 0, "need": 1},
    ]
    assert _validate(base).verdict == "valid"
    ref = [_header("reference", **cfg), *base[1:]]
    _rejected(ref, 3, "the head pending need is n1, not n0")
    ref = [_header("reference", **cfg), base[1], {"type": "Defer", "worker": 0, "need": 1}]
    _rejected(ref, 3, "the reference policy defers only when nothing fits")
    # Defer of a need that is not pending
    bad = [*base[:5], {"type": "Defer", "worker": 0, "need": 0}]
    _rejected(bad, 6, "n0 is not pending")


def test_retry_budget_names_ps6() -> None:
    bad = [
        *GOOD[:5],
        {"type": "Timeout", "worker": 0},
        {"type": "Propose", "worker": 0, "need": 0, "buckets": [[0, 0]], "id": "m9"},
    ]
    _rejected(bad, 7, "proposed 2 times this cycle", "PS-6 RetryBudget")


def test_proposals_are_checked_against_the_rules() -> None:
    """Each rule of a proposal's bucket set, broken, is named."""
    cfg = {
        "partitions": 2,
        "capacities": [1, 1, 2, 1],
        "needs": [{"owner": 0, "gang": 2, "eligible": [0, 1, 2], "size": 2}],
    }
    start = {"type": "StartCycle", "worker": 0, "cycle": 1}
    cases = [
        ([[0, 0]], "is a gang of 2 bucket(s), the proposal names 1 (gang size)"),
        ([[2, 0], [3, 0]], "bucket 3 is not eligible for n0 (eligibility)"),
        ([[0, 0], [2, 0]], "bucket 0 has no room for n0"),
    ]
    for buckets, why in cases:
        ev = {"type": "Propose", "worker": 0, "need": 0, "buckets": buckets}
        _rejected([_header(**cfg), start, ev], 3, why)
    # latency-first proposes from the freshest partition only
    cfg2 = {"strategy": "latency-first"}
    ev = {"type": "Propose", "worker": 0, "need": 0, "buckets": [[0, 0]]}
    _rejected([_header(**cfg2), start, ev], 3, "which is not fresh", "partition/mode")
    ok = {"type": "Propose", "worker": 0, "need": 0, "buckets": [[1, 0]]}
    assert _validate([_header(**cfg2), start, ok]).verdict == "valid"


@pytest.mark.parametrize("seed", range(4))
def test_contract_walks_validate(seed: int) -> None:
    """Random walks of the contract model (every contract step, every fault) validate
    under the contract; most are rejected under the reference."""
    cfg = get_preset("pr").config
    cfg = dataclasses.replace(
        cfg,
        max_cycle=6,
        faults=Faults(crash=2, drop=2, duplicate=2, failover=1, timeout=3, extra_read=3),
    )
    lines = list(simulate_contract(cfg, seed=seed, steps=300))
    r = _validate(lines)
    assert r.verdict == "valid", (r.line, r.message)


@pytest.mark.parametrize("seed", range(4))
def test_contract_walks_without_deliver_events_validate(seed: int) -> None:
    """The same walks with every Deliver event left out: delivery is then a hidden step,
    taken just before the broker decides on the proposal."""
    cfg = dataclasses.replace(
        get_preset("pr").config,
        max_cycle=6,
        faults=Faults(crash=2, drop=2, duplicate=2, failover=1, timeout=3, extra_read=3),
    )
    lines = list(simulate_contract(cfg, seed=seed, steps=300))
    assert any(x["type"] == "Deliver" for x in lines)
    r = _validate([x for x in lines if x["type"] != "Deliver"])
    assert r.verdict == "valid", (r.line, r.message)


# the network apart from the broker's inbox: w0's n0 (priority 1) and w1's n1 (priority 2)
# proposed on bucket 0 (partition 0), both in the network
RACE = [
    _header(),
    {"type": "StartCycle", "worker": 0, "cycle": 1, "read": [R(1, (0, 0))]},  # 2
    {"type": "StartCycle", "worker": 1, "cycle": 1, "read": [R(1, (0, 0))]},  # 3
    {"type": "Propose", "worker": 0, "need": 0, "buckets": [[0, 0]], "id": "lo"},  # 4
    {"type": "Propose", "worker": 1, "need": 1, "buckets": [[0, 0]], "id": "hi"},  # 5
]
COMMIT_LO = {"type": "Commit", "id": "lo", "result": "committed", "seq": [[0, 1]], "reply": "r"}


def test_priority_on_conflict_is_judged_on_the_brokers_inbox() -> None:
    # the broker has not received n1's proposal: committing n0 overtakes nothing
    assert _validate([*RACE, COMMIT_LO]).verdict == "valid"
    deliver_lo = {"type": "Deliver", "id": "lo", "worker": 0, "need": 0}
    assert _validate([*RACE, deliver_lo, COMMIT_LO]).verdict == "valid"
    # it has (a logged Deliver, or the decision lists it as queued): PS-7
    deliver_hi = {"type": "Deliver", "id": "hi"}
    r = _rejected([*RACE, deliver_hi, COMMIT_LO], 7, "in the broker's inbox", "PS-7")
    assert r.property_ids == ["PS-7"]
    r = _rejected([*RACE, {**COMMIT_LO, "queued": ["hi"]}], 6, "in the broker's inbox", "PS-7")
    assert r.property_ids == ["PS-7"]
    # the reference's omniscient broker orders every proposal in flight
    _rejected([_header(policy="reference"), *RACE[1:], COMMIT_LO], 6, "must decide on it first")


def test_deliver_events_and_the_network() -> None:
    deliver_hi = {"type": "Deliver", "id": "hi", "worker": 1, "need": 1}
    ok = [*RACE, deliver_hi, {"type": "Commit", "id": "hi", "result": "committed", "reply": "r"}]
    assert _validate(ok).verdict == "valid"
    # delivered once: a second Deliver finds it no longer in the network
    _rejected(
        [*RACE, deliver_hi, deliver_hi], 7, "no proposal matching the event is in the network"
    )
    # drops act on the network, never the broker's inbox
    _rejected([*RACE, deliver_hi, {"type": "Drop", "id": "hi"}], 7, "no longer in the network")
    assert _validate([*RACE, {"type": "Drop", "id": "hi"}, COMMIT_LO]).verdict == "valid"
    # the reference has no Deliver step (delivery and decision are one)
    _rejected([_header(policy="reference"), *RACE[1:], deliver_hi], 6, "no Deliver step")
    # a Deliver of a proposal that was never sent is bad input (unknown id)
    _rejected([*RACE, {"type": "Deliver", "id": "nope"}], 6, "names no message in flight")


def test_reference_walks_are_contract_runs() -> None:
    """A version 1 walk (the reference) validates as a version 2 trace of either policy."""
    cfg = get_preset("pr").config
    for seed in range(3):
        lines = list(simulate(cfg, seed=seed, steps=200, fault_rate=0.2))
        assert _validate(lines).verdict == "valid"
        for policy in ("contract", "reference"):
            h = {**lines[0], "version": 2, "policy": policy}
            r = _validate([h, *lines[1:]])
            assert r.verdict == "valid", (policy, r.line, r.message)


def test_message_ids_in_version_2() -> None:
    # an unknown id
    _rejected(_edit(6, id="m7"), 6, "message id 'm7' names no message in flight")
    # an id already consumed: r2 was taken at line 9
    bad = [*GOOD[:9], {"type": "HandleReply", "worker": 0, "id": "r2"}]
    _rejected(bad, 10, "message id 'r2' names no message in flight")
    # a new message reusing an id in flight
    _rejected(_edit(5, id="m1"), 5, "message id 'm1' is already in use")
    # queued ids must be proposals in flight
    _rejected(_edit(6, queued=["m1", "zz"]), 6, "queued id 'zz' names no proposal in flight")
    bad = [*GOOD[:6], {**GOOD[6], "queued": ["r2"]}]
    _rejected(bad, 7, "queued id 'r2' is a reply, not a proposal")


# --- hidden steps --------------------------------------------------------------------------


def test_hidden_timeout() -> None:
    lines = [x for x in GOOD if x.get("type") != "Timeout"]
    _rejected(lines, 4, "cannot take a Propose step here")
    r = _validate([_header(hidden=["Timeout"]), *lines[1:]])
    assert r.verdict == "valid", r.message
    assert r.hidden_steps == 1


def test_hidden_ticks_of_a_crashed_worker() -> None:
    """A recorder that does not log a crashed worker's cycles declares StartCycle hidden;
    the worker's cycle at Recover (or Restart) is then its ``cycle`` field."""
    down = [
        {"type": "StartCycle", "worker": 0, "cycle": 1, "read": [R(1, (0, 0))]},
        {"type": "Crash", "worker": 0},
        {"type": "StartCycle", "worker": 0, "cycle": 2, "read": []},
        {"type": "StartCycle", "worker": 0, "cycle": 3, "read": []},
        {"type": "Recover", "worker": 0, "read": [R(0, (0, 0)), R(1, (0, 0))]},
        {"type": "StartCycle", "worker": 0, "cycle": 4, "read": [R(0, (0, 0))]},
        {"type": "Propose", "worker": 0, "need": 0, "buckets": [[0, 0]], "cycle": 4},
    ]
    assert _validate([_header(), *down]).verdict == "valid"
    unlogged = [down[0], down[1], {**down[4], "cycle": 3}, *down[5:]]
    assert _validate([_header(hidden=["StartCycle"]), *unlogged]).verdict == "valid"
    # without any cycle field: each rotation phase is a candidate, the next read decides
    no_cycle = [down[0], down[1], down[4], {**down[5]}, {**down[6]}]
    del no_cycle[3]["cycle"], no_cycle[4]["cycle"]
    assert _validate([_header(hidden=["StartCycle"]), *no_cycle]).verdict == "valid"
    # ticks not declared hidden: the cycle must be the worker's own
    _rejected([_header(), *unlogged], 4, "its ticks while down are logged")
    # and never back in time
    back = [*down[:4], {**down[4], "cycle": 1}]
    _rejected([_header(hidden=["StartCycle"]), *back], 6, "already 3 per the model, not 1")


def test_hidden_steps_agree_with_successors() -> None:
    """The validator's hidden-step generator (per type, no moves listed) gives the
    successors of the hidden types, on every candidate of contract and reference walks."""
    cfg = dataclasses.replace(
        get_preset("pr").config,
        max_cycle=5,
        faults=Faults(crash=2, drop=2, duplicate=2, failover=1, timeout=2, extra_read=2),
    )
    checked = 0
    for policy, version, lines in (
        ("contract", 2, list(simulate_contract(cfg, seed=7, steps=120))),
        ("reference", 1, list(simulate(cfg, seed=7, steps=120, fault_rate=0.2))),
    ):
        hidden = [h for h in HIDEABLE_V2 if version == 1 or h != "StartCycle"]
        if version == 1:
            hidden = [h for h in hidden if h not in ("Timeout", "Refresh", "Restart")]
        v = Validator(
            dataclasses.replace(cfg, max_cycle=6),
            hidden=hidden,
            version=version,
            policy=policy,
        )
        v.strict_ids = False
        for ev in lines[1:]:
            for s in v.cands:
                want = {t for a, t in v.m.successors(s) if action_name(a) in hidden}
                assert set(v._hidden_succ(s)) == want
                checked += 1
            v.feed(ev, ev["type"])
    assert checked > 50


# --- Need events -----------------------------------------------------------------------------


def _with_need_events(lines: list[Any]) -> list[Any]:
    """A version 1 walk rewritten as version 2 with every need declared by a Need event
    just before its owner's StartCycle that reaches its arrival cycle (renumbered in
    declaration order: a need id is the next one when declared)."""
    h = lines[0]
    needs = h["config"]["needs"]
    cycle: dict[int, int] = {}
    declared: dict[int, int] = {}  # old id -> new id
    out: list[Any] = []
    for ev in lines[1:]:
        if ev["type"] == "StartCycle":
            w = ev["worker"]
            c = ev["cycle"]
            for n, d in enumerate(needs):
                if n not in declared and d["owner"] == w and d.get("arrival", 1) <= c:
                    declared[n] = len(declared)
                    need = {k: v for k, v in d.items() if k != "arrival"}
                    out.append({"type": "Need", "need": declared[n], **need})
            cycle[w] = c
        out.append(ev)
    for ev in out:
        if ev["type"] != "Need" and "need" in ev:
            ev["need"] = declared[ev["need"]]
    header = {**h, "version": 2, "config": {**h["config"], "needs": []}}
    return [header, *out]


def test_need_events_declare_needs_as_they_arrive() -> None:
    cfg = long_config(needs=60, workers=3, partitions=2, buckets=4)
    for seed in range(3):
        lines = list(simulate(cfg, seed=seed, steps=400, fault_rate=0.05))
        v2 = _with_need_events(json.loads(json.dumps(lines)))
        assert sum(1 for x in v2 if x["type"] == "Need") > 5
        r = _validate(v2)
        assert r.verdict == "valid", (seed, r.line, r.message, r.reasons[:2])


def test_need_events_are_checked() -> None:
    base = [
        _header(needs=[]),
        {"type": "Need", "need": 0, "owner": 0},
        {"type": "StartCycle", "worker": 0, "cycle": 1, "read": [R(1, (0, 0))]},
        {"type": "Need", "need": 1, "owner": 0, "priority": 5},
        {"type": "Propose", "worker": 0, "need": 0, "buckets": [[0, 0]]},
    ]
    assert _validate(base).verdict == "valid"
    # a need declared after its owner's StartCycle is not pending before the next one
    bad = [*base[:4], {"type": "Propose", "worker": 0, "need": 1, "buckets": [[0, 0]]}]
    _rejected(bad, 5, "n1 is not pending at worker 0 (pending: n0)")
    ok = [*base[:4], {"type": "StartCycle", "worker": 0}, {**bad[-1]}]
    assert _validate(ok).verdict == "valid"
    # a need named before it is declared is bad input (exit 2)
    r = _validate([base[0], {"type": "Release", "need": 0}])
    assert r.verdict == "unreadable" and r.line == 2 and "need 0 does not exist" in r.message


@pytest.mark.parametrize(
    "event,reason",
    [
        ({"type": "Need", "need": 3, "owner": 0}, "the next need id is 2"),
        ({"type": "Need", "need": 2, "owner": 5}, "owner 5 does not exist"),
        ({"type": "Need", "need": 2, "owner": 0, "gang": 0}, "gang must be at least 1"),
        ({"type": "Need", "need": 2, "owner": 0, "gang": 2, "eligible": [1]}, "a gang of 2"),
        ({"type": "Need", "need": 2, "owner": 0, "eligible": [4]}, "names bucket 4"),
        ({"type": "Need", "need": 2, "owner": 0, "arrival": 3}, "unknown field 'arrival'"),
        ({"type": "Need", "owner": 0}, "lacks the required field 'need'"),
        ({"type": "Timeout"}, "lacks the required field 'worker'"),
        ({"type": "Refresh", "worker": 0, "read": []}, "reads exactly one partition"),
        ({"type": "Teleport", "worker": 0}, "unknown event type"),
    ],
)
def test_bad_v2_events_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], event: dict[str, Any], reason: str
) -> None:
    line = _cli(tmp_path, [_header(), event], capsys)
    assert line.startswith("parsync: error: ") and ":2: " in line and reason in line, line


@pytest.mark.parametrize(
    "header,events,where,reason",
    [
        ({"version": 3}, [], 1, "unsupported trace version 3 (this validator reads 1 and 2)"),
        ({"version": 1, "policy": "contract"}, [], 1, "unknown field 'policy'"),
        ({"policy": "lenient"}, [], 1, "policy must be one of contract, reference"),
        ({"hidden": ["Propose"]}, [], 1, "only StartCycle, Release"),
        ({"version": 1}, [{"type": "Timeout", "worker": 0}], 2, "new in version 2"),
        ({"version": 1}, [{"type": "Recover", "worker": 0, "cycle": 2}], 2, "unknown field"),
    ],
)
def test_bad_v2_headers_are_one_line_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    header: dict[str, Any],
    events: list[Any],
    where: int,
    reason: str,
) -> None:
    line = _cli(tmp_path, [{**_header(), **header}, *events], capsys)
    assert f":{where}: " in line and reason in line, line
    # a malformed version 2 line
    bad = (json.dumps(_header()) + '\n{"type": "Timeout", "worker": 0\n').encode()
    assert "not valid JSON" in _cli(tmp_path, bad, capsys)


# --- no enumeration of bucket sets -----------------------------------------------------------


def _big(buckets: int, gang: int, partitions: int) -> Config:
    return Config(
        workers=2,
        partitions=partitions,
        capacities=(1,) * buckets,
        needs=(
            Need(owner=0, gang=gang),
            Need(owner=1, gang=gang, priority=2),
            Need(owner=1, gang=gang),
        ),
        retry_budget=1,
        strategy="quality-first",
        max_cycle=4,
    )


@pytest.mark.parametrize("buckets,gang,partitions", [(256, 4, 4), (1024, 8, 8)])
@pytest.mark.parametrize("version", [1, 2])
def test_large_gangs_validate_in_flat_memory(
    buckets: int, gang: int, partitions: int, version: int
) -> None:
    """A gang over many buckets has astronomically many bucket sets (8 of 1,024: ~10^19);
    the validator checks the logged set against the rules, and a Defer, the hidden-step
    search and a rejection's reason list none of them."""
    cfg = _big(buckets, gang, partitions)
    hidden = ["Drop"] if version == 1 else ["Drop", "Timeout"]
    h = {**_header(hidden=hidden), "config": cfg.to_dict(), "version": version}
    members = [b for b in range(buckets) if b % partitions == 1]
    read = [{"partition": 1, "entries": [[0, 0]] * len(members)}]
    mine = members[:gang]
    other = members[gang : 2 * gang]
    lines = [
        h,
        {"type": "StartCycle", "worker": 0, "cycle": 1, "read": read},
        {"type": "StartCycle", "worker": 1, "cycle": 1, "read": read},
        {"type": "Propose", "worker": 0, "need": 0, "buckets": [[b, 0] for b in mine], "id": 1},
        {"type": "Propose", "worker": 1, "need": 1, "buckets": [[b, 0] for b in mine], "id": 2},
        {"type": "Commit", "id": 2, "result": "committed", "reply": 3},
        {"type": "HandleReply", "worker": 1, "id": 3, "kind": "committed"},
    ]
    if version == 1:  # proposal 1 was lost unlogged (a hidden Drop), so w0 starts a cycle
        lines.append({"type": "StartCycle", "worker": 0, "cycle": 2})
    else:  # w0 timed out unlogged (a hidden Timeout) and proposes again
        again = [[b, 0] for b in other]
        lines.append({"type": "Propose", "worker": 0, "need": 0, "buckets": again, "id": 4})
    tracemalloc.start()
    try:
        r = _validate(lines)
        # a Defer while sets still fit: the reference refuses it without listing them
        bad = _validate([*lines, {"type": "Defer", "worker": 1}])
        short = [[b, 0] for b in other[:-1]]
        worse = _validate([*lines, {"type": "Propose", "worker": 1, "need": 2, "buckets": short}])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.verdict == "valid", (r.line, r.message)
    assert r.hidden_steps == 1
    if version == 1:
        assert bad.verdict == "invalid" and "defers only when nothing fits" in bad.message
    else:
        assert bad.verdict == "valid"
    assert worse.verdict == "invalid"
    assert f"n2 is a gang of {gang} bucket(s), the proposal names {gang - 1}" in worse.message
    assert peak < 40 * 1024 * 1024, peak


def test_v2_trace_file_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "good.jsonl"
    with open(f, "w", encoding="utf-8") as out:
        write_trace(out, iter(GOOD))
    assert validate_path(f).verdict == "valid"
    assert main(["trace", str(f)]) == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(x) + "\n" for x in _edit(7, result="fenced")))
    assert main(["trace", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:7: invalid" in out and "fenced iff the epochs differ" in out


def test_sampled_walks_of_a_large_config_validate() -> None:
    """The benchmark's walk (bucket sets drawn, never listed) at 16 workers, 256 buckets,
    P = 8, gangs and every reference fault: valid under the contract, and reproducible."""
    needs = tuple(
        Need(owner=i % 16, priority=1 + i % 4, arrival=1 + i // 8, gang=3 if i % 5 == 0 else 1)
        for i in range(120)
    )
    big = 1 << 30
    cfg = Config(
        workers=16,
        partitions=8,
        capacities=tuple(2 + b % 3 for b in range(256)),
        needs=needs,
        retry_budget=2,
        strategy="adaptive",
        max_cycle=big,
        faults=Faults(big, big, big, big),
    )
    lines = list(simulate_sampled(cfg, seed=2, steps=1500, fault_rate=0.05))
    assert lines == list(simulate_sampled(cfg, seed=2, steps=1500, fault_rate=0.05))
    kinds = {x["type"] for x in lines}
    assert {"Crash", "Recover", "Drop", "Duplicate", "Failover", "Release"} <= kinds
    assert any(len(x["buckets"]) == 3 for x in lines if x["type"] == "Propose")
    r = _validate(lines)
    assert r.verdict == "valid", (r.line, r.message)
    # with the contract's own steps among the faults (the benchmark's --contract-events)
    lines = list(simulate_sampled(cfg, seed=2, steps=1500, fault_rate=0.2, contract_steps=True))
    kinds = {x["type"] for x in lines}
    assert {"Timeout", "Refresh", "Restart", "Crash", "Release"} <= kinds, kinds
    r = _validate(lines)
    assert r.verdict == "valid", (r.line, r.message)


@pytest.mark.parametrize("policy", ["contract", "reference"])
def test_explainers_build_the_models_step(policy: str) -> None:
    """Each event of a walk, explained from the state before it, gives the model's own
    next state (``ParSyncModel.step``, or ``successors`` for the steps it lists)."""
    from parsync.model.protocol import ParSyncModel
    from parsync.traces.simulate import _Ids, event_of

    cfg = dataclasses.replace(
        get_preset("pr").config,
        max_cycle=6,
        faults=Faults(crash=2, drop=2, duplicate=2, failover=1, timeout=3, extra_read=3),
    )
    import random

    m = ParSyncModel(cfg, memo=False, policy=policy)
    v = Validator(cfg, hidden=[], version=2, policy=policy)
    rng = random.Random(5)
    checked = 0
    for _ in range(12):
        s = m.init_state()
        ids = _Ids()
        for _ in range(150):
            moves = list(m.successors(s))
            if not moves:
                break
            a, t = rng.choice(moves)
            ev = event_of(m, s, a, t, ids)
            # match by content (every message the event may mean); a network fault by id
            v.ids = {ev["id"]: (a.m,)} if ev["type"] in ("Drop", "Duplicate") else {}
            ok, why, _made = v._explainers[ev["type"]](s, ev)
            assert t in ok, (a, why)
            checked += 1
            s = t
    assert checked > 300


def test_the_documented_v2_example_is_valid() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "traces.md").read_text("utf-8")
    block = doc.split("<!-- trace-v2-example:begin -->")[1].split("<!-- trace-v2-example:end -->")[
        0
    ]
    lines = [json.loads(x) for x in block.splitlines() if x.startswith("{")]
    assert lines[0]["version"] == 2 and len(lines) > 15
    r = _validate(lines)
    assert r.verdict == "valid", (r.line, r.message)
    assert [x["type"] for x in lines[1:]] == [x["type"] for x in GOOD[1:17]] + [
        "Need",
        "StartCycle",
        "Release",
    ]
    # the need declared last is pending at worker 0 and does not fit yet
    bad = {"type": "Propose", "worker": 0, "need": 2, "buckets": [[0, 1], [1, 0]]}
    _rejected([*lines, bad], len(lines) + 1, "bucket 0 has no room for n2")


def test_need_events_with_hidden_duplicates() -> None:
    """An unlogged copy, placed before earlier events and replayed through Need events,
    is found as in the same run written with the needs in the Config (a replayed Need
    adds only its own need, so later needs do not arrive early)."""
    cfg = dataclasses.replace(
        long_config(needs=40, workers=3, partitions=2, buckets=4),
        faults=Faults(crash=4, duplicate=1 << 30, failover=2),
    )

    def hide_first_copy(lines: list[Any]) -> list[Any]:
        alias: dict[str, str] = {}
        kept: list[Any] = []
        for x in lines[1:]:
            if x["type"] == "Duplicate" and not alias:
                alias[x["copy"]] = x["id"]  # a later event names the copy by the original's id
                continue
            if "id" in x:
                x["id"] = alias.get(x["id"], x["id"])
            kept.append(x)
        assert alias
        return [{**lines[0], "hidden": ["Duplicate"]}, *kept]

    for seed in range(4):
        lines = list(simulate(cfg, seed=seed, steps=300, fault_rate=0.1))
        v1 = _validate(hide_first_copy(json.loads(json.dumps(lines))))
        v2 = _validate(hide_first_copy(_with_need_events(json.loads(json.dumps(lines)))))
        assert (v1.verdict, v1.hidden_steps) == ("valid", 1), (seed, v1.message)
        assert (v2.verdict, v2.hidden_steps) == ("valid", 1), (seed, v2.line, v2.message)


def test_v2_lines_agree_with_the_schema() -> None:
    """The checker for version 2 lines (header and events) and the schema's ``v2``
    definition accept and refuse the same lines; version 1's definition refuses the
    version 2 events and header."""
    jsonschema = pytest.importorskip("jsonschema")
    from parsync.traces.format import _Bad, check_event, check_header, schema

    doc = schema()
    v2 = jsonschema.Draft202012Validator({**doc, "anyOf": [{"$ref": "#/$defs/v2"}]})
    v1 = jsonschema.Draft202012Validator({**doc, "anyOf": [{"$ref": "#/$defs/v1"}]})

    def ok(line: Any) -> bool:
        try:
            if isinstance(line, dict) and line.get("type") == "header":
                check_header(line)
                return bool(line.get("version") == 2)
            check_event(line, 2)
        except _Bad:
            return False
        return True

    extra = [
        {"type": "Need", "need": 2, "owner": 0, "priority": 3, "gang": 2, "eligible": [0, 1]},
        {"type": "Recover", "worker": 0, "cycle": 4, "read": []},
        {"type": "Restart", "worker": 0, "cycle": 4},
        {**_header(policy="reference", hidden=["Timeout", "StartCycle"])},
    ]
    n = 0
    for line in [*GOOD, *extra]:
        cands: list[Any] = [line]
        for k in line:
            for bad in (None, "x", -1, 1.5, [], {}, [[1]], "Propose", ["Need"]):
                cands.append({**line, k: bad})
            cands.append({kk: vv for kk, vv in line.items() if kk != k})
        cands.append({**line, "bogus": 1})
        for c in cands:
            assert ok(c) == v2.is_valid(c), c
            n += 1
        if line["type"] in ("Timeout", "Refresh", "Restart", "Need", "header"):
            assert not v1.is_valid(line), line
    assert n > 500
