"""The one counterexample renderer: check, replay, prove (CTIs), bmc, conformance, traces.

A state is shown as its spec variables (``broker.seq``, ``workers[0].known``,
``to_broker`` ...), each a small typed value: a scalar, a set, a bag (message
multiset, shown as ``msg x N``: counts, never copies) or a map. The initial
state is shown once in full; each step shows only what changed: scalars as
``old -> new``, sets as ``+added -removed``, bags as ``+msg``/``-msg`` with
counts, maps per changed key. Long collections are capped (``... (+N more)``),
so no rendering grows with the number of copies of a message or the number of
needs. The last line says why the property fails, in the state's own terms
(:func:`explain`). Lines are wrapped at one width for every command
(:func:`output_width`).
"""

from __future__ import annotations

import shutil
import textwrap
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Union

from parsync.model.actions import (
    Action,
    Commit,
    Propose,
    fmt_action,
    fmt_msg,
)
from parsync.model.state import MODES, Proposal, Reply, Snapshot, State

CAP = 8  # items of one collection shown before "... (+N more)"
STATUS_NAMES = ("unplaced", "placed", "released")

# --- typed values ---------------------------------------------------------------------


class Scalar(NamedTuple):
    text: str


class SetV(NamedTuple):
    items: tuple[str, ...]  # in the value's own order


class Bag(NamedTuple):
    items: tuple[tuple[str, int], ...]  # (message, count), in message order


class MapV(NamedTuple):
    items: tuple[tuple[str, Value], ...]  # (key, value), in key order


Value = Union[Scalar, SetV, Bag, MapV]  # noqa: UP007 (a runtime alias)


def _bag(msgs: Iterable[Proposal | Reply]) -> Bag:
    c = Counter(msgs)
    return Bag(tuple((fmt_msg(m), c[m]) for m in sorted(c)))


def _snapshots(snaps: tuple[Snapshot, ...]) -> str:
    if not snaps:
        return "(none)"
    shown = snaps[-CAP:]
    more = f"(+{len(snaps) - len(shown)} earlier) | " if len(snaps) > len(shown) else ""
    return more + " | ".join(
        f"@{sn.read_at}:" + ",".join(f"{q}/{u}" for q, u in sn.entries) for sn in shown
    )


def _set_of(prefix: str, xs: Iterable[int]) -> SetV:
    return SetV(tuple(f"{prefix}{x}" for x in xs))


def state_values(s: State) -> dict[str, Value]:
    """The state as ``spec variable -> typed value``, in the spec's VARIABLES order."""
    br = s.broker
    out: dict[str, Value] = {
        "broker.epoch": Scalar(str(br.epoch)),
        "broker.seq": MapV(tuple((f"b{b}", Scalar(str(q))) for b, q in enumerate(br.seq))),
        "broker.claims": MapV(tuple((f"b{b}", _set_of("n", c)) for b, c in enumerate(br.claims))),
        "broker.ledger": MapV(tuple((f"n{n}", _set_of("b", x)) for n, x in enumerate(br.ledger))),
        "broker.status": MapV(
            tuple((f"n{n}", Scalar(STATUS_NAMES[st])) for n, st in enumerate(br.status))
        ),
    }
    if br.replica is not None:  # kept by the lagging-replica variant only
        seq, _claims, _ledger, _status = br.replica
        out["broker.replica.seq"] = MapV(
            tuple((f"b{b}", Scalar(str(q))) for b, q in enumerate(seq))
        )
    for i, w in enumerate(s.workers):
        p = f"workers[{i}]"
        out[f"{p}.up"] = Scalar(str(w.up))
        out[f"{p}.cycle"] = Scalar(str(w.cycle))
        out[f"{p}.mode"] = Scalar(MODES[w.mode])
        out[f"{p}.epoch"] = Scalar(str(w.epoch))
        out[f"{p}.fresh_at"] = MapV(
            tuple((f"p{q}", Scalar(str(c))) for q, c in enumerate(w.fresh_at))
        )
        out[f"{p}.view"] = MapV(
            tuple((f"p{q}", Scalar(_snapshots(sn))) for q, sn in enumerate(w.view))
        )
        out[f"{p}.pending"] = Scalar("<<" + ", ".join(f"n{n}" for n in w.pending) + ">>")
        out[f"{p}.waiting"] = Scalar(str(w.waiting))
        out[f"{p}.retries"] = Scalar(str(w.retries))
        out[f"{p}.attempts"] = Scalar(str(w.attempts))
        if w.sent != w.attempts or w.parked:  # only where the ghost says more
            out[f"{p}.sent"] = Scalar(str(w.sent))
            out[f"{p}.parked"] = Scalar(
                "{" + ", ".join(f"n{n}: sent {k}" for n, _r, _a, k in w.parked) + "}"
            )
        out[f"{p}.known"] = _set_of(
            "n", (n for n in range(w.known.bit_length()) if (w.known >> n) & 1)
        )
        if w.reread:  # the ghost of PS-11, only where set (never in a correct run)
            out[f"{p}.reread"] = _set_of(
                "p", (q for q in range(w.reread.bit_length()) if (w.reread >> q) & 1)
            )
    out["to_broker"] = _bag(s.to_broker)
    out["to_workers"] = _bag(s.to_workers)
    out["faults"] = Scalar(
        "crash={} drop={} dup={}".format(*s.faults)
        + (" timeout={} extra_read={}".format(*s.faults[3:]) if len(s.faults) > 3 else "")
    )
    out["placed"] = MapV(tuple((f"n{n}", Scalar(str(k))) for n, k in enumerate(s.placed)))
    # the broker's inbox: a contract state's (five fault counters), never a reference one's
    if len(s.faults) > 3 or s.inbox:
        out["inbox"] = _bag(s.inbox)
    return out


