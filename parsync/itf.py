"""ITF (the Informal Trace Format of Apalache and Quint), typed as spec/ParSync.tla.

Each state holds exactly the spec's VARIABLES (``broker, workers, to_broker,
to_workers, faults, placed, inbox``), each value in its TLA+ type:

* functions (``broker.seq \\in [Buckets -> Nat]``, ``workers``, ``placed`` ...) are
  ``{"#map": [[key, value], ...]}``;
* sets (``broker.claims[b]``, ``workers[w].known``, ``Proposal.reads``,
  ``Reply.buckets``) are ``{"#set": [...]}``; pairs ``{"#tup": [...]}``;
* sequences (``pending``, ``view[p]``) are JSON lists; records are objects;
* message bags (``[Proposal -> count]``) are ``#map`` from the message record to
  its count; reply kinds are the spec's strings (``"Committed"`` ...); ``inbox``
  (the broker's received proposals, contract policy) is a bag like ``to_broker``,
  empty in every reference state (an ITF document written before it existed, with
  no ``inbox``, decodes with an empty one);
* ``faults`` is the record ``[crash, drop, dup]``; every integer is ``#bigint``.

The lagging-replica variant's ``broker.replica`` is not a spec variable and is
not exported (replay regenerates it). States decode back with
:func:`state_from_itf`; each ITF state's ``#meta`` carries the action (as text
and as this project's action JSON), so ``parsync replay`` accepts ITF.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from parsync.model.actions import Action, action_to_json, fmt_action
from parsync.model.config import Config
from parsync.model.state import REPLY_KINDS, Broker, Proposal, Reply, Snapshot, State, Worker

VARS: tuple[str, ...] = (
    "broker",
    "workers",
    "to_broker",
    "to_workers",
    "faults",
    "placed",
    "inbox",
)
FORMAT_URL = "https://apalache-mc.org/docs/adr/015adr-trace.html"


def _i(x: int) -> dict[str, str]:
    return {"#bigint": str(x)}


def _set(xs: Any) -> dict[str, list[Any]]:
    return {"#set": list(xs)}


def _map(pairs: Any) -> dict[str, list[Any]]:
    return {"#map": [[k, v] for k, v in pairs]}


def proposal_to_itf(m: Proposal) -> dict[str, Any]:
    return {
        "worker": _i(m.worker),
        "need": _i(m.need),
        "priority": _i(m.priority),
        "epoch": _i(m.epoch),
        "reads": _set({"#tup": [_i(b), _i(q)]} for b, q in sorted(m.reads)),
        "cycle": _i(m.cycle),
        "attempt": _i(m.attempt),
        "fresh": _i(m.fresh),
    }


def reply_to_itf(r: Reply) -> dict[str, Any]:
    return {
        "worker": _i(r.worker),
        "need": _i(r.need),
        "kind": REPLY_KINDS[r.kind],
        "cycle": _i(r.cycle),
        "attempt": _i(r.attempt),
        "buckets": _set(_i(b) for b in sorted(r.buckets)),
    }


def _bag(msgs: tuple[Any, ...], enc: Any) -> dict[str, list[Any]]:
    c = Counter(msgs)
    return _map((enc(m), _i(c[m])) for m in sorted(c))


def state_to_itf(cfg: Config, s: State) -> dict[str, Any]:
    """One state as the spec's variables (no ``#meta``)."""
    members = [cfg.members(p) for p in range(cfg.partitions)]
    br = s.broker

    def snapshot(p: int, sn: Snapshot) -> dict[str, Any]:
        return {
            "read_at": _i(sn.read_at),
            "entries": _map(
                (_i(b), {"seq": _i(q), "used": _i(u)})
                for b, (q, u) in zip(members[p], sn.entries, strict=True)
            ),
        }

    def worker(w: Worker) -> dict[str, Any]:
        d = {
            "up": w.up,
            "cycle": _i(w.cycle),
            "mode": _i(w.mode),
            "epoch": _i(w.epoch),
            "fresh_at": _map((_i(p), _i(c)) for p, c in enumerate(w.fresh_at)),
            "view": _map(
                (_i(p), [snapshot(p, sn) for sn in snaps]) for p, snaps in enumerate(w.view)
            ),
            "pending": [_i(n) for n in w.pending],
            "waiting": w.waiting,
            "retries": _i(w.retries),
            "attempts": _i(w.attempts),
            "known": _set(_i(n) for n in range(w.known.bit_length()) if (w.known >> n) & 1),
        }
        # the ghost proposal count and the contract's set-aside needs: written only
        # where they say more than ``attempts`` (never in a reference-policy state)
        if w.sent != w.attempts or w.parked:
            d["sent"] = _i(w.sent)
            d["parked"] = [[_i(x) for x in e] for e in w.parked]
        # the ghost of PS-11: written only where it is set (never in a state of a
        # correct model: the forced re-read clears it in the step that sets it)
        if w.reread:
            d["reread"] = _set(_i(p) for p in range(w.reread.bit_length()) if (w.reread >> p) & 1)
        return d

    return {
        "broker": {
            "epoch": _i(br.epoch),
            "seq": _map((_i(b), _i(q)) for b, q in enumerate(br.seq)),
            "claims": _map((_i(b), _set(_i(n) for n in c)) for b, c in enumerate(br.claims)),
            "ledger": _map((_i(n), _set(_i(b) for b in x)) for n, x in enumerate(br.ledger)),
            "status": _map((_i(n), _i(st)) for n, st in enumerate(br.status)),
        },
        "workers": _map((_i(i), worker(w)) for i, w in enumerate(s.workers)),
        "to_broker": _bag(s.to_broker, proposal_to_itf),
        "to_workers": _bag(s.to_workers, reply_to_itf),
        "faults": {
            "crash": _i(s.faults[0]),
            "drop": _i(s.faults[1]),
            "dup": _i(s.faults[2]),
            # the contract policy's budgets (timeouts and extra reads used so far)
            **(
                {"timeout": _i(s.faults[3]), "extra_read": _i(s.faults[4])}
                if len(s.faults) > 3
                else {}
            ),
        },
        "placed": _map((_i(n), _i(k)) for n, k in enumerate(s.placed)),
        "inbox": _bag(s.inbox, proposal_to_itf),
    }


