'use strict';
// MQTT.js over WebSocket (ws://) and WebSocket over TLS (wss://) against mop's ws and ws+ssl
// listeners (issue 16), with MQTT 3.1.1 and 5 clients: a message crosses from wss to ws and to
// plain TCP. The CA and server certificate are made here with `openssl` in a temp dir.
// Run: MOP_BIN=build/mop node --test --test-force-exit test_transports.js   (after `npm ci` here)
const test = require('node:test');
const assert = require('node:assert');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const mqtt = require('mqtt');
const { launch } = require('../mop_launch.js');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mop-js-tls-'));
const file = (name) => path.join(dir, name);
const clients = [];
let mop;
let ports;

function openssl(...args) {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

function makeCertificates() {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=mop js test CA',
          '-keyout', file('ca.key'), '-out', file('ca.pem'));
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', file('server.key'),
          '-out', file('server.csr'));
  fs.writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
          '-CAcreateserial', '-days', '2', '-extfile', file('server.ext'), '-out', file('server.pem'));
}

function connect(url, opts = {}) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    clients.push(c);
    const timer = setTimeout(() => reject(new Error(`no CONNACK from ${url}`)), 8000);
    c.once('connect', () => { clearTimeout(timer); resolve(c); });
    c.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

function nextMessage(c, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message')), ms);
    c.once('message', (topic, payload) => { clearTimeout(timer); resolve({ topic, payload }); });
  });
}

test.before(async () => {
  makeCertificates();
  mop = await launch({
    args: ['--mqttListeners=mqtt://127.0.0.1:0,ws://127.0.0.1:0,ws+ssl://127.0.0.1:0',
           `--mqttTlsCertificateFilePath=${file('server.pem')}`, `--mqttTlsKeyFilePath=${file('server.key')}`],
  });
  ports = Object.fromEntries(mop.ready.mqtt.map((l) => [l.scheme, l.port]));
});

test.after(async () => {
  for (const c of clients) c.end(true);
  if (mop) {
    assert.strictEqual(await mop.stop(), 0);
    mop.cleanup();
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('MQTT 5 over wss reaches MQTT 3.1.1 over ws and plain TCP', async () => {
  const topic = `js/transports/${Math.random().toString(16).slice(2)}`;
  const ws = await connect(`ws://127.0.0.1:${ports.ws}/mqtt`, { protocolVersion: 4 });
  const tcp = await connect(`mqtt://127.0.0.1:${ports.mqtt}`, { protocolVersion: 4 });
  await ws.subscribeAsync(topic, { qos: 1 });
  await tcp.subscribeAsync(topic, { qos: 1 });
  const wss = await connect(`wss://127.0.0.1:${ports['ws+ssl']}/mqtt`,
                            { protocolVersion: 5, ca: fs.readFileSync(file('ca.pem')) });
  const got = [nextMessage(ws), nextMessage(tcp)];
  const payload = Buffer.alloc(20000, 7);  // more than one TLS record
  await wss.publishAsync(topic, payload, { qos: 1 });
  for (const m of await Promise.all(got)) assert.ok(m.payload.equals(payload));
});

test('wss refuses a client that does not trust the server certificate', async () => {
  await assert.rejects(connect(`wss://127.0.0.1:${ports['ws+ssl']}/mqtt`, { protocolVersion: 4 }));
  // and still serves one that does
  await connect(`wss://127.0.0.1:${ports['ws+ssl']}/mqtt`, { protocolVersion: 4, ca: fs.readFileSync(file('ca.pem')) });
});
