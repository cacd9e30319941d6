"""An adapter backed by the model itself: the suite's own self-test fixture.

Not a scheduler: it makes the contract model's first allowed choice at every
step (the head need, the lowest bucket set, the first unblocked proposal), so a
lockstep run against it must never diverge. Its broker receives every proposal
the moment it is sent (the contract's Deliver, taken after each step) and its
observations say so (``at``), as a scheduler whose broker queues what arrives does.
Like any time-paced worker it starts a cycle whenever the suite says one begins (the
contract model, unbudgeted as the lockstep's is). A `variant=` argument makes it a
model of a known-bad design, which the suite must then reject.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parsync.conformance.driver import lockstep_model
from parsync.conformance.observe import observation_of
from parsync.model.actions import (
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
    Release,
    StartCycle,
)
from parsync.model.config import config_from_dict
from parsync.model.protocol import ParSyncModel  # noqa: F401 (the type of .m)
from parsync.model.state import State


class ModelAdapter:
    def __init__(self, variant: str | None = None, policy: str = "contract") -> None:
        self.variant = variant
        self.policy = policy
        self.m: ParSyncModel | None = None
        self.s: State | None = None

    def reset(self, config: Mapping[str, Any]) -> None:
        self.m = lockstep_model(config_from_dict(dict(config)), self.policy, self.variant)
        self.s = self.m.init_state()

    def _do(self, pred: Any) -> None:
        assert self.m is not None and self.s is not None
        for a, t in self.m.successors(self.s):
            if pred(a):
                self.s = t
                self._receive()
                return
        raise RuntimeError("step not enabled")

    def _receive(self) -> None:
        """The broker receives every proposal in flight (contract: Deliver each)."""
        assert self.m is not None and self.s is not None
        if not self.m.contract:
            return
        while self.s.to_broker:
            t = self.m.step(self.s, Deliver(self.s.to_broker[0]))
            assert t is not None
            self.s = t

    def _msg(self, mid: str) -> Any:
        assert self.s is not None
        where, i = mid[0], int(mid[1:])
        bag = {"b": self.s.to_broker, "i": self.s.inbox}.get(where, self.s.to_workers)
        return bag[i]

    def start_cycle(self, worker: int) -> None:
        self._do(lambda a: a == StartCycle(worker))

    def schedule(self, worker: int) -> None:
        # the head need (a Propose or Defer naming no other need), as the reference
        self._do(lambda a: isinstance(a, (Propose, Defer)) and a.w == worker and a.n < 0)

    def broker_step(self) -> None:
        self._do(lambda a: isinstance(a, Commit))  # the contract's Reject: never chosen

    def deliver(self, message_id: str) -> None:
        r = self._msg(message_id)
        self._do(lambda a: a == HandleReply(r))

    def release(self, need: int) -> None:
        self._do(lambda a: a == Release(need))

    def crash(self, worker: int) -> None:
        self._do(lambda a: a == Crash(worker))

    def recover(self, worker: int) -> None:
        self._do(lambda a: a == Recover(worker))

    def _back_to_network(self, message_id: str) -> None:
        """A fault on a proposal the broker has queued (an ``i`` id): as a scheduler whose
        network may still lose or copy what its broker queued (the reference policy's
        lockstep offers it; the contract's never does), it is put back in flight first."""
        assert self.s is not None
        if message_id.startswith("i"):
            p = self._msg(message_id)
            inbox = list(self.s.inbox)
            inbox.remove(p)
            self.s = self.s._replace(
                to_broker=tuple(sorted((*self.s.to_broker, p))), inbox=tuple(inbox)
            )

    def drop(self, message_id: str) -> None:
        m = self._msg(message_id)
        self._back_to_network(message_id)
        self._do(lambda a: a == Drop(m))

    def duplicate(self, message_id: str) -> None:
        m = self._msg(message_id)
        self._back_to_network(message_id)
        self._do(lambda a: a == Duplicate(m))

    def failover(self) -> None:
        self._do(lambda a: a == Failover())

    def observe(self) -> Mapping[str, Any]:
        assert self.s is not None
        return observation_of(self.s)

    def close(self) -> None:
        pass


def parsync_adapter() -> ModelAdapter:
    return ModelAdapter()


def __getattr__(name: str) -> Any:
    """``variant_<name>`` factories: the model of a known-bad design, e.g.
    ``--impl=tests.support.model_adapter:variant_no_epoch_fencing``."""
    if name.startswith("variant_"):
        from parsync.model.variants import VARIANT_NAMES

        v = name[len("variant_") :].replace("_", "-")
        if v in VARIANT_NAMES:
            return lambda: ModelAdapter(v)
    raise AttributeError(name)
