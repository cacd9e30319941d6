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
instance: the broker answers ``m``, strongly fair by default), ``HandleReply`` and
``Release``. A scheduler's free choices are not fair: ``Timeout``, ``Refresh`` (an
extra read) and ``Restart`` are taken or not, like the faults. The abstraction drops
the ghost ``sent`` of parked needs too. PS-L3 speaks of the reference's mode
switching; under the contract the adaptive mode may be either at each proposal, so
PS-L3 is reported as a result about the reference policy (``POLICY_ONLY``), not
checked.

**Algorithm.** Breadth-first search builds the abstract graph over integer
ids (edges carry their fairness instance). A property's violation is a fair
run that eventually stays inside a *bad* subgraph: for PS-L1 the states where
worker ``w`` is up and partition ``p`` was not read in the current cycle; for
PS-L2 the states where ``w`` is up and busy, without ``w``'s ``StartCycle``
edges (the only step that moves ``w`` to another cycle); for PS-L3 the whole
graph, restricted to components where ``w``'s mode takes both values. The
strongly connected components of the subgraph come from an iterative Tarjan
over integer ids (networkx checks it in the tests; building a networkx graph
costs more than the whole search, see ``strongly_connected``). A
non-trivial component ``C`` is *fair* when every fairness instance enabled in
all states of ``C`` is taken by an edge inside ``C``. Under weak fairness no
recursion is needed: if an instance is enabled in every state of ``C`` and
taken inside none, every sub-component has the same defect, so a run staying
in ``C`` forever is unfair however it moves. A strongly fair instance enabled
somewhere in ``C`` and taken nowhere inside it is refined away instead: the states
that enable it are removed and the rest is decomposed again (``fair_components``).
A fair component yields a lasso:
a shortest prefix from Init to it, then a cycle inside it that takes every
instance enabled somewhere in ``C`` or visits a state where it is disabled
(and, for PS-L3, visits both modes). The lasso is unfolded in the real model
(real cycle numbers) and rendered like a safety trace.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

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
from parsync.model.state import LATENCY, QUALITY, Proposal, Reply, Snapshot, State, Worker

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
        workers = tuple(self.worker(w, br.seq) for w in s.workers)
        to_broker = self._bag(s.to_broker, s)
        to_workers = self._bag(s.to_workers, s)
        br = m.intern(br._replace(seq=(1,) * m.B) if self.seqs else br)
        return State(br, workers, to_broker, to_workers, s.faults, (0,) * m.N)

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
        if isinstance(a, (Commit, Reject, HandleReply)):
            msg = a.r if isinstance(a, HandleReply) else a.m
            c = s.workers[msg.worker].cycle
            am = self.message(msg, s)
            am = am._replace(cycle=self.base(c) - am.cycle)
            a = Commit(am) if isinstance(am, Proposal) else HandleReply(am)
        return fairness_instance(a)


#: the fairness assumptions ``check_liveness`` offers: ``strong-broker`` (the default)
#: makes the broker's step on each proposal strongly fair, every other protocol step
#: weakly fair; ``weak`` makes every protocol step weakly fair (module doc)
FAIRNESS = ("strong-broker", "weak")
STRONG_KINDS = {"strong-broker": frozenset({"Commit"}), "weak": frozenset()}


def fairness_instance(a: Action) -> tuple[object, ...] | None:
    """The fair action instance a step belongs to (None: a fault or a policy's free
    choice, not fair).

    Under the contract the broker's step on a proposal is any true answer, so
    ``Commit(m)`` and every ``Reject(m, kind)`` are one instance: the broker answers
    ``m``. A worker's placing step is one instance whichever need it proposes or
    defers. ``Timeout``, ``Refresh`` (an extra read) and ``Restart`` are free choices
    of a scheduler, like the faults: no fairness.
    """
    if isinstance(a, StartCycle):
        return ("StartCycle", a.w)
    if isinstance(a, (Propose, Defer)):
        return ("Place", a.w)
    if isinstance(a, (Commit, Reject)):
        return ("Commit", a.m)
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


