"""Wiring: one broker epoch at a time, the workers, the network, the store.

:class:`Cluster` owns every thread. In CONTROLLED mode nothing happens unless a
method is called, and each method returns once its step has completely
happened (the adapter is a thin layer over this). In FREE mode every actor runs
on its own: workers cycle on a timer, the network delivers with random delays
and faults, the broker drains its queue, and placed needs complete after a
random time (``Completions``); faults can still be injected by calling
``crash``/``recover``/``failover``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from parsync.refsched.actor import Actor, ActorStopped, StepTimeout
from parsync.refsched.broker import CommitBroker, PartitionData, ReadNote
from parsync.refsched.events import Event, EventLog
from parsync.refsched.messages import COMMITTED
from parsync.refsched.network import Mode, Network, NetworkFaults
from parsync.refsched.settings import Settings
from parsync.refsched.store import PLACED, UNPLACED, BrokerState, DurableStore
from parsync.refsched.worker import Pacing, Worker


@dataclass(frozen=True)
class Components:
    """The classes a cluster is built from (a mutant swaps one of them)."""

    broker: type[CommitBroker] = CommitBroker
    worker: type[Worker] = Worker
    store: type[DurableStore] = DurableStore


@dataclass(frozen=True)
class FreeRun:
    """Free mode: timing, network faults and completions (seconds; seeded)."""

    tick: float = 0.002
    pacing: Pacing = field(default_factory=Pacing)
    faults: NetworkFaults = field(default_factory=NetworkFaults)
    release_after: tuple[float, float] | None = (0.005, 0.03)  # None: needs never complete
    seed: int = 0


class Cluster:
    def __init__(
        self,
        settings: Settings,
        mode: Mode = Mode.CONTROLLED,
        components: Components | None = None,
        free: FreeRun | None = None,
        step_timeout: float = 5.0,
    ) -> None:
        self.settings = settings
        self.mode = mode
        self.components = components or Components()
        self.free = free or FreeRun()
        self.step_timeout = step_timeout
        self.events = EventLog()
        free_mode = mode is Mode.FREE
        tick = self.free.tick if free_mode else None
        self.network = Network(mode, self.events, self.free.faults if free_mode else None)
        self.store = self.components.store(
            BrokerState.initial(settings.buckets, len(settings.needs))
        )
        self._swap = threading.Lock()  # held while the broker epoch changes
        self.broker = self._new_broker(*self.store.load())
        self.workers = [
            self.components.worker(
                w, settings, self.read, self.network, self.events, tick, self.free.pacing
            )
            for w in range(settings.workers)
        ]
        self.completions: Completions | None = None
        if free_mode:
            self.network.wake_broker = lambda: self.broker.post(_nothing)
            self.network.worker_up = lambda w: self.workers[w].up
            self.network.offer_reply = lambda env: self._offer(env.reply.worker, env.id)
            if self.free.release_after is not None:
                self.completions = Completions(self, self.free.release_after, self.free.seed)
                self.events.subscribe(self.completions.on_event)

    def _new_broker(self, epoch: int, state: BrokerState) -> CommitBroker:
        tick = self.free.tick if self.mode is Mode.FREE else None
        return self.components.broker(
            self.settings, epoch, state, self.store, self.network, self.events, tick
        )

    def _offer(self, w: int, msg_id: str) -> None:
        worker = self.workers[w]
        worker.post(lambda: worker.offer(msg_id))

    # --- lifecycle ------------------------------------------------------------------
    def _actors(self) -> list[Actor]:
        """Every thread-owning component, in the order they are stopped."""
        extra: list[Actor] = [self.completions] if self.completions is not None else []
        return [*extra, *self.workers, self.network, self.broker]

    def start(self) -> None:
        for w in self.workers:
            w.bootstrap()  # cycle 0: a full read, before any thread runs
        self.broker.start()
        for w in self.workers:
            w.start()
        if self.mode is Mode.FREE:
            self.network.start()
            if self.completions is not None:
                self.completions.start()

    def close(self) -> None:
        """Stop and join every thread (idempotent)."""
        for a in self._actors():
            a.stop(max(self.step_timeout, 5.0))  # a stuck step gets time to finish

    def errors(self) -> list[BaseException]:
        """Failures inside free-running actors (none in a healthy run)."""
        return [e for a in self._actors() for e in a.errors]

    # --- the read path the workers use ------------------------------------------------
    def read(self, parts: Iterable[int], note: ReadNote | None = None) -> tuple[int, PartitionData]:
        """Read partitions from the serving broker (waits out a failover)."""
        parts = list(parts)
        deadline = time.monotonic() + self.step_timeout
        while True:
            broker = self.broker
            got = broker.read(parts, note)
            if got is not None:
                return broker.epoch, got
            if time.monotonic() > deadline:
                raise StepTimeout("no broker is serving")
            time.sleep(0.0005)

    # --- steps (each returns once it has happened) --------------------------------------
    def worker(self, w: int) -> Worker:
        if not 0 <= w < len(self.workers):
            raise ValueError(f"no worker {w} (workers are 0..{len(self.workers) - 1})")
        return self.workers[w]

    def on_worker(self, w: int, step: Callable[[Worker], None]) -> None:
        worker = self.worker(w)
        worker.call(lambda: step(worker), self.step_timeout)

    def crash(self, w: int) -> None:
        self.on_worker(w, lambda worker: worker.crash())

    def recover(self, w: int) -> None:
        self.on_worker(w, lambda worker: worker.recover())

    def broker_step(self) -> str | None:
        broker = self.broker
        return broker.call(broker.step, self.step_timeout)

    def release(self, need: int) -> None:
        broker = self.broker
        broker.call(lambda: broker.release(need), self.step_timeout)

    def failover(self) -> None:
        """A new broker epoch, recovered from the durable store."""
        with self._swap:
            old = self.broker
            old.stop(self.step_timeout)  # finishes the decision in hand
            old.step_down()
            epoch, state = self.store.recover()
            new = self._new_broker(epoch, state)
            # logged before the new broker's thread runs, so none of its decisions
            # can appear in the event log ahead of the failover that made it
            self.events.emit("Failover", epoch=epoch)
            new.start()
            self.broker = new
        if self.mode is Mode.FREE:
            new.post(_nothing)  # look at the queue the old epoch left

    # --- observation ----------------------------------------------------------------
    def observe(self) -> dict[str, Any]:
        if self.mode is Mode.CONTROLLED:  # every thread is idle between steps: read directly
            workers = [w.observe() for w in self.workers]
        else:
            workers = [w.call(w.observe, self.step_timeout) for w in self.workers]
        return {
            "broker": self.broker.observe(),
            "workers": workers,
            "messages": self.network.observe(),
        }

    # --- free mode helpers ----------------------------------------------------------
    def all_placed(self) -> bool:
        return all(s != UNPLACED for s in self.broker.status())

    def wait_until(self, done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return True
            time.sleep(0.005)
        return done()


def _nothing() -> None:
    return None


class Completions(Actor):
    """Free mode: each placed need completes (is released) after a random time."""

    def __init__(self, cluster: Cluster, after: tuple[float, float], seed: int) -> None:
        super().__init__("completions", cluster.free.tick)
        self.cluster = cluster
        self.after = after
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._due: list[tuple[float, int]] = []

    def on_event(self, ev: Event) -> None:
        if ev["action"] == "Commit" and ev["result"] == COMMITTED:
            with self._lock:
                self._due.append((time.monotonic() + self._rng.uniform(*self.after), ev["need"]))

    def autonomous(self) -> None:
        now = time.monotonic()
        with self._lock:
            ready = [n for t, n in self._due if t <= now]
            self._due = [(t, n) for t, n in self._due if t > now]
        for n in ready:
            try:
                if self.cluster.broker.status()[n] == PLACED:
                    self.cluster.release(n)
            except (ActorStopped, StepTimeout, ValueError):
                with self._lock:  # a failover was under way: try again shortly
                    self._due.append((now + self.after[0], n))
