'use strict';
// MQTT 5 (and mixed 3.1.1/5) integration tests of mop with MQTT.js (the `mqtt` npm package,
// protocolVersion 5), a client we did not write. Starts $MOP_BIN standalone with ../mop_launch.js
// (port 0 for every listener, the bound ports read from its start-up line, a temporary data
// directory).
// Run: MOP_BIN=build/mop node --test --test-force-exit test_mqtt5.js   (after `npm ci` here)
const test = require('node:test');
const assert = require('node:assert');
const mqtt = require('mqtt');
const { launch } = require('../mop_launch.js');

let port;
const clients = [];
const mops = [];

// Starts `mop standalone` with `extra` arguments (../mop_launch.js: port 0 everywhere, the ports
// read from its start-up line); resolves with its MQTT port.
async function spawnMop(extra = []) {
  const mop = await launch({ args: extra });
  mops.push(mop);
  return mop.port;
}

async function startMop() {
  port = await spawnMop();
}

const uid = (p) => `${p}-${Math.random().toString(16).slice(2, 10)}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Connects and resolves with [client, connack]; rejects on a refused CONNACK.
function connect(opts = {}) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: 5, reconnectPeriod: 0,
                             connectTimeout: 5000, ...opts });
    clients.push(c);
    const timer = setTimeout(() => reject(new Error('no CONNACK')), 8000);
    c.once('connect', (ack) => { clearTimeout(timer); resolve([c, ack]); });
    c.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

// Collects messages: next(ms) resolves with the next one or null after ms.
function inbox(c) {
  const q = [];
  const waiters = [];
  c.on('message', (topic, payload, packet) => {
    const m = { topic, payload: payload.toString(), packet };
    if (waiters.length) waiters.shift()(m); else q.push(m);
  });
  return {
    next(ms = 5000) {
      if (q.length) return Promise.resolve(q.shift());
      return new Promise((resolve) => {
        const w = (m) => { clearTimeout(t); resolve(m); };
        const t = setTimeout(() => { waiters.splice(waiters.indexOf(w), 1); resolve(null); }, ms);
        waiters.push(w);
      });
    },
  };
}

test.before(startMop);
test.after(async () => {
  for (const c of clients) c.end(true);
  for (const m of mops) {
    assert.strictEqual(await m.stop(), 0, `mop exit code after SIGTERM\n${m.log()}`);
    m.cleanup();
  }
});

test('CONNACK carries the server limits and an assigned client id [MQTT-3.2.2-16]', async () => {
  const [, ack] = await connect({ clientId: '' });
  const p = ack.properties;
  assert.ok(p.assignedClientIdentifier);
  assert.strictEqual(p.receiveMaximum, 1000);
  assert.strictEqual(p.topicAliasMaximum, 10);
  assert.ok(p.maximumPacketSize > 0);
  assert.strictEqual(p.wildcardSubscriptionAvailable, true);
  assert.strictEqual(p.subscriptionIdentifiersAvailable, true);
  assert.strictEqual(p.sharedSubscriptionAvailable, true);
});

test('properties survive Pulsar; a 3.1.1 client shares the topic', async () => {
  const topic = uid('props');
  const [s5] = await connect({ clientId: uid('s5') });
  const in5 = inbox(s5);
  await s5.subscribeAsync(topic, { qos: 1 });
  const [s3] = await connect({ clientId: uid('s3'), protocolVersion: 4 });
  const in3 = inbox(s3);
  await s3.subscribeAsync(topic, { qos: 1 });
  const [p] = await connect({ clientId: uid('p') });
  await p.publishAsync(topic, 'hello', { qos: 1, properties: {
    payloadFormatIndicator: true, contentType: 'text/plain', responseTopic: 'reply/x',
    correlationData: Buffer.from([0, 255, 7]), messageExpiryInterval: 100,
    userProperties: { k: ['1', '2'], a: 'b' } } });
  const m = await in5.next();
  assert.strictEqual(m.payload, 'hello');
  const pr = m.packet.properties;
  assert.strictEqual(pr.contentType, 'text/plain');
  assert.strictEqual(pr.responseTopic, 'reply/x');
  assert.deepStrictEqual([...pr.correlationData], [0, 255, 7]);
  assert.strictEqual(pr.payloadFormatIndicator, true);
  assert.deepStrictEqual({ ...pr.userProperties }, { k: ['1', '2'], a: 'b' });  // order kept per key
  assert.ok(pr.messageExpiryInterval > 0 && pr.messageExpiryInterval <= 100);
  assert.strictEqual((await in3.next()).payload, 'hello');
  await s3.publishAsync(topic, 'from311', { qos: 1 });
  assert.strictEqual((await in5.next()).payload, 'from311');
});

test('no local [MQTT-3.8.3-3]', async () => {
  const topic = uid('nl');
  const [c] = await connect({ clientId: uid('nl') });
  const box = inbox(c);
  await c.subscribeAsync(topic, { qos: 1, nl: true });
  await c.publishAsync(topic, 'mine', { qos: 1 });
  assert.strictEqual(await box.next(500), null);
  const [o] = await connect({ clientId: uid('o') });
  await o.publishAsync(topic, 'theirs', { qos: 1 });
  assert.strictEqual((await box.next()).payload, 'theirs');
});

test('retain handling 0/1/2 and retain as published [MQTT-3.3.1-9..13]', async () => {
  const topic = uid('rh');
  const [p] = await connect({ clientId: uid('p') });
  await p.publishAsync(topic, 'kept', { qos: 1, retain: true });
  const [c] = await connect({ clientId: uid('c') });
  const box = inbox(c);
  await c.subscribeAsync(topic, { qos: 1, rh: 2 });
  assert.strictEqual(await box.next(500), null);
  await c.unsubscribeAsync(topic);
  await c.subscribeAsync(topic, { qos: 1, rh: 1 });
  assert.strictEqual((await box.next()).payload, 'kept');
  await c.subscribeAsync(topic, { qos: 1, rh: 1 });
  assert.strictEqual(await box.next(500), null);
  await c.subscribeAsync(topic, { qos: 1, rh: 0, rap: true });
  assert.strictEqual((await box.next()).packet.retain, true);
  await p.publishAsync(topic, 'live', { qos: 1, retain: true });
  const live = await box.next();
  assert.strictEqual(live.payload, 'live');
  assert.strictEqual(live.packet.retain, true);
  await p.publishAsync(topic, '', { qos: 1, retain: true });
});

test('subscription identifiers of every matching subscription [MQTT-3.3.4-3]', async () => {
  const base = uid('sid');
  const [c] = await connect({ clientId: uid('c') });
  const box = inbox(c);
  await c.subscribeAsync(`${base}/+`, { qos: 1, properties: { subscriptionIdentifier: 3 } });
  await c.subscribeAsync(`${base}/x`, { qos: 1, properties: { subscriptionIdentifier: 4 } });
  const [p] = await connect({ clientId: uid('p') });
  await p.publishAsync(`${base}/x`, 'm', { qos: 1 });
  const m = await box.next();
  const ids = [].concat(m.packet.properties.subscriptionIdentifier);
  assert.deepStrictEqual(ids.sort(), [3, 4]);
});

test('topic aliases both ways [MQTT-3.3.2-9, -12]', async () => {
  const topic = uid('alias');
  const [s] = await connect({ clientId: uid('s'), properties: { topicAliasMaximum: 2 } });
  const box = inbox(s);
  await s.subscribeAsync(topic, { qos: 1 });
  const [p] = await connect({ clientId: uid('p') });
  await p.publishAsync(topic, 'one', { qos: 1, properties: { topicAlias: 1 } });
  await p.publishAsync('', 'two', { qos: 1, properties: { topicAlias: 1 } });
  const a = await box.next();
  const b = await box.next();
  assert.deepStrictEqual([a.topic, a.payload, b.topic, b.payload], [topic, 'one', topic, 'two']);
  assert.strictEqual(b.packet.properties.topicAlias, a.packet.properties.topicAlias);
});

test('UNSUBACK reason codes [MQTT-3.11.3-1]', async () => {
  const topic = uid('u');
  const [c] = await connect({ clientId: uid('c') });
  await c.subscribeAsync(topic, { qos: 0 });
  const unsuback = new Promise((resolve) => {
    const f = (pk) => { if (pk.cmd === 'unsuback') { c.off('packetreceive', f); resolve(pk); } };
    c.on('packetreceive', f);
  });
  await c.unsubscribeAsync([topic, `${topic}/none`]);
  const pk = await unsuback;
  assert.deepStrictEqual(pk.granted, [0x00, 0x11]);
});

test('session expiry interval keeps the session, then ends it', async () => {
  const id = uid('exp');
  const topic = uid('exp');
  let [c] = await connect({ clientId: id, clean: true, properties: { sessionExpiryInterval: 2 } });
  await c.subscribeAsync(topic, { qos: 1 });
  await c.endAsync();
  const [p] = await connect({ clientId: uid('p') });
  await p.publishAsync(topic, 'queued', { qos: 1 });
  let ack;
  [c, ack] = await connect({ clientId: id, clean: false, properties: { sessionExpiryInterval: 2 } });
  assert.strictEqual(ack.sessionPresent, true);
  await c.endAsync();
  await sleep(3500);
  [c, ack] = await connect({ clientId: id, clean: false, properties: { sessionExpiryInterval: 2 } });
  assert.strictEqual(ack.sessionPresent, false);
});

test('will delay, and DISCONNECT 0x04 sends the will', async () => {
  const wtopic = uid('will');
  const [w] = await connect({ clientId: uid('w') });
  const box = inbox(w);
  await w.subscribeAsync(wtopic, { qos: 1 });
  const [c] = await connect({ clientId: uid('c'), properties: { sessionExpiryInterval: 30 },
    will: { topic: wtopic, payload: Buffer.from('gone'), qos: 1, retain: false,
            properties: { willDelayInterval: 1, userProperties: { why: 'test' } } } });
  c.end(false, { reasonCode: 0x04 });
  assert.strictEqual(await box.next(500), null);  // not before its delay
  const m = await box.next(4000);
  assert.ok(m, 'will not published');
  assert.strictEqual(m.payload, 'gone');
  assert.deepStrictEqual({ ...m.packet.properties.userProperties }, { why: 'test' });
});

test('an authentication method without an authenticator gets CONNACK 0x8C [MQTT-4.12.0-1]', async () => {
  await assert.rejects(connect({ clientId: uid('a'), properties: { authenticationMethod: 'SCRAM-SHA-1' } }),
                       (e) => e.code === 0x8C || /authentication method/i.test(String(e.message)));
});

test('PUBACK/PUBREC 0x10 when no subscription matched (MQTT 5 3.4.2.1, 3.5.2.1)', async () => {
  const topic = uid('nomatch');
  const [p] = await connect({ clientId: uid('p') });
  const acks = [];
  p.on('packetreceive', (pk) => {
    if (pk.cmd === 'puback' || pk.cmd === 'pubrec') acks.push([pk.cmd, pk.reasonCode || 0]);
  });
  await p.publishAsync(topic, 'nobody', { qos: 1 });
  await p.publishAsync(topic, 'nobody', { qos: 2 });  // 0x10 is a success: the QoS 2 flow completes
  const [s] = await connect({ clientId: uid('s') });
  const box = inbox(s);
  await s.subscribeAsync(topic, { qos: 1 });
  await p.publishAsync(topic, 'somebody', { qos: 1 });
  assert.deepStrictEqual(acks, [['puback', 0x10], ['pubrec', 0x10], ['puback', 0]]);
  assert.strictEqual((await box.next()).payload, 'somebody');
});

test('response information when requested, none otherwise [MQTT-3.1.2-28]', async () => {
  const id = uid('rr');
  const [, ack] = await connect({ clientId: id, properties: { requestResponseInformation: true } });
  assert.strictEqual(ack.properties.responseInformation, `$response/${id}`);
  const [, plain] = await connect({ clientId: uid('rr') });
  assert.strictEqual((plain.properties || {}).responseInformation, undefined);
  // The prefix is usable as a response topic.
  const [c] = await connect({ clientId: uid('req') });
  const box = inbox(c);
  await c.subscribeAsync(`$response/${id}/#`, { qos: 1 });
  const [p] = await connect({ clientId: uid('resp') });
  await p.publishAsync(`$response/${id}/r1`, 'answer', { qos: 1 });
  assert.strictEqual((await box.next()).payload, 'answer');
});

