"""Pulsar batches with the official Python client (PyPI `pulsar-client`, the C++ client inside):
a batch is one entry, and message ids `ledger:entry:batch_index` agree in the producer's send
callbacks, in what consumers receive, in get_last_message_id(), in seek(), in acknowledgements
(batch-index acks, a partly acknowledged batch redelivered with only its unacknowledged
messages) and across a restart; an MQTT subscriber of a batched topic gets every message of a
batch as its own PUBLISH, in order, with its properties.

mop only (it restarts mop and reads with MQTT), so not a case of test_pulsar_official.py, which
runs every case against Apache Pulsar too; the id agreement it checks there as well
(test_batched_message_ids_match_between_producer_and_consumer). Run with the venv python that
scripts/setup makes (.cache/venv/bin/python: pulsar-client, and the Debian paho-mqtt). Without
the client the suite exits 77 (skipped), saying so.
"""

import queue
import sys
import threading
import time
import unittest

try:
    import pulsar
except ImportError:  # pragma: no cover - the environment, not the broker
    print("pulsar-client is not installed for %s: skipped (see the module docstring)" % sys.executable)
    sys.exit(77)

import paho.mqtt.client as mqtt

import harness

TIMEOUT_MS = 10000


def key(mid):
    """A message id as (ledger, entry, batch index), comparable across client objects."""
    return (mid.ledger_id(), mid.entry_id(), mid.batch_index())


