"""Trace validation: is a recorded run one the model allows?

The validator replays a trace (``format.py``) against :class:`~model.protocol.
ParSyncModel`, keeping - like the conformance ``Lockstep`` driver - the set of
model states consistent with every event so far (the model is
nondeterministic, and a trace may leave details out). Each event must be
explained by one model action from some candidate state: the action the event
names, with every field the event gives equal to what the model computes
(seqnos read, the broker's decision and seqnos after, the partitions re-read).
When no candidate explains an event directly, the validator searches over
steps the trace does not show - only of the action types the header declares
``hidden`` (by default the network faults ``Drop`` and ``Duplicate``) - up to
``max_hidden`` steps deep: constrained model checking, bounded. The first
event nothing explains is reported with its line, the reasons per candidate,
the candidate states, and the property it would break if the step were taken
anyway (``properties.py`` evaluated on the forced step).

Scope: the header's Config gives the constants (workers, partitions,
capacities, partition map, needs, R, strategy). Its ``max_cycle`` and fault
budgets are state constraints that keep *exhaustive* checking finite, not
protocol rules, so the validator lifts them (:func:`validation_config`): a
real run is not bounded by a checker's scope, and a million-event trace needs
no special header.

Speed: each event is explained by building only the successor along its own
action from the model's component steps (``start_cycle``/``_worker_moves``,
``propose``, ``commit``, ``handle``, ``release``, ``failover``,
``_drop``/``_dup``), never by enumerating every successor; Propose asks only
whether its own bucket set is allowed (``ParSyncModel.fits``) and Crash builds
no other move. The model is :class:`~model.traces.fastmodel.TraceModel`: no
memo tables, per-need sequences as persistent vectors (a commit or release
copies a chunk, not N entries), and no step whose cost grows with the number
of needs beyond a worker's own pending list.
``tests/test_trace_validate.py`` and ``tests/test_trace_fastmodel.py`` check
these paths against ``ParSyncModel``. Memory is constant: one line is read at
a time, the message-id table keeps only messages still in flight (compacted
every ``CLEAR_EVERY`` events), and nothing else grows with the trace.
"""

from __future__ import annotations

import copy
import gc
import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any

from parsync.model.actions import (
    Action,
    Commit,
    Crash,
    Defer,
    Propose,
    Recover,
    StartCycle,
    action_name,
    fmt_action,
)
from parsync.model.config import Config, ConfigError, Faults, config_from_dict
from parsync.model.properties import action_violations, get_property, state_violations
from parsync.model.protocol import _IS_CRASH, _NEEDS_LOST, ParSyncModel, _Move
from parsync.model.state import (
    COMMITTED,
    CONFLICT,
    FENCED,
    PLACED,
    UNPLACED,
    Proposal,
    Reply,
    State,
    Worker,
    distinct,
)
from parsync.render import diff_lines, state_lines, violations_of
from parsync.traces.fastmodel import TraceModel, pset
from parsync.traces.format import (
    DEFAULT_HIDDEN,
    EVENTS,
    KIND_NAMES,
    TraceFormatError,
    event_lines,
    read_header,
    read_lines,
)

DEFAULT_MAX_HIDDEN = 4
#: Events back that an unlogged (hidden) step may have happened before the event that
#: needs it (a Duplicate of a message consumed since): the validator keeps the
#: candidate states of this many past events and replays from there (constant memory)
DEFAULT_HIDDEN_WINDOW = 1024
#: Of those, the latest events before which every hidden step type is tried; further
#: back only a Duplicate of a message consumed since, and only when the event could take
#: that message (a reply copy that waited out a crash, say)
GENERIC_HIDDEN_REACH = 64
DEFAULT_MAX_CANDIDATES = 10_000
CLEAR_EVERY = 50_000  # events between clearing the model's memo tables (constant memory)
PROGRESS_EVERY = 10_000
_LIFTED = 1 << 62  # "unbounded" for the cycle bound and fault budgets

VALID = "valid"
INVALID = "invalid"
UNREADABLE = "unreadable"
INCOMPLETE = "incomplete"
EXIT_CODES = {VALID: 0, INVALID: 1, UNREADABLE: 2, INCOMPLETE: 3}

Progress = Callable[[int, int, int | None], None]  # (events, bytes read, total bytes)
Msg = Proposal | Reply

#: bucket sets shown when a Propose is rejected (the rest are elided)
_SHOWN_CHOICES = 8


def validation_config(config: Config) -> Config:
    """The Config with its checker-scope bounds lifted: cycles and faults unbounded.

    ``config`` is valid and the lifted bounds are too, so the copy is not checked
    again (``dataclasses.replace`` would re-run the validation: a quarter of a
    second at the 40,000 needs of a million-event trace).
    """
    lifted = copy.copy(config)
    object.__setattr__(lifted, "max_cycle", _LIFTED)
    object.__setattr__(lifted, "faults", Faults(_LIFTED, _LIFTED, _LIFTED, _LIFTED))
    return lifted


#: a window entry: (event, type, candidates before it, id table before it, hidden steps it
#: needed just before it)
_Past = tuple[dict[str, Any], str, list[State], dict[object, Any], int]


