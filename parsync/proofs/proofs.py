"""Inductive proofs of PS-1 .. PS-10 for every size (mypyvy / Ivy style).

For each property there is a *goal* and a list of named *strengthening lemmas*
(each explained in one line). The inductive invariant of the property is the
goal and its lemmas (state properties), or the lemmas alone (action
properties). The obligations are, per conjunct ``C`` of the invariant:

* ``Init => C``                                   (action "Init");
* ``Inv /\\ A => C'``  for every (sub-)action A    (e.g. "Commit[Committed]");

and, for an action property ``AP``, ``Inv /\\ A => AP(s, A, s')`` for every action
it constrains. Every query runs under the axioms saying the symbolic constants
form a valid Config, in a universe where workers, buckets, needs, partitions
and messages are unbounded (``logic.ParamUniverse``): an obligation that is
proved holds for every scope. Each obligation's result is ``proved`` (unsat),
``cti`` (a counterexample to induction: sat, with the model decoded into a
concrete Config, pre-state, action and post-state, re-checked with the Python
predicate and re-executed with ``ParSyncModel.step``) or ``unknown`` (the
solver gave up or timed out: a failure, never a pass).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import z3  # type: ignore[import-untyped]

from parsync.model.actions import (
    Action,
    fmt_action,
)
from parsync.model.config import Config, ConfigError, Faults, Need
from parsync.model.properties import SAFETY_IDS, get_property
from parsync.model.protocol import ParSyncModel
from parsync.model.state import PLACED, Broker, Proposal, Reply, Snapshot, State, Worker
from parsync.proofs.concrete import action_of, as_int, values
from parsync.proofs.encoding import PROP_ACTIONS, ActionEnc, Encoding, Params, Sym
from parsync.proofs.logic import ParamUniverse
from parsync.proofs.solving import check

PROVED = "proved"
CTI = "cti"
UNKNOWN = "unknown"

DEFAULT_TIMEOUT_S = 30.0

# How an obligation holds (``Prover.classify``): from the action and TypeOK alone, from its
# own conjunct as well, or only with the rest of the invariant (the strengthening lemmas,
# or for a lemma's own obligation the goal and the other lemmas).
BY_CONSTRUCTION = "by construction"
INDUCTIVE = "inductive"
NEEDS_LEMMAS = "needs lemmas"
NOT_CLASSIFIED = "not classified"  # a classification query returned unknown
NOT_PROVED = "not proved"  # the obligation itself failed: nothing to classify
CLASSES: tuple[str, ...] = (BY_CONSTRUCTION, INDUCTIVE, NEEDS_LEMMAS, NOT_CLASSIFIED, NOT_PROVED)
# The prover's own short attempts are bounded by Z3's resource counter ("rlimit": work
# done, counted deterministically), never by the clock: the same query gets the same
# answer on every machine and at any load, so a proof report, a CTI and which path found
# it do not depend on what else ran. (Seconds made them depend on load, and a solver
# cancelled by its timer thread is where z3-solver has segfaulted under this suite.)
# The user's ``--timeout`` stays a wall-clock cap on every query.
#: Z3 resource units per second of solving, measured on the CI machine class for the
#: prover's queries (2-4M); budgets below are given as "about N s" through it.
RLIMIT_PER_S = 3_000_000
#: The budget of one classification query; unknown there is "not classified".
CLASSIFY_RLIMIT = 2 * RLIMIT_PER_S
#: The budget of one query in a small finite scope (the CTI search).
SMALL_SCOPE_RLIMIT = 20 * RLIMIT_PER_S

# --- the lemma catalogue -----------------------------------------------------------------

Formula = Callable[[Encoding, Sym], Any]


@dataclass(frozen=True)
class Lemma:
    name: str
    text: str  # one line: what it says and why it holds
    formula: Formula


def _l(name: str, text: str, formula: Formula) -> Lemma:
    return Lemma(name, text, formula)


LEMMAS: dict[str, Lemma] = {
    lem.name: lem
    for lem in (
        _l(
            "ViewSeqNotAhead",
            "a worker's snapshot never holds a seqno the broker has not reached yet "
            "(seqnos only rise, and snapshots copy them)",
            lambda e, S: e.all(
                "W B",
                lambda w, b: z3.Implies(S.nsnap(w, e.K.part(b)) >= 1, S.vseq(w, b) <= S.seq(b)),
            ),
        ),
        _l(
            "ViewCurrentIsExact",
            "a view entry whose seqno equals the broker's also equals the broker's used "
            "(every change of used bumps the seqno)",
            lambda e, S: e.all(
                "W B",
                lambda w, b: z3.Implies(
                    z3.And(S.nsnap(w, e.K.part(b)) >= 1, S.vseq(w, b) == S.seq(b)),
                    S.vused(w, b) == S.used(b),
                ),
            ),
        ),
        _l(
            "ReadSeqNotAhead",
            "a proposal in flight (or, under the contract, in the broker's inbox) never "
            "carries a read seqno above the broker's",
            lambda e, S: e.all(
                "PM B",
                lambda m, b: z3.Implies(
                    z3.And(e.held(S, m), e.K.p_tch(m, b)), e.K.p_rd(m, b) <= S.seq(b)
                ),
            ),
        ),
        _l(
            "CurrentReadFits",
            "an in-flight proposal (or, under the contract, one in the broker's inbox) whose "
            "read seqno for a bucket is current fits in that bucket (the worker checked room "
            "on a view the broker has not changed since)",
            lambda e, S: e.all(
                "PM B",
                lambda m, b: z3.Implies(
                    z3.And(e.held(S, m), e.K.p_tch(m, b), e.K.p_rd(m, b) == S.seq(b)),
                    S.used(b) + e.K.size(e.K.p_n(m)) <= e.K.cap(b),
                ),
            ),
        ),
        _l(
            "RotationCoverage",
            "a live worker's snapshot of partition p is no older than the last cycle whose "
            "rotation slot was p: read_at(p) >= cycle - ((cycle - p) mod P)",
            lambda e, S: e.all(
                "W P",
                lambda w, q: z3.Implies(
                    S.up(w), S.vat(w, q) >= S.cycle(w) - e.mod(S.cycle(w) - q, e.P)
                ),
            ),
        ),
        _l(
            "HoldMatchesLedger",
            "a need holds a claim on a bucket exactly once if its ledger lists the bucket, "
            "and not at all otherwise",
            lambda e, S: e.all(
                "N B", lambda n, b: S.hold(n, b) == z3.If(S.ledger(n, b), e.i(1), e.i(0))
            ),
        ),
        _l(
            "LedgerOnlyWhilePlaced",
            "only a placed need has ledger entries (an unplaced one was never committed, "
            "a released one was cleared)",
            lambda e, S: e.all(
                "N B", lambda n, b: z3.Implies(S.ledger(n, b), S.status(n) == PLACED)
            ),
        ),
        _l(
            "AttemptsWhileWaiting",
            "a worker waiting for a reply has sent one more proposal than it has retried",
            lambda e, S: e.all(
                "W", lambda w: z3.Implies(S.waiting(w), S.attempts(w) == S.retries(w) + 1)
            ),
        ),
        _l(
            "AttemptsWhileIdle",
            "a worker not waiting has sent exactly as many proposals as it has retried",
            lambda e, S: e.all(
                "W", lambda w: z3.Implies(z3.Not(S.waiting(w)), S.attempts(w) == S.retries(w))
            ),
        ),
        _l(
            "RetriesWithinBudget",
            "the retry counter stays within 0..R (past R the need is deferred and it resets)",
            lambda e, S: e.all("W", lambda w: z3.And(S.retries(w) >= 0, S.retries(w) <= e.K.R())),
        ),
        _l(
            "NoRereadPending",
            "no worker holds a partition that a Conflict named and that it has not read "
            "again (the forced fresh read clears the ghost in the step that sets it)",
            lambda e, S: e.all("W P", lambda w, q: z3.Not(S.rr(w, q))),
        ),
        _l(
            "UnplacedNeverCommitted",
            "a need the broker still records as unplaced has never been committed",
            lambda e, S: e.all("N", lambda n: z3.Implies(S.status(n) == 0, S.placed(n) == 0)),
        ),
    )
}


#: The contract policy's own lemmas (its PS-3 and PS-6 read other state: a worker
#: may hold no snapshot of a partition, and PS-6 counts the ghost ``sent`` of the
#: need in hand and of every parked need). Used by ``prove --policy contract`` only.
CONTRACT_LEMMAS: dict[str, Lemma] = {
    lem.name: lem
    for lem in (
        _l(
            "RotationCoverageWhereRead",
            "a live worker's snapshot of partition p, if it holds one, is no older than the "
            "last cycle whose rotation slot was p (a restarted worker holds none until it "
            "re-reads p, by the rotation or an extra read)",
            lambda e, S: e.all(
                "W P",
                lambda w, q: z3.Implies(
                    z3.And(S.up(w), S.nsnap(w, q) >= 1),
                    S.vat(w, q) >= S.cycle(w) - e.mod(S.cycle(w) - q, e.P),
                ),
            ),
        ),
        _l(
            "DownHoldsNothing",
            "a crashed worker holds no snapshot (the crash empties the view and only a live "
            "worker reads), so a restart starts from nothing",
            lambda e, S: e.all("W P", lambda w, q: z3.Implies(z3.Not(S.up(w)), S.nsnap(w, q) == 0)),
        ),
        _l(
            "SentWithinAttempts",
            "a need's ghost proposal count never exceeds its attempt tag, in hand or parked "
            "(both rise together on Propose; a timeout, a retry and a park keep the tag)",
            lambda e, S: z3.And(
                e.all("W", lambda w: S.sent(w) <= S.attempts(w)),
                e.all("W N", lambda w, n: S.pks(w, n) <= S.pka(w, n)),
            ),
        ),
        _l(
            "AttemptsWithinLimit",
            "a need's attempt tag stays within R + 1, in hand or parked (Propose needs it "
            "below R + 1 and raises it by one)",
            lambda e, S: z3.And(
                e.all("W", lambda w: S.attempts(w) <= e.K.R() + 1),
                e.all("W N", lambda w, n: S.pka(w, n) <= e.K.R() + 1),
            ),
        ),
    )
}

#: Per goal, the lemmas of its inductive invariant under the contract, where they
#: differ from the reference's (``Goal.lemmas``).
CONTRACT_GOAL_LEMMAS: dict[str, tuple[str, ...]] = {
    "PS-3": ("RotationCoverageWhereRead", "DownHoldsNothing"),
    "PS-6": ("SentWithinAttempts", "AttemptsWithinLimit"),
}


def goal_lemmas(pid: str, policy: str = "reference") -> tuple[str, ...]:
    """The strengthening lemmas of goal ``pid`` under ``policy``."""
    g = GOAL_BY_ID[pid]
    if policy == "contract":
        return CONTRACT_GOAL_LEMMAS.get(pid, g.lemmas)
    return g.lemmas


def lemma(name: str) -> Lemma:
    """A lemma of either catalogue."""
    return LEMMAS[name] if name in LEMMAS else CONTRACT_LEMMAS[name]


def type_ok(e: Encoding, S: Sym) -> Any:
    """TypeOK: every variable stays in its type and bounds (proved inductive on its own).

    Assumed in the hypothesis of every obligation, it keeps counterexamples to
    induction inside the shapes the Python model can represent (no negative
    message counts, cycles past the bound, an epoch beyond the failover budget,
    unknown reply kinds or modes, a ledger entry without its claim - which the
    model's Release could not even remove), so that they decode into model states.
    """
    K = e.K
    cs = [
        z3.And(0 <= S.epoch(), S.epoch() <= K.max_failover()),
        z3.And(0 <= S.crashes(), S.crashes() <= K.max_crash()),
        z3.And(0 <= S.drops(), S.drops() <= K.max_drop()),
        z3.And(0 <= S.dups(), S.dups() <= K.max_dup()),
        e.all("B", lambda b: S.seq(b) >= 0),
        e.all(
            "N B",
            lambda n, b: z3.And(S.hold(n, b) >= 0, z3.Implies(S.ledger(n, b), S.hold(n, b) >= 1)),
        ),
        e.all("N", lambda n: z3.And(S.status(n) >= 0, S.status(n) <= 2, S.placed(n) >= 0)),
        e.all(
            "W",
            lambda w: z3.And(
                0 <= S.cycle(w),
                S.cycle(w) <= K.max_cycle(),
                z3.Or(S.mode(w) == 0, S.mode(w) == 1),
                S.retries(w) >= 0,
                S.attempts(w) >= 0,
            ),
        ),
        e.all(
            "W P",
            lambda w, q: z3.And(
                S.nsnap(w, q) >= 0, S.fresh(w, q) <= S.cycle(w), S.vat(w, q) <= S.cycle(w)
            ),
        ),
        e.all("W B", lambda w, b: S.vseq(w, b) >= 0),
        e.all(
            "PM",
            lambda m: z3.And(
                S.pc(m) >= 0,
                *((S.ic(m) >= 0,) if e.contract else ()),
                z3.Implies(
                    e.held(S, m),
                    z3.And(
                        0 <= K.p_fresh(m),
                        K.p_fresh(m) < e.P,
                        K.p_prio(m) == K.prio(K.p_n(m)),
                        K.p_tch(m, K.p_first(m)),
                        e.all(
                            "B",
                            lambda b: z3.Implies(
                                K.p_tch(m, b),
                                z3.And(
                                    K.p_rd(m, b) >= 0,
                                    K.bidx(K.p_first(m)) <= K.bidx(b),
                                ),
                            ),
                        ),
                    ),
                ),
            ),
        ),
        e.all(
            "RM",
            lambda r: z3.And(
                S.rc(r) >= 0, z3.Implies(S.rc(r) > 0, z3.And(K.r_kind(r) >= 0, K.r_kind(r) <= 3))
            ),
        ),
    ]
    if e.contract:
        cs += [
            z3.And(0 <= S.timeouts(), S.timeouts() <= K.max_timeout()),
            z3.And(0 <= S.xreads(), S.xreads() <= K.max_xread()),
            e.all("W", lambda w: S.sent(w) >= 0),
            e.all(
                "W N",
                lambda w, n: z3.And(
                    S.pkr(w, n) >= 0,
                    S.pka(w, n) >= 0,
                    S.pks(w, n) >= 0,
                    z3.Implies(S.hd(w, n), S.pend(w, n)),
                ),
            ),
        ]
    if e.v_lagging:
        cs.append(e.all("B", lambda b: S.r_seq(b) >= 0))
        cs.append(
            e.all(
                "N B",
                lambda n, b: z3.And(
                    S.r_hold(n, b) >= 0, z3.Implies(S.r_ledger(n, b), S.r_hold(n, b) >= 1)
                ),
            )
        )
        cs.append(e.all("N", lambda n: z3.And(S.r_status(n) >= 0, S.r_status(n) <= 2)))
    return z3.And(*cs)


TYPE_OK = "TypeOK"


@dataclass(frozen=True)
class Goal:
    pid: str
    kind: str  # "state" | "action"
    lemmas: tuple[str, ...]
    how: str  # one paragraph: the proof idea
    all_actions: bool = True  # action properties: every action (PS-5) or Commit only


GOALS: tuple[Goal, ...] = (
    Goal(
        TYPE_OK,
        "state",
        (),
        "Each bound is kept by the guard of the only action that moves the variable towards "
        "it (StartCycle needs cycle < max_cycle, Crash crashes < max_crash, Failover "
        "epoch < max_failover, Commit/Drop a message in flight ...).",
    ),
    Goal(
        "PS-1",
        "state",
        ("ViewSeqNotAhead", "ViewCurrentIsExact", "ReadSeqNotAhead", "CurrentReadFits"),
        "A commit passes the seqno CAS only if every read seqno is current, and a current read "
        "fits (CurrentReadFits), so used + size <= capacity after the commit. The lemma is "
        "preserved because every change of used bumps the bucket's seqno, so a read that "
        "stays current saw the broker's used (ViewCurrentIsExact). used is the tracked sum of "
        "the claimed sizes (UsedTracksClaims).",
    ),
    Goal(
        "PS-2",
        "action",
        (),
        "Immediate from two guards: Propose sends, for every touched bucket, the seqno of the "
        "snapshot its fit test read; Committed is the branch of Commit where no touched "
        "bucket's seqno differs from the one sent.",
        all_actions=False,
    ),
    Goal(
        "PS-3",
        "state",
        ("RotationCoverage",),
        "Partition p is refreshed at every cycle c with c mod P = p, and on recovery, "
        "conflict and fencing; so the latest snapshot of p is at most (cycle - p) mod P <= P-1 "
        "cycles old, and a live worker always has one (the goal's first half).",
    ),
    Goal(
        "PS-4",
        "state",
        ("HoldMatchesLedger", "LedgerOnlyWhilePlaced"),
        "Commit adds the need to claims and ledger of the same buckets; Release removes both "
        "(a placed need holds each of its buckets exactly once), and a need is committed only "
        "while unplaced, when it holds nothing.",
    ),
    Goal(
        "PS-5",
        "action",
        (),
        "Commit bumps exactly the touched buckets, whose claims gain the need; Release bumps "
        "exactly the ledger's buckets, whose claims lose it; no other action touches seq or "
        "claims (failover keeps the durable state).",
    ),
    Goal(
        "PS-6",
        "state",
        ("AttemptsWhileWaiting", "AttemptsWhileIdle", "RetriesWithinBudget"),
        "attempts = retries (+1 while waiting) and retries <= R, so attempts <= R + 1.",
    ),
    Goal(
        "PS-7",
        "action",
        (),
        "Immediate from the Commit guard: a proposal is deliverable only if no higher-priority "
        "proposal the broker decides on shares one of its buckets (in flight in the reference; "
        "in the broker's inbox under the contract, where PS-7 is stated over the inbox too).",
        all_actions=False,
    ),
    Goal(
        "PS-8",
        "state",
        ("UnplacedNeverCommitted",),
        "The broker commits a need only while its status is unplaced, which (lemma) means it "
        "was never committed; status never returns to unplaced.",
    ),
    Goal(
        "PS-9",
        "action",
        (),
        "Immediate from the Commit guard: a proposal whose epoch differs from the broker's is "
        "answered Fenced.",
        all_actions=False,
    ),
    Goal(
        "PS-10",
        "state",
        (),
        "Every fresh read replaces the partition's snapshot; a crash empties the view.",
    ),
    Goal(
        "PS-11",
        "action",
        ("NoRereadPending",),
        "A taken Conflict marks the conflicted partitions (ghost) and re-reads them in the "
        "same step, and any read clears the mark: no mark survives a step (the lemma, "
        "inductive), so Propose never finds one on a bucket it touches.",
        all_actions=False,
    ),
)

GOAL_BY_ID = {g.pid: g for g in GOALS}
PROPERTY_IDS = tuple(g.pid for g in GOALS if g.pid != TYPE_OK)
ALL_GOAL_IDS = tuple(g.pid for g in GOALS)

# A failed non-vacuity check: the hypothesis of an action's obligations is unsatisfiable.
NONVACUOUS = "NonVacuous"

# The structural obligation behind the ``used`` abstraction (reported under PS-1).
USED_TRACKS = "UsedTracksClaims"
USED_TRACKS_TEXT = (
    "each action changes the claims of at most one need n, each by -1, 0 or +1 per bucket, and "
    "used by size(n) times that change; with Init (all zero) this makes used[b] the sum of "
    "size(n) * claims(n, b) in every reachable state"
)


# Small finite structures searched for counterexamples to induction (sizes, P).
CTI_SCOPES: tuple[tuple[dict[str, int], int], ...] = (
    ({"W": 1, "B": 1, "N": 1, "PM": 1, "RM": 1}, 1),
    ({"W": 1, "B": 2, "N": 1, "PM": 1, "RM": 1}, 2),
    ({"W": 2, "B": 2, "N": 2, "PM": 2, "RM": 1}, 2),
)


@dataclass(frozen=True)
class Ctx:
    """What a decoder needs: the encoding, the two states, the universe, the variant."""

    enc: Encoding
    S: Sym
    T: Sym
    u: Any
    variant: str | None
    policy: str = "reference"


# --- results -------------------------------------------------------------------------------


@dataclass
class Cti:
    """A counterexample to induction, decoded (where possible) into the Python model."""

    config: Config | None = None
    pre: State | None = None
    action: Action | None = None
    post: State | None = None
    decode_error: str = ""
    notes: list[str] = field(default_factory=list)  # abstraction gaps seen while decoding
    python_pre: bool | None = None  # the executable predicate of the property on pre
    python_post: bool | None = None  # ... on post (state) or on the step (action)
    replay: str = ""  # "agrees", "differs: ...", "not enabled in the model"
    pid: str = ""  # the goal whose obligation this refutes
    variant: str | None = None  # the model variant it was decoded in

    def summary(self) -> str:
        if self.decode_error:
            return f"not decodable into a model state: {self.decode_error}"
        assert self.config is not None and self.action is not None
        parts = [f"{fmt_action(self.action)} on {self.config.describe()}"]
        if self.python_pre is not None:
            parts.append(f"predicate on pre-state: {'holds' if self.python_pre else 'VIOLATED'}")
        if self.python_post is not None:
            parts.append(f"after the step: {'holds' if self.python_post else 'VIOLATED'}")
        if self.replay:
            parts.append(f"model replay {self.replay}")
        parts += self.notes
        return "; ".join(parts)

    def render(self, width: int | None = None, *, with_summary: bool = True) -> str:
        """The summary, then the pre-state, the action and what changed (parsync.render):
        the same renderer as a trace, with the property's reason on the last line."""
        if self.decode_error or self.pre is None or self.post is None:
            return self.summary()
        from parsync.render import render_steps, wrap

        model = None
        if self.config is not None and self.pid in SAFETY_IDS:
            model = ParSyncModel(self.config, self.variant)
        steps = [] if self.action is None else [(self.action, self.pre, self.post)]
        r = render_steps(
            self.pre,
            steps,
            model=model,
            property_ids=[self.pid],
            init_title="pre-state (a counterexample to induction: not necessarily reachable)",
        )
        broken = self.python_post is False
        if model is not None and broken and self.pid not in {x.split(" ")[0] for x in r.reasons}:
            from parsync.render import explain

            r.reasons.insert(0, explain(self.pid, model, self.pre, self.action, self.post))
        summary = wrap(self.summary(), width) if with_summary else []
        return "\n".join([*summary, r.text(width)])

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"summary": self.summary()}
        if self.config is not None:
            d["config"] = self.config.to_dict()
        if self.action is not None:
            from parsync.model.actions import action_to_json

            d["action"] = action_to_json(self.action)
        if self.pre is not None and self.post is not None:
            from parsync.counterexample import variables

            d["pre"] = variables(self.pre)
            d["post"] = variables(self.post)
        d["python_pre"] = self.python_pre
        d["python_post"] = self.python_post
        d["replay"] = self.replay
        d["notes"] = self.notes
        if self.decode_error:
            d["decode_error"] = self.decode_error
        return d


