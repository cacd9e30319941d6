"""The compiled step with hidden steps declared (issue 14): the window of past events an
unlogged step may be placed in is kept lazily (checkpoints and the events since,
``Validator._go_lazy``) and rebuilt by replay only when a line needs a hidden step
placed earlier than itself (``Validator._materialize``). Against the general path with
the window kept eagerly (``validate_stream(fast=False)``, ``Validator(lazy=False)``):

* the rebuilt window is the eager one, entry by entry (event, candidates before it, id
  table before it, hidden steps it needed), whenever it is rebuilt - with windows short
  enough that checkpoints are dropped and the window's older entries leave it;
* whole traces - valid ones with every, half or none of their Drops and Duplicates left
  out (the copies used several lines later), reference and contract, Need events,
  version 1 with StartCycle hidden, version 2 with a crashed worker's ticks hidden,
  Drop or Duplicate alone hidden (strict ids or not), the recorded traces in
  tests/data - and mutated ones get the same result both ways: verdict, line, message,
  reasons, candidate states, hidden steps, peak candidates.
"""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_trace_faststep import TRACES, _general, _mutate

from parsync.traces import validate as validate_module
from parsync.traces.faststep import FastPath
from parsync.traces.simulate import long_config, simulate
from parsync.traces.validate import (
    CLEAR_EVERY,
    TraceInvalid,
    Validator,
    _config_of,
    validate_stream,
)

DATA = Path(__file__).parent / "data"
NET = ("Drop", "Duplicate")


def _hide(lines: list[Any], share: float, seed: int, hidden: Any = NET) -> list[Any]:
    """The trace with ``hidden`` declared and that share of its Drop and Duplicate events
    (of the hidden types) left out, as a recorder that does not see the network writes it."""
    rng = random.Random(seed)
    out = [dict(lines[0], hidden=list(hidden))]
    for ev in lines[1:]:
        if ev["type"] in hidden and ev["type"] in NET and rng.random() < share:
            continue
        out.append(ev)
    return out


def _ticks_hidden(h: dict[str, Any]) -> bool:
    """Version 2 with StartCycle hidden: the compiled step is not taken (a crashed
    worker's cycle when it comes back is searched), the window is still kept lazily."""
    return bool(h["version"] >= 2 and "StartCycle" in h.get("hidden", ()))


def _data(name: str) -> list[Any]:
    return [json.loads(x) for x in (DATA / name).read_text().splitlines()]


def _cases() -> dict[str, list[Any]]:
    c: dict[str, list[Any]] = {}
    for name in ("reference pr 0", "reference capacity 1", "reference twins 2"):
        for share in (1.0, 0.5, 0.0):
            c[f"{name}, {share:.0%} hidden"] = _hide(TRACES[name], share, 1)
    for name in ("contract pr 0", "contract three-partitions 1", "contract twins 1"):
        for share in (1.0, 0.5):
            c[f"{name}, {share:.0%} hidden"] = _hide(TRACES[name], share, 2)
    c["Need events 0, all hidden"] = _hide(TRACES["Need events 0"], 1.0, 3)
    c["sparse 1, half hidden"] = _hide(TRACES["sparse 1"], 0.5, 4)
    c["partial ids, half hidden"] = _hide(TRACES["partial ids"], 0.5, 4)
    c["sampled True 2, Need events, declared"] = _hide(TRACES["sampled True 2, Need events"], 0, 5)
    c["sampled False 1, all hidden"] = _hide(TRACES["sampled False 1"], 1.0, 5)
    c["reference pr 1, Drop hidden (strict ids)"] = _hide(
        TRACES["reference pr 1"], 1.0, 6, ["Drop"]
    )
    c["reference pr 2, Duplicate hidden"] = _hide(TRACES["reference pr 2"], 1.0, 6, ["Duplicate"])
    c["reference capacity 0, v1 StartCycle hidden too"] = _hide(
        TRACES["reference capacity 0"], 0.5, 7, [*NET, "StartCycle"]
    )
    c["contract pr 1, v2 ticks hidden"] = _hide(
        TRACES["contract pr 1"], 0.5, 8, [*NET, "StartCycle"]
    )
    walk = list(simulate(long_config(needs=60, workers=3, partitions=2, buckets=4), seed=9,
                         steps=1200, fault_rate=0.03))  # fmt: skip
    c["long walk, all hidden"] = _hide(walk, 1.0, 9)
    c["long walk, half hidden"] = _hide(walk, 0.5, 9)
    for name in ("hidden-proposal-copy.jsonl", "hidden-copies-close-together.jsonl",
                 "hidden-copy-after-crash.jsonl"):  # fmt: skip
        c[name] = _data(name)
    return c