class TraceInvalid(Exception):
    """No model behaviour explains an event."""

    def __init__(
        self, reason: str, reasons: list[str], candidates: list[State], property_ids: list[str]
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reasons = reasons
        self.candidates = candidates
        self.property_ids = property_ids


class TraceUndecided(Exception):
    """The candidate set grew past its limit: the trace is too ambiguous to decide."""


@dataclass
class TraceResult:
    """The verdict on one trace file (what ``parsync trace`` and ``parsync gate`` report)."""

    path: str
    verdict: str  # valid | invalid | unreadable | incomplete (a budget stopped it)
    events: int  # events validated (all of them when valid)
    line: int | None = None  # the first line that failed, if any
    message: str = ""  # one line
    event: dict[str, Any] | None = None
    property_ids: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # per candidate state, why not
    candidates: list[str] = field(default_factory=list)  # rendered candidate states
    forced: list[str] = field(default_factory=list)  # the step taken anyway: changes, reasons
    hidden_steps: int = 0  # events that needed unlogged steps before them
    peak_candidates: int = 1
    seconds: float = 0.0
    interrupted: bool = False  # Ctrl-C stopped it (verdict incomplete)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def headline(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        if self.verdict == VALID:
            return f"{self.path}: valid: {self.events:,} events, all allowed by the model"
        return f"{where}: {self.verdict}: {self.message}"

    @property
    def explanation(self) -> str:
        """The human report: headline, the event, the property, per-candidate reasons, states."""
        lines = [self.headline]
        if self.verdict != INVALID:
            return "\n".join(lines)
        lines.append(f"  event: {json.dumps(self.event, sort_keys=True)}")
        if self.property_ids:
            names = ", ".join(f"{p} {get_property(p).name}" for p in self.property_ids)
            lines.append(f"  taking this step anyway would break: {names}")
        else:
            lines.append("  taking this step anyway breaks no safety property (a divergence)")
        lines.append(f"  why no model behaviour explains it ({len(self.reasons)} candidate(s)):")
        lines += [f"    - {r}" for r in self.reasons]
        for i, text in enumerate(self.candidates, 1):
            lines.append(f"  candidate model state {i} (before the event):")
            lines += ["    " + x for x in text.splitlines()]
        if self.forced:
            lines.append(
                "  the step taken anyway in candidate 1, what it changes and why it fails:"
            )
            lines += ["    " + x for x in self.forced]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "verdict": self.verdict,
            "events": self.events,
            "line": self.line,
            "message": self.message,
            "event": self.event,
            "property_ids": self.property_ids,
            "reasons": self.reasons,
            "candidates": self.candidates,
            "forced": self.forced,
            "hidden_steps": self.hidden_steps,
            "peak_candidates": self.peak_candidates,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
        }


# --- matching one event against one model step --------------------------------------------


def _pairs(v: list[list[int]]) -> tuple[tuple[int, int], ...]:
    return tuple(sorted((a, b) for a, b in v))


def _fmt_pairs(ps: Iterable[tuple[int, int]]) -> str:
    return "[" + ", ".join(f"b{b}@{q}" for b, q in ps) + "]"


