"""The property catalogue PS-1 .. PS-11 as executable predicates.

Each property has its stable ID (cited by ADR-0031), a name, a kind and an
expectation, in the style of Stateright:

* ``always`` state properties: a predicate on one state (a hit is a violation);
* ``always`` action properties: a predicate on a transition (s, action, s');
* ``sometimes`` properties: a witness must be reachable, or the scope is too
  weak to exercise the protocol (reported as a failure).

Properties are stated on what the data really is, not on the worker's own
bookkeeping: staleness uses the ghost ``read_at`` stamped on every snapshot,
the retry budget uses the ghost ``attempts`` count, at-most-once uses the ghost
``placed`` count. The statements themselves (with the ADR sentences they
formalise) live in ``spec/properties.json``; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from parsync.model.actions import Action, Commit, HandleReply, Propose, Reject
from parsync.model.protocol import ParSyncModel
from parsync.model.state import ALREADY, CONFLICT, FENCED, Proposal, State, Worker

StatePred = Callable[[ParSyncModel, State], bool]
ActionPred = Callable[[ParSyncModel, State, Action, State], bool]


@dataclass(frozen=True)
class Property:
    id: str
    name: str
    kind: str  # "state" | "action" | "sometimes"
    expectation: str  # "always" | "sometimes"
    state_pred: StatePred | None = None
    action_pred: ActionPred | None = None


# --- state invariants -----------------------------------------------------------


def no_overcommit(m: ParSyncModel, s: State) -> bool:
    """PS-1: for every bucket, claims <= capacity.

    On ground truth: the sum of the sizes of the needs that hold a claim on the
    bucket, not any count the protocol keeps or reports (``used-counts-claims``
    breaks what reads report; this sum still sees the overcommit)."""
    cap = m.cap
    size = m.size
    claims = s.broker.claims
    return all(sum(size[n] for n in claims[b]) <= cap[b] for b in range(m.B))


def bounded_staleness(m: ParSyncModel, s: State) -> bool:
    """PS-3: every live worker's data for every partition was read <= P-1 cycles ago.

    Under the contract a recovering worker re-reads partitions one at a time, so
    there a partition it holds no snapshot of is allowed (it cannot be proposed
    on); the reference, like the TLA+ rendering and the Z3 encoding, requires
    a snapshot of every partition."""
    bound = m.P - 1
    empty_ok = m.contract
    for w in s.workers:
        if not w.up:
            continue
        for snaps in w.view:
            if not snaps:
                if empty_ok:
                    continue
                return False
            if w.cycle - snaps[-1].read_at > bound:
                return False
    return True


def attribution_mirror(m: ParSyncModel, s: State) -> bool:
    """PS-4: ledger and per-bucket claims describe the same placements."""
    br = s.broker
    for n in range(m.N):
        for b in range(m.B):
            if (b in br.ledger[n]) != (n in br.claims[b]):
                return False
    return True


def retry_budget(m: ParSyncModel, s: State) -> bool:
    """PS-6: no need is proposed more than 1 + R times within a cycle.

    Counted on the ghost ``sent`` (raised by Propose only), for the need in hand
    and for every need the worker set aside this cycle; never on the attempt tag,
    which is the protocol's own bookkeeping."""
    limit = m.R + 1
    return all(w.sent <= limit and all(e[3] <= limit for e in w.parked) for w in s.workers)


def at_most_once(m: ParSyncModel, s: State) -> bool:
    """PS-8: a need is placed (committed) at most once."""
    return all(k <= 1 for k in s.placed)


def carry_forward_bound(m: ParSyncModel, s: State) -> bool:
    """PS-10: a worker keeps at most one snapshot per partition."""
    return all(len(snaps) <= 1 for w in s.workers for snaps in w.view)


# --- action properties ------------------------------------------------------------


def _committed(s: State, a: Action, t: State) -> bool:
    return isinstance(a, Commit) and sum(t.placed) > sum(s.placed)


def _committed_msg(s: State, a: Action, t: State) -> Proposal | None:
    """The proposal this step committed, if it committed one."""
    if isinstance(a, Commit) and sum(t.placed) > sum(s.placed):
        return a.m
    return None


def _sent_msg(s: State, a: Action, t: State) -> Proposal | None:
    """The proposal a Propose step put in flight (the one more copy in ``t``)."""
    if not isinstance(a, Propose):
        return None
    for pm in t.to_broker:
        if pm.worker == a.w and t.to_broker.count(pm) > s.to_broker.count(pm):
            return pm
    return None


