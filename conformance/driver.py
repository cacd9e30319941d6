"""Lockstep driving: the implementation and the model, one step at a time.

The driver keeps the set of model states consistent with everything observed
so far (the model is nondeterministic - which buckets a worker picks, which
queued proposal the broker takes - and some of its variables are ghosts the
implementation does not expose). Under the contract the network and the broker's
inbox are apart, and delivery (``Deliver``) has no adapter step: a ``broker_step``
may deliver the proposal it decides on first, and when an observation says where
its proposals are (``at``), the model states deliver, unseen, what the
implementation shows in its broker's inbox (:meth:`Lockstep._locate`); when it does
not, a proposal stays in the network until the broker decides on it (the most a
model state can explain: it may still be lost or copied, and it blocks no commit).
After every adapter step it keeps the model successors, along the matching action,
whose projection equals the new observation. No survivor is a divergence: the
implementation did something the model forbids. Independently, every property is
checked on what was observed, so a failure names the property ID whenever it can.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from parsync.conformance.adapter import Adapter, AdapterError
from parsync.conformance.observe import (
    Mask,
    Msg,
    Observed,
    Projection,
    ShapeError,
    describe_diff,
    fmt_msg,
    inbox_of,
    mask_for,
    parse_observation,
    project_state,
    proposal_msg,
    reply_msg,
)
from parsync.model.actions import (
    Action,
    Commit,
    Crash,
    Defer,
    Deliver,
    Drop,
    Duplicate,
    Failover,
    HandleReply,
    Propose,
    Recover,
    Refresh,
    Reject,
    Release,
    Restart,
    StartCycle,
    Timeout,
)
from parsync.model.config import Config
from parsync.model.properties import get_property
from parsync.model.protocol import ParSyncModel
from parsync.model.state import Proposal, Reply, State

STEP_KINDS = (
    "start_cycle",
    "schedule",
    "broker_step",
    "deliver",
    "release",
    "crash",
    "recover",
    "drop",
    "duplicate",
    "failover",
)


class Step(NamedTuple):
    """One adapter call, implementation-independent (messages by content, not id)."""

    kind: str
    arg: Any = None  # worker / need / message content, by kind

    def render(self) -> str:
        if self.kind in ("deliver", "drop", "duplicate"):
            return f"{self.kind}({fmt_msg(self.arg)})"
        if self.arg is None:
            return f"{self.kind}()"
        return f"{self.kind}({self.arg})"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "arg": self.arg}

    @staticmethod
    def from_json(d: Any) -> Step:
        if not isinstance(d, dict) or d.get("kind") not in STEP_KINDS:
            raise ValueError(f"not a step: {d!r}")
        arg = d.get("arg")
        if isinstance(arg, list):
            arg = _tuplify(arg)
        return Step(d["kind"], arg)


def _tuplify(x: Any) -> Any:
    return tuple(_tuplify(y) for y in x) if isinstance(x, list) else x


def step_of(a: Action) -> Step:
    """The adapter step that performs model action ``a``.

    Under the contract (docs/conformance.md, "Policies"): a broker's Reject is a
    ``broker_step`` like a Commit, a Timeout (abandon and retry within the cycle)
    is the worker's ``schedule``, a Restart (up with nothing re-read) its
    ``recover``. A Refresh (an extra fresh read) has no step of its own: it is
    folded into the acting worker's step (:func:`acting_worker`)."""
    if isinstance(a, StartCycle):
        return Step("start_cycle", a.w)
    if isinstance(a, (Propose, Defer, Timeout)):
        return Step("schedule", a.w)
    if isinstance(a, (Commit, Reject)):
        return Step("broker_step")
    if isinstance(a, Deliver):
        raise ValueError("a Deliver has no adapter step: it is folded into the broker's")
    if isinstance(a, Restart):
        return Step("recover", a.w)
    if isinstance(a, Refresh):
        raise ValueError("a Refresh is folded into the worker's own step (acting_worker)")
    if isinstance(a, HandleReply):
        return Step("deliver", reply_msg(a.r))
    if isinstance(a, Release):
        return Step("release", a.n)
    if isinstance(a, Crash):
        return Step("crash", a.w)
    if isinstance(a, Recover):
        return Step("recover", a.w)
    if isinstance(a, (Drop, Duplicate)):
        content = proposal_msg(a.m) if isinstance(a.m, Proposal) else reply_msg(a.m)
        return Step("drop" if isinstance(a, Drop) else "duplicate", content)
    assert isinstance(a, Failover)
    return Step("failover")


