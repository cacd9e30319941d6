"""The network between workers and the broker: every message in flight.

Two modes:

* ``CONTROLLED``: nothing moves by itself. A proposal sent to the broker joins
  the broker's queue at once (the broker takes from it when told to step); a
  reply waits until it is delivered by id. Drops and duplicates happen only
  when asked. The conformance adapter drives this mode.
* ``FREE``: a background thread delivers each message after a random delay
  (so messages are reordered), and loses or duplicates it with the configured
  probabilities, all drawn from a seeded generator. Replies to a crashed
  worker stay in flight until it is back.

A message in flight is an :class:`Envelope`; its ``id`` is the handle the
adapter exposes. A proposal that has *arrived* sits in the broker's queue but
is still in flight in the protocol's sense (undecided, and may still be lost).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from parsync.refsched.actor import Actor
from parsync.refsched.events import EventLog
from parsync.refsched.messages import Message, Proposal, Reply


class Mode(Enum):
    CONTROLLED = "controlled"
    FREE = "free"


class UnknownMessage(KeyError):
    """No message with this id is in flight."""


@dataclass(frozen=True)
class NetworkFaults:
    """Free mode only: delivery delay and fault probabilities, and the seed."""

    max_delay: float = 0.004  # seconds; each message waits uniform(0, max_delay)
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    seed: int = 0


@dataclass
class Envelope:
    id: str
    order: int  # send order (FIFO among equals)
    payload: Message
    due: float = 0.0  # free mode: when the network hands it over
    arrived: bool = False  # a proposal that is in the broker's queue
    offered: bool = False  # a reply handed to its worker's thread (free mode)
    faulted: bool = False  # free mode: its drop/duplicate draw is done

    @property
    def to_broker(self) -> bool:
        return isinstance(self.payload, Proposal)

    @property
    def proposal(self) -> Proposal:
        assert isinstance(self.payload, Proposal), self.payload
        return self.payload

    @property
    def reply(self) -> Reply:
        assert isinstance(self.payload, Reply), self.payload
        return self.payload


class Network(Actor):
    def __init__(
        self,
        mode: Mode,
        events: EventLog,
        faults: NetworkFaults | None = None,
        tick: float = 0.001,
    ) -> None:
        super().__init__("network", tick if mode is Mode.FREE else None)
        self.mode = mode
        self.events = events
        self.faults = faults or NetworkFaults()
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._flight: dict[str, Envelope] = {}
        self._ids = 0
        self._order = 0
        # wired by the cluster (free mode)
        self.wake_broker: Callable[[], None] = lambda: None
        self.worker_up: Callable[[int], bool] = lambda w: True
        self.offer_reply: Callable[[Envelope], None] = lambda env: None

    # --- sending --------------------------------------------------------------------
    def allocate_id(self) -> str:
        with self._lock:
            return self._new_id()

    def _new_id(self) -> str:
        # caller holds the lock
        self._ids += 1
        return f"m{self._ids}"

    def send(self, payload: Message, msg_id: str) -> None:
        with self._lock:
            self._add(payload, msg_id)

    def _add(self, payload: Message, msg_id: str) -> Envelope:
        # caller holds the lock
        self._order += 1
        env = Envelope(msg_id, self._order, payload)
        if self.mode is Mode.FREE:
            env.due = time.monotonic() + self._rng.uniform(0.0, self.faults.max_delay)
        else:
            env.arrived = isinstance(payload, Proposal)
        self._flight[msg_id] = env
        return env

    # --- the broker's queue and deliveries ----------------------------------------
    def broker_queue(self) -> list[Envelope]:
        """Proposals that have reached the broker and await its decision, in arrival order."""
        with self._lock:
            return [e for e in self._flight.values() if e.arrived]

    def take(self, msg_id: str) -> Envelope:
        """Remove a message from flight: its addressee now has it."""
        with self._lock:
            try:
                return self._flight.pop(msg_id)
            except KeyError:
                raise UnknownMessage(f"no message {msg_id!r} is in flight") from None

    def get(self, msg_id: str) -> Envelope:
        with self._lock:
            try:
                return self._flight[msg_id]
            except KeyError:
                raise UnknownMessage(f"no message {msg_id!r} is in flight") from None

    def withdraw_offer(self, msg_id: str) -> None:
        """Free mode: the addressee was down; offer the reply again later."""
        with self._lock:
            env = self._flight.get(msg_id)
            if env is not None:
                env.offered = False

    # --- faults -------------------------------------------------------------------
    def drop(self, msg_id: str) -> None:
        with self._lock:
            if self._flight.pop(msg_id, None) is None:
                raise UnknownMessage(f"no message {msg_id!r} is in flight")
            self.events.emit("Drop", id=msg_id)

    def duplicate(self, msg_id: str) -> str:
        """A second copy of a message in flight; returns the copy's id."""
        with self._lock:
            env = self._flight.get(msg_id)
            if env is None:
                raise UnknownMessage(f"no message {msg_id!r} is in flight")
            copy_id = self._new_id()
            self._add(env.payload, copy_id)
            self.events.emit("Duplicate", id=msg_id, copy=copy_id)
        return copy_id

    # --- free mode: the delivery thread ------------------------------------------
    def autonomous(self) -> None:
        now = time.monotonic()
        arrived = False
        offers: list[Envelope] = []
        with self._lock:
            due = sorted(
                (e for e in self._flight.values() if not (e.arrived or e.offered) and e.due <= now),
                key=lambda e: (e.due, e.order),
            )
            for env in due:
                if not env.faulted:  # one draw per message
                    env.faulted = True
                    r = self._rng.random()
                    if r < self.faults.drop_rate:
                        del self._flight[env.id]
                        self.events.emit("Drop", id=env.id)
                        continue
                    if r < self.faults.drop_rate + self.faults.duplicate_rate:
                        copy_id = self._new_id()
                        self._add(env.payload, copy_id)
                        self.events.emit("Duplicate", id=env.id, copy=copy_id)
                if isinstance(env.payload, Proposal):
                    env.arrived = True
                    arrived = True
                elif self.worker_up(env.payload.worker):
                    env.offered = True
                    offers.append(env)
        if arrived:
            self.wake_broker()
        for env in offers:
            self.offer_reply(env)

    # --- observation ----------------------------------------------------------------
    def observe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_describe(e) for e in sorted(self._flight.values(), key=lambda e: e.order)]


def _describe(env: Envelope) -> dict[str, Any]:
    m = env.payload
    if isinstance(m, Proposal):
        return {
            "id": env.id,
            "to": "broker",
            "worker": m.worker,
            "need": m.need,
            "epoch": m.epoch,
            "priority": m.priority,
            "reads": [[b, s] for b, s in m.reads],
            # in the broker's queue (received, not yet decided) or still on the way
            "at": "inbox" if env.arrived else "network",
        }
    assert isinstance(m, Reply)
    return {
        "id": env.id,
        "to": "worker",
        "worker": m.worker,
        "need": m.need,
        "kind": m.kind,
        "buckets": list(m.buckets),
    }
