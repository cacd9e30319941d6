"""One concrete scope in Z3: the finite reading of the encoding, and the
abstraction function between Python model states and symbolic values.

* :class:`Scope` builds a :class:`~model.proofs.logic.FiniteUniverse` for a
  ``ParSyncModel`` (its Config and variant) and an exact :class:`Encoding` over
  it, pins the CONSTANTS to the Config's values, and - when given - the fields of
  a list of concrete proposals and replies (the message universe).
* :func:`values` is the abstraction function alpha: a Python ``State`` as a
  value per symbolic variable and index tuple; :meth:`Scope.pin` turns it into
  equalities on a symbolic state, :meth:`Scope.read` reads the same table back
  out of a Z3 model, so the two can be compared value by value.
* :meth:`Scope.decode_action` turns an action of the encoding with the values
  of its parameters in a Z3 model into the Python model's action, so BMC traces
  replay in the Python model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import z3  # type: ignore[import-untyped]

from parsync.model.actions import (
    Action,
    Commit,
    Crash,
    Defer,
    Deliver,
    Drop,
    Duplicate,
    Failover,
    HandleReply,
    Propose,
    Recover,
    Refresh,
    Reject,
    Release,
    Restart,
    StartCycle,
    Timeout,
)
from parsync.model.protocol import ParSyncModel
from parsync.model.state import REPLY_KINDS, Proposal, Reply, State
from parsync.proofs.encoding import RIGID, STATE_VARS, ActionEnc, Encoding, Params, Sym
from parsync.proofs.logic import FiniteUniverse

Values = dict[str, dict[tuple[int, ...], int | bool]]

_P_FIELDS = (
    "p_w",
    "p_n",
    "p_prio",
    "p_epoch",
    "p_cycle",
    "p_att",
    "p_fresh",
    "p_tch",
    "p_rd",
    "p_first",
)
_R_FIELDS = ("r_w", "r_n", "r_kind", "r_cycle", "r_att", "r_bk")


def need_rank(m: ParSyncModel) -> list[int]:
    """rank[n]: position of need n in the fixed order (-priority, id)."""
    order = sorted(range(m.N), key=lambda n: (-m.prio[n], n))
    rank = [0] * m.N
    for i, n in enumerate(order):
        rank[n] = i
    return rank


def proposal_fields(m: ParSyncModel, p: Proposal) -> dict[str, dict[tuple[int, ...], int | bool]]:
    bs = [b for b, _ in p.reads]
    if bs != sorted(bs) or len(set(bs)) != len(bs):
        raise ValueError(f"proposal reads are not in bucket order: {p}")
    rd = dict(p.reads)
    return {
        "p_w": {(): p.worker},
        "p_n": {(): p.need},
        "p_prio": {(): p.priority},
        "p_epoch": {(): p.epoch},
        "p_cycle": {(): p.cycle},
        "p_att": {(): p.attempt},
        "p_fresh": {(): p.fresh},
        "p_tch": {(b,): b in rd for b in range(m.B)},
        "p_rd": {(b,): rd.get(b, 0) for b in range(m.B)},
        "p_first": {(): bs[0] if bs else 0},
    }


def reply_fields(m: ParSyncModel, r: Reply) -> dict[str, dict[tuple[int, ...], int | bool]]:
    return {
        "r_w": {(): r.worker},
        "r_n": {(): r.need},
        "r_kind": {(): r.kind},
        "r_cycle": {(): r.cycle},
        "r_att": {(): r.attempt},
        "r_bk": {(b,): b in r.buckets for b in range(m.B)},
    }


def values(
    m: ParSyncModel, s: State, proposals: Sequence[Proposal], replies: Sequence[Reply]
) -> Values:
    """alpha(s): the symbolic value of every variable at every index (as ints/bools).

    ``proposals``/``replies`` are the message universes (element i stands for
    the i-th message); every message in flight must be among them.
    """
    br = s.broker
    B, N, P = m.B, m.N, m.P
    rank = need_rank(m)
    v: Values = {}

    def put(name: str, idx: tuple[int, ...], val: int | bool) -> None:
        v.setdefault(name, {})[idx] = val

    put("epoch", (), br.epoch)

    def broker_part(prefix: str, seq: Any, claims: Any, ledger: Any, status: Any) -> None:
        for b in range(B):
            put(prefix + "seq", (b,), seq[b])
            put(prefix + "used", (b,), sum(m.size[n] for n in claims[b]))
            if m.v_count_claims:  # the variant's counter: the number of claims on b
                put(prefix + "nclaims", (b,), len(claims[b]))
            for n in range(N):
                put(prefix + "hold", (n, b), claims[b].count(n))
                put(prefix + "ledger", (n, b), b in ledger[n])
        for n in range(N):
            put(prefix + "status", (n,), status[n])

    broker_part("", br.seq, br.claims, br.ledger, br.status)
    if m.v_lagging:
        if br.replica is None:
            raise ValueError("the lagging-replica variant keeps a replica in every state")
        broker_part("r_", *br.replica)
    for wi, w in enumerate(s.workers):
        put("up", (wi,), w.up)
        put("cycle", (wi,), w.cycle)
        put("mode", (wi,), w.mode)
        put("wepoch", (wi,), w.epoch)
        for p in range(P):
            snaps = w.view[p]
            put("fresh", (wi, p), w.fresh_at[p])
            put("nsnap", (wi, p), len(snaps))
            put("vat", (wi, p), snaps[-1].read_at if snaps else 0)
            put("rr", (wi, p), bool((w.reread >> p) & 1))
        for b in range(B):
            e = m.view_entry(w, b)
            put("vseq", (wi, b), e[0] if e else 0)
            put("vused", (wi, b), e[1] if e else 0)
        # the reference keeps pending in the fixed need order; the contract moves the
        # need taken up to the head and keeps the rest in order
        ordered = list(w.pending[1:] if m.contract else w.pending)
        if ordered != sorted(ordered, key=lambda n: rank[n]) or len(set(w.pending)) != len(
            w.pending
        ):
            raise ValueError(f"pending is not in the fixed need order: {w.pending}")
        for n in range(N):
            put("pend", (wi, n), n in w.pending)
            put("known", (wi, n), bool((w.known >> n) & 1))
        put("waiting", (wi,), w.waiting)
        put("retries", (wi,), w.retries)
        put("attempts", (wi,), w.attempts)
        if m.contract:
            parked = {e[0]: e for e in w.parked}
            if len(parked) != len(w.parked):
                raise ValueError(f"a need is parked twice: {w.parked}")
            put("sent", (wi,), w.sent)
            for n in range(N):
                put("hd", (wi, n), bool(w.pending) and w.pending[0] == n)
                pe = parked.get(n)
                put("pk", (wi, n), pe is not None)
                put("pkr", (wi, n), pe[1] if pe else 0)
                put("pka", (wi, n), pe[2] if pe else 0)
                put("pks", (wi, n), pe[3] if pe else 0)
    for msg in (*s.to_broker, *s.inbox):
        if msg not in proposals:
            raise ValueError(f"proposal outside the message universe: {msg}")
    for rep in s.to_workers:
        if rep not in replies:
            raise ValueError(f"reply outside the message universe: {rep}")
    for i, msg in enumerate(proposals):
        put("pc", (i,), s.to_broker.count(msg))
        if m.contract:  # the broker's inbox
            put("ic", (i,), s.inbox.count(msg))
    for i, rep in enumerate(replies):
        put("rc", (i,), s.to_workers.count(rep))
    put("crashes", (), s.faults[0])
    put("drops", (), s.faults[1])
    put("dups", (), s.faults[2])
    if m.contract:
        put("timeouts", (), s.faults[3])
        put("xreads", (), s.faults[4])
    if m.v_dedup_wc:
        for wi in range(m.W):
            for c in range(m.max_cycle + 1):
                put("wctag", (wi, c), (wi, c) in br.tags)
    for n in range(N):
        put("placed", (n,), s.placed[n])
    return v


class Scope:
    """The encoding read in one concrete scope (finite sorts, exact gangs)."""

    def __init__(
        self,
        model: ParSyncModel,
        proposals: Sequence[Proposal] | int,
        replies: Sequence[Reply] | int,
        *,
        exact: bool = True,
        bv_width: int | None = None,
    ) -> None:
        self.m = model
        self.proposals: list[Proposal] | None = (
            None if isinstance(proposals, int) else list(proposals)
        )
        self.replies: list[Reply] | None = None if isinstance(replies, int) else list(replies)
        kp = proposals if isinstance(proposals, int) else len(proposals)
        kr = replies if isinstance(replies, int) else len(replies)
        self.kp, self.kr = kp, kr
        self.u = FiniteUniverse(
            {"W": model.W, "B": model.B, "N": model.N, "PM": kp, "RM": kr},
            model.P,
            bv_width=bv_width,
            cycles=model.max_cycle + 1,
        )
        self.enc = Encoding(self.u, model.variant, exact=exact, policy=model.policy)
        self.enc.scope_needs = [(model.eligible[n], model.gang[n]) for n in range(model.N)]
        self.exact = exact

    # --- elements ------------------------------------------------------------------
    def el(self, sort: str, i: int) -> Any:
        return self.u.elems(sort)[i]

    def _idx_elems(self, dom: tuple[str, ...], idx: tuple[int, ...]) -> list[Any]:
        return [self.el(d, i) for d, i in zip(dom, idx, strict=True)]

    def _z(self, val: int | bool, rng: str) -> Any:
        if rng == "Int":
            return self.u.num(int(val))
        if rng == "Bool":
            return z3.BoolVal(bool(val))
        return self.el(rng, int(val))

    # --- the constants -------------------------------------------------------------
    def constants(self) -> Values:
        m = self.m
        c = m.config
        rank = need_rank(m)
        v: Values = {
            "P": {(): m.P},
            "R": {(): m.R},
            "max_cycle": {(): m.max_cycle},
            "max_crash": {(): m.max_crash},
            "max_drop": {(): m.max_drop},
            "max_dup": {(): m.max_dup},
            "max_failover": {(): m.max_failover},
            "init_mode": {(): m.initial_mode},
            "adaptive": {(): m.adaptive},
            "cap": {(b,): m.cap[b] for b in range(m.B)},
            "part": {(b,): m.part[b] for b in range(m.B)},
            "bidx": {(b,): b for b in range(m.B)},
            "size": {(n,): m.size[n] for n in range(m.N)},
            "prio": {(n,): m.prio[n] for n in range(m.N)},
            "arrival": {(n,): m.arrival[n] for n in range(m.N)},
            "gang": {(n,): m.gang[n] for n in range(m.N)},
            "rank": {(n,): rank[n] for n in range(m.N)},
            "owner": {(n,): m.owner[n] for n in range(m.N)},
            "elig": {(n, b): b in c.eligible(n) for n in range(m.N) for b in range(m.B)},
        }
        if m.contract:
            v["max_timeout"] = {(): m.max_timeout}
            v["max_xread"] = {(): m.max_extra_read}
        return v

    def structure(self) -> list[Any]:
        """Fix the constants (and the message fields, when known) to the scope's values.

        The values are pinned into the finite tables (folded into every formula);
        the returned list of extra constraints is empty.
        """
        spec = {r.name: r for r in RIGID}
        K = self.enc.K
        for name, tab in self.constants().items():
            f = getattr(K, name)
            for idx, val in tab.items():
                f.pin(idx, self._z(val, spec[name].rng))
        msgs_by_sort: dict[str, list[Proposal] | list[Reply] | None] = {
            "PM": self.proposals,
            "RM": self.replies,
        }
        for sort, msgs in msgs_by_sort.items():
            if msgs is None:
                continue
            for i in range(len(self.u.elems(sort))):
                pad: Proposal | Reply = _PAD_P if sort == "PM" else _PAD_R
                msg = msgs[i] if i < len(msgs) else pad  # padding: never in flight
                ftabs = (
                    proposal_fields(self.m, msg)
                    if isinstance(msg, Proposal)
                    else reply_fields(self.m, msg)
                )
                for name, ftab in ftabs.items():
                    f = getattr(K, name)
                    for idx, val in ftab.items():
                        f.pin((i, *idx), self._z(val, spec[name].rng))
        return []

    def pin_values(self, S: Sym, v: Values) -> None:
        """Fold a known state into S's tables (its formulas then simplify)."""
        spec = {x.name: x for x in STATE_VARS}
        for name, tab in v.items():
            f = getattr(S, name)
            for idx, val in tab.items():
                f.pin(idx, self._z(val, spec[name].rng))

    # --- states --------------------------------------------------------------------
    def values(self, s: State) -> Values:
        assert self.proposals is not None and self.replies is not None
        v = values(self.m, s, self.proposals, self.replies)
        # padding message elements are never in flight
        for i in range(len(self.proposals), len(self.u.elems("PM"))):
            v.setdefault("pc", {})[(i,)] = 0
            if self.m.contract:
                v.setdefault("ic", {})[(i,)] = 0
        for i in range(len(self.replies), len(self.u.elems("RM"))):
            v.setdefault("rc", {})[(i,)] = 0
        return v

    def pin(self, S: Sym, v: Values) -> list[Any]:
        spec = {x.name: x for x in STATE_VARS}
        cs = []
        for name, tab in v.items():
            f = getattr(S, name)
            for idx, val in tab.items():
                cs.append(f(*self._idx_elems(f.dom, idx)) == self._z(val, spec[name].rng))
        return cs

    def pairs(self, S: Sym, v: Values) -> list[tuple[Any, Any]]:
        """(entry, value) substitution pairs putting the values ``v`` into state S."""
        spec = {x.name: x for x in STATE_VARS}
        out = []
        for name, tab in v.items():
            f = getattr(S, name)
            for idx, val in tab.items():
                out.append((f.entry(idx), self._z(val, spec[name].rng)))
        return out

    def differs(self, S: Sym, v: Values) -> Any:
        return z3.Not(z3.And(*self.pin(S, v)))

    def all_indices(self, dom: tuple[str, ...]) -> list[tuple[int, ...]]:
        import itertools

        return list(itertools.product(*[range(len(self.u.elems(d))) for d in dom]))

    def read(self, model: z3.ModelRef, S: Sym) -> Values:
        """The symbolic state's values in a Z3 model (same layout as :meth:`values`)."""
        spec = {x.name: x for x in STATE_VARS}
        out: Values = {}
        for name in self.enc.var_names():
            f = getattr(S, name)
            tab: dict[tuple[int, ...], int | bool] = {}
            for idx in self.all_indices(f.dom):
                val = model.eval(f(*self._idx_elems(f.dom, idx)), model_completion=True)
                tab[idx] = _py(val, spec[name].rng, self.u)
            out[name] = tab
        return out

    # --- messages and actions out of a model -------------------------------------------
    def read_proposal(self, model: z3.ModelRef, e: Any) -> Proposal:
        K = self.enc.K

        def ev(t: Any) -> Any:
            return model.eval(t, model_completion=True)

        reads = []
        for j, b in enumerate(self.u.elems("B")):
            if z3.is_true(ev(K.p_tch(e, b))):
                reads.append((j, as_int(ev(K.p_rd(e, b)))))
        return Proposal(
            worker=self.u.index("W", ev(K.p_w(e))),
            need=self.u.index("N", ev(K.p_n(e))),
            priority=as_int(ev(K.p_prio(e))),
            epoch=as_int(ev(K.p_epoch(e))),
            reads=tuple(reads),
            cycle=as_int(ev(K.p_cycle(e))),
            attempt=as_int(ev(K.p_att(e))),
            fresh=as_int(ev(K.p_fresh(e))),
        )

    def read_reply(self, model: z3.ModelRef, e: Any) -> Reply:
        K = self.enc.K

        def ev(t: Any) -> Any:
            return model.eval(t, model_completion=True)

        return Reply(
            worker=self.u.index("W", ev(K.r_w(e))),
            need=self.u.index("N", ev(K.r_n(e))),
            kind=as_int(ev(K.r_kind(e))),
            cycle=as_int(ev(K.r_cycle(e))),
            attempt=as_int(ev(K.r_att(e))),
            buckets=tuple(
                j for j, b in enumerate(self.u.elems("B")) if z3.is_true(ev(K.r_bk(e, b)))
            ),
        )

    def decode_action(self, model: z3.ModelRef, a: ActionEnc, params: Params) -> Action:
        def ev(t: Any) -> Any:
            return model.eval(t, model_completion=True)

        return action_of(
            a,
            params,
            lambda sort, x: self.u.index(sort, ev(x)),
            lambda m: self.read_proposal(model, ev(m)),
            lambda r: self.read_reply(model, ev(r)),
        )

    def concrete_params(self, a: ActionEnc, act: Action, s: State, t: State) -> Params:
        """The encoding's parameters for a concrete action of the Python model."""
        assert self.proposals is not None and self.replies is not None
        m = self.m
        rank = need_rank(m)
        out: Params = {}
        pn = dict(a.params)
        if "w" in pn:
            out["w"] = self.el("W", act.w)  # type: ignore[union-attr]
        if "g" in pn:  # contract: the need taken up next (any element if none is left)
            wi = act.w if hasattr(act, "w") else act.r.worker  # type: ignore[union-attr]
            tp = t.workers[wi].pending
            out["g"] = self.el("N", tp[0] if tp else 0)
        if isinstance(act, Propose):
            w = s.workers[act.w]
            out["n"] = self.el("N", w.pending[0] if act.n < 0 else act.n)
            if "h" in pn:
                out["h"] = self.el("N", w.pending[0])
            new = [x for x in t.to_broker if t.to_broker.count(x) > s.to_broker.count(x)]
            out["m"] = self.el("PM", self.proposals.index(new[0]))
        if isinstance(act, Defer):
            w = s.workers[act.w]
            out["n"] = self.el("N", w.pending[0] if act.n < 0 else act.n)
        if isinstance(act, Refresh):
            out["q"] = self.u.num(act.p)
        if isinstance(act, Reject):
            out["m"] = self.el("PM", self.proposals.index(act.m))
            new_r = [x for x in t.to_workers if t.to_workers.count(x) > s.to_workers.count(x)]
            out["r"] = self.el("RM", self.replies.index(new_r[0]))
        if isinstance(act, Deliver):
            out["m"] = self.el("PM", self.proposals.index(act.m))
        if isinstance(act, Commit):
            out["m"] = self.el("PM", self.proposals.index(act.m))
            new_r = [x for x in t.to_workers if t.to_workers.count(x) > s.to_workers.count(x)]
            out["r"] = self.el("RM", self.replies.index(new_r[0]))
        if isinstance(act, HandleReply):
            out["r"] = self.el("RM", self.replies.index(act.r))
            w = s.workers[act.r.worker]
            head = w.pending[0] if w.pending else min(range(m.N), key=lambda n: rank[n])
            out["h"] = self.el("N", head)
        if isinstance(act, Release):
            out["n"] = self.el("N", act.n)
        if isinstance(act, (Drop, Duplicate)):
            if isinstance(act.m, Proposal):
                out["m"] = self.el("PM", self.proposals.index(act.m))
            else:
                out["r"] = self.el("RM", self.replies.index(act.m))
        return out