@dataclass
class Obligation:
    pid: str
    invariant: str  # the goal's ID, a lemma name, or UsedTracksClaims
    action: str  # "Init" or a sub-action name
    outcome: str = UNKNOWN
    seconds: float = 0.0
    reason: str = ""  # unknown: the solver's reason
    cti: Cti | None = None
    klass: str | None = None  # one of CLASSES once classified (``Prover.classify``)
    class_seconds: float = 0.0  # the classification queries' time

    @property
    def label(self) -> str:
        return f"{self.invariant} / {self.action}"

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "property": self.pid,
            "invariant": self.invariant,
            "action": self.action,
            "outcome": self.outcome,
            "seconds": round(self.seconds, 3),
        }
        if self.reason:
            d["reason"] = self.reason
        if self.cti is not None:
            d["cti"] = self.cti.to_json()
        if self.klass is not None:
            d["class"] = self.klass
        return d

    def message(self) -> str:
        """One line for a failed obligation: which invariant, which action, why."""
        kind = "goal" if self.invariant == self.pid else "lemma"
        if self.invariant == USED_TRACKS:
            kind = "obligation"
        if self.action == "Init":
            head = f"{self.pid}: {kind} {self.invariant} does not hold initially"
        else:
            head = f"{self.pid}: {kind} {self.invariant} is not preserved by {self.action}"
        if self.outcome == UNKNOWN:
            return f"{self.pid}: {self.label}: solver returned unknown ({self.reason})"
        return head + (f" - {self.cti.summary()}" if self.cti else "")


