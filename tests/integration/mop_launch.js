'use strict';
// Starts `mop standalone` for the JS integration suites (js/, pulsarjs/ and dashboard/), the way harness.py
// does for the Python ones: port 0 for every listener, a temporary data directory unless one is
// given, and the bound ports read from mop's start-up line (`mop-ready {json}` on stdout, see
// app/README.md), never from log text. Node built-ins only, so every JS suite can require it.
//
//   const { launch } = require('../mop_launch.js');
//   const mop = await launch({ args: ['--defaultNumPartitions=3'] });
//   mop.port, mop.pulsarPort, mop.ports ({ mqtt: [...], pulsar }), mop.ready (the whole line)
//   await mop.stop('SIGKILL');
//   const again = await launch({ dataDir: mop.dataDir, sameAs: mop });  // the same ports again
//   assert.strictEqual(await again.stop(), 0);   // SIGTERM: resolves with the exit code
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

// The same prefix and arguments as harness.py (READY_PREFIX, MOP_PORT0_ARGS) and mop_launch.hpp.
const READY_PREFIX = 'mop-ready ';
const PORT0_ARGS = ['--mqttListeners=mqtt://127.0.0.1:0', '--brokerServicePort=0', '--webServicePort=0'];
const START_TIMEOUT_MS = 10000;

// { mqtt: [port, ...], pulsar: port or null } from the start-up line's JSON.
function readyPorts(ready) {
  return { mqtt: ready.mqtt.map((l) => l.port), pulsar: ready.pulsar ? ready.pulsar.port : null };
}

// The flags that put a restarted mop back on the ports `ready` reports.
function boundArgs(ready) {
  const args = [];
  if (ready.mqtt.length) args.push('--mqttListeners=' + ready.mqtt.map((l) => l.url).join(','));
  if (ready.pulsar) args.push(`--brokerServicePort=${ready.pulsar.port}`);
  return args;
}

class Mop {
  constructor(proc, dataDir) {
    this.proc = proc;
    this.dataDir = dataDir;
    this.output = '';
    this.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve(code !== null ? code : signal)));
  }

  get port() { return this.ports.mqtt[0]; }
  get pulsarPort() { return this.ports.pulsar; }
  log() { return this.output; }

  // Sends `signal` (SIGTERM by default); resolves with the exit code, or the signal's name.
  stop(signal = 'SIGTERM') {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    return this.exited;
  }

  // Removes the data directory (after stop()).
  cleanup() { fs.rmSync(this.dataDir, { recursive: true, force: true }); }
}

// Starts mop and resolves once it has printed its start-up line. Options: `args` (after the
// port-0 and dataDir arguments), `dataDir` (default: a new temporary directory), `sameAs` (an
// earlier Mop or its `ready`: listen on the same ports again, passed explicitly).
function launch({ args = [], dataDir, sameAs } = {}) {
  return new Promise((resolve, reject) => {
    const bin = process.env.MOP_BIN;
    if (!bin) return reject(new Error('MOP_BIN is not set'));
    const dir = dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'mop-js-'));
    const previous = sameAs && (sameAs.ready || sameAs);
    const argv = ['standalone', ...PORT0_ARGS, `--dataDir=${dir}`, ...args, ...(previous ? boundArgs(previous) : [])];
    const mop = new Mop(spawn(path.resolve(bin), argv, { stdio: ['ignore', 'pipe', 'pipe'] }), dir);
    let pending = '';  // stdout not yet split into whole lines
    const timer = setTimeout(() => fail(`no start-up line within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    function fail(why) {
      clearTimeout(timer);
      mop.proc.kill('SIGKILL');
      reject(new Error(`mop ${argv.join(' ')}: ${why}\n${mop.output}`));
    }
    mop.proc.stderr.on('data', (chunk) => { mop.output += chunk.toString(); });
    mop.proc.stdout.on('data', (chunk) => {
      const text = chunk.toString();
      mop.output += text;
      if (mop.ready) return;
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop();  // an incomplete last line waits for the rest
      const line = lines.find((l) => l.startsWith(READY_PREFIX));
      if (!line) return;
      clearTimeout(timer);
      mop.ready = JSON.parse(line.slice(READY_PREFIX.length));
      mop.ports = readyPorts(mop.ready);
      if (previous && JSON.stringify(mop.ports) !== JSON.stringify(readyPorts(previous))) {
        return fail(`came back on ${JSON.stringify(mop.ports)}, not ${JSON.stringify(readyPorts(previous))}`);
      }
      resolve(mop);
    });
    mop.exited.then((code) => { if (!mop.ready) fail(`exited with ${code} before its start-up line`); });
  });
}

module.exports = { launch, READY_PREFIX, PORT0_ARGS };