@dataclass
class Graph:
    """The abstract state graph over integer ids (0 = Init)."""

    states: list[State]
    succ: list[list[tuple[int, int]]]  # per state: (target, fairness instance id or -1)
    parent: list[int]  # BFS tree: shortest paths from Init
    instances: list[tuple[object, ...]]  # fairness instance id -> its key
    transitions: int
    complete: bool
    stop_reason: str = ""

    def depth(self) -> list[int]:
        """BFS depth of every state (a parent always comes before its children)."""
        d = [0] * len(self.states)
        for i in range(1, len(self.states)):
            d[i] = d[self.parent[i]] + 1
        return d

    def enabled(self, i: int) -> set[int]:
        return {f for _, f in self.succ[i] if f != _UNFAIR}


def build_graph(
    m: LivenessModel,
    ab: Abstraction,
    *,
    max_states: int | None = None,
    max_seconds: float | None = None,
    progress: Callable[[Progress], None] | None = None,
    progress_every: int = 20_000,
) -> Graph:
    t0 = time.perf_counter()
    s0 = ab.state(m.init_state())
    states = [s0]
    ids: dict[object, int] = {ab.key(s0): 0}
    parent = [-1]
    succ: list[list[tuple[int, int]]] = []
    inst_ids: dict[tuple[object, ...], int] = {}
    instances: list[tuple[object, ...]] = []
    transitions = 0
    stop = ""
    next_progress = progress_every
    i = 0
    try:
        while i < len(states):
            out: list[tuple[int, int]] = []
            for a, t in m.successors(states[i]):
                transitions += 1
                inst = ab.instance(a, states[i])
                f = _UNFAIR
                if inst is not None:
                    f = inst_ids.setdefault(inst, len(instances))
                    if f == len(instances):
                        instances.append(inst)
                at = ab.state(t)
                k = ab.key(at)
                j = ids.get(k)
                if j is None:
                    j = ids[k] = len(states)
                    states.append(at)
                    parent.append(i)
                out.append((j, f))
            succ.append(out)
            i += 1
            if len(states) >= next_progress or i == len(states):
                next_progress = len(states) + progress_every
                elapsed = time.perf_counter() - t0
                if progress is not None:
                    progress(Progress(len(states), transitions, 0, len(states) - i, elapsed))
                if max_seconds is not None and elapsed > max_seconds:
                    stop = f"time budget of {max_seconds:g}s reached"
                    break
            if max_states is not None and len(states) >= max_states and i < len(states):
                stop = f"state budget of {max_states} reached"
                break
    except KeyboardInterrupt:
        stop = "interrupted"
    return Graph(states, succ, parent, instances, transitions, not stop, stop)


# --- fair components -----------------------------------------------------------------


NodePred = Callable[[State], bool]


def strongly_connected(
    g: Graph, inside: bytearray, banned: frozenset[int] = frozenset()
) -> Iterable[list[int]]:
    """Tarjan's algorithm, iterative, over the states marked ``inside``.

    Edges whose fairness instance is in ``banned`` are left out. Written here
    rather than taken from networkx: building a networkx graph costs about
    15 us per edge (measured: 9 s for the 683,000 edges the small scope's
    subgraphs add up to), several times the whole search; tests/test_liveness.py
    checks this function against ``networkx.strongly_connected_components``.
    """
    n = len(g.states)
    index = [-1] * n
    low = [0] * n
    on_stack = bytearray(n)
    stack: list[int] = []
    counter = 0
    succ = g.succ
    for root in range(n):
        if not inside[root] or index[root] != -1:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = 1
        work = [(root, 0)]
        while work:
            v, k = work[-1]
            edges = succ[v]
            while k < len(edges):
                u, f = edges[k]
                k += 1
                if not inside[u] or f in banned:
                    continue
                if index[u] == -1:
                    work[-1] = (v, k)
                    index[u] = low[u] = counter
                    counter += 1
                    stack.append(u)
                    on_stack[u] = 1
                    work.append((u, 0))
                    break
                if on_stack[u] and index[u] < low[v]:
                    low[v] = index[u]
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    if low[v] < low[parent]:
                        low[parent] = low[v]
                if low[v] == index[v]:
                    comp = []
                    while True:
                        x = stack.pop()
                        on_stack[x] = 0
                        comp.append(x)
                        if x == v:
                            break
                    yield comp