@dataclass
class PropertyResult:
    pid: str
    variant: str | None
    obligations: list[Obligation]
    seconds: float = 0.0
    policy: str = "reference"

    @property
    def lemmas(self) -> tuple[str, ...]:
        """The strengthening lemmas of this property's invariant under its policy."""
        return goal_lemmas(self.pid, self.policy) if self.pid in GOAL_BY_ID else ()

    @property
    def proved(self) -> bool:
        return all(o.outcome == PROVED for o in self.obligations)

    @property
    def failures(self) -> list[Obligation]:
        return [o for o in self.obligations if o.outcome != PROVED]

    @property
    def classified(self) -> bool:
        return bool(self.obligations) and all(o.klass is not None for o in self.obligations)

    def class_counts(self) -> dict[str, int]:
        """How many obligations fall in each class (every class, zeros included)."""
        counts = dict.fromkeys(CLASSES, 0)
        for o in self.obligations:
            if o.klass is not None:
                counts[o.klass] += 1
        return counts

    @property
    def step_obligations(self) -> list[Obligation]:
        return [o for o in self.obligations if o.action != "Init"]

    @property
    def by_construction(self) -> bool:
        """Every step obligation holds from its action and TypeOK alone."""
        steps = self.step_obligations
        return bool(steps) and all(o.klass == BY_CONSTRUCTION for o in steps)


