#!/usr/bin/env node
// Integration tests of mop's Pulsar protocol (brokerServicePort) with a Pulsar client we did not
// write: the pure-JS `pulsar-flex` npm package (protocol v17, lookup on its own connection, an
// ACK_RESPONSE awaited for every ack). Cross-protocol cases use mosquitto_pub / mosquitto_sub.
// Starts $MOP_BIN standalone with ../mop_launch.js (port 0 for every listener, the bound ports
// read from its start-up line, a fresh data directory). Run: MOP_BIN=build/mop node --test --test-force-exit test_pulsar.js
// (--test-force-exit: pulsar-flex keeps reconnect timers alive after the tests are done).
'use strict';
const { test, after, before } = require('node:test');
const assert = require('node:assert');
const { execFile } = require('node:child_process');
const net = require('node:net');
const { Producer, Consumer, logLevel } = require('pulsar-flex');
const { launch } = require('../mop_launch.js');
// pulsar-flex's own generated protobuf classes, for the one command it does not send.
const pb = require('pulsar-flex/src/commands/protocol/pulsar/pulsar_pb');

let mop;  // a fresh store for every run: nothing is restored from an earlier one
let pulsarPort;
let mqttPort;
const quiet = { logLevel: logLevel.NOTHING !== undefined ? logLevel.NOTHING : logLevel.ERROR };
const opened = [];

async function startMop() {
  // Partitioned auto-creation applies to PARTITIONED_METADATA only, which pulsar-flex never
  // sends: the other tests see plain topics as before.
  mop = await launch({ args: ['--allowAutoTopicCreationType=partitioned', '--defaultNumPartitions=3'] });
  pulsarPort = mop.pulsarPort;
  mqttPort = mop.port;
}

function servers() { return [`127.0.0.1:${pulsarPort}`]; }

function producer(topic, producerAccessMode = Producer.ACCESS_MODES.SHARED) {
  const p = new Producer({ topic, discoveryServers: servers(), producerAccessMode, ...quiet });
  opened.push(p);
  return p;
}

function consumer(topic, subscription, subType, name) {
  const c = new Consumer({ topic, subscription, subType, consumerName: name, discoveryServers: servers(),
                           initialPosition: Consumer.INITIAL_POSITION.EARLIEST, receiveQueueSize: 100, ...quiet });
  opened.push(c);
  return c;
}

// Collects `n` messages (acked individually unless `ack` says otherwise), or fails after a while.
function collect(c, n, { ack = 'individual', timeoutMs = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    const got = [];
    const timer = setTimeout(() => reject(new Error(`got ${got.length} of ${n} messages: ${JSON.stringify(got.map((g) => g.payload))}`)), timeoutMs);
    c.run({
      autoAck: false,
      onMessage: async ({ message, properties, redeliveryCount, ack: doAck, metadata }) => {
        const item = { payload: Buffer.from(message).toString(), properties, redeliveryCount, metadata };
        got.push(item);
        if (ack === 'individual') await doAck();
        if (ack === 'cumulative' && got.length === n) await doAck({ type: Consumer.ACK_TYPES.CUMULATIVE });
        if (got.length === n) {
          clearTimeout(timer);
          resolve(got);
        }
      },
    }).catch(reject);
  });
}

function run(cmd, args, timeoutMs = 15000) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

before(startMop);

after(async () => {
  for (const o of opened) {
    try { if (o.close) await o.close(); } catch (e) { /* already closed */ }
  }
  if (mop) {
    // mop must close the Pulsar connections and exit 0 on SIGTERM.
    assert.strictEqual(await mop.stop('SIGTERM'), 0, `mop exit code after SIGTERM\n${mop.log()}`);
    mop.cleanup();
  }
});

test('single and batched messages reach a Shared subscriber in order, with properties', async () => {
  const topic = 'persistent://public/default/js-shared';
  const c = consumer(topic, 'shared-sub', Consumer.SUB_TYPES.SHARED, 'c1');
  await c.subscribe();
  const p = producer(topic);
  await p.create();
  await p.sendMessage({ payload: 'one', properties: { k: 'v1' } });
  await p.sendBatch({ messages: [{ payload: 'two', properties: { k: 'v2' } }, { payload: 'three', properties: { k: 'v3' } }] });
  const got = await collect(c, 3);
  assert.deepStrictEqual(got.map((g) => g.payload), ['one', 'two', 'three']);
  assert.deepStrictEqual(got.map((g) => g.properties.k), ['v1', 'v2', 'v3']);
  assert.ok(got.every((g) => g.redeliveryCount === 0));
  await p.close();
  await c.unsubscribe();
});