# --- showing values -------------------------------------------------------------------


def capped(items: Sequence[str], cap: int = CAP) -> list[str]:
    if len(items) <= cap:
        return list(items)
    return [*items[:cap], f"... (+{len(items) - cap} more)"]


def _count(text: str, n: int) -> str:
    return text if n == 1 else f"{text} x {n}"


def _runs(items: tuple[tuple[str, Value], ...]) -> list[str]:
    """``key: value`` per entry; equal scalar values on consecutive keys as ``k0..k9: v``."""
    out: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while (
            j + 1 < len(items)
            and isinstance(items[i][1], Scalar)
            and items[j + 1][1] == items[i][1]
        ):
            j += 1
        key = items[i][0] if j == i else f"{items[i][0]}..{items[j][0]}"
        out.append(f"{key}: {show(items[i][1])}")
        i = j + 1
    return out


def show(v: Value) -> str:
    """A value in full, collections capped."""
    if isinstance(v, Scalar):
        return v.text
    if isinstance(v, SetV):
        return "{" + ", ".join(capped(v.items)) + "}"
    if isinstance(v, Bag):
        total = sum(n for _, n in v.items)
        body = ", ".join(capped([_count(m, n) for m, n in v.items]))
        return "{" + body + "}" + (f" ({total} in flight)" if total > 1 else "")
    runs = _runs(v.items)
    if len(v.items) <= CAP and all(isinstance(x, Scalar) for _, x in v.items):
        runs = [f"{k}: {show(x)}" for k, x in v.items]
    return "{" + ", ".join(capped(runs)) + "}"


def changes(name: str, a: Value | None, b: Value) -> list[str]:
    """What changed from ``a`` to ``b``, as ``name: change`` lines (empty when equal)."""
    if a == b:
        return []
    if a is None or type(a) is not type(b):
        return [f"{name} = {show(b)}"]
    if isinstance(a, SetV) and isinstance(b, SetV):
        added = [f"+{x}" for x in b.items if x not in a.items]
        removed = [f"-{x}" for x in a.items if x not in b.items]
        if not added and not removed:  # only a multiplicity changed (a claim held twice)
            return [f"{name} = {show(b)}"]
        return [f"{name}: " + " ".join(capped(added + removed))]
    if isinstance(a, Bag) and isinstance(b, Bag):
        ca, cb = dict(a.items), dict(b.items)
        out = []
        for m in sorted(set(ca) | set(cb), key=lambda x: (x not in cb, x)):
            na, nb = ca.get(m, 0), cb.get(m, 0)
            if na == nb:
                continue
            if na == 0:
                out.append("+" + _count(m, nb))
            elif nb == 0:
                out.append("-" + _count(m, na))
            else:
                out.append(f"{m} x {na} -> {nb}")
        return [f"{name}: " + ", ".join(capped(out))]
    if isinstance(a, MapV) and isinstance(b, MapV):
        da, db = dict(a.items), dict(b.items)
        lines: list[str] = []
        changed = [k for k, _ in b.items if da.get(k) != db[k]]
        for k in changed[:CAP]:
            lines += changes(f"{name}[{k}]", da.get(k), db[k])
        if len(changed) > CAP:
            lines.append(f"{name}: ... (+{len(changed) - CAP} more keys changed)")
        return lines
    assert isinstance(a, Scalar) and isinstance(b, Scalar)
    return [f"{name}: {a.text} -> {b.text}"]


def state_lines(s: State) -> list[str]:
    """Every variable of a state, ``name = value``."""
    return [f"{k} = {show(v)}" for k, v in state_values(s).items()]


def diff_lines(s: State, t: State) -> list[str]:
    """Only what changed from ``s`` to ``t``."""
    va, vb = state_values(s), state_values(t)
    out: list[str] = []
    for k, v in vb.items():
        out += changes(k, va.get(k), v)
    return out


