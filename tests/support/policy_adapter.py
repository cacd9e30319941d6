"""Model-backed adapters that make the choices ADR-0031 leaves open differently.

Each factory is the contract model driven by one policy the issue tracker's
users were rejected for (issue 13, "Why"), each of them safe: FIFO pending
needs, a need held back although it fits, the adaptive mode decided once per
cycle, a broker that answers with any true reply (already-placed, then
conflict, then fenced, before committing), a recovery that re-reads partitions
one at a time, and an observation without the optional fields. The
conformance lockstep must accept every one of them under ``--parsync-policy
contract`` and reject the observable ones under ``reference``
(tests/test_contract_conformance.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parsync.conformance.observe import observation_of
from parsync.model.actions import (
    Commit,
    Defer,
    Propose,
    Recover,
    Refresh,
    Reject,
    Restart,
    StartCycle,
)
from parsync.model.state import ALREADY, CONFLICT, FENCED, LATENCY, MODES, QUALITY
from tests.support.model_adapter import ModelAdapter

POLICIES = (
    "fifo",
    "hold-back",
    "mode-per-cycle",
    "broker-any-reply",
    "recover-one-at-a-time",
    "fields-left-out",
)

_REPLY_ORDER = (ALREADY, CONFLICT, FENCED)  # the reference checks FENCED first


class PolicyAdapter(ModelAdapter):
    def __init__(self, choice: str, model_policy: str = "contract") -> None:
        assert choice in POLICIES, choice
        super().__init__(policy=model_policy)
        self.choice = choice
        self.calls = 0
        self.modes: list[int] = []
        self.conflicted: list[bool] = []  # saw a conflict in the current cycle

    def reset(self, config: Mapping[str, Any]) -> None:
        super().reset(config)
        assert self.m is not None
        self.calls = 0
        self.modes = [self.m.initial_mode] * self.m.W
        self.conflicted = [False] * self.m.W

    def _pick(self, pred: Any, key: Any) -> None:
        assert self.m is not None and self.s is not None
        opts = [(a, t) for a, t in self.m.successors(self.s) if pred(a)]
        if not opts:
            raise RuntimeError("step not enabled")
        self.s = min(opts, key=lambda at: key(at[0]))[1]
        self._receive()

    def start_cycle(self, worker: int) -> None:
        super().start_cycle(worker)
        # the mode for the whole new cycle: latency-first after a cycle with a conflict
        self.modes[worker] = LATENCY if self.conflicted[worker] else QUALITY
        self.conflicted[worker] = False

    def schedule(self, worker: int) -> None:
        assert self.m is not None and self.s is not None
        self.calls += 1
        w = self.s.workers[worker]
        head = w.pending[0] if w.pending else -1

        def need(a: Any) -> int:
            return head if a.n < 0 else a.n

        if self.choice == "recover-one-at-a-time":
            unread = [p for p in range(self.m.P) if not w.view[p]]
            if unread:  # re-read one partition, then schedule on what is read
                self._pick(lambda a: a == Refresh(worker, unread[0]), lambda a: 0)
        if self.choice == "fifo":
            # arrival, then id; a Propose before a Defer of the same need
            self._pick(
                lambda a: isinstance(a, Propose | Defer) and a.w == worker,
                lambda a: (
                    self.m.arrival[need(a)],  # type: ignore[union-attr]
                    need(a),
                    isinstance(a, Defer),
                    a,
                ),
            )
        elif self.choice == "hold-back" and self.calls % 2 == 0:
            # every other call holds the head back, whether or not it fits
            self._pick(lambda a: a == Defer(worker), lambda a: 0)
        else:
            super().schedule(worker)

    def broker_step(self) -> None:
        if self.choice != "broker-any-reply":
            return super().broker_step()
        assert self.m is not None and self.s is not None
        acts = [a for a, _ in self.m.successors(self.s)]
        rejects = [a for a in acts if isinstance(a, Reject)]
        # a proposal the reference would commit first stays with its Commit; one
        # with any true rejection gets the first of already-placed, conflict, fenced
        if rejects:
            self._pick(
                lambda a: isinstance(a, Reject),
                lambda a: (_REPLY_ORDER.index(a.kind), repr(a.m)),
            )
        else:
            self._pick(lambda a: isinstance(a, Commit), lambda a: repr(a.m))

    def recover(self, worker: int) -> None:
        if self.choice == "recover-one-at-a-time":
            self._do(lambda a: a == Restart(worker))
        else:
            self._do(lambda a: a == Recover(worker))

    def deliver(self, message_id: str) -> None:
        r = self._msg(message_id)
        if r.kind == CONFLICT:
            self.conflicted[r.worker] = True
        super().deliver(message_id)

    def observe(self) -> Mapping[str, Any]:
        obs = dict(observation_of(self.s))  # type: ignore[arg-type]
        if self.choice == "mode-per-cycle":
            for i, w in enumerate(obs["workers"]):
                w["mode"] = MODES[self.modes[i]]
        if self.choice == "fields-left-out":
            obs["workers"] = [
                {k: v for k, v in w.items() if k not in ("mode", "pending", "waiting", "retries")}
                for w in obs["workers"]
            ]
        return obs


def __getattr__(name: str) -> Any:
    """``policy_<name>`` factories, e.g. ``tests.support.policy_adapter:policy_fifo``."""
    if name.startswith("policy_"):
        p = name[len("policy_") :].replace("_", "-")
        if p in POLICIES:
            return lambda: PolicyAdapter(p)
    raise AttributeError(name)


__all__ = ["POLICIES", "PolicyAdapter", "StartCycle"]