# --- the prover ----------------------------------------------------------------------------


@contextmanager
def frame(solver: z3.Solver) -> Iterator[z3.Solver]:
    """A solver frame: assertions added inside are retracted on exit."""
    solver.push()
    try:
        yield solver
    finally:
        solver.pop()


def refute(solver: z3.Solver, concl: Any) -> tuple[Any, z3.ModelRef | None, str]:
    """Ask for a model of the hypotheses (asserted) where ``concl`` fails.

    Returns (result, the model if sat, the solver's reason if unknown); the
    negated conclusion is retracted afterwards.
    """
    with frame(solver):
        solver.add(z3.Not(concl))
        r = check(solver)
        if r == z3.sat:
            return r, solver.model(), ""
        if r == z3.unknown:
            return r, None, solver.reason_unknown() or "unknown"
        return r, None, ""


class Prover:
    """Discharges the obligations of one property for one variant (None = the design).

    Each obligation is first posed parametrically (every size). unsat: proved.
    Otherwise (sat, or unknown within a short first attempt) the same formula
    is posed in small finite structures (``CTI_SCOPES``), where every
    quantifier is expanded and the question is decidable: a model there is a
    genuine counterexample to induction of the parametric obligation, and it
    decodes into a small concrete state. Only if no small CTI exists is the
    parametric query retried with the full timeout; ``unknown`` then stands,
    and counts as a failure.
    """

    #: the first parametric attempt's budget (Z3 rlimit, about 3 s on the CI machine)
    FIRST_ATTEMPT_RLIMIT = 3 * RLIMIT_PER_S

    def __init__(
        self,
        variant: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        first_attempt_rlimit: int = FIRST_ATTEMPT_RLIMIT,
        policy: str = "reference",
    ) -> None:
        self.variant = variant
        self.policy = policy
        self.timeout_s = timeout_s
        self.first_attempt_rlimit = first_attempt_rlimit
        self.u = ParamUniverse()
        self.enc = Encoding(self.u, variant, policy=policy)
        self.S = self.enc.state("s")
        self.T = self.enc.state("t")
        self._finite: list[tuple[Encoding, Sym, Sym]] = []  # the CTI scopes, for classify

    def solver(self, rlimit: int = 0) -> z3.Solver:
        """A solver capped by the wall-clock timeout and, when given, a work budget
        (``rlimit``, deterministic: see ``RLIMIT_PER_S``)."""
        s = z3.Solver()
        s.set("timeout", int(1000 * self.timeout_s))
        if rlimit:
            s.set("rlimit", rlimit)
        return s

    def invariant(self, g: Goal, S: Sym, enc: Encoding | None = None) -> list[tuple[str, Any]]:
        enc = enc or self.enc
        out: list[tuple[str, Any]] = []
        if g.pid == TYPE_OK:
            out.append((TYPE_OK, type_ok(enc, S)))
        elif g.kind == "state":
            out.append((g.pid, enc.state_prop(g.pid, S)))
        for name in self.lemmas_of(g):
            out.append((name, lemma(name).formula(enc, S)))
        return out

    def lemmas_of(self, g: Goal) -> tuple[str, ...]:
        """The strengthening lemmas of ``g`` under this prover's policy."""
        return goal_lemmas(g.pid, self.policy)

    def actions_for(self, g: Goal) -> list[ActionEnc]:
        if g.kind == "state" or g.all_actions:
            return list(self.enc.actions)
        on = PROP_ACTIONS[g.pid]
        if self.lemmas_of(g):  # the lemmas' own obligations are over every action
            return list(self.enc.actions)
        return [a for a in self.enc.actions if a.action in on]

    def query(
        self,
        enc: Encoding,
        S: Sym,
        T: Sym,
        p: Params | None,
        g: Goal,
        inv: str,
        action: str,
        assume: str = "all",
    ) -> tuple[list[Any], Any]:
        """(hypotheses, conclusion) of one obligation, over any universe.

        ``assume`` says which conjuncts of the invariant the hypothesis has on the
        pre-state: ``"all"`` (the obligation), ``"self"`` (only ``inv`` itself, when it
        is a conjunct) or ``"action"`` (none); the Config axioms, TypeOK (for goals other
        than TypeOK) and the action's relation are always assumed.
        """
        hyp = [ax for _, ax in enc.axioms()]
        if action == "Init":
            hyp.append(enc.init(S))
            concl = dict(self.invariant(g, S, enc))[inv]
            return hyp, concl
        assert p is not None
        a = enc.action(action)
        if g.pid != TYPE_OK:
            hyp.append(type_ok(enc, S))
        if assume == "all":
            hyp += [c for _, c in self.invariant(g, S, enc)]
        elif assume == "self":
            hyp += [c for name, c in self.invariant(g, S, enc) if name == inv]
        hyp.append(enc.step(a, S, T, p))
        if inv == USED_TRACKS:
            concl = self.used_tracks(enc, S, T, a, p)
        elif inv == g.pid and g.kind == "action":
            concl = enc.action_prop(g.pid, a, S, T, p)
        else:
            concl = dict(self.invariant(g, T, enc))[inv]
        return hyp, concl

    def obligation_table(self, g: Goal) -> list[tuple[str, str]]:
        """(invariant, action) of every obligation of ``g``, in report order.

        Init for each conjunct of the invariant; then per sub-action: each
        conjunct, the action property itself (action goals), and for PS-1 the
        structural UsedTracksClaims behind the ``used`` abstraction.
        """
        names = [name for name, _ in self.invariant(g, self.S)]
        extra = [g.pid] if g.kind == "action" else []
        if g.pid == "PS-1":
            extra.append(USED_TRACKS)
        return [(name, "Init") for name in names] + [
            (name, a.name) for a in self.actions_for(g) for name in (*names, *extra)
        ]

    def prove(
        self,
        pid: str,
        progress: Callable[[int, int], None] | None = None,
        *,
        classify: bool = False,
    ) -> PropertyResult:
        """Every obligation of ``pid``; ``progress(done, total)`` after each one.

        ``classify``: also say how each proved obligation holds (:meth:`classify`); the
        extra queries' time is in each obligation's ``class_seconds``, not in ``seconds``.
        """
        t0 = time.perf_counter()
        g = GOAL_BY_ID[pid]
        table = self.obligation_table(g)
        obs = []
        for inv, action in table:
            ob = self.obligation(g, inv, action)
            if classify:
                self.classify(ob)
            obs.append(ob)
            if progress is not None:
                progress(len(obs), len(table))
        spent = time.perf_counter() - t0 - sum(o.class_seconds for o in obs)
        return PropertyResult(pid, self.variant, obs, spent, self.policy)

    def classify(self, ob: Obligation) -> str:
        """How a decided obligation holds; sets and returns ``ob.klass``.

        - *not proved*: the obligation itself failed (nothing to classify);
        - *by construction*: ``Init`` obligations (their hypothesis assumes no invariant),
          and step obligations for which ``axioms /\\ TypeOK /\\ A => C'`` is unsat: the
          action alone establishes the conclusion (for the goal TypeOK itself, TypeOK is
          not assumed: ``axioms /\\ A => TypeOK'``);
        - *inductive*: not by construction, but ``axioms /\\ TypeOK /\\ C /\\ A => C'`` is
          unsat, with ``C`` the obligation's own conjunct (an action property or
          UsedTracksClaims has none, so it is never inductive: it is by construction or
          needs lemmas);
        - *needs lemmas*: proved, but only with the rest of the invariant (the property's
          strengthening lemmas; for a lemma's obligation, the goal and the other lemmas);
        - *not classified*: a classification query returned unknown within
          its budget ``CLASSIFY_RLIMIT`` (never read as by construction).
        """
        t0 = time.perf_counter()
        ob.klass = self._classify(ob)
        ob.class_seconds = time.perf_counter() - t0
        return ob.klass

    def _classify(self, ob: Obligation) -> str:
        if ob.outcome != PROVED:
            return NOT_PROVED
        if ob.action == "Init":
            return BY_CONSTRUCTION
        g = GOAL_BY_ID[ob.pid]
        p = self.enc.params(self.enc.action(ob.action), "o")
        own = ob.invariant in dict(self.invariant(g, self.S))
        for assume, klass in (("action", BY_CONSTRUCTION), ("self", INDUCTIVE)):
            if assume == "self" and not own:
                break
            if assume == "action" and g.pid == TYPE_OK:
                # TypeOK is the goal: assuming it is "self", so "action" drops it too
                hyp, concl = self._typeok_free(ob, p)
            else:
                hyp, concl = self.query(
                    self.enc, self.S, self.T, p, g, ob.invariant, ob.action, assume
                )
            # a model in a small finite scope (decidable, fast) first: sat there is sat
            # parametrically; only then the parametric query, whose unsat is the answer
            if self._small_model(ob, g, assume):
                continue
            s = self.solver(CLASSIFY_RLIMIT)
            s.add(*hyp)
            r, _, _ = refute(s, concl)
            if r == z3.unsat:
                return klass
            if r == z3.unknown:
                return NOT_CLASSIFIED
        return NEEDS_LEMMAS

    def _small_model(self, ob: Obligation, g: Goal, assume: str) -> bool:
        """A model of a classification query's negation in a small finite scope (sat
        there is sat parametrically: the query does not hold with these hypotheses)."""
        from parsync.proofs.logic import FiniteUniverse

        if not self._finite:
            for sizes, P in CTI_SCOPES:
                fe = Encoding(FiniteUniverse(sizes, P, cycles=3), self.variant, policy=self.policy)
                self._finite.append((fe, fe.state("s"), fe.state("t")))
        for enc, S, T in self._finite:
            a = enc.action(ob.action)
            p = enc.params(a, "c")
            if assume == "action" and g.pid == TYPE_OK:
                hyp = [ax for _, ax in enc.axioms()] + [enc.step(a, S, T, p)]
                concl = type_ok(enc, T)
            else:
                hyp, concl = self.query(enc, S, T, p, g, ob.invariant, ob.action, assume)
            s = self.solver(CLASSIFY_RLIMIT)
            s.add(*hyp)
            s.add(z3.Not(concl))
            if check(s) == z3.sat:
                return True
        return False

    def _typeok_free(self, ob: Obligation, p: Params) -> tuple[list[Any], Any]:
        """``axioms /\\ A => TypeOK'``: TypeOK's obligation without TypeOK assumed."""
        enc = self.enc
        hyp = [ax for _, ax in enc.axioms()]
        hyp.append(enc.step(enc.action(ob.action), self.S, self.T, p))
        return hyp, type_ok(enc, self.T)

    def count(self, pid: str) -> int:
        """How many obligations ``prove(pid)`` discharges."""
        return len(self.obligation_table(GOAL_BY_ID[pid]))

    def obligation(self, g: Goal, inv: str, action: str) -> Obligation:
        t0 = time.perf_counter()
        ob = Obligation(g.pid, inv, action)
        p = None if action == "Init" else self.enc.params(self.enc.action(action), "o")
        hyp, concl = self.query(self.enc, self.S, self.T, p, g, inv, action)
        s = self.solver(self.first_attempt_rlimit)
        s.add(*hyp)
        r, param_model, why = refute(s, concl)
        first_s = time.perf_counter() - t0
        if r == z3.unsat:
            ob.outcome = PROVED
            ob.seconds = first_s
            return ob
        cti = self.small_cti(g, inv, action)
        if cti is None and r == z3.unknown and first_s < self.timeout_s:
            # the budget ran out, not the clock: the full attempt, up to the timeout
            s.set("rlimit", 0)
            r, param_model, why = refute(s, concl)
        if r == z3.unsat:
            ob.outcome = PROVED
        elif cti is not None:
            ob.outcome = CTI
            ob.cti = cti
        elif param_model is not None:
            ob.outcome = CTI
            ctx = Ctx(self.enc, self.S, self.T, self.u, self.variant, self.policy)
            ob.cti = self._decode(ctx, param_model, g.pid, inv, action, p)
            ob.cti.notes.append("found parametrically (no CTI in the small scopes)")
        else:
            ob.outcome = UNKNOWN
            ob.reason = why
        ob.seconds = time.perf_counter() - t0
        return ob

    def nonvacuous(self) -> PropertyResult:
        """No obligation holds vacuously: each hypothesis has a concrete model.

        For Init and every sub-action A, a reachable transition of the Python
        model that takes A (found by BFS of the witness scope, see ``witness.py``)
        is read in its own finite scope, and the parametric hypothesis - the
        axioms, every goal and lemma of every property on its pre-state, and the
        relation of A (Init: the initial state) - is checked on it. ``proved``
        means the witness satisfies all of it (so every obligation's hypothesis is
        satisfiable, and every lemma holds on that reachable state); a missing
        witness or a conjunct it violates is a failure.
        """
        from parsync.proofs.witness import find_witnesses, scope_for

        t0 = time.perf_counter()
        names = [a.name for a in self.enc.actions]
        wit = find_witnesses(names, self.variant, policy=self.policy)
        obs = []
        init_w = next(iter(wit.values()), None)
        for name in ["Init", *names]:
            t = time.perf_counter()
            ob = Obligation(NONVACUOUS, NONVACUOUS, name)
            w = init_w if name == "Init" else wit.get(name)
            if w is None:
                ob.outcome = UNKNOWN
                ob.reason = "no transition of this kind in the witness scope"
                obs.append(ob)
                continue
            sc = scope_for(w, exact=False)
            enc = sc.enc
            S, T = enc.state("s"), enc.state("t")
            hyp: list[tuple[str, Any]] = [(n, ax) for n, ax in enc.axioms()]
            if name == "Init":
                sc.pin_values(S, sc.values(w.model.init_state()))
                hyp.append(("Init", enc.init(S)))
            else:
                sc.pin_values(S, sc.values(w.pre))
                sc.pin_values(T, sc.values(w.post))
                a = enc.action(name)
                hyp.append(
                    (name, enc.step(a, S, T, sc.concrete_params(a, w.action, w.pre, w.post)))
                )
            for g in GOALS:
                hyp += self.invariant(g, S, enc)
            bad = []
            for n, f in hyp:
                sol = z3.Solver()
                sol.add(f)
                if check(sol) != z3.sat:
                    bad.append(n)
            if not bad:  # each holds on the witness; so must all of them together
                sol = z3.Solver()
                sol.add(*(f for _, f in hyp))
                if check(sol) != z3.sat:
                    bad.append("their conjunction")
            ob.seconds = time.perf_counter() - t
            if bad:
                ob.outcome = UNKNOWN
                ob.reason = f"the witness {fmt_action(w.action)} violates {', '.join(bad)}"
            else:
                ob.outcome = PROVED
                ob.reason = "witness: " + (
                    "the initial state" if name == "Init" else fmt_action(w.action)
                )
            obs.append(ob)
        return PropertyResult(NONVACUOUS, self.variant, obs, time.perf_counter() - t0, self.policy)

    def small_cti(self, g: Goal, inv: str, action: str) -> Cti | None:
        """A counterexample to induction in a small finite structure, if one exists."""
        from parsync.proofs.logic import FiniteUniverse

        for sizes, P in CTI_SCOPES:
            u = FiniteUniverse(sizes, P, cycles=3)
            enc = Encoding(u, self.variant, policy=self.policy)
            S, T = enc.state("s"), enc.state("t")
            p = None if action == "Init" else enc.params(enc.action(action), "c")
            hyp, concl = self.query(enc, S, T, p, g, inv, action)
            # in a finite scope used can be stated as the sum it tracks (UsedTracksClaims):
            # assuming it keeps the CTI a state the model can represent; a model found
            # under more hypotheses is still a counterexample to the obligation
            hyp.append(enc.used_is_sum(S))
            s = self.solver(SMALL_SCOPE_RLIMIT)
            s.add(*hyp)
            s.add(z3.Not(concl))
            if check(s) == z3.sat:
                cti = self._decode(
                    Ctx(enc, S, T, u, self.variant, self.policy), s.model(), g.pid, inv, action, p
                )
                desc = ", ".join(f"{k}={v}" for k, v in sizes.items())
                cti.notes.append(f"found in the finite scope {desc}, P={P}")
                return cti
        return None

    def _decode(
        self, ctx: Ctx, mdl: z3.ModelRef, pid: str, inv: str, action: str, p: Params | None
    ) -> Cti:
        a = None if action == "Init" else ctx.enc.action(action)
        try:
            return decode_cti(ctx, mdl, pid, inv, a, p)
        except Exception as e:  # decoding is best effort; the CTI itself stands
            return Cti(decode_error=f"{type(e).__name__}: {e}")

    def used_tracks(self, enc: Encoding, S: Sym, T: Sym, a: ActionEnc, p: Params) -> Any:
        """UsedTracksClaims for one step of ``a`` (with its witness need).

        Under used-counts-claims the same obligation also says that the variant's claim
        counter ``nclaims`` changes by exactly the change of the claims (one per claim),
        which with Init (zero) makes it the number of claims in every reachable state:
        the obligation count is the design's.
        """
        K = enc.K
        if a.action == "Commit":
            n = K.p_n(p["m"])
        elif a.action == "Release":
            n = p["n"]
        else:
            n = enc.u.fresh("anyneed", "N")
        one = enc.i(1)

        def per_bucket(b: Any) -> Any:
            d = T.hold(n, b) - S.hold(n, b)
            du = T.used(b) - S.used(b)
            cases = [
                z3.And(d == 0, du == 0),
                z3.And(d == one, du == K.size(n)),
                z3.And(d == -one, du == -K.size(n)),
            ]
            if enc.v_count_claims:  # the counter moves with the claims, one per claim
                dc = T.nclaims(b) - S.nclaims(b)
                cases = [z3.And(c, dc == d) for c in cases]
            return z3.And(
                enc.all("N", lambda x: z3.Implies(x != n, T.hold(x, b) == S.hold(x, b))),
                z3.Or(*cases),
            )

        return enc.all("B", per_bucket)


