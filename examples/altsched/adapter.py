"""The conformance adapter for altsched: every step runs synchronously in the caller."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .scheduler import Cluster


class AltAdapter:
    def __init__(self) -> None:
        self.c: Cluster | None = None

    def reset(self, config: Mapping[str, Any]) -> None:
        self.c = Cluster(config)

    def start_cycle(self, worker: int) -> None:
        self.c.workers[worker].start_cycle()

    def schedule(self, worker: int) -> None:
        self.c.workers[worker].schedule()

    def broker_step(self) -> None:
        self.c.broker.step()

    def deliver(self, message_id: str) -> None:
        self.c.deliver(message_id)

    def release(self, need: int) -> None:
        self.c.broker.release(need)

    def crash(self, worker: int) -> None:
        self.c.workers[worker].crash()

    def recover(self, worker: int) -> None:
        self.c.workers[worker].recover()

    def drop(self, message_id: str) -> None:
        self.c.net.take(message_id)

    def duplicate(self, message_id: str) -> None:
        self.c.net.duplicate(message_id)

    def failover(self) -> None:
        self.c.failover()

    def observe(self) -> Mapping[str, Any]:
        c = self.c
        b = c.broker
        return {
            "broker": {
                "epoch": b.epoch,
                "seq": list(b.seq),
                "claims": [list(x) for x in b.claims],
                "ledger": [list(x) for x in b.ledger],
            },
            # mode, pending, waiting and retries are left out (all optional).
            "workers": [
                {
                    "up": w.up,
                    "cycle": w.cycle,
                    "fresh_at": list(w.fresh_at),
                    "view": [[] if snap is None else [[list(e) for e in snap]] for snap in w.view],
                }
                for w in c.workers
            ],
            "messages": [
                {"id": mid, **{k: v for k, v in m.items() if k != "tag"}}
                for mid, m in c.net.flight.items()
            ],
        }

    def close(self) -> None:
        self.c = None  # no threads


def parsync_adapter() -> AltAdapter:
    return AltAdapter()
