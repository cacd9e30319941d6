"""What travels between workers and the commit broker."""

from __future__ import annotations

from dataclasses import dataclass

# the broker's four answers (the observation's ``kind`` strings)
COMMITTED = "committed"
CONFLICT = "conflict"
ALREADY_PLACED = "already-placed"
FENCED = "fenced"


@dataclass(frozen=True)
class Proposal:
    """A placement a worker asks the broker to commit."""

    worker: int
    need: int
    priority: int
    epoch: int  # the broker epoch the worker's latest read came from
    reads: tuple[tuple[int, int], ...]  # (bucket, seqno read) for every bucket touched
    cycle: int  # with ``attempt``: the request tag echoed by the reply
    attempt: int
    fresh: int  # the partition the worker refreshed at the start of this cycle

    @property
    def buckets(self) -> tuple[int, ...]:
        return tuple(b for b, _ in self.reads)


@dataclass(frozen=True)
class Reply:
    """The broker's answer, addressed to the proposer."""

    worker: int
    need: int
    kind: str
    cycle: int
    attempt: int
    buckets: tuple[int, ...] = ()  # the conflicted buckets (Conflict only)


Message = Proposal | Reply