def acting_worker(st: Step) -> int | None:
    """The worker whose own step ``st`` is, where an extra read may be folded in:
    ``start_cycle``, ``schedule``, ``recover`` and ``deliver`` of a reply to it."""
    if st.kind in ("start_cycle", "schedule", "recover"):
        return int(st.arg)
    if st.kind == "deliver" and st.arg[0] == "worker":
        return int(st.arg[1])
    return None


#: Under the contract the lockstep does not bound what an implementation chooses to
#: do (timeouts, extra reads): the model's scope budgets for them are set to this.
UNBOUNDED = 1 << 30


def lockstep_model(
    config: Config, policy: str = "contract", variant: str | None = None
) -> ParSyncModel:
    """The model the lockstep follows: ``policy``'s, with the implementation's own
    choices unbudgeted under the contract (an implementation that times out early in
    every cycle is not a scope's worth of faults)."""
    m = ParSyncModel(config, variant, policy=policy)
    if m.contract:
        m.max_timeout = m.max_extra_read = UNBOUNDED
    return m


# --- failures --------------------------------------------------------------------------


@dataclass
class ConformanceFailure(Exception):
    """The implementation did something the model forbids."""

    headline: str  # "PS-7 PriorityOnConflict violated" or "divergence at step 5"
    property_ids: list[str]
    steps: list[Step]
    details: list[str] = field(default_factory=list)
    replay_file: str | None = None
    target: str = "MODULE"
    replay_command: str | None = None  # the command that reruns it, as the user ran the suite

    def __str__(self) -> str:
        """Headline, then the numbered interleaving and the diff wrapped like every
        counterexample (parsync.render: one width for check, replay and the suite)."""
        from parsync.render import output_width, wrap

        body = ["interleaving:"]
        for i, s in enumerate(self.steps, 1):
            body.append(f"  {i}. {s.render()}")
        body += self.details
        # the headline stays one line: reports (JUnit, the gate) take it as the message
        lines = [self.headline, *(w for ln in body for w in wrap(ln, output_width()))]
        if self.replay_command:
            lines.append(f"replay: {self.replay_command}")
        elif self.replay_file:
            lines.append(
                f"replay: pytest --pyargs parsync.conformance --parsync-impl={self.target} "
                f"--parsync-replay={self.replay_file} -k test_replay"
            )
        return "\n".join(lines)


# --- the adapter behind a per-step timeout --------------------------------------------


