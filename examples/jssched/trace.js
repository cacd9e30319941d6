#!/usr/bin/env node
'use strict';
// A free run of jssched that writes a version 2 trace (docs/traces.md) on stdout:
//
//   node examples/jssched/trace.js --config cfg.json --seed 3 --steps 2000 > run.jsonl
//
// The run drives jssched's own workers, broker and network (scheduler.js, with
// jssched's own policy: need-id order, highest-numbered buckets, a broker that
// takes the most recent unblocked proposal and checks conflict, fenced, then
// already-placed, a failover that replays the durable log, a full re-read on
// recover) by a seeded random choice among the steps it can take: start a
// cycle (on a waiting worker: jssched's early timeout), schedule, a broker
// decision, deliver a reply, release a placed need, crash, recover, drop,
// duplicate, failover. Single-threaded: the order of the lines is the order of
// the steps, and one seed gives one trace.
//
// As a real system would, it does not log everything:
//  - the config's needs are in the header; more work arrives during the run
//    (--need-rate per worker and cycle), each need declared by a `Need` line
//    just before its owner's StartCycle that reaches its arrival cycle (trace
//    need ids are given in that order);
//  - about half the duplicates of replies are not logged (--hide-rate); with
//    --hide-proposal-copies 1 duplicates of proposals too, and --hide-drop-rate X
//    leaves that fraction of drops unlogged (default 0). A drop or duplicate of an
//    unlogged copy is logged under the copy's id, which the trace never
//    introduced: the validator reads it as an unlogged copy's id;
//  - a crashed worker's ticks are not logged: `Recover` carries the worker's
//    `cycle` instead ("StartCycle" in `hidden`).
//
// The config is JSON in the form of the model's Config.to_dict()
// (docs/conformance.md section 2); max_cycle and faults are ignored.

const fs = require('fs');
const { Cluster } = require('./scheduler.js');

