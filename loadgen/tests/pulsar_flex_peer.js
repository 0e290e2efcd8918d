#!/usr/bin/env node
// The other end of `mop bench pulsar-*` in test_pulsar_bench.py, played by a Pulsar client we did
// not write (pulsar-flex, pure JS, from tests/integration/pulsarjs/node_modules):
//   consume PORT TOPIC SUBSCRIPTION N   subscribe (Exclusive, earliest), print "ready", receive N
//                                       messages, print one JSON line: what their 16-byte headers say
//   produce PORT TOPIC N SIZE           send N messages of SIZE bytes carrying the header
//                                       (steady-clock ns, sequence, publisher 0, little-endian)
// Exit status 0 when done, 1 on a timeout or error.
'use strict';
const path = require('node:path');
const { Producer, Consumer, logLevel } = require(
  path.join(__dirname, '..', '..', 'tests', 'integration', 'pulsarjs', 'node_modules', 'pulsar-flex'));

const [mode, port, topic, ...rest] = process.argv.slice(2);
const quiet = { logLevel: logLevel.NOTHING !== undefined ? logLevel.NOTHING : logLevel.ERROR };
const servers = [`127.0.0.1:${port}`];
const die = (why) => { console.error(why); process.exit(1); };
setTimeout(() => die(`${mode}: timed out`), 30000).unref();

async function consume(subscription, n) {
  const c = new Consumer({ topic, subscription, subType: Consumer.SUB_TYPES.EXCLUSIVE, consumerName: 'flex',
                           discoveryServers: servers, initialPosition: Consumer.INITIAL_POSITION.EARLIEST,
                           receiveQueueSize: 1000, ...quiet });
  await c.subscribe();
  console.log('ready');
  const seqs = [];
  const publishers = new Set();
  const sizes = new Set();
  let latencyOk = 0;
  await new Promise((resolve, reject) => {
    c.run({
      autoAck: false,
      onMessage: async ({ message, ack }) => {
        const b = Buffer.from(message);
        sizes.add(b.length);
        if (b.length >= 16) {
          const sendNs = b.readBigUInt64LE(0);
          const now = process.hrtime.bigint();  // CLOCK_MONOTONIC, as mop bench's steady clock
          if (sendNs > 0n && sendNs <= now && now - sendNs < 60_000_000_000n) latencyOk++;
          seqs.push(b.readUInt32LE(8));
          publishers.add(b.readUInt32LE(12));
        }
        await ack();
        if (seqs.length === n) resolve();
      },
    }).catch(reject);
  });
  console.log(JSON.stringify({ count: seqs.length, seqs, publishers: [...publishers], sizes: [...sizes], latencyOk }));
  process.exit(0);
}

async function produce(n, size) {
  const p = new Producer({ topic, discoveryServers: servers, ...quiet });
  await p.create();
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(size, 'y');
    b.writeBigUInt64LE(process.hrtime.bigint(), 0);
    b.writeUInt32LE(i, 8);
    b.writeUInt32LE(0, 12);
    await p.sendMessage({ payload: b });
  }
  console.log('sent', n);
  process.exit(0);
}

(mode === 'consume' ? consume(rest[0], Number(rest[1]))
                    : mode === 'produce' ? produce(Number(rest[0]), Number(rest[1]))
                                         : Promise.reject(new Error(`unknown mode ${mode}`))).catch((e) => die(e.stack || String(e)));