class Validator:
    """Feed it a trace's events in order; it keeps the consistent model states."""

    def __init__(
        self,
        config: Config,
        *,
        hidden: Iterable[str] = DEFAULT_HIDDEN,
        max_hidden: int = DEFAULT_MAX_HIDDEN,
        max_candidates: int = DEFAULT_MAX_CANDIDATES,
        hidden_window: int = DEFAULT_HIDDEN_WINDOW,
    ) -> None:
        self.config = config
        # memo off: a trace rarely revisits a state, and the tables cost time and memory
        self.m = TraceModel(validation_config(config))
        self.hidden = frozenset(hidden)
        self.max_hidden = max_hidden
        self.max_candidates = max_candidates
        self.cands: list[State] = [self.m.init_state()]
        self.ids: dict[object, tuple[Msg, ...]] = {}  # message id -> what it may be
        # the last events with the candidates and id table before each, to place a hidden
        # step earlier than the event that needs it (kept only when steps may be hidden)
        # (event, type, candidates before it, id table before it, hidden steps it needed)
        self.window: deque[_Past] = deque(maxlen=hidden_window if self.hidden else 0)
        # an id that names no message in flight is bad input, unless copies may be
        # made unseen (a hidden Duplicate: the copy may carry an id of its own or the same)
        self.strict_ids = "Duplicate" not in self.hidden
        self._depth = 0  # the depth the last successful hidden search used
        self.count = 0
        self.hidden_steps = 0
        self.peak = 1
        m = self.m
        limits = {"worker": m.W, "need": m.N, "buckets": m.B, "seq": m.B, "conflicts": m.B}
        # per event type, the fields that name a worker, need, bucket or partition
        self._ranged: dict[str, tuple[tuple[str, int], ...]] = {
            t: tuple(
                (name, limits.get(name, m.P))
                for name in (*req, *opt)
                if name in limits or name == "read"
            )
            for t, (req, opt) in EVENTS.items()
        }
        self._explainers: dict[str, Callable[..., Any]] = {
            t: getattr(self, "_ev_" + t) for t in EVENTS
        }

    # -- input checks that need the Config (ids out of range are bad input) -------------------
    def check_ranges(self, ev: dict[str, Any], etype: str | None = None) -> None:
        """Raise ValueError naming the field when an id is outside the Config."""
        m = self.m
        for name, limit in self._ranged[etype or ev["type"]]:
            v = ev.get(name)
            if v is None:
                continue
            if name == "worker" or name == "need":
                if v >= limit:
                    what = "workers" if name == "worker" else "needs"
                    raise ValueError(f"{name} {v} does not exist ({what} are 0..{limit - 1})")
            elif name == "read":
                for r in v:
                    p = r["partition"]
                    if p >= m.P:
                        raise ValueError(f"read names partition {p}, partitions are 0..{m.P - 1}")
                    e = r.get("entries")
                    if e is not None and len(e) != len(m.members[p]):
                        raise ValueError(
                            f"read of partition {p} lists {len(e)} entries; it has "
                            f"{len(m.members[p])} bucket(s)"
                        )
            else:
                for x in v:
                    b = x[0] if type(x) is list else x
                    if b >= limit:
                        raise ValueError(f"{name} names bucket {b}, buckets are 0..{limit - 1}")

    # -- one event ----------------------------------------------------------------------------
    def check_ids(self, ev: dict[str, Any], etype: str) -> None:
        """Raise TraceInvalid naming the id when a message id is unknown, already
        consumed, or reused while its message is in flight (a message taken twice, or
        two messages under one id, is a behaviour no model step has)."""
        why = self._id_problem(ev, etype)
        if why is not None:
            raise TraceInvalid(why, [why], self.cands, [])

    def _id_problem(self, ev: dict[str, Any], etype: str) -> str | None:
        ids = self.ids
        strict = self.strict_ids
        if strict:
            if etype in ("Commit", "HandleReply", "Drop", "Duplicate") and "id" in ev:
                if ev["id"] not in ids:
                    return (
                        f"message id {ev['id']!r} names no message in flight (unknown, or "
                        "already consumed)"
                    )
            new_id = ev.get("id") if etype == "Propose" else ev.get("reply")
            if etype == "Duplicate":
                new_id = ev.get("copy")
            if etype in ("Propose", "Commit", "Duplicate") and new_id in ids:
                return f"message id {new_id!r} is already in use by a message in flight"
        for q in ev.get("queued", ()) if etype == "Commit" else ():
            known = ids.get(q)
            if known is None:
                if strict:
                    return f"queued id {q!r} names no proposal in flight"
            elif not any(isinstance(x, Proposal) for x in known):
                return f"queued id {q!r} is a reply, not a proposal"
        return None

    def feed(self, ev: dict[str, Any], etype: str) -> None:
        """Advance every candidate along the event; raise TraceInvalid if none can."""
        self.count += 1
        self.check_ids(ev, etype)
        explain = self._explainers[etype]
        nxt, reasons, produced = self._explain_all(explain, ev, self.cands)
        depth = 0  # hidden steps the event needed just before it
        if not nxt:
            try:
                nxt, produced = self._hidden_search(explain, ev, reasons)
                depth = self._depth
            except TraceInvalid:
                got = self._earlier_hidden(explain, ev)
                if got is None:
                    raise
                nxt, produced = got
                depth = self.max_hidden
        if self.window.maxlen:
            self.window.append((ev, etype, self.cands, dict(self.ids), depth))
        self.cands = nxt
        if len(nxt) > self.peak:
            self.peak = len(nxt)
        self._book_ids(ev, etype, produced)
        if self.count % CLEAR_EVERY == 0:
            self._compact()

    def _explain_all(
        self, explain: Callable[..., Any], ev: dict[str, Any], cands: list[State]
    ) -> tuple[list[State], list[str], list[Msg]]:
        if len(cands) == 1:
            return explain(cands[0], ev)  # type: ignore[no-any-return]
        out: dict[State, None] = {}
        reasons: list[str] = []
        produced: list[Msg] = []
        for s in cands:
            ok, why, made = explain(s, ev)
            for t in ok:
                out[t] = None
            reasons += why
            produced += made
        if len(out) > self.max_candidates:
            raise TraceUndecided(self._too_many(len(out)))
        return list(out), reasons, produced

    def _too_many(self, n: int) -> str:
        return (
            f"more than {self.max_candidates:,} model states ({n:,}) are consistent with the "
            "trace so far: it leaves too much out to decide (log more fields, or raise "
            "--max-candidates)"
        )

    def _hidden_search(
        self, explain: Callable[..., Any], ev: dict[str, Any], reasons: list[str]
    ) -> tuple[list[State], list[Msg]]:
        """Unlogged steps (of the hidden action types) before the event, breadth first."""
        got = self._hidden_steps(explain, ev, self.cands, self.max_hidden)
        if got is not None:
            self.hidden_steps += 1
            return got[0], got[1]
        raise TraceInvalid(
            reasons[0] if reasons else "no model step explains this event",
            _unique(reasons),
            self.cands,
            self._forced_violations(ev, self.cands),
        )

    def _hidden_steps(
        self, explain: Callable[..., Any], ev: dict[str, Any], first: list[State], limit: int
    ) -> tuple[list[State], list[Msg], int] | None:
        """Up to ``limit`` hidden steps from ``first``, breadth first, then the event: its
        candidates, the messages it produced and the depth used; None if none explains it."""
        frontier = first
        seen: set[State] = set(first)
        if not self.hidden:
            return None
        for depth in range(1, limit + 1):
            nxt: list[State] = []
            for s in frontier:
                for a, t in self.m.successors(s):
                    if action_name(a) in self.hidden and t not in seen:
                        seen.add(t)
                        nxt.append(t)
            if len(seen) > self.max_candidates:
                raise TraceUndecided(self._too_many(len(seen)))
            if not nxt:
                return None
            frontier = nxt
            got, _why, produced = self._explain_all(explain, ev, frontier)
            if got:
                self._depth = depth
                return got, produced, depth
        return None

    def _earlier_hidden(
        self, explain: Callable[..., Any], ev: dict[str, Any]
    ) -> tuple[list[State], list[Msg]] | None:
        """One hidden step earlier than this event, before any of the last events in the
        window, then the events since, replayed, and this one: the candidates after it
        (the union over every placement that explains them all), or None. A Duplicate of
        a message that an event consumed since is the usual case. The id table is put
        back as it was at each replayed event, and the window keeps the replayed
        candidates, so a later event can place another hidden step among them."""
        if not self.window:
            return None
        ids_now = self.ids
        past = list(self.window)
        after: dict[State, None] = {}
        made: list[Msg] = []
        befores: list[dict[State, None]] = [dict.fromkeys(p[2]) for p in past]
        try:
            for j, t in self._placements(past, explain, ev):
                got = self._replay_from([t], past[j:], explain, ev, ids_now)
                if got is None:
                    continue
                after.update(dict.fromkeys(got[0]))
                made += got[1]
                for k, before in enumerate(got[2]):
                    befores[j + k].update(dict.fromkeys(before))
                if len(after) > self.max_candidates:
                    raise TraceUndecided(self._too_many(len(after)))
        finally:
            self.ids = ids_now
        if not after:
            return None
        self.hidden_steps += 1
        for k, (e_k, t_k, _c, i_k, d_k) in enumerate(past):
            self.window[k] = (e_k, t_k, list(befores[k]), i_k, d_k)
        return list(after), made

    def _placements(
        self,
        past: list[_Past],
        explain: Callable[..., Any],
        ev: dict[str, Any],
    ) -> Iterator[tuple[int, State]]:
        """(window position, state with one hidden step taken before that event): every
        hidden step before the last GENERIC_HIDDEN_REACH events, latest first; further
        back, a Duplicate of each message since consumed that this event could take
        (tested by giving the message back to the current candidates)."""
        m = self.m
        n = len(past)
        for j in range(n - 1, max(n - GENERIC_HIDDEN_REACH, 0) - 1, -1):
            for s in past[j][2]:
                for a, t in m.successors(s):
                    if action_name(a) in self.hidden:
                        yield j, t
        if "Duplicate" not in self.hidden or n <= GENERIC_HIDDEN_REACH:
            return
        live: set[Msg] = set()
        for s in self.cands:
            live.update(s.to_broker)
            live.update(s.to_workers)
        tried: set[Msg] = set()
        for j in range(n - GENERIC_HIDDEN_REACH - 1, -1, -1):
            for s in past[j][2]:
                for x in (*distinct(s.to_broker), *distinct(s.to_workers)):
                    if x in live or x in tried:
                        continue
                    tried.add(x)
                    if self._could_take(explain, ev, x):
                        yield j, m._dup(s, x)

    def _could_take(self, explain: Callable[..., Any], ev: dict[str, Any], x: Msg) -> bool:
        """The event is explained once message ``x`` is back in flight in a candidate."""
        m = self.m
        for s in self.cands:
            if isinstance(x, Proposal):
                s2 = s._replace(to_broker=m.bag_add(s.to_broker, x))
            else:
                s2 = s._replace(to_workers=m.bag_add(s.to_workers, x))
            if explain(s2, ev)[0]:
                return True
        return False

    def _replay_from(
        self,
        cands: list[State],
        events: list[_Past],
        explain: Callable[..., Any],
        ev: dict[str, Any],
        ids_now: dict[object, Any],
    ) -> tuple[list[State], list[Msg], list[list[State]]] | None:
        """The candidates after replaying ``events`` and then ``ev`` from ``cands``, the
        messages ``ev`` produced, and the candidates before each replayed event. A
        replayed event may take as many hidden steps just before it as it took the first
        time (usually none): most placements fail, and each failure is cheap."""
        befores: list[list[State]] = []
        for ev_k, etype_k, _c, ids_k, depth_k in events:
            befores.append(cands)
            self.ids = ids_k
            ex = self._explainers[etype_k]
            nxt, _reasons, _p = self._explain_all(ex, ev_k, cands)
            if not nxt:
                got = self._hidden_steps(ex, ev_k, cands, depth_k) if depth_k else None
                if got is None:
                    return None
                nxt = got[0]
            cands = nxt
        self.ids = ids_now
        nxt, _reasons, produced = self._explain_all(explain, ev, cands)
        if not nxt:
            got = self._hidden_steps(explain, ev, cands, self.max_hidden)
            if got is None:
                return None
            nxt, produced = got[0], got[1]
        return nxt, produced, befores

    def _book_ids(self, ev: dict[str, Any], etype: str, produced: list[Msg]) -> None:
        """Keep the id -> message table to messages in flight (constant memory)."""
        ids = self.ids
        if etype == "Propose":
            if "id" in ev:
                ids[ev["id"]] = _once(produced)
        elif etype == "Commit":
            if "id" in ev:
                ids.pop(ev["id"], None)
            if "reply" in ev:
                ids[ev["reply"]] = _once(produced)
        elif etype in ("HandleReply", "Drop"):
            if "id" in ev:
                ids.pop(ev["id"], None)
        elif etype == "Duplicate":
            if "copy" in ev and ev["id"] in ids:
                ids[ev["copy"]] = ids[ev["id"]]

    def _compact(self) -> None:
        """Clear the model's memo tables; forget ids of messages no candidate has in flight."""
        self.m.clear_caches()
        live: set[Msg] = set()
        for s in self.cands:
            live.update(s.to_broker)
            live.update(s.to_workers)
        self.ids = {k: v for k, v in self.ids.items() if any(x in live for x in v)}

    # -- reads ------------------------------------------------------------------------------
    def _read_mismatch(self, ev: dict[str, Any], parts: tuple[int, ...], nw: Worker) -> str | None:
        """Compare the event's ``read`` with the partitions the model read (and their data)."""
        read = ev.get("read")
        if read is None:
            return None
        got = sorted(r["partition"] for r in read)
        if got != list(parts):
            return f"read partition(s) {got}, the model reads {list(parts)}"
        for r in read:
            e = r.get("entries")
            if e is not None:
                p = r["partition"]
                want = nw.view[p][-1].entries
                if tuple(map(tuple, e)) != want:
                    return (
                        f"read {[list(x) for x in want]} from partition {p} per the model, "
                        f"the event has {e}"
                    )
        return None

    # -- worker steps -------------------------------------------------------------------------
    def _moves(self, s: State, wi: int, kind: type) -> Iterator[_Move]:
        """The worker's moves of one kind, from the model's own (lazy) move generator.

        The generator yields StartCycle first and Recover second, so those cost
        one step; only a Crash walks past the Propose options (rare).
        """
        for mv in self.m._worker_moves(wi, s.workers[wi], s.broker):
            if type(mv[0]) is kind:
                yield mv

    def _worker_step(
        self,
        s: State,
        wi: int,
        kind: type,
        check: Callable[[Action, Worker, Worker, Proposal | None], str | None],
        moves: Iterator[_Move] | None = None,
    ) -> tuple[list[State], list[str], list[Msg]]:
        m = self.m
        w = s.workers[wi]
        ok: list[State] = []
        why: list[str] = []
        made: list[Msg] = []
        for a, nw, msg, flag in moves if moves is not None else self._moves(s, wi, kind):
            if flag == _NEEDS_LOST and not m.lost(s, wi, w):
                why.append(
                    f"worker {wi} is still waiting on its proposal (tag {w.cycle}.{w.attempts}), "
                    "which or whose reply is in flight: it may not start a cycle"
                )
                continue
            bad = check(a, w, nw, msg)
            if bad is not None:
                why.append(f"{fmt_action(a)}: {bad}")
                continue
            faults = s.faults
            if flag == _IS_CRASH:
                faults = (faults[0] + 1, faults[1], faults[2])
            ws = s.workers[:wi] + (nw,) + s.workers[wi + 1 :]
            tb = s.to_broker
            if msg is not None:
                tb = m.bag_add(tb, msg)
                made.append(msg)
            ok.append(State(s.broker, ws, tb, s.to_workers, faults, s.placed))
        if not ok and not why:
            why.append(f"worker {wi} cannot take a {kind.__name__} step here ({_worker_brief(w)})")
        return ok, why, made

    def _ev_StartCycle(self, s: State, ev: dict[str, Any]) -> Any:
        wi = ev["worker"]

        def check(a: Action, w: Worker, nw: Worker, msg: Proposal | None) -> str | None:
            if "cycle" in ev and ev["cycle"] != nw.cycle:
                return f"starts cycle {nw.cycle} per the model, the event says {ev['cycle']}"
            parts = (self.m.rotation(nw.cycle),) if w.up else ()
            return self._read_mismatch(ev, parts, nw)

        return self._worker_step(s, wi, StartCycle, check)

    def _ev_Propose(self, s: State, ev: dict[str, Any]) -> Any:
        # At most one model move matches (its bucket set is the event's), so this is
        # the guard of _worker_moves' Propose for that one set, then the step.
        m = self.m
        wi = ev["worker"]
        w = s.workers[wi]
        if not (w.up and not w.waiting and w.pending):
            return [], [f"worker {wi} cannot take a Propose step here ({_worker_brief(w)})"], []
        reads = _pairs(ev["buckets"])
        buckets = tuple([b for b, _ in reads])
        n = w.pending[0]
        if m.fits(w, n, buckets):
            nw, msg = m.propose(wi, w, n, buckets)
            bad = _propose_mismatch(ev, reads, msg)
            if bad is None:
                ws = s.workers[:wi] + (nw,) + s.workers[wi + 1 :]
                tb = m.bag_add(s.to_broker, msg)
                return [State(s.broker, ws, tb, s.to_workers, s.faults, s.placed)], [], [msg]
            why = f"{fmt_action(Propose(wi, buckets))}: {bad}"
        else:
            why = f"worker {wi} cannot take a Propose step here ({_worker_brief(w)})"
        # a few of the sets it may propose, never all of them (a large gang has ~10^19)
        first = [list(o) for o in islice(m.iter_choices(w, n), _SHOWN_CHOICES + 1)]
        more = ", ..." if len(first) > _SHOWN_CHOICES else ""
        opts = f"{first[:_SHOWN_CHOICES]}{more}" if first else "nothing (it must defer)"
        return [], [f"worker {wi} may propose n{n} only on {opts}; {why}"], []

    def _ev_Defer(self, s: State, ev: dict[str, Any]) -> Any:
        def check(a: Action, w: Worker, nw: Worker, msg: Proposal | None) -> str | None:
            if "need" in ev and w.pending[0] != ev["need"]:
                return f"the head pending need is n{w.pending[0]}, not n{ev['need']}"
            return None

        return self._worker_step(s, ev["worker"], Defer, check)

    def _ev_Crash(self, s: State, ev: dict[str, Any]) -> Any:
        wi = ev["worker"]
        w = s.workers[wi]
        # the guard of _worker_moves' Crash (a live worker), without building the moves
        # before it (every Propose option; a test checks it against successors)
        moves = iter([(Crash(wi), self.m.crash(w), None, _IS_CRASH)] if w.up else [])
        return self._worker_step(s, wi, Crash, lambda a, w, nw, msg: None, moves)

    def _ev_Recover(self, s: State, ev: dict[str, Any]) -> Any:
        def check(a: Action, w: Worker, nw: Worker, msg: Proposal | None) -> str | None:
            return self._read_mismatch(ev, tuple(range(self.m.P)), nw)

        return self._worker_step(s, ev["worker"], Recover, check)

    # -- the broker -----------------------------------------------------------------------------
    def _proposals(self, s: State, ev: dict[str, Any]) -> list[Proposal]:
        """Distinct proposals in flight the event may mean (by id, else by content)."""
        return [p for p in distinct(s.to_broker) if _may_be(p, ev, self.ids)]

    def _queue(self, s: State, ev: dict[str, Any]) -> tuple[Proposal, ...]:
        """The proposals the broker chose among: ``queued`` if the event lists them.

        The model's Commit guard (priority on conflict) looks at every proposal
        in flight, as if each reached the broker the moment it was sent. A real
        broker can only order what has arrived, so a trace may say what was in
        its queue; the guard is then the model's own ``blocked`` on that queue.
        Without ``queued`` it is the model's guard exactly.
        """
        if "queued" not in ev:
            return s.to_broker
        ids = self.ids
        return tuple(
            p
            for q in ev["queued"]
            for p in ids.get(q, ())
            if isinstance(p, Proposal) and p in s.to_broker
        )

    def _ev_Commit(self, s: State, ev: dict[str, Any]) -> Any:
        m = self.m
        br = s.broker
        ok: list[State] = []
        why: list[str] = []
        made: list[Msg] = []
        props = self._proposals(s, ev)
        if not props:
            return [], [f"no proposal matching the event is in flight ({_flight(s)})"], []
        queue = self._queue(s, ev)
        for p in props:
            if m.blocked(queue, p):
                why.append(
                    f"Commit({_brief(p)}): a higher-priority proposal on a shared bucket is "
                    "queued; the broker must decide on it first"
                )
                continue
            nb, reply, committed = m.commit(br, p)
            bad = self._decision_mismatch(ev, br, nb, reply)
            if bad is not None:
                why.append(f"Commit({_brief(p)}): {bad}")
                continue
            placed = s.placed
            if committed:  # the ghost count (a PVec: one chunk copied)
                placed = pset(placed, p.need, placed[p.need] + 1)
            made.append(reply)
            ok.append(
                State(
                    nb,
                    s.workers,
                    m.bag_remove(s.to_broker, p),
                    m.bag_add(s.to_workers, reply),
                    s.faults,
                    placed,
                )
            )
        return ok, why, made

    def _decision_mismatch(self, ev: dict[str, Any], br: Any, nb: Any, reply: Reply) -> str | None:
        got = KIND_NAMES[reply.kind]
        if ev["result"] != got:
            why = _why_kind(reply, br)
            return f"the broker's answer is {got} per the model ({why}), not {ev['result']}"
        if "conflicts" in ev and sorted(ev["conflicts"]) != sorted(reply.buckets):
            return f"the conflicted buckets are {list(reply.buckets)}, not {ev['conflicts']}"
        if "epoch" in ev and ev["epoch"] != br.epoch:
            return f"the broker's epoch is {br.epoch}, not {ev['epoch']}"
        return _seq_mismatch(ev, nb.seq)

    def _ev_Release(self, s: State, ev: dict[str, Any]) -> Any:
        n = ev["need"]
        br = s.broker
        if br.status[n] != PLACED:
            state = "never placed" if br.status[n] == UNPLACED else "already released"
            return [], [f"need n{n} is {state}: it cannot be released"], []
        if "buckets" in ev and sorted(ev["buckets"]) != list(br.ledger[n]):
            return [], [f"n{n} holds buckets {list(br.ledger[n])}, not {ev['buckets']}"], []
        nb = self.m.release(br, n)
        bad = _seq_mismatch(ev, nb.seq)
        if bad is not None:
            return [], [f"Release(n={n}): {bad}"], []
        return [s._replace(broker=nb)], [], []

    def _ev_Failover(self, s: State, ev: dict[str, Any]) -> Any:
        nb = self.m.failover(s.broker)
        if "epoch" in ev and ev["epoch"] != nb.epoch:
            return [], [f"the new epoch is {nb.epoch} per the model, not {ev['epoch']}"], []
        return [s._replace(broker=nb)], [], []

    # -- replies and the network ------------------------------------------------------------
    def _ev_HandleReply(self, s: State, ev: dict[str, Any]) -> Any:
        m = self.m
        wi = ev["worker"]
        w = s.workers[wi]
        if not w.up:
            return [], [f"worker {wi} is down: it takes no replies"], []
        known = self.ids.get(ev["id"]) if "id" in ev else None
        ok: list[State] = []
        why: list[str] = []
        for r in distinct(s.to_workers):
            if r.worker != wi or (known is not None and r not in known):
                continue
            if (
                ev.get("need", r.need) != r.need
                or ev.get("kind", KIND_NAMES[r.kind]) != KIND_NAMES[r.kind]
            ):
                continue
            nw = m.handle(r, w, s.broker)
            stale = nw == w
            if "stale" in ev and ev["stale"] != stale:
                why.append(
                    f"HandleReply({_brief(r)}): the reply is "
                    f"{'stale' if stale else 'current'} per the model"
                )
                continue
            bad = self._read_mismatch(ev, _reread(m, r, stale), nw)
            if bad is not None:
                why.append(f"HandleReply({_brief(r)}): {bad}")
                continue
            ws = s.workers[:wi] + (nw,) + s.workers[wi + 1 :]
            tw = m.bag_remove(s.to_workers, r)
            ok.append(State(s.broker, ws, s.to_broker, tw, s.faults, s.placed))
        if not ok and not why:
            why.append(f"no reply to worker {wi} matching the event is in flight ({_flight(s)})")
        return ok, why, []

    def _net_fault(self, s: State, ev: dict[str, Any], dup: bool) -> Any:
        known = self.ids.get(ev["id"])
        if known is None:
            return [], [f"no message with id {ev['id']!r} is in flight"], []
        ok = []
        for x in known:
            if x in (s.to_broker if isinstance(x, Proposal) else s.to_workers):
                ok.append(self.m._dup(s, x) if dup else self.m._drop(s, x))
        if not ok:
            return [], [f"message {ev['id']!r} is no longer in flight"], []
        return ok, [], []

    def _ev_Drop(self, s: State, ev: dict[str, Any]) -> Any:
        return self._net_fault(s, ev, False)

    def _ev_Duplicate(self, s: State, ev: dict[str, Any]) -> Any:
        return self._net_fault(s, ev, True)

    # -- naming the property an unexplained event would break ---------------------------------
    def _forced_violations(self, ev: dict[str, Any], cands: list[State]) -> list[str]:
        """Take the step the event claims anyway, in each candidate; the properties it breaks."""
        found: list[str] = []
        for s in cands[:50]:
            for before, a, t in self._forced(s, ev):
                for pid in (
                    *state_violations(self.m, t),
                    *action_violations(self.m, before, a, t),
                ):
                    if pid not in found:
                        found.append(pid)
        return sorted(found, key=lambda i: int(i.split("-")[1]))

    def _forced(self, s: State, ev: dict[str, Any]) -> Iterator[tuple[State, Action, State]]:
        """(state the properties see, action, next state) for the step the event claims."""
        m = self.m
        t = ev["type"]
        if t == "Commit" and ev["result"] == KIND_NAMES[COMMITTED]:
            # PS-7 is judged on what the broker chose among (see _queue)
            seen = s._replace(to_broker=tuple(sorted(self._queue(s, ev))))
            for p in (p for p in distinct(s.to_broker) if _may_be(p, ev, self.ids)):
                yield seen, Commit(p), self._forced_commit(s, p, ev)
        elif t in ("StartCycle", "Recover") and "read" in ev:
            wi = ev["worker"]
            w = s.workers[wi]
            if t == "StartCycle" and not w.up:
                return
            parts = tuple(sorted(r["partition"] for r in ev["read"]))
            if t == "StartCycle":
                a: Action = StartCycle(wi)
                nw = m.start_cycle(wi, w, s.broker)
                base = w._replace(cycle=nw.cycle)
            else:
                a = Recover(wi)
                nw = m.recover(w, s.broker)
                base = w._replace(up=True)
            got = m.refresh(base, s.broker, parts)._replace(
                pending=nw.pending, waiting=nw.waiting, retries=nw.retries, attempts=nw.attempts
            )
            yield s, a, s._replace(workers=s.workers[:wi] + (got,) + s.workers[wi + 1 :])

    def _forced_commit(self, s: State, p: Proposal, ev: dict[str, Any]) -> State:
        """The broker commits ``p`` whatever its guards say (the model's own commit, unguarded)."""
        m = self.m
        br = s.broker
        status = list(br.status)
        status[p.need] = UNPLACED
        seq = list(br.seq)
        for b, q in p.reads:
            seq[b] = q
        lenient = br._replace(epoch=p.epoch, seq=tuple(seq), status=tuple(status))
        nb, reply, _ = m._decide(lenient, p)
        after = list(br.seq)
        for b in range(m.B):
            after[b] += nb.seq[b] - lenient.seq[b]
        for b, q in ev.get("seq", ()):
            after[b] = q
        nb = nb._replace(epoch=br.epoch, seq=tuple(after))
        placed = list(s.placed)
        placed[p.need] += 1
        return State(
            nb,
            s.workers,
            m.bag_remove(s.to_broker, p),
            m.bag_add(s.to_workers, reply),
            s.faults,
            tuple(placed),
        )

    # -- rendering (parsync.render: the counterexample renderer) ------------------------------
    def render_state(self, s: State) -> str:
        return "\n".join(state_lines(s))

    def render_forced(self, s: State, ev: dict[str, Any]) -> list[str]:
        """The first step the event claims, taken anyway from ``s``: the action, what it
        changes and, for each property it breaks, why (empty when none can be forced)."""
        for before, a, t in self._forced(s, ev):
            lines = [fmt_action(a), *("  " + x for x in diff_lines(s, t))]
            return lines + [f"=> {r}" for _, r in violations_of(self.m, before, a, t)]
        return []


