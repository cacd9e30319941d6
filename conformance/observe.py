"""Observations: shape checking, and the abstraction that compares them to the model.

An implementation's observation (see ``conformance/adapter.py``) and a model
state are both mapped to a :class:`Projection`: the variables the two share,
in one canonical form. Ghost variables (``read_at``, ``attempts``, ``placed``),
the worker's private knowledge of what is placed, the broker's dedup memory and
message tags are left out: they exist to state properties, and the
implementation need not have them.

Where a proposal is - in the network, or in the broker's inbox (received, not yet
decided; contract policy) - is not part of the projection: an observation may say
it (``"at": "network" | "inbox"`` on every proposal, :attr:`Observed.inbox`) and the
lockstep then keeps the model states that agree (``driver.Lockstep``); when it does
not, delivery is a hidden step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from parsync.model.protocol import ParSyncModel
from parsync.model.state import MODES, REPLY_KINDS, Proposal, Reply, State
from parsync.render import capped

KIND_NAMES = ("committed", "conflict", "already-placed", "fenced")
assert len(KIND_NAMES) == len(REPLY_KINDS)

# A message as both sides see it: ("broker", worker, need, epoch, priority, reads)
# or ("worker", worker, need, kind, buckets).
Msg = tuple[Any, ...]
#: where a proposal in flight is (an observation's optional ``at``)
LOCATIONS = ("network", "inbox")


#: a worker's fields in a projection, in order
WORKER_FIELDS = ("up", "cycle", "mode", "fresh_at", "view", "pending", "waiting", "retries")
#: fields an adapter may leave out of every worker's observation (then hidden:
#: the lockstep keeps every model state consistent with the rest)
OPTIONAL_WORKER_FIELDS = ("mode", "pending", "waiting", "retries")
#: fields that are policy memory under the contract: shape-checked when given,
#: never compared with the model (the contract leaves them to the policy)
CONTRACT_POLICY_FIELDS = ("mode", "retries")


class Projection(NamedTuple):
    broker: tuple[Any, ...]  # (epoch, seq, claims, ledger)
    workers: tuple[tuple[Any, ...], ...]
    messages: tuple[Msg, ...]  # sorted multiset


class ShapeError(Exception):
    """The observation does not have the documented shape (one-line message)."""


def proposal_msg(m: Proposal) -> Msg:
    return ("broker", m.worker, m.need, m.epoch, m.priority, tuple(m.reads))


def reply_msg(r: Reply) -> Msg:
    return ("worker", r.worker, r.need, KIND_NAMES[r.kind], tuple(r.buckets))


def observation_of(s: State) -> dict[str, Any]:
    """A model state as an implementation would report it: the documented observation
    shape of ``conformance/adapter.py`` (message ids ``b<i>`` / ``w<i>`` by position;
    a proposal in the broker's inbox ``i<i>``, each proposal saying where it is, ``at``).

    Used where the model itself stands in for an implementation (the model adapter of
    the suite's own tests, the trace recorder's checks) and where an implementation's
    observation is compared with the model's directly."""
    br = s.broker
    msgs: list[dict[str, Any]] = [
        {
            "id": f"{tag}{i}",
            "to": "broker",
            "worker": p.worker,
            "need": p.need,
            "epoch": p.epoch,
            "priority": p.priority,
            "reads": [list(r) for r in p.reads],
            "at": at,
        }
        for tag, at, bag in (("b", "network", s.to_broker), ("i", "inbox", s.inbox))
        for i, p in enumerate(bag)
    ]
    msgs += [
        {
            "id": f"w{i}",
            "to": "worker",
            "worker": r.worker,
            "need": r.need,
            "kind": KIND_NAMES[r.kind],
            "buckets": list(r.buckets),
        }
        for i, r in enumerate(s.to_workers)
    ]
    return {
        "broker": {
            "epoch": br.epoch,
            "seq": list(br.seq),
            "claims": [list(c) for c in br.claims],
            "ledger": [list(x) for x in br.ledger],
        },
        "workers": [
            {
                "up": w.up,
                "cycle": w.cycle,
                "mode": MODES[w.mode],
                "fresh_at": list(w.fresh_at),
                "view": [[[list(e) for e in snap.entries] for snap in snaps] for snaps in w.view],
                "pending": list(w.pending),
                "waiting": w.waiting,
                "retries": w.retries,
            }
            for w in s.workers
        ],
        "messages": msgs,
    }


def project_state(m: ParSyncModel, s: State) -> Projection:
    br = s.broker
    broker = (br.epoch, br.seq, br.claims, br.ledger)
    workers = tuple(
        (
            w.up,
            w.cycle,
            MODES[w.mode],
            w.fresh_at,
            tuple(tuple(snap.entries for snap in snaps) for snaps in w.view),
            w.pending,
            w.waiting,
            w.retries,
        )
        for w in s.workers
    )
    msgs = tuple(
        sorted(
            [proposal_msg(p) for p in (*s.to_broker, *s.inbox)]
            + [reply_msg(r) for r in s.to_workers],
            key=repr,
        )
    )
    return Projection(broker, workers, msgs)


def inbox_of(s: State) -> tuple[Msg, ...]:
    """The proposals in the broker's inbox, as messages (sorted): what an observation's
    ``at: "inbox"`` is compared with."""
    return tuple(sorted((proposal_msg(p) for p in s.inbox), key=repr))


class Mask(NamedTuple):
    """What of a projection is compared: hidden worker fields become None, and under
    the contract ``pending`` is a set (the order needs are worked in is the policy's)."""

    hidden: frozenset[str] = frozenset()
    pending_as_set: bool = False

    def apply(self, p: Projection) -> Projection:
        if not self.hidden and not self.pending_as_set:
            return p
        idx = {WORKER_FIELDS.index(f) for f in self.hidden}
        pend = WORKER_FIELDS.index("pending")
        ws = []
        for w in p.workers:
            x = list(w)
            for i in idx:
                x[i] = None
            if self.pending_as_set and x[pend] is not None:
                x[pend] = tuple(sorted(x[pend]))
            ws.append(tuple(x))
        return Projection(p.broker, tuple(ws), p.messages)


def mask_for(contract: bool, given: frozenset[str]) -> Mask:
    """The mask of a lockstep: optional fields not given are hidden, and under the
    contract the policy's own memory is hidden too."""
    hidden = set(OPTIONAL_WORKER_FIELDS) - set(given)
    if contract:
        hidden |= set(CONTRACT_POLICY_FIELDS)
    return Mask(frozenset(hidden), contract)


# --- shape checking ---------------------------------------------------------------------


def _int(path: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ShapeError(f"observation {path} must be an int, got {v!r}")
    return v


def _list(path: str, v: Any) -> list[Any]:
    if not isinstance(v, (list, tuple)):
        raise ShapeError(f"observation {path} must be a list, got {type(v).__name__}")
    return list(v)


def _ints(path: str, v: Any) -> tuple[int, ...]:
    return tuple(_int(f"{path}[{i}]", x) for i, x in enumerate(_list(path, v)))


def _field(path: str, d: Any, key: str) -> Any:
    if not isinstance(d, Mapping):
        raise ShapeError(f"observation {path} must be a dict, got {type(d).__name__}")
    if key not in d:
        raise ShapeError(f"observation {path} lacks {key!r}")
    return d[key]


class Observed(NamedTuple):
    projection: Projection  # optional fields not given are None
    ids: dict[str, Msg]  # message id -> message
    given: frozenset[str] = frozenset()  # the optional worker fields given
    # the proposals observed in the broker's inbox (sorted), when the observation says
    # where its proposals are (``at``; vacuously, when it shows none); None when not
    inbox: tuple[Msg, ...] | None = None


def parse_observation(m: ParSyncModel, obs: Any) -> Observed:
    """Check the shape of an observation and project it; ShapeError says what is wrong."""
    if not isinstance(obs, Mapping):
        raise ShapeError(f"observe() must return a dict, got {type(obs).__name__}")
    b = _field("", obs, "broker")
    epoch = _int("broker.epoch", _field("broker", b, "epoch"))
    seq = _ints("broker.seq", _field("broker", b, "seq"))
    if len(seq) != m.B:
        raise ShapeError(f"observation broker.seq has {len(seq)} entries for {m.B} buckets")
    claims_raw = _list("broker.claims", _field("broker", b, "claims"))
    if len(claims_raw) != m.B:
        raise ShapeError(
            f"observation broker.claims has {len(claims_raw)} entries for {m.B} buckets"
        )
    claims = tuple(tuple(sorted(_ints(f"broker.claims[{i}]", c))) for i, c in enumerate(claims_raw))
    ledger_raw = _list("broker.ledger", _field("broker", b, "ledger"))
    if len(ledger_raw) != m.N:
        raise ShapeError(f"observation broker.ledger has {len(ledger_raw)} entries for {m.N} needs")
    ledger = tuple(tuple(sorted(_ints(f"broker.ledger[{i}]", x))) for i, x in enumerate(ledger_raw))
    ws_raw = _list("workers", _field("", obs, "workers"))
    if len(ws_raw) != m.W:
        raise ShapeError(f"observation has {len(ws_raw)} workers, the config has {m.W}")
    workers = []
    given: frozenset[str] | None = None
    for i, w in enumerate(ws_raw):
        p = f"workers[{i}]"
        up = _field(p, w, "up")
        if not isinstance(up, bool):
            raise ShapeError(f"observation {p}.up must be a bool, got {up!r}")
        if not isinstance(w, Mapping):
            raise ShapeError(f"observation {p} must be a dict, got {type(w).__name__}")
        keys = frozenset(f for f in OPTIONAL_WORKER_FIELDS if f in w)
        if given is None:
            given = keys
        elif keys != given:
            raise ShapeError(
                f"observation {p} gives {_names(keys)} of the optional fields, workers[0] "
                f"gives {_names(given)}: every worker must give the same ones"
            )
        mode = w.get("mode")
        if mode is not None and mode not in MODES:
            raise ShapeError(
                f"observation {p}.mode must be one of {', '.join(MODES)}, got {mode!r}"
            )
        fresh = _ints(f"{p}.fresh_at", _field(p, w, "fresh_at"))
        if len(fresh) != m.P:
            raise ShapeError(
                f"observation {p}.fresh_at has {len(fresh)} entries for {m.P} partitions"
            )
        view_raw = _list(f"{p}.view", _field(p, w, "view"))
        if len(view_raw) != m.P:
            raise ShapeError(
                f"observation {p}.view has {len(view_raw)} entries for {m.P} partitions"
            )
        view = []
        for pi, snaps in enumerate(view_raw):
            out = []
            for si, snap in enumerate(_list(f"{p}.view[{pi}]", snaps)):
                entries = _list(f"{p}.view[{pi}][{si}]", snap)
                if len(entries) != len(m.members[pi]):
                    raise ShapeError(
                        f"observation {p}.view[{pi}][{si}] has {len(entries)} entries for the "
                        f"{len(m.members[pi])} buckets of partition {pi}"
                    )
                out.append(
                    tuple(_ints(f"{p}.view[{pi}][{si}][{k}]", e) for k, e in enumerate(entries))
                )
            view.append(tuple(out))
        waiting = w.get("waiting")
        if waiting is not None and not isinstance(waiting, bool):
            raise ShapeError(f"observation {p}.waiting must be a bool, got {waiting!r}")
        pending = w.get("pending")
        retries = w.get("retries")
        workers.append(
            (
                up,
                _int(f"{p}.cycle", _field(p, w, "cycle")),
                mode,
                fresh,
                tuple(view),
                None if pending is None else _ints(f"{p}.pending", pending),
                waiting,
                None if retries is None else _int(f"{p}.retries", retries),
            )
        )
    ids: dict[str, Msg] = {}
    msgs = []
    inbox: list[Msg] = []
    located = unlocated = 0
    for i, msg in enumerate(_list("messages", _field("", obs, "messages"))):
        p = f"messages[{i}]"
        mid = _field(p, msg, "id")
        if not isinstance(mid, str):
            raise ShapeError(f"observation {p}.id must be a str, got {mid!r}")
        if mid in ids:
            raise ShapeError(f"observation has two messages with id {mid!r}")
        to = _field(p, msg, "to")
        worker = _int(f"{p}.worker", _field(p, msg, "worker"))
        need = _int(f"{p}.need", _field(p, msg, "need"))
        if to == "broker":
            reads = tuple(
                tuple(_ints(f"{p}.reads[{k}]", r))
                for k, r in enumerate(_list(f"{p}.reads", _field(p, msg, "reads")))
            )
            if any(len(r) != 2 for r in reads):
                raise ShapeError(f"observation {p}.reads must be a list of [bucket, seq] pairs")
            one: Msg = (
                "broker",
                worker,
                need,
                _int(f"{p}.epoch", _field(p, msg, "epoch")),
                _int(f"{p}.priority", _field(p, msg, "priority")),
                tuple(sorted(reads)),
            )
            at = msg.get("at")
            if at is None:
                unlocated += 1
            elif at not in LOCATIONS:
                raise ShapeError(
                    f"observation {p}.at must be one of {', '.join(LOCATIONS)}, got {at!r}"
                )
            else:
                located += 1
                if at == "inbox":
                    inbox.append(one)
        elif to == "worker":
            kind = _field(p, msg, "kind")
            if kind not in KIND_NAMES:
                raise ShapeError(
                    f"observation {p}.kind must be one of {', '.join(KIND_NAMES)}, got {kind!r}"
                )
            one = (
                "worker",
                worker,
                need,
                kind,
                tuple(sorted(_ints(f"{p}.buckets", _field(p, msg, "buckets")))),
            )
        else:
            raise ShapeError(f"observation {p}.to must be 'broker' or 'worker', got {to!r}")
        ids[mid] = one
        msgs.append(one)
    if located and unlocated:
        raise ShapeError(
            f"observation gives 'at' on {located} proposal(s) and not on {unlocated}: say "
            "where every proposal is, or none"
        )
    proj = Projection((epoch, seq, claims, ledger), tuple(workers), tuple(sorted(msgs, key=repr)))
    where = tuple(sorted(inbox, key=repr)) if located or not unlocated else None
    return Observed(proj, ids, given or frozenset(), where)


def _names(fields: frozenset[str]) -> str:
    return "{" + ", ".join(f for f in OPTIONAL_WORKER_FIELDS if f in fields) + "}"


def describe_diff(observed: Projection, allowed: Projection) -> list[str]:
    """Field-by-field differences, as lines 'path: observed X, model allows Y'."""
    out: list[str] = []
    names = ("epoch", "seq", "claims", "ledger")
    for n, a, b in zip(names, observed.broker, allowed.broker, strict=True):
        if a == b:
            continue
        if n in ("claims", "ledger") and len(a) == len(b):  # per key, sets as +/- (render)
            key, item = ("b", "n") if n == "claims" else ("n", "b")
            for k, (xa, xb) in enumerate(zip(a, b, strict=True)):
                if xa != xb:
                    what = _set_change(xb, xa, item)
                    out.append(
                        f"broker.{n}[{key}{k}]: observed {_fmt(xa)}, model allows {_fmt(xb)} "
                        f"(observed {what})"
                    )
            continue
        out.append(f"broker.{n}: observed {_fmt(a)}, model allows {_fmt(b)}")
    wnames = WORKER_FIELDS
    for i, (wa, wb) in enumerate(zip(observed.workers, allowed.workers, strict=True)):
        for n, a, b in zip(wnames, wa, wb, strict=True):
            if a != b:
                out.append(f"workers[{i}].{n}: observed {_fmt(a)}, model allows {_fmt(b)}")
    if observed.messages != allowed.messages:
        extra = [x for x in observed.messages if x not in allowed.messages]
        missing = [x for x in allowed.messages if x not in observed.messages]
        if extra:
            out.append("messages only observed: " + "; ".join(capped([fmt_msg(x) for x in extra])))
        if missing:
            shown = capped([fmt_msg(x) for x in missing])
            out.append("messages only in the model: " + "; ".join(shown))
        if not extra and not missing:
            out.append("messages: same messages, different multiplicities")
    return out


def _set_change(allowed: Any, observed: Any, prefix: str) -> str:
    """``+x -y``: what the observed set has more and less than the allowed one."""
    from parsync.render import SetV, changes

    def sv(xs: Any) -> SetV:
        return SetV(tuple(f"{prefix}{x}" for x in xs))

    (line,) = changes("", sv(allowed), sv(observed))
    return line.removeprefix(": ")


def _fmt(v: Any) -> str:
    if isinstance(v, tuple):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return repr(v) if isinstance(v, str) else str(v)


def fmt_msg(x: Msg) -> str:
    if x[0] == "broker":
        _, w, n, epoch, prio, reads = x
        rd = ",".join(f"b{b}@{q}" for b, q in reads)
        return f"proposal(w{w} n{n} prio={prio} epoch={epoch} reads=[{rd}])"
    _, w, n, kind, buckets = x
    return f"{kind}(w{w} n{n}{' buckets=' + _fmt(buckets) if buckets else ''})"
