"""mop proxy (issue 14) when the Pulsar cluster behind it fails under load, with real peers
(python3-paho-mqtt). The cluster is a backend of the case's own, since the cases kill it:
`mop standalone` serving the Pulsar protocol (killed with SIGKILL and started again on its ports
and data dir) and, in `OverApachePulsar`, a real Apache Pulsar standalone (scripts/pulsar-standalone
stop and start of the same directory). Two proxies over each. Run with the venv python that
scripts/setup makes (.cache/venv/bin/python) and MOP_BIN set.
"""

import threading
import time
import unittest

import harness
import test_proxy as tp
from clients import PahoClient

uid = tp.uid


class RestartLoad:
    """Two paho QoS 1 publishers, one on each proxy, each sending `n` numbered messages to one
    topic without waiting for PUBACKs (paho keeps up to 100 in flight and queues the rest), paced
    at one per `pace` seconds, and a persistent QoS 1 subscriber on the second proxy."""

    def __init__(self, case, proxies, n=300, pace=0.01):
        self.case, self.n, self.pace = case, n, pace
        self.topic = "restart/" + uid()
        self.sub = PahoClient(proxies[1].port, client_id="restart-sink-" + uid(), clean_session=False)
        self.case.assertEqual(self.sub.connect()[0], 0)
        case.addCleanup(tp.ProxyCases._close, self.sub)
        self.sub.subscribe([(self.topic, 1)])
        self.pubs = []
        self.acked = {}  # publisher name -> set of mids acknowledged
        for name, proxy in (("p1", proxies[0]), ("p2", proxies[1])):
            pub = PahoClient(proxy.port, client_id="restart-" + name + "-" + uid())
            acked = self.acked[name] = set()
            pub.c.on_publish = lambda client, userdata, mid, acked=acked: acked.add(mid)
            self.case.assertEqual(pub.connect()[0], 0)
            case.addCleanup(tp.ProxyCases._close, pub)
            self.pubs.append((name, pub))
        self.infos = {name: [] for name, _ in self.pubs}
        self.threads = [threading.Thread(target=self._publish, args=(name, pub), daemon=True) for name, pub in self.pubs]

    def payload(self, name, i):
        return "%s-%04d" % (name, i)

    def _publish(self, name, pub):
        for i in range(self.n):
            self.infos[name].append(pub.c.publish(self.topic, self.payload(name, i), 1))
            time.sleep(self.pace)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def acked_counts(self):
        return [len(a) for a in self.acked.values()]

    def wait_acked(self, count, timeout):
        """Until every publisher had `count` messages acknowledged."""
        deadline = time.monotonic() + timeout
        while min(len(a) for a in self.acked.values()) < count:
            self.case.assertLess(time.monotonic(), deadline, "acknowledged: %r" % {k: len(v) for k, v in self.acked.items()})
            time.sleep(0.01)

    def finish(self, timeout, logs):
        """Every publish acknowledged within `timeout`, nobody disconnected; every acknowledged
        message at the subscriber, first copies in each publisher's order. Returns the number of
        copies beyond the first (QoS 1 allows them)."""
        for t in self.threads:
            t.join(60)
        deadline = time.monotonic() + timeout
        clients = dict(self.pubs)
        for name, infos in self.infos.items():
            self.case.assertEqual(len(infos), self.n)
            for i, info in enumerate(infos):
                try:
                    info.wait_for_publish(max(0.1, deadline - time.monotonic()))
                except RuntimeError as e:  # paho: the client was not connected when it published
                    self.case.fail("%s: message %d: %s (disconnected with rc %r)\n%s"
                                   % (name, i, e, clients[name].disconnect_rc, logs()))
                self.case.assertTrue(info.is_published(), "%s: no PUBACK for message %d\n%s" % (name, i, logs()))
        for name, pub in self.pubs:
            self.case.assertFalse(pub.disconnected.is_set(), "publisher %s was disconnected\n%s" % (name, logs()))
        want = {self.payload(name, i) for name, _ in self.pubs for i in range(self.n)}
        firsts = {name: [] for name, _ in self.pubs}
        seen = set()
        extra = 0
        deadline = time.monotonic() + timeout
        while not want <= seen:
            left = deadline - time.monotonic()
            if left <= 0:
                missing = sorted(want - seen)
                self.case.fail("%d acknowledged messages never arrived, first %r\n%s" % (len(missing), missing[:5], logs()))
            try:
                m = self.sub.get(min(1.0, left)).payload.decode()
            except AssertionError:
                continue
            if m in seen:
                extra += 1
                continue
            seen.add(m)
            firsts[m.split("-")[0]].append(m)
        for m in self.sub.drain(1.0):
            self.case.assertIn(m.payload.decode(), seen, "a message nobody published")
            extra += 1
        for name, got in firsts.items():
            self.case.assertEqual(got, [self.payload(name, i) for i in range(self.n)], "%s's order" % name)
        self.case.assertFalse(self.sub.disconnected.is_set(), "the subscriber was disconnected\n" + logs())
        return extra