def _once(msgs: list[Msg]) -> tuple[Msg, ...]:
    """The distinct messages, in order (usually exactly one)."""
    return (msgs[0],) if len(msgs) == 1 else tuple(dict.fromkeys(msgs))


def _may_be(p: Proposal, ev: dict[str, Any], ids: dict[object, tuple[Msg, ...]]) -> bool:
    known = ids.get(ev["id"]) if "id" in ev else None
    if known is not None and p not in known:
        return False
    return bool(ev.get("worker", p.worker) == p.worker and ev.get("need", p.need) == p.need)


def _reread(m: ParSyncModel, r: Reply, stale: bool) -> tuple[int, ...]:
    """The partitions the model re-reads when a worker takes reply ``r``."""
    if stale:
        return ()
    if r.kind == CONFLICT:
        return tuple(sorted({m.part[b] for b in r.buckets}))
    if r.kind == FENCED:
        return tuple(range(m.P))
    return ()


def _propose_mismatch(
    ev: dict[str, Any], reads: tuple[tuple[int, int], ...], msg: Proposal
) -> str | None:
    """Why the model's proposal ``msg`` is not the one the Propose event records, if it is not."""
    if msg.need != ev["need"]:
        return f"the head pending need is n{msg.need}, not n{ev['need']}"
    if msg.reads != reads and tuple(sorted(msg.reads)) != reads:
        return (
            f"the worker's view gives seqnos {_fmt_pairs(sorted(msg.reads))}, "
            f"the proposal carries {_fmt_pairs(reads)}"
        )
    if len(ev) > 4:  # type, worker, need, buckets: the rest are optional
        for name in ("epoch", "priority", "cycle", "attempt"):
            if name in ev and ev[name] != getattr(msg, name):
                return f"{name} is {getattr(msg, name)} per the model, {ev[name]} in the event"
    return None


