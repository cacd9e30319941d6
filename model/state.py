"""VARIABLES of the ParSync model: immutable, hashable, totally ordered values.

Every component is a ``NamedTuple`` of ints and tuples, so a state hashes and
compares structurally, enumerates deterministically, and prints readably.
Message bags are sorted tuples (a multiset: duplicates appear twice).
"""

from __future__ import annotations

from typing import NamedTuple

# Reply kinds (the broker's four answers).
COMMITTED = 0
CONFLICT = 1
ALREADY = 2
FENCED = 3
REPLY_KINDS = ("Committed", "Conflict", "AlreadyPlaced", "Fenced")

# Worker modes (adaptive strategy switches between them; the others are fixed).
LATENCY = 0
QUALITY = 1
MODES = ("latency-first", "quality-first")

# Need status at the broker (its durable dedup memory).
UNPLACED = 0
PLACED = 1
RELEASED = 2


class Snapshot(NamedTuple):
    """One carry-forward snapshot of a partition, as a worker read it."""

    read_at: int  # ghost: the worker cycle at which the data was really read
    entries: tuple[tuple[int, int], ...]  # (seq, used) per bucket of the partition


class Worker(NamedTuple):
    up: bool  # False while crashed
    cycle: int  # the worker's cycle counter (cycles tick while down, too)
    mode: int  # LATENCY or QUALITY (only changes under the adaptive strategy)
    epoch: int  # broker epoch of the worker's latest read
    fresh_at: tuple[int, ...]  # per partition: cycle of the last fresh read (own bookkeeping)
    view: tuple[tuple[Snapshot, ...], ...]  # per partition: carry-forward snapshots
    pending: tuple[int, ...]  # needs still to place this cycle, head first
    waiting: bool  # a proposal for pending[0] is outstanding
    retries: int  # the worker's own retry counter for pending[0]
    attempts: int  # proposals sent for pending[0] this cycle: the reply tag
    known: int  # bitmask of own needs the worker knows are placed
    # ghost: proposals sent for pending[0] this cycle, raised by Propose only and
    # reset only when the need leaves pending or a cycle starts; RetryBudget (PS-6)
    # counts these, never the tag, so a bug in the tag's bookkeeping cannot hide
    # itself (equal to ``attempts`` in every state the reference policy reaches)
    sent: int = 0
    # contract policy only (always empty in the reference): needs the worker set
    # aside this cycle after working on them, as (need, retries, attempts, sent),
    # sorted; taking one up again restores its counters (PS-6 counts per need)
    parked: tuple[tuple[int, int, int, int], ...] = ()
    # ghost (PS-11): bitmask of the partitions a Conflict the worker took named, not
    # read again since; set by HandleReply(Conflict), cleared by any read of the
    # partition. The protocol re-reads them in the same step, so it is 0 in every
    # state a correct model reaches (no state is split by it)
    reread: int = 0


# (seq, claims, ledger, status) of a lagging replica
Replica = tuple[
    tuple[int, ...], tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...], tuple[int, ...]
]


class Broker(NamedTuple):
    epoch: int  # increases on every failover
    seq: tuple[int, ...]  # per-bucket sequence number
    claims: tuple[tuple[int, ...], ...]  # per bucket: needs holding a claim (sorted)
    ledger: tuple[tuple[int, ...], ...]  # attribution: per need, the buckets it holds
    status: tuple[int, ...]  # per need: UNPLACED / PLACED / RELEASED (dedup memory)
    replica: Replica | None  # lagging replica (only kept by one variant)
    # the (worker, cycle) tags of committed proposals: the dedup memory of the
    # dedup-by-worker-cycle variant only (empty otherwise)
    tags: tuple[tuple[int, int], ...] = ()


class Proposal(NamedTuple):
    worker: int
    need: int
    priority: int
    epoch: int  # broker epoch the proposer last read
    reads: tuple[tuple[int, int], ...]  # (bucket, seqno read) for every bucket touched
    cycle: int  # proposer's cycle, with attempt: the reply tag
    attempt: int
    fresh: int  # the partition the proposer read fresh at the start of this cycle


class Reply(NamedTuple):
    worker: int
    need: int
    kind: int  # COMMITTED / CONFLICT / ALREADY / FENCED
    cycle: int
    attempt: int
    buckets: tuple[int, ...]  # conflicted buckets (Conflict only)


class State(NamedTuple):
    broker: Broker
    workers: tuple[Worker, ...]
    to_broker: tuple[Proposal, ...]  # proposals in flight (a bag)
    to_workers: tuple[Reply, ...]  # replies in flight (a bag)
    # crashes, drops, duplicates used so far; under the contract policy also
    # timeouts and extra reads (five counters; three in the reference)
    faults: tuple[int, ...]
    placed: tuple[int, ...]  # ghost: how many times each need was committed
    # contract policy only (always empty in the reference): proposals the broker has
    # received (Deliver moved them out of ``to_broker``, the network) and not yet
    # decided, a bag; Commit and Reject take from here, priority on conflict (PS-7)
    # looks only here, drops and duplicates never touch it, failover keeps it (a
    # durable queue). Last, with a default, so a reference state is what it was.
    inbox: tuple[Proposal, ...] = ()


def bag_add(bag: tuple, m: object) -> tuple:  # type: ignore[type-arg]
    return tuple(sorted((*bag, m)))


def bag_remove(bag: tuple, m: object) -> tuple:  # type: ignore[type-arg]
    i = bag.index(m)
    return bag[:i] + bag[i + 1 :]


def distinct(bag: tuple) -> list:  # type: ignore[type-arg]
    """Distinct messages of a sorted bag, in order."""
    out = []
    prev = None
    for m in bag:
        if m != prev:
            out.append(m)
            prev = m
    return out