_PAD_P = Proposal(worker=0, need=0, priority=-1, epoch=-1, reads=(), cycle=-1, attempt=-1, fresh=-1)
_PAD_R = Reply(worker=0, need=0, kind=-1, cycle=-1, attempt=-1, buckets=())


def action_of(
    a: ActionEnc,
    params: Params,
    index: Callable[[str, Any], int],
    proposal: Callable[[Any], Proposal],
    reply: Callable[[Any], Reply],
) -> Action:
    """The model's action for sub-action ``a`` with the solver's ``params``.

    Shared by BMC traces and decoded CTIs, which differ only in how they read a
    parameter: ``index(sort, x)`` the element index of ``x``, ``proposal(m)`` /
    ``reply(r)`` the message an element stands for.
    """
    name = a.action
    if name == "StartCycle":
        return StartCycle(index("W", params["w"]))
    if name == "Propose":
        bs = tuple(b for b, _ in proposal(params["m"]).reads)
        if "h" in params:  # contract: the need, unless it is the one in hand
            n, h = index("N", params["n"]), index("N", params["h"])
            return Propose(index("W", params["w"]), bs, -1 if n == h else n)
        return Propose(index("W", params["w"]), bs)
    if name == "Defer":
        if a.name == "Defer[other]":
            return Defer(index("W", params["w"]), index("N", params["n"]))
        return Defer(index("W", params["w"]))
    if name == "Reject":
        return Reject(proposal(params["m"]), reply(params["r"]).kind)
    if name == "Timeout":
        return Timeout(index("W", params["w"]))
    if name == "Restart":
        return Restart(index("W", params["w"]))
    if name == "Refresh":
        return Refresh(index("W", params["w"]), index("P", params["q"]))
    if name == "Commit":
        return Commit(proposal(params["m"]))
    if name == "Deliver":
        return Deliver(proposal(params["m"]))
    if name == "HandleReply":
        return HandleReply(reply(params["r"]))
    if name == "Release":
        return Release(index("N", params["n"]))
    if name == "Crash":
        return Crash(index("W", params["w"]))
    if name == "Recover":
        return Recover(index("W", params["w"]))
    if name in ("Drop", "Duplicate"):
        msg: Proposal | Reply = proposal(params["m"]) if "m" in params else reply(params["r"])
        return Drop(msg) if name == "Drop" else Duplicate(msg)
    if name == "Failover":
        return Failover()
    raise KeyError(name)