def _seq_mismatch(ev: dict[str, Any], seq: tuple[int, ...]) -> str | None:
    for b, q in ev.get("seq", ()):
        if seq[b] != q:
            return f"bucket {b}'s seqno after the step is {seq[b]} per the model, not {q}"
    return None


def _why_kind(reply: Reply, br: Any) -> str:
    if reply.kind == FENCED:
        return f"the proposal's epoch is not the broker's epoch {br.epoch}"
    if reply.kind == CONFLICT:
        now = [br.seq[b] for b in reply.buckets]
        return f"seqnos moved on buckets {list(reply.buckets)}: now {now}"
    if reply.kind == COMMITTED:
        return "every read seqno is current"
    return "the need is already placed"


def _brief(x: Msg) -> str:
    if isinstance(x, Proposal):
        reads = _fmt_pairs(x.reads)
        return f"w{x.worker} n{x.need} reads={reads} epoch={x.epoch} tag={x.cycle}.{x.attempt}"
    return f"{KIND_NAMES[x.kind]} to w{x.worker} n{x.need} tag={x.cycle}.{x.attempt}"


def _flight(s: State) -> str:
    msgs = [_brief(x) for x in distinct(s.to_broker)] + [_brief(x) for x in distinct(s.to_workers)]
    return "in flight: " + ("; ".join(msgs) if msgs else "nothing")


