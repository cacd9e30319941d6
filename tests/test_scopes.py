"""The scopes that exercise capacity (issue 13): ``capacity``, ``three-partitions``
and ``duplicates``, and the capacity mistakes only they can show.

The first four presets fix capacity 1, size 1, every bucket eligible, ``b mod P``,
P = 2 and the adaptive strategy. A bug in how room is tested or how used units
are counted is invisible there: this file shows the capacity mistakes pass on
``small`` and fail on the new scopes, pins which known-bad variant each new scope
reaches (property and shortest counterexample length, from BFS), and checks the
new scopes' exhaustive counts against spec/manifest.json.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from parsync.engines.checker import PASS, VIOLATION, Checker, CheckResult
from parsync.model.presets import PRESETS
from parsync.model.protocol import ParSyncModel
from parsync.model.variants import (
    ALL_VARIANT_NAMES,
    CAPACITY_VARIANTS,
    CONTRACT_VARIANTS,
    get_variant,
)
from tests.support.replaying import replay_violations

ROOT = Path(__file__).resolve().parent.parent
NEW_SCOPES = ("capacity", "three-partitions", "duplicates")
_CONTRACT_ONLY = {v.name for v in CONTRACT_VARIANTS}

# (preset, variant) -> (first property, BFS counterexample length), or PASS where the
# scope cannot reach the mistake; measured once (python: see the module doc). Contract
# variants run under the contract policy (whose counterexamples deliver each proposal
# the broker decides on to its inbox in a step of their own), the others under the
# reference.
CAUGHT: dict[str, dict[str, tuple[str, int] | str]] = {
    "capacity": {
        "validate-fresh-partition-only": ("PS-2", 6),
        "gang-fit-first-bucket-only": ("PS-1", 10),
        "gang-second-bucket-no-bump": ("PS-5", 7),
        "rotation-skips-partition": ("PS-3", 4),
        "recovered-keeps-view": PASS,  # no crashes
        "release-keeps-ledger": ("PS-4", 4),
        "no-dedup": ("PS-8", 7),
        "no-epoch-fencing": PASS,  # no failover
        "lagging-replica-failover": PASS,
        "priority-ignored": ("PS-7", 5),
        "retry-off-by-one": ("PS-6", 12),
        "unbounded-carry-forward": ("PS-10", 1),
        "room-as-used-below-cap": ("PS-1", 9),
        "used-counts-claims": ("PS-1", 7),
        "retry-resets-tag": ("PS-6", 15),
        "timeout-reuses-tag": PASS,  # no timeouts
        "dedup-by-worker-cycle": ("PS-8", 9),
        "propose-stamps-broker-seqno": ("PS-2", 5),
        "no-reread-on-conflict": ("PS-11", 8),
    },
    "three-partitions": {
        "validate-fresh-partition-only": ("PS-2", 13),
        "gang-fit-first-bucket-only": PASS,  # its gang is never beside a full bucket
        "gang-second-bucket-no-bump": ("PS-5", 9),
        "rotation-skips-partition": ("PS-3", 6),
        "recovered-keeps-view": PASS,
        "release-keeps-ledger": ("PS-4", 4),
        "no-dedup": ("PS-8", 7),
        "no-epoch-fencing": ("PS-9", 4),
        "lagging-replica-failover": ("PS-5", 4),
        "priority-ignored": ("PS-7", 5),
        "retry-off-by-one": ("PS-6", 12),
        "unbounded-carry-forward": ("PS-10", 1),
        "room-as-used-below-cap": ("PS-1", 6),
        "used-counts-claims": ("PS-1", 6),
        "retry-resets-tag": ("PS-6", 15),
        "timeout-reuses-tag": PASS,
        "dedup-by-worker-cycle": ("PS-8", 9),
        "propose-stamps-broker-seqno": ("PS-2", 5),
        "no-reread-on-conflict": ("PS-11", 8),
    },
    "duplicates": {
        "validate-fresh-partition-only": ("PS-2", 6),
        "gang-fit-first-bucket-only": ("PS-1", 10),
        "gang-second-bucket-no-bump": ("PS-5", 8),
        "rotation-skips-partition": ("PS-3", 5),
        "recovered-keeps-view": PASS,
        "release-keeps-ledger": ("PS-4", 4),
        "no-dedup": ("PS-8", 8),
        "no-epoch-fencing": ("PS-9", 4),
        "lagging-replica-failover": ("PS-5", 4),
        "priority-ignored": ("PS-7", 5),
        "retry-off-by-one": ("PS-6", 12),
        "unbounded-carry-forward": ("PS-10", 1),
        "room-as-used-below-cap": PASS,  # capacity 1, size 1: the mistake is harmless
        "used-counts-claims": PASS,
        # a duplicated proposal, deduplicated by (worker, cycle) only, places twice
        "retry-resets-tag": ("PS-6", 10),
        "timeout-reuses-tag": PASS,  # millions of contract states, minutes: slow
        "dedup-by-worker-cycle": ("PS-8", 12),
        "propose-stamps-broker-seqno": ("PS-2", 5),
        "no-reread-on-conflict": ("PS-11", 8),
    },
}
SLOW_CELLS = {("duplicates", "timeout-reuses-tag")}


def _policy(variant: str | None) -> str:
    return "contract" if variant in _CONTRACT_ONLY else "reference"


@cache
def run(preset: str, variant: str | None = None) -> CheckResult:
    m = ParSyncModel(PRESETS[preset].config, variant, policy=_policy(variant))
    return Checker(m).run()


def test_the_table_covers_every_variant_and_new_scope() -> None:
    assert set(CAUGHT) == set(NEW_SCOPES)
    for preset, row in CAUGHT.items():
        assert list(row) == list(ALL_VARIANT_NAMES), preset
        for name, want in row.items():
            if want != PASS:
                assert want[0] == get_variant(name).breaks, (preset, name)


def test_the_new_scopes_vary_what_the_others_fix() -> None:
    cfgs = [PRESETS[p].config for p in NEW_SCOPES]
    assert {c.strategy for c in cfgs} | {PRESETS["small"].config.strategy} == {
        "adaptive",
        "latency-first",
        "quality-first",
    }
    cap = PRESETS["capacity"].config
    assert max(cap.capacities) >= 3 and {n.size for n in cap.needs} == {1, 2}
    assert cap.partition_map is not None
    assert cap.partition_map != tuple(b % cap.partitions for b in range(cap.buckets))
    assert all(n.eligible is not None for n in cap.needs if n.size > 1)
    assert PRESETS["three-partitions"].config.partitions == 3
    assert PRESETS["three-partitions"].config.max_cycle >= 3  # a full rotation
    assert PRESETS["duplicates"].config.faults.duplicate == 1


@pytest.mark.parametrize("preset", NEW_SCOPES)
def test_new_scope_passes_and_matches_the_manifest(preset: str) -> None:
    r = run(preset)
    assert r.verdict == PASS, r.violation
    assert not r.unfired, r.unfired  # every applicable action kind fired
    doc = json.loads((ROOT / "spec" / "manifest.json").read_text())
    e = doc["presets"][preset]
    assert (e["states"], e["transitions"], e["depth"]) == (r.states, r.transitions, r.depth)


@pytest.mark.parametrize(
    ("preset", "name"),
    [
        pytest.param(p, n, marks=[pytest.mark.slow] if (p, n) in SLOW_CELLS else [], id=f"{p}-{n}")
        for p in NEW_SCOPES
        for n in ALL_VARIANT_NAMES
    ],
)
def test_which_variants_each_new_scope_reaches(preset: str, name: str) -> None:
    want = CAUGHT[preset][name]
    r = run(preset, name)
    if want == PASS:
        assert r.verdict == PASS, r.violation
        return
    assert r.verdict == VIOLATION and r.violation is not None
    assert (r.violation.property_id, len(r.violation.trace.actions)) == want
    m = ParSyncModel(PRESETS[preset].config, name, policy=_policy(name))
    assert want[0] in replay_violations(m, r)


@pytest.mark.parametrize("v", CAPACITY_VARIANTS, ids=lambda v: v.name)
def test_capacity_mistakes_hide_in_unit_scopes(v: object) -> None:
    """With every size 1 and capacity 1 both mistakes are the correct rule: the four
    earlier presets could not have caught them (small, exhaustively, passes)."""
    name = v.name  # type: ignore[attr-defined]
    ok = run("small")
    r = run("small", name)
    assert r.verdict == PASS
    assert (r.states, r.transitions) == (ok.states, ok.transitions)
    # and each is caught where a need of size 2 meets a bucket of capacity 2+
    assert run("capacity", name).verdict == VIOLATION


def test_overcommit_is_judged_on_claims_not_on_reported_use() -> None:
    """PS-1 sums the sizes of the claims: with ``used-counts-claims`` the reads say a
    bucket has room while the claims already fill it, and PS-1 still sees it."""
    m = ParSyncModel(PRESETS["capacity"].config, "used-counts-claims")
    r = run("capacity", "used-counts-claims")
    assert r.violation is not None
    s = m.init_state()
    for a in r.violation.trace.actions:
        s = m.step(s, a)  # type: ignore[assignment]
    over = [b for b in range(m.B) if m.used(s.broker, b) > m.cap[b]]
    assert over and all(m.reported_used(s.broker, b) <= m.cap[b] for b in over)


def test_room_as_used_below_cap_places_a_need_that_does_not_fit() -> None:
    r = run("capacity", "room-as-used-below-cap")
    assert r.violation is not None and r.violation.property_ids[0] == "PS-1"
    # the correct model's fit test refuses the very proposal the variant makes
    m = ParSyncModel(PRESETS["capacity"].config)
    acts = r.violation.trace.actions
    s = m.init_state()
    refused = False
    for a in acts:
        t = m.step(s, a)
        if t is None:
            refused = True
            assert type(a).__name__ == "Propose", a
            break
        s = t
    assert refused


def test_duplicates_scope_duplicates_messages() -> None:
    r = run("duplicates")
    assert r.coverage.get("Duplicate", 0) > 0