test('a client beyond mqttMaxConnections gets CONNACK 0x97 Quota exceeded', async () => {
  const limitedPort = await spawnMop(['--mqttMaxConnections=1']);
  await connect({ port: limitedPort, clientId: uid('first') });
  await assert.rejects(connect({ port: limitedPort, clientId: uid('second') }), (e) => e.code === 0x97);
});

test('queued messages: expired ones are not delivered, the others carry the interval left [MQTT-3.3.2-5, -6]', async () => {
  const id = uid('q');
  const topic = uid('expiry');
  let [c] = await connect({ clientId: id, clean: true, properties: { sessionExpiryInterval: 60 } });
  await c.subscribeAsync(topic, { qos: 1 });
  await c.endAsync();
  const [p] = await connect({ clientId: uid('p') });
  await p.publishAsync(topic, 'short', { qos: 1, properties: { messageExpiryInterval: 2 } });
  await p.publishAsync(topic, 'long', { qos: 1, properties: { messageExpiryInterval: 100 } });
  await sleep(3000);
  c = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: 5, reconnectPeriod: 0, clientId: id,
                     clean: false, properties: { sessionExpiryInterval: 60 } });
  clients.push(c);
  const box = inbox(c);  // listening before the CONNACK: queued messages follow it at once
  const m = await box.next();
  assert.ok(m, 'queued message not delivered');
  assert.strictEqual(m.payload, 'long');
  assert.ok(m.packet.properties.messageExpiryInterval <= 97, `${m.packet.properties.messageExpiryInterval}`);
  assert.ok(m.packet.properties.messageExpiryInterval >= 90);
  assert.strictEqual(await box.next(500), null);
});