def prove(
    pids: tuple[str, ...] = ALL_GOAL_IDS,
    variant: str | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    policy: str = "reference",
) -> list[PropertyResult]:
    pr = Prover(variant, timeout_s=timeout_s, policy=policy)
    return [pr.prove(pid) for pid in pids]


# --- decoding a CTI into the Python model --------------------------------------------------

MAX_DECODE_P = 16


class _Dec:
    """Reads a parametric Z3 model as a concrete Config + states."""

    def __init__(self, pr: Ctx, mdl: z3.ModelRef) -> None:
        self.pr = pr
        self.mdl = mdl
        self.K = pr.enc.K
        self.notes: list[str] = []

    def ev(self, t: Any) -> Any:
        return self.mdl.eval(t, model_completion=True)

    def num(self, t: Any) -> int:
        return as_int(self.ev(t))

    def true(self, t: Any) -> bool:
        return bool(z3.is_true(self.ev(t)))

    def universe(self, sort: str) -> list[Any]:
        if self.pr.u.finite:
            return list(self.pr.u.elems(sort))
        u = self.mdl.get_universe(self.pr.u.sort(sort))
        if u is None or len(u) == 0:
            return [z3.FreshConst(self.pr.u.sort(sort), sort.lower())]
        return list(u)

    def same(self, a: Any, b: Any) -> bool:
        return bool(z3.is_true(self.ev(a == b)))

    def find(self, elems: list[Any], x: Any) -> int:
        for i, e in enumerate(elems):
            if self.same(e, x):
                return i
        raise ValueError(f"{x} is not in the decoded universe")


