"""Explicit-state model checker: breadth-first search over the ParSync model.

Built apart from the model (Stateright style): ``Checker(model)`` with options
for symmetry, budgets and progress, then ``.run()``. What it guarantees:

* every reachable state within the state constraint (the model's cycle bound)
  is visited once (up to symmetry when enabled);
* state properties are checked on every distinct state, action properties on
  every transition (also transitions into already-seen states);
* BFS order makes the first counterexample a shortest one;
* per-action coverage is counted, and every action the scope enables must fire,
  and every applicable reachability witness must be found - otherwise the scope
  is reported as vacuous rather than silently accepted;
* a state or time budget (or Ctrl-C) stops the search cleanly with an explicit
  ``incomplete`` verdict and the counts so far.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from parsync.counterexample import Trace
from parsync.engines.symmetry import Symmetry
from parsync.model.actions import Action, Propose, action_name
from parsync.model.properties import PROPERTIES, WITNESSES, witness_applicable
from parsync.model.protocol import ParSyncModel
from parsync.model.state import State, Worker

PASS = "pass"
VIOLATION = "violation"
INCOMPLETE = "incomplete"
VACUOUS = "vacuous"


@dataclass
class Progress:
    states: int
    transitions: int
    depth: int
    queue: int
    seconds: float


@dataclass
class Violation:
    property_ids: list[str]  # every property broken by the final step
    trace: Trace

    @property
    def property_id(self) -> str:
        return self.property_ids[0]


@dataclass
class CheckResult:
    verdict: str
    states: int
    transitions: int
    depth: int  # BFS levels fully or partly explored (= longest shortest path)
    seconds: float
    symmetry: int  # size of the symmetry group used (1 = none)
    coverage: dict[str, int]
    unfired: list[str]  # applicable actions that never fired
    witnesses: dict[str, bool | None]  # None = not applicable to this scope
    violation: Violation | None = None
    stop_reason: str = ""
    config: str = ""
    variant: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verdict == PASS

    @property
    def states_per_second(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0

    @property
    def missing_witnesses(self) -> list[str]:
        return [k for k, v in self.witnesses.items() if v is False]

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "verdict": self.verdict,
            "config": self.config,
            "variant": self.variant,
            "states": self.states,
            "transitions": self.transitions,
            "depth": self.depth,
            "seconds": round(self.seconds, 3),
            "states_per_second": round(self.states_per_second),
            "symmetry_group": self.symmetry,
            "coverage": self.coverage,
            "unfired_actions": self.unfired,
            "witnesses": self.witnesses,
            "stop_reason": self.stop_reason,
            **self.extra,
        }
        if self.violation is not None:
            d["violation"] = {
                "property": self.violation.property_id,
                "properties": self.violation.property_ids,
                "length": len(self.violation.trace.actions),
                "trace": self.violation.trace.to_json(),
            }
        return d


def applicable_actions(m: ParSyncModel) -> list[str]:
    """Actions the scope's switches allow at all (the others are reported as n/a)."""
    off = set()
    if m.max_crash == 0:
        off |= {"Crash", "Recover"}
    if m.max_drop == 0:
        off.add("Drop")
    if m.max_dup == 0:
        off.add("Duplicate")
    if m.max_failover == 0:
        off.add("Failover")
    if m.max_crash == 0:
        off.add("Restart")
    if m.max_timeout == 0:
        off.add("Timeout")
    if m.max_extra_read == 0:
        off.add("Refresh")
    return [a for a in m.action_names if a not in off]


