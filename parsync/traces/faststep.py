"""The validator's step for the common case, compiled per event type: one candidate
state, held mutably, and one handler per event type that does only what its event needs.

When a trace's header declares no hidden step types, every event it logs must be
explained by one model step, and a trace that logs every field keeps exactly one
candidate state from start to end. :class:`Validator` then spends most of its time
building that one state's successor as the model's immutable values: a new
``State``, ``Broker`` and ``Worker`` per event, the broker's per-bucket tuples
(256 entries at the realistic scope) copied per Commit and Release, a fresh read
of 32 buckets built per StartCycle and compared field by field with the event's,
each line shape-checked field by field before the validator looks at it. (A header
that declares hidden steps keeps one candidate too as long as each line is explained
directly: the validator then keeps its window of past events lazily and uses this
step alike; a line that needs a hidden step is declined and searched by the general
path.)

:class:`FastPath` holds that one state as mutable parts instead: the broker's
per-bucket ``seq`` and ``claims``, per-need ``ledger``, ``status`` and the ghost
``placed`` counts as lists changed in place, each worker as the list of its
fields, the messages in flight and (contract) the broker's inbox as lists of the
model's own ``Proposal`` and ``Reply`` values (bags kept sorted, as the model's are:
a logged ``Deliver`` moves a proposal from the one to the other, and a ``Commit``
decides from the inbox, priority on conflict judged on the inbox and ``queued``, as
``Validator._commits`` and ``_rejects`` do), and per partition the entries a fresh
read returns now, kept current as commits and releases change them (a
StartCycle's read is then a look-up, and its check one comparison of the line's
JSON text against the model's). Each handler checks its event's shape and
ranges as it reads the fields it needs, and either

* takes the step: every check the general path makes passed, so the state is
  changed to exactly the model's successor (``Validator._ev_*`` on this state)
  and the id table as ``Validator._book_ids`` changes it; or
* declines (returns False) having changed nothing. The general path then
  decides the event: first, for the rarer shapes of events that change only
  workers, faults, the bags or the epoch (a Restart, a Defer, a reply to a
  worker with needs set aside), the *generic route* - the compiled shape and
  range tests, the id checks and the validator's own explainer on a shallow
  state that shares the mutable parts; and when that cannot take the step
  either (a rejection, several candidates), the validator's general path
  itself, on the state materialised as the model's values (:meth:`state`).

So a handler only ever accepts what the general path accepts, and everything it
does not accept is decided, and worded, by the general path: the verdicts and
messages are the general path's. ``tests/test_trace_faststep.py`` holds the two
to it: whole traces validated both ways step by step give equal states and id
tables after every event, and mutated traces the same verdict, line and message.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from parsync.model.state import (
    ALREADY,
    COMMITTED,
    CONFLICT,
    FENCED,
    LATENCY,
    PLACED,
    QUALITY,
    RELEASED,
    UNPLACED,
    Broker,
    Proposal,
    Reply,
    Snapshot,
    State,
    Worker,
)
from parsync.traces.fastmodel import PVec
from parsync.traces.format import _WF_BY, COMMON_OPTIONAL, KIND_NAMES, TABLES

try:
    from orjson import dumps as _dumps
except ImportError:  # pragma: no cover - depends on the installation
    _dumps = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from parsync.traces.validate import Validator

_M: Any = object()  # a field the event leaves out
_KIND = {name: k for k, name in enumerate(KIND_NAMES)}
#: the event types whose ids Validator._book_ids keeps track of
_BOOKED = frozenset({"Propose", "Commit", "HandleReply", "Drop", "Duplicate"})
#: a NamedTuple built from its fields in order, without its Python-level __new__ (the
#: same value: ``Worker(*xs) == _new(Worker, xs)``, of the same type)
_new: Any = tuple.__new__
#: a worker held as a list of its fields, in Worker's order (changed in place)
_WL = list[Any]
(_UP, _CYCLE, _MODE, _EPOCH, _FRESH, _VIEW, _PENDING, _WAITING, _RETRIES, _ATTEMPTS, _KNOWN,
 _SENT, _PARKED, _REREAD) = range(14)  # fmt: skip
assert Worker._fields[_REREAD] == "reread" and Worker._fields[_SENT] == "sent"


def _meta_ok(ev: dict[str, Any]) -> bool:
    """The metadata any line may carry (``ts``, ``x``) is well typed."""
    ts = ev.get("ts", _M)
    if ts is not _M and type(ts) is not int and type(ts) is not float:
        return False
    x = ev.get("x", _M)
    return x is _M or type(x) is dict


class FastPath:
    """One candidate state, mutable, and a handler per event type (see the module)."""

    def __init__(self, v: Validator, s: State) -> None:
        self.v = v
        m = self.m = v.m
        self.contract = v.contract
        self.P = m.P
        self.B = m.B
        self.W = m.W
        self.part = m.part
        self.idx = m.idx
        self.cap = m.cap
        self.R = m.R
        self.limit = m.attempt_limit()
        self.adaptive = m.adaptive
        # the strategy lets every partition be named (contract, adaptive): no fresh test
        self.any_partition = m.contract and m.adaptive
        # a crashed worker's view and freshness (ParSyncModel.crash, no variant)
        self.crashed_view: tuple[tuple[Snapshot, ...], ...] = ((),) * m.P
        self.crashed_fresh = (-1,) * m.P
        self._allowed_for: tuple[int, ...] | None = None  # _allowed's last question
        self._allowed_set: set[int] = set()
        table = TABLES[v.version]
        # per event type: the fields it may have, without and with the metadata
        self.keys: dict[str, frozenset[str]] = {
            t: frozenset(("type", *req, *opt)) for t, (req, opt) in table.items()
        }
        self.keys_meta = {t: k | frozenset(COMMON_OPTIONAL) for t, k in self.keys.items()}
        # the hot handlers' key sets (an attribute each: no look-up by type per event)
        self.k_start = self.keys["StartCycle"]
        self.k_propose = self.keys["Propose"]
        self.k_commit = self.keys["Commit"]
        self.k_reply = self.keys["HandleReply"]
        self.wf = _WF_BY[v.version]
        self.handlers: dict[str, Callable[[dict[str, Any]], bool]] = {
            "StartCycle": self.start_cycle,
            "Propose": self.propose,
            "Commit": self.commit,
            "HandleReply": self.handle_reply,
            "Release": self.release,
            "Crash": self.crash,
            "Recover": self.recover,
            "Drop": self.drop,
            "Duplicate": self.duplicate,
            "Failover": self.failover,
            "Defer": self._generic_of("Defer"),
        }
        if "Need" in table:
            self.handlers["Need"] = self.need
        if self.contract:  # the reference policy has none of these steps
            self.handlers["Timeout"] = self.timeout
            self.handlers["Refresh"] = self.refresh
            self.handlers["Restart"] = self._generic_of("Restart")
            self.handlers["Deliver"] = self.deliver
        self.k_deliver = self.keys.get("Deliver", frozenset())
        self.load(s)

    # -- the state in and out --------------------------------------------------------------
    def load(self, s: State) -> None:
        """Hold ``s`` (the model's values) as the mutable parts."""
        br = s.broker
        assert br.replica is None and not br.tags, "a TraceModel state has no variant parts"
        self.epoch = br.epoch
        self.seq = list(br.seq)
        self.claims = list(br.claims)
        self.ledger = list(br.ledger)
        self.status = list(br.status)
        self.placed = list(s.placed)
        self.workers: list[_WL] = [list(w) for w in s.workers]
        self.tb = list(s.to_broker)
        self.tw = list(s.to_workers)
        self.faults = list(s.faults)
        self.inbox = list(s.inbox)  # the broker's inbox (contract), a bag kept sorted
        read = self.m.read
        # per partition: the entries a fresh read returns now, and their JSON text (None:
        # not written since they changed)
        self.fresh: list[tuple[tuple[int, int], ...]] = [
            read(br, p, 0).entries for p in range(self.P)
        ]
        self.fresh_json: list[bytes | None] = [None] * self.P

    def state(self) -> State:
        """The state as the model's values (what the general path holds)."""
        # the per-need sequences as PVecs, as TraceModel holds them (typed as the tuples
        # they stand for: they compare, hash and index alike)
        ledger: Any = PVec(self.ledger)
        status: Any = PVec(self.status)
        placed: Any = PVec(self.placed)
        br = Broker(self.epoch, tuple(self.seq), tuple(self.claims), ledger, status, None)
        return self._state(br, placed)

    def _state(self, br: Broker, placed: Any) -> State:
        """The state with this broker and ghost counts; the rest as held now."""
        workers = tuple([_new(Worker, w) for w in self.workers])
        return State(
            br,
            workers,
            tuple(self.tb),
            tuple(self.tw),
            tuple(self.faults),
            placed,
            tuple(self.inbox),
        )

    def compact(self) -> None:
        """Validator._compact on the state held: the model's memo tables cleared, the ids
        of messages no longer in flight forgotten."""
        self.m.clear_caches()
        live = {*self.tb, *self.tw, *self.inbox}
        v = self.v
        v.ids = {k: x for k, x in v.ids.items() if any(y in live for y in x)}

    def _shallow(self) -> State:
        """A State sharing the mutable parts, for an explainer that reads the workers, the
        bags, the faults, the epoch and fresh reads only (the generic route)."""
        # the lists typed as the tuples they stand in for (read, indexed and measured alike)
        seq: Any = self.seq
        claims: Any = self.claims
        ledger: Any = self.ledger
        status: Any = self.status
        br = Broker(self.epoch, seq, claims, ledger, status, None)
        placed: Any = self.placed
        return self._state(br, placed)

    # -- fresh reads --------------------------------------------------------------------------
    def _used(self, b: int) -> int:
        cl = self.claims[b]
        if self.m._unit:
            return len(cl)
        size = self.m.size
        return sum([size[n] for n in cl])

    def _touch(self, b: int) -> None:
        """Bucket ``b``'s seq or claims changed: its partition's fresh entries follow."""
        p = self.part[b]
        i = self.idx[b]
        e = self.fresh[p]
        self.fresh[p] = e[:i] + ((self.seq[b], self._used(b)),) + e[i + 1 :]
        self.fresh_json[p] = None

    def _entries_are(self, e: Any, p: int) -> bool:
        """The line's entries are exactly the fresh read of partition ``p``: the same JSON
        text (so a list of [integer, integer] pairs: a bool, float or nesting differs)."""
        if _dumps is None:  # pragma: no cover - depends on the installation
            return False
        want = self.fresh_json[p]
        if want is None:
            want = self.fresh_json[p] = _dumps(self.fresh[p])
        try:
            return bool(_dumps(e) == want)
        except TypeError:  # an integer orjson cannot write: the general path decides
            return False

    def _reads_are(self, read: Any, parts: tuple[int, ...]) -> bool:
        """The line's ``read`` (if given) is what ``Validator._read_mismatch`` accepts for a
        step that reads ``parts`` fresh now (they are all fresh in the worker after it)."""
        if read is _M:
            return True
        if type(read) is not list or len(read) != len(parts):
            return False
        got = []
        for r in read:
            if type(r) is not dict:
                return False
            p = r.get("partition")
            if type(p) is not int:
                return False
            if len(r) != 1:
                e = r.get("entries", _M)
                if len(r) != 2 or e is _M or not 0 <= p < self.P or not self._entries_are(e, p):
                    return False
            got.append(p)
        return got == list(parts) or sorted(got) == list(parts)

    def _refresh(self, w: _WL, parts: tuple[int, ...] | range) -> None:
        # ParSyncModel.refresh (no variant) on the worker in place, the reads from the
        # fresh entries
        view = list(w[_VIEW])
        fresh = list(w[_FRESH])
        reread = w[_REREAD]
        c = w[_CYCLE]
        for p in parts:
            view[p] = (_new(Snapshot, (c, self.fresh[p])),)
            fresh[p] = c
            reread &= ~(1 << p)
        w[_EPOCH] = self.epoch
        w[_FRESH] = tuple(fresh)
        w[_VIEW] = tuple(view)
        w[_REREAD] = reread

    @staticmethod
    def _next_need(w: _WL) -> None:
        # TraceModel._next_need, no need set aside (parked), on the worker in place
        w[_PENDING] = w[_PENDING][1:]
        w[_WAITING] = False
        w[_RETRIES] = w[_ATTEMPTS] = w[_SENT] = 0
        w[_PARKED] = ()

    def _allowed(self, w: _WL) -> set[int] | None:
        # ParSyncModel._allowed: the partitions the strategy lets the worker name (None:
        # any), the last answer kept (it depends on the mode and freshness only)
        if self.any_partition or w[_MODE] != LATENCY:
            return None
        fresh = w[_FRESH]
        if fresh is not self._allowed_for:
            top = max(fresh)
            self._allowed_set = {p for p in range(self.P) if fresh[p] == top}
            self._allowed_for = fresh
        return self._allowed_set

    # -- helpers ------------------------------------------------------------------------------
    def _keys_ok(self, ev: dict[str, Any], t: str) -> bool:
        keys = ev.keys()
        if keys <= self.keys[t]:
            return True
        return keys <= self.keys_meta[t] and _meta_ok(ev)

    def _meta_keys_ok(self, ev: dict[str, Any], t: str) -> bool:
        """The event has fields beyond its type's own: only the metadata, well typed."""
        return ev.keys() <= self.keys_meta[t] and _meta_ok(ev)

    def _worker(self, ev: dict[str, Any], t: str) -> int:
        """The event's worker if its fields are all known ones and it names a worker;
        else -1."""
        if not self._keys_ok(ev, t):
            return -1
        wi = ev.get("worker")
        if type(wi) is not int or not 0 <= wi < self.W:
            return -1
        return wi

    def _lost(self, wi: int, w: _WL) -> bool:
        # ParSyncModel.lost on the bags (a proposal in the broker's inbox is not gone)
        c = w[_CYCLE]
        a = w[_ATTEMPTS]
        for x in self.tb:
            if x.worker == wi and x.cycle == c and x.attempt == a:
                return False
        for x in self.inbox:
            if x.worker == wi and x.cycle == c and x.attempt == a:
                return False
        for r in self.tw:
            if r.worker == wi and r.cycle == c and r.attempt == a:
                return False
        return True

    # -- the generic route --------------------------------------------------------------------
    def _generic_of(self, t: str) -> Callable[[dict[str, Any]], bool]:
        def handler(ev: dict[str, Any]) -> bool:
            return self.generic(ev, t)

        return handler

    def generic(self, ev: dict[str, Any], t: str) -> bool:
        """The general path's checks and explainer, on a shallow state: taken when it gives
        exactly one successor that changes no per-bucket or per-need part."""
        v = self.v
        if not self.wf[t](ev) or not v._ranges_ok[t](ev) or v._id_problem(ev, t) is not None:
            return False
        s = self._shallow()
        ok, _why, made = v._explainers[t](s, ev)
        if len(ok) != 1:
            return False
        n = ok[0]
        br = n.broker
        if not (
            br.seq is self.seq
            and br.claims is self.claims
            and br.ledger is self.ledger
            and br.status is self.status
            and n.placed is self.placed
        ):  # pragma: no cover - no generic event changes them
            return False
        self.epoch = br.epoch
        self.workers = [list(w) for w in n.workers]
        self.tb = list(n.to_broker)
        self.tw = list(n.to_workers)
        self.faults = list(n.faults)
        self.inbox = list(n.inbox)
        if t in _BOOKED:
            v._book_ids(ev, t, made)
        return True

    # -- worker steps -------------------------------------------------------------------------
    def start_cycle(self, ev: dict[str, Any]) -> bool:
        # Validator._ev_StartCycle
        if not ev.keys() <= self.k_start and not self._meta_keys_ok(ev, "StartCycle"):
            return False
        wi = ev.get("worker")
        if type(wi) is not int or not 0 <= wi < self.W:
            return False
        w = self.workers[wi]
        c = w[_CYCLE] + 1
        cyc = ev.get("cycle", _M)
        if cyc is not _M and (type(cyc) is not int or cyc != c):
            return False
        read = ev.get("read", _M)
        if not w[_UP]:  # its cycle ticks; it reads nothing
            if read is not _M and (type(read) is not list or read):
                return False
            w[_CYCLE] = c
            return True
        p = c % self.P  # rotation (a TraceModel has no variant)
        if read is not _M:
            if type(read) is not list or len(read) != 1:
                return False
            r = read[0]
            if type(r) is not dict:
                return False
            rp = r.get("partition")
            if type(rp) is not int or rp != p:
                return False
            if len(r) != 1:
                e = r.get("entries", _M)
                if e is _M or len(r) != 2 or not self._entries_are(e, p):
                    return False
        timeout = False
        if w[_WAITING]:
            if not self._lost(wi, w):
                if not self.contract:
                    return False
                timeout = True
        elif w[_PENDING] and not self.contract:
            return False
        # TraceModel.start_cycle: refresh of partition p, then the pending list
        fresh = w[_FRESH]
        view = w[_VIEW]
        w[_PENDING] = self.m.pending_at(wi, c, w[_KNOWN], len(self.status))
        w[_CYCLE] = c
        w[_EPOCH] = self.epoch
        w[_FRESH] = fresh[:p] + (c,) + fresh[p + 1 :]
        w[_VIEW] = view[:p] + ((_new(Snapshot, (c, self.fresh[p])),),) + view[p + 1 :]
        w[_WAITING] = False
        w[_RETRIES] = w[_ATTEMPTS] = w[_SENT] = 0
        w[_PARKED] = ()
        w[_REREAD] &= ~(1 << p)
        if timeout:
            self.faults[3] += 1
        return True

    def crash(self, ev: dict[str, Any]) -> bool:
        # Validator._ev_Crash: ParSyncModel.crash (no variant), a crash counted
        wi = self._worker(ev, "Crash")
        if wi < 0:
            return False
        w = self.workers[wi]
        if not w[_UP]:
            return False
        w[_UP] = w[_WAITING] = False
        w[_MODE] = self.m.initial_mode
        w[_FRESH] = self.crashed_fresh
        w[_VIEW] = self.crashed_view
        w[_PENDING] = w[_PARKED] = ()
        w[_RETRIES] = w[_ATTEMPTS] = w[_KNOWN] = w[_SENT] = 0
        self.faults[0] += 1
        return True

    def recover(self, ev: dict[str, Any]) -> bool:
        # Validator._comes_back (Recover): ParSyncModel.recover (no variant), every
        # partition re-read; the worker's cycle is its own (no tick may be hidden)
        wi = self._worker(ev, "Recover")
        if wi < 0:
            return False
        w = self.workers[wi]
        if w[_UP]:
            return False
        cyc = ev.get("cycle", _M)
        if cyc is not _M and (type(cyc) is not int or cyc != w[_CYCLE]):
            return False
        parts = range(self.P)
        if not self._reads_are(ev.get("read", _M), tuple(parts)):
            return False
        w[_UP] = True
        self._refresh(w, parts)
        return True

    def timeout(self, ev: dict[str, Any]) -> bool:
        # Validator._ev_Timeout (contract): ParSyncModel.timeout (no variant), counted
        wi = self._worker(ev, "Timeout")
        if wi < 0:
            return False
        w = self.workers[wi]
        if not (w[_UP] and w[_WAITING]):
            return False
        w[_WAITING] = False
        self.faults[3] += 1
        return True

    def refresh(self, ev: dict[str, Any]) -> bool:
        # Validator._ev_Refresh (contract): one partition re-read, an extra read counted
        wi = self._worker(ev, "Refresh")
        if wi < 0:
            return False
        w = self.workers[wi]
        read = ev.get("read")
        if not w[_UP] or type(read) is not list or len(read) != 1 or type(read[0]) is not dict:
            return False
        p = read[0].get("partition")
        if type(p) is not int or not 0 <= p < self.P or not self._reads_are(read, (p,)):
            return False
        self._refresh(w, (p,))
        self.faults[4] += 1
        return True

    def propose(self, ev: dict[str, Any]) -> bool:
        # Validator._ev_Propose (and its id checks and booking)
        if not ev.keys() <= self.k_propose and not self._meta_keys_ok(ev, "Propose"):
            return False
        wi = ev.get("worker")
        n = ev.get("need")
        bl = ev.get("buckets")
        m = self.m
        if (
            type(wi) is not int
            or not 0 <= wi < self.W
            or type(n) is not int
            or not 0 <= n < m.N
            or type(bl) is not list
        ):
            return False
        pid = ev.get("id", _M)
        ids = self.v.ids
        if pid is not _M and (
            not ((type(pid) is str and pid) or (type(pid) is int and pid >= 0)) or pid in ids
        ):
            return False
        w = self.workers[wi]
        pending = w[_PENDING]
        if not w[_UP] or w[_WAITING] or not pending:
            return False
        if n != pending[0]:  # the contract: n taken up (a copy, until the step is taken)
            if not self.contract or n not in pending:
                return False
            w = list(m._focus(_new(Worker, w), n))
        if self.contract and w[_ATTEMPTS] >= self.limit:
            return False
        # the bucket set: m.fits (and the seqnos read: _propose_mismatch)
        if len(bl) != m.gang[n]:
            return False
        B = self.B
        for x in bl:
            if type(x) is not list or len(x) != 2:
                return False
            b, q = x
            if type(b) is not int or type(q) is not int or not 0 <= b < B or q < 0:
                return False
        reads = ((bl[0][0], bl[0][1]),) if len(bl) == 1 else tuple(sorted(map(tuple, bl)))
        elig = m.eligible_sets[n]
        allowed = self._allowed(w)
        part = self.part
        idx = self.idx
        view = w[_VIEW]
        cap = self.cap
        size = m.size[n]
        last = -1
        for b, q in reads:
            if b <= last or b not in elig:
                return False
            last = b
            p = part[b]
            if allowed is not None and p not in allowed:
                return False
            snaps = view[p]
            if not snaps:
                return False
            e = snaps[-1][1][idx[b]]
            if e[1] + size > cap[b] or e[0] != q:
                return False
        att = w[_ATTEMPTS] + 1
        c = w[_CYCLE]
        epoch = w[_EPOCH]
        prio = m.prio[n]
        if len(ev) > 4:  # the optional fields: the model's values
            x = ev.get("epoch", _M)
            if x is not _M and (type(x) is not int or x != epoch):
                return False
            x = ev.get("priority", _M)
            if x is not _M and (type(x) is not int or x != prio):
                return False
            x = ev.get("cycle", _M)
            if x is not _M and (type(x) is not int or x != c):
                return False
            x = ev.get("attempt", _M)
            if x is not _M and (type(x) is not int or x != att):
                return False
        # TraceModel.propose
        msg = _new(Proposal, (wi, n, prio, epoch, reads, c, att, c % self.P))
        w[_WAITING] = True
        w[_ATTEMPTS] = att
        w[_SENT] += 1
        self.workers[wi] = w  # (a new list when n was taken up)
        insort(self.tb, msg)
        if pid is not _M:
            ids[pid] = (msg,)
        return True

    def handle_reply(self, ev: dict[str, Any]) -> bool:
        # Validator._ev_HandleReply for the one reply the event may mean
        if not ev.keys() <= self.k_reply and not self._meta_keys_ok(ev, "HandleReply"):
            return False
        wi = ev.get("worker")
        if type(wi) is not int or not 0 <= wi < self.W:
            return False
        ids = self.v.ids
        hid = ev.get("id", _M)
        hn = ev.get("need", _M)
        hk = ev.get("kind", _M)
        if hid is not _M and (
            not ((type(hid) is str and hid) or (type(hid) is int and hid >= 0)) or hid not in ids
        ):
            return False
        if hn is not _M and (type(hn) is not int or not 0 <= hn < self.m.N):
            return False
        if hk is not _M:
            hk = _KIND.get(hk) if type(hk) is str else None
            if hk is None:
                return False
        w = self.workers[wi]
        if not w[_UP]:
            return False
        tw = self.tw
        r: Reply | None = None
        for x in tw if hid is _M else ids[hid]:
            if (
                type(x) is Reply
                and x.worker == wi
                and (hn is _M or x.need == hn)
                and (hk is _M or x.kind == hk)
                and (hid is _M or x in tw)
            ):
                if r is None:
                    r = x
                elif x != r:  # two distinct replies match: several candidates
                    return False
        if r is None:
            return False
        current = (
            w[_WAITING]
            and r.need == w[_PENDING][0]
            and r.cycle == w[_CYCLE]
            and r.attempt == w[_ATTEMPTS]
        )
        st = ev.get("stale", _M)
        if st is not _M and (type(st) is not bool or st == current):
            return False
        read = ev.get("read", _M)
        kind = r.kind
        if not current:  # stale: discarded, nothing re-read (TraceModel._handle)
            if read is not _M and (type(read) is not list or read):
                return False
        elif kind == COMMITTED or kind == ALREADY:  # placed: nothing re-read
            if read is not _M and (type(read) is not list or read):
                return False
            if w[_PARKED]:
                return self.generic(ev, "HandleReply")
            # TraceModel._handle: known |= need, then _next_need
            w[_KNOWN] |= 1 << r.need
            self._next_need(w)
        else:  # ParSyncModel._handle (no variant): re-read, a retry or the next need
            if kind == CONFLICT:
                parts: tuple[int, ...] = tuple(sorted({self.part[b] for b in r.buckets}))
            else:  # FENCED: every partition
                parts = tuple(range(self.P))
            if not self._reads_are(read, parts):
                return False
            if kind == CONFLICT:  # ghost (PS-11): set, then cleared by the re-read
                w[_REREAD] |= sum(1 << p for p in parts)
            self._refresh(w, parts)
            if kind == CONFLICT and self.adaptive and w[_MODE] == QUALITY:
                w[_MODE] = LATENCY
            retries = w[_RETRIES] + 1
            if retries > self.R:
                if w[_PARKED]:  # the next need may have been worked on: the model's
                    self.workers[wi] = list(self.m._next_need(_new(Worker, w)))
                else:
                    self._next_need(w)
            else:
                w[_WAITING] = False
                w[_RETRIES] = retries
        tw.remove(r)
        if hid is not _M:
            ids.pop(hid, None)
        return True

    # -- the broker -----------------------------------------------------------------------------
    def commit(self, ev: dict[str, Any]) -> bool:
        # Validator._ev_Commit / _rejects for one proposal (and the id checks and booking)
        if not ev.keys() <= self.k_commit and not self._meta_keys_ok(ev, "Commit"):
            return False
        res = ev.get("result")
        kind = _KIND.get(res) if type(res) is str else None
        if kind is None:
            return False
        ids = self.v.ids
        m = self.m
        cid = ev.get("id", _M)
        rid = ev.get("reply", _M)
        cw = ev.get("worker", _M)
        cn = ev.get("need", _M)
        if cid is not _M and (
            not ((type(cid) is str and cid) or (type(cid) is int and cid >= 0)) or cid not in ids
        ):
            return False
        if rid is not _M and (
            not ((type(rid) is str and rid) or (type(rid) is int and rid >= 0)) or rid in ids
        ):
            return False
        if cw is not _M and (type(cw) is not int or not 0 <= cw < self.W):
            return False
        if cn is not _M and (type(cn) is not int or not 0 <= cn < m.N):
            return False
        tb = self.tb
        inbox = self.inbox
        if inbox and cid is _M:  # matched by content over the inbox and the network: rare
            return False
        # _proposals: the one the event means (in the network or the broker's inbox)
        p: Proposal | None = None
        cands: Any = tb if cid is _M else ids[cid]
        if len(cands) == 1:  # the usual: one message by that id (or one in flight)
            x = cands[0]
            if (
                type(x) is Proposal
                and (cw is _M or x.worker == cw)
                and (cn is _M or x.need == cn)
                and (cid is _M or x in tb or x in inbox)
            ):
                p = x
            cands = ()
        for x in cands:
            if (
                type(x) is Proposal
                and (cw is _M or x.worker == cw)
                and (cn is _M or x.need == cn)
                and (cid is _M or x in tb or x in inbox)
            ):
                if p is None:
                    p = x
                elif x != p:  # two distinct proposals match: several candidates
                    return False
        if p is None:
            return False
        seq = self.seq
        B = self.B
        sq = ev.get("seq", _M)
        if sq is not _M:
            if type(sq) is not list:
                return False
            for x in sq:
                if type(x) is not list or len(x) != 2:
                    return False
                b, q = x
                if type(b) is not int or type(q) is not int or not 0 <= b < B or q < 0:
                    return False
        conf = ev.get("conflicts", _M)
        if conf is not _M:
            if type(conf) is not list:
                return False
            for b in conf:
                if type(b) is not int or not 0 <= b < B:
                    return False
        ep = ev.get("epoch", _M)
        if ep is not _M and (type(ep) is not int or ep != self.epoch):
            return False
        queued = ev.get("queued", _M)
        if queued is not _M:
            if type(queued) is not list:
                return False
            for q in queued:
                if not ((type(q) is str and q) or (type(q) is int and q >= 0)):
                    return False
                known = ids.get(q)
                if known is None or not any(type(x) is Proposal for x in known):
                    return False
        if self.contract:
            # Validator._commits: priority on conflict judged on the broker's inbox and the
            # proposals ``queued`` names that are still in the network (_queued)
            queue: Any = inbox
            if queued is not _M:
                queue = inbox + [
                    x
                    for q in queued
                    for x in ids.get(q, ())
                    if type(x) is Proposal and x in tb and x not in inbox
                ]
        elif queued is not _M:  # Validator._queue
            queue = [x for q in queued for x in ids.get(q, ()) if type(x) is Proposal and x in tb]
        else:
            queue = tb
        status = self.status
        need = p.need
        reads = p.reads
        # the answer: the reference's fixed order (and the contract's committed), or - the
        # contract's rejections - any reply true of the proposal
        if kind == COMMITTED or not self.contract:
            pr = p.priority
            for o in queue:  # ParSyncModel.blocked
                if o.priority > pr:
                    for b, _ in o.reads:
                        for c, _ in reads:
                            if b == c:
                                return False
            if p.epoch != self.epoch:
                decided = FENCED
            elif status[need] != UNPLACED:
                decided = ALREADY
            else:
                decided = COMMITTED
                for b, q in reads:
                    if seq[b] != q:
                        decided = CONFLICT
                        break
            if decided != kind:
                return False
        elif kind == FENCED:
            if p.epoch == self.epoch:
                return False
        elif kind == ALREADY:
            if status[need] == UNPLACED:
                return False
        else:
            for b, q in reads:
                if seq[b] != q:
                    break
            else:
                return False
        if kind == CONFLICT:
            buckets = tuple([b for b, q in reads if seq[b] != q])
            if conf is not _M and sorted(conf) != sorted(buckets):
                return False
        else:
            buckets = ()
            if conf is not _M and conf:
                return False
        if sq is not _M:  # the seqnos after the step
            if kind == COMMITTED:
                touched = [b for b, _ in reads]
                for b, q in sq:
                    if seq[b] + (b in touched) != q:
                        return False
            else:
                for b, q in sq:
                    if seq[b] != q:
                        return False
        # the step
        reply = _new(Reply, (p.worker, need, kind, p.cycle, p.attempt, buckets))
        if kind == COMMITTED:  # TraceModel._decide
            claims = self.claims
            for b, _ in reads:
                seq[b] += 1
                claims[b] = tuple(sorted((*claims[b], need)))
            for b, _ in reads:
                self._touch(b)
            self.ledger[need] = tuple(sorted({*self.ledger[need], *(b for b, _ in reads)}))
            status[need] = PLACED
            self.placed[need] += 1
        if p in inbox:  # decided from the inbox; else delivered unlogged just now
            inbox.remove(p)
        else:
            tb.remove(p)
        insort(self.tw, reply)
        if cid is not _M:
            del ids[cid]
        if rid is not _M:
            ids[rid] = (reply,)
        return True

    def release(self, ev: dict[str, Any]) -> bool:
        # Validator._ev_Release
        if not self._keys_ok(ev, "Release"):
            return False
        n = ev.get("need")
        if type(n) is not int or not 0 <= n < self.m.N:
            return False
        if self.status[n] != PLACED:
            return False
        held = self.ledger[n]
        bs = ev.get("buckets", _M)
        if bs is not _M:
            if type(bs) is not list:
                return False
            for b in bs:
                if type(b) is not int or b < 0:
                    return False
            if sorted(bs) != list(held):
                return False
        seq = self.seq
        sq = ev.get("seq", _M)
        if sq is not _M:
            if type(sq) is not list:
                return False
            B = self.B
            for x in sq:
                if type(x) is not list or len(x) != 2:
                    return False
                b, q = x
                if type(b) is not int or type(q) is not int or not 0 <= b < B or q < 0:
                    return False
                if seq[b] + (b in held) != q:
                    return False
        # TraceModel.release
        claims = self.claims
        for b in held:
            seq[b] += 1
            cl = list(claims[b])
            cl.remove(n)
            claims[b] = tuple(cl)
            self._touch(b)
        self.ledger[n] = ()
        self.status[n] = RELEASED
        return True

    def failover(self, ev: dict[str, Any]) -> bool:
        # Validator._ev_Failover: ParSyncModel.failover (no variant) is a new epoch
        if not self._keys_ok(ev, "Failover"):
            return False
        ep = ev.get("epoch", _M)
        if ep is not _M and (type(ep) is not int or ep != self.epoch + 1):
            return False
        self.epoch += 1
        return True

    # -- the network ----------------------------------------------------------------------------
    def deliver(self, ev: dict[str, Any]) -> bool:
        # Validator._ev_Deliver (contract): the one proposal the event names moves from the
        # network to the broker's inbox (its id stays: no booking)
        if not ev.keys() <= self.k_deliver and not self._meta_keys_ok(ev, "Deliver"):
            return False
        i = ev.get("id")
        if not ((type(i) is str and i) or (type(i) is int and i >= 0)):
            return False
        known = self.v.ids.get(i)
        if known is None:
            return False
        dw = ev.get("worker", _M)
        dn = ev.get("need", _M)
        if dw is not _M and (type(dw) is not int or not 0 <= dw < self.W):
            return False
        if dn is not _M and (type(dn) is not int or not 0 <= dn < self.m.N):
            return False
        tb = self.tb
        p: Proposal | None = None
        for x in known:  # _proposals(network=True)
            if (
                type(x) is Proposal
                and (dw is _M or x.worker == dw)
                and (dn is _M or x.need == dn)
                and x in tb
            ):
                if p is None:
                    p = x
                elif x != p:  # two distinct proposals match: several candidates
                    return False
        if p is None:
            return False
        tb.remove(p)
        insort(self.inbox, p)
        return True

    def _in_flight(self, ev: dict[str, Any], t: str) -> Proposal | Reply | None:
        """The one message a Drop or Duplicate names, in flight (Validator._net_fault)."""
        if not self._keys_ok(ev, t):
            return None
        i = ev.get("id")
        if not ((type(i) is str and i) or (type(i) is int and i >= 0)):
            return None
        known = self.v.ids.get(i)
        if known is None or len(known) != 1:
            return None
        x = known[0]
        if x not in (self.tb if type(x) is Proposal else self.tw):
            return None
        return x

    def drop(self, ev: dict[str, Any]) -> bool:
        x = self._in_flight(ev, "Drop")
        if x is None:
            return False
        bag: list[Any] = self.tb if type(x) is Proposal else self.tw
        bag.remove(x)
        self.faults[1] += 1
        del self.v.ids[ev["id"]]
        return True

    def duplicate(self, ev: dict[str, Any]) -> bool:
        x = self._in_flight(ev, "Duplicate")
        if x is None:
            return False
        ids = self.v.ids
        copy = ev.get("copy", _M)
        if copy is not _M:
            if not ((type(copy) is str and copy) or (type(copy) is int and copy >= 0)):
                return False
            if copy in ids:
                return False
        bag: list[Any] = self.tb if type(x) is Proposal else self.tw
        insort(bag, x)
        self.faults[2] += 1
        if copy is not _M:
            ids[copy] = ids[ev["id"]]
        return True

    # -- needs declared by events ---------------------------------------------------------------
    def need(self, ev: dict[str, Any]) -> bool:
        # Validator.declare, then _ev_Need
        if not self._keys_ok(ev, "Need"):
            return False
        m = self.m
        n = ev.get("need")
        owner = ev.get("owner")
        if type(n) is not int or n != m.N or type(owner) is not int or not 0 <= owner < m.W:
            return False
        priority = ev.get("priority", 1)
        gang = ev.get("gang", 1)
        size = ev.get("size", 1)
        if type(priority) is not int or priority < 0:
            return False
        if type(gang) is not int or gang < 1 or type(size) is not int or size < 1:
            return False
        elig = ev.get("eligible", _M)
        if elig is _M:
            eligible = m.all_buckets
        else:
            if type(elig) is not list or not elig:
                return False
            for b in elig:
                if type(b) is not int or not 0 <= b < m.B:
                    return False
            eligible = tuple(elig)
            if len(set(eligible)) != len(eligible):
                return False
        if gang > len(eligible) or len(self.status) != n:
            return False
        m.add_need(owner, priority, gang, size, eligible)
        self.ledger.append(())
        self.status.append(UNPLACED)
        self.placed.append(0)
        return True


__all__ = ["FastPath"]
