"""Counterexample traces: render, export (JSON, ITF) and replay.

A :class:`Trace` is an initial state plus the list of actions taken and the
state after each. Only the actions are needed to reproduce it: ``replay``
re-executes them against a model and fails loudly at the first action that is
not enabled, so a stored counterexample can never drift from the model
unnoticed.

Export formats:

* JSON (this project's own): config, variant, property, the action list
  (replayable) and the states;
* ITF, the Informal Trace Format of Apalache and Quint, typed as the TLA+
  spec's variables (``#set``, ``#map``, ``#tup``, records, ``#bigint``; see
  :mod:`parsync.itf`), so the trace opens in their tooling and replays here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from parsync.model.actions import Action, action_from_json, action_to_json, fmt_action
from parsync.model.state import REPLY_KINDS, Proposal, Reply, State

if TYPE_CHECKING:
    from parsync.render import Rendered

# --- flattening a state into named variables ---------------------------------------


def variables(s: State) -> dict[str, str]:
    """The state as ``spec variable -> short text`` (collections capped; see parsync.render)."""
    from parsync.render import show, state_values

    return {k: show(v) for k, v in state_values(s).items()}


def diff(a: State, b: State) -> list[str]:
    """What changed from ``a`` to ``b``, one ``name: change`` line each (parsync.render)."""
    from parsync.render import diff_lines

    return diff_lines(a, b)


# --- JSON ---------------------------------------------------------------------------


def state_to_json(s: State) -> Any:
    def plain(v: Any) -> Any:
        if hasattr(v, "_asdict"):
            return {k: plain(x) for k, x in v._asdict().items()}
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        return v

    return plain(s)


@dataclass
class Trace:
    init: State
    actions: list[Action] = field(default_factory=list)
    states: list[State] = field(default_factory=list)

    def extend(self, a: Action, t: State) -> Trace:
        return Trace(self.init, [*self.actions, a], [*self.states, t])

    @property
    def last(self) -> State:
        return self.states[-1] if self.states else self.init

    def steps(self) -> list[tuple[Action, State, State]]:
        prev = self.init
        out = []
        for a, t in zip(self.actions, self.states, strict=True):
            out.append((a, prev, t))
            prev = t
        return out

    def render(
        self,
        *,
        markup: bool = False,
        model: Any = None,
        property_ids: Sequence[str] = (),
        width: int | None = None,
    ) -> str:
        """Numbered steps; under each, only what changed; with ``model``, why it fails.

        One renderer for every command (:mod:`parsync.render`); ``width`` wraps
        long lines (``None``: no wrapping).
        """
        return self.rendered(model=model, property_ids=property_ids).text(width, markup)

    def rendered(self, *, model: Any = None, property_ids: Sequence[str] = ()) -> Rendered:
        from parsync.render import render_steps

        return render_steps(self.init, self.steps(), model=model, property_ids=property_ids)

    def to_json(self) -> dict[str, Any]:
        return {
            "actions": [action_to_json(a) for a in self.actions],
            "states": [state_to_json(s) for s in (self.init, *self.states)],
        }

    def to_itf(self, config: Any, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """ITF typed as spec/ParSync.tla's VARIABLES (:mod:`parsync.itf`)."""
        from parsync.itf import trace_to_itf

        return trace_to_itf(config, self.init, self.actions, self.states, meta)


class ReplayError(Exception):
    """A stored action is not enabled where the replay reaches it."""


def replay(model: Any, actions: list[Action], init: State | None = None) -> Trace:
    """Re-execute ``actions`` from Init; raise ReplayError at the first disabled one."""
    s = init if init is not None else model.init_state()
    tr = Trace(s)
    for i, a in enumerate(actions, 1):
        t = model.step(s, a)
        if t is None:
            raise ReplayError(f"step {i}: {fmt_action(a)} is not enabled in the replayed state")
        tr = tr.extend(a, t)
        s = t
    return tr


def actions_from_json(data: Any) -> list[Action]:
    if not isinstance(data, list):
        raise ValueError("'actions' must be a list")
    return [action_from_json(d) for d in data]


__all__ = [
    "Trace",
    "ReplayError",
    "replay",
    "variables",
    "diff",
    "actions_from_json",
    "REPLY_KINDS",
    "Proposal",
    "Reply",
]
