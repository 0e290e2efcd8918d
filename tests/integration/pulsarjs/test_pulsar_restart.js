#!/usr/bin/env node
// What the Pulsar protocol keeps across a restart of a real `mop` process (killed with SIGKILL,
// then started again on the same dataDir): partition counts, schemas and the deduplication state
// of a producer; and what a client hears when mop is stopped with SIGTERM. The commands pulsar-flex does not send (PARTITIONED_METADATA, schemas, SENDs
// with chosen sequence ids) go over a bare connection encoded with pulsar-flex's own protobuf
// classes; the messages are read back with a pulsar-flex consumer.
// Run: MOP_BIN=build/mop node --test --test-force-exit test_pulsar_restart.js
'use strict';
const { test, after } = require('node:test');
const assert = require('node:assert');
const net = require('node:net');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Consumer, logLevel } = require('pulsar-flex');
const pb = require('pulsar-flex/src/commands/protocol/pulsar/pulsar_pb');
const { launch } = require('../mop_launch.js');

const T = pb.BaseCommand.Type;
const quiet = { logLevel: logLevel.NOTHING !== undefined ? logLevel.NOTHING : logLevel.ERROR };
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mop-pulsar-restart-'));
let mop;
let first;  // the first run: later runs listen on its ports
const opened = [];

// Starts $MOP_BIN on dataDir with ../mop_launch.js (port 0 everywhere; after a kill, the ports
// of the first run again, as a supervisor's restart would); resolves with the bound Pulsar port.
async function startMop(extra) {
  mop = await launch({ dataDir, args: ['--brokerDeduplicationEnabled=true', '--allowAutoTopicCreationType=partitioned',
                                       ...extra],
                       sameAs: first });
  first = first || mop;
  return mop.pulsarPort;
}

function stopMop(signal) { return mop.stop(signal); }

// A bare Pulsar connection: frames out, decoded commands in, awaited by type.
class RawClient {
  static async connect(port) {
    const c = new RawClient();
    await new Promise((resolve, reject) => {
      c.sock = net.connect(port, '127.0.0.1', resolve);
      c.sock.on('error', reject);
    });
    c.sock.on('data', (d) => c.onData(d));
    c.write(new pb.BaseCommand().setType(T.CONNECT)
      .setConnect(new pb.CommandConnect().setClientVersion('raw').setProtocolVersion(17)));
    await c.next(T.CONNECTED);
    return c;
  }
  constructor() { this.buf = Buffer.alloc(0); this.got = []; this.waiters = []; }
  onData(d) {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 8 && this.buf.length >= 4 + this.buf.readUInt32BE(0)) {
      const total = this.buf.readUInt32BE(0);
      this.got.push(pb.BaseCommand.deserializeBinary(this.buf.subarray(8, 8 + this.buf.readUInt32BE(4))));
      this.buf = this.buf.subarray(4 + total);
    }
    this.wake();
  }
  wake() {
    for (const w of [...this.waiters]) {
      const i = this.got.findIndex((c) => c.getType() === w.type);
      if (i >= 0) {
        const [cmd] = this.got.splice(i, 1);
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(cmd);
      }
    }
  }
  // The next command of `type` (in arrival order).
  next(type) {
    return new Promise((resolve, reject) => {
      const w = { type, resolve };
      w.timer = setTimeout(() => reject(new Error(`no command of type ${type}`)), 5000);
      this.waiters.push(w);
      this.wake();
    });
  }
  write(cmd) {
    const body = Buffer.from(cmd.serializeBinary());
    const head = Buffer.alloc(8);
    head.writeUInt32BE(body.length + 4, 0);
    head.writeUInt32BE(body.length, 4);
    this.sock.write(Buffer.concat([head, body]));
  }
  // A SEND without checksum (the magic is optional): [cmd][metadata][payload].
  send(producerId, sequenceId, payload) {
    const cmd = Buffer.from(new pb.BaseCommand().setType(T.SEND)
      .setSend(new pb.CommandSend().setProducerId(producerId).setSequenceId(sequenceId).setNumMessages(1))
      .serializeBinary());
    const meta = Buffer.from(new pb.MessageMetadata().setProducerName('restart-producer').setSequenceId(sequenceId)
      .setPublishTime(Date.now()).serializeBinary());
    const data = Buffer.from(payload);
    const head = Buffer.alloc(8);
    head.writeUInt32BE(4 + cmd.length + 4 + meta.length + data.length, 0);
    head.writeUInt32BE(cmd.length, 4);
    const metaSize = Buffer.alloc(4);
    metaSize.writeUInt32BE(meta.length, 0);
    this.sock.write(Buffer.concat([head, cmd, metaSize, meta, data]));
  }
  close() { this.sock.destroy(); }
}

async function partitions(c, topic, requestId) {
  c.write(new pb.BaseCommand().setType(T.PARTITIONED_METADATA)
    .setPartitionmetadata(new pb.CommandPartitionedTopicMetadata().setTopic(topic).setRequestId(requestId)));
  return (await c.next(T.PARTITIONED_METADATA_RESPONSE)).getPartitionmetadataresponse().getPartitions();
}

async function producer(c, topic) {
  c.write(new pb.BaseCommand().setType(T.PRODUCER).setProducer(new pb.CommandProducer().setTopic(topic)
    .setProducerId(1).setRequestId(10).setProducerName('restart-producer')));
  return (await c.next(T.PRODUCER_SUCCESS)).getProducerSuccess();
}

async function sendAll(c, items) {
  for (const [seq, payload] of items) c.send(1, seq, payload);
  const receipts = [];
  for (let i = 0; i < items.length; i++) receipts.push((await c.next(T.SEND_RECEIPT)).getSendReceipt().getSequenceId());
  return receipts;
}