def _worker_brief(w: Worker) -> str:
    if not w.up:
        return "it is down"
    if w.waiting:
        return f"it waits for a reply to n{w.pending[0]}"
    if w.pending:
        return f"its head pending need is n{w.pending[0]}"
    return "it has nothing pending"


def _unique(xs: list[str]) -> list[str]:
    return list(dict.fromkeys(xs))[:8]


# --- whole files ----------------------------------------------------------------------------


def validate_stream(
    stream: IO[bytes],
    path: str,
    *,
    max_hidden: int = DEFAULT_MAX_HIDDEN,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    hidden_window: int = DEFAULT_HIDDEN_WINDOW,
    progress: Progress | None = None,
    total_bytes: int | None = None,
    max_seconds: float | None = None,
) -> TraceResult:
    """Validate a trace read from a binary stream, one line at a time."""
    t0 = time.perf_counter()
    res = TraceResult(path, VALID, 0)
    v: Validator | None = None
    number = 0  # the line being validated, and its event
    ev: dict[str, Any] = {}
    etype = ""
    # Model states are acyclic tuples freed by reference counting; the cyclic
    # collector only rescans them (it halved the throughput), so it is paused.
    gc_was = gc.isenabled()
    gc.disable()
    try:
        first, header = read_header(path, read_lines(stream, path))
        number = first
        try:
            config = config_from_dict(header["config"])
        except (ConfigError, TypeError, ValueError) as e:
            raise TraceFormatError(path, first, f"the header's config is not valid: {e}") from None
        v = Validator(
            config,
            hidden=header.get("hidden", DEFAULT_HIDDEN),
            max_hidden=max_hidden,
            max_candidates=max_candidates,
            hidden_window=hidden_window,
        )
        check_ranges = v.check_ranges
        feed = v.feed
        for number, ev, etype in event_lines(stream, path, first):
            try:
                check_ranges(ev, etype)
            except ValueError as e:
                raise TraceFormatError(path, number, str(e)) from None
            feed(ev, etype)
            if v.count % 1000 == 0:
                if progress is not None and v.count % PROGRESS_EVERY == 0:
                    progress(v.count, stream.tell(), total_bytes)
                if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
                    res.verdict = INCOMPLETE
                    res.line = number
                    res.message = (
                        f"stopped on the {max_seconds:g} s budget after {v.count:,} events "
                        "(all valid so far)"
                    )
                    break
    except TraceFormatError as e:
        res.verdict = UNREADABLE
        res.line = e.line
        res.message = e.reason
    except TraceUndecided as e:
        res.verdict = UNREADABLE
        res.line = number or None
        res.message = f"cannot decide: {e}"
    except TraceInvalid as e:
        assert v is not None
        res.verdict = INVALID
        res.line = number
        res.event = ev
        res.property_ids = e.property_ids
        res.reasons = e.reasons
        res.candidates = [v.render_state(s) for s in e.candidates[:2]]
        res.forced = v.render_forced(e.candidates[0], ev) if e.property_ids else []
        names = ", ".join(f"{p} {get_property(p).name}" for p in e.property_ids)
        res.message = f"{etype} is not explained by the model: {e.reason}" + (
            f" (would break {names})" if names else ""
        )
        v.count -= 1
    except OSError as e:
        res.verdict = UNREADABLE
        res.message = f"cannot read: {e.strerror or e}"
    except KeyboardInterrupt:
        res.verdict = INCOMPLETE
        res.interrupted = True
        res.line = number or None
        n = v.count if v is not None else 0
        res.message = f"interrupted (Ctrl-C) after {n:,} events (all valid so far)"
    finally:
        if gc_was:
            gc.enable()
    if v is not None:
        res.events = v.count
        res.hidden_steps = v.hidden_steps
        res.peak_candidates = v.peak
    res.seconds = time.perf_counter() - t0
    return res


def validate_path(
    path: str | Path,
    *,
    max_hidden: int = DEFAULT_MAX_HIDDEN,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    hidden_window: int = DEFAULT_HIDDEN_WINDOW,
    progress: Progress | None = None,
    max_seconds: float | None = None,
) -> TraceResult:
    """Validate one trace file; never raises for bad input (verdict ``unreadable``)."""
    p = str(path)
    try:
        f = open(p, "rb")  # noqa: SIM115 - closed below; an open error is a verdict
    except OSError as e:
        return TraceResult(p, UNREADABLE, 0, message=f"cannot read: {e.strerror or e}")
    with f:
        try:
            total: int | None = Path(p).stat().st_size
        except OSError:
            total = None
        return validate_stream(
            f,
            p,
            max_hidden=max_hidden,
            max_candidates=max_candidates,
            hidden_window=hidden_window,
            progress=progress,
            total_bytes=total,
            max_seconds=max_seconds,
        )


__all__ = [
    "DEFAULT_MAX_CANDIDATES",
    "DEFAULT_MAX_HIDDEN",
    "EXIT_CODES",
    "TraceResult",
    "Validator",
    "validate_path",
    "validate_stream",
    "validation_config",
]