class Checker:
    """Breadth-first explicit-state search with budgets and symmetry."""

    def __init__(
        self,
        model: ParSyncModel,
        *,
        symmetry: bool = False,
        max_states: int | None = None,
        max_seconds: float | None = None,
        progress: Callable[[Progress], None] | None = None,
        progress_every: int = 20_000,
        stop_on_violation: bool = True,
        max_depth: int | None = None,
    ) -> None:
        self.m = model
        # expand no state at this depth: a bounded search (``parsync bmc --compare-bfs``)
        # sees every state and transition within max_depth steps of Init; None: unbounded
        self.max_depth = max_depth
        self.sym = Symmetry(model) if symmetry else None
        self.max_states = max_states
        self.max_seconds = max_seconds
        self.progress = progress
        self.progress_every = progress_every
        self.stop_on_violation = stop_on_violation
        # memo tables for the state predicates (many states share components)
        # keyed by identity, with the key objects kept in the entry (see protocol.py)
        self._broker_ok: dict[tuple[int, tuple[int, ...]], tuple[object, tuple[str, ...]]] = {}
        self._worker_ok: dict[int, tuple[Worker, tuple[str, ...]]] = {}
        self._broker_props = [p for p in PROPERTIES if p.id in ("PS-1", "PS-4", "PS-8")]
        self._worker_props = [p for p in PROPERTIES if p.id in ("PS-3", "PS-6", "PS-10")]
        self._commit_props = [p for p in PROPERTIES if p.id in ("PS-2", "PS-7", "PS-9")]
        self._seq_prop = next(p for p in PROPERTIES if p.id == "PS-5")
        # properties of a Propose step (the broker is untouched): PS-2's first half (the
        # seqnos sent are the fit's snapshot's) and PS-11 (no conflicted partition is
        # used before it is read again)
        self._propose_props = [p for p in PROPERTIES if p.id in ("PS-2", "PS-11")]
        assert {p.id for p in PROPERTIES} == {
            p.id
            for p in (
                *self._broker_props,
                *self._worker_props,
                *self._commit_props,
                *self._propose_props,
            )
        } | {"PS-5"}, "every property must be routed to an evaluation path"

    # --- property evaluation (memoised per component) --------------------------
    def state_violations(self, s: State) -> tuple[str, ...]:
        m = self.m
        key = (id(s.broker), s.placed)
        e = self._broker_ok.get(key)
        if e is not None and e[0] is s.broker:
            bad = e[1]
        else:
            bad = tuple(p.id for p in self._broker_props if not p.state_pred(m, s))  # type: ignore[misc]
            self._broker_ok[key] = (s.broker, bad)
        out = bad
        for w in s.workers:
            we = self._worker_ok.get(id(w))
            if we is not None and we[0] is w:
                wb = we[1]
            else:
                probe = s._replace(workers=(w,))
                wb = tuple(p.id for p in self._worker_props if not p.state_pred(m, probe))  # type: ignore[misc]
                self._worker_ok[id(w)] = (w, wb)
            if wb:
                out = out + tuple(i for i in wb if i not in out)
        return tuple(sorted(out, key=_id_order))

    def action_violations(self, s: State, a: Action, t: State) -> tuple[str, ...]:
        if t.broker is s.broker:  # broker untouched: PS-5 holds, and nothing committed
            return self.propose_violations(s, a, t) if type(a) is Propose else ()
        m = self.m
        out = []
        if not self._seq_prop.action_pred(m, s, a, t):  # type: ignore[misc]
            out.append("PS-5")
        if t.placed is not s.placed:
            out.extend(p.id for p in self._commit_props if not p.action_pred(m, s, a, t))  # type: ignore[misc]
        return tuple(sorted(out, key=_id_order))

    def propose_violations(self, s: State, a: Action, t: State) -> tuple[str, ...]:
        """The action properties of a Propose step (the broker is untouched)."""
        m = self.m
        out = [p.id for p in self._propose_props if not p.action_pred(m, s, a, t)]  # type: ignore[misc]
        return tuple(sorted(out, key=_id_order))

    # --- search ----------------------------------------------------------------
    def run(self) -> CheckResult:
        m = self.m
        sym = self.sym
        canon = sym.canonical_key if sym is not None and not sym.trivial else m.state_key
        states: list[State] = []
        parent: list[int] = []
        via: list[Action | None] = []
        seen: dict[object, int] = {}
        by_type: dict[type, int] = dict.fromkeys(m.action_types, 0)
        witnesses_todo = [w for w in WITNESSES if witness_applicable(m, w)]
        witnesses: dict[str, bool | None] = {
            w.id: (False if w in witnesses_todo else None) for w in WITNESSES
        }
        violation: Violation | None = None
        transitions = 0
        depth = 0
        stop_reason = ""
        t0 = time.perf_counter()
        gc_was = gc.isenabled()
        gc.disable()  # the search allocates only acyclic tuples: no cycles to collect
        try:
            for s0 in m.init_states():
                k = canon(s0)
                if k in seen:
                    continue
                seen[k] = len(states)
                states.append(s0)
                parent.append(-1)
                via.append(None)
                bad = self.state_violations(s0)
                if bad and violation is None:
                    violation = Violation(
                        list(bad), self._trace(states, parent, via, len(states) - 1)
                    )
            level_end = len(states)
            i = 0
            next_progress = self.progress_every
            succ = m.successors
            while i < len(states) and (violation is None or not self.stop_on_violation):
                if i == level_end:
                    # level depth + 1 is next: expand it only while it is above the bound
                    if self.max_depth is not None and depth + 1 >= self.max_depth:
                        depth += 1  # the states reached (and checked) are this deep
                        stop_reason = f"depth bound of {self.max_depth} reached"
                        break
                    depth += 1
                    level_end = len(states)
                s = states[i]
                for a, t in succ(s):
                    transitions += 1
                    by_type[type(a)] += 1
                    if witnesses_todo:
                        for w in witnesses_todo:
                            if w.action_pred(m, s, a, t):  # type: ignore[misc]
                                witnesses[w.id] = True
                        witnesses_todo = [w for w in witnesses_todo if not witnesses[w.id]]
                    if t.broker is not s.broker or type(a) is Propose:
                        abad = self.action_violations(s, a, t)
                        if abad and violation is None:
                            tr = self._trace(states, parent, via, i).extend(a, t)
                            # the step's own violations first, then what the state it
                            # reached breaks as well
                            more = [i for i in self.state_violations(t) if i not in abad]
                            violation = Violation([*abad, *more], tr)
                            if self.stop_on_violation:
                                break
                    k = canon(t)
                    if k in seen:
                        continue
                    seen[k] = len(states)
                    states.append(t)
                    parent.append(i)
                    via.append(a)
                    bad = self.state_violations(t)
                    if bad and violation is None:
                        violation = Violation(
                            list(bad), self._trace(states, parent, via, len(states) - 1)
                        )
                        if self.stop_on_violation:
                            break
                i += 1
                if len(states) >= next_progress:
                    next_progress += self.progress_every
                    elapsed = time.perf_counter() - t0
                    if self.progress is not None:
                        self.progress(
                            Progress(len(states), transitions, depth, len(states) - i, elapsed)
                        )
                    if self.max_seconds is not None and elapsed > self.max_seconds:
                        stop_reason = f"time budget of {self.max_seconds:g}s reached"
                        break
                    if self.max_states is not None and len(states) >= self.max_states:
                        stop_reason = f"state budget of {self.max_states} reached"
                        break
                if (
                    self.max_states is not None
                    and len(states) >= self.max_states
                    and i < len(states)
                ):
                    stop_reason = f"state budget of {self.max_states} reached"
                    break
        except KeyboardInterrupt:
            stop_reason = "interrupted"
        finally:
            if gc_was:
                gc.enable()
        return finish(
            m,
            states=len(states),
            transitions=transitions,
            depth=depth,
            seconds=time.perf_counter() - t0,
            symmetry=self.sym.size if self.sym is not None else 1,
            by_type=by_type,
            witnesses=witnesses,
            violation=violation,
            stop_reason=stop_reason,
        )

    def _trace(
        self, states: list[State], parent: list[int], via: list[Action | None], i: int
    ) -> Trace:
        path = []
        while i >= 0:
            path.append(i)
            i = parent[i]
        path.reverse()
        acts = [via[j] for j in path[1:]]
        return Trace(
            init=states[path[0]],
            actions=[a for a in acts if a is not None],
            states=[states[j] for j in path[1:]],
        )


