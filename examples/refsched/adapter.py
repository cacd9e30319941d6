"""The conformance adapter: the suite's step calls, made synchronous over the threads.

Each step method hands one command to the thread that owns the step (the
worker's, the broker's) and waits for it to finish, with a timeout; the
network runs in CONTROLLED mode, so nothing else moves in between. See
``conformance/adapter.py`` of the spec project for the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parsync.refsched.broker import CommitBroker
from parsync.refsched.cluster import Cluster, Components
from parsync.refsched.network import Mode
from parsync.refsched.settings import Settings
from parsync.refsched.store import DurableStore
from parsync.refsched.worker import Worker


class AdapterStepError(RuntimeError):
    """A step the scheduler cannot take in its current state (a driver bug)."""


class RefSchedAdapter:
    def __init__(
        self,
        *,
        broker: type[CommitBroker] = CommitBroker,
        worker: type[Worker] = Worker,
        store: type[DurableStore] = DurableStore,
        step_timeout: float = 5.0,
    ) -> None:
        self.components = Components(broker=broker, worker=worker, store=store)
        self.step_timeout = step_timeout
        self._cluster: Cluster | None = None

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            raise AdapterStepError("reset(config) must come before any step")
        return self._cluster

    # --- the contract -------------------------------------------------------------------
    def reset(self, config: Mapping[str, Any]) -> None:
        self.close()
        cluster = Cluster(
            Settings.from_config(config),
            Mode.CONTROLLED,
            self.components,
            step_timeout=self.step_timeout,
        )
        self._cluster = cluster
        cluster.start()

    def start_cycle(self, worker: int) -> None:
        self.cluster.on_worker(worker, lambda w: w.start_cycle())

    def schedule(self, worker: int) -> None:
        self.cluster.on_worker(worker, lambda w: w.schedule())

    def broker_step(self) -> None:
        if self.cluster.broker_step() is None:
            raise AdapterStepError("the broker's queue is empty")

    def deliver(self, message_id: str) -> None:
        c = self.cluster
        env = c.network.get(message_id)
        if env.to_broker:
            raise AdapterStepError(
                f"{message_id} is a proposal: the broker takes proposals with broker_step()"
            )
        c.on_worker(env.reply.worker, lambda w: w.take_reply(message_id))

    def release(self, need: int) -> None:
        self.cluster.release(need)

    def crash(self, worker: int) -> None:
        self.cluster.crash(worker)

    def recover(self, worker: int) -> None:
        self.cluster.recover(worker)

    def drop(self, message_id: str) -> None:
        self.cluster.network.drop(message_id)

    def duplicate(self, message_id: str) -> None:
        self.cluster.network.duplicate(message_id)

    def failover(self) -> None:
        self.cluster.failover()

    def observe(self) -> Mapping[str, Any]:
        return self.cluster.observe()

    def close(self) -> None:
        if self._cluster is not None:
            cluster, self._cluster = self._cluster, None
            cluster.close()


def parsync_adapter() -> RefSchedAdapter:
    """The factory the conformance suite calls (``--impl=parsync.refsched``)."""
    return RefSchedAdapter()
