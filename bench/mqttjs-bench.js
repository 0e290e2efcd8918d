#!/usr/bin/env node
// A second load generator for bench/compare, on MQTT.js (the `mqtt` package that
// tests/integration/js pins), so that `mop bench` is not the only judge of a broker.
//
//   node bench/mqttjs-bench.js --port 1883 --qos 1 -P 1 -S 1 --size 64 --window 100 \
//        --duration 5 --warmup 1 [--broker-pid PID]
//
// S subscribers and P publishers (MQTT 3.1.1, clean sessions) on one topic of its own. Each
// publisher keeps at most --window publishes outstanding: at QoS 1 until the PUBACK, at QoS 0
// until MQTT.js has handed the packet to the socket. The payload carries the publisher's number,
// a sequence number and the send time, so each subscriber counts what it received in the
// measured seconds, duplicates, and end-to-end latency. Prints one JSON object on stdout, with
// the same keys as `mop bench --json` where the idea is the same (msgs_per_s_in, latency_us,
// broker.cpu_pct, lost, duplicates).
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const mqttPath = path.join(__dirname, '..', 'tests', 'integration', 'js', 'node_modules', 'mqtt');
let mqtt;
try {
  mqtt = require(mqttPath);
} catch (e) {
  process.stderr.write(`mqttjs-bench: MQTT.js not found at ${mqttPath} (npm ci in tests/integration/js): ${e.message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { host: '127.0.0.1', port: 1883, qos: 0, pubs: 1, subs: 1, size: 64, window: 100,
              duration: 5, warmup: 1, brokerPid: 0, drain: 5 };
  const names = { '--host': 'host', '--port': 'port', '--qos': 'qos', '-P': 'pubs', '-S': 'subs',
                  '--size': 'size', '--window': 'window', '--duration': 'duration', '--warmup': 'warmup',
                  '--broker-pid': 'brokerPid', '--drain-timeout': 'drain' };
  for (let i = 2; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key || i + 1 >= argv.length) throw new Error(`bad argument '${argv[i]}' (options: ${Object.keys(names).join(' ')})`);
    o[key] = key === 'host' ? argv[i + 1] : Number(argv[i + 1]);
    if (key !== 'host' && !Number.isFinite(o[key])) throw new Error(`${argv[i]}: not a number: '${argv[i + 1]}'`);
  }
  if (o.qos !== 0 && o.qos !== 1) throw new Error('--qos: 0 or 1');
  if (o.size < 20) throw new Error('--size: at least 20 bytes (publisher, sequence, send time)');
  return o;
}

let clkTck = 100;
try { clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100; } catch (e) { /* 100 */ }

function cpuSeconds(pid) {
  if (!pid) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clkTck;  // utime, stime: fields 14 and 15
  } catch (e) {
    return null;
  }
}

function connect(o, id) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect({ host: o.host, port: o.port, protocolVersion: 4, clean: true, clientId: id,
                             reconnectPeriod: 0, connectTimeout: 30000, keepalive: 60 });
    c.once('connect', () => {
      // As `mop bench` does: no Nagle delay on small packets (MQTT.js leaves Node's default).
      if (c.stream && typeof c.stream.setNoDelay === 'function') c.stream.setNoDelay(true);
      resolve(c);
    });
    c.once('error', reject);
  });
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p / 100 * sorted.length))];
}

async function main() {
  const o = parseArgs(process.argv);
  const topic = `mqttjs-bench/${process.pid}-${Date.now()}`;
  const tag = `mj${process.pid}`;
  let measuring = false;
  let received = 0, receivedTotal = 0, duplicates = 0, errors = 0;
  const lat = [];
  const seen = [];  // per subscriber, per publisher: the highest sequence number received

  const subs = [];
  for (let j = 0; j < o.subs; ++j) {
    const c = await connect(o, `${tag}-s${j}`);
    await new Promise((res, rej) => c.subscribe(topic, { qos: o.qos }, (e) => (e ? rej(e) : res())));
    const last = new Array(o.pubs).fill(-1);
    seen.push(last);
    c.on('message', (t, payload) => {
      const p = payload.readUInt32BE(0), seq = payload.readUInt32BE(4), sent = payload.readDoubleBE(8);
      ++receivedTotal;
      if (seq <= last[p]) { ++duplicates; return; }
      last[p] = seq;
      if (measuring) {
        ++received;
        if ((received & 15) === 0) lat.push((performance.now() - sent) * 1000);
      }
    });
    c.on('error', () => ++errors);
    subs.push(c);
  }

  const pubs = [];
  const sentBy = new Array(o.pubs).fill(0);
  let stop = false, sentMeasured = 0;
  for (let i = 0; i < o.pubs; ++i) pubs.push(await connect(o, `${tag}-p${i}`));
  const done = pubs.map((c, i) => new Promise((resolve) => {
    let outstanding = 0;
    const pump = () => {
      while (!stop && outstanding < o.window) {
        const buf = Buffer.alloc(o.size);
        buf.writeUInt32BE(i, 0);
        buf.writeUInt32BE(sentBy[i]++, 4);
        buf.writeDoubleBE(performance.now(), 8);
        ++outstanding;
        if (measuring) ++sentMeasured;
        c.publish(topic, buf, { qos: o.qos }, (e) => {
          if (e) ++errors;
          --outstanding;
          if (stop) {
            if (outstanding === 0) resolve();
          } else {
            setImmediate(pump);
          }
        });
      }
      if (stop && outstanding === 0) resolve();
    };
    c.on('error', () => ++errors);
    pump();
  }));

  await new Promise((r) => setTimeout(r, o.warmup * 1000));
  const cpu0 = cpuSeconds(o.brokerPid), own0 = process.cpuUsage();
  let t0 = performance.now();
  received = 0;
  measuring = true;
  await new Promise((r) => setTimeout(r, o.duration * 1000));
  measuring = false;
  const t1 = performance.now();
  const cpu1 = cpuSeconds(o.brokerPid), own1 = process.cpuUsage(own0);
  const elapsed = (t1 - t0) / 1000;
  const inWindow = received;
  stop = true;
  await Promise.race([Promise.all(done), new Promise((r) => setTimeout(r, 30000))]);
  // Let the subscribers drain what is in flight, then count what never arrived.
  const totalSent = sentBy.reduce((a, b) => a + b, 0);
  const want = totalSent * o.subs;
  const end = Date.now() + o.drain * 1000;
  while (receivedTotal - duplicates < want && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  const lost = Math.max(0, want - (receivedTotal - duplicates));
  for (const c of [...pubs, ...subs]) c.end(true);

  lat.sort((a, b) => a - b);
  const result = {
    tool: `MQTT.js ${require(path.join(mqttPath, 'package.json')).version}`,
    mode: 'pubsub', qos: o.qos, publishers: o.pubs, subscribers: o.subs, size: o.size, window: o.window,
    elapsed_s: elapsed,
    msgs_per_s_in: inWindow / elapsed,
    msgs_per_s_out: sentMeasured / elapsed,
    sent: totalSent, received: receivedTotal, duplicates, lost, errors,
    latency_us: { p50: percentile(lat, 50), p99: percentile(lat, 99) },
    tool_cpu_pct: 100 * (own1.user + own1.system) / 1e6 / elapsed,
  };
  if (cpu0 !== null && cpu1 !== null) result.broker = { cpu_pct: 100 * (cpu1 - cpu0) / elapsed };
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`mqttjs-bench: ${e.message || e}\n`);
  process.exit(1);
});
