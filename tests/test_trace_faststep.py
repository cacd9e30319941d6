"""The compiled step (parsync/traces/faststep.py) is the validator's general path, faster:

* in lockstep on whole traces - reference and contract walks of the presets (sizes 1-2,
  partition maps, every strategy, gangs, every fault, the contract's own steps), the
  benchmark's sampled walks at 16 workers and 256 buckets, needs declared by Need
  events, lines with metadata, ids left out - the state the fast path holds equals the
  general path's one candidate after every event, and so does the id table; and most
  events are taken by the compiled handlers themselves;
* on mutated traces (a field changed, retyped, removed or added; a line deleted,
  repeated, swapped, cut or replaced), ``validate_stream`` gives the same result with
  and without it: verdict, line, message, reasons, candidate states, the forced step.
"""

from __future__ import annotations

import dataclasses
import io
import json
import random
from collections import Counter
from typing import Any

import orjson
import pytest
from test_trace_v2 import _with_need_events

from parsync.model.config import Config, Faults, Need
from parsync.model.presets import get_preset
from parsync.traces import validate as validate_module
from parsync.traces.faststep import FastPath
from parsync.traces.format import DEFAULT_HIDDEN, TABLES
from parsync.traces.simulate import (
    long_config,
    simulate,
    simulate_contract,
    simulate_sampled,
    with_delivers,
)
from parsync.traces.validate import Validator, _config_of, validate_stream

PRESETS = ("pr", "capacity", "three-partitions", "twins")


def _faulty(name: str, **more: int) -> Config:
    return dataclasses.replace(
        get_preset(name).config,
        max_cycle=8,
        faults=Faults(crash=2, drop=2, duplicate=2, failover=2, **more),
    )


def _large(needs: int = 120) -> Config:
    """The benchmark's realistic Config, smaller: 16 workers, 256 buckets, P = 8, gangs,
    sizes 1 and 2, eligibility subsets, adaptive, every fault unbounded."""
    big = 1 << 30
    return Config(
        workers=16,
        partitions=8,
        capacities=tuple(2 + b % 3 for b in range(256)),
        needs=tuple(
            Need(
                owner=i % 16,
                priority=1 + i % 4,
                arrival=1 + i // 8,
                gang=3 if i % 11 == 0 else 2 if i % 5 == 0 else 1,
                size=2 if i % 7 == 0 else 1,
                eligible=tuple(range((i % 4) * 64, (i % 4) * 64 + 64)) if i % 13 == 0 else None,
            )
            for i in range(needs)
        ),
        retry_budget=2,
        strategy="adaptive",
        max_cycle=big,
        faults=Faults(big, big, big, big),
    )


def _fresh(lines: list[Any]) -> list[Any]:
    return json.loads(json.dumps(lines))


def _no_ids(lines: list[Any]) -> list[Any]:
    """The trace with no message ids (a recorder that does not log them): matched by
    content. (Only for walks without Drop and Duplicate, whose ids are required.)"""
    out = [lines[0]]
    for ev in lines[1:]:
        out.append({k: x for k, x in ev.items() if k not in ("id", "reply")})
    return out


def _sparse(lines: list[Any], seed: int) -> list[Any]:
    """Optional fields left out at random, metadata added at random."""
    rng = random.Random(seed)
    out = [lines[0]]
    for ev in lines[1:]:
        ev = dict(ev)
        for k in ("read", "seq", "epoch", "cycle", "priority", "attempt", "stale", "kind", "need"):
            if k in ev and rng.random() < 0.2 and not (k == "need" and ev["type"] != "Commit"):
                del ev[k]
        if rng.random() < 0.3:
            ev["ts"] = rng.choice([12, 3.5])
        if rng.random() < 0.1:
            ev["x"] = {"host": "a"}
        out.append(ev)
    return out


