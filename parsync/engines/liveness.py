"""Liveness: PS-L1 .. PS-L3 under fairness, on the explicit state graph.

What is checked, and why it is sound
------------------------------------

**The cycle bound would make every answer wrong.** The safety checker explores
states up to ``max_cycle``; every behaviour then ends in a state where nothing
is enabled, so every liveness property would fail by stuttering at the bound
(or pass vacuously, if those states were dropped): the TLC pitfall. Liveness
is therefore checked on the model *without* the bound (``max_cycle`` lifted
out of reach), made finite by an abstraction that is a bisimulation:

* *cycle numbers, per worker, modulo the rotation period*: once a worker's
  cycle ``c`` is past every need's arrival cycle ``T``, the protocol reads
  ``c`` only through ``c mod P`` (rotation; ``mod lcm(P, P-1)`` covers the
  rotation variant) and through differences with other cycle values of the
  same worker (``fresh_at``, ``read_at``, the cycle tag of its messages). The
  worker's cycle becomes ``T + (c - T) mod period`` and every other cycle
  value keeps its distance to it;
* *ages clamped at P + 1*: a cycle value older than ``P`` cycles is only ever
  compared for equality with the current cycle (reply tags, "lost" timeouts)
  or with the newest ``fresh_at`` (which, for a live worker, is its current
  cycle), so all such values behave alike and become one;
* *the "never read" mark* (``fresh_at = -1`` after a crash) is older than any
  age; a down worker's ``fresh_at`` is never read, and recovery re-reads all;
* *message tags clamped at 1*: a message's cycle tag is only ever compared for
  equality with its worker's current cycle, and that cycle never goes back, so
  a tag is "current" or "old" (ages 1 .. P + 1 are alike: it matters where a
  crash leaves old proposals in flight, measured in docs/liveness.md);
* *the ghosts* ``placed`` and ``Worker.sent`` are dropped (only safety
  properties read them; ``sent`` would otherwise count a livelocked worker's
  proposals without bound);
* *sequence numbers relative to the broker*: the protocol compares a read
  seqno with the broker's current one and nothing else, and seqnos never
  decrease (PS-5), so a read seqno, once old, stays old; each becomes
  "current" or "old". Under the steady workload this is what makes the graph
  finite; under the finite workload it merges states that differ only in how
  many commits and releases happened (about 40% fewer states, measured in
  docs/liveness.md). Not for ``lagging-replica-failover``, whose failover
  lowers seqnos: the finite workload keeps them exact there, the steady one
  refuses the variant.

Two concrete states with the same abstraction have the same enabled actions
and abstractly equal successors, so a fair lasso of the abstract graph unfolds
into a fair infinite behaviour of the real model and vice versa. The argument
is written above; ``tests/test_liveness.py`` also checks it by machine: for
every state of the abstract graph it builds a different concrete state with
the same abstraction (cycles shifted by a period, clamped values aged further,
seqnos raised) and compares the successors and their fairness instances, and
it shows the check rejecting deliberately broken abstractions (a wrong period,
message tags clamped too low) at a pinned state.

**Symmetry reduction is off.** It would be sound for these properties only if
the fairness constraints and the per-worker properties were invariant under
the permutation too; rather than prove it, liveness runs without it.

**Fairness.** Weak fairness per action instance for the protocol's own steps:
``StartCycle(w)``, a worker's placing step (``Propose(w, _)`` or ``Defer(w)``,
one instance per worker), ``Commit(m)`` per proposal, ``HandleReply(r)`` per
reply, and ``Release(n)`` per need (a placed need completes). A message's
instance is its abstract content with its tag as an *age* (current or old),
never as an abstract cycle value: that value moves each time the worker's cycle
wraps round the period, which would split one message that stays in flight
forever into instances none of which is enabled throughout, and a run starving
it would pass as fair (``Abstraction.instance``; tests/test_liveness.py shows
the false lasso the naive key gives on a crash scope). Faults are not
fair: ``Crash``, ``Recover`` (a crashed worker may stay down forever),
``Drop``, ``Duplicate``, ``Failover``. The broker's step on each proposal,
``Commit(m)``, is *strongly* fair by default (``fairness="strong-broker"``): priority
on conflict disables it for a low-priority proposal whenever a higher-priority one
sharing a bucket is in flight, so under a steady workload it is enabled only now and
then, and weak fairness would let the broker ignore a proposal it could take again
and again (docs/liveness.md; ``fairness="weak"`` keeps that reading). A state with
no successor would be a deadlock, i.e. a fair stutter; the lifted model has none, but the engine
treats one as a lasso anyway.

**The contract.** Under ``policy="contract"`` the same engine runs on every
behaviour the contract allows. Fairness is on the protocol's steps only: a worker's
placing step (whichever need it proposes or defers), ``StartCycle``, the broker's
answer to each proposal (``Commit(m)`` and every true ``Reject(m, kind)`` are one
instance: the broker answers ``m``, strongly fair by default), the network's
delivery of each proposal into the broker's inbox (``Deliver(m)``, one instance per
proposal, strongly fair like the broker's answer), ``HandleReply`` and
``Release``. A scheduler's free choices are not fair: ``Timeout``, ``Refresh`` (an
extra read) and ``Restart`` are taken or not, like the faults. The abstraction drops
the ghost ``sent`` of parked needs too. PS-L3 speaks of the reference's mode
switching; under the contract the adaptive mode may be either at each proposal, so
PS-L3 is reported as a result about the reference policy (``POLICY_ONLY``), not
checked.

**Algorithm.** Breadth-first search builds the abstract graph over integer
ids (edges carry their fairness instance), stored compactly: a state is a row
of indices into tables of its distinct components, the edges flat CSR arrays
(``Graph``). A property's violation is a fair
run that eventually stays inside a *bad* subgraph: for PS-L1 the states where
worker ``w`` is up and partition ``p`` was not read in the current cycle; for
PS-L2 the states where ``w`` is up and busy, without ``w``'s ``StartCycle``
edges (the only step that moves ``w`` to another cycle); for PS-L3 the whole
graph, restricted to components where ``w``'s mode takes both values. The
strongly connected components of the subgraph come from scipy's compiled
routine over the CSR arrays (networkx checks it in the tests), and every
component is judged at once with array operations (``_decompose``). A
non-trivial component ``C`` is *fair* when every fairness instance enabled in
all states of ``C`` is taken by an edge inside ``C``. Under weak fairness no
recursion is needed: if an instance is enabled in every state of ``C`` and
taken inside none, every sub-component has the same defect, so a run staying
in ``C`` forever is unfair however it moves. A strongly fair instance enabled
somewhere in ``C`` and taken nowhere inside it is refined away instead: the states
that enable it are removed and the rest is decomposed again (``fair_components``).
Of the fair components, the one whose first state is shallowest yields the lasso;
among equally shallow ones, the first in the order Tarjan's algorithm (as the
engine used before) emitted them, recovered from a depth-first search of the
subgraph (``_Decomposition.order_key``), so the lassos reported stay the same.
A fair component yields a lasso:
a shortest prefix from Init to it, then a cycle inside it that takes every
instance enabled somewhere in ``C`` or visits a state where it is disabled
(and, for PS-L3, visits both modes). The lasso is unfolded in the real model
(real cycle numbers) and rendered like a safety trace.
"""

from __future__ import annotations

import math
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, overload

import numpy as np

from parsync.counterexample import Trace
from parsync.engines.checker import INCOMPLETE, PASS, VACUOUS, VIOLATION, Progress
from parsync.engines.liveness_variants import (
    LIVENESS_ONLY_VARIANTS,
    LIVENESS_SCOPE_TABLE,
    LIVENESS_VARIANT_NAMES,
    LivenessModel,
    get_liveness_scope,
)
from parsync.model.actions import (
    Action,
    Commit,
    Defer,
    Deliver,
    Drop,
    Duplicate,
    HandleReply,
    Propose,
    Reject,
    Release,
    StartCycle,
    action_to_json,
    fmt_action,
)
from parsync.model.config import Config
from parsync.model.protocol import ParSyncModel
from parsync.model.state import (
    LATENCY,
    QUALITY,
    Broker,
    Proposal,
    Reply,
    Snapshot,
    State,
    Worker,
)