CASES = _cases()
WINDOWS = (1024, 48, 12)


def _result(data: bytes, fast: bool, window: int) -> dict[str, Any]:
    r = validate_stream(io.BytesIO(data), "t.jsonl", fast=fast, hidden_window=window).to_json()
    del r["seconds"]
    return r


def _bytes(lines: list[Any]) -> bytes:
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hidden_step_traces_get_the_same_result_both_ways(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = Counter[str]()
    init = FastPath.__init__
    rebuild = Validator._materialize

    def counting_init(self: FastPath, *a: Any) -> None:
        taken["fast path entered"] += 1
        init(self, *a)

    def counting_rebuild(self: Validator) -> None:
        taken["window rebuilt"] += self._segs is not None
        rebuild(self)

    monkeypatch.setattr(FastPath, "__init__", counting_init)
    monkeypatch.setattr(Validator, "_materialize", counting_rebuild)
    data = _bytes(CASES[name])
    for window in WINDOWS:
        want = _result(data, fast=False, window=window)
        assert _result(data, fast=True, window=window) == want, (window, want["message"])
        taken[want["verdict"]] += 1
    if not _ticks_hidden(CASES[name][0]):  # a crashed worker's hidden ticks: the general path
        assert taken["fast path entered"], taken
    if name.endswith(", 0% hidden"):  # every step logged: no window is ever needed
        assert taken["window rebuilt"] == 0, taken


def test_earlier_hidden_steps_are_found_after_a_rebuild() -> None:
    """Among the cases, traces whose unlogged copies are used lines later need the window
    rebuilt, and the results (compared above) count hidden steps."""
    rebuilt = 0
    hidden = 0
    orig = Validator._materialize

    def spy(self: Validator) -> None:
        nonlocal rebuilt
        rebuilt += self._segs is not None
        orig(self)

    Validator._materialize = spy  # type: ignore[method-assign]
    try:
        for name in ("hidden-copies-close-together.jsonl", "reference pr 0, 100% hidden"):
            r = _result(_bytes(CASES[name]), fast=True, window=1024)
            assert r["verdict"] == "valid", r["message"]
            hidden += r["hidden_steps"]
    finally:
        Validator._materialize = orig  # type: ignore[method-assign]
    assert rebuilt >= 2 and hidden >= 3, (rebuilt, hidden)


# --- the rebuilt window is the eager one ---------------------------------------------------


def _validator(h: dict[str, Any], window: int, lazy: bool) -> Validator:
    return Validator(
        _config_of(h),
        hidden=h["hidden"],
        version=h["version"],
        policy=h.get("policy"),
        hidden_window=window,
        lazy=lazy,
    )


def _same_window(lazy: Validator, eager: Validator, k: int) -> None:
    assert len(lazy.window) == len(eager.window), k
    for i, (a, b) in enumerate(zip(lazy.window, eager.window, strict=True)):
        assert a[0] == b[0] and a[1] == b[1], (k, i)
        assert a[2] == b[2], (k, i, "candidates")
        assert a[3] == b[3], (k, i, "id table")
        assert a[4] == b[4], (k, i, "depth")


def _window_lockstep(lines: list[Any], window: int, check_every: int) -> Counter[str]:
    """The lazy validator driven as validate_stream drives it (compiled step, events
    logged, checkpoints) beside the eager one; every ``check_every`` events the window is
    rebuilt and compared entry by entry, then kept lazily again."""
    h = orjson.loads(orjson.dumps(lines[0]))
    eager = _validator(h, window, lazy=False)
    lazy = _validator(orjson.loads(orjson.dumps(lines[0])), window, lazy=True)
    fp = lazy.fast_path()
    seen: Counter[str] = Counter()
    for k, line in enumerate(lines[1:], 2):
        ev = orjson.loads(orjson.dumps(line))
        t = ev["type"]
        try:
            _general(eager, orjson.loads(orjson.dumps(line)), t)
        except TraceInvalid as e:  # a short window may not reach back far enough
            if fp is not None:
                lazy.cands = [fp.state()]
            with pytest.raises(TraceInvalid) as got:
                _general(lazy, ev, t)
            assert (got.value.reason, got.value.reasons) == (e.reason, e.reasons), k
            assert got.value.candidates == e.candidates, k
            seen["invalid"] += 1
            break
        h_t = fp.handlers.get(t) if fp is not None else None
        if fp is not None and h_t is not None and h_t(ev):
            seen["fast"] += 1
            lazy.count += 1
            seg = lazy._seg
            assert seg is not None
            seg.append(ev)
            if len(seg) >= lazy._ck_every:
                if lazy.count % CLEAR_EVERY == 0:
                    fp.compact()
                lazy._checkpoint([fp.state()])
        else:
            seen["general"] += 1
            if fp is not None:
                lazy.cands = [fp.state()]
                fp = None
            _general(lazy, ev, t)
            fp = lazy.fast_path()
        if fp is not None:
            lazy.cands = [fp.state()]
        assert lazy.cands == eager.cands, k
        assert lazy.ids == eager.ids, k
        assert (lazy.count, lazy.hidden_steps, lazy.peak) == (
            eager.count,
            eager.hidden_steps,
            eager.peak,
        ), k
        if k % check_every == 0 and lazy._segs is not None:
            seen["checked"] += 1
            fp = None
            lazy._materialize()
            _same_window(lazy, eager, k)
            lazy._go_lazy()
            fp = lazy.fast_path()
        elif lazy._segs is None:  # rebuilt by the validator itself (kept eagerly a while)
            seen["eager"] += 1
            _same_window(lazy, eager, k)
    return seen


@pytest.mark.parametrize(
    "name",
    [
        "long walk, all hidden",
        "long walk, half hidden",
        "contract pr 0, 100% hidden",
        "Need events 0, all hidden",
        "sampled False 1, all hidden",
        "hidden-copies-close-together.jsonl",
    ],
)
@pytest.mark.parametrize(("window", "every"), [(7, 5), (7, 37), (40, 5), (40, 37)])
def test_the_rebuilt_window_is_the_eager_one(name: str, window: int, every: int) -> None:
    """(Checkpoints every 16 events at these windows: with checks 37 events apart the
    oldest are dropped, and the window's older entries with them.)"""
    lines = CASES[name]
    seen = _window_lockstep(lines, window, check_every=every)
    assert seen["checked"], seen
    assert seen["fast"] or _ticks_hidden(lines[0]), seen


# --- mutated traces and the id table's compaction --------------------------------------------

_MUTATED = (
    "reference pr 0, 100% hidden",
    "reference capacity 1, 50% hidden",
    "contract twins 1, 50% hidden",
    "Need events 0, all hidden",
    "reference pr 1, Drop hidden (strict ids)",
    "sampled True 2, Need events, declared",
    "hidden-copies-close-together.jsonl",
)


@pytest.mark.parametrize("name", _MUTATED)
def test_mutated_hidden_step_traces_get_the_same_result_both_ways(name: str) -> None:
    lines = [json.dumps(x).encode() for x in CASES[name]]
    rng = random.Random(name)
    verdicts: Counter[str] = Counter()
    for i in range(24):
        edited = _mutate(lines, rng)
        if rng.random() < 0.3:
            edited = _mutate(edited, rng)
        data = b"\n".join(edited) + b"\n"
        window = (1024, 40)[i % 2]
        want = _result(data, fast=False, window=window)
        assert _result(data, fast=True, window=window) == want, want["message"]
        verdicts[want["verdict"]] += 1
    assert verdicts["invalid"] and verdicts["unreadable"], verdicts


def test_compaction_with_a_lazy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The id table compacted at the same events both ways when it is checkpointed."""
    monkeypatch.setattr(validate_module, "CLEAR_EVERY", 100)
    for name in ("reference pr 0, 100% hidden", "contract pr 0, 50% hidden"):
        data = _bytes(CASES[name])
        for window in (1024, 40, 25):
            assert _result(data, fast=True, window=window) == _result(
                data, fast=False, window=window
            )