test('Exclusive: a second consumer is refused, the first gets everything, cumulative ack', async () => {
  const topic = 'persistent://public/default/js-exclusive';
  const c1 = consumer(topic, 'ex-sub', Consumer.SUB_TYPES.EXCLUSIVE, 'first');
  await c1.subscribe();
  const c2 = consumer(topic, 'ex-sub', Consumer.SUB_TYPES.EXCLUSIVE, 'second');
  await assert.rejects(c2.subscribe());
  const p = producer(topic);
  await p.create();
  for (let i = 0; i < 5; i++) await p.sendMessage({ payload: `m${i}` });
  const got = await collect(c1, 5, { ack: 'cumulative' });
  assert.deepStrictEqual(got.map((g) => g.payload), ['m0', 'm1', 'm2', 'm3', 'm4']);
  await p.close();
  await c1.unsubscribe();
});

test('two Shared consumers split the messages between them', async () => {
  const topic = 'persistent://public/default/js-shared-two';
  const a = consumer(topic, 'split', Consumer.SUB_TYPES.SHARED, 'a');
  const b = consumer(topic, 'split', Consumer.SUB_TYPES.SHARED, 'b');
  await a.subscribe();
  await b.subscribe();
  const seen = [];
  const both = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`saw ${seen.length} of 10`)), 15000);
    const handler = (who) => async ({ message, ack }) => {
      seen.push([who, Buffer.from(message).toString()]);
      await ack();
      if (seen.length === 10) { clearTimeout(timer); resolve(); }
    };
    a.run({ autoAck: false, onMessage: handler('a') }).catch(reject);
    b.run({ autoAck: false, onMessage: handler('b') }).catch(reject);
  });
  const p = producer(topic);
  await p.create();
  for (let i = 0; i < 10; i++) await p.sendMessage({ payload: `s${i}` });
  await both;
  assert.deepStrictEqual(seen.map((s) => s[1]).sort(), Array.from({ length: 10 }, (_, i) => `s${i}`).sort());
  assert.ok(seen.some((s) => s[0] === 'a') && seen.some((s) => s[0] === 'b'), JSON.stringify(seen));
  await p.close();
});

test('mosquitto_pub -> pulsar-flex consumer of the mapped topic', async () => {
  const c = consumer('persistent://public/default/sensors%2Froom1%2Ftemp', 'from-mqtt', Consumer.SUB_TYPES.EXCLUSIVE, 'x');
  await c.subscribe();
  await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-q', '1', '-t', 'sensors/room1/temp', '-m', '21.5']);
  const got = await collect(c, 1);
  assert.strictEqual(got[0].payload, '21.5');
  // An MQTT publish is one plain message, not a batch.
  assert.ok(!got[0].metadata.numMessagesInBatch || got[0].metadata.numMessagesInBatch === 1);
  await c.unsubscribe();
});

test('pulsar-flex producer -> mosquitto_sub', async () => {
  const sub = run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-q', '1', '-t', 'sensors/room2/temp',
                                    '-C', '1', '-W', '10']);
  // Give mosquitto_sub time to subscribe before the message goes out.
  await new Promise((r) => setTimeout(r, 700));
  const p = producer('persistent://public/default/sensors%2Froom2%2Ftemp');
  await p.create();
  await p.sendMessage({ payload: 'from pulsar', properties: { unit: 'C' } });
  assert.strictEqual((await sub).trim(), 'from pulsar');
  await p.close();
});

test('a negative ack redelivers that message only, with its redelivery count raised', async () => {
  const topic = 'persistent://public/default/js-nack';
  const c = consumer(topic, 'nack-sub', Consumer.SUB_TYPES.SHARED, 'n');
  await c.subscribe();
  const seen = [];
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`saw ${JSON.stringify(seen)}`)), 15000);
    c.run({
      autoAck: false,
      onMessage: async ({ message, redeliveryCount, ack }) => {
        const payload = Buffer.from(message).toString();
        seen.push([payload, redeliveryCount]);
        // pulsar-flex sends REDELIVER_UNACKNOWLEDGED_MESSAGES with this one id for a nack.
        if (payload === 'n1' && redeliveryCount === 0) await ack({ type: Consumer.ACK_TYPES.NEGATIVE });
        else await ack();
        if (seen.length === 4) { clearTimeout(timer); resolve(); }
      },
    }).catch(reject);
  });
  const p = producer(topic);
  await p.create();
  for (let i = 0; i < 3; i++) await p.sendMessage({ payload: `n${i}` });
  await done;
  // Nothing else comes back: the others were acknowledged and were not listed.
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepStrictEqual(seen.slice(0, 3), [['n0', 0], ['n1', 0], ['n2', 0]]);
  assert.deepStrictEqual(seen.slice(3), [['n1', 1]]);
  await p.close();
  await c.unsubscribe();
});

