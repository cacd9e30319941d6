"""The model as the liveness engine explores it: known-bad liveness variants and
the steady workload.

Why a subclass and not switches in ``protocol.py``: the liveness mistakes below
are behaviours of the same actions (a retry, a timeout, the adaptive switch),
so they override one small method each of :class:`ParSyncModel`, and the
hashed model sources (``spec/manifest.json``, ``docs/proofs.md``) stay as they
are. Every safety variant of ``model/variants.py`` is accepted too.

Liveness variants (each breaks the property it names; ``needs`` says what the
scope must contain):

* ``retry-without-reread`` (PS-L2): on Conflict the worker retries from its
  unchanged carry-forward view, and a need past its budget goes back into the
  same cycle's queue. The stale read never changes, so the CAS fails forever:
  the livelock ADR-0031's "forced freshness on that partition" prevents.
* ``lost-proposal-no-timeout`` (PS-L2): a worker whose proposal (or its reply)
  was dropped waits for an answer that never comes; its cycle never ends.
* ``idle-worker-sleeps`` (PS-L1): a worker with no unplaced need of its own
  stops starting cycles, so its carry-forward view is never refreshed again.
  Staleness counted in cycles (PS-3) cannot see it: the cycle counter stops too.
* ``adaptive-toggles-on-defer`` (PS-L3): the adaptive strategy flips its mode
  on every deferral (instead of widening to quality-first once), so a need that
  keeps being deferred makes the mode oscillate forever.
* ``rotation-skips-partition`` (PS-L1) is the safety variant of the same name:
  a partition that rotation never reaches is never refreshed.

The steady workload (``steady=True``): a released need arrives again at its
owner as a new instance (``Release`` makes its status UNPLACED; the owner's
next ``StartCycle`` forgets that it knew the need was placed), so the load
never drains. ADR-0031's oscillation risk is about a steady workload; with the
finite workload of the presets, every need is placed and released once and
the adaptive mode can only change finitely often.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TypeVar

from parsync.model.actions import StartCycle
from parsync.model.config import Config, Faults, Need
from parsync.model.presets import PRESETS
from parsync.model.protocol import ParSyncModel
from parsync.model.state import CONFLICT, LATENCY, QUALITY, UNPLACED, Broker, Reply, Worker
from parsync.model.variants import VARIANT_NAMES

_Move = tuple[object, Worker, object, int]


@dataclass(frozen=True)
class LivenessVariant:
    name: str
    breaks: str  # the liveness property the variant is built to break
    summary: str  # the mistake, in one line
    needs: str  # what the scope must contain for the bug to show
    scope: str  # a name of LIVENESS_SCOPES where the bug shows


LIVENESS_VARIANTS: tuple[LivenessVariant, ...] = (
    LivenessVariant(
        "rotation-skips-partition",
        "PS-L1",
        "Rotation computes cycle mod (P-1) and never refreshes the last partition "
        "(the safety variant of the same name).",
        "two partitions",
        scope="calm",
    ),
    LivenessVariant(
        "idle-worker-sleeps",
        "PS-L1",
        "A worker with no unplaced need of its own stops starting cycles, so its view "
        "is never refreshed again (PS-3 cannot see it: its cycle counter stops too).",
        "a worker whose needs are all placed",
        scope="calm",
    ),
    LivenessVariant(
        "retry-without-reread",
        "PS-L2",
        "On Conflict the worker retries from its unchanged view (no forced fresh read) "
        "and requeues a need past its budget in the same cycle: the CAS fails forever.",
        "a Conflict",
        scope="calm",
    ),
    LivenessVariant(
        "lost-proposal-no-timeout",
        "PS-L2",
        "A worker whose proposal or reply was dropped waits for the answer forever.",
        "drop fault",
        scope="lossy",
    ),
    LivenessVariant(
        "adaptive-toggles-on-defer",
        "PS-L3",
        "The adaptive strategy flips its mode on every deferral instead of widening "
        "to quality-first once.",
        "adaptive strategy and a need that never fits (deferred every cycle)",
        scope="never-fits",
    ),
)


@dataclass(frozen=True)
class LivenessScope:
    """A scope ``parsync check --liveness --preset NAME`` accepts.

    ``steady`` is the scope's workload: a scope built to show behaviour under a
    workload that never drains says so itself, so that naming it gives the
    answer it was built for (``--steady`` forces the steady workload on any scope).
    """

    name: str
    summary: str
    config: Config
    steady: bool = False


# Scopes for liveness runs: the presets, plus small faultless and lossy variants of
# `small` (seconds, where small itself takes a minute), the largest crash scope measured
# to finish (pr's lifted graph does not: docs/liveness.md), one where a need never fits,
# so that it is deferred in every cycle forever (the finite workload of the presets
# places every need eventually: no deferral repeats forever there), and the
# smallest steady scope where adaptive mode oscillates.
LIVENESS_SCOPE_TABLE: tuple[LivenessScope, ...] = (
    *(LivenessScope(p.name, p.summary, p.config) for p in PRESETS.values()),
    LivenessScope(
        "calm",
        "the small preset without faults",
        replace(PRESETS["small"].config, faults=Faults()),
    ),
    LivenessScope(
        "lossy",
        "the small preset with message loss only (drop=1)",
        replace(PRESETS["small"].config, faults=Faults(drop=1)),
    ),
    LivenessScope(
        "lossy-crash",
        "the pr preset without failover: crashes and message loss (minutes)",
        replace(PRESETS["pr"].config, faults=Faults(crash=1, drop=1)),
    ),
    LivenessScope(
        "never-fits",
        "one worker, one gang that never fits: deferred in every cycle forever",
        Config(
            workers=1,
            partitions=2,
            capacities=(1, 1),
            needs=(Need(owner=0, priority=1, arrival=1, size=2),),
            strategy="adaptive",
            max_cycle=2,
        ),
    ),
    # The smallest scope where the adaptive strategy has both of its triggers
    # under a steady workload: worker 0 places a gang across both partitions
    # (latency-first never sees both fresh: Defer, widen to quality-first) while
    # worker 1's single-bucket need keeps changing seqnos (Conflict, narrow to
    # latency-first). Equal priorities: no proposal is held back by priority.
    LivenessScope(
        "steady-contention",
        "steady workload: a cross-partition gang against a single-bucket need",
        Config(
            workers=2,
            partitions=2,
            capacities=(1, 1),
            needs=(Need(owner=0, gang=2), Need(owner=1)),
            strategy="adaptive",
            max_cycle=2,
        ),
        steady=True,
    ),
)
LIVENESS_SCOPES: dict[str, Config] = {sc.name: sc.config for sc in LIVENESS_SCOPE_TABLE}

LIVENESS_VARIANT_NAMES: tuple[str, ...] = tuple(v.name for v in LIVENESS_VARIANTS)
_OWN = frozenset(LIVENESS_VARIANT_NAMES) - frozenset(VARIANT_NAMES)
#: the liveness variants that are not safety variants: each rewrites a step of the
#: reference policy (its heuristics), so they are defined on that policy only
LIVENESS_ONLY_VARIANTS = _OWN
_BY_NAME = {v.name: v for v in LIVENESS_VARIANTS}


_SCOPES = {sc.name: sc for sc in LIVENESS_SCOPE_TABLE}
_T = TypeVar("_T")


def _by_name(table: dict[str, _T], name: str, what: str) -> _T:
    """``table[name]``, or a KeyError whose message is the one line the CLI prints."""
    try:
        return table[name]
    except KeyError:
        raise KeyError(f"unknown {what} {name!r}; known: {', '.join(table)}") from None


def get_liveness_variant(name: str) -> LivenessVariant:
    return _by_name(_BY_NAME, name, "liveness variant")


def get_liveness_scope(name: str) -> LivenessScope:
    """A liveness scope by name: a preset, or one of the liveness-only scopes."""
    return _by_name(_SCOPES, name, "liveness scope")


class LivenessModel(ParSyncModel):
    """ParSyncModel plus the liveness variants and the steady workload.

    Takes every variant name of ``model/variants.py`` and of
    :data:`LIVENESS_VARIANTS`; behaves exactly like ``ParSyncModel`` when the
    variant is a safety variant (or None) and ``steady`` is off.
    """

    def __init__(
        self,
        config: Config,
        variant: str | None = None,
        *,
        steady: bool = False,
        memo: bool = True,
        policy: str = "reference",
    ) -> None:
        own = variant in _OWN
        if own and policy != "reference":
            raise ValueError(f"liveness variant {variant!r} is defined on the reference policy")
        if variant is not None and variant not in VARIANT_NAMES and not own:
            raise KeyError(
                f"unknown variant {variant!r}; known variants: "
                f"{', '.join((*VARIANT_NAMES, *sorted(_OWN)))}"
            )
        super().__init__(config, None if own else variant, memo=memo, policy=policy)
        self.variant = variant
        self.steady = steady
        self.v_no_reread = variant == "retry-without-reread"
        self.v_no_timeout = variant == "lost-proposal-no-timeout"
        self.v_sleeps = variant == "idle-worker-sleeps"
        self.v_toggle = variant == "adaptive-toggles-on-defer"

    # --- worker steps ------------------------------------------------------------
    def _worker_moves(self, wi: int, w: Worker, br: Broker) -> Iterator[_Move]:  # type: ignore[override]
        for mv in super()._worker_moves(wi, w, br):
            if isinstance(mv[0], StartCycle) and w.up:
                if self.v_no_timeout and w.waiting:
                    continue  # no timeout: the worker waits for its answer forever
                if self.v_sleeps and not self._has_work(wi, w):
                    continue  # nothing to place: the worker sleeps
            yield mv

    def _has_work(self, wi: int, w: Worker) -> bool:
        return any(not (w.known >> n) & 1 for n in self.needs_of[wi])

    def start_cycle(self, wi: int, w: Worker, br: Broker) -> Worker:
        if self.steady:
            # a released need has arrived again: the owner forgets it was placed
            again = 0
            for n in self.needs_of[wi]:
                if br.status[n] == UNPLACED and (w.known >> n) & 1:
                    again |= 1 << n
            if again:
                w = w._replace(known=w.known & ~again)
        return super().start_cycle(wi, w, br)

    def defer(self, w: Worker) -> Worker:
        if not self.v_toggle:
            return super().defer(w)
        w = self._next_need(w)
        if self.adaptive:
            w = w._replace(mode=QUALITY if w.mode == LATENCY else LATENCY)
        return w

    def _handle(self, r: Reply, w: Worker, br: Broker) -> Worker:
        if not (self.v_no_reread and r.kind == CONFLICT):
            return super()._handle(r, w, br)
        if not (
            w.waiting and r.need == w.pending[0] and r.cycle == w.cycle and r.attempt == w.attempts
        ):
            return w  # a stale reply: discarded, as in the correct model
        if self.adaptive and w.mode == QUALITY:
            w = w._replace(mode=LATENCY)
        if w.retries + 1 > self.R:  # past the budget: back into this cycle's queue
            return w._replace(
                pending=(*w.pending[1:], w.pending[0]),
                waiting=False,
                retries=0,
                attempts=0,
                sent=0,
            )
        return w._replace(waiting=False, retries=w.retries + 1)

    # --- broker steps ------------------------------------------------------------
    def release(self, br: Broker, n: int) -> Broker:
        nb = super().release(br, n)
        if not self.steady:
            return nb
        status = list(nb.status)
        status[n] = UNPLACED  # the need arrives again as a new instance
        return self.intern(nb._replace(status=tuple(status)))