def as_int(val: Any) -> int:
    """A Z3 number value (Int or bit-vector, read as signed) as a Python int."""
    if z3.is_bv_value(val):
        return int(val.as_signed_long())
    return int(val.as_long())


def _py(val: Any, rng: str, u: FiniteUniverse) -> int | bool:
    if rng == "Int":
        return as_int(val)
    if rng == "Bool":
        return bool(z3.is_true(val))
    return u.index(rng, val)


def sub_actions_of(enc: Encoding, act: Action, s: State) -> list[ActionEnc]:
    """The encoding's sub-actions that may encode the concrete action ``act`` in ``s``."""
    name = type(act).__name__
    out = [a for a in enc.actions if a.action == name]
    if isinstance(act, (Drop, Duplicate)):
        kind = "proposal" if isinstance(act.m, Proposal) else "reply"
        out = [a for a in out if a.name.endswith(f"[{kind}]")]
    if isinstance(act, Reject):
        out = [a for a in out if a.name == f"Reject[{REPLY_KINDS[act.kind]}]"]
    if isinstance(act, Defer) and enc.contract:
        out = [a for a in out if a.name == ("Defer[head]" if act.n < 0 else "Defer[other]")]
    if isinstance(act, StartCycle):
        up = s.workers[act.w].up
        out = [a for a in out if a.name == ("StartCycle[up]" if up else "StartCycle[down]")]
    return out
