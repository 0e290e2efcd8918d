"""Shared subscriptions `$share/{group}/{filter}` with real MQTT 3.1.1 clients: each message goes
to one member of the group; a member that goes away hands its queue to the others. (MQTT 5
clients are covered with the MQTT 5 suite.) mop only: mosquitto 2.0 serves $share to 3.1.1 too,
but the group-keeps-its-backlog test is mop's Pulsar behaviour."""

import unittest

import harness
from clients import PahoClient


class SharedSubscriptions(unittest.TestCase):
    def setUp(self):
        self.broker = harness.Broker().start()
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            try:
                c.drop()
            except Exception:
                pass
        self.broker.stop()
        self.broker.cleanup()

    def client(self, cid, clean=True):
        c = PahoClient(self.broker.port, client_id=cid, clean_session=clean)
        self.clients.append(c)
        self.assertEqual(c.connect()[0], 0)
        return c

    def test_each_message_goes_to_exactly_one_member(self):
        a, b = self.client("member-a"), self.client("member-b")
        self.assertEqual(a.subscribe([("$share/workers/jobs/#", 1)]), [1])
        self.assertEqual(b.subscribe([("$share/workers/jobs/#", 1)]), [1])
        pub = self.client("producer")
        n = 40
        for i in range(n):
            pub.publish("jobs/build", "job-%d" % i, qos=1)
        got = []
        got_a = a.drain(1.5)
        got_b = b.drain(0.5)
        got = [m.payload.decode() for m in got_a + got_b]
        self.assertEqual(sorted(got), sorted("job-%d" % i for i in range(n)))  # none lost, none twice
        self.assertTrue(got_a and got_b, "both members should get a share (a=%d, b=%d)" % (len(got_a), len(got_b)))
        for m in got_a + got_b:
            self.assertEqual(m.topic, "jobs/build")

    @unittest.skipUnless(harness.is_mop(), "a Pulsar shared subscription keeps its backlog; mosquitto drops it")
    def test_group_keeps_messages_while_no_member_is_connected(self):
        a = self.client("solo", clean=True)
        a.subscribe([("$share/keep/alerts", 1)])
        a.disconnect()
        self.clients.remove(a)
        pub = self.client("producer")
        for i in range(5):
            pub.publish("alerts", "a%d" % i, qos=1)
        b = self.client("newcomer")
        b.subscribe([("$share/keep/alerts", 1)])
        self.assertEqual([m.payload.decode() for m in b.collect(5)], ["a%d" % i for i in range(5)])


if __name__ == "__main__":
    unittest.main()