def _fair(g: Graph, comp: set[int], edges: list[tuple[int, int, int]]) -> bool:
    """Weak fairness: every instance enabled throughout ``comp`` is taken inside it."""
    if not edges:  # a trivial component is fair only as a deadlock (stuttering)
        (i,) = comp
        return not g.succ[i]
    always: set[int] | None = None
    for i in comp:
        en = g.enabled(i)
        always = en if always is None else always & en
        if not always:
            return True
    taken = {f for _, _, f in edges}
    return not (always or set()) - taken


def _component(
    g: Graph, comp: list[int], banned: frozenset[int]
) -> tuple[set[int], list[tuple[int, int, int]]] | None:
    """A non-trivial component (or a deadlock) with its inner edges; None if trivial."""
    succ = g.succ
    if len(comp) == 1:
        i = comp[0]
        if succ[i] and not any(j == i and f not in banned for j, f in succ[i]):
            return None  # trivial: no self-loop, not a deadlock
    cs = set(comp)
    return cs, [(i, j, f) for i in comp for j, f in succ[i] if j in cs and f not in banned]


def fair_components(
    g: Graph,
    inside: bytearray,
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
    needs no such recursion (module doc), so a weakly unfair component is dropped."""
    work: list[list[int]] = list(strongly_connected(g, inside, banned))
    while work:
        comp = work.pop(0)
        got = _component(g, comp, banned)
        if got is None:
            continue
        cs, edges = got
        if not _fair(g, cs, edges):
            continue
        if strong and edges:
            taken = {f for _, _, f in edges}
            starved = {i for i in comp if (g.enabled(i) & strong) - taken}
            if starved:
                rest = bytearray(len(g.states))
                for i in cs - starved:
                    rest[i] = 1
                work[:0] = strongly_connected(g, rest, banned)
                continue
        yield cs, edges


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
    if isinstance(a, (Commit, Reject, Drop, Duplicate)):
        return a._replace(m=ab.message(a.m, s))  # type: ignore[arg-type]
    return a


def _prefix(g: Graph, target: int) -> list[int]:
    path = []
    i = target
    while i >= 0:
        path.append(i)
        i = g.parent[i]
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


def _obligations(m: LivenessModel, g: Graph) -> list[_Obligation]:
    out: list[_Obligation] = []
    for w in range(m.W):
        for p in range(m.P):
            out.append(
                _Obligation(
                    "PS-L1",
                    f"worker {w}, partition {p}",
                    partial(_not_refreshed, w, p),
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
            )
        )
    for w in range(m.W):
        out.append(_Obligation("PS-L3", f"worker {w}", lambda s: True, both_modes=w))
    # a property about the reference policy's heuristics is not the contract's
    return [ob for ob in out if not (m.contract and ob.pid in POLICY_ONLY)]


def _violation(
    m: LivenessModel,
    ab: Abstraction,
    g: Graph,
    ob: _Obligation,
    whole: list[Any] | None,
    depth: list[int],
    strong: frozenset[int] = frozenset(),
) -> Lasso | None:
    if ob.both_modes is not None and whole is not None:
        comps = whole
    else:
        inside = bytearray(ob.node(s) for s in g.states)
        comps = list(fair_components(g, inside, ob.banned, strong))
    must: list[Callable[[State], bool]] = []
    if ob.both_modes is not None:
        w = ob.both_modes
        must = [lambda s: s.workers[w].mode == LATENCY, lambda s: s.workers[w].mode == QUALITY]
    best: tuple[int, set[int], list[tuple[int, int, int]], int] | None = None
    for comp, edges in comps:
        if must and not all(any(pred(g.states[i]) for i in comp) for pred in must):
            continue
        entry = min(comp, key=lambda i: (depth[i], i))
        if best is None or depth[entry] < best[0]:
            best = (depth[entry], comp, edges, entry)
    if best is None:
        return None
    _, comp, edges, entry = best
    walk = _cycle(g, comp, edges, entry, must, strong)
    pre, cyc = _unfold(m, ab, g, _prefix(g, entry), walk)
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
        "states": len(g.states),
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
        whole = list(fair_components(g, bytearray(b"\x01") * len(g.states), strong=strong))
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
    elif not whole:
        verdict = VACUOUS
    else:
        verdict = PASS
    return LivenessResult(
        verdict,
        seconds=time.perf_counter() - t0,
        fair_components=len(whole),
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
