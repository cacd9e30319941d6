"""The Hypothesis engine: the ParSync model as a ``RuleBasedStateMachine``.

A second, independent way to explore the same model as the BFS checker (DESIGN
section 5): where BFS enumerates every state of a small scope, Hypothesis takes
long random walks through scopes far too large to enumerate, and shrinks any
failure to a short interleaving. Both report the same property IDs.

``make_machine(model)`` builds the machine:

* one ``@rule`` per action kind (StartCycle ... Failover); its
  ``@precondition`` is "an action of this kind is enabled", computed from
  ``model.successors``; the rule draws an index among the enabled instances of
  its kind (so a shrunk counterexample picks the first instance where it can),
  applies it, and checks the action properties PS-2, PS-5, PS-7, PS-9 on the
  transition;
* one ``@invariant`` checks the state properties after every step (and on the
  initial state);
* a ``stutter`` rule, enabled only when no action is: a bounded model reaches
  states with nothing left to do (every worker at the cycle bound, every
  message delivered), and like TLA+ the machine stutters there instead of
  stopping Hypothesis with "no progress can be made".

The machine keeps only the current model state and the list of actions taken.
A violation raises :class:`PropertyViolation`, an ``AssertionError`` whose
message starts with the property IDs and names and lists the numbered steps::

    PS-9 EpochFencing violated after 4 steps (variant no-epoch-fencing):
      1. Propose(w=0, buckets=[0])
      2. Failover()
      ...

Settings profiles (``pr``, ``nightly``) live in :mod:`model.hypothesis_profiles`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from .actions import (
    Action,
    Commit,
    Crash,
    Defer,
    Drop,
    Duplicate,
    Failover,
    HandleReply,
    Propose,
    Recover,
    Release,
    StartCycle,
    fmt_action,
)
from .config import Config, Faults, Need
from .properties import PROPERTIES, action_violations, state_violations
from .protocol import ParSyncModel
from .state import State

__all__ = [
    "WIDE_CONFIG",
    "PropertyViolation",
    "failure_message",
    "find_violation",
    "make_machine",
]

_NAMES: dict[str, str] = {p.id: p.name for p in PROPERTIES}

Step = tuple[Action, State]

# A scope BFS cannot exhaust (tests/test_stateful.py shows it runs out of a
# state budget): three workers and partitions, six buckets of varied capacity,
# six needs (two gangs, one of them of size 2), arrivals over three cycles, six
# cycles, and every fault. Only the Hypothesis engine covers it.
WIDE_CONFIG = Config(
    workers=3,
    partitions=3,
    capacities=(1, 2, 1, 3, 2, 1),
    needs=(
        Need(owner=0, priority=1, arrival=1),
        Need(owner=1, priority=3, arrival=1),
        Need(owner=2, priority=2, arrival=1, gang=2),
        Need(owner=0, priority=2, arrival=2, size=2),
        Need(owner=1, priority=1, arrival=2, gang=3, eligible=(0, 1, 2, 3)),
        Need(owner=2, priority=1, arrival=3),
        Need(owner=0, priority=3, arrival=4, gang=2, size=2, eligible=(1, 3, 4)),
    ),
    retry_budget=2,
    strategy="adaptive",
    max_cycle=6,
    faults=Faults(crash=2, drop=2, duplicate=2, failover=1),
)


class PropertyViolation(AssertionError):
    """A property failed on the machine's run; carries the IDs and the steps."""

    def __init__(self, property_ids: Sequence[str], steps: Sequence[Action], message: str):
        super().__init__(message)
        self.property_ids: tuple[str, ...] = tuple(property_ids)
        self.steps: tuple[Action, ...] = tuple(steps)


def failure_message(
    property_ids: Sequence[str], steps: Sequence[Action], variant: str | None = None
) -> str:
    """``"PS-9 EpochFencing violated after 4 steps ...:"`` then one numbered line per step."""
    head = ", ".join(f"{pid} {_NAMES.get(pid, '?')}" for pid in property_ids)
    n = len(steps)
    where = f" (variant {variant})" if variant else ""
    lines = [f"{head} violated after {n} step{'' if n == 1 else 's'}{where}:"]
    width = len(str(n))
    lines += [f"  {i:>{width}}. {fmt_action(a)}" for i, a in enumerate(steps, 1)]
    if not steps:
        lines.append("  (in the initial state)")
    return "\n".join(lines)