// Reads what the durable subscription holds; fails on more than `n` within a grace period.
async function readExactly(port, topic, n) {
  const c = new Consumer({ topic, subscription: 'restart-sub', subType: Consumer.SUB_TYPES.EXCLUSIVE,
                           consumerName: 'reader', discoveryServers: [`127.0.0.1:${port}`],
                           initialPosition: Consumer.INITIAL_POSITION.EARLIEST, receiveQueueSize: 100, ...quiet });
  opened.push(c);
  await c.subscribe();
  const got = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${JSON.stringify(got)}`)), 15000);
    c.run({
      autoAck: false,
      onMessage: async ({ message, ack }) => {
        got.push(Buffer.from(message).toString());
        await ack();
        if (got.length === n) { clearTimeout(timer); resolve(); }
      },
    }).catch(reject);
  });
  await new Promise((r) => setTimeout(r, 1000));  // a duplicate would show up by now
  await c.unsubscribe();
  return got;
}

after(async () => {
  for (const o of opened) {
    try { await o.unsubscribe(); } catch (e) { /* already closed */ }
  }
  if (mop) await stopMop('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('partition counts, schemas and producer sequence ids survive kill -9 and a restart', async () => {
  const base = 'persistent://public/default/restart-parts';
  const topic = 'persistent://public/default/restart-dedup';
  const schemaData = '{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}';
  let port = await startMop(['--defaultNumPartitions=3']);
  let c = await RawClient.connect(port);
  assert.strictEqual(await partitions(c, base, 1), 3);
  c.write(new pb.BaseCommand().setType(T.GET_OR_CREATE_SCHEMA).setGetorcreateschema(
    new pb.CommandGetOrCreateSchema().setRequestId(2).setTopic(topic).setSchema(
      new pb.Schema().setName('R').setType(pb.Schema.Type.AVRO).setSchemaData(Buffer.from(schemaData)))));
  const created = (await c.next(T.GET_OR_CREATE_SCHEMA_RESPONSE)).getGetorcreateschemaresponse();
  assert.ok(!created.hasErrorCode(), created.getErrorMessage());
  // The durable subscription that keeps the messages (a topic without one keeps nothing).
  const sub = new Consumer({ topic, subscription: 'restart-sub', subType: Consumer.SUB_TYPES.EXCLUSIVE,
                             consumerName: 'reader', discoveryServers: [`127.0.0.1:${port}`],
                             initialPosition: Consumer.INITIAL_POSITION.EARLIEST, ...quiet });
  await sub.subscribe();
  await sub.unsubscribe();  // pulsar-flex's unsubscribe() is CLOSE_CONSUMER: the subscription stays
  assert.strictEqual(Number((await producer(c, topic)).getLastSequenceId()), -1);
  assert.deepStrictEqual(await sendAll(c, [[0, 'm0'], [1, 'm1'], [2, 'm2']]), [0, 1, 2]);
  c.close();
  // Every receipt was sent after its message was durable: SIGKILL loses none of it.
  assert.strictEqual(await stopMop('SIGKILL'), 'SIGKILL');

  port = await startMop(['--defaultNumPartitions=5']);
  c = await RawClient.connect(port);
  assert.strictEqual(await partitions(c, base, 1), 3, 'the stored count, not the new default');
  assert.strictEqual(await partitions(c, 'persistent://public/default/restart-new', 2), 5);
  c.write(new pb.BaseCommand().setType(T.GET_SCHEMA).setGetschema(new pb.CommandGetSchema().setRequestId(3).setTopic(topic)));
  const got = (await c.next(T.GET_SCHEMA_RESPONSE)).getGetschemaresponse();
  assert.ok(!got.hasErrorCode(), got.getErrorMessage());
  assert.strictEqual(got.getSchema().getName(), 'R');
  assert.strictEqual(got.getSchema().getType(), pb.Schema.Type.AVRO);
  assert.strictEqual(Buffer.from(got.getSchema().getSchemaData()).toString(), schemaData);
  // The producer resumes after what was stored; its resends are answered, not stored again.
  assert.strictEqual(Number((await producer(c, topic)).getLastSequenceId()), 2);
  assert.deepStrictEqual(await sendAll(c, [[1, 'm1'], [2, 'm2'], [3, 'm3']]), [1, 2, 3]);
  c.close();
  assert.deepStrictEqual(await readExactly(port, topic, 4), ['m0', 'm1', 'm2', 'm3']);

  // SIGTERM: before its socket closes, a client hears that its producer and its consumer are
  // closed (CLOSE_PRODUCER, CLOSE_CONSUMER), as from a Pulsar broker unloading the topic.
  c = await RawClient.connect(port);
  await producer(c, topic);
  c.write(new pb.BaseCommand().setType(T.SUBSCRIBE).setSubscribe(new pb.CommandSubscribe().setTopic(topic)
    .setSubscription('shutdown-sub').setSubtype(pb.CommandSubscribe.SubType.SHARED).setConsumerId(5).setRequestId(11)));
  await c.next(T.SUCCESS);
  const ended = new Promise((resolve) => c.sock.on('close', resolve));
  const exited = stopMop('SIGTERM');
  assert.strictEqual((await c.next(T.CLOSE_PRODUCER)).getCloseProducer().getProducerId(), 1);
  assert.strictEqual((await c.next(T.CLOSE_CONSUMER)).getCloseConsumer().getConsumerId(), 5);
  await ended;
  assert.strictEqual(await exited, 0);
});