def commit_time_consistency(m: ParSyncModel, s: State, a: Action, t: State) -> bool:
    """PS-2, on what the fit decision used, in two steps of one chain:

    * at ``Propose``: the seqno sent for each touched bucket is the seqno of the
      snapshot the fit test read (the worker's latest snapshot of the bucket's
      partition, whose ``used`` the room test compared), so a proposal cannot claim
      to have read data its fit never saw (``propose-stamps-broker-seqno``);
    * at a ``Commit`` that places the need (ghost ``placed`` rises): every read
      seqno equals the broker's seqno just before the commit.

    Together: a commit's fit was decided on a snapshot the broker has not changed
    since, for every touched bucket in every partition."""
    sent = _sent_msg(s, a, t)
    if sent is not None:
        w = s.workers[sent.worker]
        for b, sq in sent.reads:
            e = m.view_entry(w, b)
            if e is None or e[0] != sq:
                return False
        return True
    pm = _committed_msg(s, a, t)
    if pm is None:
        return True
    seq = s.broker.seq
    return all(seq[b] == sq for b, sq in pm.reads)


def reobserve_after_conflict(m: ParSyncModel, s: State, a: Action, t: State) -> bool:
    """PS-11: a proposal never reads a bucket from a snapshot of a partition that a
    Conflict the worker took named and that has not been read again since (ghost
    ``reread``, set by HandleReply(Conflict) and cleared by any read of the
    partition): after a Conflict the next proposal sees the conflicted partitions
    through a snapshot read after the Conflict (ADR-0031: forced freshness)."""
    if not isinstance(a, Propose):
        return True
    rr = s.workers[a.w].reread
    if not rr:
        return True
    part = m.part
    return not any((rr >> part[b]) & 1 for b in a.buckets)


def seqno_monotonic(m: ParSyncModel, s: State, a: Action, t: State) -> bool:
    """PS-5: seq never decreases and rises by exactly one iff the bucket's claims change."""
    s_seq, t_seq = s.broker.seq, t.broker.seq
    s_cl, t_cl = s.broker.claims, t.broker.claims
    for b in range(m.B):
        d = t_seq[b] - s_seq[b]
        if d != (1 if s_cl[b] != t_cl[b] else 0):
            return False
    return True


def priority_on_conflict(m: ParSyncModel, s: State, a: Action, t: State) -> bool:
    """PS-7: a commit never overtakes a pending higher-priority proposal on a shared bucket.

    Pending means received by the broker: under the contract, the proposals in the
    broker's inbox just before the commit (one still in the network is not the
    broker's to order); in the reference, where delivery and decision are one step,
    every proposal in flight."""
    me = _committed_msg(s, a, t)
    if me is None:
        return True
    mine = {b for b, _ in me.reads}
    for o in s.inbox if m.contract else s.to_broker:
        if o.priority > me.priority and any(b in mine for b, _ in o.reads):
            return False
    return True


def epoch_fencing(m: ParSyncModel, s: State, a: Action, t: State) -> bool:
    """PS-9: no proposal stamped with an older broker epoch commits."""
    pm = _committed_msg(s, a, t)
    return pm is None or pm.epoch == s.broker.epoch


# --- reachability witnesses ("sometimes") -------------------------------------------


def _reply_kind(kind: int) -> ActionPred:
    def pred(m: ParSyncModel, s: State, a: Action, t: State) -> bool:
        return isinstance(a, HandleReply) and a.r.kind == kind

    return pred


def _gang_commit(m: ParSyncModel, s: State, a: Action, t: State) -> bool:
    pm = _committed_msg(s, a, t)
    return pm is not None and len(pm.reads) > 1


def _proposer_view(s: State, pm: Proposal) -> Worker | None:
    """The proposer of ``pm`` while ``pm`` is its outstanding attempt, else None.

    A waiting worker's view is the one its fit test read at Propose, except for
    extra fresh reads (contract), which only make ``read_at`` larger: a snapshot
    of it read before ``pm.cycle`` means the fit used one read before, too."""
    w = s.workers[pm.worker]
    if (
        w.up
        and w.waiting
        and w.pending
        and w.pending[0] == pm.need
        and w.cycle == pm.cycle
        and w.attempts == pm.attempt
    ):
        return w
    return None


def _read_earlier(m: ParSyncModel, w: Worker, buckets: object, cycle: int) -> bool:
    """Some bucket's latest snapshot in ``w``'s view was read before ``cycle``."""
    for b in buckets:  # type: ignore[attr-defined]
        snaps = w.view[m.part[b]]
        if snaps and snaps[-1].read_at < cycle:
            return True
    return False


