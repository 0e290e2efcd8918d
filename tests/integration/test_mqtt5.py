"""Black-box MQTT 5.0 tests for mop (issue 3, phase 2), with a real MQTT 5 peer we did not write
(python3-paho-mqtt 1.6, protocol=MQTTv5) and raw sockets for byte-level conformance checks that
name the MQTT 5.0 normative statement they check ([MQTT-x.x.x-y]). Mixed 3.1.1/5 clients share
topics.

Run: MOP_BIN=build/mop /usr/bin/python3 -m unittest -v test_mqtt5
"""

import queue
import socket
import struct
import threading
import time
import unittest
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCodes
from paho.mqtt.subscribeoptions import SubscribeOptions

import harness
import rawmqtt as rm
from clients import WAIT, PahoClient

_shared = harness.ModuleBroker()
setUpModule = _shared.start
tearDownModule = _shared.stop


def uid(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


class V5:
    """A paho MQTTv5 client with its loop in a thread; calls block until the broker answers."""

    def __init__(self, port, client_id="", will=None):
        self.port = port
        self.messages = queue.Queue()
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.subacked = {}
        self.unsubacked = {}
        self.cond = threading.Condition()
        self.connack = None
        self.disconnect_reasons = []
        self.c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
        if will is not None:
            topic, payload, qos, retain, props = will
            self.c.will_set(topic, payload, qos, retain, properties=props)
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe

    def _on_connect(self, client, userdata, flags, rc, props):
        self.connack = (rc, flags.get("session present", 0), props)
        self.connected.set()

    def _on_disconnect(self, client, userdata, rc, props=None):
        # paho reports a server DISCONNECT's ReasonCodes, then possibly the socket's close as an int.
        self.disconnect_reasons.append(rc.value if hasattr(rc, "value") else rc)
        self.disconnected.set()

    def _on_subscribe(self, client, userdata, mid, rcs, props):
        with self.cond:
            self.subacked[mid] = [r.value for r in rcs]
            self.cond.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, props, rcs):
        with self.cond:
            self.unsubacked[mid] = rcs
            self.cond.notify_all()

    def connect(self, clean_start=True, expiry=None, props=None):
        p = props or Properties(PacketTypes.CONNECT)
        if expiry is not None:
            p.SessionExpiryInterval = expiry
        self.c.connect("127.0.0.1", self.port, keepalive=30, clean_start=clean_start, properties=p)
        self.c.loop_start()
        assert self.connected.wait(WAIT), "no CONNACK"
        return self.connack

    def subscribe(self, topic, qos=1, sub_id=None, **opts):
        props = None
        if sub_id is not None:
            props = Properties(PacketTypes.SUBSCRIBE)
            props.SubscriptionIdentifier = sub_id
        rc, mid = self.c.subscribe(topic, options=SubscribeOptions(qos=qos, **opts), properties=props)
        with self.cond:
            assert self.cond.wait_for(lambda: mid in self.subacked, WAIT), "no SUBACK"
            return self.subacked[mid]

    def unsubscribe(self, topics):
        rc, mid = self.c.unsubscribe(topics)
        with self.cond:
            assert self.cond.wait_for(lambda: mid in self.unsubacked, WAIT), "no UNSUBACK"
            return self.unsubacked[mid]

    def publish(self, topic, payload, qos=1, retain=False, props=None):
        info = self.c.publish(topic, payload, qos, retain, properties=props)
        if qos > 0:
            info.wait_for_publish(WAIT)
        return info

    def get(self, timeout=WAIT):
        return self.messages.get(timeout=timeout)

    def nothing(self, wait=0.5):
        try:
            m = self.messages.get(timeout=wait)
            return m
        except queue.Empty:
            return None

    def disconnect(self, reason=None, props=None):
        self.c.disconnect(reasoncode=reason, properties=props)
        self.disconnected.wait(WAIT)
        self.c.loop_stop()

    def drop(self):
        """Lose the network connection without DISCONNECT."""
        self.c.socket().shutdown(socket.SHUT_RDWR)
        self.disconnected.wait(WAIT)
        self.c.loop_stop()