class PulsarBatches(unittest.TestCase):
    def setUp(self):
        # Acknowledged messages are kept (infinite retention): Pulsar keeps them in the open ledger
        # too, and seek() back and a Reader from the earliest message need them; mop without
        # retention drops what every subscription acknowledged (and, without any subscription,
        # what nobody reads) at once.
        self.broker = self.enterContext(harness.Broker(extra_args=["--defaultRetentionTimeInMinutes=-1",
                                                                   "--defaultRetentionSizeInMB=-1"]))
        self.url = "pulsar://127.0.0.1:%d" % self.broker.pulsar_port
        self.client = pulsar.Client(self.url, operation_timeout_seconds=10)
        self.addCleanup(lambda: self.client.close())  # the current client, before the broker stops
        self.n = 0

    def topic(self, name):
        self.n += 1
        return "persistent://public/default/%s-%d" % (name, self.n)

    def producer(self, topic, batched, batch_size=10):
        if batched:
            # A long delay: batches close by size (or flush()), so their shape is known.
            return self.client.create_producer(topic, batching_enabled=True, batching_max_messages=batch_size,
                                               batching_max_publish_delay_ms=5000)
        return self.client.create_producer(topic, batching_enabled=False)

    def send_all(self, producer, payloads, properties=None):
        """send_async each payload; returns the ids the send callbacks gave, in send order."""
        ids = [None] * len(payloads)
        done = threading.Semaphore(0)

        def callback(i):
            def cb(result, mid):
                self.assertEqual(result, pulsar.Result.Ok)
                ids[i] = mid
                done.release()
            return cb

        for i, p in enumerate(payloads):
            producer.send_async(p, callback(i), properties=properties(i) if properties else None)
        producer.flush()
        for _ in payloads:
            self.assertTrue(done.acquire(timeout=10), "send callbacks missing")
        return ids

    def receive(self, consumer, n):
        return [consumer.receive(timeout_millis=TIMEOUT_MS) for _ in range(n)]

    def assert_nothing_more(self, consumer, wait_ms=1500):
        with self.assertRaises(Exception):
            m = consumer.receive(timeout_millis=wait_ms)
            self.fail("unexpected message %r %s" % (m.data(), key(m.message_id())))

    def test_send_receive_and_last_ids_agree_batched_and_not(self):
        for batched in (True, False):
            with self.subTest(batched=batched):
                topic = self.topic("ids")
                consumer = self.client.subscribe(topic, "s", initial_position=pulsar.InitialPosition.Earliest)
                producer = self.producer(topic, batched)
                payloads = [b"m-%d" % i for i in range(25)]
                sent = [key(m) for m in self.send_all(producer, payloads)]
                got = self.receive(consumer, len(payloads))
                self.assertEqual([m.data() for m in got], payloads)
                self.assertEqual([key(m.message_id()) for m in got], sent)
                last = key(consumer.get_last_message_id())
                self.assertEqual(last, sent[-1])
                entries = {(l, e) for l, e, _ in sent}
                if batched:
                    # 25 messages in batches of 10: entries of 10, 10, 5, indexes 0.. in each.
                    self.assertEqual(len(entries), 3)
                    self.assertEqual([b for _, _, b in sent], list(range(10)) * 2 + list(range(5)))
                    self.assertEqual(last[2], 4)
                else:
                    self.assertEqual(len(entries), 25)
                    self.assertTrue(all(b == -1 for _, _, b in sent))
                for m in got:
                    consumer.acknowledge(m)
                self.assert_nothing_more(consumer, 500)
                producer.close()
                consumer.close()

    def test_seek_to_a_producers_id(self):
        # The client reads from the id on (start_message_id_inclusive) or from the one after it
        # (its default: it drops the id itself once the broker has reset the cursor to it).
        for batched in (True, False):
            for inclusive in (False, True):
                with self.subTest(batched=batched, inclusive=inclusive):
                    topic = self.topic("seek")
                    consumer = self.client.subscribe(topic, "s", initial_position=pulsar.InitialPosition.Earliest,
                                                     start_message_id_inclusive=inclusive)
                    producer = self.producer(topic, batched)
                    payloads = [b"s-%d" % i for i in range(20)]
                    ids = self.send_all(producer, payloads)
                    for m in self.receive(consumer, 20):
                        consumer.acknowledge(m)
                    # Into the middle of the second batch: it and what follows come again.
                    consumer.seek(ids[13])
                    first = 13 if inclusive else 14
                    got = self.receive(consumer, 20 - first)
                    self.assertEqual([m.data() for m in got], payloads[first:])
                    self.assertEqual([key(m.message_id()) for m in got], [key(i) for i in ids[first:]])
                    self.assert_nothing_more(consumer, 500)
                    producer.close()
                    consumer.close()

    def test_reader_has_message_available_ends_after_the_last_message(self):
        for batched in (True, False):
            with self.subTest(batched=batched):
                topic = self.topic("reader")
                producer = self.producer(topic, batched)
                payloads = [b"r-%d" % i for i in range(23)]
                ids = self.send_all(producer, payloads)
                reader = self.client.create_reader(topic, pulsar.MessageId.earliest)
                got = []
                deadline = time.monotonic() + 20
                while reader.has_message_available():
                    self.assertLess(time.monotonic(), deadline, "has_message_available() never ends")
                    got.append(reader.read_next(timeout_millis=TIMEOUT_MS))
                self.assertEqual([m.data() for m in got], payloads)
                self.assertEqual(key(got[-1].message_id()), key(ids[-1]))
                reader.close()
                producer.close()

    def test_batch_index_acks_redeliver_only_the_unacknowledged_also_after_a_restart(self):
        topic = self.topic("index-acks")
        sub = dict(subscription_name="s", consumer_type=pulsar.ConsumerType.Shared,
                   initial_position=pulsar.InitialPosition.Earliest, batch_index_ack_enabled=True)
        consumer = self.client.subscribe(topic, **sub)
        producer = self.producer(topic, True, batch_size=6)
        payloads = [b"a-%d" % i for i in range(6)]
        ids = [key(m) for m in self.send_all(producer, payloads)]
        self.assertEqual(len({(l, e) for l, e, _ in ids}), 1, "one batch")
        got = self.receive(consumer, 6)
        for m in got[0::2]:  # indexes 0, 2, 4
            consumer.acknowledge(m)
        time.sleep(0.5)  # the client groups acknowledgements for up to 100 ms
        consumer.close()

        def expect_odd_indexes():
            c = self.client.subscribe(topic, **sub)
            again = self.receive(c, 3)
            self.assertEqual([m.data() for m in again], payloads[1::2])
            self.assertEqual([key(m.message_id()) for m in again], ids[1::2])
            self.assert_nothing_more(c)
            return c, again

        c, _ = expect_odd_indexes()
        c.close()
        time.sleep(1.0)  # the cursor is written shortly after the acknowledgements
        producer.close()
        self.client.close()
        self.broker.restart()
        self.client = pulsar.Client(self.url, operation_timeout_seconds=10)
        c, again = expect_odd_indexes()
        self.assertEqual(key(c.get_last_message_id()), ids[-1])
        for m in again:
            c.acknowledge(m)
        time.sleep(0.5)
        c.close()
        c = self.client.subscribe(topic, **sub)
        self.assert_nothing_more(c)

    def test_mqtt_subscriber_gets_each_message_of_a_batch_in_order_with_its_properties(self):
        received = queue.Queue()
        sub = mqtt.Client(client_id="batch-reader", protocol=mqtt.MQTTv5)
        subscribed = threading.Event()
        sub.on_message = lambda c, u, m: received.put(m)
        sub.on_subscribe = lambda c, u, mid, rc, props: subscribed.set()
        sub.connect("127.0.0.1", self.broker.port)
        sub.loop_start()
        try:
            sub.subscribe("batches/mqtt", qos=1)
            self.assertTrue(subscribed.wait(10))
            producer = self.producer("persistent://public/default/batches%2Fmqtt", True, batch_size=7)
            payloads = [b"q-%d" % i for i in range(20)]
            ids = self.send_all(producer, payloads, properties=lambda i: {"n": str(i)})
            self.assertGreater(max(key(i)[2] for i in ids), 0, "the producer sent batches")
            got = []
            for _ in payloads:
                got.append(received.get(timeout=10))
            self.assertEqual([m.payload for m in got], payloads)
            self.assertEqual([m.topic for m in got], ["batches/mqtt"] * len(payloads))
            props = [dict(m.properties.UserProperty) if hasattr(m.properties, "UserProperty") else {} for m in got]
            self.assertEqual([p.get("n") for p in props], [str(i) for i in range(20)])
            with self.assertRaises(queue.Empty):
                received.get(timeout=1)
            producer.close()
        finally:
            sub.loop_stop()
            sub.disconnect()


if __name__ == "__main__":
    unittest.main(verbosity=2)