# Each proxy looks for the leases of dead proxies every second (tp.TAKEOVER): the backend's
# restart frees every proxy's liveness lease at once, and the proxy whose connection comes back
# first must not take the lease of the other, still reconnecting, which would then refuse its
# clients (it took it, with no wait after a loss, until 8 Dec 2026).


class OverMopStandalone(unittest.TestCase):
    def test_backend_kill9_and_restart_under_qos1_load_is_latency_only(self):
        # The backend is killed with SIGKILL while 2 x 300 QoS 1 messages are on their way through
        # two proxies, and started again 2 s later on its ports and data dir: the proxies'
        # producers keep the unacknowledged sends and send them again, in order, once reconnected;
        # PUBACKs are late, never missing; the subscriber's consumer resubscribes.
        be = tp.MopBackend().start()
        self.addCleanup(be.stop)
        proxies = [tp.Proxy(be.url, tp.TAKEOVER).start() for _ in range(2)]
        for p in proxies:
            self.addCleanup(p.stop)
        logs = lambda: "".join("\n--- proxy %d:\n%s" % (i, p.log_text()[-3000:]) for i, p in enumerate(proxies))
        load = RestartLoad(self, proxies).start()
        load.wait_acked(80, 30)
        at_kill = load.acked_counts()
        t0 = time.monotonic()
        be.broker.kill9()
        time.sleep(2.0)  # down for a while: the publishers go on meanwhile
        be.broker.restart()
        took = time.monotonic() - t0
        self.assertLess(max(at_kill), load.n, "the load was over before the kill")
        extra = load.finish(60, logs)
        print("\nkilled with %r acknowledged, restarted in %.1f s, all acknowledged and delivered %.1f s "
              "later, %d copies beyond the first" % (at_kill, took, time.monotonic() - t0 - took, extra))


class OverApachePulsar(unittest.TestCase):
    def test_broker_stop_and_start_under_qos1_load_is_latency_only(self):
        # A real Apache Pulsar standalone of this case's own (restartable: PULSAR_DIR, never
        # PULSAR_URL) is stopped and started again on its directory while 2 x 300 QoS 1 messages
        # are on their way through two proxies. The outage lasts Pulsar's stop and start (tens of
        # seconds, beyond the producers' first backoff steps), so PUBACKs come much later; none is
        # missing and no client is disconnected.
        pulsar = harness.ApachePulsar(restartable=True, prefix="mop-proxy-faults-").start()
        self.addCleanup(pulsar.stop)
        harness.create_pulsar_namespace(pulsar.http, tp.SYSTEM_NS)
        proxies = [tp.Proxy(pulsar.url, tp.TAKEOVER).start() for _ in range(2)]
        for p in proxies:
            self.addCleanup(p.stop)
        logs = lambda: "".join("\n--- proxy %d:\n%s" % (i, p.log_text()[-3000:]) for i, p in enumerate(proxies)) + \
            "\n--- Apache Pulsar:\n" + pulsar.log_tail()
        load = RestartLoad(self, proxies).start()
        load.wait_acked(80, 60)
        at_kill = load.acked_counts()
        t0 = time.monotonic()
        pulsar.restart()
        took = time.monotonic() - t0
        self.assertLess(max(at_kill), load.n, "the load was over before the restart")
        extra = load.finish(120, logs)
        print("\nstopped with %r acknowledged, Apache Pulsar stopped and started in %.1f s, all acknowledged and "
              "delivered %.1f s later, %d copies beyond the first" % (at_kill, took, time.monotonic() - t0 - took, extra))
