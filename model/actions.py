"""The actions of the ParSync model, as named, hashable values.

Names are the protocol's steps, identical in spec/, the TLA+ rendering, the
checker's output and the docs: a trace reads like the spec.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Union

from parsync.model.state import REPLY_KINDS, Proposal, Reply


class StartCycle(NamedTuple):
    w: int


class Propose(NamedTuple):
    w: int
    buckets: tuple[int, ...]
    n: int = -1  # the need; -1: the head of pending (the only choice in the reference)


class Defer(NamedTuple):
    w: int
    n: int = -1  # the need; -1: the head of pending (the only choice in the reference)


class Commit(NamedTuple):
    m: Proposal


class HandleReply(NamedTuple):
    r: Reply


class Release(NamedTuple):
    n: int


class Crash(NamedTuple):
    w: int


class Recover(NamedTuple):
    w: int


class Drop(NamedTuple):
    m: Proposal | Reply


class Duplicate(NamedTuple):
    m: Proposal | Reply


class Failover(NamedTuple):
    pass


# --- steps of the contract policy only (see DESIGN section on policies) --------------


class Timeout(NamedTuple):
    """A waiting worker abandons its outstanding attempt (whatever is in flight)."""

    w: int


class Refresh(NamedTuple):
    """An extra fresh read of partition ``p`` (more freshness never hurts PS-3)."""

    w: int
    p: int


class Restart(NamedTuple):
    """A crashed worker comes back with nothing read; it re-reads with Refresh."""

    w: int


class Reject(NamedTuple):
    """The broker answers ``m`` with any non-commit reply that is true of it."""

    m: Proposal
    kind: int


class Deliver(NamedTuple):
    """The network hands one copy of proposal ``m`` to the broker's inbox."""

    m: Proposal


Action = Union[  # noqa: UP007 (a runtime alias of sixteen classes reads better this way)
    StartCycle,
    Propose,
    Defer,
    Commit,
    HandleReply,
    Release,
    Crash,
    Recover,
    Drop,
    Duplicate,
    Failover,
    Timeout,
    Refresh,
    Restart,
    Reject,
    Deliver,
]

ACTION_TYPES: tuple[type, ...] = (
    StartCycle,
    Propose,
    Defer,
    Commit,
    HandleReply,
    Release,
    Crash,
    Recover,
    Drop,
    Duplicate,
    Failover,
)
ACTION_NAMES: tuple[str, ...] = tuple(t.__name__ for t in ACTION_TYPES)
# the contract policy's extra steps (the reference policy never takes them)
CONTRACT_ACTION_TYPES: tuple[type, ...] = (Timeout, Refresh, Restart, Reject, Deliver)
CONTRACT_ACTION_NAMES: tuple[str, ...] = tuple(t.__name__ for t in CONTRACT_ACTION_TYPES)
ALL_ACTION_TYPES: tuple[type, ...] = ACTION_TYPES + CONTRACT_ACTION_TYPES


# Actions are NamedTuples, and tuples compare by value alone: without this,
# StartCycle(0) == Crash(0) == Defer(0). An action's identity includes its name.
def _action_eq(self: tuple[object, ...], other: object) -> bool:
    return type(self) is type(other) and tuple.__eq__(self, other)


def _action_ne(self: tuple[object, ...], other: object) -> bool:
    return not _action_eq(self, other)


def _action_hash(self: tuple[object, ...]) -> int:
    return hash((type(self).__name__, tuple.__hash__(self)))


for _t in ALL_ACTION_TYPES:
    _t.__eq__ = _action_eq  # type: ignore[assignment,method-assign]
    _t.__ne__ = _action_ne  # type: ignore[assignment,method-assign]
    _t.__hash__ = _action_hash  # type: ignore[assignment,method-assign]
_BY_NAME = {t.__name__: t for t in ALL_ACTION_TYPES}


def action_name(a: Action) -> str:
    return type(a).__name__


def fmt_msg(m: Proposal | Reply) -> str:
    if isinstance(m, Proposal):
        reads = ",".join(f"b{b}@{s}" for b, s in m.reads)
        return (
            f"Proposal(w{m.worker} n{m.need} prio={m.priority} reads=[{reads}] "
            f"epoch={m.epoch} tag={m.cycle}.{m.attempt})"
        )
    extra = f" buckets={list(m.buckets)}" if m.buckets else ""
    return f"{REPLY_KINDS[m.kind]}(w{m.worker} n{m.need} tag={m.cycle}.{m.attempt}{extra})"