def make_machine(model: ParSyncModel) -> type[RuleBasedStateMachine]:
    """A ``RuleBasedStateMachine`` class exploring ``model`` (one rule per action kind)."""

    @lru_cache(maxsize=1 << 15)
    def enabled(s: State) -> dict[type, tuple[Step, ...]]:
        """The enabled actions of ``s`` with their next states, grouped by kind."""
        out: dict[type, list[Step]] = {}
        for a, t in model.successors(s):
            out.setdefault(type(a), []).append((a, t))
        return {k: tuple(v) for k, v in out.items()}

    def can(kind: type) -> Callable[[ParSyncMachine], bool]:
        def pred(machine: ParSyncMachine) -> bool:
            return kind in enabled(machine.state)

        pred.__name__ = pred.__qualname__ = f"{kind.__name__}_enabled"
        return pred

    def deadlocked(machine: ParSyncMachine) -> bool:
        return not enabled(machine.state)

    def violation(ids: Sequence[str], steps: Sequence[Action]) -> PropertyViolation:
        return PropertyViolation(ids, steps, failure_message(ids, steps, model.variant))

    class ParSyncMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.state: State = model.init_state()
            self.steps: list[Action] = []

        def __repr__(self) -> str:
            return f"ParSyncMachine(after {len(self.steps)} steps)"

        def _take(self, kind: type, data: st.DataObject) -> None:
            options = enabled(self.state)[kind]
            i = 0
            if len(options) > 1:
                i = data.draw(st.integers(0, len(options) - 1), label=kind.__name__)
            a, t = options[i]
            s = self.state
            self.state = t
            self.steps.append(a)
            bad = action_violations(model, s, a, t)
            if bad:
                raise violation(bad, self.steps)

        # --- one rule per action kind (ACTION_TYPES order) -------------------
        @precondition(can(StartCycle))
        @rule(data=st.data())
        def start_cycle(self, data: st.DataObject) -> None:
            self._take(StartCycle, data)

        @precondition(can(Propose))
        @rule(data=st.data())
        def propose(self, data: st.DataObject) -> None:
            self._take(Propose, data)

        @precondition(can(Defer))
        @rule(data=st.data())
        def defer(self, data: st.DataObject) -> None:
            self._take(Defer, data)

        @precondition(can(Commit))
        @rule(data=st.data())
        def commit(self, data: st.DataObject) -> None:
            self._take(Commit, data)

        @precondition(can(HandleReply))
        @rule(data=st.data())
        def handle_reply(self, data: st.DataObject) -> None:
            self._take(HandleReply, data)

        @precondition(can(Release))
        @rule(data=st.data())
        def release(self, data: st.DataObject) -> None:
            self._take(Release, data)

        @precondition(can(Crash))
        @rule(data=st.data())
        def crash(self, data: st.DataObject) -> None:
            self._take(Crash, data)

        @precondition(can(Recover))
        @rule(data=st.data())
        def recover(self, data: st.DataObject) -> None:
            self._take(Recover, data)

        @precondition(can(Drop))
        @rule(data=st.data())
        def drop(self, data: st.DataObject) -> None:
            self._take(Drop, data)

        @precondition(can(Duplicate))
        @rule(data=st.data())
        def duplicate(self, data: st.DataObject) -> None:
            self._take(Duplicate, data)

        @precondition(can(Failover))
        @rule(data=st.data())
        def failover(self, data: st.DataObject) -> None:
            self._take(Failover, data)

        @precondition(deadlocked)
        @rule()
        def stutter(self) -> None:
            """Nothing is enabled (the bounds are reached): the state stays as it is."""

        # --- state properties ------------------------------------------------
        @invariant()
        def state_properties(self) -> None:
            bad = state_violations(model, self.state)
            if bad:
                raise violation(bad, self.steps)

    return ParSyncMachine


def find_violation(
    model: ParSyncModel, settings: Settings | None = None
) -> PropertyViolation | None:
    """Run the machine over ``model``; the (shrunk) violation Hypothesis found, or None."""
    machine = make_machine(model)
    try:
        # Hypothesis leaves this one entry point unannotated.
        run_state_machine_as_test(machine, settings=settings)  # type: ignore[no-untyped-call]
    except PropertyViolation as e:
        return e
    return None
