"""Concrete witnesses: real transitions of the Python model, one per sub-action.

Two uses:

* **non-vacuity of the proofs**: an obligation ``Inv /\\ A => C'`` is worthless if
  its hypothesis ``axioms /\\ Inv /\\ A`` has no model. Instead of asking the
  solver to find one (a satisfiability question over quantified formulas that
  Z3 often cannot settle), we exhibit one: a reachable transition of the model
  that takes sub-action ``A``, read in its own finite scope, satisfies the
  axioms, every invariant of every property (goals and lemmas) on its
  pre-state, and the parametric relation of ``A``. That also checks each lemma
  on real reachable states.
* **classification**: which of the encoding's sub-actions (``Commit[Conflict]``,
  ``HandleReply[stale]`` ...) a concrete action is, from the Python values.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import z3  # type: ignore[import-untyped]

from parsync.model.actions import (
    Action,
    Commit,
    Defer,
    Drop,
    Duplicate,
    HandleReply,
    Reject,
    StartCycle,
)
from parsync.model.config import Config, Faults
from parsync.model.presets import get_preset
from parsync.model.protocol import ParSyncModel
from parsync.model.state import REPLY_KINDS, Proposal, State
from parsync.proofs.concrete import Scope
from parsync.proofs.solving import check


def witness_config(policy: str = "reference") -> Config:
    """The witness scope: the ``pr`` scope with every fault switch on (duplication too;
    under the contract also one timeout and one extra read).

    Defined here rather than taken from a preset, so that retuning the presets
    cannot silently remove a kind of transition the non-vacuity check needs.
    """
    extra = {"timeout": 1, "extra_read": 1} if policy == "contract" else {}
    return replace(
        get_preset("pr").config,
        faults=Faults(crash=1, drop=1, duplicate=1, failover=1, **extra),
    )


def sub_action(model: ParSyncModel, s: State, a: Action, t: State) -> str:
    """The encoding's sub-action name for the concrete step s -a-> t."""
    name = type(a).__name__
    if isinstance(a, StartCycle):
        return "StartCycle[up]" if s.workers[a.w].up else "StartCycle[down]"
    if isinstance(a, Commit):
        new = [r for r in t.to_workers if t.to_workers.count(r) > s.to_workers.count(r)]
        return f"Commit[{REPLY_KINDS[new[0].kind]}]"
    if isinstance(a, HandleReply):
        r = a.r
        w = s.workers[r.worker]
        current = (
            w.waiting
            and bool(w.pending)
            and r.need == w.pending[0]
            and r.cycle == w.cycle
            and r.attempt == w.attempts
        )
        if not current:
            return "HandleReply[stale]"
        if REPLY_KINDS[r.kind] in ("Committed", "AlreadyPlaced"):
            return "HandleReply[Committed/AlreadyPlaced]"
        return (
            "HandleReply[Conflict]" if REPLY_KINDS[r.kind] == "Conflict" else "HandleReply[Fenced]"
        )
    if isinstance(a, (Drop, Duplicate)):
        return f"{name}[{'proposal' if isinstance(a.m, Proposal) else 'reply'}]"
    if isinstance(a, Reject):
        return f"Reject[{REPLY_KINDS[a.kind]}]"
    if isinstance(a, Defer) and model.contract:
        return "Defer[head]" if a.n < 0 else "Defer[other]"
    return name


@dataclass(frozen=True)
class Witness:
    sub_action: str
    model: ParSyncModel
    pre: State
    action: Action
    post: State


def find_witnesses(
    names: list[str],
    variant: str | None = None,
    *,
    max_states: int = 200_000,
    policy: str = "reference",
) -> dict[str, Witness]:
    """Breadth-first search of the witness scope until every named sub-action fired."""
    model = ParSyncModel(witness_config(policy), variant, policy=policy)
    todo = set(names)
    out: dict[str, Witness] = {}
    s0 = model.init_state()
    seen = {s0}
    queue = deque([s0])
    while queue and todo and len(seen) < max_states:
        s = queue.popleft()
        for a, t in model.successors(s):
            k = sub_action(model, s, a, t)
            if k in todo:
                out[k] = Witness(k, model, s, a, t)
                todo.discard(k)
            if t not in seen:
                seen.add(t)
                queue.append(t)
    return out


def scope_for(w: Witness, *, exact: bool) -> Scope:
    props = sorted(
        set(w.pre.to_broker) | set(w.post.to_broker) | set(w.pre.inbox) | set(w.post.inbox)
    )
    reps = sorted(set(w.pre.to_workers) | set(w.post.to_workers))
    sc = Scope(w.model, props, reps, exact=exact)
    sc.structure()
    return sc


def holds_on(w: Witness, formula: Callable[[Scope], list[tuple[str, object]]]) -> list[str]:
    """The names of the formulas (built on the witness's finite scope) that do not hold.

    The pre-/post-states and the constants are folded into the scope's tables, so
    each formula is ground; a solver check settles it (no quantifier is left).
    """
    sc = scope_for(w, exact=False)
    bad = []
    for name, f in formula(sc):
        s = z3.Solver()
        s.add(f)
        if check(s) != z3.sat:
            bad.append(name)
    return bad