def _traces() -> dict[str, list[Any]]:
    t: dict[str, list[Any]] = {}
    for name in PRESETS:
        for seed in range(3):
            t[f"reference {name} {seed}"] = list(
                simulate(_faulty(name), seed=seed, steps=300, fault_rate=0.15)
            )
        for seed in range(2):
            cfg = _faulty(name, timeout=3, extra_read=3)
            t[f"contract {name} {seed}"] = list(
                simulate_contract(cfg, seed=seed, steps=200, fault_rate=0.2)
            )
    long = long_config(needs=60, workers=3, partitions=2, buckets=4)
    for seed in range(2):
        walk = list(simulate(long, seed=seed, steps=600, fault_rate=0.05))
        t[f"Need events {seed}"] = _with_need_events(_fresh(walk))
        t[f"reference v2 {seed}"] = [{**walk[0], "version": 2, "policy": "reference"}, *walk[1:]]
        t[f"sparse {seed}"] = _sparse(walk, seed)
    rng = random.Random(7)
    walk = list(simulate(long, seed=5, steps=600, fault_rate=0.05))
    t["partial ids"] = [walk[0]] + [
        {k: x for k, x in ev.items() if not (k == "id" and ev["type"] in ("Commit", "HandleReply")
         and rng.random() < 0.3)}
        for ev in walk[1:]
    ]  # fmt: skip
    quiet = dataclasses.replace(long, faults=Faults(crash=3, failover=2))
    t["no ids"] = _no_ids(list(simulate(quiet, seed=3, steps=600, fault_rate=0.05)))
    for seed, contract in ((1, False), (2, True)):
        walk = list(
            simulate_sampled(
                _large(), seed=seed, steps=1500, fault_rate=0.05, contract_steps=contract
            )
        )
        t[f"sampled {contract} {seed}"] = walk
        t[f"sampled {contract} {seed}, Need events"] = _with_need_events(_fresh(walk))
        if contract:  # the same walk with its deliveries logged: the broker's inbox held
            t[f"sampled {contract} {seed}, Deliver"] = with_delivers(_fresh(walk))
            full = with_delivers(_fresh(walk))
            t[f"sampled {contract} {seed}, Deliver, sparse"] = [
                x if x["type"] == "Refresh" else y  # (a Refresh's read is required)
                for x, y in zip(full, _sparse(full, seed), strict=True)
            ]
    return t


TRACES = _traces()


def _general(v: Validator, ev: dict[str, Any], t: str) -> None:
    """What validate_stream does with a line on the general path."""
    if not v._ranges_ok[t](ev):
        v._check_ranges(ev, t)
    if t == "Need":
        v.declare(ev)
    v.feed(ev, t)


def _validator(h: dict[str, Any]) -> Validator:
    return Validator(
        _config_of(h),
        hidden=h.get("hidden", DEFAULT_HIDDEN),
        version=h["version"],
        policy=h.get("policy"),
    )


def _lockstep(lines: list[Any]) -> Counter[str]:
    """Both paths side by side, compared after every event; how the fast side took each."""
    h = orjson.loads(orjson.dumps(lines[0]))
    slow = _validator(h)
    fast = _validator(_fresh([h])[0])
    fp = fast.fast_path()
    assert fp is not None
    routes: Counter[str] = Counter()
    generic = fp.generic
    taken: list[bool] = []

    def spy(ev: dict[str, Any], t: str) -> bool:
        got = generic(ev, t)
        taken.append(got)
        return got

    for k, line in enumerate(lines[1:], 2):
        ev = orjson.loads(orjson.dumps(line))  # as the validator reads it
        t = ev["type"]
        _general(slow, ev, t)
        taken.clear()
        handler = None
        if fp is not None:
            fp.generic = spy  # type: ignore[method-assign]
            handler = fp.handlers.get(t)  # none for a Deliver: the general path
        held = fp is not None and bool(fp.inbox)  # a proposal in the broker's inbox
        if handler is not None and handler(ev):
            fast.count += 1
            routes["generic" if taken and taken[-1] else "compiled"] += 1
            if held:
                routes["fast, inbox held"] += 1
        else:
            routes["general"] += 1
            if fp is not None:
                fast.cands = [fp.state()]
            _general(fast, ev, t)
            assert len(fast.cands) == 1, (k, "more than one candidate")
            fp = fast.fast_path()
            assert fp is not None, k  # (the broker's inbox too: the compiled step holds it)
            if fp is not None:
                generic = fp.generic
        assert (fp.state() if fp is not None else fast.cands[0]) == slow.cands[0], (k, line)
        assert fast.ids == slow.ids, (k, line)
        assert fast.count == slow.count
        assert fast.m.N == slow.m.N
    return routes