def _stale_view_commit(m: ParSyncModel, s: State, a: Action, t: State) -> bool:
    """A proposal whose fit used a snapshot read in an earlier cycle commits (ghost
    ``read_at`` of the proposer's snapshots, not ``cycle mod P``)."""
    pm = _committed_msg(s, a, t)
    if pm is None:
        return False
    w = _proposer_view(s, pm)
    return w is not None and _read_earlier(m, w, (b for b, _ in pm.reads), pm.cycle)


def _carry_forward_conflict(m: ParSyncModel, s: State, a: Action, t: State) -> bool:
    """The broker answers Conflict on a bucket whose snapshot, in the proposer's fit,
    was read in an earlier cycle: carry-forward data caused the Conflict."""
    if isinstance(a, Reject):
        if a.kind != CONFLICT:
            return False
        pm = a.m
        buckets = m._conflicted(s.broker, pm)
    elif isinstance(a, Commit):
        pm = a.m
        reply = m.commit(s.broker, pm)[1]
        if reply.kind != CONFLICT:
            return False
        buckets = reply.buckets
    else:
        return False
    w = _proposer_view(s, pm)
    return w is not None and _read_earlier(m, w, buckets, pm.cycle)


PROPERTIES: tuple[Property, ...] = (
    Property("PS-1", "NoOvercommit", "state", "always", state_pred=no_overcommit),
    Property(
        "PS-2",
        "CommitTimeConsistency",
        "action",
        "always",
        action_pred=commit_time_consistency,
    ),
    Property("PS-3", "BoundedStaleness", "state", "always", state_pred=bounded_staleness),
    Property("PS-4", "AttributionMirror", "state", "always", state_pred=attribution_mirror),
    Property("PS-5", "SeqnoMonotonic", "action", "always", action_pred=seqno_monotonic),
    Property("PS-6", "RetryBudget", "state", "always", state_pred=retry_budget),
    Property("PS-7", "PriorityOnConflict", "action", "always", action_pred=priority_on_conflict),
    Property("PS-8", "AtMostOncePlacement", "state", "always", state_pred=at_most_once),
    Property("PS-9", "EpochFencing", "action", "always", action_pred=epoch_fencing),
    Property("PS-10", "CarryForwardBound", "state", "always", state_pred=carry_forward_bound),
    Property(
        "PS-11",
        "ReobserveAfterConflict",
        "action",
        "always",
        action_pred=reobserve_after_conflict,
    ),
)

# Witnesses: the scope must reach each of these (when its enabling switch is on).
WITNESSES: tuple[Property, ...] = (
    Property(
        "W-conflict",
        "SomeConflictHandled",
        "sometimes",
        "sometimes",
        action_pred=_reply_kind(CONFLICT),
    ),
    Property(
        "W-stale-commit",
        "SomeCommitFromCarryForward",
        "sometimes",
        "sometimes",
        action_pred=_stale_view_commit,
    ),
    Property(
        "W-carry-forward-conflict",
        "SomeConflictFromCarryForward",
        "sometimes",
        "sometimes",
        action_pred=_carry_forward_conflict,
    ),
    Property(
        "W-gang-commit", "SomeGangCommits", "sometimes", "sometimes", action_pred=_gang_commit
    ),
    Property(
        "W-already-placed",
        "SomeAlreadyPlacedHandled",
        "sometimes",
        "sometimes",
        action_pred=_reply_kind(ALREADY),
    ),
    Property(
        "W-fenced", "SomeFencedHandled", "sometimes", "sometimes", action_pred=_reply_kind(FENCED)
    ),
)

SAFETY_IDS: tuple[str, ...] = tuple(p.id for p in PROPERTIES)
_BY_ID = {p.id: p for p in (*PROPERTIES, *WITNESSES)}


def get_property(pid: str) -> Property:
    return _BY_ID[pid]


def witness_applicable(m: ParSyncModel, w: Property) -> bool:
    """Whether the scope's switches make a witness meaningful at all."""
    if w.id == "W-gang-commit":
        return any(g > 1 for g in m.gang)
    if w.id == "W-fenced":
        return m.max_failover > 0
    if w.id == "W-already-placed":
        return m.max_crash > 0 or m.max_drop > 0 or m.max_dup > 0
    if w.id in ("W-stale-commit", "W-carry-forward-conflict"):
        return m.P > 1 and m.config.strategy != "latency-first"
    return True


def state_violations(m: ParSyncModel, s: State) -> list[str]:
    return [p.id for p in PROPERTIES if p.state_pred is not None and not p.state_pred(m, s)]


def action_violations(m: ParSyncModel, s: State, a: Action, t: State) -> list[str]:
    return [p.id for p in PROPERTIES if p.action_pred is not None and not p.action_pred(m, s, a, t)]