class Mqtt5PahoTest(unittest.TestCase):
    def setUp(self):
        self.port = _shared.broker.port
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            try:
                c.c.disconnect()
                c.c.loop_stop()
            except Exception:
                pass

    def v5(self, client_id="", **kw):
        c = V5(self.port, client_id, **kw)
        self.clients.append(c)
        return c

    def test_connack_advertises_limits_and_assigns_id(self):  # [MQTT-3.2.2-16]
        c = self.v5("")
        rc, present, props = c.connect()
        self.assertEqual(rc.value, 0)
        self.assertTrue(props.AssignedClientIdentifier)
        self.assertEqual(props.ReceiveMaximum, 1000)
        self.assertEqual(props.TopicAliasMaximum, 10)
        self.assertGreater(props.MaximumPacketSize, 0)
        self.assertEqual(props.RetainAvailable, 1)
        self.assertEqual(props.WildcardSubscriptionAvailable, 1)
        self.assertEqual(props.SubscriptionIdentifierAvailable, 1)
        self.assertEqual(props.SharedSubscriptionAvailable, 1)

    def test_properties_survive_pulsar_and_mixed_versions(self):
        topic = uid("props")
        sub5 = self.v5(uid("s5"))
        sub5.connect()
        sub5.subscribe(topic, 1)
        sub3 = PahoClient(self.port, uid("s3"))
        sub3.connect()
        sub3.subscribe([(topic, 1)])
        pub = self.v5(uid("p"))
        pub.connect()
        props = Properties(PacketTypes.PUBLISH)
        props.PayloadFormatIndicator = 1
        props.ContentType = "text/plain"
        props.ResponseTopic = "reply/" + topic
        props.CorrelationData = b"\x00\xffcorr"
        props.MessageExpiryInterval = 120
        props.UserProperty = [("k", "1"), ("a", "b"), ("k", "2")]
        pub.publish(topic, b"hello", 1, props=props)
        m = sub5.get()
        self.assertEqual(m.payload, b"hello")
        self.assertEqual(m.properties.ContentType, "text/plain")
        self.assertEqual(m.properties.ResponseTopic, "reply/" + topic)
        self.assertEqual(m.properties.CorrelationData, b"\x00\xffcorr")
        self.assertEqual(m.properties.PayloadFormatIndicator, 1)
        self.assertEqual(m.properties.UserProperty, [("k", "1"), ("a", "b"), ("k", "2")])
        self.assertTrue(0 < m.properties.MessageExpiryInterval <= 120)
        self.assertEqual(sub3.get().payload, b"hello")  # a 3.1.1 subscriber on the same topic
        sub3.publish(topic, b"from311", 1)  # and back: 3.1.1 publisher, 5 subscriber
        self.assertEqual(sub5.get().payload, b"from311")
        sub3.disconnect()

    def test_session_expiry(self):  # MQTT 5 3.1.2.11.2
        cid, topic = uid("exp"), uid("exp")
        s = self.v5(cid)
        s.connect(clean_start=True, expiry=3)
        s.subscribe(topic, 1)
        s.disconnect()
        p = self.v5(uid("p"))
        p.connect()
        p.publish(topic, b"while-away", 1)
        s = self.v5(cid)
        rc, present, _ = s.connect(clean_start=False, expiry=3)
        self.assertEqual(present, 1)  # [MQTT-3.2.2-3]
        self.assertEqual(s.get().payload, b"while-away")
        s.disconnect()
        time.sleep(4.5)  # the interval, plus the broker's one-second timer
        s = self.v5(cid)
        rc, present, _ = s.connect(clean_start=False, expiry=3)
        self.assertEqual(present, 0)

    def test_no_local(self):  # [MQTT-3.8.3-3]
        topic = uid("nl")
        c = self.v5(uid("nl"))
        c.connect()
        c.subscribe(topic, 1, noLocal=True)
        c.publish(topic, b"mine", 1)
        self.assertIsNone(c.nothing())
        o = self.v5(uid("o"))
        o.connect()
        o.publish(topic, b"theirs", 1)
        self.assertEqual(c.get().payload, b"theirs")

    def test_retain_handling_and_retain_as_published(self):  # [MQTT-3.3.1-9..13]
        topic = uid("rh")
        p = self.v5(uid("p"))
        p.connect()
        p.publish(topic, b"kept", 1, retain=True)
        c = self.v5(uid("c"))
        c.connect()
        c.subscribe(topic, 1, retainHandling=2)
        self.assertIsNone(c.nothing())
        c.unsubscribe(topic)
        c.subscribe(topic, 1, retainHandling=1)
        self.assertEqual(c.get().payload, b"kept")
        c.subscribe(topic, 1, retainHandling=1)
        self.assertIsNone(c.nothing())
        c.subscribe(topic, 1, retainAsPublished=True)
        self.assertTrue(c.get().retain)  # the retained copy
        p.publish(topic, b"live", 1, retain=True)
        self.assertTrue(c.get().retain)
        p.publish(topic, b"", 1, retain=True)  # clear it

    def test_subscription_identifiers(self):  # [MQTT-3.3.4-3]
        base = uid("sid")
        c = self.v5(uid("c"))
        c.connect()
        c.subscribe(base + "/+", 1, sub_id=5)
        c.subscribe(base + "/x", 1, sub_id=6)
        p = self.v5(uid("p"))
        p.connect()
        p.publish(base + "/x", b"m", 1)
        ids = []
        for _ in range(2):
            m = c.nothing(WAIT)
            if m is None:
                break
            ids += list(getattr(m.properties, "SubscriptionIdentifier", []))
        self.assertEqual(sorted(set(ids)), [5, 6])

    def test_unsuback_reason_codes(self):  # [MQTT-3.11.3-1]
        topic = uid("u")
        c = self.v5(uid("c"))
        c.connect()
        c.subscribe(topic, 0)
        rcs = c.unsubscribe([topic, topic + "/none"])
        values = [r.value for r in (rcs if isinstance(rcs, list) else [rcs])]
        self.assertEqual(values, [0x00, 0x11])

    def test_inbound_topic_alias(self):  # [MQTT-3.3.2-12]
        topic = uid("alias")
        s = self.v5(uid("s"))
        s.connect()
        s.subscribe(topic, 1)
        p = self.v5(uid("p"))
        p.connect()
        props = Properties(PacketTypes.PUBLISH)
        props.TopicAlias = 1
        p.publish(topic, b"one", 1, props=props)
        p.publish("", b"two", 1, props=props)
        self.assertEqual(s.get().payload, b"one")
        m = s.get()
        self.assertEqual((m.topic, m.payload), (topic, b"two"))

    def test_will_delay_cancelled_by_reconnect_and_disconnect_with_will(self):  # [MQTT-3.1.3-9]
        wtopic, cid = uid("will"), uid("w")
        w = self.v5(uid("watch"))
        w.connect()
        w.subscribe(wtopic, 1)
        wp = Properties(PacketTypes.WILLMESSAGE)
        wp.WillDelayInterval = 2
        c = self.v5(cid, will=(wtopic, b"gone", 1, False, wp))
        c.connect(expiry=60)
        c.drop()
        time.sleep(0.5)
        c = self.v5(cid, will=(wtopic, b"gone", 1, False, wp))
        c.connect(clean_start=False, expiry=60)
        self.assertIsNone(w.nothing(3.0))  # cancelled by the reconnect
        # Reason 0x04: the will goes out after its delay even though the client sent DISCONNECT.
        c.disconnect(reason=ReasonCodes(PacketTypes.DISCONNECT, identifier=0x04))
        self.assertEqual(w.get(WAIT + 3).payload, b"gone")

    def test_takeover_disconnects_with_8e(self):  # [MQTT-3.1.4-3]
        # paho 1.6.1 reads a DISCONNECT's reason code only when properties follow it (remaining
        # length > 2), so the old connection is a raw socket and the new one paho.
        cid = uid("t")
        a = rm.RawClient(self.port)
        self.addCleanup(a.close)
        a.send(v5_connect(cid))
        a.expect(rm.CONNACK)
        b = self.v5(cid)
        b.connect()
        d = a.expect(rm.DISCONNECT)
        self.assertEqual(d.body[:1], b"\x8e")
        self.assertTrue(a.wait_closed())