LIVENESS_IDS = ("PS-L1", "PS-L2", "PS-L3")
#: Liveness properties about a policy, not the contract: PS-L3 (the adaptive strategy
#: settles) speaks of the reference's mode switching ("a conflict narrows, the next
#: deferral widens"); under the contract the mode may be either at each proposal and
#: ``Worker.mode`` is only a policy's memory, so it is checked under the reference only.
POLICY_ONLY = frozenset({"PS-L3"})
LIVENESS_NAMES = {
    "PS-L1": "PartitionRefresh",
    "PS-L2": "CycleTermination",
    "PS-L3": "AdaptiveStability",
}
# Which presets `parsync manifest` records a liveness entry for (presets.py is
# hashed into the manifest, so the mapping lives here). `pr` and `nightly` add
# crashes: their lifted graphs do not finish in a gate budget (docs/liveness.md).
LIVENESS_BY_DEFAULT: dict[str, bool] = {
    "small": True,
    "pr": False,
    "nightly": False,
    "capacity": True,  # about 20 s
    # three-partitions (about 100 s) and duplicates (about 3 minutes) finish too:
    # their gates check them, the manifest leaves them to the gate
    "three-partitions": False,
    "duplicates": False,
}
# The liveness scope `parsync gate --preset NAME` checks (see liveness_scope_for):
# pr's budget (300 s) fits small; nightly's (1800 s) fits the largest crash scope
# measured to finish, lossy-crash (pr without failover).
LIVENESS_GATE_SCOPE: dict[str, str] = {
    "small": "small",
    "pr": "small",
    "nightly": "lossy-crash",
    "twins": "twins",  # its own lifted graph finishes (213,599 states, about 20 s)
    # the scopes that exercise capacity: each its own lifted graph, measured to
    # finish within the pre-merge liveness budget (300 s; docs/liveness.md), for
    # a gate profile of that name (the gate has pr and nightly profiles today)
    "capacity": "capacity",
    "three-partitions": "three-partitions",
    "duplicates": "duplicates",
}

#: steps whose fairness instance depends on the state too (a message's age)
_MESSAGE_STEPS = frozenset({Commit, Reject, HandleReply, Deliver})
_HORIZON = 1 << 30  # max_cycle of the lifted model: never reached by abstract states
_UNFAIR = -1


# --- the abstraction -----------------------------------------------------------------


class Abstraction:
    """Maps a state of the lifted model to its finite representative (see module doc)."""

    def __init__(self, m: LivenessModel) -> None:
        self.m = m
        self.threshold = max(m.arrival)  # every need has arrived from this cycle on
        self.period = math.lcm(m.P, max(m.P - 1, 1))
        self.max_age = m.P  # ages above this are all alike
        # A message's cycle tag is only ever compared for equality with its worker's
        # current cycle (reply matching, the "lost" timeout), and a worker's cycle
        # never goes back: a tag is "current" (age 0) or "old" (any age above 0).
        self.tag_age = 0
        # Seqnos as "current"/"old" need them monotone: under the finite workload
        # lagging-replica-failover keeps them exact; the steady workload (unbounded
        # seqnos) cannot do without the abstraction, so it refuses that variant.
        self.seqs = not m.v_lagging
        if m.steady and m.v_lagging:
            raise ValueError(
                "the steady workload abstracts seqnos, which needs them monotone; "
                "lagging-replica-failover lowers them"
            )
        self._workers: dict[tuple[int, tuple[int, ...]], tuple[Worker, Worker]] = {}
        # bag -> its abstract form, per worker cycles (and seqnos): the same bags
        # recur in many states; the entry keeps the bag alive (see protocol.py)
        self._bags: dict[tuple[object, ...], tuple[object, tuple[Any, ...]]] = {}
        self._brokers: dict[int, tuple[Broker, Broker]] = {}
        self._placed = (0,) * m.N  # the ghost, dropped: one tuple for every state

    def base(self, c: int) -> int:
        t = self.threshold
        return c if c < t else t + (c - t) % self.period

    def _age(self, c: int, base: int, x: int, limit: int | None = None) -> int:
        """Cycle value ``x`` as its distance to the worker's cycle ``c`` (now ``base``),
        distances above ``limit`` (default ``max_age``) all alike.

        A negative ``x`` is no cycle but the "never read" mark a crash leaves in
        ``fresh_at``: older than anything, whatever the worker's cycle is (as a
        distance it would depend on the cycle of the crash, so two states with
        the same abstraction would crash into different ones).
        """
        k = self.max_age if limit is None else limit
        a = c - x if x >= 0 else k + 1
        return base - (a if a <= k else k + 1)

    def _seq(self, cur: int, v: int) -> int:
        return 1 if v == cur else 0

    def _entries(self, br_seq: tuple[int, ...], p: int, entries: Any) -> Any:
        if not self.seqs:
            return entries
        members = self.m.members[p]
        return tuple(
            (self._seq(br_seq[b], q), u) for b, (q, u) in zip(members, entries, strict=True)
        )

    def worker(self, w: Worker, br_seq: tuple[int, ...]) -> Worker:
        # memo per worker object (kept alive by the entry), and per broker seqnos
        # when view seqnos are abstracted relative to them
        key = (id(w), br_seq) if self.seqs else (id(w), ())
        e = self._workers.get(key)
        if e is not None and e[0] is w:
            return e[1]
        c = w.cycle
        b = self.base(c)
        nw = w._replace(
            cycle=b,
            sent=0,  # a ghost, like placed: only PS-6 reads it
            # the contract's parked needs keep their own ``sent`` ghost: dropped too
            parked=tuple((n, r, a, 0) for n, r, a, _sent in w.parked) if w.parked else (),
            fresh_at=tuple(self._age(c, b, x) for x in w.fresh_at),
            view=tuple(
                tuple(
                    Snapshot(self._age(c, b, sn.read_at), self._entries(br_seq, p, sn.entries))
                    for sn in snaps
                )
                for p, snaps in enumerate(w.view)
            ),
        )
        nw = self.m.intern(nw)
        self._workers[key] = (w, nw)
        return nw

    def message(self, msg: Proposal | Reply, s: State) -> Proposal | Reply:
        """A message of state ``s`` in its abstract form (tags relative to its worker)."""
        c = s.workers[msg.worker].cycle
        tag = self._age(c, self.base(c), msg.cycle, self.tag_age)
        if isinstance(msg, Proposal):
            reads = msg.reads
            if self.seqs:
                seq = s.broker.seq
                reads = tuple((b, self._seq(seq[b], q)) for b, q in reads)
            return msg._replace(cycle=tag, reads=reads)
        return msg._replace(cycle=tag)

    def _bag(self, bag: tuple[Any, ...], s: State) -> tuple[Any, ...]:
        if not bag:
            return bag
        key = (id(bag), *(w.cycle for w in s.workers), *(s.broker.seq if self.seqs else ()))
        e = self._bags.get(key)
        if e is not None and e[0] is bag:
            return e[1]
        got = self.m.intern(tuple(sorted(self.message(x, s) for x in bag)))
        self._bags[key] = (bag, got)
        return got

    def state(self, s: State) -> State:
        m = self.m
        br = s.broker
        seq = br.seq
        workers = tuple([self.worker(w, seq) for w in s.workers])
        to_broker = self._bag(s.to_broker, s)
        to_workers = self._bag(s.to_workers, s)
        inbox = self._bag(s.inbox, s)
        if self.seqs:  # memo per broker object, like the workers' (kept alive by the entry)
            e = self._brokers.get(id(br))
            if e is not None and e[0] is br:
                br = e[1]
            else:
                nb = m.intern(br._replace(seq=(1,) * m.B))
                self._brokers[id(br)] = (br, nb)
                br = nb
        else:
            br = m.intern(br)
        return State(br, workers, to_broker, to_workers, s.faults, self._placed, inbox)

    def key(self, s: State) -> tuple[object, ...]:
        """Identity key of an abstract state (its components are interned)."""
        return self.m.state_key(s)

    def instance(self, a: Action, s: State) -> tuple[object, ...] | None:
        """The weakly fair instance step ``a`` of state ``s`` (concrete or abstract) belongs to.

        A message is keyed by its abstract form with its tag as an *age* (current
        or old), not as a cycle value: the abstract tag ``base - age`` changes
        whenever its worker's cycle wraps round the period, and keying by it
        would split one message that stays in flight forever into several
        instances, none enabled throughout, so a run that starves it would
        wrongly count as fair (a crashed worker's high-priority proposal that
        is never committed while the worker's cycle keeps turning). The age of
        a message only ever grows, so its key changes at most once.
        """
        if isinstance(a, (Commit, Reject, HandleReply, Deliver)):
            msg = a.r if isinstance(a, HandleReply) else a.m
            c = s.workers[msg.worker].cycle
            am = self.message(msg, s)
            am = am._replace(cycle=self.base(c) - am.cycle)
            if isinstance(a, Deliver):
                a = Deliver(am)  # type: ignore[arg-type]
            else:
                a = Commit(am) if isinstance(am, Proposal) else HandleReply(am)
        return fairness_instance(a)