@pytest.mark.parametrize("name", sorted(TRACES))
def test_fast_path_holds_the_general_paths_state(name: str) -> None:
    lines = TRACES[name]
    routes = _lockstep(lines)
    total = routes["compiled"] + routes["generic"] + routes["general"]
    assert total == len(lines) - 1
    # the compiled handlers take most events; the general path only the odd one (a
    # logged Deliver and the decisions from the broker's inbox included)
    delivers = sum(x["type"] == "Deliver" for x in lines[1:])
    if delivers:
        # the events taken while the inbox held a proposal: at least each decision on
        # a delivered one
        assert routes["fast, inbox held"] >= delivers // 2, routes
    if name.startswith("contract"):  # the small presets' walks: faults every fifth step
        assert routes["compiled"] >= total // 3, routes
        return
    assert routes["general"] <= total // 20, routes
    assert routes["compiled"] >= total // 2, routes


def test_when_the_fast_path_is_taken() -> None:
    """With one candidate; with hidden steps declared too while the window of past
    events is kept lazily (tests/test_trace_hiddenfast.py), not when it is kept eagerly
    (``lazy=False``, what ``validate_stream(fast=False)`` does); not when a crashed
    worker's ticks are hidden (version 2); with a proposal in the broker's inbox too
    (the compiled step holds the inbox)."""
    h = TRACES["reference pr 0"][0]
    assert _validator(h).fast_path() is not None
    assert _validator({**h, "hidden": ["Drop"]}).fast_path() is not None
    eager = Validator(_config_of(h), hidden=["Drop"], version=h["version"], lazy=False)
    assert eager.fast_path() is None
    c = TRACES["contract pr 0"][0]
    assert _validator({**c, "hidden": ["Drop"]}).fast_path() is not None
    assert _validator({**c, "hidden": ["StartCycle"]}).fast_path() is None
    v = _validator(h)
    v.cands = v.cands * 2
    assert v.fast_path() is None
    # a proposal in the broker's inbox: held by the compiled step too
    lines = TRACES["sampled True 2, Deliver"]
    v = _validator(lines[0])
    for x in lines[1:]:
        _general(v, dict(x), x["type"])
        if v.cands[0].inbox:
            break
    assert v.cands[0].inbox
    fp = v.fast_path()
    assert fp is not None and fp.state() == v.cands[0]


def _result(data: bytes, fast: bool) -> dict[str, Any]:
    r = validate_stream(io.BytesIO(data), "t.jsonl", fast=fast).to_json()
    del r["seconds"]
    return r


_BAD_VALUES: list[Any] = [None, True, False, -1, 1.5, "x", "", [], {}, [[0, 0]], 2**70, [1]]


