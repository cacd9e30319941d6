"""Exhaustive lockstep: drive the implementation over every edge of the model's graph.

The model's state graph for a small scope is enumerated first (model only,
fast). Its edges are grouped by the adapter step that performs them: an
*adapter edge* is (model state, step). The walk then drives the implementation
so that every adapter edge is taken at least once: from wherever the
implementation is, it takes an untaken edge if one leaves the current state,
otherwise follows a shortest path in the graph to the nearest state that has
one, and starts again from a reset when none is reachable. Where the model
offers a choice the implementation makes (which buckets, which queued
proposal), the implementation's own choice is followed: edges only another
implementation would take are reported as not taken, not as failures. The
contract's Deliver has no adapter step: its states are in the graph (an adapter
that shows its broker's inbox reaches them), and a broker step may deliver the
proposal it decides on (an edge from the state before the Deliver).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Container
from dataclasses import dataclass

from parsync.conformance.driver import Lockstep, Step, step_of
from parsync.model.actions import Commit, Deliver, Refresh, Reject
from parsync.model.config import Config
from parsync.model.protocol import ParSyncModel
from parsync.model.state import State


@dataclass
class WalkStats:
    states: int
    adapter_edges: int
    taken: int
    resets: int
    steps: int
    complete: bool  # every reachable adapter edge was tried (within the step budget)


class ModelGraph:
    """The reachable states of a scope and, per state, the adapter steps leaving it."""

    # 400,000: the nightly profile walks small's contract scope with one drop (243,989
    # states) and with one failover (214,028), the broker's inbox apart from the network
    def __init__(self, config: Config, max_states: int = 400_000, policy: str = "contract") -> None:
        m = ParSyncModel(config, policy=policy)
        s0 = m.init_state()
        self.index: dict[State, int] = {s0: 0}
        self.states: list[State] = [s0]
        self.out: list[dict[Step, set[int]]] = []

        def number(t: State) -> int:
            j = self.index.get(t)
            if j is None:
                if len(self.states) >= max_states:
                    raise ValueError(
                        f"the exhaustive scope has more than {max_states} states; "
                        "choose a smaller one"
                    )
                j = len(self.states)
                self.index[t] = j
                self.states.append(t)
            return j

        broker_step = Step("broker_step")
        i = 0
        while i < len(self.states):
            s = self.states[i]
            outs: dict[Step, set[int]] = {}
            for a, t in m.successors(s):
                if isinstance(a, Refresh):
                    continue  # folded into a worker's own step, never offered
                if isinstance(a, Deliver):
                    number(t)  # no adapter step: reached unseen, or by the broker's step
                    for b, t2 in m.successors(t):
                        if isinstance(b, (Commit, Reject)) and b.m == a.m:
                            outs.setdefault(broker_step, set()).add(number(t2))
                    continue
                outs.setdefault(step_of(a), set()).add(number(t))
            self.out.append(outs)
            i += 1

    def path_to_untaken(
        self,
        start: set[int],
        untaken: set[tuple[int, Step]],
        learned: dict[tuple[int, Step], set[int]] | None = None,
        has: Container[int] | None = None,
    ) -> list[tuple[Step, int]] | None:
        """Shortest (step, expected state) sequence from ``start`` to an untaken edge.

        Where the implementation's own choice at (state, step) has been seen
        (``learned``), only the states it actually went to are followed. ``has``, when
        given, is the set of states with an untaken edge (a caller that keeps it up to
        date spares a pass over ``untaken`` per call).
        """
        learned = learned or {}
        if has is None:
            has = {i for i, _ in untaken}
        prev: dict[int, tuple[int, Step] | None] = {i: None for i in start}
        q = deque(sorted(start))
        while q:
            i = q.popleft()
            if i in has:
                path: list[tuple[Step, int]] = []
                while True:
                    link = prev[i]
                    if link is None:
                        break
                    j, st = link
                    path.append((st, i))
                    i = j
                return path[::-1]
            for st, targets in self.out[i].items():
                for j in sorted(learned.get((i, st), targets)):
                    if j not in prev:
                        prev[j] = (i, st)
                        q.append(j)
        return None


def walk_edges(ls: Lockstep, graph: ModelGraph, max_steps: int) -> WalkStats:
    """Drive ``ls`` over every adapter edge of ``graph`` (raises ConformanceFailure)."""
    untaken = {(i, st) for i, outs in enumerate(graph.out) for st in outs}
    total = len(untaken)
    # per state, how many of its edges are untaken (the states path_to_untaken looks for)
    has = Counter(i for i, _ in untaken)

    def take(edge: tuple[int, Step]) -> None:
        untaken.discard(edge)
        has[edge[0]] -= 1
        if not has[edge[0]]:
            del has[edge[0]]

    steps = resets = 0

    learned: dict[tuple[int, Step], set[int]] = {}

    def here() -> set[int]:
        return {graph.index[s] for s in ls.cands if s in graph.index}

    def do(st: Step) -> None:
        nonlocal steps
        frm = here()
        ls.step(st)
        steps += 1
        to = here()
        if len(frm) == 1:
            learned.setdefault((next(iter(frm)), st), set()).update(to)

    while untaken and steps < max_steps:
        ls.reset()
        resets += 1
        before = len(untaken)
        while steps < max_steps:
            cur = here()
            pick = next(
                ((i, st) for i in sorted(cur) for st in graph.out[i] if (i, st) in untaken), None
            )
            if pick is not None:
                take(pick)
                do(pick[1])
                continue
            path = graph.path_to_untaken(cur, untaken, learned, has)
            if not path:
                break  # nothing untaken is reachable from here: start again from Init
            moved = False
            for st, expected in path:
                if steps >= max_steps:
                    break
                do(st)
                moved = True
                if expected not in here():
                    break  # the implementation chose another branch: re-plan from here
            if not moved:
                break
        if len(untaken) == before:
            break  # a whole round from Init took nothing new: the rest is not for this impl
    return WalkStats(
        states=len(graph.states),
        adapter_edges=total,
        taken=total - len(untaken),
        resets=resets,
        steps=steps,
        complete=steps < max_steps,
    )
