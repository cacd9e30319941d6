"""Counterexample traces: render, export (JSON, ITF) and replay.

A :class:`Trace` is an initial state plus the list of actions taken and the
state after each. Only the actions are needed to reproduce it: ``replay``
re-executes them against a model and fails loudly at the first action that is
not enabled, so a stored counterexample can never drift from the model
unnoticed.

Export formats:

* JSON (this project's own): config, variant, property, the action list
  (replayable) and the states;
* ITF, the Informal Trace Format of Apalache and Quint: ``{"#meta", "vars",
  "states"}`` with records, ``{"#tup": ...}`` tuples and ``{"#bigint": ...}``
  integers, so the trace opens in their tooling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from parsync.model.actions import Action, action_from_json, action_to_json, fmt_action, fmt_msg
from parsync.model.state import MODES, REPLY_KINDS, Proposal, Reply, State

# --- flattening a state into named variables ---------------------------------------


def _fmt_snapshots(snaps: tuple[Any, ...]) -> str:
    if not snaps:
        return "(none)"
    return " | ".join(
        f"@{sn.read_at}:" + ",".join(f"{q}/{u}" for q, u in sn.entries) for sn in snaps
    )


def variables(s: State) -> dict[str, str]:
    """The state as ``name -> short text`` (ordered like the spec's VARIABLES)."""
    br = s.broker
    out: dict[str, str] = {
        "broker.epoch": str(br.epoch),
        "broker.seq": str(list(br.seq)),
        "broker.claims": str([list(c) for c in br.claims]),
        "broker.ledger": str([list(x) for x in br.ledger]),
        "broker.status": str(list(br.status)),
    }
    if br.replica is not None:
        out["broker.replica"] = str(br.replica)
    for i, w in enumerate(s.workers):
        p = f"workers[{i}]"
        out[f"{p}.up"] = str(w.up)
        out[f"{p}.cycle"] = str(w.cycle)
        out[f"{p}.mode"] = MODES[w.mode]
        out[f"{p}.epoch"] = str(w.epoch)
        out[f"{p}.fresh_at"] = str(list(w.fresh_at))
        for pi, snaps in enumerate(w.view):
            out[f"{p}.view[{pi}]"] = _fmt_snapshots(snaps)
        out[f"{p}.pending"] = str(list(w.pending))
        out[f"{p}.waiting"] = str(w.waiting)
        out[f"{p}.retries"] = str(w.retries)
        out[f"{p}.attempts"] = str(w.attempts)
        out[f"{p}.known"] = str([n for n in range(w.known.bit_length()) if (w.known >> n) & 1])
    out["to_broker"] = "{" + ", ".join(fmt_msg(m) for m in s.to_broker) + "}"
    out["to_workers"] = "{" + ", ".join(fmt_msg(m) for m in s.to_workers) + "}"
    out["faults"] = "crashes={} drops={} dups={}".format(*s.faults)
    out["placed"] = str(list(s.placed))
    return out


def diff(a: State, b: State) -> list[tuple[str, str, str]]:
    va, vb = variables(a), variables(b)
    return [(k, va.get(k, ""), vb[k]) for k in vb if va.get(k) != vb[k]]


# --- ITF encoding ---------------------------------------------------------------------


def _itf(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return {"#bigint": str(v)}
    if hasattr(v, "_asdict"):  # NamedTuple -> record
        return {k: _itf(x) for k, x in v._asdict().items()}
    if isinstance(v, tuple):
        return [_itf(x) for x in v]
    if v is None:
        return {"#tup": []}
    return str(v)


def state_to_itf(s: State) -> dict[str, Any]:
    return {k: _itf(v) for k, v in s._asdict().items()}


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

    def render(self, *, markup: bool = False) -> str:
        """Numbered steps; under each, only the variables that changed."""
        from rich.markup import escape as rich_escape

        def escape(text: str) -> str:
            return rich_escape(text) if markup else text

        lines = ["  0. Init"]
        for k, v in variables(self.init).items():
            lines.append(escape(f"       {k} = {v}"))
        for i, (a, s, t) in enumerate(self.steps(), 1):
            lines.append(escape(f"  {i}. {fmt_action(a)}"))
            for k, old, new in diff(s, t):
                if markup:
                    lines.append(
                        f"       {escape(k)}: [dim]{escape(old)}[/dim] -> "
                        f"[bold yellow]{escape(new)}[/bold yellow]"
                    )
                else:
                    lines.append(f"       {k}: {old} -> {new}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "actions": [action_to_json(a) for a in self.actions],
            "states": [state_to_json(s) for s in (self.init, *self.states)],
        }

    def to_itf(self, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        states = []
        acts: list[str] = ["Init", *(fmt_action(a) for a in self.actions)]
        for i, s in enumerate((self.init, *self.states)):
            st = state_to_itf(s)
            st["#meta"] = {"index": i, "action": acts[i]}
            states.append(st)
        return {
            "#meta": {
                "format": "ITF",
                "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
                "source": "parsync-spec",
                **(meta or {}),
            },
            "vars": list(State._fields),
            "states": states,
        }


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
