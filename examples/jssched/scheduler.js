'use strict';
// jssched: a small deterministic ParSync scheduler (knows nothing of the suite).
//
// Policy (its own, not the reference's):
//   - pending needs are worked in order of need id;
//   - adaptive: latency-first on even cycles, quality-first on odd cycles;
//   - bucket set: the `gang` highest-numbered buckets that fit;
//   - broker: among the proposals it may commit (no strictly higher-priority
//     queued proposal sharing a bucket) it takes the most recently arrived one;
//     it checks conflict first, then fenced, then already-placed;
//   - start_cycle on a waiting worker abandons the attempt (early timeout).

class Settings {
  constructor(c) {
    this.W = c.workers;
    this.P = c.partitions;
    this.cap = c.capacities.slice();
    this.B = this.cap.length;
    this.R = c.retry_budget;
    this.strategy = c.strategy;
    this.part = c.partition_map ? c.partition_map.slice() : this.cap.map((_, b) => b % this.P);
    this.members = [];
    for (let p = 0; p < this.P; p++) this.members.push([]);
    for (let b = 0; b < this.B; b++) this.members[this.part[b]].push(b); // increasing order
    this.needs = c.needs.map((n) => {
      const all = [];
      for (let b = 0; b < this.B; b++) all.push(b);
      const elig = n.eligible ? Array.from(new Set(n.eligible)).sort((x, y) => x - y) : all;
      return { owner: n.owner, priority: n.priority, arrival: n.arrival, gang: n.gang, size: n.size, eligible: elig };
    });
  }
}

// Every message in flight, by id, in arrival order. Nothing moves by itself.
class Network {
  constructor() {
    this.nextId = 1;
    this.nextArrival = 1;
    this.flight = new Map(); // id -> {arrival, msg}
  }
  send(msg) {
    const id = 'm' + this.nextId++;
    this.flight.set(id, { arrival: this.nextArrival++, msg });
    return id;
  }
  take(id) {
    const e = this.flight.get(id);
    if (!e) throw new Error('no such message ' + id);
    this.flight.delete(id);
    return e.msg;
  }
  peek(id) {
    const e = this.flight.get(id);
    if (!e) throw new Error('no such message ' + id);
    return e.msg;
  }
  drop(id) {
    this.take(id);
  }
  duplicate(id) {
    const m = this.peek(id);
    return this.send(JSON.parse(JSON.stringify(m)));
  }
  proposals() {
    const out = [];
    for (const [id, e] of this.flight) if (e.msg.to === 'broker') out.push({ id, arrival: e.arrival, msg: e.msg });
    return out;
  }
}

// The durable state: an append-only log of commits and releases, which a new
// broker replays on failover.
class Store {
  constructor() {
    this.log = [];
  }
  append(rec) {
    this.log.push(JSON.parse(JSON.stringify(rec)));
  }
}

class Broker {
  constructor(s, epoch, store, net) {
    this.s = s;
    this.epoch = epoch;
    this.store = store;
    this.net = net;
    this.seq = new Array(s.B).fill(0);
    this.claims = [];
    for (let b = 0; b < s.B; b++) this.claims.push([]);
    this.ledger = s.needs.map(() => []);
    this.placed = new Set(); // dedup memory: placed once stays placed (even released)
    for (const rec of store.log) this.apply(rec);
  }

  apply(rec) {
    if (rec.op === 'commit') {
      for (const b of rec.buckets) {
        this.seq[b] += 1;
        this.claims[b].push(rec.need);
      }
      this.ledger[rec.need] = rec.buckets.slice();
      this.placed.add(rec.need);
    } else if (rec.op === 'release') {
      for (const b of this.ledger[rec.need]) {
        this.seq[b] += 1;
        const i = this.claims[b].indexOf(rec.need);
        if (i >= 0) this.claims[b].splice(i, 1);
      }
      this.ledger[rec.need] = [];
    }
  }

  write(rec) {
    this.store.append(rec); // write through, then apply
    this.apply(rec);
  }

  used(b) {
    let u = 0;
    for (const n of this.claims[b]) u += this.s.needs[n].size;
    return u;
  }

