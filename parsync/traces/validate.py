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

Policy: a version 1 trace is judged against the model's ``reference`` policy, a
version 2 trace against the ``contract`` (or the ``reference`` when its header
says so): ``Timeout``, ``Refresh``, ``Restart``, Propose and Defer of any pending
need, StartCycle at any time, and a broker answer other than committed valid iff
it is true of the proposal (``ParSyncModel.rejections``). Under the contract the
network and the broker's inbox are apart: a ``Deliver`` event moves a proposal
into the inbox, and a trace that does not log it leaves delivery a hidden step,
taken just before the broker decides on the proposal (the latest moment: the
proposal may be dropped or copied until then, and blocks no other commit);
priority on conflict is judged on the inbox and on the proposals a decision lists
as ``queued`` (the broker had them; ``Validator._commits``). Version 2 ``Need``
events add needs as the trace goes (:meth:`Validator.declare`,
``TraceModel.add_need``): each candidate state gets the need's broker slots when
the event comes, and a StartCycle of its owner after it takes it up.

Scope: the header's Config gives the constants (workers, partitions,
capacities, partition map, needs, R, strategy). Its ``max_cycle`` and fault
budgets are state constraints that keep *exhaustive* checking finite, not
protocol rules, so the validator lifts them (:func:`validation_config`): a
real run is not bounded by a checker's scope, and a million-event trace needs
no special header.

Speed: each event is explained by building only the successor along its own
action from the model's component steps (``start_cycle``, ``defer``/``defer_need``,
``crash``, ``recover``/``restart``, ``timeout``, ``refresh``, ``propose``,
``commit``/``rejections``, ``handle``, ``release``, ``failover``,
``_drop``/``_dup``), never by enumerating every successor; Propose asks only
whether its own bucket set is allowed (``ParSyncModel.fits``), no worker's moves
are listed (so no bucket set is ever enumerated), and the hidden-step search
generates each hidden type's steps directly (:meth:`Validator._hidden_succ`); placed
back in time, most of its steps are settled without replaying the events since
(:meth:`Validator._tried_later`, :class:`_Unread`), and its states' large parts are
hashed once (:class:`_Hashes`).
The model is :class:`~model.traces.fastmodel.TraceModel`: no
memo tables, per-need sequences as persistent vectors (a commit or release
copies a chunk, not N entries), and no step whose cost grows with the number
of needs beyond a worker's own pending list.
``tests/test_trace_validate.py`` and ``tests/test_trace_fastmodel.py`` check
these paths against ``ParSyncModel``. Memory is constant: one line is read at
a time, the message-id table keeps only messages still in flight (compacted
every ``CLEAR_EVERY`` events), and nothing else grows with the trace.

