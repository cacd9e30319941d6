"""Bounded model checking: k-step unrolling of the encoding from Init.

A second, independent search next to the explicit-state BFS: the same scope
(a Config and a variant) is read as a finite universe (``concrete.Scope``,
exact gang combinations), Init and ``k`` copies of Next are unrolled, and at
every depth ``d`` the solver is asked for a violation of any property still
unviolated: a state property of PS-1/3/4/6/8/10 in state ``d`` (PS-1 on the
real sum of claimed sizes, not the tracked ``used``) or an action property of
PS-2/5/7/9 on step ``d``. The first depth with a violation is the length of
the shortest counterexample; the properties the solver's model violates are
listed, plus any asked for (``also``) that is violable at that depth. Each
query is posed under an assumption literal, so what the solver learns carries
over to the next depth, and a depth proved clean stays as a constraint (every
longer path's prefix is a path of that length).

Every counterexample is decoded into the Python model's actions and
**replayed** in ``ParSyncModel.step``: each step must be enabled, each state
must equal the solver's state (value by value, bags as multisets), and the
Python predicates must report the property BMC found. A BMC trace that does not
replay is reported as a disagreement, never as a result.

Encoding choices, each of which keeps every behaviour (the differential test
runs BMC's exact reading against the Python model):

* numbers are bit-vectors of :func:`width_for` bits (enough for every value
  of a ``k``-step run), elements of the finite sorts small bit-vectors with
  range constraints; the solver is Z3's finite-domain (SAT) engine ``QF_FD``;
* Next is the functional form (``Encoding.functional_step``): one
  if-then-else chain per variable entry, one selector per group of
  sub-actions whose guards exclude each other (a Commit's outcomes, the
  kinds of reply, a worker up or down), exactly one selector per step;
* partial-order reduction: adjacent steps that commute (read/write sets,
  :func:`independence`; an idle worker's StartCycle does not read the bags)
  only in one canonical order. This includes the last step: swapping a
  commuting pair keeps the final state, and the action properties of a step
  read only what its commuting neighbour leaves alone, so a violation on the
  last step of a non-canonical trace is a violation one step earlier, which
  the previous depth would have found;
* sub-actions no state of the scope enables (a fault whose budget is 0,
  :func:`never_enabled`) are left out of the unrolling; a message taken from a
  bag at step ``d`` is one allocated before ``d``, so its parameter ranges over
  those elements only (shorter if-then-else chains).

Hints (:func:`hint_catalogue`, :meth:`Bmc._prove_hints`): without help, each
depth costs about twice the one before, as the solver re-derives by search
facts such as "a view entry whose seqno is current has the current used". So
at every depth ``d`` the search first *proves*, for itself, a set of candidate
facts in state ``d`` - the counter bounds of a ``d``-step run, TypeOK, ``used``
is the claimed sum, and the proofs' strengthening lemmas - and only then
assumes them: by induction (from the facts and properties it proved in state
``d - 1``, a small solver holding only step ``d``), or else by asking the whole
unrolling. A candidate that is refuted is dropped (in a known-bad variant
some are false); so the lemmas can only make BMC faster, never change what it
finds, and BMC does not rely on the inductive proofs being right.

Message universe: a ``k``-step trace sends at most ``k - 1`` distinct
proposals (a Propose needs a pending need, so a StartCycle of its worker
before it) and receives at most ``k - 2`` replies (a reply needs a Propose and a
Commit before it), so ``k - 1`` proposal and ``k - 2`` reply elements with
solver-chosen fields lose no behaviour. Elements are allocated by step (no
symmetric choice for the solver to refute): the proposal sent at step ``d`` is
element ``d - 2`` and the reply created by a Commit at step ``d`` is element
``d - 3``; a proposal or reply sent again with the same fields is a second
element with equal fields, which the bag semantics (a multiset of field
values) does not distinguish. A consequence of the allocation, folded into the
formulas: in state ``d`` the elements not allocated yet have count 0.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import z3  # type: ignore[import-untyped]

from parsync.model.actions import Action, fmt_action
from parsync.model.properties import action_violations, state_violations
from parsync.model.protocol import ParSyncModel
from parsync.model.state import State
from parsync.proofs.concrete import Scope, Values, values
from parsync.proofs.encoding import PROP_ACTIONS, STATE_PROPS, STATE_VARS, Encoding, Sym
from parsync.proofs.proofs import GOALS, LEMMAS, TYPE_OK, frame, goal_lemmas, lemma, type_ok
from parsync.proofs.solving import check

ALL_PROPS = (
    "PS-1",
    "PS-2",
    "PS-3",
    "PS-4",
    "PS-5",
    "PS-6",
    "PS-7",
    "PS-8",
    "PS-9",
    "PS-10",
    "PS-11",
)

# --- partial-order reduction -----------------------------------------------------------
#
# What each sub-action reads and writes, by state component: "W" its worker
# (the parameter w, or the worker a reply is for), "B" the broker (epoch, seq,
# claims, used, ledger, status, replica), "P"/"R" the proposal/reply bags ("P+":
# only adds a proposal, which commutes with another addition), "Cc"/"Cd"/"Cu"
# the crash/drop/duplicate counters, "G" the ghost placed. Two steps whose sets
# do not conflict (and, when both touch "W", are for different workers) commute:
# in either order both are enabled and the result is the same state. So every
# trace can be rearranged, by swapping adjacent independent steps, into one
# where no adjacent independent pair is in decreasing (kind, worker) order -
# same length, same final state, same last step - and BMC only looks for those.
_RW: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
START_UP = "StartCycle[up]"
IDLE_START = "StartCycle[up,idle]"  # not a sub-action: StartCycle[up] of a worker not waiting


def _rw(names: list[str], reads: str, writes: str) -> None:
    for n in names:
        _RW[n] = (frozenset(reads.split()), frozenset(writes.split()))


_rw([START_UP], "W B P R", "W")
# an idle worker's StartCycle (not waiting) does not look at the bags: the
# timeout guard ``lost`` is only read while waiting (see :meth:`Bmc._por`)
_rw([IDLE_START], "W B", "W")
_rw(["StartCycle[down]", "Defer"], "W", "W")
_rw(["Propose"], "W", "W P+")
# only a Committed outcome changes the broker and the ghost placed
_rw([f"Commit[{k}]" for k in ("Fenced", "AlreadyPlaced", "Conflict")], "P B", "P R")
_rw(["Commit[Committed]"], "P B", "P R B G")
# only the replies that refresh the view read the broker
_rw(["HandleReply[stale]", "HandleReply[Committed/AlreadyPlaced]"], "R W", "R W")
_rw([f"HandleReply[{k}]" for k in ("Conflict", "Fenced")], "R W B", "R W")
_rw(["Release", "Failover"], "B", "B")
_rw(["Crash"], "W Cc", "W Cc")
_rw(["Recover"], "W B", "W")
_rw(["Drop[proposal]"], "P Cd", "P Cd")
_rw(["Drop[reply]"], "R Cd", "R Cd")
_rw(["Duplicate[proposal]"], "P Cu", "P Cu")
_rw(["Duplicate[reply]"], "R Cu", "R Cu")
# the contract's sub-actions ("Ct"/"Cx": the timeout/extra-read counters). Its
# StartCycle[up] reads and may raise the timeout counter while the worker waits
# (not when idle: IDLE_START above holds for it too)
START_UP_CONTRACT = "StartCycle[up]/contract"
# "I": the broker's inbox (contract). The broker decides on it (Commit, Reject: they
# do not touch the network's bag P), Deliver moves a proposal from P into it, and
# a waiting worker's StartCycle reads it (a proposal in the inbox is not lost)
_rw([START_UP_CONTRACT], "W B P R I Ct", "W Ct")
_rw(["Defer[head]", "Defer[other]", "Restart"], "W", "W")
_rw([f"Reject[{k}]" for k in ("Fenced", "AlreadyPlaced", "Conflict")], "I B", "I R")
_rw([f"Commit[{k}]/contract" for k in ("Fenced", "AlreadyPlaced", "Conflict")], "I B", "I R")
_rw(["Commit[Committed]/contract"], "I B", "I R B G")
_rw(["Deliver"], "P I", "P I")
_rw(["Timeout"], "W Ct", "W Ct")
_rw(["Refresh"], "W B Cx", "W Cx")


def independence(a: str, b: str, *, contract: bool = False) -> str | None:
    """None: dependent; "always"; or "workers-differ" (independent for different workers)."""
    if contract:
        a, b = (
            START_UP_CONTRACT
            if x == START_UP
            else f"{x}/contract"
            if x.startswith("Commit[")
            else x
            for x in (a, b)
        )
    ra, wa = _RW[a]
    rb, wb = _RW[b]
    acc_a = ra | {"P" if x == "P+" else x for x in wa}
    acc_b = rb | {"P" if x == "P+" else x for x in wb}
    conflicts = set()
    for x in wa:
        if x == "P+":
            if "P" in acc_b - ({"P"} if "P+" in wb and "P" not in rb else set()):
                conflicts.add("P")
        elif x in acc_b:
            conflicts.add(x)
    for x in wb:
        if x == "P+":
            if "P" in acc_a - ({"P"} if "P+" in wa and "P" not in ra else set()):
                conflicts.add("P")
        elif x in acc_a:
            conflicts.add(x)
    if conflicts - {"W"}:
        return None
    return "workers-differ" if "W" in conflicts else "always"


@dataclass
class BmcResult:
    variant: str | None
    max_depth: int
    depth: int | None  # length of the shortest counterexample, None if none up to max_depth
    properties: list[str]  # properties violable at that depth
    actions: list[Action] = field(default_factory=list)
    replayed: bool = False  # the trace replays in the Python model and violates the property
    python_violations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    per_depth_seconds: list[float] = field(default_factory=list)
    unknown: str = ""  # a solver 'unknown' (a failure, never a pass)
    problem: str = ""  # a replay disagreement

    @property
    def ok(self) -> bool:
        return not self.unknown and not self.problem

    def to_json(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "max_depth": self.max_depth,
            "depth": self.depth,
            "properties": self.properties,
            "trace": [fmt_action(a) for a in self.actions],
            "replayed": self.replayed,
            "python_violations": self.python_violations,
            "seconds": round(self.seconds, 3),
            "unknown": self.unknown,
            "problem": self.problem,
        }


def width_for(model: ParSyncModel, k: int) -> int:
    """Bits (two's complement) that hold every number of a k-step run without overflow.

    Within k steps a counter (seq, cycle, attempts, retries, epoch, fault
    counts, message counts, placed) grows by at most 1 per step and ``used`` by
    at most the largest size; constants are the Config's; the largest term the
    encoding forms is a used value plus a size compared with a capacity, or a
    difference of two cycles. So ``(k + 2) * max(1, size) + max(constant) + 2``
    bounds every magnitude, and one more bit holds the sign (-1 is the crash
    value of fresh_at).
    """
    return magnitude(model, k + 2, max_constant(model)).bit_length() + 1


def max_constant(model: ParSyncModel) -> int:
    """The largest constant of the Config the encoding reads."""
    consts = [
        model.max_timeout,
        model.max_extra_read,
        model.P,
        model.R,
        model.max_cycle,
        model.max_crash,
        model.max_drop,
        model.max_dup,
        model.max_failover,
        model.B,
        model.N,
        *model.cap,
        *model.size,
        *model.prio,
        *model.arrival,
    ]
    return max(consts)


def magnitude(model: ParSyncModel, d: int, const: int) -> int:
    """A bound on every number of a state reached in ``d`` steps (see :func:`width_for`)."""
    return d * max(1, *model.size) + const + 2


def never_enabled(model: ParSyncModel) -> frozenset[str]:
    """Groups of sub-actions whose guard no state of the scope satisfies.

    A fault whose budget is 0 never happens (its counter starts at 0 and only
    that fault raises it; Recover needs a crash first); leaving them out of the
    unrolling removes their selectors and updates without removing a behaviour.
    """
    off = set()
    if model.max_dup == 0:
        off |= {"Duplicate[proposal]", "Duplicate[reply]"}
    if model.max_drop == 0:
        off |= {"Drop[proposal]", "Drop[reply]"}
    if model.max_crash == 0:
        off |= {"Crash", "Recover"}
    if model.max_failover == 0:
        off.add("Failover")
    if model.contract:
        if model.max_crash == 0:
            off.add("Restart")
        if model.max_timeout == 0:
            off.add("Timeout")
        if model.max_extra_read == 0:
            off.add("Refresh")
    return frozenset(off)


BOUNDS = "CounterBounds"  # the depth-indexed hint (see Bmc._bounds)
USED_IS_SUM = "UsedIsSum"


def hint_catalogue(policy: str = "reference") -> dict[str, Callable[[Encoding, Sym], Any]]:
    """Candidate facts for the search: the proofs' TypeOK and strengthening lemmas.

    They are only ever *assumed* at a depth after this search has proved them
    there (see :meth:`Bmc._prove_hints`), so a wrong lemma costs speed, never a
    result: BMC stays independent of the inductive proofs.
    """
    out: dict[str, Callable[[Encoding, Sym], Any]] = {
        TYPE_OK: type_ok,
        USED_IS_SUM: lambda e, S: e.used_is_sum(S),
    }
    if policy == "contract":  # the contract's invariants (its proofs' lemmas)
        used = {n for g in GOALS for n in goal_lemmas(g.pid, policy)}
        out.update({n: lemma(n).formula for n in sorted(used)})
        return out
    out.update({name: lem.formula for name, lem in LEMMAS.items()})
    return out


class Bmc:
    """Incremental unrolling for one model (Config + variant)."""

    def __init__(
        self,
        model: ParSyncModel,
        k: int,
        *,
        timeout_s: float | None = None,
        bv_width: int | None = 0,
        solver: str = "QF_FD",
        por: bool = True,
        hints: bool = True,
    ) -> None:
        self.por = por
        self.m = model
        self.k = k
        self.timeout_s = timeout_s
        self.catalogue = hint_catalogue(model.policy)
        self.hints: list[str] = [BOUNDS, *self.catalogue] if hints else []
        self.dropped: list[tuple[int, str]] = []  # (depth, hint) refuted by the solver
        self.off = never_enabled(model)
        self.acts: list[dict[str, Any]] = []  # per step: sub-action name -> literal
        self.params: list[dict[str, dict[str, Any]]] = []  # per step: sub-action -> params
        self.live_at: list[dict[str, int]] = []  # per step: the message parameters' range
        self.step_cs: list[list[Any]] = []  # per step: its constraints (for local checks)
        self.all_ranges: list[Any] = []  # element-range constraints added so far
        if bv_width == 0:
            bv_width = width_for(model, k)
        self.sc = Scope(model, max(1, k - 1), max(1, k - 2), exact=True, bv_width=bv_width)
        self.enc = self.sc.enc
        self.solver = z3.SolverFor(solver) if solver else z3.Solver()
        if timeout_s is not None:
            self.solver.set("timeout", int(timeout_s * 1000))
        self.solver.add(*self.sc.structure())
        self.states: list[Sym] = [self.enc.state("0")]
        self._pin_unallocated(self.states[0], 0)
        self.solver.add(self.enc.init(self.states[0]))
        self._ranges()

    def _unroll(self, d: int) -> None:
        """Add step d (from state d-1 to state d)."""
        enc = self.enc
        S, T = self.states[-1], enc.state(str(d))
        self._pin_unallocated(T, d)
        self.states.append(T)
        groups = [(g, subs) for g, subs in enc.groups() if g not in self.off]
        sel = {g: z3.Bool(f"act{d}:{g}") for g, _ in groups}
        gps = {g: enc.group_params(subs, str(d)) for g, subs in groups}
        # message elements are allocated by step: the proposal sent at step d is
        # element d-2, the reply a Commit at step d creates is element d-3
        u = self.sc.u
        pm, rm = u.elems("PM"), u.elems("RM")
        for g, subs in groups:
            if any(a.action == "Propose" for a in subs):
                gps[g]["m"] = pm[min(max(0, d - 2), len(pm) - 1)]
            if any(a.action in ("Commit", "Reject") for a in subs):
                gps[g]["r"] = rm[min(max(0, d - 3), len(rm) - 1)]
        # so a message taken from a bag at step d (Commit, HandleReply, Drop,
        # Duplicate) is one of the proposals sent at steps < d (elements < d-2) or
        # replies created at steps < d (elements < d-3): the parameter's range
        live = {"PM": min(len(pm), max(1, d - 2)), "RM": min(len(rm), max(1, d - 3))}
        cs = []
        for g, _ in groups:
            for name, srt in (("m", "PM"), ("r", "RM")):
                x = gps[g].get(name)
                if x is not None and u.concrete_index(srt, x) is None:
                    cs.append(z3.Or(*(x == e for e in u.elems(srt)[: live[srt]])))
        self.live_at.append(live)
        u.live = live
        try:
            step, taken = enc.functional_step(S, T, sel, gps, groups)
        finally:
            u.live = {}
        cs += step
        self.solver.add(*cs)
        self.step_cs.append(cs)
        self._ranges()
        ps = {a.name: gps[g] for g, subs in groups for a in subs}
        self.acts.append(taken)
        self.params.append(ps)
        if self.por and d >= 3:  # the pair (step d-1, step d)
            self._por(d - 2)

    def _pin_unallocated(self, T: Sym, d: int) -> None:
        """Messages not allocated yet are not in flight after step d (folded in as 0).

        Proposal element j is first sent at step j+2 and reply element j first
        created at step j+3, and only a send/Commit raises a count from 0 (a
        Duplicate needs a copy in flight), so in state d the elements j > d-2 and
        j > d-3 have count 0: a consequence of the allocation, not an assumption.
        """
        zero = self.sc.u.num(0)
        for j in range(max(0, d - 1), len(self.sc.u.elems("PM"))):
            T.pc.pin((j,), zero)
            if self.enc.contract:  # the inbox only gets what the network held before
                T.ic.pin((j,), zero)
        for j in range(max(0, d - 2), len(self.sc.u.elems("RM"))):
            T.rc.pin((j,), zero)

    def _worker(self, i: int, name: str) -> Any:
        p = self.params[i][name]
        if "w" in p:
            return p["w"]
        with self._live(i):
            return self.enc.K.r_w(p["r"])

    @contextmanager
    def _live(self, i: int) -> Iterator[None]:
        """Build terms of step i+1 with its message parameters' ranges (same terms)."""
        u = self.sc.u
        u.live = self.live_at[i]
        try:
            yield
        finally:
            u.live = {}

    def _por(self, i: int) -> None:
        """No independent pair (step i+1, step i+2) in decreasing (kind, worker) order.

        A pair that is dependent only because a ``StartCycle[up]`` might read the
        bags (its timeout guard) is independent when that worker is not waiting
        before its step (then the guard and the step read only the worker and the
        broker): such pairs are forbidden under that condition.
        """
        order = {a.name: j for j, a in enumerate(self.enc.actions)}
        contract = self.enc.contract
        names = [n for n in order if n not in self.off]
        sa, sb = self.acts[i], self.acts[i + 1]
        cs = []
        for a in names:
            for b in names:
                if order[a] < order[b]:
                    continue  # increasing kinds: the canonical order, always allowed
                ind, cond = independence(a, b, contract=contract), z3.BoolVal(True)
                if ind is None and START_UP in (a, b):
                    ind = independence(
                        *(IDLE_START if x == START_UP else x for x in (a, b)), contract=contract
                    )
                    cond = z3.And(
                        *(
                            z3.Not(self.states[i + j].waiting(self._worker(i + j, x)))
                            for j, x in enumerate((a, b))
                            if x == START_UP
                        )
                    )
                if ind is None:
                    continue
                if ind == "always":
                    cs.append(z3.Not(z3.And(sa[a], sb[b], cond)))
                    continue
                wa, wb = self._worker(i, a), self._worker(i + 1, b)
                # independent when the workers differ: forbid the larger worker first
                # (same kind) or the larger kind first (different kinds)
                if order[a] == order[b]:
                    bad = z3.UGT(wa, wb) if self.sc.u.bv_width else z3.BoolVal(False)
                else:
                    bad = wa != wb
                cs.append(z3.Not(z3.And(sa[a], sb[b], bad, cond)))
        self.solver.add(*cs)

    def _ranges(self) -> None:
        u = self.sc.u
        if u.ranges:
            self.solver.add(*u.ranges)
            self.all_ranges += u.ranges
            u.ranges.clear()

    def _violations(self, d: int, pid: str) -> Any:
        """The formula 'pid is violated at depth d'."""
        enc = self.enc
        if pid in STATE_PROPS:
            return z3.Not(enc.state_prop(pid, self.states[d], exact_sum=True))
        if d == 0:
            return z3.BoolVal(False)
        S, T = self.states[d - 1], self.states[d]
        alts = []
        for a in enc.actions:
            if (pid != "PS-5" and a.action not in PROP_ACTIONS[pid]) or a.name in self.off:
                continue
            p = self.params[d - 1][a.name]
            with self._live(d - 1):
                ap = enc.action_prop(pid, a, S, T, p)
            alts.append(z3.And(self.acts[d - 1][a.name], z3.Not(ap)))
        return z3.Or(*alts, z3.BoolVal(False))

    def _bounds(self, S: Sym, d: int) -> Any:
        """CounterBounds: every number of a state reached in d steps is in -1 .. magnitude(d).

        Each step raises a number by at most the largest size (see
        :func:`width_for`), so this holds on every d-step path; stated per depth it
        is what makes the other hints inductive in bit-vector arithmetic (without
        it the solver must count through all d steps to rule out an overflow).
        """
        u = self.sc.u
        lo, hi = u.num(-1), u.num(magnitude(self.m, d, max_constant(self.m)))
        spec = {v.name: v for v in STATE_VARS}
        cs = []
        for name in self.enc.var_names():
            if spec[name].rng != "Int":
                continue
            f = getattr(S, name)
            for idx in self.sc.all_indices(f.dom):
                x = f.entry(idx)
                cs.append(z3.And(x >= lo, x <= hi))
        return z3.And(*cs)

    def _hint(self, name: str, d: int) -> Any:
        S = self.states[d]
        return self._bounds(S, d) if name == BOUNDS else self.catalogue[name](self.enc, S)

    def _prove_hints(self, d: int, props: tuple[str, ...]) -> str:
        """Prove the live hints in state d on every d-step path, then assume them there.

        First locally, by induction from what this search has already
        established: the hints and the state properties hold in state d-1 of
        every (d-1)-step path (proved at depth d-1), so a hint that follows from
        them and one step d (a small solver holding only that step) holds in state
        d of every d-step path. A hint that does not follow locally is asked of
        the whole unrolling; one the solver refutes there is dropped from then on
        (it is not an invariant of the scope). Returns the solver's reason if it
        gives up (``unknown``), else "".
        """
        now = {n: self._hint(n, d) for n in self.hints}
        before = {n: self._hint(n, d - 1) for n in self.hints} if d > 0 else {}
        # the state properties searched for were proved in state d-1 at depth d-1
        clean = [z3.Not(self._violations(d - 1, p)) for p in props if p in STATE_PROPS and d > 0]
        self._ranges()  # element ranges of entries the hints read first
        todo = list(self.hints)
        if d > 0:
            local = z3.SolverFor("QF_FD")
            if self.timeout_s is not None:
                local.set("timeout", int(self.timeout_s * 1000))
            local.add(*self.all_ranges, *self.step_cs[d - 1], *before.values(), *clean)
            for name in list(todo):
                with frame(local):
                    local.add(z3.Not(now[name]))
                    if check(local) == z3.unsat:  # sat or unknown: ask the whole unrolling
                        todo.remove(name)
        for name in todo:
            probe = z3.Bool(f"hint{d}:{name}")
            self.solver.add(z3.Implies(probe, z3.Not(now[name])))
            r = check(self.solver, probe)
            if r == z3.unknown:
                return str(self.solver.reason_unknown())
            if r == z3.sat:
                self.hints.remove(name)
                self.dropped.append((d, name))
        self.solver.add(*(now[n] for n in self.hints))
        return ""

    def run(
        self,
        props: tuple[str, ...] = ALL_PROPS,
        also: tuple[str, ...] = (),
        progress: Callable[[int, int], None] | None = None,
    ) -> BmcResult:
        """Search depths 0..k for the first violation of any of ``props``.

        At the first depth with a violation, the properties the solver's model
        violates are reported, plus each of ``also`` that is violable at that
        same depth (decided by one more query each). ``progress(d, k)`` is
        called as depth ``d`` starts (depths below ``d`` have no violation).
        """
        t0 = time.perf_counter()
        res = BmcResult(self.m.variant, self.k, None, [])
        for d in range(self.k + 1):
            if progress is not None:
                progress(d, self.k)
            td = time.perf_counter()
            if d > 0:
                self._unroll(d)
            if self.hints:
                why = self._prove_hints(d, props)
                if why:
                    res.unknown = f"depth {d}: {why}"
                    break
            viol = z3.Or(*[self._violations(d, p) for p in props])
            self._ranges()
            probe = z3.Bool(f"probe{d}")
            self.solver.add(z3.Implies(probe, viol))
            r = check(self.solver, probe)
            mdl = self.solver.model() if r == z3.sat else None
            if r == z3.unknown:
                res.unknown = f"depth {d}: {self.solver.reason_unknown()}"
                break
            res.per_depth_seconds.append(time.perf_counter() - td)
            if mdl is None:
                # proved: no path of length d violates at step d; every longer path's
                # prefix is such a path, so deeper searches may assume it
                self.solver.add(z3.Not(viol))
                continue
            found = [
                p
                for p in props
                if z3.is_true(mdl.eval(self._violations(d, p), model_completion=True))
            ]
            for p in also:
                if p in found:
                    continue
                probe = z3.Bool(f"probe{d}:{p}")
                self.solver.add(z3.Implies(probe, self._violations(d, p)))
                self._ranges()
                r = check(self.solver, probe)
                if r == z3.unknown:  # never read as "not violable"
                    res.unknown = f"depth {d}, {p}: {self.solver.reason_unknown()}"
                elif r == z3.sat:
                    found.append(p)
            res.depth = d
            res.properties = sorted(found, key=lambda x: int(x.split("-")[1]))
            self._decode(mdl, d, res)
            break
        res.seconds = time.perf_counter() - t0
        return res

    # --- counterexample: decode, replay in the Python model, re-check -------------------
    def _decode(self, mdl: z3.ModelRef, d: int, res: BmcResult) -> None:
        sc = self.sc
        m = self.m
        acts: list[Action] = []
        s = m.init_state()
        problems = []
        if not self._same(mdl, 0, s):
            problems.append("state 0 differs from the model's Init")
        py: list[str] = list(state_violations(m, s))
        for i in range(d):
            chosen = [a for a in self.enc.actions if z3.is_true(mdl.eval(self.acts[i][a.name]))]
            a = chosen[0]
            act = sc.decode_action(mdl, a, self.params[i][a.name])
            acts.append(act)
            t = m.step(s, act)
            if t is None:
                problems.append(f"step {i + 1}: {fmt_action(act)} is not enabled in the model")
                break
            if not self._same(mdl, i + 1, t):
                problems.append(f"step {i + 1}: {fmt_action(act)}: state differs from the model's")
            if i == d - 1:
                py = list(action_violations(m, s, act, t)) + list(state_violations(m, t))
            s = t
        res.actions = acts
        res.python_violations = sorted(set(py), key=lambda x: int(x.split("-")[1]))
        res.replayed = not problems and bool(set(res.properties) & set(py))
        if problems:
            res.problem = "; ".join(problems)
        elif not res.replayed:
            res.problem = (
                f"the replayed trace violates {res.python_violations or 'nothing'} in the "
                f"Python model, BMC found {res.properties}"
            )

    def _same(self, mdl: z3.ModelRef, i: int, s: State) -> bool:
        """The solver's state i equals the Python state s (bags compared as multisets)."""
        sc = self.sc
        got = sc.read(mdl, self.states[i])
        props = [sc.read_proposal(mdl, e) for e in sc.u.elems("PM")]
        reps = [sc.read_reply(mdl, e) for e in sc.u.elems("RM")]
        bag_p: Counter[Any] = Counter()
        bag_r: Counter[Any] = Counter()
        bag_i: Counter[Any] = Counter()
        for j, msg in enumerate(props):
            bag_p[msg] += int(got["pc"][(j,)])
            if "ic" in got:
                bag_i[msg] += int(got["ic"][(j,)])
        for j, rep in enumerate(reps):
            bag_r[rep] += int(got["rc"][(j,)])
        if +bag_p != Counter(s.to_broker) or +bag_r != Counter(s.to_workers):
            return False
        if +bag_i != Counter(s.inbox):
            return False
        bare = s._replace(to_broker=(), to_workers=(), inbox=())
        want: Values = values(self.m, bare, [], [])
        return all(got[k] == v for k, v in want.items() if k not in ("pc", "rc", "ic"))


def bmc(
    model: ParSyncModel, k: int, *, timeout_s: float | None = None, also: tuple[str, ...] = ()
) -> BmcResult:
    return Bmc(model, k, timeout_s=timeout_s).run(also=also)
