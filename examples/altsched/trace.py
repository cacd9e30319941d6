"""A free run of altsched that writes a version 2 trace (docs/traces.md).

    python -m altsched.trace --config cfg.json --seed 3 --steps 2000 --out run.jsonl

The run drives altsched's own workers, broker and network (the classes in
``scheduler.py``, with altsched's own policy: FIFO needs, worst-fit buckets,
already-placed/conflict/fenced check order, ...) by a seeded random choice among
the steps it can take: start a cycle (on a waiting worker this is altsched's
early timeout), schedule, a broker decision, deliver a reply, release a placed
need, crash, recover, drop, duplicate, failover. It is single-threaded, so the
order of the lines is the order of the steps, and one seed gives one trace.

What is logged and what is not, as a real system would:

* the needs listed in the config are the header's config needs; on top of them
  the run generates more work (``--need-rate`` per worker and cycle), and each
  of those needs is declared by a ``Need`` line just before its owner's
  ``StartCycle`` that reaches its arrival cycle (trace need ids are given in
  that order, so they differ from altsched's internal ids);
* about half the duplicates of replies are not logged (``--hide-rate``);
  ``hidden`` has ``Drop`` and ``Duplicate``. With ``--hide-proposal-copies``
  duplicates of proposals go unlogged at the same rate, and with
  ``--hide-drop-rate`` that fraction of drops too (default 0: every drop is
  logged). A drop or duplicate of an unlogged copy is logged under the copy's
  id, which the trace never introduced: the validator reads it as the id of an
  unlogged copy (docs/traces.md, "Message ids");
* a crashed worker's ticks are not logged (``hidden`` has ``StartCycle``):
  ``Restart`` carries the worker's ``cycle`` instead. altsched recovers with
  nothing read and re-reads one partition per ``schedule``: ``Restart``, then
  ``Refresh`` lines.

The config file is JSON, in the form of the model's ``Config.to_dict()``
(docs/conformance.md section 2): ``workers``, ``partitions``, ``capacities``,
``needs``, ``retry_budget``, ``strategy``, optional ``partition_map``,
``max_cycle``, ``faults`` (the last two are ignored: a free run is unbounded).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from .scheduler import Cluster

SOURCE = "altsched trace.py (examples/altsched)"
HIDDEN = ["Drop", "Duplicate", "StartCycle"]


def _norm_need(n: Mapping[str, Any], B: int) -> dict[str, Any]:
    return {
        "owner": int(n["owner"]),
        "priority": int(n.get("priority", 1)),
        "arrival": int(n.get("arrival", 1)),
        "gang": int(n.get("gang", 1)),
        "size": int(n.get("size", 1)),
        "eligible": sorted(n["eligible"]) if n.get("eligible") else list(range(B)),
    }


def workload(
    config: Mapping[str, Any], rng: random.Random, max_cycle: int, rate: float
) -> list[dict]:
    """The config's needs, then generated ones: each worker, each cycle 2..max_cycle,
    a new need with probability ``rate``, shaped like one of the config's needs."""
    B = len(config["capacities"])
    base = [_norm_need(n, B) for n in config["needs"]]
    templates = base or [_norm_need({"owner": 0}, B)]
    extra = []
    for c in range(2, max_cycle + 1):
        for w in range(config["workers"]):
            if rng.random() < rate:
                t = dict(rng.choice(templates))
                t.update(owner=w, arrival=c, priority=rng.randint(1, 3))
                extra.append(t)
    return base + extra


