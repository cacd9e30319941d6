"""The eleven one-line bugs an expert review put into ``model/protocol.py`` (issue 17).

Each bug is a set of replacement methods of ``ParSyncModel``, written as a thin
wrapper around (or a one-line change of) the real method, so that applying it
with :func:`applied` (or pytest's ``monkeypatch``) gives the model the review
ran. The Z3 encoding is left as it is: the tie (``parsync/proofs/tie.py``) must
notice that the two statements now differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from parsync.model.protocol import ParSyncModel
from parsync.model.state import CONFLICT, LATENCY, PLACED, QUALITY, UNPLACED, Proposal

M = ParSyncModel
_orig_decide = M._decide
_orig_failover = M.failover
_orig_worker_moves = M.worker_moves
_orig_release = M.release
_orig_handle = M._handle


@dataclass(frozen=True)
class Bug:
    name: str
    text: str  # as the review described it
    methods: Callable[[], dict[str, Any]]
    # the model action whose step the tie must name (the action's name in fmt_action)
    action: str


def _gang_ledger_first() -> dict[str, Any]:
    def _decide(self: Any, br: Any, m: Proposal) -> Any:
        nb, reply, committed = _orig_decide(self, br, m)
        if committed and len(m.reads) > 1:
            ledger = list(nb.ledger)
            ledger[m.need] = (m.reads[0][0],)
            nb = nb._replace(ledger=tuple(ledger))
        return nb, reply, committed

    return {"_decide": _decide}


def _failover_resets(b_of: Callable[[Any], int]) -> Callable[[], dict[str, Any]]:
    def methods() -> dict[str, Any]:
        def failover(self: Any, br: Any) -> Any:
            nb = _orig_failover(self, br)
            seq = list(nb.seq)
            seq[b_of(self)] = 0
            return nb._replace(seq=tuple(seq))

        return {"failover": failover}

    return methods


def _propose_broker_seq() -> dict[str, Any]:
    def worker_moves(self: Any, wi: int, w: Any, br: Any) -> Any:
        out = []
        for a, nw, m, flag in _orig_worker_moves(self, wi, w, br):
            if isinstance(m, Proposal):
                m = m._replace(reads=tuple((b, br.seq[b]) for b, _ in m.reads))
            out.append((a, nw, m, flag))
        return tuple(out)

    return {"worker_moves": worker_moves}


def _cas_first_bucket() -> dict[str, Any]:
    def _conflicted(self: Any, br: Any, m: Proposal) -> tuple[int, ...]:
        return tuple(b for b, sq in m.reads[:1] if br.seq[b] != sq)

    return {"_conflicted": _conflicted}


def _room_ignores_size() -> dict[str, Any]:
    def room(self: Any, used: int, n: int, b: int) -> bool:
        return bool(used < self.cap[b])

    def _candidates(self: Any, w: Any, n: int) -> tuple[list[int], list[int]]:
        # ParSyncModel._candidates with its room test 'used < cap' (the size ignored)
        allowed = self._allowed(w)
        room_: list[int] = []
        named: list[int] = []
        for b in self.eligible[n]:
            if allowed is not None and self.part[b] not in allowed:
                continue
            e = self.view_entry(w, b)
            if e is None:
                continue
            named.append(b)
            if e[1] < self.cap[b]:
                room_.append(b)
        return room_, named

    return {"room": room, "_candidates": _candidates}


def _release_forgets_status() -> dict[str, Any]:
    def release(self: Any, br: Any, n: int) -> Any:
        nb = _orig_release(self, br, n)
        status = list(nb.status)
        status[n] = UNPLACED
        return nb._replace(status=tuple(status))

    return {"release": release}


def _start_cycle_next_partition() -> dict[str, Any]:
    def start_cycle(self: Any, wi: int, w: Any, br: Any) -> Any:
        c = w.cycle + 1
        p = (c + 1) % self.P  # the bug: the partition of the cycle after
        w = w._replace(cycle=c)
        w = self.refresh(w, br, (p,))
        known = w.known
        arrival = self.arrival
        pending = tuple(n for n in self.needs_of[wi] if arrival[n] <= c and not (known >> n) & 1)
        return w._replace(pending=pending, waiting=False, retries=0, attempts=0, sent=0, parked=())

    return {"start_cycle": start_cycle}


def _handle_with(*, reread: bool = True, reset_attempts: bool = False) -> dict[str, Any]:
    def _handle(self: Any, r: Any, w: Any, br: Any) -> Any:
        if not (r.kind == CONFLICT and w.waiting and w.pending and r.need == w.pending[0]) or (
            r.cycle != w.cycle or r.attempt != w.attempts
        ):
            return _orig_handle(self, r, w, br)
        if reread:
            parts = tuple(sorted({self.part[b] for b in r.buckets}))
            w = self.refresh(w, br, parts)
        if self.adaptive and w.mode == QUALITY:
            w = w._replace(mode=LATENCY)
        retries = w.retries + 1
        if retries > self.R:
            return self._next_need(w)
        if reset_attempts:
            return w._replace(waiting=False, retries=retries, attempts=0)
        return w._replace(waiting=False, retries=retries)

    return {"_handle": _handle}


def _rotation_half_speed() -> dict[str, Any]:
    def rotation(self: Any, cycle: int) -> int:
        return (cycle // 2) % self.P

    return {"rotation": rotation}


BUGS: tuple[Bug, ...] = (
    Bug(
        "gang-ledger-first-bucket",
        "gang commit writes only its first bucket to the ledger",
        _gang_ledger_first,
        "Commit",
    ),
    Bug(
        "failover-resets-seq-0",
        "failover resets the seqno of bucket 0",
        _failover_resets(lambda m: 0),
        "Failover",
    ),
    Bug(
        "propose-stamps-broker-seq",
        "Propose stamps the broker's current seqno, not the view's",
        _propose_broker_seq,
        "Propose",
    ),
    Bug(
        "cas-first-bucket-only",
        "the CAS checks only the first bucket a proposal touches",
        _cas_first_bucket,
        "Commit",
    ),
    Bug(
        "room-ignores-size",
        "the room check ignores the need's size",
        _room_ignores_size,
        "Propose",
    ),
    Bug(
        "release-forgets-status",
        "Release forgets the dedup status",
        _release_forgets_status,
        "Release",
    ),
    Bug(
        "start-cycle-next-partition",
        "StartCycle refreshes partition (cycle+1) mod P",
        _start_cycle_next_partition,
        "StartCycle",
    ),
    Bug(
        "no-reread-on-conflict",
        "no re-read on Conflict",
        lambda: _handle_with(reread=False),
        "HandleReply",
    ),
    Bug(
        "failover-resets-last-seq",
        "failover resets a seqno (the last bucket's)",
        _failover_resets(lambda m: m.B - 1),
        "Failover",
    ),
    Bug(
        "retry-resets-attempts",
        "each retry resets the attempt counters",
        lambda: _handle_with(reset_attempts=True),
        "HandleReply",
    ),
    Bug(
        "rotation-half-speed",
        "rotation at half speed",
        _rotation_half_speed,
        "StartCycle",
    ),
)

BUG_NAMES: tuple[str, ...] = tuple(b.name for b in BUGS)


def get_bug(name: str) -> Bug:
    for b in BUGS:
        if b.name == name:
            return b
    raise KeyError(name)


@contextmanager
def applied(bug: Bug) -> Iterator[None]:
    """``ParSyncModel`` with the bug in it, for the duration of the block."""
    saved = {k: M.__dict__[k] for k in bug.methods()}
    try:
        for k, f in bug.methods().items():
            setattr(M, k, f)
        yield
    finally:
        for k, f in saved.items():
            setattr(M, k, f)


__all__ = ["BUGS", "BUG_NAMES", "Bug", "applied", "get_bug", "PLACED", "LATENCY"]
