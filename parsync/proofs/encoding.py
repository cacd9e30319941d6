"""The ParSync transition relation in Z3, one encoding per action.

This is the same protocol as ``model/protocol.py``, written as formulas over a
pre-state ``S`` and a post-state ``T`` (TLA+ style: guards, then the new values,
then - generated - every variable left unchanged). It is written once against a
:class:`~model.proofs.logic.Universe`, so the same text is read

* parametrically (uninterpreted sorts of any size, symbolic capacities, sizes,
  priorities, partition map, P, R, cycle and fault bounds, strategy) by the
  inductive proofs, and
* in one concrete scope (finite enumerated sorts) by bounded model checking and
  by the differential test that ties this relation to the Python model.

Symbolic VARIABLES (see :data:`STATE_VARS`) mirror ``model/state.py``:

* broker: ``epoch``, ``seq[b]``, ``hold[n,b]`` (multiplicity of need n in
  ``claims[b]``), ``used[b]`` (the claimed units of b), ``ledger[n,b]``,
  ``status[n]``; the lagging replica ``r_*`` only in the variant that keeps one,
  the claim counter ``nclaims[b]`` only in used-counts-claims;
* worker w: ``up``, ``cycle``, ``mode``, ``wepoch``, per partition ``fresh``,
  ``nsnap`` (number of carry-forward snapshots) and ``vat`` (ghost read_at of
  the latest one), per bucket ``vseq``/``vused`` (the latest snapshot's entry),
  ``pend[w,n]`` (the pending needs; their order is the fixed ``rank`` of needs),
  ``waiting``, ``retries``, ``attempts``, ``known[w,n]``;
* network: ``pc[m]`` / ``rc[r]``, the multiplicity of each proposal / reply in
  the bag; the messages themselves are elements of the sorts ``PM``/``RM``
  whose fields are rigid functions (``p_w``, ``p_n``, ``p_rd`` ...), so a bag
  is a count per message and sending picks a message with the right fields;
* the broker's inbox (contract only): ``ic[m]``, the copies of proposal m the
  broker has received (``Deliver`` moves one from ``pc``); Commit and Reject
  take from it and priority on conflict looks only at it;
* ``crashes``, ``drops``, ``dups``; ghost ``placed[n]``.

Abstractions, each stated where it is used and in the proof report:

* ``used[b]`` is a state variable, not ``sum(size[n] * hold[n,b])``: a sum over
  an unbounded sort is not first-order. Every action changes ``hold`` for at
  most one need and ``used`` by exactly ``size`` times that change; the
  obligation ``UsedTracksClaims`` proves this per action, so by induction from
  Init (all zero) ``used`` is the sum in every reachable state. The finite
  reading (BMC) states PS-1 on the real sum.
* The same for the variant used-counts-claims, whose reads report a bucket's
  number of claims: ``nclaims[b]`` (present only in that variant) tracks
  ``sum(hold[n,b])``, changed by Commit and Release by exactly the change of
  hold; UsedTracksClaims checks it alongside ``used``.
* Older carry-forward snapshots are kept as a count (``nsnap``): the protocol
  only reads the latest one, and PS-10 only counts them.
* Parametric only: which bucket sets a gang may take is over-approximated (any
  non-empty set of eligible buckets that pass the worker's checks; the gang's
  cardinality is not first-order), and ``Defer`` is allowed whenever a head
  need exists. This only adds behaviours, so the safety proofs stay sound; the
  finite reading (``exact=True``) states the gang rule exactly like the Python
  model (``ParSyncModel.fits``: exactly ``gang`` eligible buckets, as cardinality
  constraints; the bucket sets are never enumerated), and the differential test
  checks both readings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3  # type: ignore[import-untyped]

from parsync.model.state import (
    ALREADY,
    COMMITTED,
    CONFLICT,
    FENCED,
    LATENCY,
    PLACED,
    QUALITY,
    RELEASED,
)
from parsync.model.state import UNPLACED as UNPLACED
from parsync.proofs.logic import Fn, Universe

BOOL = z3.BoolSort()

# --- VARIABLES ---------------------------------------------------------------------


@dataclass(frozen=True)
class VarSpec:
    name: str
    dom: tuple[str, ...]
    rng: str  # "Int" | "Bool" | a sort name
    doc: str
    lagging_only: bool = False
    contract_only: bool = False  # only in the contract policy's encoding
    dedup_wc_only: bool = False  # only in the dedup-by-worker-cycle variant (contract)
    count_claims_only: bool = False  # only in the used-counts-claims variant


STATE_VARS: tuple[VarSpec, ...] = (
    VarSpec("epoch", (), "Int", "broker epoch"),
    VarSpec("seq", ("B",), "Int", "per-bucket sequence number"),
    VarSpec("hold", ("N", "B"), "Int", "multiplicity of need n in claims[b]"),
    VarSpec("used", ("B",), "Int", "claimed units of bucket b (tracks sum size*hold)"),
    # The used-counts-claims variant reports a bucket's number of claims (sum over n of
    # hold[n,b]) to a read. Like sum(size*hold), that count is a sum over the unbounded
    # sort of needs, no first-order term; so it is tracked the way ``used`` is, as a
    # state variable changed by exactly what changes hold (UsedTracksClaims checks both).
    # Only the variant has it: the design's relation, its obligations and the report
    # are exactly what they are without it.
    VarSpec(
        "nclaims",
        ("B",),
        "Int",
        "number of claims on bucket b (tracks sum hold; used-counts-claims only)",
        count_claims_only=True,
    ),
    VarSpec("ledger", ("N", "B"), "Bool", "attribution ledger: b in ledger[n]"),
    VarSpec("status", ("N",), "Int", "UNPLACED / PLACED / RELEASED"),
    VarSpec("r_seq", ("B",), "Int", "lagging replica: seq", True),
    VarSpec("r_hold", ("N", "B"), "Int", "lagging replica: claims", True),
    VarSpec("r_used", ("B",), "Int", "lagging replica: used", True),
    VarSpec("r_ledger", ("N", "B"), "Bool", "lagging replica: ledger", True),
    VarSpec("r_status", ("N",), "Int", "lagging replica: status", True),
    VarSpec("up", ("W",), "Bool", "worker is up"),
    VarSpec("cycle", ("W",), "Int", "worker cycle"),
    VarSpec("mode", ("W",), "Int", "LATENCY / QUALITY"),
    VarSpec("wepoch", ("W",), "Int", "broker epoch of the worker's latest read"),
    VarSpec("fresh", ("W", "P"), "Int", "fresh_at per partition"),
    VarSpec("nsnap", ("W", "P"), "Int", "number of carry-forward snapshots of p"),
    VarSpec("vat", ("W", "P"), "Int", "ghost read_at of the latest snapshot of p"),
    VarSpec("vseq", ("W", "B"), "Int", "seq of b in the latest snapshot"),
    VarSpec("vused", ("W", "B"), "Int", "used of b in the latest snapshot"),
    VarSpec("pend", ("W", "N"), "Bool", "n is pending (order: rank)"),
    VarSpec("waiting", ("W",), "Bool", "a proposal for the head need is outstanding"),
    VarSpec("retries", ("W",), "Int", "the worker's retry counter"),
    VarSpec("attempts", ("W",), "Int", "ghost: proposals sent for the head need this cycle"),
    VarSpec("known", ("W", "N"), "Bool", "the worker knows n is placed"),
    VarSpec("pc", ("PM",), "Int", "copies of proposal m in flight"),
    VarSpec(
        "ic",
        ("PM",),
        "Int",
        "copies of proposal m in the broker's inbox (received, not decided)",
        contract_only=True,
    ),
    VarSpec("rc", ("RM",), "Int", "copies of reply r in flight"),
    VarSpec("crashes", (), "Int", "crash faults used"),
    VarSpec("drops", (), "Int", "drop faults used"),
    VarSpec("dups", (), "Int", "duplicate faults used"),
    VarSpec("placed", ("N",), "Int", "ghost: times n was committed"),
    VarSpec(
        "rr",
        ("W", "P"),
        "Bool",
        "ghost (PS-11): a Conflict the worker took named p, not read again since",
    ),
    # the contract policy's extra state (model/state.py Worker.sent, Worker.parked,
    # the head of pending, State.faults[3:])
    VarSpec("hd", ("W", "N"), "Bool", "n is pending[0], the need in hand", contract_only=True),
    VarSpec("sent", ("W",), "Int", "ghost: proposals of the need in hand", contract_only=True),
    VarSpec("pk", ("W", "N"), "Bool", "n is set aside this cycle (parked)", contract_only=True),
    VarSpec(
        "pkr", ("W", "N"), "Int", "parked n: its retries (0 if not parked)", contract_only=True
    ),
    VarSpec(
        "pka", ("W", "N"), "Int", "parked n: its attempts (0 if not parked)", contract_only=True
    ),
    VarSpec("pks", ("W", "N"), "Int", "parked n: its sent (0 if not parked)", contract_only=True),
    VarSpec("timeouts", (), "Int", "timeouts used", contract_only=True),
    VarSpec(
        "wctag",
        ("W", "CY"),
        "Bool",
        "broker: a proposal of (w, cycle) was committed (dedup-by-worker-cycle's memory)",
        contract_only=True,
        dedup_wc_only=True,
    ),
    VarSpec("xreads", (), "Int", "extra reads used", contract_only=True),
)

#: the contract's worker-local bookkeeping of one need (parked counters)
PARK_VARS = (("pkr", "retries"), ("pka", "attempts"), ("pks", "sent"))

#: The broker's durable state: what the lagging replica copies and Failover restores.
#: The used-counts-claims counter ``nclaims`` is not among them: a model has at most
#: one variant, so the replica (lagging-replica-failover) and the counter never meet,
#: and under used-counts-claims Failover keeps claims and counter alike.
BROKER_VARS = ("seq", "hold", "used", "ledger", "status")

# Rigid symbols: the CONSTANTS of a Config, and the fields of messages.
RIGID: tuple[VarSpec, ...] = (
    VarSpec("P", (), "Int", "number of partitions"),
    VarSpec("R", (), "Int", "retry budget"),
    VarSpec("max_cycle", (), "Int", "cycle bound"),
    VarSpec("max_crash", (), "Int", "crash fault bound"),
    VarSpec("max_drop", (), "Int", "drop fault bound"),
    VarSpec("max_dup", (), "Int", "duplicate fault bound"),
    VarSpec("max_failover", (), "Int", "failover bound"),
    VarSpec("init_mode", (), "Int", "initial mode (strategy)"),
    VarSpec("adaptive", (), "Bool", "strategy is adaptive"),
    VarSpec("cap", ("B",), "Int", "capacity"),
    VarSpec("part", ("B",), "Int", "partition_of"),
    VarSpec("bidx", ("B",), "Int", "bucket index (order of a gang's reads)"),
    VarSpec("size", ("N",), "Int", "units per bucket"),
    VarSpec("prio", ("N",), "Int", "priority"),
    VarSpec("arrival", ("N",), "Int", "arrival cycle"),
    VarSpec("gang", ("N",), "Int", "gang size"),
    VarSpec("rank", ("N",), "Int", "position in the fixed order (-priority, id)"),
    VarSpec("owner", ("N",), "W", "owning worker"),
    VarSpec("elig", ("N", "B"), "Bool", "b is eligible for n"),
    VarSpec("max_timeout", (), "Int", "timeout budget", contract_only=True),
    VarSpec("max_xread", (), "Int", "extra read budget", contract_only=True),
    VarSpec("p_w", ("PM",), "W", "proposal: worker"),
    VarSpec("p_n", ("PM",), "N", "proposal: need"),
    VarSpec("p_prio", ("PM",), "Int", "proposal: priority"),
    VarSpec("p_epoch", ("PM",), "Int", "proposal: epoch"),
    VarSpec("p_cycle", ("PM",), "Int", "proposal: cycle (tag)"),
    VarSpec("p_att", ("PM",), "Int", "proposal: attempt (tag)"),
    VarSpec("p_fresh", ("PM",), "Int", "proposal: partition read fresh this cycle"),
    VarSpec("p_tch", ("PM", "B"), "Bool", "proposal: touches b"),
    VarSpec("p_rd", ("PM", "B"), "Int", "proposal: seqno read for b"),
    VarSpec("p_first", ("PM",), "B", "proposal: first bucket of its reads"),
    VarSpec("r_w", ("RM",), "W", "reply: worker"),
    VarSpec("r_n", ("RM",), "N", "reply: need"),
    VarSpec("r_kind", ("RM",), "Int", "reply: kind"),
    VarSpec("r_cycle", ("RM",), "Int", "reply: cycle (tag)"),
    VarSpec("r_att", ("RM",), "Int", "reply: attempt (tag)"),
    VarSpec("r_bk", ("RM", "B"), "Bool", "reply: conflicted bucket b"),
)


def _rng(u: Universe, r: str) -> z3.SortRef:
    if r == "Int":
        return u.int_sort()
    if r == "Bool":
        return BOOL
    return u.sort(r)


def _present(v: VarSpec, lagging: bool, contract: bool, dedup_wc: bool, count_claims: bool) -> bool:
    """Variable ``v`` is in the state of an encoding with these switches."""
    return (
        (lagging or not v.lagging_only)
        and (contract or not v.contract_only)
        and (dedup_wc or not v.dedup_wc_only)
        and (count_claims or not v.count_claims_only)
    )


class Sym:
    """One symbolic state: a function per VARIABLE, named ``<var>@<tag>``."""

    def __init__(
        self,
        u: Universe,
        tag: str,
        lagging: bool,
        contract: bool = False,
        dedup_wc: bool = False,
        count_claims: bool = False,
    ) -> None:
        self.tag = tag
        self.fns: dict[str, Fn] = {}
        for v in STATE_VARS:
            if not _present(v, lagging, contract, dedup_wc, count_claims):
                continue
            self.fns[v.name] = Fn(u, f"{v.name}@{tag}{u.suffix()}", v.dom, _rng(u, v.rng), v.rng)

    def __getattr__(self, name: str) -> Fn:
        try:
            return self.__dict__["fns"][name]  # type: ignore[no-any-return]
        except KeyError:
            raise AttributeError(name) from None


class Consts:
    """The rigid symbols (CONSTANTS and message fields)."""

    def __init__(self, u: Universe, contract: bool = False) -> None:
        self.fns: dict[str, Fn] = {
            v.name: Fn(u, f"{v.name}{u.suffix()}", v.dom, _rng(u, v.rng), v.rng)
            for v in RIGID
            if contract or not v.contract_only
        }

    def __getattr__(self, name: str) -> Fn:
        try:
            return self.__dict__["fns"][name]  # type: ignore[no-any-return]
        except KeyError:
            raise AttributeError(name) from None


# --- actions -------------------------------------------------------------------------

Params = dict[str, Any]
Update = Callable[..., Any]


@dataclass(frozen=True)
class ActionEnc:
    """One (sub-)action: its name, the model action it encodes, its parameters."""

    name: str  # e.g. "Commit[Conflict]"
    action: str  # the model's action name, e.g. "Commit"
    params: tuple[tuple[str, str], ...]  # (parameter, sort)
    build: Callable[[Sym, Sym, Params], tuple[Any, dict[str, Update]]]


class _WRec:
    """The new values of one worker's fields, built up step by step."""

    def __init__(self, S: Sym, w: Any) -> None:
        self.S = S
        self.w = w
        self.new: dict[str, Update] = {}

    def get(self, var: str) -> Update:
        if var in self.new:
            return self.new[var]
        f = getattr(self.S, var)
        w = self.w
        return lambda *ix: f(w, *ix)

    def set(self, var: str, fn: Update) -> None:
        self.new[var] = fn

    def setv(self, var: str, value: Any) -> None:
        self.new[var] = lambda: value

    def updates(self) -> dict[str, Update]:
        out: dict[str, Update] = {}
        for var, fn in self.new.items():
            old = getattr(self.S, var)
            out[var] = _worker_update(old, self.w, fn)
        return out