def _mutate(lines: list[bytes], rng: random.Random) -> list[bytes]:
    """One random edit of an event line, or of the lines."""
    lines = list(lines)
    i = rng.randrange(1, len(lines))
    op = rng.randrange(12)
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(i, lines[i])
    elif op == 2 and i + 1 < len(lines):
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    elif op == 3:
        lines[i] = lines[i][: rng.randrange(len(lines[i]))]
    elif op == 4:
        lines.insert(i, rng.choice([b"", b"   ", b"[1, 2]", b'"x"', b"{}", b'{"type": 3}']))
    else:
        ev = json.loads(lines[i])
        keys = [k for k in ev if k != "type"]
        if op == 5 or not keys:
            ev[rng.choice(["zz", "ts", "x", "read", "id", "need", "cycle"])] = rng.choice(
                [1, 2.5, {}, [], "m1"]
            )
        elif op == 6:
            del ev[rng.choice(keys)]
        elif op == 7:
            ev["type"] = rng.choice(["StartCycle", "Propose", "Commit", "HandleReply", "Need"])
        else:
            k = rng.choice(keys)
            x = ev[k]
            if type(x) is int and rng.random() < 0.7:
                ev[k] = x + rng.choice([1, -1, 2])
            elif type(x) is list and x and rng.random() < 0.7:
                x = json.loads(json.dumps(x))
                j = rng.randrange(len(x))
                y = x[j]
                if type(y) is list and y:
                    y[rng.randrange(len(y))] = rng.choice([0, 1, 5, True, -1])
                elif type(y) is dict and "entries" in y and y["entries"]:
                    e = y["entries"]
                    e[rng.randrange(len(e))][rng.randrange(2)] += rng.choice([1, -1])
                elif type(y) is dict:
                    y["partition"] = y.get("partition", 0) + 1
                elif rng.random() < 0.5:
                    del x[j]
                else:
                    x.append(y)
                ev[k] = x
            else:
                ev[k] = rng.choice(_BAD_VALUES)
        lines[i] = json.dumps(ev).encode()
    return lines


_MUTATED = (
    "reference pr 0",
    "reference capacity 1",
    "reference three-partitions 2",
    "contract pr 0",
    "contract twins 1",
    "Need events 0",
    "sparse 1",
    "no ids",
    "partial ids",
    "sampled True 2, Need events",
    "sampled False 1",
    "sampled True 2, Deliver",
    "sampled True 2, Deliver, sparse",
)


@pytest.mark.parametrize("name", _MUTATED)
def test_mutated_traces_get_the_same_result_both_ways(name: str) -> None:
    lines = [json.dumps(x).encode() for x in TRACES[name]]
    rng = random.Random(name)
    verdicts: Counter[str] = Counter()
    for _ in range(40):
        edited = _mutate(lines, rng)
        if rng.random() < 0.3:
            edited = _mutate(edited, rng)
        data = b"\n".join(edited) + b"\n"
        want = _result(data, fast=False)
        assert _result(data, fast=True) == want, want["message"]
        verdicts[want["verdict"]] += 1
    assert verdicts["invalid"] and verdicts["unreadable"], verdicts


def test_compaction_of_the_id_table_is_the_general_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """The id table is compacted at the same events both ways (ids of messages consumed
    by an event without an id are forgotten then), so an id reused after it is judged alike."""
    monkeypatch.setattr(validate_module, "CLEAR_EVERY", 1000)
    walk = list(simulate(long_config(needs=120), seed=1, steps=2500, fault_rate=0.05))
    # commits without an id from event 900 on: their proposals' ids stay in the table
    # until the compaction at event 1000
    lines = [walk[0]] + [
        {k: x for k, x in ev.items() if not (k == "id" and ev["type"] == "Commit" and i > 900)}
        for i, ev in enumerate(walk[1:], 1)
    ]
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    assert _result(data, fast=True) == _result(data, fast=False)
    # a Commit naming an id consumed before the compaction, after it
    gone = next(ev["id"] for i, ev in enumerate(walk[1:], 1) if i > 900 and ev["type"] == "Commit")
    bad = {"type": "Commit", "id": gone, "result": "committed"}
    for at in (990, 1200):
        cut = lines[: at + 1] + [bad] + lines[at + 1 :]
        data = "".join(json.dumps(x) + "\n" for x in cut).encode()
        want = _result(data, fast=False)
        assert want["verdict"] == "invalid"
        assert _result(data, fast=True) == want


# --- event by event: every variant of an event, at the state before it ------------------------


