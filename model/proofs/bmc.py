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
* partial-order reduction: adjacent steps that commute (static read/write
  sets, :func:`independence`) only in one canonical order, never involving
  the last step.

Message universe: a ``k``-step trace sends at most ``k - 1`` distinct
proposals (the first step is always a ``StartCycle``: nothing is pending
initially) and receives at most ``k - 2`` replies (a reply needs a Propose and a
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
from dataclasses import dataclass, field
from typing import Any

import z3  # type: ignore[import-untyped]

from ..actions import Action, fmt_action
from ..properties import action_violations, state_violations
from ..protocol import ParSyncModel
from ..state import State
from .concrete import Scope, Values, values
from .encoding import STATE_PROPS, Sym

ALL_PROPS = ("PS-1", "PS-2", "PS-3", "PS-4", "PS-5", "PS-6", "PS-7", "PS-8", "PS-9", "PS-10")

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


def _rw(names: list[str], reads: str, writes: str) -> None:
    for n in names:
        _RW[n] = (frozenset(reads.split()), frozenset(writes.split()))


_rw(["StartCycle[up]"], "W B P R", "W")
_rw(["StartCycle[down]", "Defer"], "W", "W")
_rw(["Propose"], "W", "W P+")
_rw(
    [f"Commit[{k}]" for k in ("Fenced", "AlreadyPlaced", "Conflict", "Committed")], "P B", "P R B G"
)
_rw(
    [f"HandleReply[{k}]" for k in ("stale", "Committed/AlreadyPlaced", "Conflict", "Fenced")],
    "R W B",
    "R W",
)
_rw(["Release", "Failover"], "B", "B")
_rw(["Crash"], "W Cc", "W Cc")
_rw(["Recover"], "W B", "W")
_rw(["Drop[proposal]"], "P Cd", "P Cd")
_rw(["Drop[reply]"], "R Cd", "R Cd")
_rw(["Duplicate[proposal]"], "P Cu", "P Cu")
_rw(["Duplicate[reply]"], "R Cu", "R Cu")


def independence(a: str, b: str) -> str | None:
    """None: dependent; "always"; or "workers-differ" (independent for different workers)."""
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
    consts = [
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
    bound = (k + 2) * max(1, *model.size) + max(consts) + 2
    return bound.bit_length() + 1


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
    ) -> None:
        self.por = por
        self.m = model
        self.k = k
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
        self.acts: list[dict[str, Any]] = []  # per step: action name -> selector
        self.params: list[dict[str, dict[str, Any]]] = []

    def _unroll(self, d: int) -> None:
        """Add step d (from state d-1 to state d)."""
        enc = self.enc
        S, T = self.states[-1], enc.state(str(d))
        self._pin_unallocated(T, d)
        self.states.append(T)
        groups = enc.groups()
        sel = {g: z3.Bool(f"act{d}:{g}") for g, _ in groups}
        gps = {g: enc.group_params(subs, str(d)) for g, subs in groups}
        # message elements are allocated by step: the proposal sent at step d is
        # element d-2, the reply a Commit at step d creates is element d-3
        pm, rm = self.sc.u.elems("PM"), self.sc.u.elems("RM")
        for g, subs in groups:
            if any(a.action == "Propose" for a in subs):
                gps[g]["m"] = pm[min(max(0, d - 2), len(pm) - 1)]
            if any(a.action == "Commit" for a in subs):
                gps[g]["r"] = rm[min(max(0, d - 3), len(rm) - 1)]
        cs, taken = enc.functional_step(S, T, sel, gps)
        self.solver.add(*cs)
        self._ranges()
        ps = {a.name: gps[g] for g, subs in groups for a in subs}
        self.acts.append(taken)
        self.params.append(ps)
        if self.por and d >= 3:  # the pair (d-2, d-1): never the last step
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
        for j in range(max(0, d - 2), len(self.sc.u.elems("RM"))):
            T.rc.pin((j,), zero)

    def _worker(self, i: int, name: str) -> Any:
        p = self.params[i][name]
        if "w" in p:
            return p["w"]
        return self.enc.K.r_w(p["r"])

    def _por(self, i: int) -> None:
        """No independent pair (step i+1, step i+2) in decreasing (kind, worker) order."""
        names = [a.name for a in self.enc.actions]
        order = {n: j for j, n in enumerate(names)}
        sa, sb = self.acts[i], self.acts[i + 1]
        cs = []
        for a in names:
            for b in names:
                ind = independence(a, b)
                if ind is None:
                    continue
                if ind == "always":
                    if order[a] > order[b]:
                        cs.append(z3.Not(z3.And(sa[a], sb[b])))
                    continue
                wa, wb = self._worker(i, a), self._worker(i + 1, b)
                # independent when the workers differ: forbid the larger worker first
                # (same kind) or the larger kind first (different kinds)
                if order[a] == order[b]:
                    bad = z3.UGT(wa, wb) if self.sc.u.bv_width else z3.BoolVal(False)
                elif order[a] > order[b]:
                    bad = wa != wb
                else:
                    continue
                cs.append(z3.Not(z3.And(sa[a], sb[b], bad)))
        self.solver.add(*cs)

    def _ranges(self) -> None:
        u = self.sc.u
        if u.ranges:
            self.solver.add(*u.ranges)
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
            if pid != "PS-5" and a.action != "Commit":
                continue
            p = self.params[d - 1][a.name]
            alts.append(z3.And(self.acts[d - 1][a.name], z3.Not(enc.action_prop(pid, a, S, T, p))))
        return z3.Or(*alts, z3.BoolVal(False))

    def run(self, props: tuple[str, ...] = ALL_PROPS, also: tuple[str, ...] = ()) -> BmcResult:
        """Search depths 0..k for the first violation of any of ``props``.

        At the first depth with a violation, the properties the solver's model
        violates are reported, plus each of ``also`` that is violable at that
        same depth (decided by one more query each).
        """
        t0 = time.perf_counter()
        res = BmcResult(self.m.variant, self.k, None, [])
        for d in range(self.k + 1):
            td = time.perf_counter()
            if d > 0:
                self._unroll(d)
            viol = z3.Or(*[self._violations(d, p) for p in props])
            probe = z3.Bool(f"probe{d}")
            self.solver.add(z3.Implies(probe, viol))
            r = self.solver.check(probe)
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
                if self.solver.check(probe) == z3.sat:
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
        for j, msg in enumerate(props):
            bag_p[msg] += int(got["pc"][(j,)])
        for j, rep in enumerate(reps):
            bag_r[rep] += int(got["rc"][(j,)])
        if +bag_p != Counter(s.to_broker) or +bag_r != Counter(s.to_workers):
            return False
        want: Values = values(self.m, s._replace(to_broker=(), to_workers=()), [], [])
        return all(got[k] == v for k, v in want.items() if k not in ("pc", "rc"))


def bmc(
    model: ParSyncModel, k: int, *, timeout_s: float | None = None, also: tuple[str, ...] = ()
) -> BmcResult:
    return Bmc(model, k, timeout_s=timeout_s).run(also=also)