def decode_cti(
    pr: Ctx, mdl: z3.ModelRef, pid: str, inv: str, a: ActionEnc | None, p: Params | None
) -> Cti:
    d = _Dec(pr, mdl)
    K = d.K
    cti = Cti(pid=pid, variant=pr.variant)
    P = d.num(pr.enc.P)
    if not 1 <= P <= MAX_DECODE_P:
        cti.decode_error = f"P = {P} (decoding is limited to 1..{MAX_DECODE_P} partitions)"
        return cti
    Ws = d.universe("W")
    Bs = sorted(d.universe("B"), key=lambda b: d.num(K.bidx(b)))
    Ns = sorted(d.universe("N"), key=lambda n: d.num(K.rank(n)))
    act_gang: dict[int, int] = {}
    if a is not None and p is not None and a.action == "Propose":
        ni = d.find(Ns, p["n"])
        act_gang[ni] = sum(1 for b in Bs if d.true(K.p_tch(p["m"], b)))
    needs = []
    for i, n in enumerate(Ns):
        elig = tuple(j for j, b in enumerate(Bs) if d.true(K.elig(n, b)))
        needs.append(
            Need(
                owner=d.find(Ws, K.owner(n)),
                priority=d.num(K.prio(n)),
                arrival=d.num(K.arrival(n)),
                gang=act_gang.get(i, 1),
                size=d.num(K.size(n)),
                eligible=elig,
            )
        )
    adaptive = d.true(K.adaptive())
    mode0 = d.num(K.init_mode())
    strategy = "adaptive" if adaptive else ("latency-first" if mode0 == 0 else "quality-first")
    try:
        cfg = Config(
            workers=len(Ws),
            partitions=P,
            capacities=tuple(d.num(K.cap(b)) for b in Bs),
            needs=tuple(needs),
            retry_budget=d.num(K.R()),
            strategy=strategy,
            max_cycle=d.num(K.max_cycle()),
            faults=Faults(
                crash=d.num(K.max_crash()),
                drop=d.num(K.max_drop()),
                duplicate=d.num(K.max_dup()),
                failover=d.num(K.max_failover()),
                **(
                    {"timeout": d.num(K.max_timeout()), "extra_read": d.num(K.max_xread())}
                    if pr.enc.contract
                    else {}
                ),
            ),
            partition_map=tuple(d.num(K.part(b)) for b in Bs),
        )
    except ConfigError as e:
        cti.decode_error = f"the constants are not a valid Config: {e}"
        return cti
    cti.config = cfg
    model = ParSyncModel(cfg, pr.variant, policy=pr.policy)
    contract = pr.enc.contract
    PMs = [m for m in d.universe("PM")]
    RMs = [r for r in d.universe("RM")]

    def proposal(m: Any) -> Proposal:
        reads = tuple((j, d.num(K.p_rd(m, b))) for j, b in enumerate(Bs) if d.true(K.p_tch(m, b)))
        return Proposal(
            worker=d.find(Ws, K.p_w(m)),
            need=d.find(Ns, K.p_n(m)),
            priority=d.num(K.p_prio(m)),
            epoch=d.num(K.p_epoch(m)),
            reads=reads,
            cycle=d.num(K.p_cycle(m)),
            attempt=d.num(K.p_att(m)),
            fresh=d.num(K.p_fresh(m)),
        )

    def reply(r: Any) -> Reply:
        return Reply(
            worker=d.find(Ws, K.r_w(r)),
            need=d.find(Ns, K.r_n(r)),
            kind=d.num(K.r_kind(r)),
            cycle=d.num(K.r_cycle(r)),
            attempt=d.num(K.r_att(r)),
            buckets=tuple(j for j, b in enumerate(Bs) if d.true(K.r_bk(r, b))),
        )

    def state(S: Sym, which: str) -> State:
        def broker_part(pre: str) -> tuple[Any, Any, Any, Any]:
            seq = tuple(d.num(getattr(S, pre + "seq")(b)) for b in Bs)
            claims = []
            for j, b in enumerate(Bs):
                cl: list[int] = []
                for i, n in enumerate(Ns):
                    h = d.num(getattr(S, pre + "hold")(n, b))
                    if h < 0:
                        raise ValueError(f"{which}: claims hold need {i} {h} times on bucket {j}")
                    cl += [i] * h
                claims.append(tuple(sorted(cl)))
                used = d.num(getattr(S, pre + "used")(b))
                real = sum(cfg.needs[n].size for n in cl)
                if used != real and not pre:
                    d.notes.append(
                        f"{which}: used[{j}] = {used} but the claims sum to {real} (a state "
                        "outside UsedTracksClaims; the model computes used from the claims)"
                    )
                if pr.enc.v_count_claims and not pre:
                    nc = d.num(S.nclaims(b))
                    if nc != len(cl):
                        d.notes.append(
                            f"{which}: nclaims[{j}] = {nc} but bucket {j} holds {len(cl)} "
                            "claims (a state outside UsedTracksClaims; the model counts them)"
                        )
            ledger = tuple(
                tuple(j for j, b in enumerate(Bs) if d.true(getattr(S, pre + "ledger")(n, b)))
                for n in Ns
            )
            status = tuple(d.num(getattr(S, pre + "status")(n)) for n in Ns)
            return seq, tuple(claims), ledger, status

        seq, claims, ledger, status = broker_part("")
        replica = broker_part("r_") if pr.enc.v_lagging else None
        tags: tuple[tuple[int, int], ...] = ()
        if pr.enc.v_dedup_wc:  # the variant's memory: (worker, cycle) pairs, cycles <= bound
            tags = tuple(
                (wi, c)
                for wi, w in enumerate(Ws)
                for c in range(cfg.max_cycle + 1)
                if d.true(S.wctag(w, pr.u.num(c)))
            )
        br = Broker(d.num(S.epoch()), seq, claims, ledger, status, replica, tags)
        workers = []
        for wi, w in enumerate(Ws):
            view = []
            for q in range(P):
                k = d.num(S.nsnap(w, pr.u.num(q)))
                if k < 0:
                    raise ValueError(f"{which}: worker {wi} has {k} snapshots of partition {q}")
                members = [j for j in range(len(Bs)) if cfg.partition_of(j) == q]
                snap = Snapshot(
                    d.num(S.vat(w, pr.u.num(q))),
                    tuple((d.num(S.vseq(w, Bs[j])), d.num(S.vused(w, Bs[j]))) for j in members),
                )
                view.append((snap,) * k)
            pending = tuple(i for i, n in enumerate(Ns) if d.true(S.pend(w, n)))
            known = sum(1 << i for i, n in enumerate(Ns) if d.true(S.known(w, n)))
            sent = d.num(S.attempts(w))
            parked: tuple[tuple[int, int, int, int], ...] = ()
            if contract:  # the need in hand first, the rest in the fixed order
                heads = [i for i, n in enumerate(Ns) if d.true(S.hd(w, n))]
                if len(heads) > 1 or (pending and heads and heads[0] not in pending):
                    raise ValueError(f"{which}: worker {wi} has needs in hand {heads}")
                if pending and not heads:
                    raise ValueError(f"{which}: worker {wi} has pending needs but none in hand")
                if heads:
                    pending = (heads[0], *(i for i in pending if i != heads[0]))
                sent = d.num(S.sent(w))
                parked = tuple(
                    (i, d.num(S.pkr(w, n)), d.num(S.pka(w, n)), d.num(S.pks(w, n)))
                    for i, n in enumerate(Ns)
                    if d.true(S.pk(w, n))
                )
            workers.append(
                Worker(
                    up=d.true(S.up(w)),
                    cycle=d.num(S.cycle(w)),
                    mode=d.num(S.mode(w)),
                    epoch=d.num(S.wepoch(w)),
                    fresh_at=tuple(d.num(S.fresh(w, pr.u.num(q))) for q in range(P)),
                    view=tuple(view),
                    pending=pending,
                    waiting=d.true(S.waiting(w)),
                    retries=d.num(S.retries(w)),
                    attempts=d.num(S.attempts(w)),
                    known=known,
                    # the reference encoding's attempt count is the proposal count (no
                    # tag bug is encoded there): the ghost equals it; the contract's
                    # encoding has the ghost itself
                    sent=sent,
                    parked=parked,
                    reread=sum(1 << q for q in range(P) if d.true(S.rr(w, pr.u.num(q)))),
                )
            )
        to_b: list[Proposal] = []
        for m in PMs:
            c = d.num(S.pc(m))
            if c < 0:
                raise ValueError(f"{which}: a proposal is in flight {c} times")
            to_b += [proposal(m)] * c
        inbox: list[Proposal] = []
        if contract:  # the broker's inbox
            for m in PMs:
                c = d.num(S.ic(m))
                if c < 0:
                    raise ValueError(f"{which}: a proposal is in the inbox {c} times")
                inbox += [proposal(m)] * c
        to_w: list[Reply] = []
        for r in RMs:
            c = d.num(S.rc(r))
            if c < 0:
                raise ValueError(f"{which}: a reply is in flight {c} times")
            to_w += [reply(r)] * c
        return State(
            broker=br,
            workers=tuple(workers),
            to_broker=tuple(sorted(to_b)),
            to_workers=tuple(sorted(to_w)),
            faults=(d.num(S.crashes()), d.num(S.drops()), d.num(S.dups()))
            + ((d.num(S.timeouts()), d.num(S.xreads())) if contract else ()),
            placed=tuple(d.num(S.placed(n)) for n in Ns),
            inbox=tuple(sorted(inbox)),
        )

    try:
        pre = state(pr.S, "pre-state")
        cti.pre = pre
        prop = get_property(pid) if pid != TYPE_OK else None
        if a is None:  # Init: only the initial state matters
            cti.post = pre
            if prop is not None and prop.state_pred is not None:
                cti.python_post = prop.state_pred(model, pre)
            cti.notes = d.notes
            return cti
        post = state(pr.T, "post-state")
        cti.post = post
        assert p is not None
        sorts = {"W": Ws, "N": Ns}
        act = action_of(
            a,
            p,
            lambda sort, x: d.num(x) if sort == "P" else d.find(sorts[sort], x),
            proposal,
            reply,
        )
        cti.action = act
    except ValueError as e:
        cti.decode_error = str(e)
        return cti
    if prop is None:
        pass
    elif prop.state_pred is not None:
        cti.python_pre = prop.state_pred(model, pre)
        cti.python_post = prop.state_pred(model, post)
    elif prop.action_pred is not None:
        cti.python_post = prop.action_pred(model, pre, act, post)
    try:
        t = model.step(pre, act)
    except Exception as e:  # an unreachable pre-state may trip the model's own assertions
        t = None
        cti.replay = f"raised {type(e).__name__}: {e}"
    if t is None:
        cti.replay = cti.replay or "not enabled in the model (pre-state outside its reach)"
    else:
        try:
            same = _same_values(model, t, post)
        except ValueError as e:
            same = f"not comparable: {e}"
        cti.replay = "agrees" if same == "" else f"differs: {same}"
        if prop is not None and prop.action_pred is not None and same == "":
            cti.python_post = prop.action_pred(model, pre, act, t)
    cti.notes = d.notes
    return cti


def _same_values(model: ParSyncModel, a: State, b: State) -> str:
    msgs_p = sorted(set(a.to_broker) | set(b.to_broker) | set(a.inbox) | set(b.inbox))
    msgs_r = sorted(set(a.to_workers) | set(b.to_workers))
    va = values(model, a, msgs_p, msgs_r)
    vb = values(model, b, msgs_p, msgs_r)
    bad = sorted(k for k in va if va[k] != vb.get(k))
    return ", ".join(bad)