# --- why a property fails -------------------------------------------------------------


def _names(xs: Iterable[int], prefix: str) -> str:
    return ", ".join(f"{prefix}{x}" for x in xs)


def _reasons(pid: str, m: Any, s: State, a: Action | None, t: State | None) -> list[str]:
    """Every witness of ``pid``'s failure in the state (``s``) or the step (``s, a, t``)."""
    br = s.broker
    out: list[str] = []
    if pid == "PS-1":
        for b in range(m.B):
            u = m.used(br, b)
            if u > m.cap[b]:
                out.append(f"b{b} used {u} > capacity {m.cap[b]}")
    elif pid == "PS-3":
        bound = m.P - 1
        for i, w in enumerate(s.workers):
            for p, snaps in enumerate(w.view):
                if not w.up:
                    continue
                if not snaps:
                    out.append(f"w{i} holds no data for p{p}")
                elif w.cycle - snaps[-1].read_at > bound:
                    age = w.cycle - snaps[-1].read_at
                    out.append(
                        f"w{i}'s data for p{p} was read at cycle {snaps[-1].read_at}, "
                        f"it is cycle {w.cycle}: {age} cycles old > P-1 = {bound}"
                    )
    elif pid == "PS-4":
        for n in range(m.N):
            for b in range(m.B):
                if b in br.ledger[n] and n not in br.claims[b]:
                    out.append(f"ledger[n{n}] holds b{b} but claims[b{b}] lacks n{n}")
                elif b not in br.ledger[n] and n in br.claims[b]:
                    out.append(f"claims[b{b}] holds n{n} but ledger[n{n}] lacks b{b}")
    elif pid == "PS-6":
        limit = m.R + 1
        for i, w in enumerate(s.workers):
            if w.sent > limit:
                need = f"n{w.pending[0]}" if w.pending else "its need"
                out.append(f"w{i} proposed {need} {w.sent} times this cycle > 1 + R = {limit}")
            for n, _r, _a, k in w.parked:
                if k > limit:
                    out.append(f"w{i} proposed n{n} {k} times this cycle > 1 + R = {limit}")
    elif pid == "PS-8":
        for n, k in enumerate(s.placed):
            if k > 1:
                out.append(f"n{n} placed {k} times > 1")
    elif pid == "PS-10":
        for i, w in enumerate(s.workers):
            for p, snaps in enumerate(w.view):
                if len(snaps) > 1:
                    out.append(f"w{i} keeps {len(snaps)} snapshots of p{p} > 1")
    elif pid == "PS-5" and t is not None:
        for b in range(m.B):
            d = t.broker.seq[b] - br.seq[b]
            moved = br.claims[b] != t.broker.claims[b]
            if d != (1 if moved else 0):
                out.append(
                    f"b{b} seq {br.seq[b]} -> {t.broker.seq[b]} while its claims "
                    + ("changed (must rise by 1)" if moved else "did not change (must stay)")
                )
    elif pid == "PS-2" and isinstance(a, Propose) and t is not None:
        from parsync.model.properties import _sent_msg

        sent = _sent_msg(s, a, t)
        if sent is not None:
            w = s.workers[sent.worker]
            for b, q in sent.reads:
                e = m.view_entry(w, b)
                if e is None or e[0] != q:
                    seen = "no snapshot" if e is None else f"seq {e[0]}"
                    out.append(
                        f"w{sent.worker} sent b{b}@{q} but the snapshot its fit test read "
                        f"holds {seen}"
                    )
    elif pid == "PS-11" and isinstance(a, Propose):
        w = s.workers[a.w]
        for b in a.buckets:
            q = m.part[b]
            if (w.reread >> q) & 1:
                snaps = w.view[q]
                at = f" (read at cycle {snaps[-1].read_at})" if snaps else ""
                out.append(
                    f"w{a.w} proposed on b{b} from its snapshot of p{q}{at}, not read again "
                    f"since a Conflict named p{q}"
                )
    elif pid in ("PS-2", "PS-7", "PS-9") and isinstance(a, Commit) and t is not None:
        pm = a.m
        if sum(t.placed) <= sum(s.placed):
            return out
        who = f"n{pm.need} (w{pm.worker}"
        if pid == "PS-2":
            for b, q in pm.reads:
                if br.seq[b] != q:
                    out.append(
                        f"committed {who}) read b{b}@{q} but the broker's seq[b{b}] is {br.seq[b]}"
                    )
        elif pid == "PS-7":
            mine = {b for b, _ in pm.reads}
            # pending: received by the broker (its inbox) under the contract; a reference
            # state's inbox is always empty, so a non-empty one is the contract's (a
            # prove CTI's model is built without the policy)
            contract = getattr(m, "contract", False) or bool(s.inbox)
            pending = s.inbox if contract else s.to_broker
            for o in sorted(set(pending)):
                shared = sorted(mine & {b for b, _ in o.reads})
                if o.priority > pm.priority and shared:
                    out.append(
                        f"committed {who}, priority {pm.priority}) while n{o.need} "
                        f"(w{o.worker}, priority {o.priority}) was pending on shared "
                        f"bucket(s) {_names(shared, 'b')}"
                    )
        elif pm.epoch != br.epoch:
            out.append(
                f"committed {who}) stamped epoch {pm.epoch} while the broker's epoch is {br.epoch}"
            )
    return out