def _variants(ev: dict[str, Any]) -> list[dict[str, Any]]:
    """The event with one field removed, retyped, moved by one, or an element of it
    changed; with a field added."""
    out: list[dict[str, Any]] = []
    for k, x in ev.items():
        if k == "type":
            continue
        out.append({kk: xx for kk, xx in ev.items() if kk != k})
        for bad in (None, True, False, -1, 1.5, "x", "", [], {}, 2**70, [[0, 0]], [0]):
            out.append({**ev, k: bad})
        if type(x) is int:
            out += [{**ev, k: x + 1}, {**ev, k: x - 1}]
        if type(x) is list:
            for j, y in enumerate(x):
                if type(y) is list:
                    z = json.loads(json.dumps(x))
                    z[j].append(0)
                    out.append({**ev, k: z})
                    z = json.loads(json.dumps(x))
                    z[j].pop()
                    out.append({**ev, k: z})
                    for pos in range(len(y)):
                        for d in (1, -1, True):
                            z = json.loads(json.dumps(x))
                            z[j][pos] = d if d is True else z[j][pos] + d
                            out.append({**ev, k: z})
                elif type(y) is dict:
                    z = json.loads(json.dumps(x))
                    z[j]["partition"] = z[j]["partition"] + 1
                    out.append({**ev, k: z})
                    e = y.get("entries")
                    for at in {0, len(e) - 1} if e else ():
                        for pos in (0, 1):
                            for d in (1, True):
                                z = json.loads(json.dumps(x))
                                z[j]["entries"][at][pos] = d if d is True else e[at][pos] + d
                                out.append({**ev, k: z})
                    if e:
                        z = json.loads(json.dumps(x))
                        z[j]["entries"].pop()
                        out.append({**ev, k: z})
                else:
                    out.append({**ev, k: x[:j] + x[j + 1 :]})
                    out.append({**ev, k: [*x, y]})
                    if type(y) is int:
                        out.append({**ev, k: x[:j] + [y + 1] + x[j + 1 :]})
    for k, x in (("zz", 1), ("ts", 1.5), ("ts", "x"), ("x", []), ("x", {"a": 1})):
        out.append({**ev, k: x})
    req, opt = TABLES[2].get(ev["type"], ({}, {}))
    for k in opt:  # the optional fields the event leaves out, given
        if k not in ev:
            for x in (0, 1, 3, [], [0], [1, 2], [[0, 0]], [[1, 1]], "m1", True, False):
                out.append({**ev, k: x})
    return out


def _reused(ev: dict[str, Any], ids: dict[Any, Any]) -> list[dict[str, Any]]:
    """The event naming ids in the table: as its own, its reply's, its copy's, queued."""
    out = []
    some = list(ids)
    some = some[:4] + some[4:][-4:]  # the oldest (some consumed without their id) and newest
    w = ev.get("worker")
    # and the ids of this worker's messages (some consumed by an event without the id)
    some += [k for k, x in ids.items() if any(y.worker == w for y in x)][:6]
    for k in ("id", "reply", "copy"):
        if k in ev or (k, ev["type"]) in (("reply", "Commit"), ("id", "Propose")):
            out += [{**ev, k: x} for x in some]
    if ev["type"] == "Commit":  # by id alone
        out += [{"type": "Commit", "id": x, "result": ev["result"]} for x in some]
    if ev["type"] == "HandleReply":
        out += [{"type": "HandleReply", "id": x, "worker": w} for x in some]
    if ev["type"] == "Commit":
        out += [{**ev, "queued": [x]} for x in some]
    return out


def _proposals(m: Any, s: Any, rng: random.Random) -> list[dict[str, Any]]:
    """Propose lines for every worker's pending needs on sampled bucket sets, each bucket
    with the seqno the worker's view gives (so only the model's rules decide)."""
    out = []
    for wi, w in enumerate(s.workers):
        for n in w.pending[:2]:
            g = m.gang[n]
            for first in rng.sample(range(m.B), min(m.B, 6)):
                bs = [(first + k * (1 + first % 3)) % m.B for k in range(g)]
                pairs = []
                for b in bs:
                    e = m.view_entry(w, b)
                    pairs.append([b, 0 if e is None else e[0]])
                out.append({"type": "Propose", "worker": wi, "need": n, "buckets": pairs})
    return out