class Tracer:
    def __init__(
        self,
        config: Mapping[str, Any],
        seed: int,
        steps: int,
        out: TextIO,
        need_rate: float = 0.35,
        hide_rate: float = 0.5,
        hide_drop_rate: float = 0.0,
        hide_proposal_copies: bool = False,
    ) -> None:
        self.rng = random.Random(seed)
        self.steps, self.out, self.hide_rate = steps, out, hide_rate
        self.hide_drop_rate = hide_drop_rate
        self.hide_proposal_copies = hide_proposal_copies
        self.unseen: set[str] = set()  # ids of copies made by unlogged Duplicates
        self.events = 0
        B = len(config["capacities"])
        self.k = len(config["needs"])  # config needs keep their ids
        needs = workload(config, self.rng, steps + 1, need_rate)
        run_cfg = dict(config)
        run_cfg["needs"] = needs
        run_cfg["max_cycle"] = steps + 2  # free run: no cycle bound in practice
        self.c = Cluster(run_cfg)
        self.s = self.c.s
        # internal need id -> trace need id; config needs are declared in the header
        self.tid: dict[int, int] = {n: n for n in range(self.k)}
        self.next_tid = self.k
        header_cfg = {
            "workers": config["workers"],
            "partitions": config["partitions"],
            "capacities": list(config["capacities"]),
            "needs": [{k: v for k, v in _norm_need(n, B).items()} for n in config["needs"]],
            "retry_budget": config["retry_budget"],
            "strategy": config["strategy"],
        }
        if config.get("partition_map"):
            header_cfg["partition_map"] = list(config["partition_map"])
        self.emit(
            {
                "type": "header",
                "format": "parsync-trace",
                "version": 2,
                "policy": "contract",
                "config": header_cfg,
                "hidden": HIDDEN,
                "source": SOURCE,
            }
        )
        # per worker: proposals of each need in the current cycle (the `attempt` field)
        self.sent: list[dict[int, int]] = [{} for _ in range(self.s.W)]

    # -- output --------------------------------------------------------------
    def emit(self, ev: dict[str, Any]) -> None:
        self.out.write(json.dumps(ev, separators=(",", ":")) + "\n")
        if ev["type"] != "header":
            self.events += 1

    def read_of(self, w, parts) -> list[dict[str, Any]]:
        return [{"partition": p, "entries": [list(e) for e in w.view[p]]} for p in parts]

    # -- steps ---------------------------------------------------------------
    def enabled(self) -> list[tuple[float, tuple]]:
        c = self.c
        moves: list[tuple[float, tuple]] = []
        for w in c.workers:
            moves.append((1.0, ("start_cycle", w.wid)))
            if w.up and not w.waiting and w.pending:
                moves.append((4.0, ("schedule", w.wid)))
            if w.up:
                moves.append((0.04, ("crash", w.wid)))
            else:
                moves.append((0.5, ("recover", w.wid)))
        if c.net.proposals():
            moves.append((4.0, ("broker",)))
        for mid, m in c.net.flight.items():
            if m["to"] == "worker" and c.workers[m["worker"]].up:
                moves.append((3.0, ("deliver", mid)))
            moves.append((0.06, ("drop", mid)))
            moves.append((0.06, ("duplicate", mid)))
        for n, buckets in enumerate(c.broker.ledger):
            if buckets:
                moves.append((0.5, ("release", n)))
        moves.append((0.02, ("failover",)))
        return moves

    def run(self) -> int:
        for _ in range(self.steps):
            moves = self.enabled()
            weights = [m[0] for m in moves]
            move = self.rng.choices([m[1] for m in moves], weights)[0]
            getattr(self, "do_" + move[0])(*move[1:])
        self.out.flush()
        return self.events

    def do_start_cycle(self, wid: int) -> None:
        w = self.c.workers[wid]
        new = w.cycle + 1
        for n in w.mine:  # needs that arrive now are declared before the StartCycle
            if n >= self.k and self.s.needs[n]["arrival"] == new:
                self.tid[n] = self.next_tid
                d = self.s.needs[n]
                ev = {
                    "type": "Need",
                    "need": self.next_tid,
                    "owner": d["owner"],
                    "priority": d["priority"],
                    "gang": d["gang"],
                    "size": d["size"],
                }
                if len(d["eligible"]) < self.s.B:
                    ev["eligible"] = list(d["eligible"])
                self.emit(ev)
                self.next_tid += 1
        was_up = w.up
        w.start_cycle()
        self.sent[wid] = {}
        if was_up:
            p = w.cycle % self.s.P
            self.emit(
                {
                    "type": "StartCycle",
                    "worker": wid,
                    "cycle": w.cycle,
                    "read": self.read_of(w, [p]),
                }
            )
        # a crashed worker's tick is not logged (hidden StartCycle)

    def do_schedule(self, wid: int) -> None:
        w = self.c.workers[wid]
        before = list(w.fresh_at)
        flight = set(self.c.net.flight)
        pending = list(w.pending)
        w.schedule()
        for p in range(self.s.P):  # altsched's recovery read: one partition per schedule
            if before[p] == -1 and w.fresh_at[p] != -1:
                self.emit({"type": "Refresh", "worker": wid, "read": self.read_of(w, [p])})
        new = [mid for mid in self.c.net.flight if mid not in flight]
        if new:
            mid = new[0]
            m = self.c.net.flight[mid]
            n = m["need"]
            self.sent[wid][n] = self.sent[wid].get(n, 0) + 1
            self.emit(
                {
                    "type": "Propose",
                    "worker": wid,
                    "need": self.tid[n],
                    "buckets": [list(r) for r in m["reads"]],
                    "epoch": m["epoch"],
                    "priority": m["priority"],
                    "cycle": w.cycle,
                    "attempt": self.sent[wid][n],
                    "id": mid,
                }
            )
        else:
            n = pending[0]  # altsched defers the head of its FIFO
            self.emit({"type": "Defer", "worker": wid, "need": self.tid[n]})

    def do_broker(self) -> None:
        b = self.c.broker
        queue = dict(self.c.net.proposals())
        b.step()
        taken = [mid for mid in queue if mid not in self.c.net.flight][0]
        m = queue[taken]
        reply_id = next(reversed(self.c.net.flight))
        r = self.c.net.flight[reply_id]
        ev: dict[str, Any] = {
            "type": "Commit",
            "id": taken,
            "result": r["kind"],
            "worker": m["worker"],
            "need": self.tid[m["need"]],
            "epoch": b.epoch,
        }
        if r["kind"] == "conflict":
            ev["conflicts"] = list(r["buckets"])
        # the seqnos after the step: bumped by a commit, unchanged (and still checked)
        # on any other answer
        ev["seq"] = [[bk, b.seq[bk]] for bk, _ in m["reads"]]
        ev["reply"] = reply_id
        ev["queued"] = [mid for mid in queue if mid != taken]
        self.emit(ev)

    def do_deliver(self, mid: str) -> None:
        r = self.c.net.flight[mid]
        w = self.c.workers[r["worker"]]
        stale = not (w.up and w.waiting and r["tag"] == w.outstanding)
        self.c.deliver(mid)
        ev: dict[str, Any] = {
            "type": "HandleReply",
            "worker": w.wid,
            "id": mid,
            "need": self.tid[r["need"]],
            "kind": r["kind"],
            "stale": stale,
        }
        if stale:
            ev["read"] = []
        elif r["kind"] == "conflict":
            ev["read"] = self.read_of(w, sorted({self.s.part[b] for b in r["buckets"]}))
        elif r["kind"] == "fenced":
            ev["read"] = self.read_of(w, range(self.s.P))
        else:
            ev["read"] = []
        self.emit(ev)

    def do_release(self, n: int) -> None:
        b = self.c.broker
        buckets = list(b.ledger[n])
        b.release(n)
        self.emit(
            {
                "type": "Release",
                "need": self.tid[n],
                "buckets": buckets,
                "seq": [[bk, b.seq[bk]] for bk in buckets],
            }
        )

    def do_crash(self, wid: int) -> None:
        self.c.workers[wid].crash()
        self.emit({"type": "Crash", "worker": wid})

    def do_recover(self, wid: int) -> None:
        w = self.c.workers[wid]
        w.recover()  # up with nothing read: the contract's Restart
        self.sent[wid] = {}
        self.emit({"type": "Restart", "worker": wid, "cycle": w.cycle})

    def do_drop(self, mid: str) -> None:
        self.c.net.take(mid)
        # a copy the recorder did not log has an id the trace never introduced: logged
        # all the same (the validator reads it as an unlogged copy's id)
        if self.rng.random() >= self.hide_drop_rate:
            self.emit({"type": "Drop", "id": mid})

    def do_duplicate(self, mid: str) -> None:
        self.c.net.duplicate(mid)
        copy = next(reversed(self.c.net.flight))
        # copies of replies go unlogged at hide_rate; copies of proposals too with
        # hide_proposal_copies (a Commit of one is matched by content: worker and need)
        reply = self.c.net.flight[mid]["to"] == "worker"
        hideable = reply or self.hide_proposal_copies
        if hideable and self.rng.random() < self.hide_rate:
            self.unseen.add(copy)
        else:
            self.emit({"type": "Duplicate", "id": mid, "copy": copy})

    def do_failover(self) -> None:
        self.c.failover()
        self.emit({"type": "Failover", "epoch": self.c.broker.epoch})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m altsched.trace", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--config", required=True, help="a config as JSON (Config.to_dict form)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--out", default="-", help="trace file (default: stdout)")
    ap.add_argument("--need-rate", type=float, default=0.35)
    ap.add_argument(
        "--hide-rate",
        type=float,
        default=0.5,
        help="fraction of duplicates not logged (default 0.5)",
    )
    ap.add_argument(
        "--hide-drop-rate",
        type=float,
        default=0.0,
        help="fraction of drops not logged (default 0: see the module docstring)",
    )
    ap.add_argument(
        "--hide-proposal-copies",
        action="store_true",
        help="leave copies of proposals unlogged too, at --hide-rate (default: replies only)",
    )
    a = ap.parse_args(argv)
    with open(a.config, encoding="utf-8") as f:
        config = json.load(f)
    out = sys.stdout if a.out == "-" else open(a.out, "w", encoding="utf-8")
    try:
        n = Tracer(
            config,
            a.seed,
            a.steps,
            out,
            a.need_rate,
            a.hide_rate,
            a.hide_drop_rate,
            a.hide_proposal_copies,
        ).run()
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"altsched.trace: {n} events, seed {a.seed}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