  // A fresh read: the broker's epoch and, per partition, [[seq, used] per bucket].
  read(parts) {
    const data = {};
    for (const p of parts) data[p] = this.s.members[p].map((b) => [this.seq[b], this.used(b)]);
    return { epoch: this.epoch, data };
  }

  // Decide on one queued proposal: the most recently arrived among those that no
  // strictly higher-priority queued proposal sharing a bucket blocks.
  step() {
    const q = this.net.proposals();
    if (q.length === 0) throw new Error('broker_step with no proposal in flight');
    const bucketsOf = (m) => new Set(m.reads.map((r) => r[0]));
    const blocked = (e) => {
      const mine = bucketsOf(e.msg);
      return q.some((o) => o !== e && o.msg.priority > e.msg.priority && o.msg.reads.some((r) => mine.has(r[0])));
    };
    let pick = null;
    for (const e of q) if (!blocked(e) && (pick === null || e.arrival > pick.arrival)) pick = e;
    const m = this.net.take(pick.id);
    const { kind, buckets } = this.judge(m);
    this.net.send({ to: 'worker', worker: m.worker, need: m.need, kind, buckets, tag: m.tag });
  }

  judge(m) {
    const stale = m.reads.filter((r) => this.seq[r[0]] !== r[1]).map((r) => r[0]);
    if (stale.length > 0) return { kind: 'conflict', buckets: Array.from(new Set(stale)).sort((x, y) => x - y) };
    if (m.epoch !== this.epoch) return { kind: 'fenced', buckets: [] };
    if (this.placed.has(m.need)) return { kind: 'already-placed', buckets: [] };
    this.write({ op: 'commit', need: m.need, buckets: m.reads.map((r) => r[0]) });
    return { kind: 'committed', buckets: [] };
  }

  release(n) {
    this.write({ op: 'release', need: n });
  }
}

class Worker {
  constructor(wid, s, net, cluster) {
    this.wid = wid;
    this.s = s;
    this.net = net;
    this.cluster = cluster;
    this.mine = [];
    s.needs.forEach((n, i) => {
      if (n.owner === wid) this.mine.push(i);
    });
    this.mine.sort((a, b) => a - b); // need-id order
    this.up = true;
    this.cycle = 0;
    this.epoch = 0;
    this.tagCounter = 0; // never reset, not even by a crash: every attempt tag is unique
    this.forget();
  }

  forget() {
    this.fresh_at = new Array(this.s.P).fill(-1);
    this.view = new Array(this.s.P).fill(null); // ONE snapshot per partition
    this.pending = [];
    this.waiting = false;
    this.tag = null; // the outstanding attempt's tag
    this.retries = 0;
    this.known = new Set(); // own needs known to be placed
  }

  refresh(parts) {
    const { epoch, data } = this.cluster.broker.read(parts);
    this.epoch = epoch;
    for (const p of parts) {
      this.view[p] = data[p];
      this.fresh_at[p] = this.cycle;
    }
  }

  allParts() {
    const a = [];
    for (let p = 0; p < this.s.P; p++) a.push(p);
    return a;
  }

  entry(b) {
    const p = this.s.part[b];
    const snap = this.view[p];
    return snap === null ? null : snap[this.s.members[p].indexOf(b)];
  }

  mode() {
    if (this.s.strategy === 'adaptive') return this.cycle % 2 === 0 ? 'latency-first' : 'quality-first';
    return this.s.strategy;
  }

  startCycle() {
    this.cycle += 1;
    if (!this.up) return;
    this.refresh([this.cycle % this.s.P]);
    this.pending = this.mine.filter((n) => this.s.needs[n].arrival <= this.cycle && !this.known.has(n));
    this.waiting = false; // an outstanding attempt is abandoned
    this.tag = null;
    this.retries = 0;
  }