#: the fairness assumptions ``check_liveness`` offers: ``strong-broker`` (the default)
#: makes the broker's step on each proposal strongly fair (and, under the contract,
#: the network's delivery of each proposal into the broker's inbox), every other
#: protocol step weakly fair; ``weak`` makes every protocol step weakly fair (module doc)
FAIRNESS = ("strong-broker", "weak")
STRONG_KINDS = {"strong-broker": frozenset({"Commit", "Deliver"}), "weak": frozenset()}


def fairness_instance(a: Action) -> tuple[object, ...] | None:
    """The fair action instance a step belongs to (None: a fault or a policy's free
    choice, not fair).

    Under the contract the broker's step on a proposal is any true answer, so
    ``Commit(m)`` and every ``Reject(m, kind)`` are one instance: the broker answers
    ``m``. A worker's placing step is one instance whichever need it proposes or
    defers. ``Timeout``, ``Refresh`` (an extra read) and ``Restart`` are free choices
    of a scheduler, like the faults: no fairness. ``Deliver(m)`` (contract: the network
    hands ``m`` to the broker's inbox) is one instance per proposal, as fair as the
    broker's answer: a proposal neither dropped nor delivered would otherwise wait in
    the network forever.
    """
    if isinstance(a, StartCycle):
        return ("StartCycle", a.w)
    if isinstance(a, (Propose, Defer)):
        return ("Place", a.w)
    if isinstance(a, (Commit, Reject)):
        return ("Commit", a.m)
    if isinstance(a, Deliver):
        return ("Deliver", a.m)
    if isinstance(a, HandleReply):
        return ("HandleReply", a.r)
    if isinstance(a, Release):
        return ("Release", a.n)
    return None


# --- named scopes --------------------------------------------------------------------


def liveness_scope_for(preset: str) -> tuple[str, Config]:
    """The scope ``parsync gate --preset NAME`` checks liveness on: (its name, its config).

    Not the gate preset itself: liveness runs on the lifted model (no cycle
    bound), where crashes, drops and failover together (``pr``, ``nightly``)
    make a graph too large to finish in a gate budget (measured in
    docs/liveness.md). Each preset maps to the largest scope, with the same
    needs and strategy, measured to finish within that preset's liveness
    budget: ``pr`` to ``small`` (drops and failover), ``nightly`` to
    ``lossy-crash`` (crashes and drops).
    """
    try:
        name = LIVENESS_GATE_SCOPE[preset]
    except KeyError:
        raise KeyError(
            f"no liveness scope for preset {preset!r}; known presets: "
            f"{', '.join(LIVENESS_GATE_SCOPE)}"
        ) from None
    return name, get_liveness_scope(name).config


# --- results -------------------------------------------------------------------------


@dataclass
class Lasso:
    """A fair infinite behaviour: ``prefix`` from Init, then ``cycle`` forever.

    ``cycle.init`` is the last state of the prefix; the cycle's last state equals
    it up to the abstraction (cycle numbers advance by a multiple of the rotation
    period). An empty cycle means the behaviour stutters (a deadlock).
    """

    property_id: str
    subject: str  # whose property: "worker 0, partition 1", "worker 1"
    prefix: Trace
    cycle: Trace

    def whole(self) -> Trace:
        return Trace(
            self.prefix.init,
            [*self.prefix.actions, *self.cycle.actions],
            [*self.prefix.states, *self.cycle.states],
        )

    def render(self, *, markup: bool = False) -> str:
        """The safety trace rendering, with the point where the cycle starts marked."""
        k = len(self.prefix.actions)
        lines = self.whole().render(markup=markup).split("\n")
        if not self.cycle.actions:
            return "\n".join([*lines, "  -- stutters forever (no step is enabled) --"])
        head = f"  {k + 1}. "
        at = next(i for i, line in enumerate(lines) if line.startswith(head))
        n = k + len(self.cycle.actions)
        marker = (
            f"  -- cycle repeats: steps {k + 1}..{n} forever "
            f"(after step {n} the state is the one after step {k}, cycles advanced) --"
        )
        return "\n".join([*lines[:at], marker, *lines[at:]])

    def to_json(self) -> dict[str, Any]:
        return {
            "property": self.property_id,
            "subject": self.subject,
            "prefix": [action_to_json(a) for a in self.prefix.actions],
            "cycle": [action_to_json(a) for a in self.cycle.actions],
            "trace": self.whole().to_json(),
        }


@dataclass
class LivenessResult:
    verdict: str  # pass | violation | incomplete | vacuous (no fair infinite run at all)
    states: int
    transitions: int
    seconds: float
    fair_components: int  # fair SCCs of the whole graph: 0 means nothing runs forever
    violations: dict[str, Lasso] = field(default_factory=dict)  # per property, the first
    workload: str = "finite"
    stop_reason: str = ""
    config: str = ""
    variant: str | None = None
    fairness: str = "strong-broker"
    policy: str = "reference"

    @property
    def lasso(self) -> Lasso | None:
        """The first violated property's lasso (prefix, cycle)."""
        return next(iter(self.violations.values()), None)

    @property
    def ok(self) -> bool:
        return self.verdict == PASS

    # last: inside the class body the name shadows the builtin decorator
    @property
    def property(self) -> str | None:
        """The first violated property ID (catalogue order), or None."""
        return next(iter(self.violations), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "config": self.config,
            "variant": self.variant,
            "workload": self.workload,
            "fairness": self.fairness,
            **({"policy": self.policy} if self.policy != "reference" else {}),
            "states": self.states,
            "transitions": self.transitions,
            "seconds": round(self.seconds, 3),
            "fair_components": self.fair_components,
            "stop_reason": self.stop_reason,
            "property": self.property,
            "properties": {pid: self.status(pid) for pid in LIVENESS_IDS},
            "lassos": {pid: lasso.to_json() for pid, lasso in self.violations.items()},
        }

    def status(self, pid: str) -> str:
        """``violated``, ``holds``, ``unknown`` (an incomplete search), or ``policy only``:
        a property about the reference policy's heuristics, not checked on the contract."""
        if pid in self.violations:
            return "violated"
        if self.policy != "reference" and pid in POLICY_ONLY:
            return "policy only"
        return "holds" if self.verdict in (PASS, VIOLATION) else "unknown"


# --- the graph -----------------------------------------------------------------------


class _StateView(Sequence[State]):
    """The graph's states by id, rebuilt on demand from their component indices."""

    def __init__(self, g: Graph) -> None:
        self._g = g

    def __len__(self) -> int:
        return self._g.n

    @overload
    def __getitem__(self, i: int) -> State: ...
    @overload
    def __getitem__(self, i: slice) -> list[State]: ...
    def __getitem__(self, i: int | slice) -> State | list[State]:
        if isinstance(i, slice):
            return [self._g.state(k) for k in range(*i.indices(self._g.n))]
        if not -self._g.n <= i < self._g.n:
            raise IndexError(i)
        return self._g.state(i % self._g.n)


class _SuccView(Sequence[list[tuple[int, int]]]):
    """Per state, its out-edges as (target, fairness instance id or -1)."""

    def __init__(self, g: Graph) -> None:
        self._g = g

    def __len__(self) -> int:
        return self._g.n

    @overload
    def __getitem__(self, i: int) -> list[tuple[int, int]]: ...
    @overload
    def __getitem__(self, i: slice) -> list[list[tuple[int, int]]]: ...
    def __getitem__(self, i: int | slice) -> list[tuple[int, int]] | list[list[tuple[int, int]]]:
        if isinstance(i, slice):
            return [self._g.out(k) for k in range(*i.indices(self._g.n))]
        if not -self._g.n <= i < self._g.n:
            raise IndexError(i)
        return self._g.out(i % self._g.n)


