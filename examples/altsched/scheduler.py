"""altsched: a small, single-threaded, deterministic ParSync scheduler.

Its open choices (docs/conformance.md section 1a) differ from the reference's:

* workers take pending needs FIFO: arrival cycle, then need id;
* adaptive: the mode is fixed at each start_cycle: latency-first if the worker
  took a conflict reply (for its outstanding attempt) in the previous cycle,
  else quality-first;
* bucket choice is worst-fit: most free room first, ties by highest bucket id;
* the broker checks already-placed, then conflict, then fenced, and takes its
  queue in arrival order, skipping a proposal it would commit while a
  higher-priority proposal sharing a bucket is queued;
* quality-first holds a need back when every bucket that fits lies in a
  partition not read in the current cycle (except in the last cycle);
* recover() brings a worker up with nothing read; each schedule() first reads
  the lowest-numbered partition not read since the crash.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

LATENCY, QUALITY = "latency-first", "quality-first"


class Settings:
    def __init__(self, c: Mapping[str, Any]) -> None:
        self.W, self.P = c["workers"], c["partitions"]
        self.cap = list(c["capacities"])
        self.B = len(self.cap)
        self.R, self.strategy, self.max_cycle = c["retry_budget"], c["strategy"], c["max_cycle"]
        self.part = list(c.get("partition_map") or [b % self.P for b in range(self.B)])
        self.members = [[b for b in range(self.B) if self.part[b] == p] for p in range(self.P)]
        self.needs = [dict(n) for n in c["needs"]]
        for n in self.needs:
            n["eligible"] = sorted(n.get("eligible") or range(self.B))


class Broker:
    """Commit broker. Its state (seq, claims, ledger, placed) is the durable state."""

    def __init__(self, s: Settings, net: Network) -> None:
        self.s, self.net, self.epoch = s, net, 0
        self.seq = [0] * s.B
        self.claims: list[list[int]] = [[] for _ in range(s.B)]
        self.ledger: list[list[int]] = [[] for _ in s.needs]
        self.placed: set[int] = set()  # dedup memory: a released need stays placed

    def used(self, b: int) -> int:
        return sum(self.s.needs[n]["size"] for n in self.claims[b])

    def snapshot(self, p: int) -> list[list[int]]:
        return [[self.seq[b], self.used(b)] for b in self.s.members[p]]

    def judge(self, m: Mapping[str, Any]) -> tuple[str, list[int]]:
        # Check order: already-placed, conflict, fenced (the reference: fenced first).
        if m["need"] in self.placed:
            return "already-placed", []
        stale = sorted(b for b, seq in m["reads"] if self.seq[b] != seq)
        if stale:
            return "conflict", stale
        if m["epoch"] != self.epoch:
            return "fenced", []
        return "committed", []

    def step(self) -> None:
        queue = self.net.proposals()  # arrival order
        for mid, m in queue:
            kind, buckets = self.judge(m)
            if kind == "committed" and self._blocked(mid, m, queue):
                continue  # priority on conflict: a higher-priority proposal shares a bucket
            self.net.take(mid)
            if kind == "committed":
                n = m["need"]
                for b, _ in m["reads"]:
                    self.seq[b] += 1
                    self.claims[b].append(n)
                self.ledger[n] = sorted(b for b, _ in m["reads"])
                self.placed.add(n)
            self.net.send(
                {
                    "to": "worker",
                    "worker": m["worker"],
                    "need": m["need"],
                    "kind": kind,
                    "buckets": buckets,
                    "tag": m["tag"],
                }
            )
            return
        raise RuntimeError("broker_step: no proposal may be taken")

    @staticmethod
    def _blocked(mid: str, m: Mapping[str, Any], queue: list[tuple[str, dict[str, Any]]]) -> bool:
        mine = {b for b, _ in m["reads"]}
        return any(
            oid != mid and o["priority"] > m["priority"] and mine & {b for b, _ in o["reads"]}
            for oid, o in queue
        )

    def release(self, n: int) -> None:
        for b in self.ledger[n]:
            self.seq[b] += 1
            self.claims[b].remove(n)
        self.ledger[n] = []


class Network:
    """Messages in flight by id, in arrival (send) order. Nothing moves by itself."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.flight: dict[str, dict[str, Any]] = {}

    def send(self, msg: dict[str, Any]) -> None:
        self.flight[f"m{next(self._ids)}"] = msg

    def take(self, mid: str) -> dict[str, Any]:
        return self.flight.pop(mid)

    def duplicate(self, mid: str) -> None:
        self.send(dict(self.flight[mid]))

    def proposals(self) -> list[tuple[str, dict[str, Any]]]:
        return [(i, m) for i, m in self.flight.items() if m["to"] == "broker"]


