#!/usr/bin/env node
'use strict';
// The conformance adapter for jssched over the pipe protocol
// (docs/conformance.md section 2a, spec/adapter-protocol.schema.json):
// one JSON request per line on stdin, one JSON reply per line on stdout.
// stderr is free for logging.

const readline = require('readline');
const { Cluster } = require('./scheduler.js');

let cluster = null;

function need(c) {
  if (cluster === null) throw new Error(c + ' before reset');
  return cluster;
}

function handle(req) {
  switch (req.call) {
    case 'reset':
      cluster = new Cluster(req.config);
      return null;
    case 'start_cycle':
      need('start_cycle').workers[req.worker].startCycle();
      return null;
    case 'schedule':
      need('schedule').workers[req.worker].schedule();
      return null;
    case 'crash':
      need('crash').workers[req.worker].crash();
      return null;
    case 'recover':
      need('recover').workers[req.worker].recover();
      return null;
    case 'release':
      need('release').broker.release(req.need);
      return null;
    case 'broker_step':
      need('broker_step').broker.step();
      return null;
    case 'deliver':
      need('deliver').deliver(req.id);
      return null;
    case 'drop':
      need('drop').net.drop(req.id);
      return null;
    case 'duplicate':
      need('duplicate').net.duplicate(req.id);
      return null;
    case 'failover':
      need('failover').failover();
      return null;
    case 'observe':
      return need('observe').observe();
    case 'close':
      cluster = null;
      return null;
    default:
      throw new Error('unknown call ' + JSON.stringify(req.call));
  }
}

const rl = readline.createInterface({ input: process.stdin, terminal: false });
let closing = false;

rl.on('line', (line) => {
  if (closing || line.trim() === '') return;
  let reply;
  let req = null;
  try {
    req = JSON.parse(line);
    reply = { ok: handle(req) };
  } catch (e) {
    const msg = (e && e.message ? e.message : String(e)).replace(/[\r\n]+/g, ' ');
    reply = { error: msg };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
  if (req && req.call === 'close') {
    closing = true;
    rl.close();
  }
});

rl.on('close', () => {
  // end of input or close: flush stdout, then exit
  process.stdout.write('', () => process.exit(0));
});