def finish(
    m: ParSyncModel,
    *,
    states: int,
    transitions: int,
    depth: int,
    seconds: float,
    symmetry: int,
    by_type: dict[type, int],
    witnesses: dict[str, bool | None],
    violation: Violation | None,
    stop_reason: str,
) -> CheckResult:
    """The verdict of a search from its counts (shared by every search engine)."""
    coverage = {t.__name__: k for t, k in by_type.items()}
    complete = not stop_reason and violation is None
    app = applicable_actions(m)
    unfired = [a for a in app if coverage[a] == 0] if complete else []
    if violation is not None:
        verdict = VIOLATION
    elif not complete:
        verdict = INCOMPLETE
    elif unfired or any(v is False for v in witnesses.values()):
        verdict = VACUOUS
    else:
        verdict = PASS
    if not complete:
        # a search stopped early (budget or violation) proves nothing about
        # the witnesses it has not reached yet
        witnesses = {k: (None if v is False else v) for k, v in witnesses.items()}
    return CheckResult(
        verdict=verdict,
        states=states,
        transitions=transitions,
        depth=depth,
        seconds=seconds,
        symmetry=symmetry,
        coverage={a: coverage[a] for a in m.action_names},
        unfired=unfired,
        witnesses=witnesses,
        violation=violation,
        stop_reason=stop_reason,
        config=m.config.describe(),
        variant=m.variant,
    )


def _id_order(pid: str) -> tuple[int, str]:
    try:
        return (int(pid.split("-")[1]), pid)
    except (IndexError, ValueError):
        return (999, pid)


def check(
    model: ParSyncModel,
    *,
    symmetry: bool = False,
    max_states: int | None = None,
    max_seconds: float | None = None,
) -> CheckResult:
    """Convenience: run the checker with default options."""
    return Checker(model, symmetry=symmetry, max_states=max_states, max_seconds=max_seconds).run()


__all__ = [
    "Checker",
    "CheckResult",
    "Violation",
    "Progress",
    "check",
    "finish",
    "applicable_actions",
    "action_name",
    "PASS",
    "VIOLATION",
    "INCOMPLETE",
    "VACUOUS",
]