  schedule() {
    if (!this.up) throw new Error('schedule on a crashed worker');
    if (this.waiting) throw new Error('schedule on a waiting worker');
    if (this.pending.length === 0) throw new Error('schedule with nothing pending');
    const n = this.pending[0];
    const need = this.s.needs[n];
    const read = this.allParts().filter((p) => this.fresh_at[p] >= 0 && this.view[p] !== null);
    let allowed = read;
    if (this.mode() === 'latency-first') {
      const top = Math.max(...read.map((p) => this.fresh_at[p]));
      allowed = read.filter((p) => this.fresh_at[p] === top);
    }
    const ok = new Set(allowed);
    const fits = need.eligible.filter((b) => {
      if (!ok.has(this.s.part[b])) return false;
      const e = this.entry(b);
      return e !== null && e[1] + need.size <= this.s.cap[b];
    });
    if (fits.length < need.gang) {
      this.nextNeed(); // nothing fits: defer to the next cycle
      return;
    }
    const bs = fits.slice(fits.length - need.gang); // the highest-numbered that fit
    this.tagCounter += 1;
    this.tag = this.tagCounter;
    this.waiting = true;
    this.net.send({
      to: 'broker',
      worker: this.wid,
      need: n,
      epoch: this.epoch,
      priority: need.priority,
      reads: bs.map((b) => [b, this.entry(b)[0]]),
      tag: this.tag,
    });
  }

  nextNeed() {
    this.pending.shift();
    this.waiting = false;
    this.tag = null;
    this.retries = 0;
  }

  takeReply(r) {
    if (!this.up) return; // a crashed worker hears nothing
    if (!this.waiting || r.tag !== this.tag || r.need !== this.pending[0]) return; // late: discarded
    if (r.kind === 'committed' || r.kind === 'already-placed') {
      this.known.add(r.need);
      this.nextNeed();
      return;
    }
    if (r.kind === 'conflict') {
      const parts = Array.from(new Set(r.buckets.map((b) => this.s.part[b]))).sort((a, b) => a - b);
      this.refresh(parts);
    } else {
      this.refresh(this.allParts()); // fenced: a new broker epoch, re-read everything
    }
    this.retries += 1;
    if (this.retries > this.s.R) {
      this.nextNeed(); // out of budget: the need waits for the next cycle
    } else {
      this.waiting = false;
      this.tag = null;
    }
  }

  crash() {
    this.up = false;
    this.forget();
  }

  recover() {
    this.up = true;
    this.refresh(this.allParts());
  }
}

class Cluster {
  constructor(config) {
    const s = (this.s = new Settings(config));
    this.net = new Network();
    this.store = new Store();
    this.broker = new Broker(s, 0, this.store, this.net);
    this.workers = [];
    for (let w = 0; w < s.W; w++) this.workers.push(new Worker(w, s, this.net, this));
    for (const w of this.workers) w.refresh(w.allParts()); // cycle 0: read every partition
  }

  failover() {
    this.broker = new Broker(this.s, this.broker.epoch + 1, this.store, this.net);
  }

  deliver(id) {
    const m = this.net.peek(id);
    if (m.to !== 'worker') throw new Error('deliver of a proposal ' + id + ' (use broker_step)');
    this.net.take(id);
    this.workers[m.worker].takeReply(m);
  }

  observe() {
    const b = this.broker;
    return {
      broker: {
        epoch: b.epoch,
        seq: b.seq.slice(),
        claims: b.claims.map((c) => c.slice()),
        ledger: b.ledger.map((l) => l.slice()),
      },
      workers: this.workers.map((w) => ({
        up: w.up,
        cycle: w.cycle,
        fresh_at: w.fresh_at.slice(),
        view: w.view.map((snap) => (snap === null ? [] : [snap.map((e) => e.slice())])),
        pending: w.pending.slice(),
        waiting: w.waiting,
      })),
      messages: Array.from(this.net.flight, ([id, e]) => {
        const m = e.msg;
        if (m.to === 'broker') {
          return { id, to: 'broker', worker: m.worker, need: m.need, epoch: m.epoch, priority: m.priority, reads: m.reads.map((r) => r.slice()) };
        }
        return { id, to: 'worker', worker: m.worker, need: m.need, kind: m.kind, buckets: m.buckets.slice() };
      }),
    };
  }
}

module.exports = { Cluster, Settings, Network, Store, Broker, Worker };
