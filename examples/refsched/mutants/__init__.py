"""Mutants of the reference scheduler: one small, plausible mistake each.

Each module ``parsync.refsched.mutants.<name>`` subclasses one component of the
reference (broker, worker or durable store), overrides a single method with the
mistake (marked ``BUG``), and exposes ``parsync_adapter()``, so it is an
``--impl`` target of its own. ``MUTANTS`` lists them with the detection the
conformance suite is expected to report: a property ID when the faulty step
itself breaks a property visible in the observation, ``"divergence"`` when the
first visible effect is a step the model does not allow (for example a view or
``fresh_at`` that differs from what the protocol reads) before any property
breaks. Alternatives are separated by ``|`` where which one is reported first
depends on the interleaving the drivers reach first; any of them is a kill.
"""

from __future__ import annotations

PACKAGE = __name__

# (module, the mistake in one line, expected detection)
MUTANTS: list[tuple[str, str, str]] = [
    (
        f"{PACKAGE}.validate_fresh_partition_only",
        "the broker's seqno CAS checks only buckets of the proposer's fresh partition",
        "PS-2",
    ),
    (
        f"{PACKAGE}.gang_second_bucket_no_bump",
        "a gang commit bumps the seqno of its first bucket only",
        "PS-5",
    ),
    (
        f"{PACKAGE}.retry_without_reread",
        "after a Conflict the worker retries from its cached view, without a fresh read",
        "divergence",
    ),
    (
        f"{PACKAGE}.rotation_off_by_one",
        "rotation refreshes partition cycle mod (P-1): the last partition is never refreshed",
        "divergence",
    ),
    (
        f"{PACKAGE}.no_dedup",
        "the broker forgets placed needs: a re-proposal places a need a second time",
        # a duplicated proposal is answered Conflict where the model says AlreadyPlaced
        # (divergence) before a lost reply leads to a second placement (PS-8)
        "PS-8|divergence",
    ),
    (
        f"{PACKAGE}.no_epoch_fencing",
        "the broker refuses only proposals from a newer epoch, so older-epoch proposals commit",
        "PS-9",
    ),
    (
        f"{PACKAGE}.lagging_replica_failover",
        "failover promotes a replica that lags one write: seqnos go back",
        "PS-5",
    ),
    (
        f"{PACKAGE}.priority_ignored",
        "the broker takes its queue in arrival order, ignoring priority on conflict",
        "PS-7",
    ),
    (
        f"{PACKAGE}.recovered_keeps_view",
        "a recovered worker reloads its pre-crash view from disk and marks it all fresh",
        "divergence",
    ),
    (
        f"{PACKAGE}.unbounded_carry_forward",
        "carry-forward appends every snapshot read instead of replacing the old one",
        "PS-10",
    ),
    (
        f"{PACKAGE}.stale_read_recorded_as_fresh",
        "reading one partition stamps every partition fresh, carried-forward ones included",
        "divergence",
    ),
    (
        f"{PACKAGE}.conflict_reply_wrong_partition",
        "the forced re-read after a Conflict goes to this cycle's partition, not the conflicted",
        "divergence",
    ),
    (
        f"{PACKAGE}.gang_fit_last_bucket_only",
        "the gang fit check overwrites its verdict per bucket: only the last bucket's room counts",
        "divergence",
    ),
    (
        f"{PACKAGE}.release_keeps_ledger",
        "a release removes the claims but leaves the attribution ledger entry behind",
        "PS-4",
    ),
    (
        f"{PACKAGE}.retry_off_by_one",
        "the retry budget check is retries > R + 1: one retry too many per cycle",
        # under the contract the observed pending set shows the need still pending
        # after its (R + 1)th failure, one step before the extra proposal (PS-6);
        # under the reference policy PS-6 itself
        "PS-6|divergence",
    ),
    # mistakes that unit sizes, capacity 1, gangs of 2 and no eligible sets hide:
    # killed by the pr preset's capacity and gang-of-3 scopes (Hypothesis)
    (
        f"{PACKAGE}.used_counts_claims",
        "the broker reports used as the number of claims, not their summed sizes",
        "divergence|PS-1",
    ),
    (
        f"{PACKAGE}.gang_fit_first_two_only",
        "a gang's room is checked on its first two buckets only",
        "PS-1|divergence",
    ),
    (
        f"{PACKAGE}.ignores_eligible",
        "a worker proposes on buckets outside the need's eligible set",
        "divergence",
    ),
    # killed by the pr preset's partly-used scope: a size-2 need beside a half-full bucket
    (
        f"{PACKAGE}.room_as_used_below_cap",
        "a bucket has room while used < capacity, whatever the need's size",
        "divergence|PS-1",
    ),
]

MUTANT_NAMES: list[str] = [name for name, _, _ in MUTANTS]

__all__ = ["MUTANTS", "MUTANT_NAMES"]