def _new_value(upd: dict[str, Update], name: str, args: list[Any], old: Any) -> Any:
    """A sub-action's new value of one entry (its old value if it leaves the variable)."""
    return upd[name](*args) if name in upd else old


def _worker_update(old: Fn, w: Any, fn: Update) -> Update:
    return lambda x, *ix: z3.If(x == w, fn(*ix), old(x, *ix))


#: The known-bad variants (model/variants.py) this encoding has a switch for.
ENCODED_VARIANTS: frozenset[str] = frozenset(
    {
        "validate-fresh-partition-only",
        "gang-fit-first-bucket-only",
        "gang-second-bucket-no-bump",
        "rotation-skips-partition",
        "recovered-keeps-view",
        "release-keeps-ledger",
        "no-dedup",
        "no-epoch-fencing",
        "lagging-replica-failover",
        "priority-ignored",
        "retry-off-by-one",
        "unbounded-carry-forward",
        # the capacity mistakes (model/variants.py CAPACITY_VARIANTS): the fit test, and
        # what a read reports as used (the variant's own claim counter ``nclaims``)
        "room-as-used-below-cap",
        "used-counts-claims",
        # properties on ground truth (model/variants.py GROUND_TRUTH_VARIANTS)
        "propose-stamps-broker-seqno",
        "no-reread-on-conflict",
    }
)

#: The contract's own known-bad variants (model/variants.py) with a switch here
#: (the contract encoding only: they change steps the reference never takes).
CONTRACT_VARIANTS: frozenset[str] = frozenset(
    {"retry-resets-tag", "timeout-reuses-tag", "dedup-by-worker-cycle"}
)

#: The policies the encoding reads (model/protocol.py POLICIES).
ENCODED_POLICIES: tuple[str, ...] = ("reference", "contract")


