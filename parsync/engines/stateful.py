"""The Hypothesis engine: the ParSync model as a ``RuleBasedStateMachine``.

A second, independent way to explore the same model as the BFS checker (DESIGN
section 5): where BFS enumerates every state of a small scope, Hypothesis takes
long random walks through scopes far too large to enumerate, and shrinks any
failure to a short interleaving. Both report the same property IDs.

``make_machine(model)`` builds the machine:

* one ``@rule`` per action kind, named exactly like the action (StartCycle ...
  Failover, so Hypothesis' printed steps read like the spec); its
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
      1. StartCycle(w=0)
      2. Failover()
      3. Propose(w=0, buckets=[0])
      4. Commit(Proposal(w0 n0 prio=1 reads=[b0@0] epoch=0 tag=1.1))

Cost (measured on the ``pr`` preset): a step costs Hypothesis about 0.4 ms of
its own bookkeeping, far more than the model's step, and shrinking replays a
counterexample one to two thousand times, so the variants whose shortest
counterexample is long (retry-off-by-one: 12 steps, gang-fit-first-bucket-only:
10) take ten-odd seconds, nearly all of it in the shrinker; finding them takes a
few seconds at most.

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

from parsync.model import actions as act
from parsync.model.actions import Action, fmt_action
from parsync.model.config import Config, Faults, Need
from parsync.model.properties import PROPERTIES, action_violations, state_violations
from parsync.model.protocol import ParSyncModel
from parsync.model.state import State

__all__ = [
    "WIDE_CONFIG",
    "PropertyViolation",
    "failure_message",
    "find_violation",
    "make_machine",
]

_NAMES: dict[str, str] = {p.id: p.name for p in PROPERTIES}

Step = tuple[Action, State, tuple[str, ...]]  # action, next state, violated action properties

# A scope BFS cannot exhaust (tests/test_stateful.py shows it runs out of a
# state budget within the first cycles): three workers and partitions, six
# buckets of varied capacity, seven needs with three priorities (three gangs,
# one over three buckets and one of size-2 units), arrivals over cycles 1-4,
# six cycles, R = 2, and every fault at least once. Only this engine covers it.
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
    """A ``RuleBasedStateMachine`` class exploring ``model`` (one rule per action kind;
    the contract policy's kinds are rules too, enabled only on a contract model)."""

    # Memo tables shared by every run of this machine: a shrinking Hypothesis
    # replays the same few hundred states thousands of times. Bounded, so that
    # a long nightly run over a wide scope keeps its memory flat.
    @lru_cache(maxsize=1 << 12)
    def enabled(s: State) -> dict[type, tuple[Step, ...]]:
        """The enabled actions of ``s`` by kind, each with its next state and
        the action properties the transition violates."""
        out: dict[type, list[Step]] = {}
        for a, t in model.successors(s):
            out.setdefault(type(a), []).append((a, t, tuple(action_violations(model, s, a, t))))
        return {k: tuple(v) for k, v in out.items()}

    @lru_cache(maxsize=1 << 12)
    def state_bad(s: State) -> tuple[str, ...]:
        return tuple(state_violations(model, s))

    def can(kind: type) -> Callable[[ParSyncMachine], bool]:
        def pred(machine: ParSyncMachine) -> bool:
            return kind in enabled(machine.state)

        pred.__name__ = pred.__qualname__ = f"{kind.__name__}_enabled"
        return pred

    def deadlocked(machine: ParSyncMachine) -> bool:
        return not enabled(machine.state)

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
            a, t, bad = options[i]
            self.state = t
            self.steps.append(a)
            self._check(bad)

        def _check(self, bad: Sequence[str]) -> None:
            # One raise site for every property, so Hypothesis sees a single
            # bug and shrinks to the smallest of its counterexamples.
            if bad:
                raise PropertyViolation(
                    bad, self.steps, failure_message(bad, self.steps, model.variant)
                )

        # --- one rule per action kind (ALL_ACTION_TYPES order) ---------------
        @precondition(can(act.StartCycle))
        @rule(data=st.data())
        def StartCycle(self, data: st.DataObject) -> None:
            self._take(act.StartCycle, data)

        @precondition(can(act.Propose))
        @rule(data=st.data())
        def Propose(self, data: st.DataObject) -> None:
            self._take(act.Propose, data)

        @precondition(can(act.Defer))
        @rule(data=st.data())
        def Defer(self, data: st.DataObject) -> None:
            self._take(act.Defer, data)

        @precondition(can(act.Commit))
        @rule(data=st.data())
        def Commit(self, data: st.DataObject) -> None:
            self._take(act.Commit, data)

        @precondition(can(act.HandleReply))
        @rule(data=st.data())
        def HandleReply(self, data: st.DataObject) -> None:
            self._take(act.HandleReply, data)

        @precondition(can(act.Release))
        @rule(data=st.data())
        def Release(self, data: st.DataObject) -> None:
            self._take(act.Release, data)

        @precondition(can(act.Crash))
        @rule(data=st.data())
        def Crash(self, data: st.DataObject) -> None:
            self._take(act.Crash, data)

        @precondition(can(act.Recover))
        @rule(data=st.data())
        def Recover(self, data: st.DataObject) -> None:
            self._take(act.Recover, data)

        @precondition(can(act.Drop))
        @rule(data=st.data())
        def Drop(self, data: st.DataObject) -> None:
            self._take(act.Drop, data)

        @precondition(can(act.Duplicate))
        @rule(data=st.data())
        def Duplicate(self, data: st.DataObject) -> None:
            self._take(act.Duplicate, data)

        @precondition(can(act.Failover))
        @rule(data=st.data())
        def Failover(self, data: st.DataObject) -> None:
            self._take(act.Failover, data)

        # --- the contract policy's own kinds (never enabled under the reference) --
        @precondition(can(act.Timeout))
        @rule(data=st.data())
        def Timeout(self, data: st.DataObject) -> None:
            self._take(act.Timeout, data)

        @precondition(can(act.Refresh))
        @rule(data=st.data())
        def Refresh(self, data: st.DataObject) -> None:
            self._take(act.Refresh, data)

        @precondition(can(act.Restart))
        @rule(data=st.data())
        def Restart(self, data: st.DataObject) -> None:
            self._take(act.Restart, data)

        @precondition(can(act.Reject))
        @rule(data=st.data())
        def Reject(self, data: st.DataObject) -> None:
            self._take(act.Reject, data)

        @precondition(can(act.Deliver))
        @rule(data=st.data())
        def Deliver(self, data: st.DataObject) -> None:
            self._take(act.Deliver, data)

        # ``data`` is unused: Hypothesis orders rules by argument count, then
        # name, and its shrinker prefers the first; a rule that is almost never
        # enabled should not be first.
        @precondition(deadlocked)
        @rule(data=st.data())
        def stutter(self, data: st.DataObject) -> None:
            """Nothing is enabled (the bounds are reached): the state stays as it is."""

        # --- state properties ------------------------------------------------
        @invariant()
        def state_properties(self) -> None:
            self._check(state_bad(self.state))

    return ParSyncMachine


def find_violation(
    model: ParSyncModel, settings: Settings | None = None
) -> PropertyViolation | None:
    """Run the machine over ``model``: the violation Hypothesis reports, or None.

    ``settings`` defaults to the active profile (see model.hypothesis_profiles).
    Anything other than a property violation (a crash in the model, a
    Hypothesis error) propagates.
    """
    machine = make_machine(model)
    try:
        # Hypothesis leaves this one entry point unannotated.
        run_state_machine_as_test(  # type: ignore[no-untyped-call]
            machine, settings=settings if settings is not None else Settings()
        )
    except PropertyViolation as e:
        return e
    return None