class TimedAdapter:
    """Calls the adapter on a helper thread so a hung step becomes a clear error."""

    def __init__(self, adapter: Adapter, timeout: float) -> None:
        self.adapter = adapter
        self.timeout = timeout
        self._q: queue.Queue[tuple[Callable[[], Any], queue.Queue[Any]] | None] = queue.Queue()
        self._t = threading.Thread(target=self._loop, name="parsync-adapter-call", daemon=True)
        self._t.start()
        self.hung = False
        self.closed = False

    def _loop(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            fn, out = item
            try:
                out.put((True, fn()))
            except BaseException as e:  # noqa: BLE001 - reported to the caller
                out.put((False, e))

    def call(self, name: str, *args: Any) -> Any:
        if self.closed and name != "close":
            raise AdapterError(f"adapter.{name}() called after close()")
        if self.hung:
            raise AdapterError("the adapter is still stuck in an earlier step")
        fn = getattr(self.adapter, name)
        out: queue.Queue[Any] = queue.Queue()
        self._q.put((lambda: fn(*args), out))
        try:
            ok, val = out.get(timeout=self.timeout)
        except queue.Empty:
            self.hung = True
            shown = ", ".join(repr(a) for a in args)
            raise AdapterError(
                f"adapter.{name}({shown}) did not return within {self.timeout:g}s "
                "(per-step timeout)"
            ) from None
        if not ok and isinstance(val, AdapterError):
            raise val  # already one line naming the call (the exec adapter's pipe)
        if not ok:
            shown = ", ".join(repr(a) for a in args)
            raise AdapterError(
                f"adapter.{name}({shown}) raised {type(val).__name__}: {val}"
            ) from None
        return val

    def close(self) -> None:
        """Close the adapter once; later calls do nothing."""
        if self.closed:
            return
        self.closed = True
        try:
            if not self.hung:
                self.call("close")
        finally:
            self._q.put(None)


# --- lockstep ---------------------------------------------------------------------------


class Lockstep:
    """Drive one implementation instance alongside the model.

    The model's policy decides what is accepted: under ``contract`` (the default of
    :func:`lockstep_model`) every choice ADR-0031 leaves open, under ``reference``
    exactly the reference heuristics."""

    def __init__(
        self,
        adapter: TimedAdapter,
        config: Config,
        *,
        model: ParSyncModel | None = None,
        memo: tuple[dict[Any, Any], dict[Any, Any]] | None = None,
    ) -> None:
        self.ad = adapter
        self.config = config
        self.m = model or lockstep_model(config)
        self.steps: list[Step] = []
        self.cands: list[State] = []
        self._enabled_for: list[State] | None = None  # enabled_steps' cache: for this list
        self._enabled: list[Step] = []
        self.obs: Observed | None = None
        self.mask: Mask = Mask()
        self.given: frozenset[str] = frozenset()
        self.proposals_sent: dict[tuple[int, int, int], int] = {}  # (worker, cycle, need) -> n
        self.commits: dict[int, int] = {}  # need -> commits observed
        # the proposals observed in the broker's inbox before the step being checked
        self._before_inbox: tuple[Msg, ...] | None = None
        # an unbudgeted contract counts no timeouts or extra reads in its states
        self._norm = self.m.contract and self.m.max_extra_read >= UNBOUNDED
        # model-side memo tables; pass the same ones (with the same model) to
        # several Lockstep instances to share them across resets and examples
        self._moves_memo: dict[State, list[tuple[Step, State, bool]]]
        self._proj_memo_all: dict[Any, Any]
        self._moves_memo, self._proj_memo_all = memo if memo is not None else ({}, {})
        self._proj_memo: dict[State, Projection] = {}

    # -- setup ------------------------------------------------------------------
    def reset(self) -> None:
        self.ad.call("reset", self.config.to_dict())
        self.steps = []
        self.proposals_sent = {}
        self.commits = {}
        s0 = self.m.init_state()
        self.cands = [s0]
        self.obs = None
        self.obs = self._observe()
        self.given = self.obs.given
        self.mask = mask_for(self.m.contract, self.given)
        self._proj_memo = self._proj_memo_all.setdefault(self.mask, {})
        self.obs = self._masked(self.obs)
        if self.obs.projection != self._project(s0):
            raise self._fail(
                "divergence at reset: the initial observation is not the model's Init",
                [],
                describe_diff(self.obs.projection, self._project(s0)),
            )

    def _observe(self) -> Observed:
        raw = self.ad.call("observe")
        try:
            got = parse_observation(self.m, raw)
        except ShapeError as e:
            raise AdapterError(str(e)) from None
        if self.obs is not None and got.given != self.given:
            raise AdapterError(
                "observe() gave the optional worker fields "
                f"{sorted(got.given)} after giving {sorted(self.given)} at reset: "
                "an adapter gives the same ones throughout"
            )
        return self._masked(got) if self.obs is not None else got

    def _masked(self, o: Observed) -> Observed:
        return o._replace(projection=self.mask.apply(o.projection))

    def hidden_fields(self) -> list[str]:
        """The worker fields not compared with the model on this adapter."""
        return [f for f in ("mode", "pending", "waiting", "retries") if f in self.mask.hidden]

    # -- the model's side, memoised (the same states recur across resets) -----------
    def _moves(self, s: State) -> list[tuple[Step, State, bool]]:
        """(step, next state, offered): every model move an adapter step may perform
        from ``s``. Under the contract a step of worker w may also include extra
        fresh reads (Refresh) of w before and after it; such moves, and a Timeout,
        are accepted but never offered to the drivers (a worker chooses them)."""
        got = self._moves_memo.get(s)
        if got is None:
            got = self._moves_memo[s] = self._compute_moves(s)
        return got

    def _succ(self, s: State) -> list[tuple[Action, State]]:
        if not self._norm:
            return list(self.m.successors(s))
        out = []
        for a, t in self.m.successors(s):
            if t.faults[3] or t.faults[4]:
                t = t._replace(faults=(*t.faults[:3], 0, 0))
            out.append((a, t))
        return out

    def _reads(self, s: State, w: int) -> list[State]:
        """States reached from ``s`` by one or more extra reads of worker ``w``."""
        seen = {s}
        todo = [s]
        out = []
        while todo:
            x = todo.pop()
            for a, t in self._succ(x):
                if isinstance(a, Refresh) and a.w == w and t not in seen:
                    seen.add(t)
                    out.append(t)
                    todo.append(t)
        return out

    def _compute_moves(self, s: State) -> list[tuple[Step, State, bool]]:
        moves: dict[tuple[Step, State], bool] = {}
        for a, t in self._succ(s):
            if isinstance(a, Refresh):
                continue
            if isinstance(a, Deliver):
                # no adapter step of its own: the broker's step delivers the proposal
                # it decides on (the network hands it over, then the broker answers)
                for b, t2 in self._succ(t):
                    if isinstance(b, (Commit, Reject)) and b.m == a.m:
                        moves[(Step("broker_step"), t2)] = True
                continue
            k = (step_of(a), t)
            moves[k] = moves.get(k, False) or not isinstance(a, Timeout)
        if self.m.contract and self.m.max_extra_read > 0:
            for w in range(self.m.W):
                pre = self._reads(s, w)
                for s1 in pre:
                    for a, t in self._succ(s1):
                        if isinstance(a, (Refresh, Crash, Deliver)):
                            continue
                        st = step_of(a)
                        if acting_worker(st) == w:
                            moves.setdefault((st, t), False)
            for st, t in list(moves):
                actor = acting_worker(st)
                if actor is not None:
                    for t2 in self._reads(t, actor):
                        moves.setdefault((st, t2), False)
        return [(st, t, off) for (st, t), off in moves.items()]

    def _project(self, s: State) -> Projection:
        got = self._proj_memo.get(s)
        if got is None:
            got = self.mask.apply(project_state(self.m, s))
            self._proj_memo[s] = got
        return got

    # -- what may happen next ------------------------------------------------------
    def enabled_steps(self) -> list[Step]:
        """Adapter steps the model allows in every candidate state (deterministic order).

        Kept for the current candidate list (the Hypothesis driver asks once per step
        kind between two steps); a step or a reset replaces the list, and the cache holds
        the list it was computed for, so an identity check is exact."""
        if self._enabled_for is self.cands:
            return list(self._enabled)
        per: list[set[Step]] = []
        for s in self.cands:
            per.append({st for st, _, offered in self._moves(s) if offered})
        common = set.intersection(*per) if per else set()
        order = {k: i for i, k in enumerate(STEP_KINDS)}
        self._enabled = sorted(common, key=lambda st: (order[st.kind], repr(st.arg)))
        self._enabled_for = self.cands
        return list(self._enabled)

    # -- one step ---------------------------------------------------------------------
    def step(self, st: Step) -> None:
        assert self.obs is not None, "reset() first"
        before = self.obs
        self.steps.append(st)
        if st.kind in ("deliver", "drop", "duplicate"):
            mid = next((i for i, msg in before.ids.items() if msg == st.arg), None)
            if mid is None:
                raise self._fail(
                    f"divergence at step {len(self.steps)}: the implementation shows no message "
                    f"{fmt_msg(st.arg)} in flight",
                    [],
                )
            self.ad.call(st.kind, mid)
        elif st.arg is None:
            self.ad.call(st.kind)
        else:
            self.ad.call(st.kind, st.arg)
        after = self._observe()
        self.obs = after
        self._before_inbox = before.inbox
        bad = self._observed_violations(before.projection, st, after.projection)
        survivors: list[State] = []
        seen: set[State] = set()
        located = self.m.contract and after.inbox is not None
        for s in self.cands:
            for step, t, _offered in self._moves(s):
                if step == st and t not in seen:
                    if self._project(t) == after.projection:
                        seen.add(t)
                        if not located:
                            survivors.append(t)
                            continue
                        for t2 in self._locate(t, after.inbox):  # type: ignore[arg-type]
                            if t2 not in survivors:
                                survivors.append(t2)
        if bad:
            names = ", ".join(f"{i} {get_property(i).name}" for i in bad)
            raise self._fail(
                f"{names} violated at step {len(self.steps)}",
                bad,
                self._closest(after.projection, st),
            )
        if not survivors:
            raise self._fail(
                f"divergence at step {len(self.steps)}: {st.render()} led to a state the model "
                "does not allow",
                [],
                self._closest(after.projection, st),
            )
        self.cands = survivors

    def _locate(self, t: State, inbox: tuple[Msg, ...]) -> list[State]:
        """Contract: ``t`` with, delivered unseen, the proposals the observation shows in
        the broker's inbox that ``t`` still has in the network ([] when ``t`` has one in
        its inbox that the observation shows in the network: no step takes it back)."""
        have = inbox_of(t)
        if have == inbox:
            return [t]
        want = list(inbox)
        for x in have:
            if x not in want:
                return []
            want.remove(x)
        # deliver, for each message still wanted, a proposal of the network that shows as
        # it (several may: they differ only in what the projection leaves out, the tags)
        states = [t]
        for x in want:
            nxt: list[State] = []
            for u in states:
                for p in dict.fromkeys(u.to_broker):
                    if proposal_msg(p) == x:
                        v = self.m.step(u, Deliver(p))
                        if v is not None and v not in nxt:
                            nxt.append(v)
            states = nxt
        return states

    def _closest(self, observed: Projection, st: Step) -> list[str]:
        allowed = [
            self._project(t) for s in self.cands for step, t, _o in self._moves(s) if step == st
        ]
        if not allowed:
            return ["the model does not allow this step here at all"]
        best = min(allowed, key=lambda p: len(describe_diff(observed, p)))
        return ["observed vs the closest state the model allows:"] + [
            "  " + line for line in describe_diff(observed, best)
        ]

    def _fail(
        self, headline: str, ids: list[str], details: Iterable[str] = ()
    ) -> ConformanceFailure:
        return ConformanceFailure(headline, ids, list(self.steps), list(details))

    # -- properties on what was observed -----------------------------------------------
    def _observed_violations(self, a: Projection, st: Step, b: Projection) -> list[str]:
        m = self.m
        bad: list[str] = []
        _e, seq, claims, ledger = b.broker
        if any(sum(m.size[n] for n in claims[k]) > m.cap[k] for k in range(m.B)):
            bad.append("PS-1")
        a_seq, a_claims = a.broker[1], a.broker[2]
        committed = self._committed(a, st, b)
        if committed is not None:
            _k, _w, n, epoch, prio, reads = committed
            if any(a_seq[k] != q for k, q in reads):
                bad.append("PS-2")
        for w in b.workers:
            up, cycle, _mode, fresh_at, view, _pend, _wait, _retries = w
            # under the contract a recovering worker may hold no snapshot of a
            # partition it has not re-read yet (it cannot propose there)
            if up and any(
                cycle - f > m.P - 1 and not (m.contract and not view[p])
                for p, f in enumerate(fresh_at)
            ):
                bad.append("PS-3")
                break
        if any((k in ledger[n]) != (n in claims[k]) for n in range(m.N) for k in range(m.B)):
            bad.append("PS-4")
        for k in range(m.B):
            d = seq[k] - a_seq[k]
            if d != (1 if claims[k] != a_claims[k] else 0):
                bad.append("PS-5")
                break
        if st.kind == "schedule":
            # proposals this step sent: each distinct one, once per new copy
            new = [
                x
                for x in sorted(set(b.messages), key=repr)
                if x[0] == "broker"
                for _ in range(b.messages.count(x) - a.messages.count(x))
            ]
            for x in new:
                key = (x[1], b.workers[x[1]][1], x[2])
                self.proposals_sent[key] = self.proposals_sent.get(key, 0) + 1
                if self.proposals_sent[key] > m.R + 1:
                    bad.append("PS-6")
        if any(w[7] is not None and w[7] > m.R for w in b.workers):
            if "PS-6" not in bad:
                bad.append("PS-6")
        if committed is not None:
            _k, _w, n, epoch, prio, reads = committed
            mine = {k for k, _ in reads}
            # pending: what the broker had received (under the contract its inbox, when
            # the observation says where the proposals are; otherwise none is known to
            # have arrived but the one decided on), every proposal in flight (reference)
            if not m.contract:
                pending: tuple[Msg, ...] = a.messages
            else:
                pending = () if self._before_inbox is None else self._before_inbox
            if any(
                x[0] == "broker"
                and x != committed
                and x[4] > prio
                and any(k in mine for k, _ in x[5])
                for x in pending
            ):
                bad.append("PS-7")
            self.commits[n] = self.commits.get(n, 0) + 1
            if self.commits[n] > 1:
                bad.append("PS-8")
            if epoch != a.broker[0]:
                bad.append("PS-9")
        if any(len(snaps) > 1 for w in b.workers for snaps in w[4]):
            bad.append("PS-10")
        return sorted(set(bad), key=lambda i: int(i.split("-")[1]))

    def _committed(self, a: Projection, st: Step, b: Projection) -> Msg | None:
        """The proposal a broker step committed, read off the two observations."""
        if st.kind != "broker_step":
            return None
        gone = [
            x for x in a.messages if x[0] == "broker" and a.messages.count(x) > b.messages.count(x)
        ]
        came = [
            x for x in b.messages if x[0] == "worker" and b.messages.count(x) > a.messages.count(x)
        ]
        if len(gone) == 1 and any(r[3] == "committed" and r[1:3] == gone[0][1:3] for r in came):
            return gone[0]
        return None


def write_replay(path: Path, config: Config, steps: list[Step], headline: str) -> None:
    path.write_text(
        json.dumps(
            {
                "format": "parsync-conformance-replay/1",
                "failure": headline,
                "config": config.to_dict(),
                "steps": [s.to_json() for s in steps],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )


def read_replay(path: Path) -> tuple[Config, list[Step]]:
    from parsync.model.config import ConfigError, config_from_dict

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ValueError(f"cannot read replay file {path}: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(doc, dict) or "config" not in doc or "steps" not in doc:
        raise ValueError(f"{path}: not a conformance replay file (needs 'config' and 'steps')")
    try:
        return config_from_dict(doc["config"]), [Step.from_json(s) for s in doc["steps"]]
    except (ConfigError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: {e}") from None


__all__ = [
    "Step",
    "STEP_KINDS",
    "Lockstep",
    "TimedAdapter",
    "ConformanceFailure",
    "step_of",
    "write_replay",
    "read_replay",
    "Reply",
]
