"""No bucket set is enumerated up front: a large gang costs what its checks cost.

A gang of 8 over 1,024 buckets has C(1024, 8) ~ 2.9 * 10^18 bucket sets. The model
tests a proposed set against the rules (``ParSyncModel.fits``), decides Defer by
counting (``has_choice``), generates the sets that fit lazily (``iter_choices``),
and the trace validator follows a Propose of such a gang in flat memory.
"""

from __future__ import annotations

import itertools
import json
import tracemalloc
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from parsync.model.actions import Commit, Defer, HandleReply, Propose, StartCycle
from parsync.model.config import Config, Need
from parsync.model.presets import get_preset
from parsync.model.protocol import ParSyncModel
from parsync.traces import validate_path
from parsync.traces.simulate import _Ids, event_of, header

B, P, GANG = 1024, 4, 8


def big() -> Config:
    return Config(
        workers=2,
        partitions=P,
        capacities=(1,) * B,
        needs=(
            Need(owner=0, gang=GANG),
            Need(owner=1, gang=GANG, eligible=tuple(range(0, B, 2))),
        ),
        retry_budget=1,
        strategy="quality-first",
        max_cycle=2,
    )


def test_model_of_a_large_gang_is_built_and_stepped_in_flat_memory() -> None:
    tracemalloc.start()
    try:
        m = ParSyncModel(big())
        s = m.step(m.init_state(), StartCycle(0))
        assert s is not None
        w = s.workers[0]
        assert m.has_choice(w, 0)
        first = next(m.iter_choices(w, 0))
        assert first == tuple(range(GANG))
        assert m.step(s, Defer(0)) is None  # a set fits: Defer is not enabled
        bs = tuple(range(100, 100 + GANG))
        t = m.step(s, Propose(0, bs))
        assert t is not None and t.to_broker[0].reads == tuple((b, 0) for b in bs)
        for bad in (bs[:-1], (*bs[:-1], bs[0]), tuple(reversed(bs)), (*bs[:-1], B)):
            assert m.step(s, Propose(0, bad)) is None, bad
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_eligibility_is_checked_on_the_proposed_set() -> None:
    m = ParSyncModel(big())
    s = m.step(m.step(m.init_state(), StartCycle(0)) or m.init_state(), StartCycle(1))
    assert s is not None
    w = s.workers[1]
    assert m.fits(w, 1, tuple(range(0, 2 * GANG, 2)))
    assert not m.fits(w, 1, tuple(range(GANG)))  # odd buckets are not eligible for n1


def _step_all(m: ParSyncModel, s, actions):  # type: ignore[no-untyped-def]
    ids = _Ids()
    events = []
    for a in actions:
        t = m.step(s, a)
        assert t is not None, a
        events.append(event_of(m, s, a, t, ids))
        s = t
    return events, s


def test_a_trace_with_a_large_gang_validates(tmp_path: Path) -> None:
    cfg = big()
    m = ParSyncModel(cfg)
    bs = tuple(range(8, 8 + GANG))
    s0 = m.init_state()
    s1 = m.step(s0, StartCycle(0))
    assert s1 is not None
    s2 = m.step(s1, Propose(0, bs))
    assert s2 is not None
    (msg,) = s2.to_broker
    s3 = m.step(s2, Commit(msg))
    assert s3 is not None
    (reply,) = s3.to_workers
    actions = [StartCycle(0), Propose(0, bs), Commit(msg), HandleReply(reply)]
    events, _ = _step_all(m, s0, actions)
    path = tmp_path / "gang.jsonl"
    lines = [header(cfg, source="test", hidden=[]), *events]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    tracemalloc.start()
    try:
        r = validate_path(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.verdict == "valid", r.message
    assert r.events == len(events)
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.1f} MiB"

    # a set the worker may not propose is rejected, and the message names the rule it
    # breaks (the validator checks the set against the rules, it lists no sets)
    bad = dict(events[1])
    bad["buckets"] = [[b, 0] for b in range(GANG - 1)]
    path.write_text(
        "".join(json.dumps(x) + "\n" for x in [lines[0], events[0], bad]), encoding="utf-8"
    )
    r = validate_path(path)
    assert r.verdict == "invalid" and r.line == 3
    assert f"n0 is a gang of {GANG} bucket(s), the proposal names {GANG - 1} (gang size)" in (
        r.message
    )
    assert len(r.message) < 2000


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_choices_are_exactly_the_sets_that_fit(data: st.DataObject) -> None:
    """On the presets' reachable workers, the lazily generated sets are exactly the
    gang-subsets of the eligible buckets that ``fits`` accepts, in ascending order, and
    ``has_choice`` says whether there is one (for every variant, gang-fit included)."""
    name = data.draw(st.sampled_from(["small", "pr"]))
    variant = data.draw(st.sampled_from([None, "gang-fit-first-bucket-only"]))
    m = ParSyncModel(get_preset(name).config, variant)
    s = m.init_state()
    for _ in range(data.draw(st.integers(0, 25))):
        succ = list(m.successors(s))
        if not succ:
            break
        s = succ[data.draw(st.integers(0, len(succ) - 1))][1]
    for w in s.workers:
        for n in range(m.N):
            every = [
                c
                for c in itertools.combinations(sorted(m.config.eligible(n)), m.gang[n])
                if m.fits(w, n, c)
            ]
            assert m.choices(w, n) == every
            assert m.has_choice(w, n) == bool(every)