# ---------------------------------------------------------------------------------------------
# Byte level

def v5_connect(client_id, props=b"", clean=True, keepalive=60):
    flags = 0x02 if clean else 0x00
    body = rm.encode_str("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive)
    body += rm.encode_varint(len(props)) + props + rm.encode_str(client_id)
    return rm.packet(rm.CONNECT, 0, body)


def v5_publish(topic, payload, qos=0, packet_id=None, props=b""):
    body = rm.encode_str(topic)
    if qos:
        body += struct.pack("!H", packet_id)
    body += rm.encode_varint(len(props)) + props + payload
    return rm.packet(rm.PUBLISH, qos << 1, body)


class Mqtt5BytesTest(unittest.TestCase):
    def raw(self, client_id=None, props=b""):
        c = rm.RawClient(_shared.broker.port)
        self.addCleanup(c.close)
        c.send(v5_connect(client_id or uid("raw"), props))
        ack = c.expect(rm.CONNACK)
        return c, ack

    def reason_of(self, p):
        # CONNACK: flags, reason; acks: id, reason; DISCONNECT: reason.
        if p.type == rm.DISCONNECT:
            return p.body[0] if p.body else 0
        if p.type == rm.CONNACK:
            return p.body[1]
        return p.body[2] if len(p.body) > 2 else 0

    def test_connack_reason_success(self):  # [MQTT-3.2.2-6]
        c, ack = self.raw()
        self.assertEqual(ack.body[1], 0x00)

    def test_malformed_packet_gets_disconnect_81(self):  # [MQTT-4.13.1-1]
        c, _ = self.raw()
        c.send(bytes([0x36, 0x03, 0x00, 0x01, 0x61]))  # PUBLISH QoS 3
        d = c.expect(rm.DISCONNECT)
        self.assertEqual(self.reason_of(d), 0x81)
        self.assertTrue(c.wait_closed())

    def test_topic_alias_above_maximum_gets_disconnect_94(self):  # [MQTT-3.3.2-10]
        c, _ = self.raw()
        c.send(v5_publish("a", b"x", props=bytes([0x23, 0x00, 0x0B])))  # alias 11 > 10
        self.assertEqual(self.reason_of(c.expect(rm.DISCONNECT)), 0x94)

    def test_authentication_method_without_authenticator_gets_8c(self):  # [MQTT-4.12.0-1]
        c = rm.RawClient(_shared.broker.port)
        self.addCleanup(c.close)
        c.send(v5_connect(uid("a"), props=bytes([0x15]) + rm.encode_str("SCRAM-SHA-1")))
        self.assertEqual(self.reason_of(c.expect(rm.CONNACK)), 0x8C)
        self.assertTrue(c.wait_closed())

    def test_pubrel_unknown_id_gets_pubcomp_92(self):  # MQTT 5 3.7.2.1
        c, _ = self.raw()
        c.send(rm.pubrel(77))
        p = c.expect(rm.PUBCOMP)
        self.assertEqual((p.packet_id, self.reason_of(p)), (77, 0x92))

    def test_invalid_utf8_with_payload_format_gets_puback_99(self):  # [MQTT-3.3.2-4]
        c, _ = self.raw()
        c.send(v5_publish("a", b"\xff\xfe", 1, 5, props=bytes([0x01, 0x01])))
        p = c.expect(rm.PUBACK)
        self.assertEqual((p.packet_id, self.reason_of(p)), (5, 0x99))

    def test_disconnect_cannot_extend_expiry_zero(self):  # [MQTT-3.14.2-2]
        c, _ = self.raw()
        props = bytes([0x11, 0, 0, 0, 60])
        c.send(rm.packet(rm.DISCONNECT, 0, bytes([0x00]) + rm.encode_varint(len(props)) + props))
        self.assertEqual(self.reason_of(c.expect(rm.DISCONNECT)), 0x82)

    def test_second_connect_gets_disconnect_82(self):  # [MQTT-3.1.0-2]
        c, _ = self.raw()
        c.send(v5_connect(uid("again")))
        self.assertEqual(self.reason_of(c.expect(rm.DISCONNECT)), 0x82)

    def _refused_suback(self, connect_props):
        c, _ = self.raw(props=connect_props)
        body = struct.pack("!H", 3) + b"\x00" + rm.encode_str("bad/#/x") + b"\x01"
        c.send(rm.packet(rm.SUBSCRIBE, 0x02, body))
        ack = c.expect(rm.SUBACK)
        plen = ack.body[2]
        return ack.body[3:3 + plen], ack.body[3 + plen:]

    def test_suback_reason_string_names_the_refused_filter(self):  # MQTT 5 3.9.2.1.2
        props, codes = self._refused_suback(b"")
        self.assertEqual(codes, b"\x8f")
        self.assertEqual(props[0], 0x1F)  # Reason String
        self.assertIn(b"bad/#/x", props)

    def test_no_problem_information_means_bare_acks(self):  # [MQTT-3.1.2-29]
        props, codes = self._refused_suback(bytes([0x17, 0x00]))
        self.assertEqual((props, codes), (b"", b"\x8f"))

    def test_reason_string_dropped_beyond_client_maximum_packet_size(self):  # [MQTT-3.9.2-1]
        props, codes = self._refused_suback(bytes([0x27, 0, 0, 0, 12]))
        self.assertEqual((props, codes), (b"", b"\x8f"))

    def test_response_information_when_requested(self):  # [MQTT-3.1.2-28]
        cid = uid("rr")
        c, ack = self.raw(cid, props=bytes([0x19, 0x01]))
        plen = ack.body[2]
        props = ack.body[3:3 + plen]
        want = bytes([0x1A]) + rm.encode_str("$response/" + cid)
        self.assertIn(want, props)
        c2, ack2 = self.raw(uid("plain"))
        self.assertNotIn(b"\x1a\x00", ack2.body)

    def test_connection_limit_gets_97_and_311_code_3(self):  # MQTT 5 3.2.2.2
        b = harness.Broker(extra_args=["--mqttMaxConnections=1"]).start()
        try:
            first = rm.RawClient(b.port)
            self.addCleanup(first.close)
            first.send(v5_connect(uid("first")))
            self.assertEqual(self.reason_of(first.expect(rm.CONNACK)), 0x00)
            second = rm.RawClient(b.port)
            self.addCleanup(second.close)
            second.send(v5_connect(uid("second")))
            self.assertEqual(self.reason_of(second.expect(rm.CONNACK)), 0x97)
            self.assertTrue(second.wait_closed())
            old = PahoClient(b.port, uid("old"))  # MQTT 3.1.1: return code 3, server unavailable
            rc, _ = old.connect()
            old.c.loop_stop()
            self.assertEqual(rc, 3)
        finally:
            b.stop()
            b.cleanup()

    def test_outbound_topic_alias_within_client_maximum(self):  # [MQTT-3.3.2-9]
        a, b = uid("oa"), uid("ob")
        c, _ = self.raw(props=bytes([0x22, 0x00, 0x01]))  # topic alias maximum 1
        body = struct.pack("!H", 1) + b"\x00" + rm.encode_str(a) + b"\x00" + rm.encode_str(b) + b"\x00"
        c.send(rm.packet(rm.SUBSCRIBE, 0x02, body))
        c.expect(rm.SUBACK)
        p = PahoClient(_shared.broker.port, uid("p"))
        p.connect()
        for t in (a, a, b):
            p.publish(t, b"m", 0)
        got = []
        for _ in range(3):
            pk = c.expect(rm.PUBLISH)
            (tlen,) = struct.unpack("!H", pk.body[:2])
            topic = pk.body[2:2 + tlen].decode()
            props = pk.body[3 + tlen:3 + tlen + pk.body[2 + tlen]]
            got.append((topic, props))
        p.disconnect()
        self.assertEqual(got[0], (a, bytes([0x23, 0, 1])))
        self.assertEqual(got[1], ("", bytes([0x23, 0, 1])))
        self.assertEqual(got[2], (b, bytes([0x23, 0, 1])))  # least recently used alias reused


if __name__ == "__main__":
    unittest.main()
