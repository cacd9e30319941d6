"""The differential check that ties the Z3 encoding to the Python model.

For a concrete state ``s`` of ``ParSyncModel`` and its successors ``t`` (every
enabled action), read in ``s``'s own finite scope (message universe: the
messages of ``s`` and of every successor):

1. **acceptance** - every step ``s -a-> t`` satisfies the encoding of its
   sub-action, in the exact reading (BMC's) and in the parametric one (the
   proofs'), with the parameters taken from ``a``;
2. **precision** - BMC's own reading (exact gangs, bit-vector numbers, Next
   as the functional if-then-else form it unrolls) accepts every
   ``alpha(t)`` and has no other successor of ``alpha(s)``: the solver is
   asked for one and must fail;
3. **mutations** - changing any single entry of ``alpha(t)`` (a number +/-1, a
   boolean flipped) gives a state the sub-action's relation rejects;
4. **properties** - the symbolic state properties agree with the Python
   predicates on ``s``, the action properties on every step.

Everything but (2) is ground (the states are folded into the tables), so
each check is a simplification to ``True``/``False``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import z3  # type: ignore[import-untyped]

from parsync.model.actions import fmt_action
from parsync.model.properties import get_property
from parsync.model.protocol import ParSyncModel
from parsync.model.state import State
from parsync.proofs.bmc import width_for
from parsync.proofs.concrete import Scope, Values
from parsync.proofs.encoding import ACTION_PROPS, STATE_PROPS
from parsync.proofs.proofs import frame
from parsync.proofs.solving import check
from parsync.proofs.witness import sub_action

BV_DEPTH = 12  # the bit width BMC would use for a 12-step unrolling of the scope


@dataclass
class DiffStats:
    states: int = 0
    steps: int = 0
    mutations: int = 0
    by_action: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _truth(f: Any) -> bool:
    """The value of a ground formula; an undecided one is an error, never a verdict."""
    g = z3.simplify(f)
    if z3.is_true(g):
        return True
    if z3.is_false(g):
        return False
    s = z3.Solver()  # not folded to a literal (should not happen): decide it
    s.add(f)
    r = check(s)
    if r == z3.unknown:
        raise RuntimeError(f"the solver cannot decide a ground formula: {s.reason_unknown()}")
    return bool(r == z3.sat)


def _mutants(v: Values, rng: random.Random, k: int | None) -> list[tuple[str, Values]]:
    entries = [(name, idx) for name, tab in v.items() for idx in tab]
    if k is not None and k < len(entries):
        entries = rng.sample(entries, k)
    out = []
    for name, idx in entries:
        old = v[name][idx]
        for new in [not old] if isinstance(old, bool) else [old + 1, old - 1]:
            m = {n: dict(t) for n, t in v.items()}
            m[name][idx] = new
            out.append((f"{name}{list(idx)}: {old} -> {new}", m))
    return out


def check_state(
    model: ParSyncModel,
    s: State,
    stats: DiffStats,
    rng: random.Random,
    *,
    mutations_per_step: int | None = 6,
    precision: bool = True,
    mutate_only: Any = None,
    accept_only: Any = None,
) -> list[tuple[Any, State]]:
    """Run checks 1-4 on ``s``; returns its successors (for the walk).

    ``mutations_per_step``: how many entries of each next state to mutate (None:
    every entry); ``mutate_only``: mutate only the step of this action;
    ``accept_only``: checks 1, 3 and 4 on the step of this action only (check 2,
    precision, still compares every successor).
    """
    succ = list(model.successors(s))
    props = sorted({x for st in (s, *(t for _, t in succ)) for x in (*st.to_broker, *st.inbox)})
    reps = sorted({x for st in (s, *(t for _, t in succ)) for x in st.to_workers})
    where = f"[{model.variant or 'design'}] state {stats.states}"
    stats.states += 1
    for exact in (True, False):
        sc = Scope(model, props, reps, exact=exact)
        sc.structure()
        enc = sc.enc
        S = enc.state("s")
        sc.pin_values(S, sc.values(s))
        if exact:  # 4. state properties
            for pid in STATE_PROPS:
                py = get_property(pid).state_pred(model, s)  # type: ignore[misc]
                for exact_sum in (False, True):
                    sym = _truth(enc.state_prop(pid, S, exact_sum=exact_sum))
                    if sym != py:
                        stats.problems.append(
                            f"{where}: {pid} is {sym} symbolically, {py} in the model"
                        )
        for a, t in succ:
            if accept_only is not None and a != accept_only:
                continue
            name = sub_action(model, s, a, t)
            A = enc.action(name)
            prm = sc.concrete_params(A, a, s, t)
            T = enc.state(f"t{stats.steps}")
            f = enc.step(A, S, T, prm)  # built once; next states are substituted in
            vt = sc.values(t)
            if not _truth(z3.substitute(f, *sc.pairs(T, vt))):  # 1. acceptance
                stats.problems.append(
                    f"{where}: {'exact' if exact else 'parametric'} {name} rejects "
                    f"the model's step {fmt_action(a)}"
                )
                continue
            if not exact:
                continue
            stats.steps += 1
            stats.by_action[name] = stats.by_action.get(name, 0) + 1
            for pid in ACTION_PROPS:  # 4. action properties
                py = get_property(pid).action_pred(model, s, a, t)  # type: ignore[misc]
                ap = enc.action_prop(pid, A, S, T, prm)
                sym = _truth(z3.substitute(ap, *sc.pairs(T, vt)))
                if sym != py:
                    stats.problems.append(
                        f"{where}: {pid} on {fmt_action(a)} is {sym} symbolically, "
                        f"{py} in the model"
                    )
            # 3. mutations of the next state
            others = [sc.values(t2) for _, t2 in succ]
            if mutate_only is not None and a != mutate_only:
                continue
            for desc, mv in _mutants(vt, rng, mutations_per_step):
                if mv in others:  # the mutant is another successor: not a wrong state
                    continue
                stats.mutations += 1
                if _truth(z3.substitute(f, *sc.pairs(T, mv))):
                    stats.problems.append(
                        f"{where}: {name} accepts a mutated next state of {fmt_action(a)} ({desc})"
                    )
    if precision:  # 2. BMC's reading (bit-vectors, functional Next): accepts each step, no other
        sc = Scope(model, props, reps, exact=True, bv_width=width_for(model, BV_DEPTH))
        sc.structure()
        enc = sc.enc
        S = enc.state("s")
        sc.pin_values(S, sc.values(s))
        X = enc.state("x")
        sels = {g: z3.Bool(f"sel:{g}") for g, _ in enc.groups()}
        ps = {g: enc.group_params(subs, "x") for g, subs in enc.groups()}
        sol = z3.Solver()
        cs, taken = enc.functional_step(S, X, sels, ps)
        sol.add(*cs)
        sol.add(*sc.u.ranges)
        for a, t in succ:
            with frame(sol):
                sol.add(*sc.pin(X, sc.values(t)))
                if check(sol) != z3.sat:
                    stats.problems.append(f"{where}: BMC's Next rejects {fmt_action(a)}")
        for _, t in succ:
            sol.add(sc.differs(X, sc.values(t)))
        r = check(sol)
        if r != z3.unsat:
            extra = ""
            if r == z3.sat:
                mdl = sol.model()
                hits = [b for b, v in taken.items() if z3.is_true(mdl.eval(v))]
                extra = f" via {', '.join(hits)}"
            stats.problems.append(f"{where}: BMC's Next has a successor the model lacks{extra}")
    return succ


def random_walks(
    model: ParSyncModel,
    *,
    walks: int,
    steps: int,
    seed: int,
    mutations_per_step: int | None = 6,
    precision: bool = True,
) -> DiffStats:
    """Random walks from Init; every visited state goes through :func:`check_state`."""
    rng = random.Random(seed)
    stats = DiffStats()
    for _ in range(walks):
        s = model.init_state()
        for _ in range(steps):
            succ = check_state(
                model, s, stats, rng, mutations_per_step=mutations_per_step, precision=precision
            )
            if not succ:
                break
            s = rng.choice(succ)[1]
    return stats
