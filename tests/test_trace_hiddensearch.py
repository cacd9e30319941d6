"""The hidden-step search's shortcuts (issue 14): a trace that really leaves its Drops
and Duplicates out makes ``Validator._earlier_hidden`` place one hidden step before
each of the recent events and replay the window from it. The search now skips
replays whose result it knows (``Validator._tried_later``, ``_Unread.rest``, ``_reads``
in ``Validator._could_take``) and hashes each state's large parts once (``_Hashes``).
Against the search with every replay run (``Validator.exhaustive``):

* whole traces - the realistic configuration (16 workers, 256 buckets, P = 8) at a
  small size with every Drop and Duplicate line left out, with and without the
  contract's own steps, and the hidden-step cases of ``test_trace_hiddenfast.py``
  (reference and contract walks, Need events, StartCycle hidden, Drop or Duplicate
  alone, recorded traces) - get the same result: verdict, line, message, reasons,
  candidate states, hidden steps, peak candidates;
* so do mutated left-out traces (a field of one line changed, a logged line deleted);
* a trace that needs a hidden step its header does not declare fails, with the same
  message both ways;
* the shortcuts are taken (the realistic left-out traces need many hidden steps).
"""

from __future__ import annotations

import copy
import io
import json
import random
from collections import Counter
from typing import Any

import pytest
from test_trace_faststep import _large
from test_trace_hiddenfast import CASES

from parsync.traces import validate as validate_module
from parsync.traces.simulate import simulate_sampled
from parsync.traces.validate import INVALID, VALID, Validator, _Hashes, validate_stream

NET = ("Drop", "Duplicate")


def _left_out(walk: list[Any], hidden: Any = NET) -> list[Any]:
    """The walk with ``hidden`` declared and every Drop and Duplicate line left out."""
    return [dict(walk[0], hidden=list(hidden))] + [ev for ev in walk[1:] if ev["type"] not in NET]


def _realistic() -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for seed, contract in ((1, False), (2, True), (3, False)):
        walk = list(
            simulate_sampled(
                _large(80), seed=seed, steps=1500, fault_rate=0.05, contract_steps=contract
            )
        )
        out[f"realistic {seed}{', contract steps' if contract else ''}, left out"] = _left_out(walk)
    return out


REALISTIC = _realistic()


def _bytes(lines: list[Any]) -> bytes:
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def _result(data: bytes, exhaustive: bool, window: int = 1024) -> dict[str, Any]:
    old = Validator.exhaustive
    Validator.exhaustive = exhaustive
    try:
        r = validate_stream(io.BytesIO(data), "t.jsonl", hidden_window=window).to_json()
    finally:
        Validator.exhaustive = old
    del r["seconds"]
    return r


def _both(lines: list[Any], window: int = 1024) -> dict[str, Any]:
    data = _bytes(lines)
    want = _result(data, exhaustive=True, window=window)
    got = _result(data, exhaustive=False, window=window)
    assert got == want, (want["verdict"], want["line"], want["message"], got["message"])
    return want


@pytest.mark.parametrize("name", sorted(REALISTIC))
def test_realistic_left_out_traces_get_the_same_result(name: str) -> None:
    r = _both(REALISTIC[name])
    assert r["verdict"] == VALID, r["message"]
    assert r["hidden_steps"] >= 3, r["hidden_steps"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_hidden_step_cases_get_the_same_result(name: str) -> None:
    for window in (1024, 12):
        _both(CASES[name], window)


def _mutations(lines: list[Any], seed: int, n: int) -> list[list[Any]]:
    """``n`` traces, each with one event line's int field changed or one line deleted, at
    lines from the second quarter on (after the first hidden steps are needed)."""
    rng = random.Random(seed)
    out: list[list[Any]] = []
    while len(out) < n:
        i = rng.randrange(len(lines) // 4, len(lines))
        ev = lines[i]
        mutated = copy.deepcopy(lines)
        if rng.random() < 0.4:
            del mutated[i]
        else:
            keys = [k for k, x in ev.items() if type(x) is int]
            if not keys:
                continue
            k = rng.choice(keys)
            mutated[i] = dict(ev, **{k: ev[k] + rng.choice([1, -1])})
        out.append(mutated)
    return out


@pytest.mark.parametrize("name", sorted(REALISTIC)[1:])
def test_mutated_left_out_traces_fail_alike(name: str) -> None:
    verdicts: Counter[str] = Counter()
    for mutated in _mutations(REALISTIC[name], seed=len(name), n=5):
        verdicts[_both(mutated)["verdict"]] += 1
    assert verdicts[INVALID] >= 3, verdicts


def test_an_undeclared_hidden_step_still_fails_alike() -> None:
    """The same left-out trace with nothing declared hidden: the first line that needs an
    unlogged copy fails, with the message it always had."""
    lines = REALISTIC[sorted(REALISTIC)[0]]
    bare = [dict(lines[0], hidden=[])] + lines[1:]
    r = _both(bare)
    assert r["verdict"] == INVALID
    assert r["line"] is not None
    declared = _both(lines[: r["line"]])  # up to that line, with the copies declared hidden
    assert declared["verdict"] == VALID and declared["hidden_steps"] >= 1, declared["message"]


def test_the_shortcuts_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: Counter[str] = Counter()
    later = Validator._tried_later
    rest = validate_module._Unread.rest

    def spy_later(self: Validator, *a: Any) -> bool:
        got = later(self, *a)
        taken["placement skipped"] += got
        return got

    def spy_rest(self: Any, *a: Any) -> Any:
        got = rest(self, *a)
        taken["replay cut short"] += got is not None
        return got

    monkeypatch.setattr(Validator, "_tried_later", spy_later)
    monkeypatch.setattr(validate_module._Unread, "rest", spy_rest)
    r = _result(_bytes(REALISTIC[sorted(REALISTIC)[2]]), exhaustive=False)
    assert r["verdict"] == VALID, r["message"]
    assert taken["placement skipped"] >= 10 and taken["replay cut short"] >= 3, taken


def test_state_keys_are_equal_exactly_when_the_states_are() -> None:
    """``_Hashes.key`` of a state and of a deep copy (no component shared) are equal with
    equal hashes; states that differ have keys that differ."""
    lines = REALISTIC[sorted(REALISTIC)[0]]
    h = lines[0]
    v = Validator(validate_module._config_of(h), hidden=NET, version=h["version"], lazy=False)
    states = []
    for ev in lines[1:300]:
        if ev["type"] == "Need":
            v.declare(ev)
        v.feed(ev, ev["type"])
        states.append(v.cands[0])
    hashes = _Hashes()
    keys = [hashes.key(s) for s in states]
    for s, k in zip(states, keys, strict=True):
        twin = hashes.key(copy.deepcopy(s))
        assert twin == k and hash(twin) == hash(k)
    assert len(set(keys)) == len(set(states))
