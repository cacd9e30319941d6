"""Known-bad design variants: each a change a real engineer could make.

Every safety property of the catalogue has at least one variant that breaks it,
so no check can pass vacuously. ``breaks`` is the property the checker reports
first (shortest counterexample) on the variant; ``needs`` names the part of the
scope (a fault, a gang, a second partition...) that makes the bug reachable.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    name: str
    breaks: str  # property ID the shortest counterexample violates
    summary: str  # the mistake, in one line
    needs: str  # what the scope must contain for the bug to be reachable


VARIANTS: tuple[Variant, ...] = (
    Variant(
        "validate-fresh-partition-only",
        "PS-2",
        "The broker's seqno CAS checks only buckets in the partition the proposer "
        "read fresh this cycle; stale-partition reads are trusted.",
        "two workers, two partitions, quality-first choices from a stale partition",
    ),
    Variant(
        "gang-fit-first-bucket-only",
        "PS-1",
        "The worker checks room only on the first bucket of a gang; the CAS passes "
        "because its view is current, and the broker does no capacity re-check.",
        "a gang need and a bucket that is already full",
    ),
    Variant(
        "gang-second-bucket-no-bump",
        "PS-5",
        "A gang commit bumps the seqno of its first bucket only.",
        "a gang need",
    ),
    Variant(
        "rotation-skips-partition",
        "PS-3",
        "Rotation computes cycle mod (P-1) style and never refreshes the last partition.",
        "two partitions and enough cycles",
    ),
    Variant(
        "recovered-keeps-view",
        "PS-3",
        "A crashed worker keeps its carry-forward view on disk and, on recovery, "
        "marks every partition fresh without re-reading.",
        "crash fault; cycles pass while the worker is down",
    ),
    Variant(
        "release-keeps-ledger",
        "PS-4",
        "Release removes the claims but leaves the attribution ledger entry behind.",
        "a release",
    ),
    Variant(
        "no-dedup",
        "PS-8",
        "The broker does not remember placed needs: a re-proposal after a lost "
        "Committed reply (or a crash) places the need a second time.",
        "drop or crash fault",
    ),
    Variant(
        "no-epoch-fencing",
        "PS-9",
        "After failover the broker accepts proposals stamped with an older epoch.",
        "failover fault",
    ),
    Variant(
        "lagging-replica-failover",
        "PS-5",
        "Failover restores seqnos, claims and ledger from a replica that lags one write.",
        "failover fault after a commit",
    ),
    Variant(
        "priority-ignored",
        "PS-7",
        "The broker commits proposals in arrival order, ignoring priority on conflict.",
        "two proposals of different priority on a shared bucket",
    ),
    Variant(
        "retry-off-by-one",
        "PS-6",
        "The budget check is 'retries > R + 1': one retry too many per cycle.",
        "repeated conflicts on one need",
    ),
    Variant(
        "unbounded-carry-forward",
        "PS-10",
        "Carry-forward appends every snapshot it reads instead of replacing the old one.",
        "a second read of any partition",
    ),
)

# Mistakes that only the contract policy's behaviours make reachable, or that the
# contract's separate ghost counters expose (issue 13). Every engine has them: the
# explicit-state ones (BFS, simulation, trace validation) and the Z3 encoding, where
# ``parsync prove --policy contract`` and ``bmc --policy contract`` take them
# (parsync/proofs/encoding.py); the reference policy cannot reach them.
CONTRACT_VARIANTS: tuple[Variant, ...] = (
    Variant(
        "retry-resets-tag",
        "PS-6",
        "On a Conflict or Fenced reply the worker resets its attempt tag and retry "
        "counter together: it never runs out of retries, and its own count says so.",
        "repeated conflicts on one need",
    ),
    Variant(
        "timeout-reuses-tag",
        "PS-6",
        "After a timeout the worker re-proposes under the abandoned attempt's tag: a "
        "late reply is taken for the new attempt, and the budget never advances.",
        "a timeout (contract policy) and a second proposal of the same need",
    ),
    Variant(
        "dedup-by-worker-cycle",
        "PS-8",
        "The broker deduplicates by (worker, cycle) instead of by need: a need "
        "proposed again in a later cycle (after a timeout or a crash) is placed twice.",
        "a lost reply or a timeout, then the same need in a later cycle",
    ),
)
# Capacity mistakes: reachable only where a need's size differs from 1 or a bucket
# holds more than one claim (the ``capacity`` preset). Both policies have them, and so
# does the Z3 encoding (``parsync prove`` and ``bmc`` take both): room-as-used-below-cap
# is a switch in the fit test; for used-counts-claims, whose count of claims over an
# unbounded sort of needs is no first-order term, the encoding tracks the count as a
# state variable of that variant only (``nclaims``, changed with the claims as ``used``
# is), and its reads report it.
CAPACITY_VARIANTS: tuple[Variant, ...] = (
    Variant(
        "room-as-used-below-cap",
        "PS-1",
        "The fit test is 'used < capacity' instead of 'used + size <= capacity': a "
        "need of size 2 is placed where one unit is free.",
        "a need of size 2 or more and a bucket partly used",
    ),
    Variant(
        "used-counts-claims",
        "PS-1",
        "A read reports a bucket's used units as its number of claims, not the sum "
        "of their sizes: a bucket holding a size-2 claim looks half empty.",
        "a need of size 2 or more on a bucket of capacity 2 or more, shared",
    ),
)
# Mistakes that properties stated on the protocol's own bookkeeping let through
# (issue 13, "Properties on ground truth"): PS-2 once compared only the seqnos a
# proposal claims with the broker's, and nothing stated the forced re-read after a
# Conflict. Both policies have them, and so does the Z3 encoding.
GROUND_TRUTH_VARIANTS: tuple[Variant, ...] = (
    Variant(
        "propose-stamps-broker-seqno",
        "PS-2",
        "Propose stamps each touched bucket with the broker's current seqno instead of "
        "the seqno of the snapshot its fit test read: the CAS then passes on data the "
        "worker never saw.",
        "a bucket whose seqno moves after the proposer's last read of it",
    ),
    Variant(
        "no-reread-on-conflict",
        "PS-11",
        "On a Conflict the worker retries without the forced fresh read of the "
        "conflicted partitions, on the very snapshot the broker has just rejected.",
        "a Conflict and a retry (R >= 1) or a later proposal on the same partition",
    ),
)
ALL_VARIANTS: tuple[Variant, ...] = (
    VARIANTS + CAPACITY_VARIANTS + CONTRACT_VARIANTS + GROUND_TRUTH_VARIANTS
)

#: The variants that need no contract-only behaviour (the reference policy's list).
REFERENCE_VARIANTS: tuple[Variant, ...] = VARIANTS + CAPACITY_VARIANTS + GROUND_TRUTH_VARIANTS

VARIANT_NAMES: tuple[str, ...] = tuple(v.name for v in VARIANTS)
ALL_VARIANT_NAMES: tuple[str, ...] = tuple(v.name for v in ALL_VARIANTS)
_BY_NAME = {v.name: v for v in ALL_VARIANTS}


def get_variant(name: str) -> Variant:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"unknown variant {name!r}; known variants: {', '.join(ALL_VARIANT_NAMES)}"
        ) from None