def _general_step(v: Validator, s: Any, ids: dict[Any, Any], ev: Any) -> Any:
    """The general path's decision on the line at state ``s``: (the one next state, the id
    table after) or None (unreadable, invalid, or more than one candidate)."""
    from parsync.traces.format import TraceFormatError, parse_event

    try:
        raw = json.dumps(ev).encode()
        got = parse_event("t.jsonl", 2, raw, v.version)
        assert got is not None
        e, t = got
        if not v._ranges_ok[t](e):
            v._check_ranges(e, t)
    except (TraceFormatError, ValueError):
        return None
    v.ids = dict(ids)
    if v._id_problem(e, t) is not None:
        return None
    ok, _why, made = v._explainers[t](s, e)
    if len(ok) != 1:
        return None
    if t in ("Propose", "Commit", "HandleReply", "Drop", "Duplicate"):
        v._book_ids(e, t, made)
    return ok[0], v.ids


def _fast_step(v: Validator, s: Any, ids: dict[Any, Any], ev: Any) -> Any:
    """The fast path's: (its state, the id table after) when a handler takes the line."""
    try:
        e = orjson.loads(json.dumps(ev).encode())
        h = FastPath(v, s).handlers[e["type"]]
    except (ValueError, KeyError, TypeError):
        return None
    v.ids = dict(ids)
    fp = FastPath(v, s)
    if not fp.handlers[e["type"]](e):
        return None
    assert h is not None
    return fp.state(), v.ids


def _tie_events(lines: list[Any], every: int = 1, ahead: int = 6) -> Counter[str]:
    """At the state before each event (each ``every``-th), the event's variants and the
    next ``ahead`` events out of order: whenever the fast path takes one, the general
    path takes it too, to the same state and id table."""
    h = lines[0]
    walk = _validator(h)  # the general path along the trace
    probe = _validator(h)  # the same model (no Need events here), for the probes
    seen: Counter[str] = Counter()
    events = lines[1:]
    rng = random.Random(len(events))
    for k, ev in enumerate(events):
        if k % every == 0:
            s = walk.cands[0]
            ids = dict(walk.ids)
            tries = [
                *_variants(ev),
                *_reused(ev, ids),
                *events[k + 1 : k + 1 + ahead],
                *_proposals(walk.m, s, rng),
            ]
            for x in tries:
                fast = _fast_step(probe, s, ids, x)
                if fast is None:
                    seen["declined"] += 1
                    continue
                general = _general_step(probe, s, ids, x)
                assert general is not None, ("the general path rejects", k, x)
                assert fast[0] == general[0], (k, x)
                assert fast[1] == general[1], (k, x)
                seen["taken"] += 1
        _general(walk, dict(ev), ev["type"])
    return seen


_TIED = [n for n in sorted(TRACES) if "Need" not in n]