def trace_to_itf(
    cfg: Config,
    init: State,
    actions: list[Action],
    states: list[State],
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out = []
    for i, s in enumerate((init, *states)):
        st: dict[str, Any] = {"#meta": {"index": i}}
        if i == 0:
            st["#meta"]["action"] = "Init"
        else:
            a = actions[i - 1]
            st["#meta"]["action"] = fmt_action(a)
            st["#meta"]["parsync-action"] = action_to_json(a)
        st.update(state_to_itf(cfg, s))
        out.append(st)
    return {
        "#meta": {
            "format": "ITF",
            "format-description": FORMAT_URL,
            "source": "parsync-spec",
            "config": cfg.to_dict(),
            **(meta or {}),
        },
        "vars": list(VARS),
        "states": out,
    }


# --- decoding -----------------------------------------------------------------------


class ItfError(ValueError):
    """An ITF value that is not a ParSync state."""


def _int(v: Any) -> int:
    if isinstance(v, dict) and set(v) == {"#bigint"} and isinstance(v["#bigint"], str):
        return int(v["#bigint"])
    if isinstance(v, int) and not isinstance(v, bool):  # ITF allows small plain numbers
        return v
    raise ItfError(f"not an integer: {v!r}")


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ItfError(f"not a Boolean: {v!r}")
    return v


def _items(v: Any, tag: str) -> list[Any]:
    items = v.get(tag) if isinstance(v, dict) and set(v) == {tag} else None
    if not isinstance(items, list):
        raise ItfError(f"not a {tag}: {str(v)[:80]}")
    return items


def _fun(v: Any, n: int, what: str) -> list[Any]:
    """A ``#map`` over ``0 .. n-1``, as the list of its values in key order."""
    pairs = _items(v, "#map")
    got = {}
    for p in pairs:
        if not isinstance(p, list) or len(p) != 2:
            raise ItfError(f"{what}: not a [key, value] pair: {p!r}")
        got[_int(p[0])] = p[1]
    if sorted(got) != list(range(n)):
        raise ItfError(f"{what}: keys {sorted(got)} are not 0..{n - 1}")
    return [got[k] for k in range(n)]


def _ints(v: Any) -> list[int]:
    return sorted(_int(x) for x in _items(v, "#set"))


def _rec(v: Any, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(v, dict) or set(v) != set(keys):
        got = sorted(v) if isinstance(v, dict) else type(v).__name__
        raise ItfError(f"{what}: expected fields {list(keys)}, got {got}")
    return v


def proposal_from_itf(v: Any) -> Proposal:
    r = _rec(v, Proposal._fields, "Proposal")
    reads = []
    for t in _items(r["reads"], "#set"):
        b, q = _items(t, "#tup")
        reads.append((_int(b), _int(q)))
    return Proposal(
        worker=_int(r["worker"]),
        need=_int(r["need"]),
        priority=_int(r["priority"]),
        epoch=_int(r["epoch"]),
        reads=tuple(sorted(reads)),
        cycle=_int(r["cycle"]),
        attempt=_int(r["attempt"]),
        fresh=_int(r["fresh"]),
    )


def reply_from_itf(v: Any) -> Reply:
    r = _rec(v, Reply._fields, "Reply")
    if r["kind"] not in REPLY_KINDS:
        raise ItfError(f"Reply.kind: {r['kind']!r} is not one of {list(REPLY_KINDS)}")
    return Reply(
        worker=_int(r["worker"]),
        need=_int(r["need"]),
        kind=REPLY_KINDS.index(r["kind"]),
        cycle=_int(r["cycle"]),
        attempt=_int(r["attempt"]),
        buckets=tuple(_ints(r["buckets"])),
    )


def _bag_from(v: Any, dec: Any) -> tuple[Any, ...]:
    out: list[Any] = []
    for p in _items(v, "#map"):
        if not isinstance(p, list) or len(p) != 2:
            raise ItfError(f"bag: not a [message, count] pair: {str(p)[:80]}")
        n = _int(p[1])
        if n < 1:
            raise ItfError(f"bag: count {n} < 1")
        out += [dec(p[0])] * n
    return tuple(sorted(out))


def state_from_itf(cfg: Config, st: Any) -> State:
    """The model state of one ITF state (``broker.replica`` is None: not a spec variable)."""
    if not isinstance(st, dict):
        raise ItfError("an ITF state must be an object")
    body = {k: v for k, v in st.items() if k != "#meta"}
    _rec(body, VARS if "inbox" in body else VARS[:-1], "state")
    W, P, B, N = cfg.workers, cfg.partitions, cfg.buckets, len(cfg.needs)
    members = [cfg.members(p) for p in range(P)]
    b = _rec(body["broker"], ("epoch", "seq", "claims", "ledger", "status"), "broker")
    broker = Broker(
        epoch=_int(b["epoch"]),
        seq=tuple(_int(x) for x in _fun(b["seq"], B, "broker.seq")),
        claims=tuple(tuple(_ints(x)) for x in _fun(b["claims"], B, "broker.claims")),
        ledger=tuple(tuple(_ints(x)) for x in _fun(b["ledger"], N, "broker.ledger")),
        status=tuple(_int(x) for x in _fun(b["status"], N, "broker.status")),
        replica=None,
    )

    def snapshot(p: int, v: Any) -> Snapshot:
        r = _rec(v, ("read_at", "entries"), "Snapshot")
        entries = []
        for e in _fun_keys(r["entries"], members[p]):
            x = _rec(e, ("seq", "used"), "Snapshot entry")
            entries.append((_int(x["seq"]), _int(x["used"])))
        return Snapshot(_int(r["read_at"]), tuple(entries))

    workers = []
    for i, wv in enumerate(_fun(body["workers"], W, "workers")):
        base = tuple(f for f in Worker._fields if f not in ("sent", "parked", "reread"))
        if isinstance(wv, dict) and ("sent" in wv or "parked" in wv):
            base += ("sent", "parked")
        if isinstance(wv, dict) and "reread" in wv:
            base += ("reread",)
        w = _rec(wv, base, f"workers[{i}]")
        view = []
        for p, snaps in enumerate(_fun(w["view"], P, f"workers[{i}].view")):
            if not isinstance(snaps, list):
                raise ItfError(f"workers[{i}].view[{p}] must be a sequence")
            view.append(tuple(snapshot(p, sn) for sn in snaps))
        if not isinstance(w["pending"], list):
            raise ItfError(f"workers[{i}].pending must be a sequence")
        known = 0
        for n in _ints(w["known"]):
            known |= 1 << n
        workers.append(
            Worker(
                up=_bool(w["up"]),
                cycle=_int(w["cycle"]),
                mode=_int(w["mode"]),
                epoch=_int(w["epoch"]),
                fresh_at=tuple(_int(x) for x in _fun(w["fresh_at"], P, "fresh_at")),
                view=tuple(view),
                pending=tuple(_int(x) for x in w["pending"]),
                waiting=_bool(w["waiting"]),
                retries=_int(w["retries"]),
                attempts=_int(w["attempts"]),
                known=known,
                sent=_int(w["sent"]) if "sent" in w else _int(w["attempts"]),
                parked=tuple(
                    tuple(_int(x) for x in e)  # type: ignore[misc]
                    for e in w.get("parked", [])
                ),
                reread=sum(1 << p for p in _ints(w["reread"])) if "reread" in w else 0,
            )
        )
    keys: tuple[str, ...] = ("crash", "drop", "dup")
    if isinstance(body["faults"], dict) and "timeout" in body["faults"]:
        keys += ("timeout", "extra_read")
    f = _rec(body["faults"], keys, "faults")
    return State(
        broker=broker,
        workers=tuple(workers),
        to_broker=_bag_from(body["to_broker"], proposal_from_itf),
        to_workers=_bag_from(body["to_workers"], reply_from_itf),
        faults=tuple(_int(f[k]) for k in keys),  # type: ignore[arg-type]
        placed=tuple(_int(x) for x in _fun(body["placed"], N, "placed")),
        inbox=_bag_from(body["inbox"], proposal_from_itf) if "inbox" in body else (),
    )


def _fun_keys(v: Any, keys: tuple[int, ...]) -> list[Any]:
    pairs = _items(v, "#map")
    got = {_int(p[0]): p[1] for p in pairs if isinstance(p, list) and len(p) == 2}
    if sorted(got) != sorted(keys) or len(got) != len(pairs):
        raise ItfError(f"Snapshot.entries: keys {sorted(got)} are not the partition's {keys}")
    return [got[k] for k in keys]


def spec_projection(s: State) -> State:
    """``s`` without what ITF does not carry (``broker.replica``)."""
    return s._replace(broker=s.broker._replace(replica=None))


def is_itf(doc: Any) -> bool:
    return isinstance(doc, dict) and "states" in doc and "vars" in doc