// mulberry32: a small seeded PRNG
function rngFrom(seed) {
  let a = seed >>> 0;
  return function () {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normNeed(n, B) {
  const all = [];
  for (let b = 0; b < B; b++) all.push(b);
  return {
    owner: n.owner,
    priority: n.priority === undefined ? 1 : n.priority,
    arrival: n.arrival === undefined ? 1 : n.arrival,
    gang: n.gang === undefined ? 1 : n.gang,
    size: n.size === undefined ? 1 : n.size,
    eligible: n.eligible && n.eligible.length ? n.eligible.slice().sort((x, y) => x - y) : all,
  };
}

function workload(config, rand, maxCycle, rate) {
  const B = config.capacities.length;
  const base = config.needs.map((n) => normNeed(n, B));
  const templates = base.length ? base : [normNeed({ owner: 0 }, B)];
  const extra = [];
  for (let c = 2; c <= maxCycle; c++) {
    for (let w = 0; w < config.workers; w++) {
      if (rand() < rate) {
        const t = Object.assign({}, templates[Math.floor(rand() * templates.length)]);
        t.owner = w;
        t.arrival = c;
        t.priority = 1 + Math.floor(rand() * 3);
        extra.push(t);
      }
    }
  }
  return base.concat(extra);
}

class Tracer {
  constructor(config, seed, steps, out, needRate, hideRate, hideDropRate = 0, hideProposalCopies = false) {
    this.rand = rngFrom(seed);
    this.steps = steps;
    this.out = out;
    this.hideRate = hideRate;
    this.hideDropRate = hideDropRate;
    this.hideProposalCopies = hideProposalCopies;
    this.events = 0;
    this.unseen = new Set(); // ids of copies made by unlogged Duplicates
    const B = config.capacities.length;
    this.k = config.needs.length;
    const runCfg = Object.assign({}, config, { needs: workload(config, this.rand, steps + 1, needRate) });
    this.c = new Cluster(runCfg);
    this.s = this.c.s;
    this.tid = new Map(); // internal need id -> trace need id
    for (let n = 0; n < this.k; n++) this.tid.set(n, n);
    this.nextTid = this.k;
    const headerCfg = {
      workers: config.workers,
      partitions: config.partitions,
      capacities: config.capacities.slice(),
      needs: config.needs.map((n) => normNeed(n, B)),
      retry_budget: config.retry_budget,
      strategy: config.strategy,
    };
    if (config.partition_map) headerCfg.partition_map = config.partition_map.slice();
    this.emit({
      type: 'header', format: 'parsync-trace', version: 2, policy: 'contract', config: headerCfg,
      hidden: ['Drop', 'Duplicate', 'StartCycle'], source: 'jssched trace.js (examples/jssched)',
    });
    this.sent = this.c.workers.map(() => new Map()); // proposals per need this cycle
  }

  emit(ev) {
    fs.writeSync(this.out, JSON.stringify(ev) + '\n'); // line by line, unbuffered
    if (ev.type !== 'header') this.events += 1;
  }

  readOf(w, parts) {
    return parts.map((p) => ({ partition: p, entries: w.view[p].map((e) => e.slice()) }));
  }

  allParts() {
    const a = [];
    for (let p = 0; p < this.s.P; p++) a.push(p);
    return a;
  }

  enabled() {
    const c = this.c;
    const moves = [];
    for (const w of c.workers) {
      moves.push([1.0, ['startCycle', w.wid]]);
      if (w.up && !w.waiting && w.pending.length > 0) moves.push([4.0, ['schedule', w.wid]]);
      if (w.up) moves.push([0.04, ['crash', w.wid]]);
      else moves.push([0.5, ['recover', w.wid]]);
    }
    if (c.net.proposals().length > 0) moves.push([4.0, ['broker']]);
    for (const [id, e] of c.net.flight) {
      if (e.msg.to === 'worker' && c.workers[e.msg.worker].up) moves.push([3.0, ['deliver', id]]);
      moves.push([0.06, ['drop', id]]);
      moves.push([0.06, ['duplicate', id]]);
    }
    c.broker.ledger.forEach((l, n) => {
      if (l.length > 0) moves.push([0.5, ['release', n]]);
    });
    moves.push([0.02, ['failover']]);
    return moves;
  }

  run() {
    for (let i = 0; i < this.steps; i++) {
      const moves = this.enabled();
      let total = 0;
      for (const m of moves) total += m[0];
      let x = this.rand() * total;
      let pick = moves[moves.length - 1][1];
      for (const m of moves) {
        x -= m[0];
        if (x < 0) {
          pick = m[1];
          break;
        }
      }
      this[pick[0]](...pick.slice(1));
    }
    return this.events;
  }

  startCycle(wid) {
    const w = this.c.workers[wid];
    const next = w.cycle + 1;
    for (const n of w.mine) {
      const d = this.s.needs[n];
      if (n >= this.k && d.arrival === next) {
        this.tid.set(n, this.nextTid);
        const ev = { type: 'Need', need: this.nextTid, owner: d.owner, priority: d.priority, gang: d.gang, size: d.size };
        if (d.eligible.length < this.s.B) ev.eligible = d.eligible.slice();
        this.emit(ev);
        this.nextTid += 1;
      }
    }
    const wasUp = w.up;
    w.startCycle();
    this.sent[wid] = new Map();
    if (wasUp) {
      this.emit({ type: 'StartCycle', worker: wid, cycle: w.cycle, read: this.readOf(w, [w.cycle % this.s.P]) });
    }
  }

  schedule(wid) {
    const w = this.c.workers[wid];
    const before = new Set(this.c.net.flight.keys());
    const head = w.pending[0];
    w.schedule();
    const fresh = Array.from(this.c.net.flight.keys()).filter((id) => !before.has(id));
    if (fresh.length > 0) {
      const id = fresh[0];
      const m = this.c.net.flight.get(id).msg;
      const sent = (this.sent[wid].get(m.need) || 0) + 1;
      this.sent[wid].set(m.need, sent);
      this.emit({
        type: 'Propose', worker: wid, need: this.tid.get(m.need), buckets: m.reads.map((r) => r.slice()),
        epoch: m.epoch, priority: m.priority, cycle: w.cycle, attempt: sent, id,
      });
    } else {
      this.emit({ type: 'Defer', worker: wid, need: this.tid.get(head) });
    }
  }

  broker() {
    const queue = new Map(this.c.net.proposals().map((e) => [e.id, e.msg]));
    const before = new Set(this.c.net.flight.keys());
    this.c.broker.step();
    const b = this.c.broker;
    let taken = null;
    for (const id of queue.keys()) if (!this.c.net.flight.has(id)) taken = id;
    const replyId = Array.from(this.c.net.flight.keys()).filter((id) => !before.has(id))[0];
    const m = queue.get(taken);
    const r = this.c.net.flight.get(replyId).msg;
    const ev = { type: 'Commit', id: taken, result: r.kind, worker: m.worker, need: this.tid.get(m.need), epoch: b.epoch };
    if (r.kind === 'conflict') ev.conflicts = r.buckets.slice();
    // the seqnos after the step: bumped by a commit, unchanged (and still checked) otherwise
    ev.seq = m.reads.map((x) => [x[0], b.seq[x[0]]]);
    ev.reply = replyId;
    ev.queued = Array.from(queue.keys()).filter((id) => id !== taken);
    this.emit(ev);
  }

  deliver(id) {
    const r = this.c.net.flight.get(id).msg;
    const w = this.c.workers[r.worker];
    const stale = !(w.up && w.waiting && r.tag === w.tag && r.need === w.pending[0]);
    this.c.deliver(id);
    const ev = { type: 'HandleReply', worker: w.wid, id, need: this.tid.get(r.need), kind: r.kind, stale, read: [] };
    if (!stale && r.kind === 'conflict') {
      const parts = Array.from(new Set(r.buckets.map((b) => this.s.part[b]))).sort((a, b) => a - b);
      ev.read = this.readOf(w, parts);
    } else if (!stale && r.kind === 'fenced') {
      ev.read = this.readOf(w, this.allParts());
    }
    this.emit(ev);
  }

  release(n) {
    const b = this.c.broker;
    const buckets = b.ledger[n].slice();
    b.release(n);
    this.emit({ type: 'Release', need: this.tid.get(n), buckets, seq: buckets.map((x) => [x, b.seq[x]]) });
  }

  crash(wid) {
    this.c.workers[wid].crash();
    this.emit({ type: 'Crash', worker: wid });
  }

  recover(wid) {
    const w = this.c.workers[wid];
    w.recover(); // jssched re-reads every partition at once
    this.sent[wid] = new Map();
    this.emit({ type: 'Recover', worker: wid, cycle: w.cycle, read: this.readOf(w, this.allParts()) });
  }

  drop(id) {
    this.c.net.drop(id);
    if (this.hideDropRate === 0 || this.rand() >= this.hideDropRate) this.emit({ type: 'Drop', id });
  }

  duplicate(id) {
    const copy = this.c.net.duplicate(id);
    // copies of replies go unlogged at hideRate; copies of proposals too with
    // hideProposalCopies (a Commit of one is matched by content: worker and need)
    const reply = this.c.net.flight.get(id).msg.to === 'worker';
    if ((reply || this.hideProposalCopies) && this.rand() < this.hideRate) this.unseen.add(copy);
    else this.emit({ type: 'Duplicate', id, copy });
  }

  failover() {
    this.c.failover();
    this.emit({ type: 'Failover', epoch: this.c.broker.epoch });
  }
}

function main(argv) {
  const opts = {
    config: null, seed: 0, steps: 1000, 'need-rate': 0.35, 'hide-rate': 0.5,
    'hide-drop-rate': 0, 'hide-proposal-copies': 0, out: '-',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--') || !(a.slice(2) in opts) || i + 1 >= argv.length) {
      process.stderr.write('usage: node trace.js --config CFG.json [--seed N] [--steps K] [--need-rate X] [--hide-rate X] [--hide-drop-rate X] [--hide-proposal-copies 0|1] [--out FILE]\n');
      return 2;
    }
    opts[a.slice(2)] = argv[++i];
  }
  if (opts.config === null) {
    process.stderr.write('trace.js: --config is required\n');
    return 2;
  }
  const config = JSON.parse(fs.readFileSync(opts.config, 'utf8'));
  const fd = opts.out === '-' ? 1 : fs.openSync(opts.out, 'w');
  const t = new Tracer(config, Number(opts.seed), Number(opts.steps), fd, Number(opts['need-rate']), Number(opts['hide-rate']),
    Number(opts['hide-drop-rate']), Number(opts['hide-proposal-copies']) !== 0);
  const n = t.run();
  if (fd !== 1) fs.closeSync(fd);
  process.stderr.write(`jssched trace.js: ${n} events, seed ${opts.seed}\n`);
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));

module.exports = { Tracer };