// PARTITIONED_METADATA as official clients send it before producing or subscribing (pulsar-flex
// does not): a bare connection, CONNECT, then the request, encoded with pulsar-flex's protobuf.
function partitionedMetadata(topic) {
  const frame = (cmd) => {
    const body = Buffer.from(cmd.serializeBinary());
    const head = Buffer.alloc(8);
    head.writeUInt32BE(body.length + 4, 0);
    head.writeUInt32BE(body.length, 4);
    return Buffer.concat([head, body]);
  };
  const connect = new pb.BaseCommand().setType(pb.BaseCommand.Type.CONNECT)
    .setConnect(new pb.CommandConnect().setClientVersion('raw').setProtocolVersion(17));
  const request = new pb.BaseCommand().setType(pb.BaseCommand.Type.PARTITIONED_METADATA)
    .setPartitionmetadata(new pb.CommandPartitionedTopicMetadata().setTopic(topic).setRequestId(1));
  return new Promise((resolve, reject) => {
    const sock = net.connect(pulsarPort, '127.0.0.1', () => sock.write(Buffer.concat([frame(connect), frame(request)])));
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('no PARTITIONED_METADATA_RESPONSE')); }, 5000);
    sock.on('error', reject);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const total = buf.readUInt32BE(0);
        const cmd = pb.BaseCommand.deserializeBinary(buf.subarray(8, 8 + buf.readUInt32BE(4)));
        buf = buf.subarray(4 + total);
        if (cmd.getType() === pb.BaseCommand.Type.PARTITIONED_METADATA_RESPONSE) {
          clearTimeout(timer);
          sock.destroy();
          resolve(cmd.getPartitionmetadataresponse().getPartitions());
        }
      }
    });
  });
}

test('partitioned topics: metadata answers the partition count; partitions are topics for MQTT too', async () => {
  const base = 'persistent://public/default/js-parts';
  assert.strictEqual(await partitionedMetadata(base), 3);
  assert.strictEqual(await partitionedMetadata(base), 3);
  assert.strictEqual(await partitionedMetadata(`${base}-partition-1`), 0);
  // A producer on a partition (what a partitioned producer does per partition) reaches a consumer
  // of that partition and an MQTT subscriber of the partition's name.
  const sub = run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-q', '1', '-t', 'js-parts-partition-1',
                                    '-C', '1', '-W', '10']);
  const c = consumer(`${base}-partition-1`, 'parts', Consumer.SUB_TYPES.EXCLUSIVE, 'p');
  await c.subscribe();
  await new Promise((r) => setTimeout(r, 700));
  const p = producer(`${base}-partition-1`);
  await p.create();
  await p.sendMessage({ payload: 'to partition 1' });
  assert.strictEqual((await collect(c, 1))[0].payload, 'to partition 1');
  assert.strictEqual((await sub).trim(), 'to partition 1');
  // MQTT publishes to the base name go to a plain topic of that name, not to the partitions.
  const onBase = consumer(base, 'base', Consumer.SUB_TYPES.EXCLUSIVE, 'b');
  await onBase.subscribe();
  await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-q', '1', '-t', 'js-parts', '-m', 'mqtt on base']);
  assert.strictEqual((await collect(onBase, 1))[0].payload, 'mqtt on base');
  await p.close();
  await c.unsubscribe();
  await onBase.unsubscribe();
});

test('producer access modes: an Exclusive producer keeps others out until it closes', async () => {
  const topic = 'persistent://public/default/js-exclusive-producer';
  const owner = producer(topic, Producer.ACCESS_MODES.EXCLUSIVE);
  await owner.create();
  // ProducerFenced for a second exclusive one, ProducerBusy for a shared one.
  await assert.rejects(producer(topic, Producer.ACCESS_MODES.EXCLUSIVE).create(), /exclusive producer/);
  await assert.rejects(producer(topic, Producer.ACCESS_MODES.SHARED).create(), /exclusive producer/);
  await owner.sendMessage({ payload: 'from the owner' });
  await owner.close();
  const next = producer(topic, Producer.ACCESS_MODES.EXCLUSIVE);
  await next.create();
  await next.close();
});