class Graph:
    """The abstract state graph over integer ids (0 = Init), stored compactly.

    A state is a row of small integers, one per component (broker, each worker,
    the three message bags, the fault counters with the ghost ``placed``): indices
    into tables of the distinct (interned) components, so a state costs a few
    bytes beyond what its new components add; ``states[i]`` rebuilds the
    ``State``. The edges are flat arrays in CSR form (``indptr``: where each
    state's out-edges start; ``target`` and ``inst``, the fairness instance id or
    -1, per edge, in the order ``successors`` gives them). Ids are assigned in
    breadth-first order, so a state's depth never decreases with its id
    (``levels``: the first id of each depth).
    """

    def __init__(
        self,
        rows: np.ndarray,
        tables: tuple[list[Any], ...],
        indptr: np.ndarray,
        target: np.ndarray,
        inst: np.ndarray,
        parent: np.ndarray,
        instances: list[tuple[object, ...]],
        transitions: int,
        complete: bool,
        stop_reason: str = "",
        levels: list[int] | None = None,
    ) -> None:
        # (n, W + 5) int32: broker, workers, to_broker, to_workers, inbox, misc
        self.rows = rows
        self.brokers, self.workers, self.bags, self.misc = tables
        self.n = len(rows)
        self.indptr = indptr  # int64, n + 1
        self.target = target  # int32, one per edge
        self.inst = inst  # int32, one per edge: fairness instance id or -1 (_UNFAIR)
        self.parent = parent  # int32: BFS tree, shortest paths from Init (-1 at Init)
        self.instances = instances  # fairness instance id -> its key
        self.transitions = transitions
        self.complete = complete
        self.stop_reason = stop_reason
        self.levels = levels if levels is not None else _levels(parent)
        self.states: Sequence[State] = _StateView(self)
        self.succ: Sequence[list[tuple[int, int]]] = _SuccView(self)
        self._src: np.ndarray | None = None
        self._given: list[State] | None = None  # from_succ's states, kept as given
        self._enabled_pairs: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_succ(
        cls,
        states: list[State],
        succ: list[list[tuple[int, int]]],
        parent: list[int],
        instances: list[tuple[object, ...]],
        *,
        complete: bool = True,
    ) -> Graph:
        """A graph given as lists (the tests' toy graphs): ``states[i]`` is kept as is."""
        indptr = np.zeros(len(succ) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(out) for out in succ])
        target = np.array([j for out in succ for j, _ in out], dtype=np.int32)
        inst = np.array([f for out in succ for _, f in out], dtype=np.int32)
        rows = np.arange(len(states), dtype=np.int32).reshape(-1, 1)
        g = cls(
            rows,
            ([], list(states), [], []),
            indptr,
            target,
            inst,
            np.array(parent, dtype=np.int32),
            instances,
            len(target),
            complete,
        )
        g._given = list(states)
        return g

    def state(self, i: int) -> State:
        if self._given is not None:
            return self._given[i]
        r = self.rows[i].tolist()
        faults, placed = self.misc[r[-1]]
        return State(
            self.brokers[r[0]],
            tuple(self.workers[x] for x in r[1:-4]),
            self.bags[r[-4]],
            self.bags[r[-3]],
            faults,
            placed,
            self.bags[r[-2]],
        )

    def out(self, i: int) -> list[tuple[int, int]]:
        a, b = int(self.indptr[i]), int(self.indptr[i + 1])
        return list(zip(self.target[a:b].tolist(), self.inst[a:b].tolist(), strict=True))

    def depth(self) -> np.ndarray:
        """BFS depth of every state."""
        return np.searchsorted(np.array(self.levels), np.arange(self.n), side="right") - 1

    def enabled(self, i: int) -> set[int]:
        a, b = int(self.indptr[i]), int(self.indptr[i + 1])
        return {f for f in self.inst[a:b].tolist() if f != _UNFAIR}

    @property
    def src(self) -> np.ndarray:
        """The source state of every edge (int32)."""
        if self._src is None:
            self._src = np.repeat(
                np.arange(self.n, dtype=np.int32), np.diff(self.indptr).astype(np.int64)
            )
        return self._src

    def enabled_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (state, fair instance) with an edge of that instance leaving the state,
        once each, sorted by state: what ``enabled`` gives, for all states at once."""
        if self._enabled_pairs is None:
            fair = self.inst >= 0
            code = self.src[fair].astype(np.int64) * max(len(self.instances), 1)
            code += self.inst[fair]
            code = np.unique(code)
            f_count = max(len(self.instances), 1)
            self._enabled_pairs = (
                (code // f_count).astype(np.int32),
                (code % f_count).astype(np.int32),
            )
        return self._enabled_pairs


def _levels(parent: np.ndarray) -> list[int]:
    """The first id of each BFS depth, from a BFS tree whose ids grow with depth."""
    levels = [0]
    d = [0] * len(parent)
    for i in range(1, len(parent)):
        d[i] = d[int(parent[i])] + 1
        if d[i] != d[i - 1]:
            levels.append(i)
    return levels


def build_graph(
    m: LivenessModel,
    ab: Abstraction,
    *,
    max_states: int | None = None,
    max_seconds: float | None = None,
    progress: Callable[[Progress], None] | None = None,
    progress_every: int = 20_000,
) -> Graph:
    """Breadth-first search of the abstract graph (see ``Graph`` for its storage).

    The seen set maps a state's row of component indices, packed into one int, to
    its id. Components are found by identity (the model interns them; with the
    model's memo off, by value), fault counters and ``placed`` by value.
    """
    t0 = time.perf_counter()
    by_id = m.memo
    brokers: list[Any] = []
    workers: list[Any] = []
    bags: list[Any] = []
    misc: list[Any] = []
    ix_b: dict[object, int] = {}
    ix_w: dict[object, int] = {}
    ix_g: dict[object, int] = {}
    ix_m: dict[object, int] = {}
    nw = m.W
    stride = nw + 5
    rows = array("i")
    ids: dict[int, int] = {}

    def encode(s: State) -> tuple[int, list[int]]:
        """The packed key of abstract state ``s`` and its row (tables grown as needed)."""
        x: object = s.broker
        k = id(x) if by_id else x
        b = ix_b.get(k)
        if b is None:
            b = ix_b[k] = len(brokers)
            brokers.append(x)
        row = [b]
        key = b
        for x in s.workers:
            k = id(x) if by_id else x
            w = ix_w.get(k)
            if w is None:
                w = ix_w[k] = len(workers)
                workers.append(x)
            row.append(w)
            key = key << 32 | w
        for x in (s.to_broker, s.to_workers, s.inbox):
            k = id(x) if by_id else x
            q = ix_g.get(k)
            if q is None:
                q = ix_g[k] = len(bags)
                bags.append(x)
            row.append(q)
            key = key << 32 | q
        mk = (s.faults, s.placed)
        c = ix_m.get(mk)
        if c is None:
            c = ix_m[mk] = len(misc)
            misc.append(mk)
        row.append(c)
        return key << 32 | c, row

    def rebuild(i: int) -> State:
        r = rows[i * stride : (i + 1) * stride]
        faults, placed = misc[r[-1]]
        return State(
            brokers[r[0]],
            tuple([workers[x] for x in r[1:-4]]),
            bags[r[-4]],
            bags[r[-3]],
            faults,
            placed,
            bags[r[-2]],
        )

    key0, row0 = encode(ab.state(m.init_state()))
    ids[key0] = 0
    rows.extend(row0)
    n = 1
    parent = array("i", [-1])
    indptr = array("q", [0])
    target = array("i")
    finst = array("i")
    levels = [0, 1]
    inst_ids: dict[tuple[object, ...], int] = {}
    instances: list[tuple[object, ...]] = []
    transitions = 0
    stop = ""
    next_progress = progress_every
    i = 0
    instance = ab.instance
    # A step without a message has the instance its action alone gives (Abstraction's
    # own ``instance``): one look-up per action instead of the isinstance chain.
    by_action: dict[object, int] | None = {} if type(ab).instance is Abstraction.instance else None
    astate = ab.state
    successors = m.successors
    try:
        while i < n:
            s = rebuild(i)
            for a, t in successors(s):
                transitions += 1
                cached = None
                if by_action is not None and type(a) not in _MESSAGE_STEPS:
                    cached = by_action.get(a)
                if cached is not None:
                    f = cached
                else:
                    inst = instance(a, s)
                    f = _UNFAIR
                    if inst is not None:
                        f = inst_ids.setdefault(inst, len(instances))
                        if f == len(instances):
                            instances.append(inst)
                    if by_action is not None and type(a) not in _MESSAGE_STEPS:
                        by_action[a] = f
                key, row = encode(astate(t))
                j = ids.get(key)
                if j is None:
                    j = ids[key] = n
                    n += 1
                    rows.extend(row)
                    parent.append(i)
                target.append(j)
                finst.append(f)
            indptr.append(len(target))
            i += 1
            if i == levels[-1]:
                levels.append(n)
            if n >= next_progress or i == n:
                next_progress = n + progress_every
                elapsed = time.perf_counter() - t0
                if progress is not None:
                    progress(Progress(n, transitions, 0, n - i, elapsed))
                if max_seconds is not None and elapsed > max_seconds:
                    stop = f"time budget of {max_seconds:g}s reached"
                    break
            if max_states is not None and n >= max_states and i < n:
                stop = f"state budget of {max_states} reached"
                break
    except KeyboardInterrupt:
        stop = "interrupted"
    del ids  # the seen set is only needed while searching
    while len(indptr) < n + 1:  # states found but not expanded (a budget stop)
        indptr.append(len(target))
    while levels and levels[-1] >= n:
        levels.pop()
    return Graph(
        np.frombuffer(rows, dtype=np.int32).reshape(n, stride),
        (brokers, workers, bags, misc),
        np.frombuffer(indptr, dtype=np.int64),
        np.frombuffer(target, dtype=np.int32),
        np.frombuffer(finst, dtype=np.int32),
        np.frombuffer(parent, dtype=np.int32),
        instances,
        transitions,
        not stop,
        stop,
        levels,
    )


# --- fair components -----------------------------------------------------------------


NodePred = Callable[[State], bool]


def _subgraph(
    g: Graph, inside: np.ndarray, banned_e: np.ndarray | None, same: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR of the subgraph: states ``inside``, edges not ``banned_e`` and (with
    ``same``) inside one of ``same``'s components; out-edges keep their order.
    Returns (indptr, targets, the kept edges as a mask over ``g``'s edges)."""
    src, dst = g.src, g.target
    keep = inside[src] & inside[dst]
    if banned_e is not None:
        keep &= ~banned_e
    if same is not None:
        keep &= same[src] == same[dst]
    indptr = np.zeros(g.n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src[keep], minlength=g.n), out=indptr[1:])
    return indptr, dst[keep], keep