The compiled step: while there is one candidate (a trace that logs every field),
:func:`validate_stream` hands each line to
:class:`~parsync.traces.faststep.FastPath`, which holds that candidate as
mutable parts and has one handler per event type doing only what its event
needs; a line it declines goes through the general path above, on the candidate
as the model's values, so the verdicts and messages are the general path's
(``tests/test_trace_faststep.py`` ties the two). When steps may be hidden, the
window of past events an unlogged step may be placed in is kept lazily
meanwhile: a checkpoint (the candidates and the id table) every quarter window
and the events since; the window is rebuilt by replaying them through the
general path only when a line needs a hidden step placed earlier than itself
(:meth:`Validator._materialize`), and kept eagerly for a while after a rebuild
(``tests/test_trace_hiddenfast.py`` compares the rebuilt windows and whole
results with the eager path's). Not taken: a version 2 header that hides
StartCycle (a crashed worker's cycle is searched). (The compiled step holds the
contract's broker inbox too: a logged Deliver and the decision from the inbox are
compiled steps.) The
header's Config is read without the model's per-bucket check of every need when
it is plainly valid (:func:`_plain_config`).
"""

from __future__ import annotations

import copy
import gc
import json
import time
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, TypeVar, cast

from parsync.model.actions import (
    Action,
    Commit,
    Defer,
    Propose,
    Recover,
    Refresh,
    Restart,
    StartCycle,
    Timeout,
    action_name,
    fmt_action,
)
from parsync.model.config import (
    _FAULT_KEYS,
    _NEED_KEYS,
    _TOP_KEYS,
    STRATEGIES,
    Config,
    ConfigError,
    Faults,
    Need,
    config_from_dict,
)
from parsync.model.properties import action_violations, get_property, state_violations
from parsync.model.protocol import ParSyncModel
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
    bag_add,
    distinct,
)
from parsync.render import diff_lines, state_lines, violations_of
from parsync.traces import format as format_module
from parsync.traces.fastmodel import TraceModel, pset
from parsync.traces.faststep import FastPath
from parsync.traces.format import (
    DEFAULT_HIDDEN,
    DEFAULT_POLICY,
    KIND_NAMES,
    PAIRS,
    TABLES,
    TraceFormatError,
    parse_event,
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
_FIRST = itemgetter(0)
_CONFIG_KEYS = frozenset(_TOP_KEYS)  # the fields a Config may have (model/config.py)
_NEED_FIELDS = frozenset(_NEED_KEYS)
#: the event types whose ids Validator._book_ids keeps track of
_BOOKED = frozenset({"Propose", "Commit", "HandleReply", "Drop", "Duplicate"})
#: the event types that name a proposal by ``id`` (unknown ids are bad input)
_TAKES_ID = ("Commit", "HandleReply", "Drop", "Duplicate", "Deliver")
_LIFTED = 1 << 62  # "unbounded" for the cycle bound and fault budgets

VALID = "valid"
INVALID = "invalid"
UNREADABLE = "unreadable"
INCOMPLETE = "incomplete"
EXIT_CODES = {VALID: 0, INVALID: 1, UNREADABLE: 2, INCOMPLETE: 3}

Progress = Callable[[int, int, int | None], None]  # (events, bytes read, total bytes)
Msg = Proposal | Reply
_M = TypeVar("_M", Proposal, Reply)

#: hidden step types the validator takes from ``successors`` (they list the worker's moves)
_LISTED = frozenset({"Propose", "Defer", "Commit", "HandleReply"})
#: the network's hidden steps (:meth:`Validator._net_succ`)
_NET = frozenset({"Drop", "Duplicate"})
#: event types whose explanation reads no message in flight (it may add one: Propose)
_READS_NO_MESSAGE = frozenset(
    {"Propose", "Defer", "Crash", "Recover", "Restart", "Timeout", "Refresh", "Need"}
    | {"Release", "Failover"}
)


def validation_config(config: Config, *, contract: bool = False) -> Config:
    """The Config with its checker-scope bounds lifted: cycles and faults unbounded.

    ``config`` is valid and the lifted bounds are too, so the copy is not checked
    again (``dataclasses.replace`` would re-run the validation: a quarter of a
    second at the 40,000 needs of a million-event trace).
    """
    lifted = copy.copy(config)
    object.__setattr__(lifted, "max_cycle", _LIFTED)
    # the contract's timeout and extra-read budgets too (the reference ignores them)
    budgets = 6 if contract else 4
    object.__setattr__(lifted, "faults", Faults(*(_LIFTED,) * budgets))
    return lifted


#: a window entry: (event, type, candidates before it, id table before it, hidden steps it
#: needed just before it, whether it took its one candidate to exactly one state: the one
#: candidate of the next entry, under this entry's id table)
_Past = tuple[dict[str, Any], str, list[State], dict[object, Any], int, bool]
#: a checkpoint of the lazy window: (event count, candidates, id table, events since)
_Seg = tuple[int, list[State], dict[object, Any], list[dict[str, Any] | bytes]]


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
    # every element is a pair (the shape check): map(tuple) builds the same tuples in C
    return tuple(sorted(map(tuple, v)))  # type: ignore[arg-type]


def _fmt_pairs(ps: Iterable[tuple[int, int]]) -> str:
    return "[" + ", ".join(f"b{b}@{q}" for b, q in ps) + "]"


class Validator:
    """Feed it a trace's events in order; it keeps the consistent model states."""

    #: True: the hidden-step search replays every placement to its end (or to a state
    #: already tried), without the shortcuts that give the same result sooner
    #: (:meth:`_tried_later`, :meth:`_Unread.rest`, :func:`_reads` in
    #: :meth:`_could_take`); ``tests/test_trace_hiddensearch.py`` compares the two
    exhaustive = False

    def __init__(
        self,
        config: Config,
        *,
        hidden: Iterable[str] = DEFAULT_HIDDEN,
        max_hidden: int = DEFAULT_MAX_HIDDEN,
        max_candidates: int = DEFAULT_MAX_CANDIDATES,
        hidden_window: int = DEFAULT_HIDDEN_WINDOW,
        version: int = 1,
        policy: str | None = None,
        lazy: bool = True,
    ) -> None:
        self.config = config
        self.version = version
        self.policy = policy or DEFAULT_POLICY[version]
        self.contract = self.policy == "contract"
        # memo off: a trace rarely revisits a state, and the tables cost time and memory
        self.m = TraceModel(validation_config(config, contract=self.contract), policy=self.policy)
        self.hidden = frozenset(hidden)
        # version 2: a crashed worker's unlogged ticks are taken at its Recover/Restart
        # (its cycle then); version 1 searches over them like any hidden step
        self.hidden_ticks = version >= 2 and "StartCycle" in self.hidden
        self.max_hidden = max_hidden
        self.max_candidates = max_candidates
        self.cands: list[State] = [self.m.init_state()]
        self.ids: dict[object, tuple[Msg, ...]] = {}  # message id -> what it may be
        # the last events with the candidates and id table before each, to place a hidden
        # step earlier than the event that needs it (kept only when steps may be hidden)
        # (event, type, candidates before it, id table before it, hidden steps it needed)
        self.window: deque[_Past] = deque(maxlen=hidden_window if self.hidden else 0)
        # the window kept lazily (``lazy``): while no event needs a hidden step placed
        # earlier than itself, only checkpoints (the event count, the candidates and a
        # copy of the id table) and the events since are kept, a checkpoint every
        # ``_ck_every`` events; :meth:`_materialize` rebuilds the window from them when
        # :meth:`_earlier_hidden` needs it (see :meth:`_go_lazy`). None: kept eagerly.
        self.lazy = lazy and bool(self.window.maxlen)
        self._segs: deque[_Seg] | None = None
        # the latest checkpoint's events: parsed, or (taken by the compiled step) the raw
        # line, parsed again only when the window is rebuilt
        self._seg: list[dict[str, Any] | bytes] | None = None
        self._ck_every = max((hidden_window or 1) // 4, 16)
        self._hold = 0  # events to keep the window eagerly after a rebuild (backoff)
        self._lazy_from = 0  # the count from which it may be kept lazily again
        self._lazy_since = 0  # the count when it was last made lazy
        # an id that names no message in flight is bad input, unless copies may be
        # made unseen (a hidden Duplicate: the copy may carry an id of its own or the same)
        self.strict_ids = "Duplicate" not in self.hidden
        self._depth = 0  # the depth the last successful hidden search used
        # event number -> the unlogged Drops/Duplicates (True: a Duplicate) placed back in
        # time before that event: a later placement further back replays them too, so two
        # unlogged copies close together are both found
        self._placed: dict[int, set[tuple[bool, Msg]]] = {}
        self._hashes = _Hashes()  # the hidden-step search's state hashes
        self.count = 0
        self.hidden_steps = 0
        self.peak = 1
        m = self.m
        limits = {"worker": m.W, "need": m.N, "buckets": m.B, "seq": m.B, "conflicts": m.B}
        table = TABLES[version]
        # per event type, the fields that name a worker, need, bucket or partition (a Need
        # event's fields are checked by declare)
        self._ranged: dict[str, tuple[tuple[str, int], ...]] = {
            t: tuple(
                (name, limits.get(name, m.P))
                for name in (*req, *opt)
                if name in limits or name == "read"
            )
            for t, (req, opt) in table.items()
            if t != "Need"
        }
        self._ranged["Need"] = ()
        self._ranges_ok = {t: self._compile_ranges(t) for t in self._ranged}
        self._explainers: dict[str, Callable[..., Any]] = {
            t: getattr(self, "_ev_" + t) for t in table
        }
        if self.lazy:
            self._go_lazy()

    def fast_path(self) -> FastPath | None:
        """The compiled step (:class:`~parsync.traces.faststep.FastPath`) holding the one
        candidate, when it applies: there is one candidate (the broker's inbox included:
        the compiled step holds it too); no window of past candidates is kept
        eagerly (none is kept, or it is kept lazily: the caller logs the events the
        fast path takes in ``_seg`` and checkpoints with :meth:`_checkpoint`); and a
        crashed worker's ticks are not hidden (version 2 with StartCycle hidden: its
        cycle when it comes back is searched). While it runs, ``cands`` is out of date;
        its :meth:`~FastPath.state` is the candidate."""
        if self.hidden_ticks or len(self.cands) != 1:
            return None
        if self.window.maxlen and self._segs is None:
            return None
        return FastPath(self, self.cands[0])

    # -- the window of past events, kept lazily ------------------------------------------------
    def _go_lazy(self) -> None:
        """Keep the window lazily from here: the window as it is (the entries before this
        checkpoint), a checkpoint of the candidates and id table now, no events since."""
        self._seg = []
        self._segs = deque([(self.count, self.cands, dict(self.ids), self._seg)])
        self._lazy_since = self.count

    def _checkpoint(self, cands: list[State]) -> None:
        """A checkpoint after the last event logged (``cands``: the candidates now); the
        oldest checkpoints are forgotten once a later one has a window of events after
        it (and with them the window's entries before them: they would have left it)."""
        segs = self._segs
        assert segs is not None
        self._seg = []
        segs.append((self.count, cands, dict(self.ids), self._seg))
        keep = self.window.maxlen or 0
        while len(segs) > 1 and sum(len(x[3]) for x in list(segs)[1:]) >= keep:
            segs.popleft()
            self.window.clear()

    def _materialize(self) -> None:
        """The window the eager path would hold: the events logged since the oldest
        checkpoint replayed through :meth:`feed` from it (at most a window and a
        checkpoint interval of events), appended to the entries kept before it. The
        validator's state (count, candidates, id table, counters) is as before."""
        segs = self._segs
        if segs is None:
            return
        saved = (self.count, self.cands, self.ids, self.hidden_steps, self.peak, self._depth)
        self._segs = self._seg = None
        self._lazy_from = 1 << 62  # no lazy window while replaying
        count0, cands0, ids0, _ = segs[0]
        self.count, self.cands, self.ids = count0, cands0, dict(ids0)
        loads = format_module.loads_function()  # the parser the line was read with
        try:
            for seg in segs:
                for x in seg[3]:
                    ev: dict[str, Any] = loads(x) if isinstance(x, bytes) else x
                    self.feed(ev, ev["type"])
        finally:
            (self.count, self.cands, self.ids, self.hidden_steps, self.peak, self._depth) = saved
        # a rebuild soon after the last one: keep the window eagerly for a while (longer
        # each time), so a trace that often needs earlier hidden steps is not replayed
        # over and over
        keep = self.window.maxlen or 0
        run = self.count - self._lazy_since
        self._hold = 0 if run >= 8 * keep else min(max(2 * self._hold, keep), 64 * keep)
        self._lazy_from = self.count + self._hold

    # -- input checks that need the Config (ids out of range are bad input) -------------------
    def _compile_ranges(self, etype: str) -> Callable[[dict[str, Any]], bool]:
        """One event type's range test as straight-line code (as ``format._compile_fast``
        does for the shape): True when every id is inside the Config. It is never looser
        than :meth:`_check_ranges`, which runs on a False to word the error."""
        m = self.m
        body = ["def ok(ev):", "    get = ev.get"]
        env: dict[str, Any] = {"m": m, "members": m.members, "first": _FIRST}
        req, opt = TABLES[self.version].get(etype, ({}, {}))
        kinds = {**req, **opt}
        for name, limit in self._ranged[etype]:
            body.append(f"    v = get({name!r})")
            if name == "worker":
                test = f"v >= {limit}"
            elif name == "need":
                test = "v >= m.N"  # needs declared by Need events extend the Config's
            elif name == "read":
                if etype == "Refresh":
                    body += ["    if v is not None and len(v) != 1:", "        return False"]
                test = (
                    "not all([r['partition'] < P and ('entries' not in r or len(r['entries']) "
                    "== len(members[r['partition']])) for r in v])"
                )
                env["P"] = m.P
            elif kinds.get(name) == PAIRS:
                test = f"(v and max(map(first, v)) >= {limit})"
            else:
                test = f"(v and max(v) >= {limit})"
            body += [f"    if v is not None and {test}:", "        return False"]
        body.append("    return True")
        exec("\n".join(body), env)  # noqa: S102 - code built from the field table
        return env["ok"]  # type: ignore[no-any-return]

    def check_ranges(self, ev: dict[str, Any], etype: str | None = None) -> None:
        """Raise ValueError naming the field when an id is outside the Config."""
        etype = etype or ev["type"]
        if not self._ranges_ok[etype](ev):
            self._check_ranges(ev, etype)

    def _check_ranges(self, ev: dict[str, Any], etype: str) -> None:
        m = self.m
        for name, limit in self._ranged[etype]:
            v = ev.get(name)
            if v is None:
                continue
            if name == "worker":
                if v >= limit:
                    raise ValueError(f"worker {v} does not exist (workers are 0..{limit - 1})")
            elif name == "need":
                if v >= m.N:  # needs declared by Need events extend the Config's
                    raise ValueError(f"need {v} does not exist (needs are 0..{m.N - 1})")
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
                if etype == "Refresh" and len(v) != 1:
                    raise ValueError(f"a Refresh reads exactly one partition; read lists {len(v)}")
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
            if etype in _TAKES_ID and "id" in ev:
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
        why = self._id_problem(ev, etype)  # check_ids, without the extra call
        if why is not None:
            raise TraceInvalid(why, [why], self.cands, [])
        explain = self._explainers[etype]
        cands = self.cands
        if len(cands) == 1:  # the common case: _explain_all's first line, inline
            nxt, reasons, produced = explain(cands[0], ev)
        else:
            nxt, reasons, produced = self._explain_all(explain, ev, cands)
        depth = 0  # hidden steps the event needed just before it
        if not nxt:
            try:
                nxt, produced = self._hidden_search(explain, ev, reasons)
                depth = self._depth
            except TraceInvalid:
                if self._segs is not None:
                    self._materialize()
                got = self._earlier_hidden(explain, ev)
                if got is None:
                    raise
                nxt, produced = got
                depth = self.max_hidden
        one = depth == 0 and len(nxt) == 1 and len(self.cands) == 1
        if self.contract and len(nxt) > 1:
            nxt = self._subsume(nxt)
        seg = self._seg
        if seg is None and self.window.maxlen:
            self.window.append((ev, etype, self.cands, dict(self.ids), depth, one))
        self.cands = nxt
        if len(nxt) > self.peak:
            self.peak = len(nxt)
        if etype in _BOOKED:
            self._book_ids(ev, etype, produced)
        if self.count % CLEAR_EVERY == 0:
            self._compact()
        if seg is not None:
            seg.append(ev)
            if len(seg) >= self._ck_every:
                self._checkpoint(nxt)
        elif self.lazy and self.count >= self._lazy_from:
            self._go_lazy()

    def _subsume(self, cands: list[State]) -> list[State]:
        """Contract only (fault budgets lifted, so the fault counters decide nothing):
        one state per state but its counters; and when Drop is hidden, a state whose
        messages in flight are all also in flight in another, equal otherwise, is left
        out: the other explains everything it does (an extra message never disables a
        step but a Commit's priority guard, and it may be dropped unseen when that needs
        it gone). Keeps the candidate set from doubling per unlogged copy or drop."""
        groups: dict[tuple[Any, ...], list[State]] = {}
        for c in cands:
            # the broker's inbox blocks commits (priority on conflict): never subsumed
            groups.setdefault((c.broker, c.workers, c.placed, c.inbox), []).append(c)
        if len(groups) == len(cands):
            return cands
        drop = "Drop" in self.hidden
        out: list[State] = []
        for group in groups.values():
            if len(group) == 1:
                out.append(group[0])
                continue
            bags: dict[tuple[Any, Any], State] = {}
            for c in group:
                bags.setdefault((c.to_broker, c.to_workers), c)
            keep = list(bags.values())
            if drop and len(keep) > 1:
                counts = [Counter(c.to_broker) + Counter(c.to_workers) for c in keep]
                keep = [
                    c
                    for i, c in enumerate(keep)
                    if not any(
                        i != k and counts[i] <= counts[k] and counts[i] != counts[k]
                        for k in range(len(keep))
                    )
                ]
            out += keep
        return out

    def _hidden_succ(self, s: State, uses: _Uses | None = None) -> Iterator[State]:
        """The next states of ``s`` along one step of a hidden type: ``successors``
        restricted to the header's ``hidden`` types, built per type without listing any
        worker's moves (no bucket set is enumerated; ``tests/test_trace_v2.py`` checks
        the two agree). A hidden Propose, Defer, Commit or HandleReply (version 1 allows
        declaring them) falls back to ``successors``. ``uses`` (contract only): the
        events the steps must help explain; a Duplicate or Drop no such event could
        need is left out (see :class:`_Uses`)."""
        m = self.m
        hidden = self.hidden
        if hidden & _LISTED:
            for a, t in m.successors(s):
                if action_name(a) in hidden:
                    yield t
            return
        br = s.broker
        f = s.faults
        contract = self.contract
        for wi, w in enumerate(s.workers):
            if w.up:
                if "StartCycle" in hidden and not self.hidden_ticks:
                    if w.waiting:
                        if contract or m.lost(s, wi, w):
                            tf = f if m.lost(s, wi, w) else (*f[:3], f[3] + 1, *f[4:])
                            yield self._put(s, wi, m.start_cycle(wi, w, br), tf)
                    elif contract or not w.pending:
                        yield self._put(s, wi, m.start_cycle(wi, w, br))
                if contract and "Timeout" in hidden and w.waiting:
                    yield self._put(s, wi, m.timeout(w), (*f[:3], f[3] + 1, *f[4:]))
                if contract and "Refresh" in hidden:
                    for p in range(m.P):
                        nw = m.refresh(w, br, (p,))
                        yield self._put(s, wi, nw, (*f[:4], f[4] + 1, *f[5:]))
                if "Crash" in hidden:
                    yield self._put(s, wi, m.crash(w), (f[0] + 1, *f[1:]))
            else:
                if "StartCycle" in hidden and not self.hidden_ticks:
                    yield self._put(s, wi, w._replace(cycle=w.cycle + 1))
                if "Recover" in hidden:
                    yield self._put(s, wi, m.recover(w, br))
                if contract and "Restart" in hidden:
                    yield self._put(s, wi, m.restart(w))
        if "Release" in hidden:
            for n, st in enumerate(br.status):
                if st == PLACED:
                    nb = m.release(br, n)
                    yield State(nb, s.workers, s.to_broker, s.to_workers, f, s.placed, s.inbox)
        for _step, t in self._net_succ(s, uses):
            yield t
        if "Failover" in hidden:
            yield State(m.failover(br), s.workers, s.to_broker, s.to_workers, f, s.placed, s.inbox)

    def _net_succ(
        self, s: State, uses: _Uses | None = None
    ) -> Iterator[tuple[tuple[bool, Msg], State]]:
        """:meth:`_hidden_succ`'s hidden Drops and Duplicates, each with its step: (True,
        x) a Duplicate of ``x``, (False, x) a Drop, as :func:`_net_step` names them."""
        m = self.m
        drop = "Drop" in self.hidden
        dup = "Duplicate" in self.hidden
        if drop or dup:
            if uses is not None and not self.contract:
                uses = None
            apart = self._hashes.distinct
            for x in (*apart(s.to_broker), *apart(s.to_workers)):
                if drop and (uses is None or uses.drop_useful(x)):
                    yield (False, x), m._drop(s, x)
                if dup and (uses is None or uses.dup_useful(x)):
                    yield (True, x), m._dup(s, x)

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
        self._hashes.trim()  # it keeps the bags' distinct messages (memory stays bounded)
        uses = _Uses()
        uses.add(ev)
        for depth in range(1, limit + 1):
            nxt: list[State] = []
            for s in frontier:
                for t in self._hidden_succ(s, uses):
                    if t not in seen:
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
        a message that an event consumed since is the usual case. The id table is
        replayed too (from the one before the placement, booking what each replayed
        event produced), so an id names what its message is in the replayed candidates
        - a reply to the copy, not only to the proposal first matched; the window keeps
        the replayed candidates and id tables, so a later event can place another hidden
        step among them."""
        if not self.window:
            return None
        ids_now = self.ids
        past = list(self.window)
        hashes = self._hashes
        hashes.trim()
        keys = hashes.keys
        after: dict[_Keyed, None] = {}
        made: list[Msg] = []
        # the candidates before each event, the replayed ones added (built when a
        # placement explains the events from there)
        befores: list[dict[_Keyed, None] | None] = [None] * len(past)
        tables: list[dict[object, tuple[Msg, ...]] | None] = [None] * len(past)
        ids_after: dict[object, tuple[Msg, ...]] | None = None
        # per window position, the states a replay already went on from: a placement
        # that reaches only those adds nothing (a Duplicate placed before an event that
        # does not touch the message reaches, after it, the state the same Duplicate
        # placed after it starts from), so each state is replayed from once
        base = self.count - 1 - len(past)  # the event number of past[0]
        placed: list[tuple[int, tuple[bool, Msg]]] = []
        # first without, then (only if no placement explains the events) with the steps
        # earlier searches placed taken again: they can multiply the candidates
        plan: list[tuple[int, State, State, tuple[bool, Msg] | None, int | None]] = [
            (j, s0, t, step, None) for j, s0, t, step in self._placements(past, explain, ev)
        ]
        n_plan = len(plan)
        if self._placed:
            plan += [(j, s0, t, step, base + j) for j, s0, t, step, _b in plan]
        tried: list[set[_Keyed]] = [set() for _ in past]
        short = not self.exhaustive
        unread = (
            _Unread(self, past, ev) if short and self.contract and self.hidden <= _NET else None
        )
        # (position, step) of the Drop and Duplicate placements replayed (or skipped) from
        # a position's one candidate: their states are in ``tried`` there
        done: set[tuple[int, tuple[bool, Msg]]] = set()
        try:
            for i_plan, (j, s0, t, step, at) in enumerate(plan):
                if i_plan == n_plan:
                    if after:
                        break
                    tried = [set() for _ in past]
                if short and at is None and step is not None:
                    skip = self._tried_later(past, j, t, step, tried, done)
                    if len(past[j][2]) == 1:
                        done.add((j, step))
                    if skip:
                        continue
                got = self._replay_from(
                    [t], past[j:], explain, ev, tried[j:], at, unread if at is None else None, j
                )
                self.ids = ids_now
                if got is None:
                    continue
                net = _net_step(s0, t)
                if net is not None:
                    placed.append((base + j, net))
                after.update(keys(got[0]))
                made += got[1]
                for k, before in enumerate(got[2]):
                    have = befores[j + k]
                    if have is None:
                        have = befores[j + k] = keys(past[j + k][2])
                    have.update(keys(before))
                    tables[j + k] = _merge_ids(tables[j + k], got[3][k])
                ids_after = _merge_ids(ids_after, got[4])
                if len(after) > self.max_candidates:
                    raise TraceUndecided(self._too_many(len(after)))
        finally:
            self.ids = ids_now
        if not after:
            return None
        self.hidden_steps += 1
        for at, step in placed:
            self._placed.setdefault(at, set()).add(step)
        for at in [a for a in self._placed if a < base]:
            del self._placed[at]
        for k, (e_k, t_k, c_k, i_k, d_k, one_k) in enumerate(past):
            tab = tables[k]
            have = befores[k]
            if have is None and tab is None:  # untouched: its candidates, each once
                if len(c_k) > 1:
                    self.window[k] = (e_k, t_k, [x.s for x in keys(c_k)], i_k, d_k, one_k)
                continue
            cands_k = c_k if have is None else [x.s for x in have]
            # replayed states and ids added: what the event took them to is not known here
            self.window[k] = (e_k, t_k, cands_k, i_k if tab is None else tab, d_k, False)
        assert ids_after is not None
        self.ids = ids_after
        return [x.s for x in after], made

    def _tried_later(
        self,
        past: list[_Past],
        j: int,
        t: State,
        step: tuple[bool, Msg],
        tried: list[set[_Keyed]],
        done: set[tuple[int, tuple[bool, Msg]]],
    ) -> bool:
        """True when the replay from ``t`` (one Drop or Duplicate, ``step``, placed before
        the event at window position ``j``) would end after that event, every state it
        reaches there already tried; the replay's one effect, ``t`` marked tried at
        ``j``, is then made here, without replaying the event.

        The event took its one candidate ``s`` to exactly one state ``s2``, the next
        entry's one candidate, with no hidden step (``one``, kept for entries no search
        has rewritten), and it does not read the message (:func:`_reads`): so from ``t``
        (``s`` with the step) it reaches exactly ``s2`` with the step, and the replay
        stops there when that state is in ``tried`` at ``j + 1`` - surely when the same
        step placed from ``s2`` one event later is in ``done`` (replayed, or skipped so,
        before: placements come latest first)."""
        n = len(past)
        if j + 1 >= n:
            return False
        ev_j, etype_j, cands_j, ids_j, _d, one = past[j]
        nxt = past[j + 1][2]
        if not one or len(nxt) != 1:
            return False
        dup, x = step
        if _reads(etype_j, ev_j, x, cands_j[0], ids_j, self.contract):
            return False
        key = self._hashes.key
        if (j + 1, step) not in done:  # the state may be tried there all the same
            u = self.m._dup(nxt[0], x) if dup else self.m._drop(nxt[0], x)
            if key(u) not in tried[j + 1]:
                return False
        tried[j].add(key(t))
        return True

    def _placements(
        self,
        past: list[_Past],
        explain: Callable[..., Any],
        ev: dict[str, Any],
    ) -> Iterator[tuple[int, State, State, tuple[bool, Msg] | None]]:
        """(window position, state, that state with one hidden step taken before that
        event, the step when it is a Drop or Duplicate and only those are hidden): every
        hidden step before the last GENERIC_HIDDEN_REACH events, latest first; further
        back, a Duplicate of each message since consumed that this event could take
        (tested by giving the message back to the current candidates)."""
        m = self.m
        n = len(past)
        uses = _Uses()
        uses.add(ev)
        net_only = self.hidden <= _NET
        for j in range(n - 1, max(n - GENERIC_HIDDEN_REACH, 0) - 1, -1):
            uses.add(past[j][0])  # the events from j on, and this one
            for s in past[j][2]:
                if net_only:  # the same steps, in the same order, named
                    for step, t in self._net_succ(s, uses):
                        yield j, s, t, step
                else:
                    for t in self._hidden_succ(s, uses):
                        yield j, s, t, None
        if "Duplicate" not in self.hidden or n <= GENERIC_HIDDEN_REACH:
            return
        live: set[Msg] = set()
        for s in self.cands:
            live.update(s.to_broker)
            live.update(s.to_workers)
            live.update(s.inbox)
        tried: set[Msg] = set()
        bags: set[int] = set()  # ids of the bags looked through (kept alive by the window)
        for j in range(n - GENERIC_HIDDEN_REACH - 1, -1, -1):
            for s in past[j][2]:
                for bag in (s.to_broker, s.to_workers):
                    if id(bag) in bags:
                        continue  # the same bag as a later entry's: its messages are tried
                    bags.add(id(bag))
                    for x in self._hashes.distinct(bag):
                        if x in live or x in tried:
                            continue
                        tried.add(x)
                        if self._could_take(explain, ev, x):
                            yield j, s, m._dup(s, x), (True, x)

    def _could_take(self, explain: Callable[..., Any], ev: dict[str, Any], x: Msg) -> bool:
        """The event is explained once message ``x`` is back in flight in a candidate.
        Not from a candidate whose explanation does not read ``x`` (:func:`_reads`): it
        is explained from it with ``x`` as from it, and no candidate explains the event
        (the search is for an event nothing explained)."""
        m = self.m
        etype = ev["type"]
        for s in self.cands:
            if not (self.exhaustive or _reads(etype, ev, x, s, self.ids, self.contract)):
                continue
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
        tried: list[set[_Keyed]] | None = None,
        base: int | None = None,
        unread: _Unread | None = None,
        at: int = 0,
    ) -> (
        tuple[list[State], list[Msg], list[list[State]], list[dict[object, Any]], dict[object, Any]]
        | None
    ):
        """The candidates after replaying ``events`` and then ``ev`` from ``cands``, the
        messages ``ev`` produced, the candidates and id tables before each replayed
        event, and the id table before ``ev``. The id table starts as it was before the
        first replayed event and books what each replayed event produced (not what it
        produced the first time: a reply to a hidden copy is new). A replayed event may
        take as many hidden steps just before it as it took the first time (usually
        none): most placements fail, and each failure is cheap. ``tried`` (per replayed
        event): states already replayed from there, skipped (None when all are).
        ``base``: the event number of ``events[0]``; the Drops and Duplicates placed
        before a replayed event by earlier searches are taken again (optionally).

        ``unread`` (with ``tried``; ``events`` the window's from position ``at``): once
        the replayed candidate is the window's, but for copies of messages that no event
        left reads, the rest is known without explaining it (:meth:`_Unread.rest`)."""
        m = self.m
        key = self._hashes.key
        befores: list[list[State]] = []
        tables: list[dict[object, Any]] = []
        self.ids = dict(events[0][3]) if events else dict(self.ids)
        k = 0
        while k < len(events):
            ev_k, etype_k, _c, _ids_k, depth_k, _one = events[k]
            steps = self._placed.get(base + k) if base is not None else None
            if steps:
                # optional; but under the contract with Drop hidden a state with a copy
                # more explains all the state without it does (the copy may be dropped
                # unseen when a Commit's priority guard needs it gone), so only the
                # state with the copy is kept: candidates do not double per placement
                keep = not (self.contract and "Drop" in self.hidden)
                more: dict[State, None] = {}
                for c in cands:
                    got_c = c
                    for dup, x in steps:
                        if not (dup or keep):
                            continue  # the state with x explains what the one without does
                        bag = got_c.to_broker if type(x) is Proposal else got_c.to_workers
                        # a Duplicate again only where x is in flight once: a state that
                        # already has the copy (the window keeps the placed states) would
                        # grow a copy per replay
                        n = bag.count(x)
                        if n == 1 if dup else n >= 1:
                            if keep:
                                more[got_c] = None
                            got_c = m._dup(got_c, x) if dup else m._drop(got_c, x)
                    more[got_c] = None
                cands = list(more)
            if tried is not None:
                seen = tried[k]
                fresh = [x for x in map(key, cands) if x not in seen]
                if not fresh:
                    return None
                seen.update(fresh)
                cands = [x.s for x in fresh]
                if unread is not None and len(cands) == 1:
                    ahead = unread.rest(at + k, cands[0], self.ids)
                    if ahead is not None:
                        # the states the replay would go through up to the next event that
                        # reads its extra copies: noted as it would (it stops at one tried)
                        r, path = ahead
                        r -= at  # as an index into events
                        befores.append(cands)
                        tables.append(dict(self.ids))
                        for i in range(k + 1, min(r, len(events))):
                            c = next(path)
                            kc = key(c)
                            if kc in tried[i]:
                                return None
                            tried[i].add(kc)
                            befores.append([c])
                            tables.append(events[i][3])
                        if r > len(events):
                            return None  # nothing reads them: the replay fails at the end
                        cands = [next(path)]
                        if r == len(events):  # the searched event reads them
                            self.ids = dict(unread.ids)
                            break
                        self.ids = dict(events[r][3])
                        k = r
                        continue
            befores.append(cands)
            tables.append(dict(self.ids))
            ex = self._explainers[etype_k]
            nxt, _reasons, made_k = self._explain_all(ex, ev_k, cands)
            if not nxt:
                got = self._hidden_steps(ex, ev_k, cands, depth_k) if depth_k else None
                if got is None:
                    return None
                nxt, made_k = got[0], got[1]
            self._book_ids(ev_k, etype_k, made_k)
            cands = nxt
            k += 1
        table = dict(self.ids)
        nxt, _reasons, produced = self._explain_all(explain, ev, cands)
        if not nxt:
            got = self._hidden_steps(explain, ev, cands, self.max_hidden)
            if got is None:
                return None
            nxt, produced = got[0], got[1]
        return nxt, produced, befores, tables, table

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
            live.update(s.inbox)
        self.ids = {k: v for k, v in self.ids.items() if any(x in live for x in v)}

    # -- reads ------------------------------------------------------------------------------
    def _read_mismatch(self, ev: dict[str, Any], parts: tuple[int, ...], nw: Worker) -> str | None:
        """Compare the event's ``read`` with the partitions the model read (and their data)."""
        read = ev.get("read")
        if read is None:
            return None
        if len(read) == 1 and len(parts) == 1:  # the common case, without the sort
            if read[0]["partition"] != parts[0]:
                return f"read partition(s) {[read[0]['partition']]}, the model reads {list(parts)}"
        else:
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
    # Each is the guard and the update of the model's own move (``_worker_moves`` /
    # ``_contract_moves``, under the Validator's policy) for the one move the event
    # names, built from the model's component steps: no worker's moves are listed,
    # so no bucket set is enumerated (``tests/test_trace_v2.py`` checks these against
    # ``ParSyncModel.step`` on walks of both policies).
    @staticmethod
    def _put(
        s: State, wi: int, nw: Worker, faults: tuple[int, ...] | None = None, msg: Msg | None = None
    ) -> State:
        ws = s.workers[:wi] + (nw,) + s.workers[wi + 1 :]
        tb = s.to_broker if msg is None else bag_add(s.to_broker, msg)
        return State(
            s.broker,
            ws,
            tb,
            s.to_workers,
            s.faults if faults is None else faults,
            s.placed,
            s.inbox,
        )

    def _back_cycles(self, w: Worker, ev: dict[str, Any]) -> list[int] | str:
        """The cycles a crashed worker may have when it comes back (Recover, Restart): its
        own, or - when its ticks while down are hidden (version 2) - the event's ``cycle``
        if it gives one, else one of each rotation phase."""
        c = ev.get("cycle")
        if c is None:
            if self.hidden_ticks:
                return [w.cycle + k for k in range(self.m.P)]
            return [w.cycle]
        if c == w.cycle or (self.hidden_ticks and c > w.cycle):
            return [c]
        if c < w.cycle:
            return f"the worker's cycle is already {w.cycle} per the model, not {c}"
        return (
            f"the worker's cycle is {w.cycle} per the model, not {c} (its ticks while down "
            "are logged: the header does not declare StartCycle hidden)"
        )

    def _ev_StartCycle(self, s: State, ev: dict[str, Any]) -> Any:
        m = self.m
        wi = ev["worker"]
        w = s.workers[wi]
        faults = s.faults
        a = StartCycle(wi)
        if not w.up:
            c = w.cycle + 1
            if self.hidden_ticks and ev.get("cycle", c) > c:
                c = ev["cycle"]  # its earlier ticks were not logged
            nw = w._replace(cycle=c)
        else:
            if w.waiting and not m.lost(s, wi, w):
                if not self.contract:
                    why = (
                        f"worker {wi} is still waiting on its proposal (tag {w.cycle}."
                        f"{w.attempts}), which or whose reply is in flight: it may not start "
                        "a cycle"
                    )
                    return [], [why], []
                faults = (*faults[:3], faults[3] + 1, *faults[4:])  # a timeout
            elif not w.waiting and w.pending and not self.contract:
                why = f"worker {wi} cannot take a StartCycle step here ({_worker_brief(w)})"
                return [], [why], []
            nw = m.start_cycle(wi, w, s.broker)
        if "cycle" in ev and ev["cycle"] != nw.cycle:
            bad: str | None = f"starts cycle {nw.cycle} per the model, the event says {ev['cycle']}"
        else:
            bad = self._read_mismatch(ev, (m.rotation(nw.cycle),) if w.up else (), nw)
        if bad is not None:
            return [], [f"{fmt_action(a)}: {bad}"], []
        return [self._put(s, wi, nw, faults)], [], []

    def _propose_problem(self, w: Worker, n: int, bs: tuple[int, ...]) -> str:
        """The rule a proposal of ``bs`` for need ``n`` breaks in the worker's view (the
        rules of ``ParSyncModel.fits``, checked one by one to name the one broken)."""
        m = self.m
        g = m.gang[n]
        if len(bs) != g:
            return f"n{n} is a gang of {g} bucket(s), the proposal names {len(bs)} (gang size)"
        if len(set(bs)) != len(bs):
            return f"the proposal names a bucket twice: {list(bs)}"
        allowed = m._allowed(w)
        for b in bs:
            p = m.part[b]
            if b not in m.eligible_sets[n]:
                return f"bucket {b} is not eligible for n{n} (eligibility)"
            if allowed is not None and p not in allowed:
                return (
                    f"bucket {b} is in partition {p}, which is not fresh: latency-first "
                    f"proposes from the freshest partition(s) {sorted(allowed)} only "
                    "(strategy: partition/mode)"
                )
            e = m.view_entry(w, b)
            if e is None:
                return (
                    f"the worker holds no data of bucket {b}'s partition {p} (not read "
                    "since its crash)"
                )
            if not m.room(e[1], n, b):
                return (
                    f"bucket {b} has no room for n{n} in the worker's view ({e[1]} of "
                    f"{m.cap[b]} used, n{n} needs {m.size[n]}) (room)"
                )
        return "the proposal breaks a rule of the model"  # pragma: no cover - fits said no

    def _ev_Propose(self, s: State, ev: dict[str, Any]) -> Any:
        # At most one model move matches (its need and bucket set are the event's): the
        # guard of the Propose move for that one set, then the step.
        m = self.m
        wi = ev["worker"]
        w = s.workers[wi]
        if not (w.up and not w.waiting and w.pending):
            return [], [f"worker {wi} cannot take a Propose step here ({_worker_brief(w)})"], []
        reads = _pairs(ev["buckets"])
        buckets = tuple([b for b, _ in reads])
        head = w.pending[0]
        n = ev["need"]
        a = Propose(wi, buckets, -1 if n == head else n)
        if self.contract:
            if n not in w.pending:
                why = f"n{n} is not pending at worker {wi} (pending: {_needs(w.pending)})"
                return [], [f"{fmt_action(a)}: {why}"], []
            w = m._focus(w, n)
            if w.attempts >= m.attempt_limit():
                why = (
                    f"n{n} was proposed {w.attempts} times this cycle; at most R + 1 = "
                    f"{m.R + 1} (PS-6 RetryBudget)"
                )
                return [], [f"{fmt_action(a)}: {why}"], []
        elif n != head:
            why = f"the head pending need is n{head}, not n{n}"
            return [], [f"{fmt_action(Propose(wi, buckets))}: {why}"], []
        if not m.fits(w, n, buckets):
            return [], [f"{fmt_action(a)}: {self._propose_problem(w, n, buckets)}"], []
        nw, msg = m.propose(wi, w, n, buckets)
        bad = _propose_mismatch(ev, reads, msg)
        if bad is not None:
            return [], [f"{fmt_action(a)}: {bad}"], []
        ws = s.workers[:wi] + (nw,) + s.workers[wi + 1 :]
        tb = m.bag_add(s.to_broker, msg)
        return [State(s.broker, ws, tb, s.to_workers, s.faults, s.placed, s.inbox)], [], [msg]

    def _ev_Defer(self, s: State, ev: dict[str, Any]) -> Any:
        m = self.m
        wi = ev["worker"]
        w = s.workers[wi]
        if not (w.up and not w.waiting and w.pending):
            return [], [f"worker {wi} cannot take a Defer step here ({_worker_brief(w)})"], []
        head = w.pending[0]
        if self.contract:  # any pending need, any time
            if "need" in ev:
                if ev["need"] not in w.pending:
                    why = f"n{ev['need']} is not pending (pending: {_needs(w.pending)})"
                    return [], [f"{fmt_action(Defer(wi, ev['need']))}: {why}"], []
                needs: tuple[int, ...] = (ev["need"],)
            else:
                needs = w.pending
            return [self._put(s, wi, m.defer_need(w, n)) for n in needs], [], []
        if "need" in ev and ev["need"] != head:
            why = f"the head pending need is n{head}, not n{ev['need']}"
            return [], [f"{fmt_action(Defer(wi))}: {why}"], []
        if m.has_choice(w, head):
            why = (
                f"a bucket set fits n{head} in the worker's view: the reference policy defers "
                "only when nothing fits"
            )
            return [], [f"{fmt_action(Defer(wi))}: {why}"], []
        return [self._put(s, wi, m.defer(w))], [], []

    def _ev_Crash(self, s: State, ev: dict[str, Any]) -> Any:
        wi = ev["worker"]
        w = s.workers[wi]
        if not w.up:
            return [], [f"worker {wi} cannot take a Crash step here (it is down)"], []
        f = s.faults
        return [self._put(s, wi, self.m.crash(w), (f[0] + 1, *f[1:]))], [], []

    def _comes_back(self, s: State, ev: dict[str, Any], restart: bool) -> Any:
        m = self.m
        wi = ev["worker"]
        w = s.workers[wi]
        a = Restart(wi) if restart else Recover(wi)
        if w.up:
            return [], [f"worker {wi} cannot take a {action_name(a)} step here (it is up)"], []
        cycles = self._back_cycles(w, ev)
        if isinstance(cycles, str):
            return [], [f"{fmt_action(a)}: {cycles}"], []
        ok: list[State] = []
        why: list[str] = []
        for c in cycles:
            wc = w._replace(cycle=c)
            nw = m.restart(wc) if restart else m.recover(wc, s.broker)
            bad = self._read_mismatch(ev, () if restart else tuple(range(m.P)), nw)
            if bad is not None:
                why.append(f"{fmt_action(a)}: {bad}")
                continue
            ok.append(self._put(s, wi, nw))
        return ok, why, []

    def _ev_Recover(self, s: State, ev: dict[str, Any]) -> Any:
        return self._comes_back(s, ev, restart=False)

    # -- the contract's own worker steps (version 2) ----------------------------------------
    def _not_reference(self, t: str) -> Any:
        return [], [f"the reference policy has no {t} step (the header's policy is reference)"], []

    def _ev_Restart(self, s: State, ev: dict[str, Any]) -> Any:
        if not self.contract:
            return self._not_reference("Restart")
        return self._comes_back(s, ev, restart=True)

    def _ev_Timeout(self, s: State, ev: dict[str, Any]) -> Any:
        if not self.contract:
            return self._not_reference("Timeout")
        wi = ev["worker"]
        w = s.workers[wi]
        if not (w.up and w.waiting):
            why = f"worker {wi} has no outstanding attempt to abandon ({_worker_brief(w)})"
            return [], [f"{fmt_action(Timeout(wi))}: {why}"], []
        f = s.faults
        return [self._put(s, wi, self.m.timeout(w), (*f[:3], f[3] + 1, *f[4:]))], [], []

    def _ev_Refresh(self, s: State, ev: dict[str, Any]) -> Any:
        if not self.contract:
            return self._not_reference("Refresh")
        m = self.m
        wi = ev["worker"]
        w = s.workers[wi]
        p = ev["read"][0]["partition"]
        a = Refresh(wi, p)
        if not w.up:
            return [], [f"{fmt_action(a)}: worker {wi} is down"], []
        nw = m.refresh(w, s.broker, (p,))
        bad = self._read_mismatch(ev, (p,), nw)
        if bad is not None:
            return [], [f"{fmt_action(a)}: {bad}"], []
        f = s.faults
        return [self._put(s, wi, nw, (*f[:4], f[4] + 1, *f[5:]))], [], []

    def _ev_Need(self, s: State, ev: dict[str, Any]) -> Any:
        # the need was added to the model by declare(); each candidate gets its slot (up to
        # this need only: a replayed earlier Need must not make later needs arrive)
        missing = ev["need"] + 1 - len(s.broker.status)
        return [self.m.extend_state(s, missing) if missing > 0 else s], [], []

    def declare(self, ev: dict[str, Any]) -> None:
        """A version 2 Need event: check it (ValueError naming the field: bad input) and
        add the need to the model."""
        m = self.m
        n = ev["need"]
        if n != m.N:
            raise ValueError(
                f"Need declares need {n}; the next need id is {m.N} (needs are numbered from "
                "0, the Config's first, then one per Need event in order)"
            )
        owner = ev["owner"]
        if owner >= m.W:
            raise ValueError(f"Need's owner {owner} does not exist (workers are 0..{m.W - 1})")
        gang = ev.get("gang", 1)
        size = ev.get("size", 1)
        if gang < 1 or size < 1:
            what = "gang" if gang < 1 else "size"
            raise ValueError(f"Need's {what} must be at least 1")
        elig = ev.get("eligible")
        eligible = tuple(range(m.B)) if elig is None else tuple(elig)
        for b in eligible:
            if b >= m.B:
                raise ValueError(f"Need's eligible names bucket {b}, buckets are 0..{m.B - 1}")
        if len(set(eligible)) != len(eligible):
            raise ValueError(f"Need's eligible lists a bucket twice: {list(eligible)}")
        if gang > len(eligible):
            raise ValueError(
                f"Need is a gang of {gang} buckets but only {len(eligible)} are eligible"
            )
        m.add_need(owner, ev.get("priority", 1), gang, size, eligible)

    # -- the broker -----------------------------------------------------------------------------
    def _proposals(self, s: State, ev: dict[str, Any], network: bool = False) -> list[Proposal]:
        """Distinct proposals in flight the event may mean (by id, else by content): in
        the network or (contract) the broker's inbox; ``network``: in the network only."""
        inbox = () if network else s.inbox
        known = self.ids.get(ev["id"]) if "id" in ev else None
        if known is not None:  # the messages the id may be, those still in flight
            tb = s.to_broker
            w = ev.get("worker")
            n = ev.get("need")
            return [
                p
                for p in known
                if type(p) is Proposal
                and (w is None or p.worker == w)
                and (n is None or p.need == n)
                and (p in tb or p in inbox)
            ]
        if inbox:
            return [p for p in dict.fromkeys((*inbox, *s.to_broker)) if _may_be(p, ev, self.ids)]
        return [p for p in distinct(s.to_broker) if _may_be(p, ev, self.ids)]

    def _queue(self, s: State, ev: dict[str, Any]) -> tuple[Proposal, ...]:
        """The reference policy: the proposals the broker chose among, ``queued`` if the
        event lists them.

        The reference's Commit guard (priority on conflict) looks at every proposal
        in flight, as if each reached the broker the moment it was sent. A real
        broker can only order what has arrived, so a trace may say what was in
        its queue; the guard is then the model's own ``blocked`` on that queue.
        Without ``queued`` it is the model's guard exactly. (The contract keeps
        the network apart from the broker's inbox: see :meth:`_at_broker`.)
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

    def _queued(self, s: State, ev: dict[str, Any]) -> tuple[Proposal, ...]:
        """Contract: the proposals a decision's ``queued`` ids name that the model state
        still has in the network (the broker had them when it chose, the event says)."""
        if "queued" not in ev:
            return ()
        ids = self.ids
        tb, inbox = s.to_broker, s.inbox
        return tuple(
            dict.fromkeys(
                x
                for q in ev["queued"]
                for x in ids.get(q, ())
                if type(x) is Proposal and x in tb and x not in inbox
            )
        )

    def _at_broker(self, s: State, p: Proposal, ev: dict[str, Any] | None = None) -> State:
        """Contract: ``s`` with ``p`` in the broker's inbox. A copy already there is the
        one decided on; else one is delivered from the network, unlogged (a trace that
        does not log Deliver leaves delivery a hidden step, and the latest moment is the
        most permissive: until then the proposal may be dropped or copied, and it blocks
        no commit). ``ev``: with the proposals its ``queued`` ids name delivered too
        (hidden Delivers of messages the event does not decide on): the state priority
        on conflict is judged on (:meth:`_commits`, :meth:`_forced`)."""
        m = self.m
        tb, inbox = s.to_broker, s.inbox
        if p not in inbox:
            tb, inbox = m.bag_remove(tb, p), m.bag_add(inbox, p)
        if ev is not None:
            for x in self._queued(s, ev):
                if x in tb and x != p:
                    tb, inbox = m.bag_remove(tb, x), m.bag_add(inbox, x)
        if tb is s.to_broker and inbox is s.inbox:
            return s
        return State(s.broker, s.workers, tb, s.to_workers, s.faults, s.placed, inbox)

    def _ev_Deliver(self, s: State, ev: dict[str, Any]) -> Any:
        """Contract: the network hands the proposal to the broker's inbox."""
        if not self.contract:
            return self._not_reference("Deliver")
        m = self.m
        props = self._proposals(s, ev, network=True)
        if not props:
            return [], [f"no proposal matching the event is in the network ({_flight(s)})"], []
        return (
            [
                State(
                    s.broker,
                    s.workers,
                    m.bag_remove(s.to_broker, p),
                    s.to_workers,
                    s.faults,
                    s.placed,
                    m.bag_add(s.inbox, p),
                )
                for p in props
            ],
            [],
            [],
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
        if self.contract:
            if ev["result"] != KIND_NAMES[COMMITTED]:
                return self._rejects(s, ev, props)
            return self._commits(s, ev, props)
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

    def _commits(self, s: State, ev: dict[str, Any], props: list[Proposal]) -> Any:
        """Contract: the broker commits a proposal it has received unless a higher-priority
        one it has received shares a bucket (``Commit``): priority on conflict is judged
        on the broker's inbox and on the proposals the event lists as ``queued`` (the
        broker had them: :meth:`_at_broker` delivers them for the check). The state kept
        takes only the decided proposal from the network, if it is still there (delivered
        just now, unlogged); the queued ones stay in the network, where a broker that
        loses its queue loses them (the contract's reading of a lossy queue: a drop
        before delivery)."""
        m = self.m
        br = s.broker
        ok: list[State] = []
        why: list[str] = []
        made: list[Msg] = []
        queued = self._queued(s, ev)
        for p in props:
            if p in s.inbox:  # decided from the inbox
                tb, inbox = s.to_broker, m.bag_remove(s.inbox, p)
            else:  # delivered unlogged just now (p blocks nothing of its own priority)
                tb, inbox = m.bag_remove(s.to_broker, p), s.inbox
            seen = s.inbox + queued if queued else s.inbox
            if seen and m.blocked(seen, p):
                why.append(
                    f"Commit({_brief(p)}): a higher-priority proposal on a shared bucket is "
                    "in the broker's inbox; the broker must decide on it first"
                )
                continue
            nb, reply, committed = m.commit(br, p)
            bad = self._decision_mismatch(ev, br, nb, reply)
            if bad is not None:
                why.append(f"Commit({_brief(p)}): {bad}")
                continue
            placed = s.placed
            if committed:
                placed = pset(placed, p.need, placed[p.need] + 1)
            made.append(reply)
            tw = m.bag_add(s.to_workers, reply)
            ok.append(State(nb, s.workers, tb, tw, s.faults, placed, inbox))
        return ok, why, made

    def _rejects(self, s: State, ev: dict[str, Any], props: list[Proposal]) -> Any:
        """Contract: the broker answers with any reply that is true of the proposal, in any
        check order, and no priority guard (``Reject``): fenced iff the epoch differs,
        already-placed iff the need is placed, conflict iff a read seqno is stale. The
        proposal is taken from the broker's inbox (delivered unlogged if need be)."""
        m = self.m
        br = s.broker
        kind = KIND_NAMES.index(ev["result"])
        ok: list[State] = []
        why: list[str] = []
        made: list[Msg] = []
        for p in props:
            replies = [r for r in m.rejections(br, p) if r.kind == kind]
            if not replies:
                why.append(f"Commit({_brief(p)}): {_untrue(ev['result'], p, br)}")
                continue
            reply = replies[0]
            bad = self._decision_mismatch(ev, br, br, reply)
            if bad is not None:
                why.append(f"Commit({_brief(p)}): {bad}")
                continue
            made.append(reply)
            tw = m.bag_add(s.to_workers, reply)
            if p in s.inbox:  # decided from the inbox; else delivered unlogged just now
                tb, inbox = s.to_broker, m.bag_remove(s.inbox, p)
            else:
                tb, inbox = m.bag_remove(s.to_broker, p), s.inbox
            ok.append(State(br, s.workers, tb, tw, s.faults, s.placed, inbox))
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
        tw0 = s.to_workers
        for r in distinct(tw0) if known is None else known:
            if r.worker != wi or type(r) is not Reply or (known is not None and r not in tw0):
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
            ok.append(State(s.broker, ws, s.to_broker, tw, s.faults, s.placed, s.inbox))
        if not ok and not why:
            why.append(f"no reply to worker {wi} matching the event is in flight ({_flight(s)})")
        return ok, why, []

    def _net_fault(self, s: State, ev: dict[str, Any], dup: bool) -> Any:
        known = self.ids.get(ev["id"])
        if known is None:
            if not self.strict_ids:
                # Duplicate is hidden: an id the trace never introduced names a copy an
                # unlogged Duplicate made; copying or losing it leaves the candidates as
                # they are (an unlogged copy is never required to be taken)
                return [s], [], []
            return [], [f"no message with id {ev['id']!r} is in flight"], []
        ok = []
        for x in known:
            if x in (s.to_broker if isinstance(x, Proposal) else s.to_workers):
                ok.append(self.m._dup(s, x) if dup else self.m._drop(s, x))
        if not ok:
            where = " (the broker's inbox is not the network's)" if s.inbox else ""
            return [], [f"message {ev['id']!r} is no longer in the network{where}"], []
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
            if self.contract:  # PS-7 is judged on the broker's inbox (see _at_broker)
                for p in self._proposals(s, ev):
                    s1 = self._at_broker(s, p, ev)
                    yield s1, Commit(p), self._forced_commit(s1, p, ev)
                return
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
        if self.contract:  # decided from the broker's inbox
            return State(
                nb,
                s.workers,
                s.to_broker,
                m.bag_add(s.to_workers, reply),
                s.faults,
                tuple(placed),
                m.bag_remove(s.inbox, p),
            )
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


def _reads(
    etype: str,
    ev: dict[str, Any],
    x: Msg,
    s: State,
    ids: dict[object, tuple[Msg, ...]],
    contract: bool,
) -> bool:
    """Whether explaining the event from state ``s`` under id table ``ids``
    (``Validator._ev_*``) may read message ``x`` in flight (a copy of it). When it does
    not, explaining it from ``s`` with one more or one fewer copy of ``x`` gives the
    states it gives from ``s``, each with that copy more (fewer), and the same messages
    produced: the explanation adds and takes only other messages, which commutes with
    adding or taking ``x``, and it reads the fault counters only to raise them.
    Conservative: a StartCycle reads its worker's messages of the attempt it waits on
    (is it lost?); a HandleReply the replies to its worker it may mean (need, kind, id);
    a Commit or Deliver the proposals it may mean (worker, need, id) and those its
    ``queued`` ids name - under the reference every proposal (the priority guard reads
    the network); a logged Drop or Duplicate, or any other type, any message."""
    if etype in _READS_NO_MESSAGE:
        return False
    if etype == "StartCycle":
        if x.worker != ev["worker"]:
            return False
        w = s.workers[x.worker]
        return w.up and w.waiting and x.cycle == w.cycle and x.attempt == w.attempts
    if etype == "HandleReply":
        if type(x) is not Reply or x.worker != ev["worker"]:
            return False
        if ev.get("need", x.need) != x.need:
            return False
        if ev.get("kind", KIND_NAMES[x.kind]) != KIND_NAMES[x.kind]:
            return False
        known = ids.get(ev["id"]) if "id" in ev else None
        return known is None or x in known
    if etype in ("Commit", "Deliver"):
        if type(x) is not Proposal:
            return False
        if not contract:
            return True
        if etype == "Commit" and any(x in ids.get(q, ()) for q in ev.get("queued", ())):
            return True
        if ev.get("worker", x.worker) != x.worker or ev.get("need", x.need) != x.need:
            return False
        known = ids.get(ev["id"]) if "id" in ev else None
        return known is None or x in known
    return True


def _net_step(s: State, t: State) -> tuple[bool, Msg] | None:
    """(True, x) when ``t`` is ``s`` with one more copy of ``x`` in flight, (False, x)
    with one fewer; None for any other step."""
    if t.broker is not s.broker or t.workers != s.workers or t.inbox != s.inbox:
        return None
    for a, b in ((s.to_broker, t.to_broker), (s.to_workers, t.to_workers)):
        if a == b:
            continue
        if len(b) == len(a) + 1:
            extra = Counter(b) - Counter(a)
            return (True, cast(Msg, next(iter(extra)))) if len(extra) == 1 else None
        if len(b) + 1 == len(a):
            gone = Counter(a) - Counter(b)
            return (False, cast(Msg, next(iter(gone)))) if len(gone) == 1 else None
        return None
    return None


class _Hashes:
    """State hashes for the hidden-step search, each large component hashed once.

    A tuple does not keep its hash: every set or dict test of a :class:`State` hashes
    the whole of it again (every worker's carry-forward view: thousands of small
    tuples, tens of microseconds a state), and the search tests the states of a
    window over and over. The states a search builds share their components with
    the window's (a step changes one worker, the broker, a bag), so each component's
    hash is kept here by the component's ``id()``, with the component itself: an
    object held in the table stays alive, so its id names no other object while the
    entry exists. :meth:`key` gives a state as a :class:`_Keyed`, hashed from the
    kept hashes and equal exactly when the states are. The table is emptied when its
    *weight* passes ``limit`` (:meth:`trim`): an entry weighs one plus, for a tuple,
    its length, so that the bags, which grow over a trace whose drops go unlogged
    (messages left in flight), count for what they keep alive and memory stays flat
    in the trace's length.
    """

    __slots__ = ("memo", "apart", "limit", "weight")

    def __init__(self, limit: int = 1 << 16) -> None:
        self.memo: dict[int, tuple[object, int]] = {}
        # a bag's distinct messages (``distinct``), kept alike: a window's bags are shared
        # by many states, and messages dropped unseen stay in them
        self.apart: dict[int, tuple[tuple[Msg, ...], list[Msg]]] = {}
        self.limit = limit
        self.weight = 0

    def trim(self) -> None:
        if self.weight > self.limit:
            self.memo.clear()
            self.apart.clear()
            self.weight = 0

    def distinct(self, bag: tuple[Msg, ...]) -> list[Msg]:
        """``distinct(bag)``, kept (do not change the list)."""
        got = self.apart.get(id(bag))
        if got is None:
            got = self.apart[id(bag)] = (bag, distinct(bag))
            self.weight += 1 + 2 * len(bag)
        return got[1]

    def _of(self, x: object) -> int:
        """The hash of ``x``, kept."""
        got = self.memo.get(id(x))
        if got is None:
            got = self.memo[id(x)] = (x, hash(x))
            self.weight += 1 + len(x) if type(x) is tuple else 1
        return got[1]

    def _worker(self, w: Worker) -> int:
        got = self.memo.get(id(w))
        if got is None:
            # the view (per partition, the snapshots read) is most of a worker, and a
            # step that changes a worker's counters usually keeps it
            view = self.memo.get(id(w.view))
            if view is None:
                view = self.memo[id(w.view)] = (w.view, hash(tuple(map(self._of, w.view))))
                self.weight += 1
            got = self.memo[id(w)] = (w, hash((*w[:5], view[1], *w[6:])))
            self.weight += 1
        return got[1]

    def _workers(self, ws: tuple[Worker, ...]) -> int:
        memo = self.memo
        got = memo.get(id(ws))
        if got is None:
            hs = []  # a step changes one worker: the others' hashes are kept
            for w in ws:
                e = memo.get(id(w))
                hs.append(self._worker(w) if e is None else e[1])
            got = memo[id(ws)] = (ws, hash(tuple(hs)))
            self.weight += 1
        return got[1]

    def key(self, s: State) -> _Keyed:
        of = self._of  # the bags too: messages left in flight (dropped unseen) pile up
        h = hash(
            (of(s.broker), self._workers(s.workers), of(s.to_broker), of(s.to_workers), *s[4:])
        )
        return _Keyed(s, h)

    def keys(self, states: Iterable[State]) -> dict[_Keyed, None]:
        """The states as keys, in order, each once."""
        key = self.key
        return dict.fromkeys(key(s) for s in states)


class _Keyed:
    """A state with its hash computed once (:meth:`_Hashes.key`); equal when the states
    are (equal states share most components, which compare by identity first)."""

    __slots__ = ("s", "h")

    def __init__(self, s: State, h: int) -> None:
        self.s = s
        self.h = h

    def __hash__(self) -> int:
        return self.h

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Keyed):
            return NotImplemented
        return self.s is other.s or (self.h == other.h and self.s == other.s)


class _Unread:
    """The window of one hidden-step search (contract, only Drops and Duplicates hidden)
    seen as the path of its one candidate, to cut replays short: :meth:`rest`.

    ``block[k]``: the first window entry from ``k`` on that did not take its one
    candidate to exactly one state, the next entry's one candidate, under its own id
    table (the entries' ``one``; no search has rewritten it since): n if none;
    ``one_now``: there is one current candidate (the last entry's successor when
    ``block[k]`` is n); ``cleared``: the last entry after which the id table was
    compacted (-1: none).
    """

    __slots__ = ("v", "past", "ev", "ids", "uses", "n", "block", "one_now", "cleared", "readers")

    def __init__(self, v: Validator, past: list[_Past], ev: dict[str, Any]) -> None:
        self.v = v
        self.past = past
        self.ev = ev
        self.ids = v.ids  # the id table the event is explained under (replays swap v.ids)
        self.uses = _Uses()  # the hidden Duplicates the search before the event takes
        self.uses.add(ev)
        n = self.n = len(past)
        block = [n] * (n + 1)
        for k in range(n - 1, -1, -1):
            block[k] = block[k + 1] if past[k][5] and len(past[k][2]) == 1 else k
        self.block = block
        self.one_now = len(v.cands) == 1
        # entry k is the event numbered v.count - n + k; feed compacts the id table after
        # the events numbered a multiple of CLEAR_EVERY
        last = v.count - 1
        self.cleared = (last - last % CLEAR_EVERY) - (v.count - n)
        # message -> (the entries from ``low`` on whose events read it, ascending, with n
        # for the event searched for, which also "reads" a message its own hidden-step
        # search may copy; low)
        self.readers: dict[Msg, tuple[list[int], int]] = {}

    def _first_read(self, x: Msg, k: int) -> int:
        """The first entry from ``k`` on whose event reads ``x`` (n: the event searched
        for; n + 1: none). Entries are looked at from the last back, as far as asked."""
        got = self.readers.get(x)
        if got is None:
            ev = self.ev
            last = _reads(ev["type"], ev, x, self.v.cands[0], self.ids, True)
            got = ([self.n] if last or self.uses.dup_useful(x) else [], self.n)
        at, low = got
        if low > k:
            found = []
            for i in range(low - 1, k - 1, -1):
                e = self.past[i]
                if _reads(e[1], e[0], x, e[2][0], e[3], True):
                    found.append(i)
            at = found[::-1] + at
            low = k
        self.readers[x] = (at, low)
        i = bisect_left(at, k)
        return at[i] if i < len(at) else self.n + 1

    def rest(self, k: int, c: State, ids: dict[object, Any]) -> tuple[int, Iterator[State]] | None:
        """When a replay is at entry ``k`` with the one candidate ``c`` and id table
        ``ids``: ``(r, states)``, the replay known up to entry ``r`` without explaining
        the events before it; else None. ``states``: the replay's candidate at entries
        ``k + 1`` to ``r`` (``r`` = n: the current one, after the last entry), one each.
        ``r``: the first entry from ``k + 1`` on whose event reads a message of ``X``
        (below), n when only the event searched for does, n + 1 when none does: then the
        replay is sure to fail at the end, after those states. But at most the last
        entry before ``block[k]`` (or n - 1 without one current candidate): the replay
        goes on from there, explaining.

        Known when ``c`` is the entry's candidate ``s`` but for extra copies ``X`` in the
        network (and its fault counters), the entry's event does not read ``X``
        (:func:`_reads`), ``ids`` is the entry's id table, and ``block[k] > k``, with no
        compaction from ``k`` on. Then each event up to ``r`` takes the state as it took
        ``s``, with ``X`` and the counters' difference carried along, and the same
        messages produced (so the replayed id table stays the entries'). With ``r`` =
        n + 1 the replay reaches the current candidate with ``X`` more, and the event is
        not explained from it: not directly (it does not read ``X``, and the current
        candidate does not explain it), nor after hidden steps (under the contract only
        Duplicates the event's :class:`_Uses` allows are searched - never of ``X``, as
        asked - so the search from there is the failed one from the current candidate,
        each state with ``X`` more: as many states, none explaining the event)."""
        b = self.block[k]
        if b == k or k <= self.cleared:
            return None
        past = self.past
        s = past[k][2][0]
        if c.inbox != s.inbox:
            return None
        tb = _extra(c.to_broker, s.to_broker)
        tw = _extra(c.to_workers, s.to_workers)
        if tb is None or tw is None:
            return None
        extra: list[Msg] = [*tb, *tw]
        r = min([self._first_read(x, k) for x in extra], default=self.n + 1)
        if b < self.n or not self.one_now:
            r = min(r, b - 1)  # goes on from the last entry known to take one state to one
        if r == k:
            return None
        if ids != past[k][3]:
            return None
        # last, the parts a replayed step rebuilt (equal, not the same objects: compared
        # in depth): their kept hashes first (c's were just kept, testing it against tried)
        hashes = self.v._hashes
        if c.workers is not s.workers and (
            hashes._workers(c.workers) != hashes._workers(s.workers) or c.workers != s.workers
        ):
            return None
        if c.broker is not s.broker and (
            hashes._of(c.broker) != hashes._of(s.broker) or c.broker != s.broker
        ):
            return None
        if c.placed is not s.placed and c.placed != s.placed:
            return None
        delta = [x - y for x, y in zip(c.faults, s.faults, strict=True)]
        return r, self._path(k, min(r, self.n), tb, tw, delta)

    def _path(
        self, k: int, end: int, tb: list[Proposal], tw: list[Reply], delta: list[int]
    ) -> Iterator[State]:
        """The window's candidates at entries ``k + 1`` to ``end`` (n: the current one)
        with the copies ``tb`` (proposals) and ``tw`` (replies) more and the fault
        counters ``delta`` higher."""
        past = self.past
        for i in range(k + 1, end + 1):
            u = past[i][2][0] if i < self.n else self.v.cands[0]
            yield u._replace(
                to_broker=tuple(sorted((*u.to_broker, *tb))) if tb else u.to_broker,
                to_workers=tuple(sorted((*u.to_workers, *tw))) if tw else u.to_workers,
                faults=tuple([a + d for a, d in zip(u.faults, delta, strict=True)]),
            )


def _extra(a: tuple[_M, ...], b: tuple[_M, ...]) -> list[_M] | None:
    """The messages bag ``a`` holds beyond bag ``b`` (each copy), None unless ``a``
    holds all of ``b``."""
    if a is b or a == b:
        return []
    if len(a) < len(b):
        return None
    more = Counter(a)
    more.subtract(b)
    if any(v < 0 for v in more.values()):
        return None
    return list(more.elements())


class _Uses:
    """What a run of events could do with one more, or one fewer, message in flight.

    Under the contract an extra message in the network never disables a step: every
    guard that reads the network looks for a message to take (the Commit's priority
    guard looks at the broker's inbox, which drops and duplicates do not touch). So an
    unlogged Duplicate of ``x`` can matter to a run of events only if one of them could
    take ``x`` (a Commit of the same worker and need, a HandleReply to ``x``'s worker,
    a logged Drop or Duplicate that may name a copy), and an unlogged Drop never does.
    Steps nothing could need are not searched (they only add states that explain
    nothing the others do not): the search over hidden Drops and Duplicates no longer
    branches over every message lost unseen and still in flight.
    """

    __slots__ = ("commits", "handles", "net", "known")

    def __init__(self) -> None:
        self.known: dict[Msg, bool] = {}  # dup_useful's answers since the last add
        self.commits: set[tuple[int | None, int | None]] = set()
        self.handles: set[tuple[int, int | None, int | None]] = set()
        self.net = False  # a logged Drop or Duplicate: it may name a copy

    def add(self, ev: dict[str, Any]) -> None:
        t = ev.get("type")
        if t == "Commit":
            self.commits.add((ev.get("worker"), ev.get("need")))
        elif t == "HandleReply":
            kind = ev.get("kind")
            self.handles.add(
                (ev["worker"], ev.get("need"), None if kind is None else KIND_NAMES.index(kind))
            )
        elif t in ("Drop", "Duplicate"):
            self.net = True
        else:
            return
        self.known.clear()

    def dup_useful(self, x: Msg) -> bool:
        got = self.known.get(x)
        if got is None:
            got = self.known[x] = self._dup_useful(x)
        return got

    def _dup_useful(self, x: Msg) -> bool:
        if self.net:
            return True
        if type(x) is Proposal:
            c = self.commits
            return bool(c) and (
                (x.worker, x.need) in c
                or (None, x.need) in c
                or (x.worker, None) in c
                or (None, None) in c
            )
        h = self.handles
        r = cast(Reply, x)  # a proposal returned above
        w, n, k = r.worker, r.need, r.kind
        return (w, n, k) in h or (w, None, k) in h or (w, n, None) in h or (w, None, None) in h

    def drop_useful(self, x: Msg) -> bool:
        # the network apart from the broker's inbox: a proposal in the network blocks no
        # commit, so no event needs one dropped unseen
        return False


def _once(msgs: list[Msg]) -> tuple[Msg, ...]:
    """The distinct messages, in order (usually exactly one)."""
    return (msgs[0],) if len(msgs) == 1 else tuple(dict.fromkeys(msgs))


def _merge_ids(
    a: dict[object, tuple[Msg, ...]] | None, b: dict[object, tuple[Msg, ...]]
) -> dict[object, tuple[Msg, ...]]:
    """Two id tables as one: each id may be what it is in either (placements differ)."""
    if a is None:
        return b
    out = dict(a)
    for k, v in b.items():
        have = out.get(k)
        out[k] = v if have is None or have == v else tuple(dict.fromkeys((*have, *v)))
    return out


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


def _untrue(result: str, p: Proposal, br: Any) -> str:
    """Why a non-commit reply is not true of proposal ``p`` at broker ``br``."""
    if result == KIND_NAMES[FENCED]:
        return (
            f"the reply fenced is not true of the proposal: its epoch {p.epoch} is the "
            f"broker's (the contract's rule: fenced iff the epochs differ)"
        )
    if result == KIND_NAMES[CONFLICT]:
        return (
            "the reply conflict is not true of the proposal: every seqno it read is current "
            f"({_fmt_pairs(p.reads)}; the contract's rule: conflict iff a read seqno is stale)"
        )
    return (
        f"the reply already-placed is not true of the proposal: n{p.need} is not placed "
        "(the contract's rule: already-placed iff the need is placed)"
    )


def _needs(ns: Iterable[int]) -> str:
    shown = [f"n{n}" for n in ns]
    return ", ".join(shown) if shown else "none"


def _brief(x: Msg) -> str:
    if isinstance(x, Proposal):
        reads = _fmt_pairs(x.reads)
        return f"w{x.worker} n{x.need} reads={reads} epoch={x.epoch} tag={x.cycle}.{x.attempt}"
    return f"{KIND_NAMES[x.kind]} to w{x.worker} n{x.need} tag={x.cycle}.{x.attempt}"


def _flight(s: State) -> str:
    msgs = [_brief(x) for x in distinct(s.to_broker)] + [_brief(x) for x in distinct(s.to_workers)]
    out = "in flight: " + ("; ".join(msgs) if msgs else "nothing")
    if s.inbox:
        out += "; in the broker's inbox: " + "; ".join(_brief(x) for x in distinct(s.inbox))
    return out


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


def _config_of(header: dict[str, Any]) -> Config:
    """The header's Config. Version 2 lets ``needs`` be empty or absent (every need then
    comes from a Need event): the Config is checked with a stand-in need, then emptied."""
    raw = header["config"]
    if header["version"] >= 2 and isinstance(raw, dict) and not raw.get("needs"):
        config = _read_config({**raw, "needs": [{"owner": 0}]})
        object.__setattr__(config, "needs", ())
        return config
    return _read_config(raw)


def _read_config(raw: Any) -> Config:
    """``config_from_dict(raw)``: the same Config, or the same error."""
    got = _plain_config(raw)
    return config_from_dict(raw) if got is None else got


def _nat(x: Any, least: int = 0) -> bool:
    return type(x) is int and x >= least


def _plain_config(d: Any) -> Config | None:
    """``config_from_dict(d)`` when every field is plainly valid, else None.

    The model's check of a Config (``model/config.py``, a hashed spec source) tests each
    bucket of each need's eligible list, every bucket when the need lists none: a tenth
    of a second for the 4,000 needs of 256 buckets of a 100,000-event trace, more than
    the rest of its start. Here each field is tested as the check tests it, a need
    eligible everywhere in O(1), and the Config built as ``config_from_dict`` builds it
    without running the check again; anything unusual (a wrong type, an unknown field,
    a value out of range) returns None, and ``config_from_dict`` decides and words it.
    ``tests/test_trace_faststep.py`` compares the two on valid and broken Configs."""
    if type(d) is not dict or not d.keys() <= _CONFIG_KEYS:
        return None
    workers: Any = d.get("workers")
    partitions = d.get("partitions")
    caps = d.get("capacities")
    raw_needs = d.get("needs")
    retry = d.get("retry_budget", 1)
    strategy = d.get("strategy", "quality-first")
    max_cycle = d.get("max_cycle", 3)
    rf = d.get("faults", {})
    pm = d.get("partition_map")
    if not (
        _nat(workers, 1)
        and _nat(partitions, 1)
        and _nat(retry)
        and _nat(max_cycle, 1)
        and type(strategy) is str
        and strategy in STRATEGIES
        and type(caps) is list
        and caps
        and all([_nat(x) for x in caps])
        and type(raw_needs) is list
        and raw_needs
        and type(rf) is dict
        and rf.keys() <= _FAULT_KEYS
        and all([_nat(x) for x in rf.values()])
    ):
        return None
    B = len(caps)
    if pm is not None and not (
        type(pm) is list and len(pm) == B and all([_nat(p) and p < partitions for p in pm])
    ):
        return None
    needs = []
    for rn in raw_needs:
        if type(rn) is not dict or not rn.keys() <= _NEED_FIELDS:
            return None
        owner: Any = rn.get("owner")
        priority = rn.get("priority", 1)
        arrival = rn.get("arrival", 1)
        gang = rn.get("gang", 1)
        size = rn.get("size", 1)
        elig = rn.get("eligible")
        if not (
            _nat(owner)
            and owner < workers
            and _nat(priority)
            and _nat(arrival, 1)
            and _nat(gang, 1)
            and _nat(size, 1)
        ):
            return None
        if elig is None:
            if gang > B:
                return None
            eligible = None
        else:
            if type(elig) is not list or not all([_nat(b) and b < B for b in elig]):
                return None
            eligible = tuple(elig)
            if len(set(eligible)) != len(eligible) or gang > len(eligible):
                return None
        needs.append(Need(owner, priority, arrival, gang, size, eligible))
    config = object.__new__(Config)  # the fields config_from_dict gives Config(...)
    for name, value in (
        ("workers", workers),
        ("partitions", partitions),
        ("capacities", tuple(caps)),
        ("needs", tuple(needs)),
        ("retry_budget", retry),
        ("strategy", strategy),
        ("max_cycle", max_cycle),
        ("faults", Faults(**rf)),
        ("partition_map", None if pm is None else tuple(pm)),
    ):
        object.__setattr__(config, name, value)
    return config


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
    fast: bool = True,
) -> TraceResult:
    """Validate a trace read from a binary stream, one line at a time. ``fast=False``
    leaves the compiled step (:mod:`parsync.traces.faststep`) out: every event takes the
    general path (the verdicts are the same; the tests compare the two)."""
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
            config = _config_of(header)
        except (ConfigError, TypeError, ValueError) as e:
            raise TraceFormatError(path, first, f"the header's config is not valid: {e}") from None
        version = header["version"]
        v = Validator(
            config,
            hidden=header.get("hidden", DEFAULT_HIDDEN),
            max_hidden=max_hidden,
            max_candidates=max_candidates,
            hidden_window=hidden_window,
            version=version,
            policy=header.get("policy"),
            lazy=fast,
        )
        ranges_ok = v._ranges_ok  # check_ranges' fast test, without the method call
        feed = v.feed
        # the compiled step (faststep.py) while there is one candidate (and, when steps
        # may be hidden, the window of past events is kept lazily: the lines it takes
        # are logged in ``seg`` as read, a checkpoint every ``every``); every line it
        # declines, the general path below decides
        fast_ok = fast
        fp = v.fast_path() if fast_ok else None
        handlers = fp.handlers if fp is not None else {}
        seg = v._seg  # the lazy window's latest events (None: no window kept lazily)
        every = v._ck_every
        loads = format_module.loads_function()
        count = v.count  # v.count, kept here while the fast path runs
        entered = count  # the count when the fast path was last entered
        pause = 0  # after a short fast run, general events to take before the next
        retry = 0  # the count from which the fast path may be entered again
        try:
            for number, raw in enumerate(stream, number + 1):  # noqa: B020 - it goes on
                if fp is not None:
                    try:
                        ev = loads(raw)
                        h = handlers[ev["type"]]
                    except (ValueError, RecursionError, KeyError, TypeError, IndexError):
                        h = None
                    if h is not None and h(ev):
                        count += 1
                        if seg is not None:
                            seg.append(raw)  # parsed again only if the window is rebuilt
                            if len(seg) >= every:  # a checkpoint of the lazy window
                                v.count = count
                                if count % CLEAR_EVERY == 0:
                                    fp.compact()  # first, as feed does
                                v._checkpoint([fp.state()])
                                seg = v._seg
                        if count % 1000:
                            continue
                        v.count = count
                        if count % CLEAR_EVERY == 0:
                            fp.compact()
                    elif h is None and not raw.strip():
                        continue  # a blank line
                    else:  # the general path decides this line, from the state held
                        v.count = count
                        v.cands = [fp.state()]
                        fp = None
                        pause = 0 if count - entered >= 1024 else min(max(2 * pause, 8), 4096)
                        retry = count + pause
                if fp is None:
                    got = parse_event(path, number, raw, version)
                    if got is None:
                        continue  # a blank line
                    ev, etype = got
                    try:
                        if not ranges_ok[etype](ev):
                            v._check_ranges(ev, etype)
                        if etype == "Need":
                            v.declare(ev)
                    except ValueError as e:
                        raise TraceFormatError(path, number, str(e)) from None
                    feed(ev, etype)
                    count = v.count
                    seg = v._seg
                    if fast_ok and count >= retry and len(v.cands) == 1:
                        fp = v.fast_path()
                        handlers = fp.handlers if fp is not None else {}
                        entered = count
                    if count % 1000:
                        continue
                if progress is not None and count % PROGRESS_EVERY == 0:
                    progress(count, stream.tell(), total_bytes)
                if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
                    res.verdict = INCOMPLETE
                    res.line = number
                    res.message = (
                        f"stopped on the {max_seconds:g} s budget after {count:,} events "
                        "(all valid so far)"
                    )
                    break
        finally:
            if fp is not None:  # the state held, as the model's values again
                v.count = count
                v.cands = [fp.state()]
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
    fast: bool = True,
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
            fast=fast,
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