@pytest.mark.parametrize("name", _TIED)
def test_every_event_the_fast_path_takes_the_general_path_takes_alike(name: str) -> None:
    lines = TRACES[name]
    # about 80 states a trace (40 of the large Config's, where each probe costs more)
    every = max(1, (len(lines) - 1) // (40 if name.startswith("sampled") else 80))
    seen = _tie_events(lines, every=every)
    assert seen["taken"] and seen["declined"], seen


def test_need_declarations_are_taken_only_as_the_general_path_takes_them() -> None:
    """Need lines, well formed or not, after a few events: the fast path takes one only
    when the general path does (declare's checks, then the need's slots), to the same
    state, the same model needs and the same next need id."""
    lines = TRACES["Need events 0"]
    upto = next(k for k, x in enumerate(lines) if k > 20 and x["type"] == "Need")
    base = lines[upto]
    variants = _variants(base) + [
        {**base, "eligible": [0, 0]},
        {**base, "eligible": [1]},
        {**base, "eligible": [1], "gang": 2},
        {**base, "eligible": [0, 1, 2, 3], "gang": 4},
        {**base, "eligible": [3, 1, 2], "gang": 2, "size": 2, "priority": 0},
        {**base, "eligible": [4]},
        {**base, "gang": 5},
        {**base, "gang": 4},
        {**base, "owner": 2},
        {**base, "owner": 3},
    ]
    taken = 0
    for ev in variants:
        data = "".join(json.dumps(x) + "\n" for x in [*lines[:upto], ev]).encode()
        want = _result(data, fast=False)
        assert _result(data, fast=True) == want, (ev, want["message"])
        h = orjson.loads(orjson.dumps(lines[0]))
        slow, fast = _validator(h), _validator(h)
        for x in lines[1:upto]:
            _general(slow, dict(x), x["type"])
            _general(fast, dict(x), x["type"])
        fp = fast.fast_path()
        assert fp is not None
        try:
            e = orjson.loads(json.dumps(ev).encode())
        except orjson.JSONDecodeError:  # pragma: no cover
            continue
        if not fp.handlers["Need"](e):
            continue
        taken += 1
        assert want["verdict"] == "valid", ev
        _general(slow, e, "Need")
        assert fp.state() == slow.cands[0] and fast.m.N == slow.m.N
        assert fast.m.eligible == slow.m.eligible and fast.m.needs_of == slow.m.needs_of
        assert fast.m.eligible_sets == slow.m.eligible_sets and fast.m._unit == slow.m._unit
    assert taken >= 5


# --- the header's Config, read without the model's per-bucket check when plainly valid -------


def _config_variants(d: dict[str, Any]) -> list[Any]:
    out: list[Any] = [d, {**d, "zz": 1}, [d], None]
    odd: list[Any] = [None, True, -1, 0, 1.5, "x", [], {}, [1], 2**70, "adaptive", [[1]]]
    for k in d:
        out.append({kk: x for kk, x in d.items() if kk != k})
        out += [{**d, k: x} for x in odd]
    out += [{**d, "faults": {**d.get("faults", {}), "crash": x}} for x in odd]
    out += [{**d, "faults": {"bogus": 1}}, {**d, "partition_map": [0] * len(d["capacities"])}]
    out += [{**d, "partition_map": [9] * len(d["capacities"])}]
    out += [{**d, "capacities": [*d["capacities"], x]} for x in odd]
    need = d["needs"][0]
    for k in ("owner", "priority", "arrival", "gang", "size", "eligible", "zz"):
        out.append({**d, "needs": [{kk: x for kk, x in need.items() if kk != k}]})
        for x in (*odd, 3, 5, 255, 256, [0, 0], [0, 1], [1, 0], [0, 300]):
            out.append({**d, "needs": [*d["needs"], {**need, k: x}]})
    return out


@pytest.mark.parametrize("name", ["pr", "capacity", "three-partitions", "large"])
def test_plain_configs_are_read_as_config_from_dict_reads_them(name: str) -> None:
    from parsync.model.config import ConfigError, config_from_dict
    from parsync.traces.validate import _plain_config, _read_config

    cfg = _large(40) if name == "large" else _faulty(name)
    base = json.loads(json.dumps(cfg.to_dict()))
    assert _plain_config(base) == cfg  # the common case takes the quick reading
    quick = 0
    for d in _config_variants(base):
        try:
            want: Any = config_from_dict(d)
        except (ConfigError, TypeError, ValueError) as e:
            want = (type(e), str(e))
        got = _plain_config(d)
        if got is not None:
            quick += 1
            assert got == want, d
            assert [type(getattr(got, f)) for f in vars(got)] == [
                type(getattr(want, f)) for f in vars(want)
            ]
        try:
            read: Any = _read_config(d)
        except (ConfigError, TypeError, ValueError) as e:
            read = (type(e), str(e))
        assert read == want, d
    assert quick >= 20
