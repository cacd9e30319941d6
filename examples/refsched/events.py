"""A totally ordered log of the scheduler's steps (for tests and trace recording).

Each component emits an event while it holds the lock that orders the step
against the others (the broker's lock for reads, commits and releases; the
network's lock for drops and duplicates), so the log's order is an order in
which the steps really happened.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Event = dict[str, Any]


class EventLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._listeners: list[Callable[[Event], None]] = []

    def emit(self, action: str, **fields: Any) -> None:
        with self._lock:
            ev: Event = {"i": len(self._events), "action": action, **fields}
            self._events.append(ev)
            for fn in self._listeners:
                fn(ev)  # listeners must not take the broker's or network's locks

    def subscribe(self, fn: Callable[[Event], None]) -> None:
        with self._lock:
            self._listeners.append(fn)

    def snapshot(self) -> list[Event]:
        with self._lock:
            return list(self._events)