def _csr(n: int, indptr: np.ndarray, indices: np.ndarray) -> Any:
    from scipy.sparse import csr_matrix

    return csr_matrix((np.ones(len(indices)), indices, indptr), shape=(n, n))


def _scc_labels(n: int, indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Strongly connected components (scipy's compiled routine): a label per state."""
    from scipy.sparse.csgraph import connected_components

    mat = _csr(n, indptr.copy(), indices.copy())  # merged in place below: copies
    # Repeated edges (two instances between the same states) must be merged first:
    # measured with scipy 1.17, the strong components of the 52,775-state contract
    # graph of tests/test_liveness.py took 0.01 s merged and had not returned after
    # 100 s unmerged. Merging sorts each row, which the components do not depend on.
    mat.sum_duplicates()
    _, labels = connected_components(mat, directed=True, connection="strong")
    return np.asarray(labels, dtype=np.int64)


def strongly_connected(
    g: Graph, inside: bytearray | np.ndarray, banned: frozenset[int] = frozenset()
) -> list[list[int]]:
    """The strongly connected components of the states marked ``inside`` (edges whose
    fairness instance is in ``banned`` left out), by scipy's compiled routine over
    the graph's CSR arrays; tests/test_liveness.py checks it against networkx."""
    mask = _mask(inside)
    banned_e = np.isin(g.inst, sorted(banned)) if banned else None
    indptr, indices, _ = _subgraph(g, mask, banned_e, None)
    labels = _scc_labels(g.n, indptr, indices)
    nodes = np.flatnonzero(mask)
    lab = labels[nodes]
    order = np.argsort(lab, kind="stable")
    _, starts = np.unique(lab[order], return_index=True)
    return [part.tolist() for part in np.split(nodes[order], starts[1:])] if len(nodes) else []


def _mask(inside: bytearray | np.ndarray) -> np.ndarray:
    if isinstance(inside, np.ndarray):
        return inside.astype(bool, copy=False)
    return np.frombuffer(bytes(inside), dtype=np.uint8).astype(bool)


@dataclass
class _Level:
    """One decomposition into strongly connected components: the whole subgraph
    (level 0), or the parts of components that strong fairness refines."""

    inside: np.ndarray  # bool per state: the states decomposed
    same: np.ndarray | None  # the previous level's labels: edges stay inside one of them
    labels: np.ndarray  # component label per state (meaningful where inside)
    dfs: tuple[np.ndarray, np.ndarray] | None = None  # lazily: preorder, parent's preorder


@dataclass
class _Comp:
    level: int
    label: int
    entry: int  # its smallest id, of least depth (ids are in BFS order)
    path: tuple[int, ...]  # its label and its ancestors' at each level


@dataclass
class _Decomposition:
    """The fair components of a subgraph (``fair_components``), found with array
    operations per level instead of one component at a time."""

    g: Graph
    banned_e: np.ndarray | None
    levels: list[_Level] = field(default_factory=list)
    comps: list[_Comp] = field(default_factory=list)

    def nodes(self, c: _Comp) -> np.ndarray:
        lv = self.levels[c.level]
        return np.flatnonzero(lv.inside & (lv.labels == c.label))

    def edges(
        self, c: _Comp, banned: frozenset[int]
    ) -> tuple[set[int], list[tuple[int, int, int]]]:
        """The component as a set, and its inner edges (source, target, instance)."""
        g = self.g
        cs = set(self.nodes(c).tolist())
        out = [(i, j, f) for i in sorted(cs) for j, f in g.out(i) if j in cs and f not in banned]
        return cs, out

    def _dfs(self, level: int) -> tuple[np.ndarray, np.ndarray]:
        """Depth-first preorder of the level's subgraph as Tarjan's algorithm walks
        it (roots in increasing id, out-edges in order), and per preorder position
        the preorder of its tree parent: a chain of virtual roots (the k-th leads
        to the k-th state inside, then to the next virtual root) makes scipy's
        single-source search visit the roots in turn."""
        from scipy.sparse.csgraph import depth_first_order

        lv = self.levels[level]
        if lv.dfs is None:
            g, n = self.g, self.g.n
            indptr, indices, _ = _subgraph(g, lv.inside, self.banned_e, lv.same)
            roots = np.flatnonzero(lv.inside)
            k = len(roots)
            vind = np.empty(2 * k - 1, dtype=np.int64)
            vind[0::2] = roots
            vind[1::2] = n + 1 + np.arange(k - 1)
            vdeg = np.full(k, 2, dtype=np.int64)
            vdeg[-1] = 1
            full_ptr = np.concatenate([indptr, indptr[-1] + np.cumsum(vdeg)])
            full_ind = np.concatenate([indices.astype(np.int64), vind])
            order, pred = depth_first_order(
                _csr(n + k, full_ptr, full_ind), n, directed=True, return_predecessors=True
            )
            pre = np.full(n + k, -1, dtype=np.int64)
            pre[order] = np.arange(len(order))
            up = pred[order]  # the start's is negative (scipy's "none")
            parent_pre = np.where(up >= 0, pre[np.maximum(up, 0)], -1)
            lv.dfs = (pre, parent_pre)
        return lv.dfs

    def _finish(self, level: int, label: int) -> tuple[int, int]:
        """When Tarjan's algorithm emits component ``label`` of ``level``: when its
        first-visited state's subtree ends (then, ancestors after descendants)."""
        pre, parent_pre = self._dfs(level)
        lv = self.levels[level]
        root_pre = int(pre[np.flatnonzero(lv.inside & (lv.labels == label))].min())
        after = np.flatnonzero(parent_pre[root_pre + 1 :] < root_pre)
        end = root_pre + 1 + int(after[0]) if len(after) else len(parent_pre)
        return end, -root_pre

    def order_key(self, c: _Comp) -> tuple[tuple[int, int], ...]:
        """Where ``c`` comes in the order the one-component-at-a-time search yielded
        (Tarjan's emission order, a refined component's parts in its place)."""
        return tuple(self._finish(lvl, lab) for lvl, lab in enumerate(c.path))

    def ordered(self, comps: list[_Comp]) -> list[_Comp]:
        return sorted(comps, key=self.order_key) if len(comps) > 1 else list(comps)


def _decompose(
    g: Graph,
    inside: np.ndarray,
    banned: frozenset[int] = frozenset(),
    strong: frozenset[int] = frozenset(),
) -> _Decomposition:
    """The fair components of the subgraph (states inside, edges not banned); see
    ``fair_components`` for what is fair. Each level decomposes the states left
    with scipy, then judges every component at once: non-trivial (an inner edge,
    or a deadlock), weakly fair (no instance enabled in all its states and taken
    by none of its edges), strongly fair (no strong instance enabled somewhere and
    taken by none of its edges; otherwise its states that enable one are removed
    and the rest is decomposed again at the next level)."""
    n = g.n
    banned_e = np.isin(g.inst, sorted(banned)) if banned else None
    dec = _Decomposition(g, banned_e)
    f_count = max(len(g.instances), 1)
    is_strong = np.zeros(f_count, dtype=bool)
    if strong:
        is_strong[sorted(strong)] = True
    es, ef = g.enabled_pairs()
    outdeg = np.diff(g.indptr)
    cur = inside.astype(bool, copy=True)
    same: np.ndarray | None = None
    prev_paths: dict[int, tuple[int, ...]] = {}
    while True:
        level = len(dec.levels)
        indptr, indices, keep = _subgraph(g, cur, banned_e, same)
        labels = _scc_labels(n, indptr, indices)
        dec.levels.append(_Level(cur, same, labels))
        ncomp = int(labels.max()) + 1 if n else 0
        nodes = np.flatnonzero(cur)
        lab = labels[nodes]
        size = np.bincount(lab, minlength=ncomp)
        ksrc, kf = g.src[keep], g.inst[keep]
        inner = labels[ksrc] == labels[indices]
        ilab, if_ = labels[ksrc[inner]], kf[inner]
        has_edge = np.zeros(ncomp, dtype=bool)
        has_edge[ilab] = True
        cand = has_edge.copy()
        cand[labels[nodes[outdeg[nodes] == 0]]] = True  # a deadlock: a fair stutter
        # weak fairness: an instance enabled in every state and taken by no edge
        sel = cur[es] & cand[labels[es]]
        ps, pl, pf = es[sel], labels[es[sel]], ef[sel]
        code = pl * f_count + pf
        u, cnt = np.unique(code, return_counts=True)
        always = u[cnt == size[u // f_count]]
        taken = np.unique(ilab[if_ >= 0] * f_count + if_[if_ >= 0])
        ok = cand.copy()
        ok[always[~np.isin(always, taken)] // f_count] = False
        # strong fairness: a strong instance enabled somewhere and taken by no edge
        refine = np.zeros(ncomp, dtype=bool)
        starved = np.zeros(0, dtype=np.int64)
        if strong:
            s_sel = is_strong[pf] & ok[pl] & has_edge[pl]
            miss = ~np.isin(code[s_sel], taken)
            starved = ps[s_sel][miss]
            refine[labels[starved]] = True
        final = ok & ~refine

        def path(
            c: int,
            e: int,
            same: np.ndarray | None = same,
            prev: dict[int, tuple[int, ...]] = prev_paths,
        ) -> tuple[int, ...]:
            """Component ``c``'s path: its refined ancestors' labels (state ``e`` in it)."""
            return (*prev[int(same[e])], c) if same is not None else (c,)

        fin_nodes = nodes[final[lab]]
        fin_lab, first = np.unique(labels[fin_nodes], return_index=True)
        for c, e in zip(fin_lab.tolist(), fin_nodes[first].tolist(), strict=True):
            dec.comps.append(_Comp(level, c, e, path(c, e)))
        if not refine.any():
            return dec
        ref_nodes = nodes[refine[lab]]
        ref_lab, first = np.unique(labels[ref_nodes], return_index=True)
        prev_paths = {
            c: path(c, e) for c, e in zip(ref_lab.tolist(), ref_nodes[first].tolist(), strict=True)
        }
        nxt = cur & refine[labels]
        nxt[starved] = False
        cur, same = nxt, labels


def fair_components(
    g: Graph,
    inside: bytearray | np.ndarray,
    banned: frozenset[int] = frozenset(),
    strong: frozenset[int] = frozenset(),
) -> Iterable[tuple[set[int], list[tuple[int, int, int]]]]:
    """Fair strongly connected components of the subgraph (states inside, edges not banned).

    ``strong``: the fairness instances under *strong* fairness (taken infinitely often
    if enabled infinitely often); the rest are weakly fair. A component that is weakly
    fair but enables a strong instance somewhere without taking it inside is not fair,
    yet a part of it may be: the states that enable such an instance are removed and
    the rest is decomposed again (the usual refinement for Streett conditions; a run
    staying in a fair sub-component never sees the instance enabled; each such
    sub-problem costs a pass over the graph's ids, and there are few). Weak fairness
    needs no such recursion (module doc), so a weakly unfair component is dropped.
    Yielded in the order Tarjan's algorithm emits them (a refined component's parts
    in its place), each with its inner edges."""
    dec = _decompose(g, _mask(inside), banned, strong)
    for c in dec.ordered(dec.comps):
        yield dec.edges(c, banned)


# --- lassos --------------------------------------------------------------------------


def _path_within(
    adj: dict[int, list[tuple[int, int]]], src: int, goal: Callable[[int, int, int], bool]
) -> list[tuple[int, int]]:
    """Shortest path of edges (target, instance) in ``adj`` from src whose last edge meets goal."""
    prev: dict[int, tuple[int, int, int]] = {}
    seen = {src}
    q = deque([src])
    while q:
        i = q.popleft()
        for j, f in adj.get(i, ()):
            if goal(i, j, f):
                path = [(j, f)]
                while i != src:
                    pi, pj, pf = prev[i]
                    path.append((pj, pf))
                    i = pi
                return path[::-1]
            if j not in seen:
                seen.add(j)
                prev[j] = (i, j, f)
                q.append(j)
    raise AssertionError("no path inside a strongly connected component")


def _cycle(
    g: Graph,
    comp: set[int],
    edges: list[tuple[int, int, int]],
    entry: int,
    must_visit: list[Callable[[State], bool]],
    strong: frozenset[int] = frozenset(),
) -> list[tuple[int, int]]:
    """A closed walk from ``entry`` inside ``comp`` that is fair.

    Start with a shortest closed walk (through the states ``must_visit`` asks
    for); while some instance is enabled in every state of the walk and taken
    by none of its edges, splice in a detour to an edge of that instance (or to
    a state where it is disabled) and back; likewise for a ``strong`` instance
    enabled anywhere on the walk and taken by none of its edges (a detour to an
    edge of it). ``comp`` is fair, so each detour exists.
    """
    if not edges:
        return []
    adj: dict[int, list[tuple[int, int]]] = {}
    for i, j, f in edges:
        adj.setdefault(i, []).append((j, f))
    taken_in_comp = {f for _, _, f in edges}

    def there_and_back(goal: Callable[[int, int, int], bool]) -> list[tuple[int, int]]:
        out = _path_within(adj, entry, goal)
        end = out[-1][0]
        if end != entry:
            out += _path_within(adj, end, lambda i, j, h: j == entry)
        return out

    walk: list[tuple[int, int]] = []
    cur = entry
    for pred in must_visit:  # one after the other, then back
        if not pred(g.states[cur]):
            walk += _path_within(adj, cur, partial(_lands_in, g, pred))
            cur = walk[-1][0]
    if cur != entry or not walk:
        walk += _path_within(adj, cur, lambda i, j, h: j == entry)
    while True:
        always = set(g.enabled(entry))
        for j, _ in walk:
            always &= g.enabled(j)
        taken = {f for _, f in walk}
        starved = sorted(always - taken)
        if not starved and strong:
            seen = set(g.enabled(entry))
            for j, _ in walk:
                seen |= g.enabled(j)
            starved = sorted((seen & strong) - taken)
        if not starved:
            return walk
        f = starved[0]
        if f in taken_in_comp:
            walk += there_and_back(partial(_takes, f))
        else:  # never taken inside: visit a state where it is disabled
            walk += there_and_back(partial(_disables, g, f))


def _lands_in(g: Graph, pred: Callable[[State], bool], i: int, j: int, h: int) -> bool:
    return pred(g.states[j])


def _takes(f: int, i: int, j: int, h: int) -> bool:
    return h == f


def _disables(g: Graph, f: int, i: int, j: int, h: int) -> bool:
    return f not in g.enabled(j)


def _unfold(
    m: LivenessModel, ab: Abstraction, g: Graph, prefix: list[int], cycle: list[tuple[int, int]]
) -> tuple[Trace, Trace]:
    """Replay the abstract lasso in the lifted model: real states, real cycle numbers."""

    def step(s: State, j: int, f: int | None) -> tuple[Action, State]:
        want = ab.key(g.states[j])
        for a, t in m.successors(s):
            if ab.key(ab.state(t)) != want:
                continue
            if f is not None:
                inst = ab.instance(a, s)
                if (g.instances[f] if f != _UNFAIR else None) != inst:
                    continue
            return a, t
        raise AssertionError("abstract step without a concrete counterpart")

    s = m.init_state()
    pre = Trace(s)
    for j in prefix[1:]:
        a, s = step(s, j, None)
        pre = pre.extend(a, s)
    cyc = Trace(s)
    for j, f in cycle:
        a, s = step(s, j, f)
        cyc = cyc.extend(a, s)
    return pre, cyc


def _abstract_action(a: Action, s: State, ab: Abstraction) -> Action:
    """``a`` with the message it names in its abstract form (the tests' bisimulation
    check compares abstract steps): every action that carries a message."""
    if isinstance(a, HandleReply):
        return HandleReply(ab.message(a.r, s))  # type: ignore[arg-type]
    if isinstance(a, (Commit, Reject, Drop, Duplicate, Deliver)):
        return a._replace(m=ab.message(a.m, s))  # type: ignore[arg-type]
    return a


def _prefix(g: Graph, target: int) -> list[int]:
    path = []
    i = target
    while i >= 0:
        path.append(i)
        i = int(g.parent[i])
    return path[::-1]


# --- the properties --------------------------------------------------------------------


def _refreshed_now(w: Worker, p: int) -> bool:
    snaps = w.view[p]
    return bool(snaps) and snaps[-1].read_at == w.cycle


def _idle(w: Worker) -> bool:
    return not w.waiting and not w.pending


def _not_refreshed(w: int, p: int, s: State) -> bool:
    """PS-L1's bad states: worker w is up and has not read partition p this cycle."""
    return s.workers[w].up and not _refreshed_now(s.workers[w], p)


def _busy(w: int, s: State) -> bool:
    """PS-L2's bad states: worker w is up and its cycle has work left."""
    return s.workers[w].up and not _idle(s.workers[w])


@dataclass
class _Obligation:
    pid: str
    subject: str
    node: NodePred
    banned: frozenset[int] = frozenset()  # fairness instances whose edges leave the subgraph
    both_modes: int | None = None  # PS-L3: worker whose mode must take both values
    # the bad states as a test of one worker (every bad-state test here is one): the
    # subgraph is then computed once per distinct abstract worker, not once per state
    worker: int | None = None
    worker_pred: Callable[[Worker], bool] | None = None


def _refreshed_not(p: int, w: Worker) -> bool:
    return w.up and not _refreshed_now(w, p)


def _busy_worker(w: Worker) -> bool:
    return w.up and not _idle(w)


def _obligations(m: LivenessModel, g: Graph) -> list[_Obligation]:
    out: list[_Obligation] = []
    for w in range(m.W):
        for p in range(m.P):
            out.append(
                _Obligation(
                    "PS-L1",
                    f"worker {w}, partition {p}",
                    partial(_not_refreshed, w, p),
                    worker=w,
                    worker_pred=partial(_refreshed_not, p),
                )
            )
    for w in range(m.W):
        start = frozenset(f for f, inst in enumerate(g.instances) if inst == ("StartCycle", w))
        out.append(
            _Obligation(
                "PS-L2",
                f"worker {w}",
                partial(_busy, w),
                start,
                worker=w,
                worker_pred=_busy_worker,
            )
        )
    for w in range(m.W):
        out.append(_Obligation("PS-L3", f"worker {w}", lambda s: True, both_modes=w))
    # a property about the reference policy's heuristics is not the contract's
    return [ob for ob in out if not (m.contract and ob.pid in POLICY_ONLY)]


def _worker_mask(g: Graph, w: int, pred: Callable[[Worker], bool]) -> np.ndarray:
    """``pred`` of worker ``w`` in every state, evaluated once per distinct worker."""
    table = np.fromiter((pred(x) for x in g.workers), dtype=bool, count=len(g.workers))
    mask: np.ndarray = table[g.rows[:, 1 + w]]
    return mask


def _inside(g: Graph, ob: _Obligation) -> np.ndarray:
    if ob.worker is not None and ob.worker_pred is not None:
        return _worker_mask(g, ob.worker, ob.worker_pred)
    return np.fromiter((ob.node(s) for s in g.states), dtype=bool, count=g.n)


def _violation(
    m: LivenessModel,
    ab: Abstraction,
    g: Graph,
    ob: _Obligation,
    whole: _Decomposition | None,
    depth: np.ndarray,
    strong: frozenset[int] = frozenset(),
) -> Lasso | None:
    if ob.both_modes is not None and whole is not None:
        dec = whole
        banned: frozenset[int] = frozenset()
    else:
        dec = _decompose(g, _inside(g, ob), ob.banned, strong)
        banned = ob.banned
    comps = dec.comps
    must: list[Callable[[State], bool]] = []
    if ob.both_modes is not None:
        w = ob.both_modes
        must = [lambda s: s.workers[w].mode == LATENCY, lambda s: s.workers[w].mode == QUALITY]
        modes = [
            _worker_mask(g, w, lambda x: x.mode == LATENCY),
            _worker_mask(g, w, lambda x: x.mode == QUALITY),
        ]
        comps = [c for c in comps if all(mask[dec.nodes(c)].any() for mask in modes)]
    if not comps:
        return None
    # the component whose entry (its state of least depth, then least id: its least
    # id, as ids are in BFS order) is shallowest; of equally shallow ones the first
    # in the order the components were always searched in
    least = min(int(depth[c.entry]) for c in comps)
    best = dec.ordered([c for c in comps if depth[c.entry] == least])[0]
    comp, edges = dec.edges(best, banned)
    walk = _cycle(g, comp, edges, best.entry, must, strong)
    pre, cyc = _unfold(m, ab, g, _prefix(g, best.entry), walk)
    return Lasso(ob.pid, ob.subject, pre, cyc)


# --- the entry point -------------------------------------------------------------------


def lifted_model(model: ParSyncModel, *, steady: bool = False) -> LivenessModel:
    """The same protocol and variant without the cycle bound (the abstraction bounds it)."""
    cfg = replace(model.config, max_cycle=_HORIZON)
    return LivenessModel(cfg, model.variant, steady=steady, policy=model.policy)


def check_liveness(
    model: ParSyncModel,
    *,
    steady: bool = False,
    max_states: int | None = None,
    max_seconds: float | None = None,
    progress: Callable[[Progress], None] | None = None,
    abstraction: Callable[[LivenessModel], Abstraction] = Abstraction,
    fairness: str = "strong-broker",
) -> LivenessResult:
    """Check PS-L1 .. PS-L3 on ``model``'s protocol, config and variant (see module doc).

    ``model`` is a ``ParSyncModel`` (or a ``LivenessModel`` for the liveness
    variants); its cycle bound is ignored. ``steady`` switches the steady
    workload on. A budget stops the search with an ``incomplete`` verdict.
    ``abstraction`` exists for the tests, which show what a broken one gets wrong.
    ``fairness`` is one of :data:`FAIRNESS` (ValueError otherwise).
    """
    if fairness not in FAIRNESS:
        raise ValueError(f"unknown fairness {fairness!r}; choose from {', '.join(FAIRNESS)}")
    t0 = time.perf_counter()
    m = lifted_model(model, steady=steady or getattr(model, "steady", False))
    ab = abstraction(m)
    g = build_graph(
        m,
        ab,
        max_states=max_states,
        max_seconds=max_seconds,
        progress=progress,
    )
    base = {
        "states": g.n,
        "transitions": g.transitions,
        "workload": "steady" if m.steady else "finite",
        "config": model.config.describe(),
        "variant": model.variant,
        "fairness": fairness,
        "policy": model.policy,
    }
    if not g.complete:
        return LivenessResult(
            INCOMPLETE,
            seconds=time.perf_counter() - t0,
            fair_components=0,
            stop_reason=g.stop_reason,
            **base,  # type: ignore[arg-type]
        )
    violations: dict[str, Lasso] = {}
    try:
        kinds = STRONG_KINDS[fairness]
        strong = frozenset(f for f, inst in enumerate(g.instances) if inst[0] in kinds)
        whole = _decompose(g, np.ones(g.n, dtype=bool), strong=strong)
        depth = g.depth()
        for ob in _obligations(m, g):
            if ob.pid in violations:
                continue
            lasso = _violation(m, ab, g, ob, whole, depth, strong)
            if lasso is not None:
                violations[ob.pid] = lasso
    except KeyboardInterrupt:  # the graph is complete; the fair cycles are not searched
        return LivenessResult(
            INCOMPLETE,
            seconds=time.perf_counter() - t0,
            fair_components=0,
            stop_reason="interrupted while searching the fair components",
            **base,  # type: ignore[arg-type]
        )
    if violations:
        verdict = VIOLATION
    elif not whole.comps:
        verdict = VACUOUS
    else:
        verdict = PASS
    return LivenessResult(
        verdict,
        seconds=time.perf_counter() - t0,
        fair_components=len(whole.comps),
        violations=violations,
        **base,  # type: ignore[arg-type]
    )


def render_result(result: LivenessResult, *, markup: bool = False) -> list[str]:
    """Lines for the terminal: per property its verdict, then each lasso."""
    lines = []
    for pid in LIVENESS_IDS:
        lasso = result.violations.get(pid)
        status = "VIOLATED" if lasso else result.status(pid)
        if status == "policy only":
            status = "not a contract property: a result about the reference policy"
        if markup:
            colour = {"VIOLATED": "red", "holds": "green"}.get(status, "yellow")
            status = f"[{colour}]{status}[/{colour}]"
        who = f" ({lasso.subject})" if lasso else ""
        lines.append(f"  {pid:6} {LIVENESS_NAMES[pid]:18} {status}{who}")
    for pid, lasso in result.violations.items():
        lines.append("")
        lines.append(
            f"{pid} {LIVENESS_NAMES[pid]} violated for {lasso.subject}: a fair lasso of "
            f"{len(lasso.prefix.actions)} + {len(lasso.cycle.actions)} steps"
        )
        lines.append(lasso.render(markup=markup))
    return lines


__all__ = [
    "LIVENESS_IDS",
    "LIVENESS_BY_DEFAULT",
    "Abstraction",
    "Lasso",
    "LivenessResult",
    "check_liveness",
    "FAIRNESS",
    "fairness_instance",
    "get_liveness_scope",
    "lifted_model",
    "liveness_scope_for",
    "render_result",
    "fmt_action",
]


# --- `parsync check --liveness` --------------------------------------------------------


def run_command(
    args: Any,
    load_file: Callable[[None, str], tuple[str, Config]],
    usage_error: type[Exception],
) -> int:
    """``parsync check --liveness``: the result table, lassos, exit 0/1/2/3 (see cli.py).

    ``--preset NAME`` names a liveness scope (a preset or a liveness-only scope,
    whose own workload applies); ``--config FILE`` is read by cli.py's
    ``load_file``; ``--list-presets`` and ``--list-variants`` list what
    ``--liveness`` accepts.
    """
    import sys

    from rich.console import Console
    from rich.markup import escape

    from parsync.model.variants import VARIANT_NAMES

    if args.steady and not args.liveness:
        raise usage_error("--steady applies to --liveness only")
    if getattr(args, "fairness", None) and not args.liveness:
        raise usage_error("--fairness applies to --liveness only")
    for opt in ("workers", "ray", "checkpoint", "resume"):
        if getattr(args, opt, None) is not None:
            raise usage_error(
                f"--{opt} applies to the safety search; --liveness runs in one process "
                "(docs/scale.md)"
            )
    if args.list_variants:
        for name in dict.fromkeys((*VARIANT_NAMES, *LIVENESS_VARIANT_NAMES)):
            print(name)
        return 0
    if args.list_presets:
        for sc in LIVENESS_SCOPE_TABLE:
            workload = "steady" if sc.steady else "finite"
            print(f"{sc.name}: {sc.summary} ({workload} workload)\n    {sc.config.describe()}")
        return 0
    if args.config is not None:
        scope, cfg = load_file(None, args.config)
        steady = args.steady
    else:
        try:
            named = get_liveness_scope(args.preset or "small")
        except KeyError as e:
            raise usage_error(e.args[0]) from None
        scope, cfg, steady = named.name, named.config, args.steady or named.steady
    for opt in ("trace_out", "itf_out"):
        if getattr(args, opt, None):
            raise usage_error(
                f"--{opt.replace('_', '-')} applies to safety counterexamples; "
                "with --liveness use --json (it carries every lasso)"
            )
    policy = getattr(args, "policy", None) or "reference"
    if policy != "reference" and args.variant in LIVENESS_ONLY_VARIANTS:
        raise usage_error(
            f"liveness variant {args.variant!r} changes the reference policy's heuristics; "
            "run it with --policy reference"
        )
    try:
        model = LivenessModel(cfg, args.variant, steady=steady, policy=policy)
    except KeyError as e:
        raise usage_error(e.args[0]) from None
    except ValueError as e:
        raise usage_error(str(e)) from None
    from parsync.errors import Interrupted
    from parsync.outputs import emit_json
    from parsync.progress import Display, known_states

    total = None
    if args.config is None and args.variant is None and not steady:
        total = known_states(cfg.describe(), liveness=True)
    label = f"check {scope} --liveness"
    with Display(f"parsync {label}", enabled=args.progress is not False) as bar:

        def cb(p: Progress) -> None:
            bar.search(p.states, p.transitions, None, p.queue, p.seconds, total)

        try:
            result = check_liveness(
                model,
                max_states=args.max_states,
                max_seconds=args.max_seconds,
                progress=cb,
                fairness=getattr(args, "fairness", None) or "strong-broker",
            )
        except ValueError as e:
            raise usage_error(str(e)) from None
    interrupted = result.stop_reason.startswith("interrupted")
    if args.json or getattr(args, "json_out", None):
        d = result.to_json()
        d["scope"] = scope
        d["interrupted"] = interrupted
        emit_json(d, stdout=bool(args.json), path=getattr(args, "json_out", None))
    if not args.json:
        out = Console(highlight=False)
        title = f"parsync check {scope} --liveness" + (" --steady" if steady else "")
        if model.variant:
            title += f" --variant {model.variant}"
        if model.contract:
            title += " --policy contract"
        out.print(f"[bold]{escape(title)}[/bold]: {escape(cfg.describe())}")
        colour = {PASS: "green", INCOMPLETE: "yellow"}.get(result.verdict, "red")
        out.print(
            f"[bold {colour}]{result.verdict.upper()}[/bold {colour}]  "
            f"{result.states:,} abstract states, {result.transitions:,} transitions, "
            f"{result.fair_components:,} fair components, {result.seconds:.2f}s "
            f"(workload {result.workload}, {result.fairness} fairness, no symmetry reduction)"
        )
        if result.stop_reason:
            out.print(f"[yellow]stopped: {result.stop_reason}; the result is incomplete[/yellow]")
        if result.verdict == VACUOUS:
            out.print("[red]vacuous: no fair behaviour runs forever in this scope[/red]")
        for line in render_result(result, markup=True):
            out.print(line)
        sys.stdout.flush()
    if interrupted:
        raise Interrupted(
            f"{label}: {result.states:,} abstract states, {result.transitions:,} transitions "
            f"explored ({result.stop_reason}); no liveness property decided"
        )
    if result.verdict == PASS:
        return 0
    if result.verdict == INCOMPLETE:
        return 3
    return 1