test('MQTT 5 properties travel as Pulsar properties, both ways', async () => {
  // mosquitto_pub (MQTT 5) -> pulsar-flex: the names documented in mqtt/server/README.md.
  const c = consumer('persistent://public/default/props%2Fin', 'props', Consumer.SUB_TYPES.EXCLUSIVE, 'pp');
  await c.subscribe();
  await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-V', '5', '-q', '1', '-t', 'props/in', '-m', 'hello',
                              '-D', 'publish', 'user-property', 'colour', 'blue',
                              '-D', 'publish', 'content-type', 'text/plain',
                              '-D', 'publish', 'response-topic', 'props/reply',
                              '-D', 'publish', 'correlation-data', 'ab',
                              '-D', 'publish', 'payload-format-indicator', '1']);
  const got = (await collect(c, 1))[0];
  assert.strictEqual(got.payload, 'hello');
  assert.strictEqual(got.properties.colour, 'blue');
  assert.strictEqual(got.properties.__mqtt_content_type, 'text/plain');
  assert.strictEqual(got.properties.__mqtt_response_topic, 'props/reply');
  assert.strictEqual(got.properties.__mqtt_correlation_data, Buffer.from('ab').toString('hex'));
  assert.strictEqual(got.properties.__mqtt_payload_format, '1');
  await c.unsubscribe();
  // pulsar-flex -> mosquitto_sub (MQTT 5): Pulsar properties arrive as user properties.
  const sub = run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-V', '5', '-q', '1', '-t', 'props/out',
                                    '-C', '1', '-W', '10', '-F', '%p|%P']);
  await new Promise((r) => setTimeout(r, 700));
  const p = producer('persistent://public/default/props%2Fout');
  await p.create();
  await p.sendMessage({ payload: 'from pulsar', properties: { unit: 'C', site: 'north' } });
  const line = (await sub).trim();
  // %p payload, %P user properties as key:value, in order.
  assert.strictEqual(line, 'from pulsar|unit:C site:north');
  await p.close();
});

test('a subscription deleted by an MQTT clean session: CLOSE_CONSUMER, pulsar-flex resubscribes, nothing lost', async () => {
  const topic = 'persistent://public/default/js-reconnect';
  // "dev-7" is an MQTT client id: its session's subscription is the Pulsar subscription "dev-7"
  // (Shared), which this pulsar-flex consumer joins; "keep" is another subscription of the topic.
  const joined = consumer(topic, 'dev-7', Consumer.SUB_TYPES.SHARED, 'joined');
  const states = [];
  let resubscribed;
  const back = new Promise((resolve) => { resubscribed = resolve; });
  joined.onStateChange(({ newState }) => {
    states.push(newState);
    if (newState === 'ACTIVE' && states.includes('RECONNECTING')) resubscribed();
  });
  const keep = consumer(topic, 'keep', Consumer.SUB_TYPES.EXCLUSIVE, 'keeper');
  await joined.subscribe();
  await keep.subscribe();
  const joinedGot = [];
  const waiters = [];
  // Resolves once the joined consumer has received every one of `payloads`.
  const joinedHas = (payloads) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`joined consumer got ${JSON.stringify(joinedGot)}`)), 15000);
    waiters.push(() => {
      if (!payloads.every((m) => joinedGot.includes(m))) return false;
      clearTimeout(timer);
      resolve();
      return true;
    });
    if (waiters[waiters.length - 1]()) waiters.pop();
  });
  joined.run({
    autoAck: false,
    onMessage: async ({ message, ack }) => {
      joinedGot.push(Buffer.from(message).toString());
      await ack();
      for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]()) waiters.splice(i, 1);
    },
  }).catch(() => { /* the reconnect replaces this run */ });
  const keepAll = collect(keep, 6);
  const p = producer(topic);
  await p.create();
  for (let i = 0; i < 3; i++) await p.sendMessage({ payload: `r${i}` });
  await joinedHas(['r0', 'r1', 'r2']);
  // The MQTT client subscribes with a clean session and leaves: its subscription is deleted,
  // and the Pulsar consumer attached to it gets CLOSE_CONSUMER.
  await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-i', 'dev-7', '-q', '1',
                              '-t', 'js-reconnect', '-E']);
  await Promise.race([back, new Promise((_, reject) => setTimeout(() => reject(new Error(
    `no reconnect after CLOSE_CONSUMER; states ${JSON.stringify(states)}`)), 15000))]);
  for (let i = 3; i < 6; i++) await p.sendMessage({ payload: `r${i}` });
  // The resubscribed consumer gets what is published after it is back.
  await joinedHas(['r3', 'r4', 'r5']);
  // The other subscription lost nothing and got nothing twice.
  assert.deepStrictEqual((await keepAll).map((g) => g.payload), ['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
  await p.close();
  await keep.unsubscribe();
  await joined.unsubscribe();
});