class Encoding:
    """The ParSync transition relation for one variant, over one universe.

    ``exact`` (finite universes only) makes the gang combinations and the
    Defer guard exact, as in the Python model; without it they are the
    parametric over-approximation (see the module docstring).
    """

    def __init__(
        self,
        u: Universe,
        variant: str | None = None,
        *,
        exact: bool = False,
        policy: str = "reference",
    ) -> None:
        if exact and not u.finite:
            raise ValueError("exact gang combinations need a finite universe")
        if policy not in ENCODED_POLICIES:
            raise ValueError(f"unknown policy {policy!r}")
        self.u = u
        self.variant = variant
        self.exact = exact
        self.policy = policy
        self.contract = policy == "contract"
        v = variant or ""
        self.v_fresh_only = v == "validate-fresh-partition-only"
        self.v_gang_fit = v == "gang-fit-first-bucket-only"
        self.v_gang_bump = v == "gang-second-bucket-no-bump"
        self.v_rotation = v == "rotation-skips-partition"
        self.v_keep_view = v == "recovered-keeps-view"
        self.v_keep_ledger = v == "release-keeps-ledger"
        self.v_no_dedup = v == "no-dedup"
        self.v_no_fencing = v == "no-epoch-fencing"
        self.v_lagging = v == "lagging-replica-failover"
        self.v_priority = v == "priority-ignored"
        self.v_retry = v == "retry-off-by-one"
        self.v_room_lt = v == "room-as-used-below-cap"
        self.v_count_claims = v == "used-counts-claims"
        self.v_unbounded = v == "unbounded-carry-forward"
        self.v_resets_tag = v == "retry-resets-tag"
        self.v_timeout_tag = v == "timeout-reuses-tag"
        self.v_dedup_wc = v == "dedup-by-worker-cycle"
        self.v_stamp_broker = v == "propose-stamps-broker-seqno"
        self.v_no_reread = v == "no-reread-on-conflict"
        known = ENCODED_VARIANTS | (CONTRACT_VARIANTS if self.contract else frozenset())
        if variant is not None and variant not in known:
            raise KeyError(
                f"variant {variant!r} has no switch in the Z3 encoding"
                + (" of the reference policy" if variant in CONTRACT_VARIANTS else "")
            )
        self.K = Consts(u, self.contract)
        if not u.finite:
            u.P = self.K.P()
        # the exact gang rule's scope: per need index, (eligible bucket indices
        # ascending, gang size)
        self.scope_needs: list[tuple[tuple[int, ...], int]] | None = None
        self.actions: tuple[ActionEnc, ...] = self._actions()

    # --- helpers ---------------------------------------------------------------------
    def state(self, tag: str) -> Sym:
        return Sym(self.u, tag, self.v_lagging, self.contract, self.v_dedup_wc, self.v_count_claims)

    def var_names(self) -> list[str]:
        return [
            v.name
            for v in STATE_VARS
            if _present(v, self.v_lagging, self.contract, self.v_dedup_wc, self.v_count_claims)
        ]

    def duplicate(self, S: Sym, m: Any) -> Any:
        """The broker's dedup test on m (``ParSyncModel._duplicate``)."""
        K = self.K
        if self.v_dedup_wc:  # the variant: by (worker, cycle) of committed proposals
            return S.wctag(K.p_w(m), K.p_cycle(m))
        if self.v_no_dedup:
            return z3.BoolVal(False)
        return S.status(K.p_n(m)) != UNPLACED

    @property
    def P(self) -> Any:
        return self.K.P() if not self.u.finite else self.i(self.u.P)

    def i(self, v: int) -> Any:
        """An integer constant of the universe's number sort."""
        return self.u.num(v)

    def one_if(self, c: Any) -> Any:
        return z3.If(c, self.u.num(1), self.u.num(0))

    def mod(self, a: Any, b: Any) -> Any:
        return self.u.mod(a, b)

    def all(self, sorts: str, body: Callable[..., Any]) -> Any:
        return self.u.forall(tuple(sorts.split()), body)

    def some(self, sorts: str, body: Callable[..., Any]) -> Any:
        return self.u.exists(tuple(sorts.split()), body)

    def rot(self, c: Any) -> Any:
        """The partition refreshed at cycle c (rotation; the variant skips one)."""
        P = self.P
        if self.v_rotation:
            return z3.If(P > 1, self.mod(c, P - 1), self.mod(c, P))
        return self.mod(c, P)

    def is_head(self, S: Sym, w: Any, n: Any) -> Any:
        if self.contract:  # the contract moves the need taken up to the head
            return S.hd(w, n)
        rank = self.K.rank
        return z3.And(
            S.pend(w, n), self.all("N", lambda x: z3.Implies(S.pend(w, x), rank(n) <= rank(x)))
        )

    def no_pending(self, S: Sym, w: Any) -> Any:
        return self.all("N", lambda x: z3.Not(S.pend(w, x)))

    def held(self, S: Sym, m: Any) -> Any:
        """Proposal m is somewhere on its way to a decision: in the network, or (contract)
        in the broker's inbox."""
        if self.contract:
            return z3.Or(S.pc(m) > 0, S.ic(m) > 0)
        return S.pc(m) > 0

    def received(self, S: Sym, m: Any) -> Any:
        """The broker may decide on m: in flight (reference), in its inbox (contract)."""
        return S.ic(m) > 0 if self.contract else S.pc(m) > 0

    def lost(self, S: Sym, w: Any) -> Any:
        """The worker's outstanding proposal and its reply are both gone (a proposal in
        the broker's inbox is not)."""
        K = self.K
        return z3.And(
            self.all(
                "PM",
                lambda m: z3.Implies(
                    self.held(S, m),
                    z3.Not(
                        z3.And(
                            K.p_w(m) == w, K.p_cycle(m) == S.cycle(w), K.p_att(m) == S.attempts(w)
                        )
                    ),
                ),
            ),
            self.all(
                "RM",
                lambda r: z3.Implies(
                    S.rc(r) > 0,
                    z3.Not(
                        z3.And(
                            K.r_w(r) == w, K.r_cycle(r) == S.cycle(w), K.r_att(r) == S.attempts(w)
                        )
                    ),
                ),
            ),
        )

    def blocked(self, S: Sym, m: Any) -> Any:
        """A higher-priority proposal the broker decides on (in flight in the reference,
        in its inbox under the contract) shares a bucket with m."""
        K = self.K
        return self.some(
            "PM",
            lambda o: z3.And(
                self.received(S, o),
                K.p_prio(o) > K.p_prio(m),
                self.some("B", lambda b: z3.And(K.p_tch(o, b), K.p_tch(m, b))),
            ),
        )

    def refresh(self, rec: _WRec, S: Sym, sel: Callable[[Any], Any], at: Any) -> None:
        """Fresh read of the partitions selected by ``sel`` (view, fresh_at, epoch)."""
        part = self.K.part
        vseq, vused, vat, fresh, nsnap = (
            rec.get("vseq"),
            rec.get("vused"),
            rec.get("vat"),
            rec.get("fresh"),
            rec.get("nsnap"),
        )
        rec.set("vseq", lambda b: z3.If(sel(part(b)), S.seq(b), vseq(b)))
        # what a read reports as used (``reported_used``): the claimed units; the variant
        # reports the number of claims, its counter
        rep = S.nclaims if self.v_count_claims else S.used
        rec.set("vused", lambda b: z3.If(sel(part(b)), rep(b), vused(b)))
        rec.set("vat", lambda p: z3.If(sel(p), at, vat(p)))
        rec.set("fresh", lambda p: z3.If(sel(p), at, fresh(p)))
        rr = rec.get("rr")  # ghost (PS-11): a read of p clears it
        rec.set("rr", lambda p: z3.And(rr(p), z3.Not(sel(p))))
        if self.v_unbounded:
            rec.set("nsnap", lambda p: z3.If(sel(p), nsnap(p) + 1, nsnap(p)))
        else:
            rec.set("nsnap", lambda p: z3.If(sel(p), self.i(1), nsnap(p)))
        rec.setv("wepoch", S.epoch())

    def next_need(self, rec: _WRec, S: Sym, h: Any) -> Any:
        """Drop the head pending need (``h``); returns the guard that h is the head."""
        pend = rec.get("pend")
        rec.set("pend", lambda n: z3.And(pend(n), n != h))
        rec.setv("waiting", z3.BoolVal(False))
        rec.setv("retries", self.i(0))
        rec.setv("attempts", self.i(0))
        return z3.Or(self.is_head(S, rec.w, h), self.no_pending(S, rec.w))

    def stamps(self, S: Sym, w: Any, m: Any) -> Any:
        """The seqno Propose sends for each touched bucket: the one of the snapshot the
        fit test read (the variant: the broker's current one)."""
        K = self.K

        def src(b: Any) -> Any:
            return S.seq(b) if self.v_stamp_broker else S.vseq(w, b)

        return self.all("B", lambda b: z3.Implies(K.p_tch(m, b), K.p_rd(m, b) == src(b)))

    def view_ok(self, S: Sym, w: Any, b: Any) -> Any:
        """The worker may use bucket b: allowed by its mode, and it has a view of it."""
        K = self.K
        p = K.part(b)
        top = self.all("P", lambda q: S.fresh(w, q) <= S.fresh(w, p))
        if self.contract:  # the adaptive strategy may be in either mode at each proposal
            return z3.And(z3.Or(K.adaptive(), S.mode(w) != LATENCY, top), S.nsnap(w, p) > 0)
        return z3.And(z3.Or(S.mode(w) != LATENCY, top), S.nsnap(w, p) > 0)

    def fits(self, S: Sym, w: Any, n: Any, b: Any) -> Any:
        if self.v_room_lt:  # the variant: 'used < cap', whatever the need's size
            return S.vused(w, b) < self.K.cap(b)
        return S.vused(w, b) + self.K.size(n) <= self.K.cap(b)

    # --- Init ------------------------------------------------------------------------
    def init(self, S: Sym) -> Any:
        K = self.K
        zero = lambda *_: self.i(0)  # noqa: E731
        false = lambda *_: z3.BoolVal(False)  # noqa: E731
        cs = [
            S.epoch.define(zero),
            S.seq.define(zero),
            S.hold.define(zero),
            S.used.define(zero),
            S.ledger.define(false),
            S.status.define(lambda n: self.i(UNPLACED)),
            S.up.define(lambda w: z3.BoolVal(True)),
            S.cycle.define(zero),
            S.mode.define(lambda w: K.init_mode()),
            S.wepoch.define(zero),
            S.fresh.define(zero),
            S.nsnap.define(lambda w, p: self.i(1)),
            S.vat.define(zero),
            S.vseq.define(zero),
            S.vused.define(zero),
            S.pend.define(false),
            S.waiting.define(false),
            S.retries.define(zero),
            S.attempts.define(zero),
            S.known.define(false),
            S.pc.define(zero),
            S.rc.define(zero),
            S.crashes.define(zero),
            S.drops.define(zero),
            S.dups.define(zero),
            S.placed.define(zero),
            S.rr.define(false),
        ]
        if self.v_dedup_wc:
            cs.append(S.wctag.define(false))
        if self.v_count_claims:
            cs.append(S.nclaims.define(zero))
        if self.contract:
            cs += [
                S.ic.define(zero),
                S.hd.define(false),
                S.sent.define(zero),
                S.pk.define(false),
                S.pkr.define(zero),
                S.pka.define(zero),
                S.pks.define(zero),
                S.timeouts.define(zero),
                S.xreads.define(zero),
            ]
        if self.v_lagging:
            cs += [
                S.r_seq.define(zero),
                S.r_hold.define(zero),
                S.r_used.define(zero),
                S.r_ledger.define(false),
                S.r_status.define(lambda n: self.i(UNPLACED)),
            ]
        return z3.And(*cs)

    # --- assembling an action: guard, new values, frames -----------------------------------
    def step(self, a: ActionEnc, S: Sym, T: Sym, params: Params) -> Any:
        guard, upd = a.build(S, T, params)
        cs = [guard]
        for name in self.var_names():
            f = getattr(T, name)
            if name in upd:
                cs.append(f.define(upd[name]))
            else:
                cs.append(f.same(getattr(S, name)))
        return z3.And(*cs)

    def groups(self) -> list[tuple[str, list[ActionEnc]]]:
        """Sub-actions of one model action that share parameters, grouped (finite readings).

        The outcomes of one Commit, the kinds of reply, a worker up or down: their
        guards exclude each other, so at most one member is enabled for given
        parameters, one selector and one set of parameters serve the whole group,
        and the state decides which member steps. (Merging more - Propose with
        Defer, Crash with Recover - was measured slower.)
        """
        out: dict[str, list[ActionEnc]] = {}
        for a in self.actions:
            key = a.name if a.action in ("Drop", "Duplicate") else a.action
            out.setdefault(key, []).append(a)
        return list(out.items())

    def group_params(self, subs: list[ActionEnc], tag: str) -> Params:
        seen: dict[str, str] = {}
        for a in subs:
            for p, srt in a.params:
                seen.setdefault(p, srt)
        return {p: self.u.fresh(f"{p}_{subs[0].action}_{tag}", srt) for p, srt in seen.items()}

    def functional_step(
        self,
        S: Sym,
        T: Sym,
        sels: dict[str, Any],
        params: dict[str, Params],
        groups: list[tuple[str, list[ActionEnc]]] | None = None,
    ) -> tuple[list[Any], dict[str, Any]]:
        """Finite universes: Next as one if-then-else chain per variable entry.

        ``sels[g]`` selects group ``g`` of :meth:`groups` (exactly one is true),
        ``params[g]`` are its parameters; each entry of T is its new value under
        the member whose guard holds, or its old value. Equivalent to the
        disjunction of :meth:`step` over all sub-actions (same guards, updates and
        frames; the members' guards are exclusive), in a form the solver handles
        far better for unrolling. ``groups`` (default: all) leaves out groups that
        can never be enabled in the scope (their sub-actions' literals are False).
        Returns the constraints and, per sub-action, the literal "this step is that
        sub-action".
        """
        import itertools

        u = self.u
        assert u.finite
        if groups is None:
            groups = self.groups()
        builds = {a.name: a.build(S, T, params[g]) for g, subs in groups for a in subs}
        cs = [z3.Implies(sels[g], z3.Or(*[builds[a.name][0] for a in subs])) for g, subs in groups]
        cs.append(z3.PbEq([(sels[g], 1) for g, _ in groups], 1))
        taken = {a.name: z3.BoolVal(False) for a in self.actions}
        taken.update(
            {a.name: z3.And(sels[g], builds[a.name][0]) for g, subs in groups for a in subs}
        )
        for name in self.var_names():
            f = getattr(T, name)
            old = getattr(S, name)
            touching = [
                (g, subs) for g, subs in groups if any(name in builds[a.name][1] for a in subs)
            ]
            for idx in itertools.product(*[range(len(u.elems(d))) for d in f.dom]):  # type: ignore[attr-defined]
                args = [u.elems(d)[i] for d, i in zip(f.dom, idx, strict=True)]  # type: ignore[attr-defined]
                o = old(*args)
                val = o
                for g, subs in reversed(touching):
                    gv = _new_value(builds[subs[-1].name][1], name, args, o)
                    for a in reversed(subs[:-1]):
                        gv = z3.If(
                            builds[a.name][0], _new_value(builds[a.name][1], name, args, o), gv
                        )
                    val = z3.If(sels[g], gv, val)
                cs.append(f.entry(idx) == val)
        return cs, taken

    def params(self, a: ActionEnc, tag: str) -> Params:
        return {p: self.u.fresh(f"{p}_{a.action}_{tag}", s) for p, s in a.params}

    def action(self, name: str) -> ActionEnc:
        for a in self.actions:
            if a.name == name:
                return a
        raise KeyError(name)

    def _actions(self) -> tuple[ActionEnc, ...]:
        if self.contract:
            return self._contract_actions()
        return (
            ActionEnc("StartCycle[up]", "StartCycle", (("w", "W"),), self._start_cycle),
            ActionEnc("StartCycle[down]", "StartCycle", (("w", "W"),), self._tick_down),
            ActionEnc("Propose", "Propose", (("w", "W"), ("n", "N"), ("m", "PM")), self._propose),
            ActionEnc("Defer", "Defer", (("w", "W"), ("n", "N")), self._defer),
            *(
                ActionEnc(f"Commit[{k}]", "Commit", (("m", "PM"), ("r", "RM")), self._commit_fn(k))
                for k in ("Fenced", "AlreadyPlaced", "Conflict", "Committed")
            ),
            *(
                ActionEnc(
                    f"HandleReply[{k}]",
                    "HandleReply",
                    (("r", "RM"), ("h", "N")),
                    self._handle_fn(k),
                )
                for k in ("stale", "Committed/AlreadyPlaced", "Conflict", "Fenced")
            ),
            ActionEnc("Release", "Release", (("n", "N"),), self._release),
            ActionEnc("Crash", "Crash", (("w", "W"),), self._crash),
            ActionEnc("Recover", "Recover", (("w", "W"),), self._recover),
            ActionEnc("Drop[proposal]", "Drop", (("m", "PM"),), self._bag_fn("pc", "drops", -1)),
            ActionEnc("Drop[reply]", "Drop", (("r", "RM"),), self._bag_fn("rc", "drops", -1)),
            ActionEnc(
                "Duplicate[proposal]", "Duplicate", (("m", "PM"),), self._bag_fn("pc", "dups", 1)
            ),
            ActionEnc(
                "Duplicate[reply]", "Duplicate", (("r", "RM"),), self._bag_fn("rc", "dups", 1)
            ),
            ActionEnc("Failover", "Failover", (), self._failover),
        )

    def _contract_actions(self) -> tuple[ActionEnc, ...]:
        """The contract policy's sub-actions (model/protocol.py ``_contract_moves``,
        ``rejections``): the reference's, with Propose and Defer of any pending need,
        StartCycle at any time, and Timeout, Refresh, Restart, Reject and Deliver added
        (the broker decides on its inbox, which Deliver fills from the network)."""
        W, N = ("w", "W"), ("n", "N")
        return (
            ActionEnc("StartCycle[up]", "StartCycle", (W, ("g", "N")), self._start_cycle),
            ActionEnc("StartCycle[down]", "StartCycle", (W,), self._tick_down),
            ActionEnc("Propose", "Propose", (W, N, ("m", "PM"), ("h", "N")), self._c_propose),
            ActionEnc("Defer[head]", "Defer", (W, N, ("g", "N")), self._c_defer_head),
            ActionEnc("Defer[other]", "Defer", (W, N), self._c_defer_other),
            *(
                ActionEnc(f"Commit[{k}]", "Commit", (("m", "PM"), ("r", "RM")), self._commit_fn(k))
                for k in ("Fenced", "AlreadyPlaced", "Conflict", "Committed")
            ),
            *(
                ActionEnc(f"Reject[{k}]", "Reject", (("m", "PM"), ("r", "RM")), self._reject_fn(k))
                for k in ("Fenced", "AlreadyPlaced", "Conflict")
            ),
            *(
                ActionEnc(
                    f"HandleReply[{k}]",
                    "HandleReply",
                    (("r", "RM"), ("h", "N"), ("g", "N")),
                    self._handle_fn(k),
                )
                for k in ("stale", "Committed/AlreadyPlaced", "Conflict", "Fenced")
            ),
            ActionEnc("Release", "Release", (N,), self._release),
            ActionEnc("Crash", "Crash", (W,), self._crash),
            ActionEnc("Recover", "Recover", (W,), self._recover),
            ActionEnc("Restart", "Restart", (W,), self._restart),
            ActionEnc("Timeout", "Timeout", (W,), self._timeout),
            ActionEnc("Refresh", "Refresh", (W, ("q", "P")), self._extra_read),
            ActionEnc("Deliver", "Deliver", (("m", "PM"),), self._deliver),
            ActionEnc("Drop[proposal]", "Drop", (("m", "PM"),), self._bag_fn("pc", "drops", -1)),
            ActionEnc("Drop[reply]", "Drop", (("r", "RM"),), self._bag_fn("rc", "drops", -1)),
            ActionEnc(
                "Duplicate[proposal]", "Duplicate", (("m", "PM"),), self._bag_fn("pc", "dups", 1)
            ),
            ActionEnc(
                "Duplicate[reply]", "Duplicate", (("r", "RM"),), self._bag_fn("rc", "dups", 1)
            ),
            ActionEnc("Failover", "Failover", (), self._failover),
        )

    # --- the contract's bookkeeping of the need in hand -------------------------------------
    def attempt_limit(self) -> Any:
        """Contract: a need may be proposed while its attempt count is below this."""
        return self.K.R() + 2 if self.v_retry else self.K.R() + 1

    def least(self, sel: Callable[[Any], Any], n: Any) -> Any:
        """n is the first of the needs selected by ``sel`` in the fixed order (rank)."""
        rank = self.K.rank
        return z3.And(sel(n), self.all("N", lambda x: z3.Implies(sel(x), rank(n) <= rank(x))))

    def drop_head(self, rec: _WRec, S: Sym, h: Any, g: Any, when: Any) -> Any:
        """Contract: when ``when``, the need in hand ``h`` leaves pending and the next one
        in the fixed order, ``g``, is taken up with its parked counters (zero if it was
        not worked on yet: ``ParSyncModel._next_need``); otherwise the values set so far
        stay. Returns the guard fixing ``g`` (free when no need is left)."""
        pend = rec.get("pend")
        hd = rec.get("hd")
        pk = rec.get("pk")

        def newpend(x: Any) -> Any:
            return z3.And(pend(x), z3.Or(z3.Not(when), x != h))

        restore = z3.And(when, newpend(g), pk(g))
        rec.set("pend", newpend)
        rec.set("hd", lambda x: z3.If(when, z3.And(newpend(x), x == g), hd(x)))
        for pv, cv in PARK_VARS:
            cur = rec.get(cv)
            old = rec.get(pv)
            rec.setv(cv, z3.If(restore, old(g), z3.If(when, self.i(0), cur())))
            rec.set(pv, lambda x, old=old: z3.If(z3.And(restore, x == g), self.i(0), old(x)))
        rec.set("pk", lambda x: z3.And(pk(x), z3.Not(z3.And(restore, x == g))))
        rec.setv("waiting", z3.BoolVal(False))
        return z3.Or(
            z3.Not(when), self.all("N", lambda x: z3.Not(newpend(x))), self.least(newpend, g)
        )

    def clear_parked(self, rec: _WRec) -> None:
        rec.set("pk", lambda x: z3.BoolVal(False))
        for pv, _cv in PARK_VARS:
            rec.set(pv, lambda x: self.i(0))

    def _c_propose(self, S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
        """Contract: any pending need ``n``; taking it up parks the need in hand ``h``
        (if it was worked on) and restores n's counters (``ParSyncModel._focus``)."""
        K = self.K
        w, n, m, h = p["w"], p["n"], p["m"], p["h"]
        focus = n != h
        restore = z3.And(focus, S.pk(w, n))
        f = {
            cv: z3.If(restore, getattr(S, pv)(w, n), z3.If(focus, self.i(0), getattr(S, cv)(w)))
            for pv, cv in PARK_VARS
        }
        park = z3.And(focus, z3.Or(S.sent(w) != 0, S.attempts(w) != 0, S.retries(w) != 0))
        guard = z3.And(
            S.up(w),
            z3.Not(S.waiting(w)),
            S.pend(w, n),
            S.hd(w, h),
            f["attempts"] < self.attempt_limit(),
            self.choice(S, w, n, m),
            K.p_w(m) == w,
            K.p_n(m) == n,
            K.p_prio(m) == K.prio(n),
            K.p_epoch(m) == S.wepoch(w),
            self.stamps(S, w, m),
            K.p_cycle(m) == S.cycle(w),
            K.p_att(m) == f["attempts"] + 1,
            K.p_fresh(m) == self.rot(S.cycle(w)),
        )
        rec = _WRec(S, w)
        rec.setv("waiting", z3.BoolVal(True))
        rec.setv("retries", f["retries"])
        rec.setv("attempts", f["attempts"] + 1)
        rec.setv("sent", f["sent"] + 1)
        rec.set("hd", lambda x: x == n)
        pk = rec.get("pk")
        rec.set(
            "pk",
            lambda x: z3.If(
                z3.And(focus, x == n), z3.BoolVal(False), z3.Or(pk(x), z3.And(park, x == h))
            ),
        )
        for pv, cv in PARK_VARS:
            old = rec.get(pv)
            cur = getattr(S, cv)(w)
            rec.set(
                pv,
                lambda x, old=old, cur=cur: z3.If(
                    z3.And(focus, x == n),
                    self.i(0),
                    z3.If(z3.And(park, x == h), cur, old(x)),
                ),
            )
        upd = rec.updates()
        upd["pc"] = lambda x: S.pc(x) + self.one_if(x == m)
        return guard, upd

    def _widen(self, rec: _WRec, S: Sym) -> None:
        w = rec.w
        rec.setv(
            "mode",
            z3.If(z3.And(self.K.adaptive(), S.mode(w) == LATENCY), self.i(QUALITY), S.mode(w)),
        )

    def _c_defer_head(self, S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
        w, n, g = p["w"], p["n"], p["g"]
        rec = _WRec(S, w)
        rec.setv("retries", S.retries(w))
        rec.setv("attempts", S.attempts(w))
        rec.setv("sent", S.sent(w))
        ok = self.drop_head(rec, S, n, g, z3.BoolVal(True))
        self._widen(rec, S)
        return z3.And(S.up(w), z3.Not(S.waiting(w)), S.hd(w, n), ok), rec.updates()

    def _c_defer_other(self, S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
        """Contract: a pending need other than the one in hand waits (its parked
        counters go with it)."""
        w, n = p["w"], p["n"]
        rec = _WRec(S, w)
        pend, pk = rec.get("pend"), rec.get("pk")
        rec.set("pend", lambda x: z3.And(pend(x), x != n))
        rec.set("pk", lambda x: z3.And(pk(x), x != n))
        for pv, _cv in PARK_VARS:
            old = rec.get(pv)
            rec.set(pv, lambda x, old=old: z3.If(x == n, self.i(0), old(x)))
        self._widen(rec, S)
        guard = z3.And(S.up(w), z3.Not(S.waiting(w)), S.pend(w, n), z3.Not(S.hd(w, n)))
        return guard, rec.updates()

    def _timeout(self, S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
        """Contract: the outstanding attempt is abandoned (a new tag comes next)."""
        w = p["w"]
        guard = z3.And(S.up(w), S.waiting(w), S.timeouts() < self.K.max_timeout())
        rec = _WRec(S, w)
        rec.setv("waiting", z3.BoolVal(False))
        if self.v_timeout_tag:  # the variant: the tag is reused
            a = S.attempts(w)
            rec.setv("attempts", z3.If(a > 0, a - 1, a))
        upd = rec.updates()
        upd["timeouts"] = lambda: S.timeouts() + 1
        return guard, upd

    def _extra_read(self, S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
        """Contract: an extra fresh read of partition q."""
        w, q = p["w"], p["q"]
        guard = z3.And(S.up(w), 0 <= q, q < self.P, S.xreads() < self.K.max_xread())
        rec = _WRec(S, w)
        self.refresh(rec, S, lambda x: x == q, S.cycle(w))
        upd = rec.updates()
        upd["xreads"] = lambda: S.xreads() + 1
        return guard, upd

    def _restart(self, S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
        """Contract: up again with nothing re-read."""
        w = p["w"]
        rec = _WRec(S, w)
        rec.setv("up", z3.BoolVal(True))
        return z3.Not(S.up(w)), rec.updates()

    def true_reply(self, S: Sym, m: Any, kind: str) -> Any:
        """Contract: the reply ``kind`` is true of m (any check order)."""
        K = self.K
        if kind == "Fenced":
            return z3.BoolVal(False) if self.v_no_fencing else K.p_epoch(m) != S.epoch()
        if kind == "AlreadyPlaced":
            return self.duplicate(S, m)
        assert kind == "Conflict"
        return self.some("B", lambda b: self.conflicted(S, m, b))

    def _reject_fn(self, kind: str) -> Callable[[Sym, Sym, Params], tuple[Any, dict[str, Update]]]:
        code = {"Fenced": FENCED, "AlreadyPlaced": ALREADY, "Conflict": CONFLICT}[kind]

        def build(S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
            K = self.K
            m, r = p["m"], p["r"]
            guard = z3.And(
                S.ic(m) > 0,  # the broker decides on what it has received
                self.true_reply(S, m, kind),
                K.r_w(r) == K.p_w(m),
                K.r_n(r) == K.p_n(m),
                K.r_kind(r) == code,
                K.r_cycle(r) == K.p_cycle(m),
                K.r_att(r) == K.p_att(m),
                self.all(
                    "B",
                    lambda b: (
                        K.r_bk(r, b)
                        == (self.conflicted(S, m, b) if kind == "Conflict" else z3.BoolVal(False))
                    ),
                ),
            )
            upd: dict[str, Update] = {
                "ic": lambda x: S.ic(x) - self.one_if(x == m),
                "rc": lambda x: S.rc(x) + self.one_if(x == r),
            }
            return guard, upd

        return build

    def _deliver(self, S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
        """Contract: the network hands one copy of m to the broker's inbox."""
        m = p["m"]
        upd: dict[str, Update] = {
            "pc": lambda x: S.pc(x) - self.one_if(x == m),
            "ic": lambda x: S.ic(x) + self.one_if(x == m),
        }
        return S.pc(m) > 0, upd

    # --- worker actions ------------------------------------------------------------------
    def _start_cycle(self, S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
        K = self.K
        w = p["w"]
        if self.contract:
            return self._c_start_cycle(S, T, p)
        guard = z3.And(
            S.up(w),
            S.cycle(w) < K.max_cycle(),
            z3.Or(
                z3.And(z3.Not(S.waiting(w)), self.no_pending(S, w)),
                z3.And(S.waiting(w), self.lost(S, w)),
            ),
        )
        c = S.cycle(w) + 1
        q = self.rot(c)
        rec = _WRec(S, w)
        rec.setv("cycle", c)
        self.refresh(rec, S, lambda x: x == q, c)
        rec.set(
            "pend",
            lambda n: z3.And(K.owner(n) == w, K.arrival(n) <= c, z3.Not(S.known(w, n))),
        )
        rec.setv("waiting", z3.BoolVal(False))
        rec.setv("retries", self.i(0))
        rec.setv("attempts", self.i(0))
        return guard, rec.updates()

    def _c_start_cycle(self, S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
        """Contract: a cycle may start at any time; while waiting that abandons the
        attempt, a timeout unless the proposal and its reply are both gone."""
        K = self.K
        w, g = p["w"], p["g"]
        timed_out = z3.And(S.waiting(w), z3.Not(self.lost(S, w)))
        c = S.cycle(w) + 1
        q = self.rot(c)
        rec = _WRec(S, w)
        rec.setv("cycle", c)
        self.refresh(rec, S, lambda x: x == q, c)

        def newpend(n: Any) -> Any:
            return z3.And(K.owner(n) == w, K.arrival(n) <= c, z3.Not(S.known(w, n)))

        rec.set("pend", newpend)
        rec.set("hd", lambda n: z3.And(newpend(n), n == g))
        rec.setv("waiting", z3.BoolVal(False))
        for cv in ("retries", "attempts", "sent"):
            rec.setv(cv, self.i(0))
        self.clear_parked(rec)
        guard = z3.And(
            S.up(w),
            S.cycle(w) < K.max_cycle(),
            z3.Or(z3.Not(timed_out), S.timeouts() < K.max_timeout()),
            z3.Or(self.all("N", lambda n: z3.Not(newpend(n))), self.least(newpend, g)),
        )
        upd = rec.updates()
        upd["timeouts"] = lambda: S.timeouts() + self.one_if(timed_out)
        return guard, upd

    def _tick_down(self, S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
        w = p["w"]
        guard = z3.And(z3.Not(S.up(w)), S.cycle(w) < self.K.max_cycle())
        rec = _WRec(S, w)
        rec.setv("cycle", S.cycle(w) + 1)
        return guard, rec.updates()

    def choice(self, S: Sym, w: Any, n: Any, m: Any) -> Any:
        """m's bucket set is one the worker may propose for n (strategy + view room)."""
        K = self.K
        first = K.p_first(m)

        def ok(b: Any) -> Any:
            room = self.fits(S, w, n, b)
            if self.v_gang_fit:
                room = z3.Or(b != first, room)
            return z3.And(K.elig(n, b), self.view_ok(S, w, b), room)

        cs = [
            K.p_tch(m, first),
            self.all("B", lambda b: z3.Implies(K.p_tch(m, b), K.bidx(first) <= K.bidx(b))),
            self.all("B", lambda b: z3.Implies(K.p_tch(m, b), ok(b))),
        ]
        if self.exact:
            cs.append(self._exact_combo(n, m))
        return z3.And(*cs)

    def _needs(self) -> list[tuple[tuple[int, ...], int]]:
        if self.scope_needs is None:
            raise ValueError("exact encoding needs the scope's needs (set_scope)")
        return self.scope_needs

    def _exact_combo(self, n: Any, m: Any) -> Any:
        """The proposal touches exactly ``gang`` buckets, all eligible (the gang rule)."""
        u = self.u
        K = self.K
        Ns = u.elems("N")  # type: ignore[attr-defined]
        Bs = u.elems("B")  # type: ignore[attr-defined]
        alts = []
        for i, ne in enumerate(Ns[: len(self._needs())]):
            elig, gang = self._needs()[i]
            outside = [z3.Not(K.p_tch(m, Bs[j])) for j in range(len(Bs)) if j not in elig]
            count = (
                z3.PbEq([(K.p_tch(m, Bs[j]), 1) for j in elig], gang)
                if elig
                else (z3.BoolVal(gang == 0))
            )
            alts.append(z3.And(n == ne, count, *outside))
        return z3.Or(*alts, z3.BoolVal(False))

    def _no_choice_exact(self, S: Sym, w: Any, n: Any) -> Any:
        """No ``gang``-set of n's eligible buckets passes the worker's checks (exact Defer
        guard), counted rather than enumerated: fewer than ``gang`` eligible buckets pass
        (the gang-fit variant: no passing first bucket with ``gang - 1`` read ones after
        it)."""
        u = self.u
        Ns = u.elems("N")  # type: ignore[attr-defined]
        Bs = u.elems("B")  # type: ignore[attr-defined]

        def at_least(conds: list[Any], k: int) -> Any:
            if k <= 0:
                return z3.BoolVal(True)
            if len(conds) < k:
                return z3.BoolVal(False)
            return z3.PbGe([(c, 1) for c in conds], k)

        alts = []
        for i, ne in enumerate(Ns[: len(self._needs())]):
            elig, gang = self._needs()[i]
            read = [self.view_ok(S, w, Bs[j]) for j in elig]
            ok = [z3.And(r, self.fits(S, w, n, Bs[j])) for r, j in zip(read, elig, strict=True)]
            if self.v_gang_fit:
                some = z3.Or(
                    *[z3.And(ok[k], at_least(read[k + 1 :], gang - 1)) for k in range(len(elig))],
                    z3.BoolVal(False),
                )
            else:
                some = at_least(ok, gang)
            alts.append(z3.And(n == ne, z3.Not(some)))
        return z3.Or(*alts, z3.BoolVal(False))

    def _propose(self, S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
        K = self.K
        w, n, m = p["w"], p["n"], p["m"]
        guard = z3.And(
            S.up(w),
            z3.Not(S.waiting(w)),
            self.is_head(S, w, n),
            self.choice(S, w, n, m),
            K.p_w(m) == w,
            K.p_n(m) == n,
            K.p_prio(m) == K.prio(n),
            K.p_epoch(m) == S.wepoch(w),
            self.stamps(S, w, m),
            K.p_cycle(m) == S.cycle(w),
            K.p_att(m) == S.attempts(w) + 1,
            K.p_fresh(m) == self.rot(S.cycle(w)),
        )
        rec = _WRec(S, w)
        rec.setv("waiting", z3.BoolVal(True))
        rec.setv("attempts", S.attempts(w) + 1)
        upd = rec.updates()
        upd["pc"] = lambda x: S.pc(x) + self.one_if(x == m)
        return guard, upd

    def _defer(self, S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
        w, n = p["w"], p["n"]
        conds = [S.up(w), z3.Not(S.waiting(w)), self.is_head(S, w, n)]
        if self.exact:
            conds.append(self._no_choice_exact(S, w, n))
        rec = _WRec(S, w)
        self.next_need(rec, S, n)
        rec.setv(
            "mode",
            z3.If(z3.And(self.K.adaptive(), S.mode(w) == LATENCY), self.i(QUALITY), S.mode(w)),
        )
        return z3.And(*conds), rec.updates()

    def _crash(self, S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
        K = self.K
        w = p["w"]
        guard = z3.And(S.up(w), K.max_crash() > 0, S.crashes() < K.max_crash())
        rec = _WRec(S, w)
        rec.setv("up", z3.BoolVal(False))
        rec.setv("mode", K.init_mode())
        if not self.v_keep_view:
            rec.set("fresh", lambda q: self.i(-1))
            for var in ("nsnap", "vat", "vseq", "vused"):
                rec.set(var, lambda x: self.i(0))
        rec.set("pend", lambda n: z3.BoolVal(False))
        rec.setv("waiting", z3.BoolVal(False))
        rec.setv("retries", self.i(0))
        rec.setv("attempts", self.i(0))
        rec.set("known", lambda n: z3.BoolVal(False))
        if self.contract:
            rec.set("hd", lambda n: z3.BoolVal(False))
            rec.setv("sent", self.i(0))
            self.clear_parked(rec)
        upd = rec.updates()
        upd["crashes"] = lambda: S.crashes() + 1
        return guard, upd

    def _recover(self, S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
        w = p["w"]
        rec = _WRec(S, w)
        rec.setv("up", z3.BoolVal(True))
        if self.v_keep_view:
            cyc = S.cycle(w)
            rec.set("fresh", lambda q: cyc)
        else:
            self.refresh(rec, S, lambda q: z3.BoolVal(True), S.cycle(w))
        return z3.Not(S.up(w)), rec.updates()

    # --- broker actions ------------------------------------------------------------------
    def conflicted(self, S: Sym, m: Any, b: Any) -> Any:
        K = self.K
        c = z3.And(K.p_tch(m, b), S.seq(b) != K.p_rd(m, b))
        if self.v_fresh_only:
            c = z3.And(c, K.part(b) == K.p_fresh(m))
        return c

    def outcome(self, S: Sym, m: Any, kind: str) -> Any:
        """The guard of one Commit outcome (the broker's decision on m)."""
        K = self.K
        fenced = z3.BoolVal(False) if self.v_no_fencing else K.p_epoch(m) != S.epoch()
        already = self.duplicate(S, m)
        anyc = self.some("B", lambda b: self.conflicted(S, m, b))
        if kind == "Fenced":
            return fenced
        if kind == "AlreadyPlaced":
            return z3.And(z3.Not(fenced), already)
        if kind == "Conflict":
            return z3.And(z3.Not(fenced), z3.Not(already), anyc)
        assert kind == "Committed"
        return z3.And(z3.Not(fenced), z3.Not(already), z3.Not(anyc))

    def _commit_fn(self, kind: str) -> Callable[[Sym, Sym, Params], tuple[Any, dict[str, Update]]]:
        code = {
            "Fenced": FENCED,
            "AlreadyPlaced": ALREADY,
            "Conflict": CONFLICT,
            "Committed": COMMITTED,
        }[kind]

        def build(S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
            K = self.K
            m, r = p["m"], p["r"]
            n = K.p_n(m)
            deliverable = z3.BoolVal(True) if self.v_priority else z3.Not(self.blocked(S, m))
            guard = z3.And(
                self.received(S, m),
                deliverable,
                self.outcome(S, m, kind),
                K.r_w(r) == K.p_w(m),
                K.r_n(r) == n,
                K.r_kind(r) == code,
                K.r_cycle(r) == K.p_cycle(m),
                K.r_att(r) == K.p_att(m),
                self.all(
                    "B",
                    lambda b: (
                        K.r_bk(r, b)
                        == (self.conflicted(S, m, b) if kind == "Conflict" else z3.BoolVal(False))
                    ),
                ),
            )
            bag = "ic" if self.contract else "pc"
            cnt = getattr(S, bag)
            upd: dict[str, Update] = {
                bag: lambda x: cnt(x) - self.one_if(x == m),
                "rc": lambda x: S.rc(x) + self.one_if(x == r),
            }
            if kind == "Committed":
                first = K.p_first(m)
                tch = K.p_tch

                def bump(b: Any) -> Any:
                    c = tch(m, b)
                    if self.v_gang_bump:
                        c = z3.And(c, b == first)
                    return S.seq(b) + self.one_if(c)

                upd["seq"] = bump
                upd["hold"] = lambda x, b: S.hold(x, b) + self.one_if(z3.And(x == n, tch(m, b)))
                upd["used"] = lambda b: S.used(b) + z3.If(tch(m, b), K.size(n), 0)
                if self.v_count_claims:  # one claim more on each touched bucket
                    upd["nclaims"] = lambda b: S.nclaims(b) + self.one_if(tch(m, b))
                upd["ledger"] = lambda x, b: z3.Or(S.ledger(x, b), z3.And(x == n, tch(m, b)))
                upd["status"] = lambda x: z3.If(x == n, self.i(PLACED), S.status(x))
                upd["placed"] = lambda x: S.placed(x) + self.one_if(x == n)
                if self.v_dedup_wc:
                    pw, pcy = K.p_w(m), K.p_cycle(m)
                    upd["wctag"] = lambda x, c: z3.Or(S.wctag(x, c), z3.And(x == pw, c == pcy))
                if self.v_lagging:
                    self._snapshot_replica(S, upd)
            return guard, upd

        return build

    def _snapshot_replica(self, S: Sym, upd: dict[str, Update]) -> None:
        for v in BROKER_VARS:
            src = getattr(S, v)
            upd["r_" + v] = src.__call__

    def _release(self, S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
        K = self.K
        n = p["n"]
        guard = S.status(n) == PLACED
        upd: dict[str, Update] = {
            "seq": lambda b: S.seq(b) + self.one_if(S.ledger(n, b)),
            "hold": lambda x, b: S.hold(x, b) - self.one_if(z3.And(x == n, S.ledger(n, b))),
            "used": lambda b: S.used(b) - z3.If(S.ledger(n, b), K.size(n), 0),
            "status": lambda x: z3.If(x == n, self.i(RELEASED), S.status(x)),
        }
        if self.v_count_claims:  # one claim fewer on each of the ledger's buckets
            upd["nclaims"] = lambda b: S.nclaims(b) - self.one_if(S.ledger(n, b))
        if not self.v_keep_ledger:
            upd["ledger"] = lambda x, b: z3.And(S.ledger(x, b), x != n)
        if self.v_lagging:
            self._snapshot_replica(S, upd)
        return guard, upd

    def _failover(self, S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
        guard = S.epoch() < self.K.max_failover()
        upd: dict[str, Update] = {"epoch": lambda: S.epoch() + 1}
        if self.v_lagging:
            for v in BROKER_VARS:
                upd[v] = getattr(S, "r_" + v).__call__
        return guard, upd

    # --- replies -----------------------------------------------------------------------------
    def tag_matches(self, S: Sym, r: Any) -> Any:
        K = self.K
        w = K.r_w(r)
        return z3.And(
            S.waiting(w),
            self.is_head(S, w, K.r_n(r)),
            K.r_cycle(r) == S.cycle(w),
            K.r_att(r) == S.attempts(w),
        )

    def _handle_fn(self, kind: str) -> Callable[[Sym, Sym, Params], tuple[Any, dict[str, Update]]]:
        def build(S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
            K = self.K
            r, h = p["r"], p["h"]
            w = K.r_w(r)
            rk = K.r_kind(r)
            conds = [S.rc(r) > 0, S.up(w)]
            rec = _WRec(S, w)
            if kind == "stale":
                conds.append(z3.Not(self.tag_matches(S, r)))
            elif kind == "Committed/AlreadyPlaced":
                conds += [self.tag_matches(S, r), z3.Or(rk == COMMITTED, rk == ALREADY)]
                known = rec.get("known")
                rn = K.r_n(r)
                rec.set("known", lambda x: z3.Or(known(x), x == rn))
                if self.contract:
                    conds.append(z3.Or(self.is_head(S, w, h), self.no_pending(S, w)))
                    conds.append(self.drop_head(rec, S, h, p["g"], z3.BoolVal(True)))
                else:
                    conds.append(self.next_need(rec, S, h))
            else:
                if kind == "Conflict":
                    conds += [self.tag_matches(S, r), rk == CONFLICT]
                    part = K.part
                    sel, sel_def = self.u.aux_pred(
                        "conflicted_parts",
                        lambda q: self.some("B", lambda b: z3.And(K.r_bk(r, b), part(b) == q)),
                    )
                    conds.append(sel_def)
                    # ghost (PS-11): the conflicted partitions must be read again;
                    # the forced fresh read (skipped by the variant) clears them
                    rr = rec.get("rr")
                    rec.set("rr", lambda q: z3.Or(rr(q), sel(q)))
                    if not self.v_no_reread:
                        self.refresh(rec, S, sel, S.cycle(w))
                    rec.setv(
                        "mode",
                        z3.If(
                            z3.And(K.adaptive(), S.mode(w) == QUALITY),
                            self.i(LATENCY),
                            S.mode(w),
                        ),
                    )
                else:
                    conds += [
                        self.tag_matches(S, r),
                        rk != COMMITTED,
                        rk != ALREADY,
                        rk != CONFLICT,
                    ]
                    self.refresh(rec, S, lambda q: z3.BoolVal(True), S.cycle(w))
                if self.v_resets_tag:  # the variant: the tag and the count start over
                    rec.setv("waiting", z3.BoolVal(False))
                    rec.setv("retries", self.i(0))
                    rec.setv("attempts", self.i(0))
                    upd = rec.updates()
                    upd["rc"] = lambda x: S.rc(x) - self.one_if(x == r)
                    return z3.And(*conds), upd
                retries = S.retries(w) + 1
                limit = K.R() + 1 if self.v_retry else K.R()
                give_up = retries > limit
                if self.contract:  # past the budget: the next need, with its parked counters
                    rec.setv("retries", retries)
                    rec.setv("waiting", z3.BoolVal(False))
                    conds.append(
                        z3.Or(z3.Not(give_up), self.is_head(S, w, h), self.no_pending(S, w))
                    )
                    conds.append(self.drop_head(rec, S, h, p["g"], give_up))
                    upd = rec.updates()
                    upd["rc"] = lambda x: S.rc(x) - self.one_if(x == r)
                    return z3.And(*conds), upd
                # past the budget: next need (its guard); else retry with the count
                pend = rec.get("pend")
                rec.set("pend", lambda x: z3.And(pend(x), z3.Or(z3.Not(give_up), x != h)))
                rec.setv("waiting", z3.BoolVal(False))
                rec.setv("retries", z3.If(give_up, self.i(0), retries))
                rec.setv("attempts", z3.If(give_up, self.i(0), S.attempts(w)))
                conds.append(z3.Or(z3.Not(give_up), self.is_head(S, w, h), self.no_pending(S, w)))
            upd = rec.updates()
            upd["rc"] = lambda x: S.rc(x) - self.one_if(x == r)
            return z3.And(*conds), upd

        return build

    # --- network faults ------------------------------------------------------------------------
    def _bag_fn(
        self, bag: str, counter: str, delta: int
    ) -> Callable[[Sym, Sym, Params], tuple[Any, dict[str, Update]]]:
        def build(S: Sym, T: Sym, p: Params) -> tuple[Any, dict[str, Update]]:
            x = p["m"] if bag == "pc" else p["r"]
            cnt = getattr(S, bag)
            ctr = getattr(S, counter)
            bound = self.K.max_drop() if counter == "drops" else self.K.max_dup()
            guard = z3.And(cnt(x) > 0, ctr() < bound)
            upd: dict[str, Update] = {
                bag: lambda y: cnt(y) + z3.If(y == x, self.i(delta), self.i(0)),
                counter: lambda: ctr() + 1,
            }
            return guard, upd

        return build

    # --- Next ----------------------------------------------------------------------------------
    def next(self, S: Sym, T: Sym, tag: str) -> tuple[Any, dict[str, Params]]:
        """The disjunction of every action, each with its own fresh parameters."""
        ps = {a.name: self.params(a, tag) for a in self.actions}
        return z3.Or(*[self.step(a, S, T, ps[a.name]) for a in self.actions]), ps

    # --- axioms on the constants (the parametric Config is a valid Config) ---------------------
    def axioms(self) -> list[tuple[str, Any]]:
        out = self._axioms()
        if self.contract:
            K = self.K
            out.append(("contract budgets>=0", z3.And(K.max_timeout() >= 0, K.max_xread() >= 0)))
        return out

    def _axioms(self) -> list[tuple[str, Any]]:
        K = self.K
        P = self.P
        return [
            ("P>=1", P >= 1),
            ("R>=0", K.R() >= 0),
            ("max_cycle>=1", K.max_cycle() >= 1),
            (
                "fault bounds>=0",
                z3.And(
                    K.max_crash() >= 0, K.max_drop() >= 0, K.max_dup() >= 0, K.max_failover() >= 0
                ),
            ),
            (
                "strategy",
                z3.And(
                    z3.Or(K.init_mode() == LATENCY, K.init_mode() == QUALITY),
                    z3.Implies(K.adaptive(), K.init_mode() == QUALITY),
                ),
            ),
            ("partition_of", self.all("B", lambda b: z3.And(0 <= K.part(b), K.part(b) < P))),
            ("capacity>=0", self.all("B", lambda b: K.cap(b) >= 0)),
            (
                "bucket order",
                self.all("B B", lambda a, b: z3.Implies(K.bidx(a) == K.bidx(b), a == b)),
            ),
            (
                "need constants",
                self.all(
                    "N",
                    lambda n: z3.And(
                        K.size(n) >= 1, K.prio(n) >= 0, K.arrival(n) >= 1, K.gang(n) >= 1
                    ),
                ),
            ),
            (
                "eligible buckets",
                self.all("N", lambda n: self.some("B", lambda b: K.elig(n, b))),
            ),
            (
                "need order",
                self.all(
                    "N N",
                    lambda a, b: z3.And(
                        z3.Implies(K.rank(a) == K.rank(b), a == b),
                        z3.Implies(K.prio(a) > K.prio(b), K.rank(a) < K.rank(b)),
                    ),
                ),
            ),
        ]

    # --- the properties, symbolically -------------------------------------------------------------
    def used_sum(self, S: Sym, b: Any, hold: str = "hold") -> Any:
        """sum(size[n] * hold[n,b]) over the needs of a finite scope."""
        K = self.K
        h = getattr(S, hold)
        Ns = self.u.elems("N")  # type: ignore[attr-defined]
        return z3.Sum(*[K.size(n) * h(n, b) for n in Ns], self.i(0))

    def claims_count(self, S: Sym, b: Any) -> Any:
        """sum(hold[n,b]) over the needs of a finite scope: the number of claims on b."""
        Ns = self.u.elems("N")  # type: ignore[attr-defined]
        return z3.Sum(*[S.hold(n, b) for n in Ns], self.i(0))

    def used_is_sum(self, S: Sym) -> Any:
        """Finite scopes: used (and the replica's) is the sum it tracks, and under
        used-counts-claims the counter is the number of claims (UsedTracksClaims)."""
        cs = [self.all("B", lambda b: S.used(b) == self.used_sum(S, b))]
        if self.v_lagging:
            cs.append(self.all("B", lambda b: S.r_used(b) == self.used_sum(S, b, "r_hold")))
        if self.v_count_claims:
            cs.append(self.all("B", lambda b: S.nclaims(b) == self.claims_count(S, b)))
        return z3.And(*cs)

    def state_prop(self, pid: str, S: Sym, *, exact_sum: bool = False) -> Any:
        K = self.K
        if pid == "PS-1":
            if exact_sum:
                return self.all("B", lambda b: self.used_sum(S, b) <= K.cap(b))
            return self.all("B", lambda b: S.used(b) <= K.cap(b))
        if pid == "PS-3":
            if self.contract:  # a recovering worker may hold no snapshot of a partition
                return self.all(
                    "W P",
                    lambda w, q: z3.Implies(
                        z3.And(S.up(w), S.nsnap(w, q) >= 1),
                        S.cycle(w) - S.vat(w, q) <= self.P - 1,
                    ),
                )
            return self.all(
                "W P",
                lambda w, q: z3.Implies(
                    S.up(w), z3.And(S.nsnap(w, q) >= 1, S.cycle(w) - S.vat(w, q) <= self.P - 1)
                ),
            )
        if pid == "PS-4":
            return self.all("N B", lambda n, b: S.ledger(n, b) == (S.hold(n, b) > 0))
        if pid == "PS-6" and self.contract:  # the ghost sent, of every need of the cycle
            lim = K.R() + 1
            return z3.And(
                self.all("W", lambda w: S.sent(w) <= lim),
                self.all("W N", lambda w, n: S.pks(w, n) <= lim),
            )
        if pid == "PS-6":
            return self.all("W", lambda w: S.attempts(w) <= K.R() + 1)
        if pid == "PS-8":
            return self.all("N", lambda n: S.placed(n) <= 1)
        if pid == "PS-10":
            return self.all("W P", lambda w, q: S.nsnap(w, q) <= 1)
        raise KeyError(pid)

    def placed_rose(self, S: Sym, T: Sym) -> Any:
        return self.some("N", lambda n: T.placed(n) > S.placed(n))

    def action_prop(self, pid: str, a: ActionEnc, S: Sym, T: Sym, p: Params) -> Any:
        """An action property on one step of ``a`` (True where it does not apply)."""
        K = self.K
        if pid == "PS-5":
            return self.all(
                "B",
                lambda b: z3.Or(
                    z3.And(
                        T.seq(b) == S.seq(b) + 1,
                        self.some("N", lambda n: T.hold(n, b) != S.hold(n, b)),
                    ),
                    z3.And(
                        T.seq(b) == S.seq(b),
                        self.all("N", lambda n: T.hold(n, b) == S.hold(n, b)),
                    ),
                ),
            )
        if a.action not in PROP_ACTIONS.get(pid, ()):
            return z3.BoolVal(True)
        if a.action == "Propose":
            w, m = p["w"], p["m"]
            if pid == "PS-2":  # the seqno sent is the one of the snapshot the fit read
                return self.all(
                    "B", lambda b: z3.Implies(K.p_tch(m, b), K.p_rd(m, b) == S.vseq(w, b))
                )
            if pid == "PS-11":  # no bucket of a partition awaiting its re-read
                return self.all(
                    "B", lambda b: z3.Implies(K.p_tch(m, b), z3.Not(S.rr(w, K.part(b))))
                )
            raise KeyError(pid)
        m = p["m"]
        rose = self.placed_rose(S, T)
        if pid == "PS-2":
            body = self.all("B", lambda b: z3.Implies(K.p_tch(m, b), K.p_rd(m, b) == S.seq(b)))
        elif pid == "PS-7":
            body = z3.Not(self.blocked(S, m))
        elif pid == "PS-9":
            body = K.p_epoch(m) == S.epoch()
        else:
            raise KeyError(pid)
        return z3.Implies(rose, body)


STATE_PROPS = ("PS-1", "PS-3", "PS-4", "PS-6", "PS-8", "PS-10")
ACTION_PROPS = ("PS-2", "PS-5", "PS-7", "PS-9", "PS-11")
#: The model actions on which each action property says something (PS-5: every one).
PROP_ACTIONS: dict[str, tuple[str, ...]] = {
    "PS-2": ("Commit", "Propose"),
    "PS-7": ("Commit",),
    "PS-9": ("Commit",),
    "PS-11": ("Propose",),
}