class Worker:
    def __init__(self, wid: int, s: Settings, broker: Broker, net: Network) -> None:
        self.wid, self.s, self.broker, self.net = wid, s, broker, net
        self.mine = [n for n, d in enumerate(s.needs) if d["owner"] == wid]
        self.up, self.cycle, self.epoch = True, 0, 0
        self.tags = itertools.count(1)  # attempt tags, never reused
        self.forget()
        self.read(range(s.P))  # cycle-0 bootstrap

    def forget(self) -> None:
        """What a crash loses (and how a worker starts)."""
        self.mode = LATENCY if self.s.strategy == LATENCY else QUALITY
        self.conflict_seen = False  # a conflict reply taken in this cycle
        self.fresh_at = [-1] * self.s.P
        self.view: list[list[list[int]] | None] = [None] * self.s.P
        self.pending: list[int] = []
        self.waiting, self.outstanding, self.retries = False, None, 0
        self.known: set[int] = set()

    def read(self, parts: Iterable[int]) -> None:
        for p in parts:
            self.view[p] = self.broker.snapshot(p)
            self.fresh_at[p] = self.cycle
        self.epoch = self.broker.epoch

    def entry(self, b: int) -> list[int] | None:
        p = self.s.part[b]
        snap = self.view[p]
        return None if snap is None else snap[self.s.members[p].index(b)]

    def start_cycle(self) -> None:
        self.cycle += 1
        if not self.up:
            return
        if self.s.strategy == "adaptive":
            self.mode = LATENCY if self.conflict_seen else QUALITY
        self.conflict_seen = False
        self.read([self.cycle % self.s.P])
        needs = self.s.needs
        self.pending = sorted(
            (n for n in self.mine if needs[n]["arrival"] <= self.cycle and n not in self.known),
            key=lambda n: (needs[n]["arrival"], n),
        )
        self.waiting, self.outstanding, self.retries = False, None, 0

    def schedule(self) -> None:
        unread = [p for p in range(self.s.P) if self.fresh_at[p] == -1]
        if unread:
            self.read([unread[0]])  # recovery: one partition per schedule call
        if not self.pending or self.waiting:
            raise RuntimeError(f"schedule({self.wid}): nothing to schedule")
        n = self.pending[0]
        need = self.s.needs[n]
        readp = [p for p in range(self.s.P) if self.view[p] is not None]
        if self.mode == LATENCY:
            top = max(self.fresh_at[p] for p in readp)
            allowed = {p for p in readp if self.fresh_at[p] == top}
        else:
            allowed = set(readp)
        fit = []
        for b in need["eligible"]:
            e = self.entry(b)
            if self.s.part[b] in allowed and e is not None and e[1] + need["size"] <= self.s.cap[b]:
                fit.append((self.s.cap[b] - e[1], b))
        if len(fit) < need["gang"]:
            return self.defer()
        if (
            self.mode == QUALITY
            and self.cycle < self.s.max_cycle
            and all(self.fresh_at[self.s.part[b]] != self.cycle for _, b in fit)
        ):
            return self.defer()  # hold back: only buckets of partitions not read this cycle fit
        chosen = [b for _, b in sorted(fit, key=lambda rb: (-rb[0], -rb[1]))[: need["gang"]]]
        self.outstanding = next(self.tags)
        self.waiting = True
        self.net.send(
            {
                "to": "broker",
                "worker": self.wid,
                "need": n,
                "epoch": self.epoch,
                "priority": need["priority"],
                "reads": [[b, self.entry(b)[0]] for b in sorted(chosen)],  # type: ignore[index]
                "tag": self.outstanding,
            }
        )

    def defer(self) -> None:
        self.pending.pop(0)
        self.retries = 0

    def take_reply(self, r: Mapping[str, Any]) -> None:
        if not (self.up and self.waiting and r["tag"] == self.outstanding):
            return  # not for the outstanding attempt: discarded
        self.waiting, self.outstanding = False, None
        if r["kind"] in ("committed", "already-placed"):
            self.known.add(r["need"])
            self.defer()
            return
        if r["kind"] == "conflict":
            self.read(sorted({self.s.part[b] for b in r["buckets"]}))
            self.conflict_seen = True
        else:  # fenced
            self.read(range(self.s.P))
        self.retries += 1
        if self.retries > self.s.R:
            self.defer()  # out of budget until the next cycle

    def crash(self) -> None:
        self.up = False
        self.forget()

    def recover(self) -> None:
        self.up = True  # nothing read: schedule() reads partitions one at a time


class Cluster:
    def __init__(self, config: Mapping[str, Any]) -> None:
        self.s = Settings(config)
        self.net = Network()
        self.broker = Broker(self.s, self.net)
        self.workers = [Worker(w, self.s, self.broker, self.net) for w in range(self.s.W)]

    def deliver(self, mid: str) -> None:
        r = self.net.take(mid)
        self.workers[r["worker"]].take_reply(r)

    def failover(self) -> None:
        self.broker.epoch += 1  # write-through: the durable state is the broker's state