def explain(pid: str, m: Any, s: State, a: Action | None = None, t: State | None = None) -> str:
    """One line: why ``pid`` fails, e.g. ``PS-1 NoOvercommit: b0 used 2 > capacity 1``.

    ``s`` is the violating state of a state property, or the pre-state of the
    violating step ``(s, a, t)`` of an action property.
    """
    from parsync.model.properties import get_property

    try:
        name = get_property(pid).name
    except KeyError:
        return f"{pid}: violated"
    why = _reasons(pid, m, s, a, t)
    if not why:
        return f"{pid} {name}: violated (no witness found in this state)"
    shown = capped(why, 3)
    return f"{pid} {name}: " + "; ".join(shown)


def violations_of(m: Any, s: State, a: Action | None, t: State) -> list[tuple[str, str]]:
    """(property ID, reason) for each property the step (or, with no step, the state) breaks."""
    from parsync.model.properties import action_violations, state_violations

    out: list[tuple[str, str]] = []
    if a is not None:
        for pid in action_violations(m, s, a, t):
            out.append((pid, explain(pid, m, s, a, t)))
    for pid in state_violations(m, t):
        out.append((pid, explain(pid, m, t)))
    return sorted(out, key=lambda x: int(x[0].split("-")[1]))


# --- the trace ----------------------------------------------------------------------


def output_width() -> int:
    """The width every command wraps at: the terminal's, ``COLUMNS``, else 80."""
    return max(40, shutil.get_terminal_size((80, 24)).columns)


def wrap(line: str, width: int | None) -> list[str]:
    """One logical line wrapped at ``width``, continuation lines indented under its text."""
    if width is None or len(line) <= width:
        return [line]
    body = line.lstrip(" ")
    indent = " " * (len(line) - len(body))
    return textwrap.wrap(
        body,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent + "    ",
        break_on_hyphens=False,
    ) or [line]


class Rendered(NamedTuple):
    """A rendered counterexample, in parts (the gate lays them out as Markdown)."""

    init: list[str]  # "0. Init" heading and every variable
    steps: list[list[str]]  # per step: heading and changes
    reasons: list[str]  # "PS-x Name: why", one per broken property

    def text(self, width: int | None = None, markup: bool = False) -> str:
        lines = [*self.init, *(x for st in self.steps for x in st)]
        lines += [f"  => {r}" for r in self.reasons]
        out = [w for ln in lines for w in wrap(ln, width)]
        if not markup:
            return "\n".join(out)
        from rich.markup import escape

        def style(ln: str) -> str:
            if ln.startswith("  => "):
                return f"[bold red]{escape(ln)}[/bold red]"
            num, sep, rest = ln.partition(". ")
            if sep and num.startswith("  ") and num.strip().isdigit():  # "  3. " stays plain
                return f"{num}. [bold]{escape(rest)}[/bold]"
            return escape(ln)

        return "\n".join(style(ln) for ln in out)


def render_steps(
    init: State,
    steps: Sequence[tuple[Action, State, State]],
    *,
    model: Any = None,
    property_ids: Sequence[str] = (),
    init_title: str = "Init",
) -> Rendered:
    """The initial state in full, then per step its action and what changed, then why.

    With ``model``, the last step's broken properties are explained (those in
    ``property_ids`` first, or every one the last step breaks).
    """
    ind = "       "
    head = [f"  0. {init_title}", *(ind + x for x in state_lines(init))]
    body: list[list[str]] = []
    for i, (a, s, t) in enumerate(steps, 1):
        body.append([f"  {i}. {fmt_action(a)}", *(ind + x for x in diff_lines(s, t))])
    reasons: list[str] = []
    if model is not None:
        if steps:
            a, s, t = steps[-1]
            found = violations_of(model, s, a, t)
        else:
            found = violations_of(model, init, None, init)
        wanted = list(property_ids)
        found.sort(key=lambda x: (x[0] not in wanted, wanted.index(x[0]) if x[0] in wanted else 0))
        reasons = [r for _, r in found]
    return Rendered(head, body, reasons)