def fmt_action(a: Action) -> str:
    """A short, readable rendering, e.g. ``Propose(w=0, buckets=[1])``."""
    if isinstance(a, Propose):
        need = f", n={a.n}" if a.n >= 0 else ""
        return f"Propose(w={a.w}{need}, buckets={list(a.buckets)})"
    if isinstance(a, Defer):
        return f"Defer(w={a.w}, n={a.n})" if a.n >= 0 else f"Defer(w={a.w})"
    if isinstance(a, Refresh):
        return f"Refresh(w={a.w}, p={a.p})"
    if isinstance(a, Reject):
        return f"Reject({fmt_msg(a.m)}, kind={REPLY_KINDS[a.kind]})"
    if isinstance(a, Commit):
        return f"Commit({fmt_msg(a.m)})"
    if isinstance(a, HandleReply):
        return f"HandleReply({fmt_msg(a.r)})"
    if isinstance(a, (Drop, Duplicate, Deliver)):
        return f"{action_name(a)}({fmt_msg(a.m)})"
    if isinstance(a, Release):
        return f"Release(n={a.n})"
    if isinstance(a, Failover):
        return "Failover()"
    return f"{action_name(a)}(w={a.w})"


# --- JSON encoding (replayable traces) ---------------------------------------


def _msg_to_json(m: Proposal | Reply) -> dict[str, Any]:
    d: dict[str, Any] = {"type": type(m).__name__}
    for k, v in m._asdict().items():
        d[k] = [list(x) for x in v] if k == "reads" else (list(v) if isinstance(v, tuple) else v)
    return d


def _msg_from_json(d: Any) -> Proposal | Reply:
    if not isinstance(d, dict) or d.get("type") not in ("Proposal", "Reply"):
        raise ValueError(f"not a message: {d!r}")
    if d["type"] == "Proposal":
        return Proposal(
            worker=int(d["worker"]),
            need=int(d["need"]),
            priority=int(d["priority"]),
            epoch=int(d["epoch"]),
            reads=tuple((int(b), int(s)) for b, s in d["reads"]),
            cycle=int(d["cycle"]),
            attempt=int(d["attempt"]),
            fresh=int(d["fresh"]),
        )
    return Reply(
        worker=int(d["worker"]),
        need=int(d["need"]),
        kind=int(d["kind"]),
        cycle=int(d["cycle"]),
        attempt=int(d["attempt"]),
        buckets=tuple(int(b) for b in d["buckets"]),
    )


def action_to_json(a: Action) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for k, v in a._asdict().items():
        if k == "n" and isinstance(a, Propose | Defer) and v < 0:
            continue  # the head: written as before the contract policy named needs
        if isinstance(v, (Proposal, Reply)):
            args[k] = _msg_to_json(v)
        elif isinstance(v, tuple):
            args[k] = list(v)
        else:
            args[k] = v
    return {"action": action_name(a), "args": args}


def action_from_json(d: Any) -> Action:
    """Inverse of :func:`action_to_json`; raises ValueError on malformed input."""
    try:
        name = d["action"]
        t = _BY_NAME[name]
        args = d.get("args", {})
        if t is Propose:
            return Propose(
                int(args["w"]), tuple(int(b) for b in args["buckets"]), int(args.get("n", -1))
            )
        if t is Defer:
            return Defer(int(args["w"]), int(args.get("n", -1)))
        if t is Refresh:
            return Refresh(int(args["w"]), int(args["p"]))
        if t is Reject:
            m = _msg_from_json(args["m"])
            kind = int(args["kind"])
            if not isinstance(m, Proposal) or not 0 <= kind < len(REPLY_KINDS):
                raise ValueError("Reject takes a proposal and a reply kind")
            return Reject(m, kind)
        if t in (Commit, Deliver):
            m = _msg_from_json(args["m"])
            if not isinstance(m, Proposal):
                raise ValueError(f"{name} takes a proposal")
            return t(m)  # type: ignore[no-any-return]
        if t is HandleReply:
            return HandleReply(_msg_from_json(args["r"]))  # type: ignore[arg-type]
        if t in (Drop, Duplicate):
            return t(_msg_from_json(args["m"]))
        if t is Release:
            return Release(int(args["n"]))
        if t is Failover:
            return Failover()
        return t(int(args["w"]))  # type: ignore[no-any-return]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"not a valid action: {d!r} ({e})") from None
