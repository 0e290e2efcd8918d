"""A hostile crowd against a real `mop standalone` (issue 11), mop only.

For MOP_HOSTILE_SECONDS (default 20) MOP_HOSTILE_THREADS threads (default 12, half on the MQTT
port, half on the Pulsar port) open connection after connection and send what an unauthenticated
peer can send: valid sessions, truncated packets, random bytes, a valid CONNECT followed in the
same write by garbage / a reserved packet type / a second CONNECT, CONNECT storms with one client
id from many sockets, oversized and malformed lengths, floods of PINGREQ / PING / LOOKUP that
never read the answers, Pulsar frames built by hand (a small
protobuf encoder below; field numbers from PulsarApi.proto, mop's copy is
pulsar/codec/proto/pulsar_api.proto) followed by garbage, huge declared frame sizes, closes in
the middle of a SEND or a SUBSCRIBE, and abrupt closes (SO_LINGER 0: a RST) at random moments.
A sixth of the threads attack the web port (slow heads, oversized headers and bodies, garbage,
pipelined floods never read, bursts of connections, and valid keep-alive requests whose answers are
checked), a sixth the TLS and WebSocket MQTT listeners (half handshakes, plain text to TLS, bad
upgrades, huge declared frames, fragmented frames, ping floods, closes mid-frame, valid TLS
sessions). One more thread sends a CONNECT+SUBSCRIBE+PUBLISH sequence (MQTT) and a CONNECT+PRODUCER+SEND
sequence (Pulsar) split at every byte boundary, and one byte per write, and checks every answer.

Beside the crowd a well-behaved paho QoS 1 publisher and a persistent-session QoS 1 subscriber
run the whole time: every message the publisher got a PUBACK for must reach the subscriber, in
publish order, and neither may be disconnected. Afterwards a new MQTT client and a new Pulsar
CONNECT are served, the web service's health check answers `ok`, the broker's RSS is under a sanity limit (see RSS_LIMIT_MIB), SIGTERM ends it
with exit code 0 (the harness checks) and its log holds no sanitizer report.

The run is seeded: MOP_HOSTILE_SEED replays a run's choices (printed at the start; the
interleaving of the threads is up to the scheduler, so a replay is the same crowd, not the same
timing).
"""

import base64
import collections
import errno
import os
import queue
import random
import socket
import ssl
import struct
import tempfile
import sys
import threading
import time
import unittest

import certs
import harness
import rawmqtt
from clients import PahoClient

SECONDS = float(os.environ.get("MOP_HOSTILE_SECONDS", "20"))
THREADS = int(os.environ.get("MOP_HOSTILE_THREADS", "12"))
# How long a crowd connection waits for an answer the broker owes it (a CONNACK, a close after a
# protocol error). Generous: the broker is loaded by the crowd, and under ASan several times slower.
ANSWER_TIMEOUT = 15.0
GOOD_TOPIC = "hostile/good"
SANITIZER_MARKS = ("AddressSanitizer", "runtime error:", "LeakSanitizer")

# The RSS limit, in MiB. What the crowd can make mop hold at once: each crowd thread has one
# connection open at a time (a storm: up to 16, about 30 in all), each holding at most one partial
# packet (1 MiB MQTT / 5 MiB Pulsar frame limit) and its unwritten output, which reading stops at
# (pulsarChannelWriteBufferHighWaterMark, 4 MiB, plus the answers to one 64 KiB read): about
# 30 x 9 MiB = 270 MiB if every connection hit both limits at once, which they do not. Add
# RocksDB's memtables (its default 64 MiB each) and mop's own ~20 MiB: under 512 MiB. Under ASan
# the allocator also keeps up to 256 MiB of freed memory in quarantine and adds redzones and
# shadow memory (mop starts at ~125 MiB there), hence 1536. The point is to catch unbounded
# growth (an answer queued per request never read, a buffer or a leak per connection), which
# over the crowd's thousands of connections and the GiB its floods send would pass either.
RSS_LIMIT_MIB = int(os.environ.get("MOP_HOSTILE_RSS_LIMIT_MIB", "0")) or None


def sanitized(binary):
    """Whether the mop binary was built with ASan (its libasan symbols)."""
    try:
        with open(binary, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# Pulsar frames by hand.

def pb_varint(n):
    if n < 0:
        n += 1 << 64  # int32/int64 negatives take ten bytes on the wire
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_uint(field, value):
    return pb_varint(field << 3) + pb_varint(value)


def pb_bytes(field, value):
    if isinstance(value, str):
        value = value.encode()
    return pb_varint((field << 3) | 2) + pb_varint(len(value)) + value


# BaseCommand.Type values, which are also the field numbers of the command in BaseCommand.
P_CONNECT, P_CONNECTED, P_SUBSCRIBE, P_PRODUCER, P_SEND, P_SEND_RECEIPT = 2, 3, 4, 5, 6, 7
P_SEND_ERROR, P_MESSAGE, P_ACK, P_FLOW, P_UNSUBSCRIBE, P_SUCCESS, P_ERROR = 8, 9, 10, 11, 12, 13, 14
P_CLOSE_PRODUCER, P_CLOSE_CONSUMER, P_PRODUCER_SUCCESS, P_PING, P_PONG = 15, 16, 17, 18, 19
P_PARTITIONED_METADATA, P_LOOKUP = 21, 23
P_GET_OR_CREATE_SCHEMA, P_GET_OR_CREATE_SCHEMA_RESPONSE = 39, 40


def base_command(ptype, body):
    return pb_uint(1, ptype) + pb_bytes(ptype, body)


def p_frame(command):
    return struct.pack(">II", 4 + len(command), len(command)) + command


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC32C_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def p_payload_frame(command, metadata, payload, checksum="good"):
    """A SEND frame: command, then (magic 0x0e01, CRC32C) when checksum is "good" or "bad",
    then metadata size, metadata, payload."""
    rest = struct.pack(">I", len(metadata)) + metadata + payload
    if checksum in ("good", "bad"):
        crc = crc32c(rest) ^ (0 if checksum == "good" else 0x5A5A5A5A)
        rest = b"\x0e\x01" + struct.pack(">I", crc) + rest
    return struct.pack(">II", 4 + len(command) + len(rest), len(command)) + command + rest


def p_connect():
    return p_frame(base_command(P_CONNECT, pb_bytes(1, "hostile-crowd") + pb_uint(4, 21)))


def p_producer(topic, producer_id, request_id):
    return p_frame(base_command(P_PRODUCER, pb_bytes(1, topic) + pb_uint(2, producer_id) + pb_uint(3, request_id)))


def p_send(producer_id, seq, payload, checksum="good"):
    command = base_command(P_SEND, pb_uint(1, producer_id) + pb_uint(2, seq) + pb_uint(3, 1))
    metadata = pb_bytes(1, "hostile") + pb_uint(2, seq) + pb_uint(3, int(time.time() * 1000))
    return p_payload_frame(command, metadata, payload, checksum)


def p_subscribe(topic, sub, consumer_id, request_id, sub_type=1, earliest=False):
    body = (pb_bytes(1, topic) + pb_bytes(2, sub) + pb_uint(3, sub_type) + pb_uint(4, consumer_id)
            + pb_uint(5, request_id) + pb_uint(13, 1 if earliest else 0))
    return p_frame(base_command(P_SUBSCRIBE, body))


def p_flow(consumer_id, permits):
    return p_frame(base_command(P_FLOW, pb_uint(1, consumer_id) + pb_uint(2, permits)))


def p_ack(consumer_id, ledger, entry):
    message_id = pb_uint(1, ledger) + pb_uint(2, entry)
    return p_frame(base_command(P_ACK, pb_uint(1, consumer_id) + pb_uint(2, 0) + pb_bytes(3, message_id)))


def p_get_or_create_schema(topic, request_id, data):
    schema = pb_bytes(1, "hostile") + pb_bytes(3, data) + pb_uint(4, 2)  # type Json
    return p_frame(base_command(P_GET_OR_CREATE_SCHEMA,
                                pb_uint(1, request_id) + pb_bytes(2, topic) + pb_bytes(3, schema)))


def p_ping():
    return p_frame(base_command(P_PING, b""))


def p_lookup(topic, request_id):
    return p_frame(base_command(P_LOOKUP, pb_bytes(1, topic) + pb_uint(2, request_id)))


def p_partitioned_metadata(topic, request_id):
    return p_frame(base_command(P_PARTITIONED_METADATA, pb_bytes(1, topic) + pb_uint(2, request_id)))


def p_unsubscribe(consumer_id, request_id):
    return p_frame(base_command(P_UNSUBSCRIBE, pb_uint(1, consumer_id) + pb_uint(2, request_id)))


def p_close_producer(producer_id, request_id):
    return p_frame(base_command(P_CLOSE_PRODUCER, pb_uint(1, producer_id) + pb_uint(2, request_id)))


def pb_first_uint(data, field):
    """The value of the first varint `field` of a protobuf message (enough for BaseCommand.type)."""
    pos = 0
    while pos < len(data):
        key, pos = _pb_read_varint(data, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _pb_read_varint(data, pos)
            if num == field:
                return value
        elif wire == 2:
            n, pos = _pb_read_varint(data, pos)
            pos += n
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError("bad protobuf wire type %d" % wire)
    return None


def _pb_read_varint(data, pos):
    value, shift = 0, 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


class Conn(rawmqtt.RawClient):
    """A crowd connection: rawmqtt's client (TCP_NODELAY, so writes leave as separate segments;
    buffered reads with deadlines) that counts the bytes it sends, reads Pulsar frames too, and
    has the two ways of leaving (FIN or RST)."""

    def __init__(self, port, timeout=ANSWER_TIMEOUT):
        super().__init__(port, timeout=timeout)
        self.sent = 0

    def send(self, data):
        super().send(data)
        self.sent += len(data)

    def mqtt_packet(self, timeout=ANSWER_TIMEOUT):
        return self.read_packet(timeout)

    def pulsar_command(self, timeout=ANSWER_TIMEOUT):
        """The type of the next Pulsar frame's command (PINGs from the broker are answered and
        skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            self._fill(8, deadline)
            total, cmd_size = struct.unpack(">II", self.buf[:8])
            self._fill(4 + total, deadline)
            ptype = pb_first_uint(self.buf[8:8 + cmd_size], 1)
            self.buf = self.buf[4 + total:]
            if ptype == P_PING:
                self.send(p_frame(base_command(P_PONG, b"")))
                continue
            return ptype

    def closed_within(self, timeout=ANSWER_TIMEOUT):
        """True when the broker closes the connection within timeout (whatever it sends first)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.sock.settimeout(left)
                if not self.sock.recv(65536):
                    return True
        except socket.timeout:
            return False
        except OSError:
            return True

    def flood_until_blocked(self, chunk, cap, seconds=20):
        """Sends `chunk` again and again, never reading, until a send makes no progress for a
        second (the broker stopped reading: True) or `cap` bytes or `seconds` have gone (False)."""
        deadline = time.monotonic() + seconds
        self.sock.settimeout(1.0)
        while time.monotonic() < deadline and self.sent < cap:
            try:
                self.send(chunk)
            except socket.timeout:
                return True
        return False

    def close(self, rst=False):
        try:
            if rst:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# The crowd.

class Crowd:
    """Shared state of the crowd: counts of what was sent and the anomalies seen (answers the
    broker owed and did not give). Each thread keeps its own Counter, merged at the end."""

    def __init__(self, mqtt_port, pulsar_port, seed, deadline, web_port=None, tls_port=None, ws_port=None,
                 wss_port=None):
        self.mqtt_port = mqtt_port
        self.pulsar_port = pulsar_port
        self.web_port = web_port
        self.tls_port = tls_port
        self.ws_port = ws_port
        self.wss_port = wss_port
        self.seed = seed
        self.deadline = deadline
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.anomalies = []

    def anomaly(self, what):
        with self.lock:
            if len(self.anomalies) < 50:
                self.anomalies.append(what)

    def merge(self, counts):
        with self.lock:
            self.counts.update(counts)


def random_bytes(rnd, n):
    return bytes(rnd.getrandbits(8) for _ in range(n))


def flood_without_reading(c, first, request, seconds):
    """Sends `first`, then `request` over and over for up to `seconds` and never reads the
    answers (a peer that would make the broker queue answers without end). Returns the bytes the
    socket took; the broker stops reading such a connection (pulsarChannelWriteBufferHighWaterMark),
    after which the sends block and time out."""
    c.send(first)
    chunk = request * max(1, 16384 // len(request))
    deadline = time.monotonic() + seconds
    c.sock.settimeout(0.2)
    try:
        while time.monotonic() < deadline:
            c.send(chunk)
    except socket.timeout:
        pass
    return c.sent


def garbage(rnd):
    """Bytes no broker should accept after a CONNECT (or anywhere): each choice is invalid."""
    choice = rnd.randrange(6)
    if choice == 0:
        return b"\x00\x00"  # reserved packet type 0
    if choice == 1:
        return b"\xf0\x00"  # reserved packet type 15 (MQTT 3.1.1; AUTH needs MQTT 5)
    if choice == 2:
        return b"\x30\xff\xff\xff\xff\x7f"  # a 5-byte remaining length
    if choice == 3:
        return b"\x82\x02\x00\x01"  # SUBSCRIBE with no filter
    if choice == 4:
        return b"\x10\x00"  # an empty CONNECT where a second one is a protocol error anyway
    # Reserved type 0 with a body of noise, complete: mop reads a packet's whole declared body
    # before it looks at the type, so an incomplete one would wait for its bytes (or keep alive).
    body = random_bytes(rnd, rnd.randrange(0, 200))
    return b"\x00" + rawmqtt.encode_varint(len(body)) + body


class MqttAttacker(threading.Thread):
    def __init__(self, crowd, index):
        super().__init__(daemon=True, name="mqtt-attacker-%d" % index)
        self.crowd = crowd
        self.index = index
        self.rnd = random.Random(crowd.seed * 1000 + index)
        self.counts = collections.Counter()
        self.error = None
        self.open = []  # this attack's connections, closed (again) after it whatever happened

    def run(self):
        try:
            attacks = [self.valid_session, self.truncated, self.random_noise, self.connect_then_garbage,
                       self.second_connect, self.storm, self.oversized, self.qos2_then_drop,
                       self.slow_partial, self.never_reads]
            while time.monotonic() < self.crowd.deadline:
                attack = self.rnd.choice(attacks)
                try:
                    attack()
                except (OSError, rawmqtt.Closed):
                    # Refused, reset or closed by the broker in the middle: expected for hostile
                    # input; whether the broker stays up is what the test checks.
                    self.counts["mqtt io errors"] += 1
                finally:
                    for c in self.open:
                        c.close()
                    self.open = []
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            self.crowd.merge(self.counts)

    def conn(self):
        c = Conn(self.crowd.mqtt_port)
        self.open.append(c)
        self.counts["mqtt connections"] += 1
        return c

    def leave(self, c):
        """Close normally or with a RST, at random."""
        rst = self.rnd.random() < 0.5
        self.counts["mqtt closes with RST" if rst else "mqtt closes with FIN"] += 1
        self.counts["mqtt bytes"] += c.sent
        c.close(rst)

    def client_id(self):
        # A small pool shared by every thread: sessions are taken over all the time.
        return "crowd-%d" % self.rnd.randrange(16)

    def some_packets(self, cid):
        """A valid CONNECT and a few valid packets after it (some of them QoS 1/2 publishes to
        crowd topics, a will sometimes)."""
        rnd = self.rnd
        will = ("crowd/will/%s" % cid, b"gone", rnd.randrange(3), rnd.random() < 0.2) if rnd.random() < 0.3 else None
        out = [rawmqtt.connect(cid, clean=rnd.random() < 0.7, keepalive=rnd.choice([0, 5, 60]), will=will)]
        for i in range(rnd.randrange(1, 6)):
            kind = rnd.randrange(5)
            pid = rnd.randrange(1, 65536)
            if kind == 0:
                out.append(rawmqtt.subscribe(pid, [(rnd.choice(["crowd/#", "crowd/+/x", "#", "crowd/t%d" % i]),
                                                    rnd.randrange(3))]))
            elif kind == 1:
                out.append(rawmqtt.unsubscribe(pid, ["crowd/#"]))
            elif kind == 2:
                out.append(rawmqtt.pingreq())
            else:
                qos = rnd.randrange(3)
                out.append(rawmqtt.publish("crowd/t%d" % rnd.randrange(8), random_bytes(rnd, rnd.randrange(0, 300)),
                                           qos=qos, packet_id=pid if qos else None, retain=rnd.random() < 0.1))
        return out

    def valid_session(self):
        c = self.conn()
        cid = self.client_id()
        packets = self.some_packets(cid)
        c.send(packets[0])
        self.counts["mqtt valid sessions"] += 1
        try:
            p = c.mqtt_packet()
            if p.type != rawmqtt.CONNACK:
                self.crowd.anomaly("MQTT: %r as the answer to a CONNECT" % p)
        except rawmqtt.Closed:
            pass  # taken over by a storm on the same id before the CONNACK left: allowed
        except socket.timeout:
            self.crowd.anomaly("MQTT: no CONNACK within %ss" % ANSWER_TIMEOUT)
        for p in packets[1:]:
            c.send(p)
            if self.rnd.random() < 0.1:
                self.counts["mqtt closes mid-session"] += 1
                break
        if self.rnd.random() < 0.5:
            c.send(rawmqtt.disconnect())
        self.leave(c)

    def truncated(self):
        """Valid packets cut at a random byte, then a close (or a wait, then a close)."""
        c = self.conn()
        data = b"".join(self.some_packets(self.client_id()))
        c.send(data[:self.rnd.randrange(1, len(data))])
        self.counts["mqtt truncated sequences"] += 1
        if self.rnd.random() < 0.2:
            time.sleep(self.rnd.uniform(0, 0.3))
        self.leave(c)

    def random_noise(self):
        c = self.conn()
        if self.rnd.random() < 0.5:
            c.send(rawmqtt.connect(self.client_id()))
        c.send(random_bytes(self.rnd, self.rnd.randrange(1, 2000)))
        self.counts["mqtt random-byte writes"] += 1
        time.sleep(self.rnd.uniform(0, 0.05))
        self.leave(c)

    def connect_then_garbage(self):
        """A valid CONNECT and, in the same write, bytes that break the protocol: the broker must
        close the connection (the crash of issue 11 was this)."""
        c = self.conn()
        cid, clean, bad = self.client_id(), self.rnd.random() < 0.5, garbage(self.rnd)
        c.send(rawmqtt.connect(cid, clean=clean) + bad)
        self.counts["mqtt CONNECT+garbage in one write"] += 1
        if not c.closed_within():
            self.crowd.anomaly("MQTT: CONNECT(%s, clean=%s)+%s in one write from port %d: connection not closed"
                               % (cid, clean, bad[:16].hex(), c.sock.getsockname()[1]))
        self.leave(c)

    def second_connect(self):
        c = self.conn()
        first, second = self.client_id(), self.client_id()
        c.send(rawmqtt.connect(first) + rawmqtt.connect(second))
        self.counts["mqtt CONNECT+CONNECT in one write"] += 1
        if not c.closed_within():
            self.crowd.anomaly("MQTT: two CONNECTs in one write: connection not closed")
        self.leave(c)

    def storm(self):
        """Many sockets CONNECT with one client id at once; some publish, all leave at random."""
        cid = "storm-%d" % self.rnd.randrange(4)
        conns = []
        try:
            for _ in range(self.rnd.randrange(4, 17)):
                conns.append(self.conn())
            for c in conns:
                c.send(rawmqtt.connect(cid, clean=self.rnd.random() < 0.5,
                                       will=("crowd/will/storm", b"w", 1, False) if self.rnd.random() < 0.3 else None))
            self.counts["mqtt storm CONNECTs"] += len(conns)
            for c in conns:
                if self.rnd.random() < 0.5:
                    c.send(rawmqtt.publish("crowd/storm", b"x", qos=1, packet_id=1))
        finally:
            for c in conns:
                self.leave(c)
        self.counts["mqtt storms"] += 1

    def oversized(self):
        """Lengths the broker must refuse before allocating: above mqttMessageMaxLength, the
        largest 4-byte remaining length, a fifth length byte; as the first packet or after a
        CONNECT."""
        c = self.conn()
        header = self.rnd.choice([b"\x30\xff\xff\xff\x7f",           # 256 MiB - 1
                                  b"\x10\x81\x80\x40",                 # a 1 MiB + 1 CONNECT
                                  b"\x30\x80\x80\x80\x80\x01",         # five length bytes
                                  b"\x82\xff\xff\xff\x7f"])
        if self.rnd.random() < 0.5:
            c.send(rawmqtt.connect(self.client_id()))
        c.send(header + random_bytes(self.rnd, self.rnd.randrange(0, 64)))
        self.counts["mqtt oversized lengths"] += 1
        if not c.closed_within():
            self.crowd.anomaly("MQTT: oversized remaining length %r: connection not closed" % header)
        self.leave(c)

    def qos2_then_drop(self):
        """A QoS 2 publish left half done (PUBREC owed, PUBREL never sent), then a RST."""
        c = self.conn()
        c.send(rawmqtt.connect(self.client_id(), clean=False))
        c.send(rawmqtt.publish("crowd/q2", b"half", qos=2, packet_id=7))
        self.counts["mqtt QoS 2 left half done"] += 1
        time.sleep(self.rnd.uniform(0, 0.02))
        self.counts["mqtt bytes"] += c.sent
        c.close(rst=True)
        self.counts["mqtt closes with RST"] += 1

    def never_reads(self):
        """PINGREQs for up to a second, never reading a PINGRESP."""
        c = self.conn()
        sent = flood_without_reading(c, rawmqtt.connect(self.client_id(), keepalive=5), rawmqtt.pingreq(),
                                     self.rnd.uniform(0.2, 1.0))
        self.counts["mqtt floods never reading"] += 1
        self.counts["mqtt bytes sent by floods never reading"] += sent
        self.leave(c)

    def slow_partial(self):
        """A packet started and left hanging for a moment (a slow or stuck peer)."""
        c = self.conn()
        data = rawmqtt.connect(self.client_id()) + rawmqtt.subscribe(1, [("crowd/#", 1)])
        cut = self.rnd.randrange(1, len(data))
        c.send(data[:cut])
        time.sleep(self.rnd.uniform(0.05, 0.5))
        if self.rnd.random() < 0.5:
            c.send(data[cut:])
        self.counts["mqtt slow partial packets"] += 1
        self.leave(c)


class PulsarAttacker(threading.Thread):
    def __init__(self, crowd, index):
        super().__init__(daemon=True, name="pulsar-attacker-%d" % index)
        self.crowd = crowd
        self.rnd = random.Random(crowd.seed * 1000 + 500 + index)
        self.counts = collections.Counter()
        self.error = None
        self.open = []  # this attack's connections, closed (again) after it whatever happened

    def run(self):
        try:
            attacks = [self.valid_session, self.truncated, self.random_noise, self.valid_then_garbage,
                       self.huge_size, self.before_connect, self.close_mid_send, self.close_mid_subscribe,
                       self.bad_checksum, self.never_reads]
            while time.monotonic() < self.crowd.deadline:
                attack = self.rnd.choice(attacks)
                try:
                    attack()
                except (OSError, rawmqtt.Closed):
                    self.counts["pulsar io errors"] += 1
                finally:
                    for c in self.open:
                        c.close()
                    self.open = []
        except BaseException as e:  # noqa: BLE001
            self.error = e
        finally:
            self.crowd.merge(self.counts)

    def conn(self):
        c = Conn(self.crowd.pulsar_port)
        self.open.append(c)
        self.counts["pulsar connections"] += 1
        return c

    def leave(self, c):
        rst = self.rnd.random() < 0.5
        self.counts["pulsar closes with RST" if rst else "pulsar closes with FIN"] += 1
        self.counts["pulsar bytes"] += c.sent
        c.close(rst)

    def topic(self):
        return "persistent://public/default/crowd-%d" % self.rnd.randrange(8)

    def some_commands(self):
        """CONNECT and a few valid commands after it (producers, sends, consumers, flow, acks)."""
        rnd = self.rnd
        out = [p_connect()]
        for i in range(rnd.randrange(1, 8)):
            kind = rnd.randrange(8)
            rid = rnd.randrange(1 << 20)
            if kind == 0:
                out.append(p_producer(self.topic(), i, rid))
            elif kind == 1:
                out.append(p_send(rnd.randrange(3), rnd.randrange(1000), random_bytes(rnd, rnd.randrange(0, 300)),
                                  checksum=rnd.choice(["good", "none"])))
            elif kind == 2:
                out.append(p_subscribe(self.topic(), "crowd-sub-%d" % rnd.randrange(4), i, rid,
                                       sub_type=rnd.randrange(4), earliest=rnd.random() < 0.5))
            elif kind == 3:
                out.append(p_flow(rnd.randrange(3), rnd.randrange(0, 2000)))
            elif kind == 4:
                out.append(p_ack(rnd.randrange(3), rnd.randrange(1000), rnd.randrange(1000)))
            elif kind == 5:
                out.append(rnd.choice([p_ping(), p_lookup(self.topic(), rid), p_partitioned_metadata(self.topic(), rid)]))
            elif kind == 6:
                out.append(p_unsubscribe(rnd.randrange(3), rid))
            else:
                out.append(p_close_producer(rnd.randrange(3), rid))
        return out

    def valid_session(self):
        c = self.conn()
        commands = self.some_commands()
        c.send(commands[0])
        self.counts["pulsar valid sessions"] += 1
        try:
            t = c.pulsar_command()
            if t != P_CONNECTED:
                self.crowd.anomaly("Pulsar: command type %s as the answer to CONNECT" % t)
        except socket.timeout:
            self.crowd.anomaly("Pulsar: no CONNECTED within %ss" % ANSWER_TIMEOUT)
        for cmd in commands[1:]:
            c.send(cmd)
        time.sleep(self.rnd.uniform(0, 0.05))
        self.leave(c)

    def truncated(self):
        c = self.conn()
        data = b"".join(self.some_commands())
        c.send(data[:self.rnd.randrange(1, len(data))])
        self.counts["pulsar truncated sequences"] += 1
        self.leave(c)

    def random_noise(self):
        c = self.conn()
        if self.rnd.random() < 0.5:
            c.send(p_connect())
        c.send(random_bytes(self.rnd, self.rnd.randrange(1, 2000)))
        self.counts["pulsar random-byte writes"] += 1
        time.sleep(self.rnd.uniform(0, 0.05))
        self.leave(c)

    def valid_then_garbage(self):
        """Valid frames and, in the same write, a frame the broker cannot parse: it must close."""
        c = self.conn()
        bad = self.rnd.choice([
            struct.pack(">II", 12, 8) + b"\xff" * 8,                        # not protobuf
            struct.pack(">II", 8, 100) + b"\x08\x02\x12\x00",               # command size > frame
            p_frame(pb_uint(1, 9999)),                                      # unknown command type
            p_frame(pb_uint(1, P_SEND)),                                    # SEND with no body
            struct.pack(">I", 2) + b"\x00\x00",                             # shorter than a command size
        ])
        data = b"".join(self.some_commands()[:self.rnd.randrange(1, 4)]) + bad
        c.send(data)
        self.counts["pulsar valid frames+garbage in one write"] += 1
        if not c.closed_within():
            self.crowd.anomaly("Pulsar: valid frames then %r: connection not closed" % bad[:16])
        self.leave(c)

    def huge_size(self):
        """Declared sizes the broker must refuse before allocating (4 GiB, just above
        maxMessageSize and padding), or a plausible size whose bytes never come."""
        c = self.conn()
        if self.rnd.random() < 0.5:
            c.send(p_connect())
        size = self.rnd.choice([0xFFFFFFFF, 0x7FFFFFFF, 64 << 20, 5 * 1024 * 1024 + 64 * 1024])
        c.send(struct.pack(">II", size, 16) + random_bytes(self.rnd, 16))
        self.counts["pulsar huge declared sizes"] += 1
        if not c.closed_within():
            self.crowd.anomaly("Pulsar: declared frame size %d: connection not closed" % size)
        self.leave(c)

    def before_connect(self):
        c = self.conn()
        c.send(self.rnd.choice([p_producer(self.topic(), 1, 1), p_ping(), p_flow(1, 10),
                                p_subscribe(self.topic(), "s", 1, 1)]))
        self.counts["pulsar commands before CONNECT"] += 1
        if not c.closed_within():
            self.crowd.anomaly("Pulsar: command before CONNECT: connection not closed")
        self.leave(c)

    def close_mid_send(self):
        """A producer, then a SEND cut in the middle of its payload, then a RST."""
        c = self.conn()
        send = p_send(0, self.rnd.randrange(100), random_bytes(self.rnd, 2000))
        data = p_connect() + p_producer(self.topic(), 0, 1) + send
        c.send(data[:len(data) - self.rnd.randrange(1, len(send))])
        time.sleep(self.rnd.uniform(0, 0.02))
        self.counts["pulsar closes mid-SEND"] += 1
        self.counts["pulsar bytes"] += c.sent
        self.counts["pulsar closes with RST"] += 1
        c.close(rst=True)

    def close_mid_subscribe(self):
        """A SUBSCRIBE (sometimes with FLOW) and a RST before or while the broker answers."""
        c = self.conn()
        data = p_connect() + p_subscribe(self.topic(), "crowd-sub-%d" % self.rnd.randrange(4), 1, 1,
                                         sub_type=self.rnd.randrange(4), earliest=True)
        if self.rnd.random() < 0.5:
            data += p_flow(1, 1000)
        if self.rnd.random() < 0.5:
            data = data[:len(data) - self.rnd.randrange(1, 10)]
        c.send(data)
        time.sleep(self.rnd.uniform(0, 0.02))
        self.counts["pulsar closes mid-SUBSCRIBE"] += 1
        self.counts["pulsar bytes"] += c.sent
        self.counts["pulsar closes with RST"] += 1
        c.close(rst=True)

    def never_reads(self):
        """PINGs or LOOKUPs for up to a second, never reading the answers."""
        c = self.conn()
        request = p_ping() if self.rnd.random() < 0.5 else p_lookup(self.topic(), 1)
        sent = flood_without_reading(c, p_connect(), request, self.rnd.uniform(0.2, 1.0))
        self.counts["pulsar floods never reading"] += 1
        self.counts["pulsar bytes sent by floods never reading"] += sent
        self.leave(c)

    def bad_checksum(self):
        """A SEND whose CRC32C is wrong: SEND_ERROR, and the connection stays (as in Pulsar)."""
        c = self.conn()
        c.send(p_connect() + p_producer(self.topic(), 0, 1) + p_send(0, 1, b"bad", checksum="bad"))
        self.counts["pulsar SENDs with a bad checksum"] += 1
        self.leave(c)


class Splitter(threading.Thread):
    """Valid sequences written split at every byte boundary (two writes), and one byte per
    write; every answer is checked, so a reader that loses its place on a boundary is caught."""

    def __init__(self, crowd):
        super().__init__(daemon=True, name="splitter")
        self.crowd = crowd
        self.counts = collections.Counter()
        self.error = None
        self.serial = 0

    def run(self):
        try:
            passes = 0
            # At least one full pass of each, even past the deadline.
            while passes == 0 or time.monotonic() < self.crowd.deadline:
                self.mqtt_pass()
                self.pulsar_pass()
                passes += 1
            self.counts["split passes (all boundaries, MQTT and Pulsar)"] += passes
        except BaseException as e:  # noqa: BLE001
            self.error = e
        finally:
            self.crowd.merge(self.counts)

    def mqtt_sequence(self):
        self.serial += 1
        cid = "split-%d" % self.serial
        topic = "crowd/split/%d" % self.serial
        payload = b"split %d" % self.serial
        data = (rawmqtt.connect(cid) + rawmqtt.subscribe(1, [(topic, 1)])
                + rawmqtt.publish(topic, payload, qos=1, packet_id=2))
        return data, payload

    def mqtt_check(self, c, payload, how):
        try:
            p = c.mqtt_packet()
            if p.type != rawmqtt.CONNACK or p.return_code != 0:
                raise AssertionError("CONNACK expected, got %r" % p)
            p = c.mqtt_packet()
            if p.type != rawmqtt.SUBACK or p.return_codes != [1]:
                raise AssertionError("SUBACK [1] expected, got %r" % p)
            seen = set()
            while len(seen) < 2:
                p = c.mqtt_packet()
                if p.type == rawmqtt.PUBACK and p.packet_id == 2:
                    seen.add("puback")
                elif p.type == rawmqtt.PUBLISH and p.payload == payload:
                    seen.add("publish")
                    c.send(rawmqtt.puback(p.packet_id))
                else:
                    raise AssertionError("PUBACK 2 or the PUBLISH expected, got %r" % p)
        except (AssertionError, OSError, rawmqtt.Closed) as e:
            self.crowd.anomaly("MQTT sequence %s: %s" % (how, e))
        c.send(rawmqtt.disconnect())
        c.close()

    def mqtt_pass(self):
        length = len(self.mqtt_sequence()[0])
        for cut in range(1, length):
            data, payload = self.mqtt_sequence()
            c = Conn(self.crowd.mqtt_port)
            c.send(data[:cut])
            time.sleep(0.002)  # so the broker reads the two parts separately (most of the time)
            c.send(data[cut:])
            self.mqtt_check(c, payload, "split at byte %d of %d" % (cut, length))
            self.counts["mqtt split writes"] += 1
        data, payload = self.mqtt_sequence()
        c = Conn(self.crowd.mqtt_port)
        for i in range(len(data)):
            c.send(data[i:i + 1])
        self.mqtt_check(c, payload, "one byte per write")
        self.counts["mqtt one-byte-per-write sequences"] += 1

    def pulsar_sequence(self):
        self.serial += 1
        topic = "persistent://public/default/crowd-split-%d" % self.serial
        return p_connect() + p_producer(topic, 1, 1) + p_send(1, 0, b"split %d" % self.serial)

    def pulsar_check(self, c, how):
        try:
            for expected in (P_CONNECTED, P_PRODUCER_SUCCESS, P_SEND_RECEIPT):
                t = c.pulsar_command()
                if t != expected:
                    raise AssertionError("command %d expected, got %s" % (expected, t))
        except (AssertionError, OSError, rawmqtt.Closed) as e:
            self.crowd.anomaly("Pulsar sequence %s: %s" % (how, e))
        c.close()

    def pulsar_pass(self):
        length = len(self.pulsar_sequence())
        for cut in range(1, length):
            data = self.pulsar_sequence()
            c = Conn(self.crowd.pulsar_port)
            c.send(data[:cut])
            time.sleep(0.002)
            c.send(data[cut:])
            self.pulsar_check(c, "split at byte %d of %d" % (cut, length))
            self.counts["pulsar split writes"] += 1
        data = self.pulsar_sequence()
        c = Conn(self.crowd.pulsar_port)
        for i in range(len(data)):
            c.send(data[i:i + 1])
        self.pulsar_check(c, "one byte per write")
        self.counts["pulsar one-byte-per-write sequences"] += 1


# ---------------------------------------------------------------------------------------------
# The web port and the TLS / WebSocket listeners.

WEB_GOOD = [b"/status.html", b"/admin/v2/brokers/ready", b"/admin/v2/tenants", b"/metrics", b"/mop/stats",
            b"/", b"/dashboard/dashboard.js", b"/admin/v2/persistent/public/default",
            b"/admin/v2/namespaces/public", b"/admin/v2/persistent/public/default/hostile%2Fgood/stats"]


def http_get(target, close=False):
    return (b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
            % (target, b"Connection: close\r\n" if close else b""))


def read_http_status(c, timeout=ANSWER_TIMEOUT):
    """The status code of the next response on `c` (its head only; the body stays unread)."""
    deadline = time.monotonic() + timeout
    while b"\r\n" not in c.buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no status line")
        c.sock.settimeout(left)
        data = c.sock.recv(65536)
        if not data:
            raise rawmqtt.Closed("closed before a status line")
        c.buf += data
    line = c.buf.split(b"\r\n", 1)[0]
    if not line.startswith(b"HTTP/1."):
        raise AssertionError("not an HTTP status line: %r" % line[:80])
    return int(line.split()[1])


def read_http_response(c, timeout=ANSWER_TIMEOUT):
    """(status, body) of the next response on `c` with a Content-Length (mop always sends one)."""
    deadline = time.monotonic() + timeout
    status = read_http_status(c, timeout)
    while b"\r\n\r\n" not in c.buf:
        c._fill(len(c.buf) + 1, deadline)
    head, rest = c.buf.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    c.buf = rest
    c._fill(length, deadline)
    body, c.buf = c.buf[:length], c.buf[length:]
    return status, body


def ws_upgrade(path=b"/mqtt", key=None, version=b"13", protocol=b"mqtt"):
    key = base64.b64encode(os.urandom(16)) if key is None else key
    return (b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n"
            % (path, key, version, protocol))


class TlsConn(Conn):
    """A crowd connection wrapped in TLS (no certificate check: the crowd does not care)."""

    def __init__(self, port, timeout=ANSWER_TIMEOUT):
        super().__init__(port, timeout=timeout)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock.settimeout(timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="127.0.0.1")

    def close(self, rst=False):
        try:
            self.sock.close()
        except OSError:
            pass


class CrowdThread(threading.Thread):
    """What every crowd thread of the ports below shares: a loop over its attacks until the
    deadline, closing what each left open."""

    def __init__(self, crowd, name, seed):
        super().__init__(daemon=True, name=name)
        self.crowd = crowd
        self.rnd = random.Random(seed)
        self.counts = collections.Counter()
        self.error = None
        self.open = []

    def run(self):
        try:
            while time.monotonic() < self.crowd.deadline:
                attack = self.rnd.choice(self.attacks())
                try:
                    attack()
                except (OSError, rawmqtt.Closed):
                    self.counts["%s io errors" % self.kind] += 1
                finally:
                    for c in self.open:
                        c.close(rst=self.rnd.random() < 0.5)
                    self.open = []
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            self.crowd.merge(self.counts)

    def conn(self, port, tls=False):
        c = TlsConn(port) if tls else Conn(port)
        self.open.append(c)
        self.counts["%s connections" % self.kind] += 1
        return c


class WebAttacker(CrowdThread):
    kind = "web"

    def __init__(self, crowd, index):
        super().__init__(crowd, "web-attacker-%d" % index, crowd.seed * 1000 + 700 + index)

    def attacks(self):
        return [self.keep_alive, self.slowloris, self.big_header, self.big_body, self.garbage,
                self.pipelined_flood, self.many_connections]

    def keep_alive(self):
        """Valid requests one after another on one connection: each gets its answer."""
        c = self.conn(self.crowd.web_port)
        for _ in range(self.rnd.randrange(1, 8)):
            target = self.rnd.choice(WEB_GOOD)
            c.send(http_get(target))
            try:
                status, _ = read_http_response(c)
            except (AssertionError, socket.timeout, rawmqtt.Closed) as e:
                self.crowd.anomaly("GET %s: %s" % (target.decode(), e))
                return
            if status != 200 and not (status == 404 and b"stats" in target):
                self.crowd.anomaly("GET %s answered %d" % (target.decode(), status))
            self.counts["web good requests"] += 1

    def slowloris(self):
        """A request head dribbled a few bytes at a time, never finished."""
        c = self.conn(self.crowd.web_port)
        head = http_get(b"/metrics")[:-2] + b"X-Slow: " + b"s" * 200
        for i in range(0, len(head), 4):
            if time.monotonic() > self.crowd.deadline:
                break
            c.send(head[i:i + 4])
            time.sleep(0.02)
        self.counts["web slow heads"] += 1

    def big_header(self):
        """A header over webServicePort's 16 KiB limit: 431, then the connection is closed."""
        c = self.conn(self.crowd.web_port)
        c.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * (20 << 10) + b"\r\n\r\n")
        try:
            status = read_http_status(c)
            if status != 431:
                self.crowd.anomaly("a 20 KiB header answered %d" % status)
        except (AssertionError, socket.timeout) as e:
            self.crowd.anomaly("a 20 KiB header: %s" % e)
        self.counts["web oversized headers"] += 1

    def big_body(self):
        """A body over the 64 KiB limit: 413, then the connection is closed."""
        c = self.conn(self.crowd.web_port)
        c.send(b"PUT /admin/v2/tenants/crowd HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n")
        try:
            c.send(b"{" * (80 << 10))
        except OSError:
            pass  # the broker may answer and close before it has it all
        try:
            status = read_http_status(c)
            if status != 413:
                self.crowd.anomaly("an 80 KiB body answered %d" % status)
        except (AssertionError, socket.timeout) as e:
            self.crowd.anomaly("an 80 KiB body: %s" % e)
        self.counts["web oversized bodies"] += 1

    def garbage(self):
        """Bytes that are no request: an answer 400 or a close, within the answer timeout."""
        c = self.conn(self.crowd.web_port)
        junk = random_bytes(self.rnd, self.rnd.randrange(1, 400))
        c.send(junk + b"\r\n\r\n")
        if not c.closed_within():
            self.crowd.anomaly("garbage on the web port left the connection open: %r" % junk[:40])
        self.counts["web garbage"] += 1

    def pipelined_flood(self):
        """Pipelined requests for a second, answers never read: mop stops reading, stays bounded."""
        c = self.conn(self.crowd.web_port)
        flood_without_reading(c, b"", http_get(b"/status.html"), 1.0)
        self.counts["web pipelined floods"] += 1
        self.counts["web bytes"] += c.sent

    def many_connections(self):
        """Forty connections at once, each with half a request, then all gone."""
        for _ in range(40):
            c = self.conn(self.crowd.web_port)
            c.send(b"GET /admin/v2/ten")
        time.sleep(0.2)
        self.counts["web connection bursts"] += 1


class SecureAttacker(CrowdThread):
    """The TLS (mqtt+ssl), WebSocket (ws) and WebSocket over TLS (ws+ssl) MQTT listeners."""

    kind = "secure"

    def __init__(self, crowd, index):
        super().__init__(crowd, "secure-attacker-%d" % index, crowd.seed * 1000 + 800 + index)

    def attacks(self):
        return [self.half_handshake, self.plain_to_tls, self.ws_bad_upgrade, self.ws_huge_frame,
                self.ws_fragmented_session, self.ws_ping_flood, self.ws_close_mid_frame, self.tls_session]

    def half_handshake(self):
        """The start of a TLS ClientHello, then nothing more, or a close."""
        c = self.conn(self.rnd.choice([self.crowd.tls_port, self.crowd.wss_port]))
        c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + random_bytes(self.rnd, self.rnd.randrange(0, 60)))
        time.sleep(self.rnd.uniform(0, 0.3))
        self.counts["secure half handshakes"] += 1

    def plain_to_tls(self):
        """Plain MQTT on the TLS port: refused with a close."""
        c = self.conn(self.crowd.tls_port)
        c.send(rawmqtt.connect("crowd-plain"))
        if not c.closed_within():
            self.crowd.anomaly("plain MQTT on the TLS port left the connection open")
        self.counts["secure plain text to TLS"] += 1

    def ws_connection(self, tls):
        c = self.conn(self.crowd.wss_port if tls else self.crowd.ws_port, tls=tls)
        c.send(ws_upgrade())
        status = read_http_status(c)
        if status != 101:
            raise AssertionError("WebSocket upgrade answered %d" % status)
        while b"\r\n\r\n" not in c.buf:
            c._fill(len(c.buf) + 1, time.monotonic() + ANSWER_TIMEOUT)
        c.buf = c.buf.split(b"\r\n\r\n", 1)[1]
        return c

    def ws_bad_upgrade(self):
        """Upgrades with a bad key, version or path, or a plain GET: refused, never upgraded."""
        c = self.conn(self.crowd.ws_port)
        choice = self.rnd.randrange(4)
        request = [ws_upgrade(key=b"short"), ws_upgrade(version=b"8"), ws_upgrade(path=b"/nope"),
                   http_get(b"/mqtt")][choice]
        c.send(request)
        try:
            status = read_http_status(c)
            # A key that does not decode to 16 bytes is a 400 too (RFC 6455 4.2.1).
            if status == 101:
                self.crowd.anomaly("a bad WebSocket upgrade (%d) was accepted" % choice)
        except (rawmqtt.Closed, socket.timeout):
            pass  # a close without an answer is a refusal too
        self.counts["secure bad upgrades"] += 1

    def ws_huge_frame(self):
        """A frame that declares 2^40 bytes: the connection is closed."""
        c = self.ws_connection(self.rnd.random() < 0.5)
        c.send(harness.ws_frame(b"\x10", declared=1 << 40))
        if not c.closed_within():
            self.crowd.anomaly("a WebSocket frame of 2^40 bytes left the connection open")
        self.counts["secure huge frames"] += 1

    def ws_fragmented_session(self):
        """A CONNECT in three continuation frames with a ping between: it is joined and answered."""
        tls = self.rnd.random() < 0.5
        c = self.ws_connection(tls)
        data = rawmqtt.connect("crowd-ws-%d" % self.rnd.randrange(8))
        c.send(harness.ws_frame(data[:3], fin=False) + harness.ws_frame(b"p", opcode=0x9)
               + harness.ws_frame(data[3:8], opcode=0, fin=False) + harness.ws_frame(data[8:], opcode=0))
        # Frames from the server are unmasked; the CONNACK is 4 bytes in a binary frame (pongs first).
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while True:
            c._fill(2, deadline)
            opcode, n = c.buf[0] & 0x0F, c.buf[1] & 0x7F
            c._fill(2 + n, deadline)
            payload, c.buf = c.buf[2:2 + n], c.buf[2 + n:]
            if opcode == 0xA:
                continue
            if opcode != 0x2 or payload[:1] != b"\x20" or payload[3:4] != b"\x00":
                self.crowd.anomaly("fragmented CONNECT over %s answered %r" % ("wss" if tls else "ws", payload))
            break
        self.counts["secure fragmented sessions"] += 1

    def ws_ping_flood(self):
        """Pings for half a second, pongs never read."""
        c = self.ws_connection(self.rnd.random() < 0.5)
        flood_without_reading(c, b"", harness.ws_frame(b"ping", opcode=0x9), 0.5)
        self.counts["secure ping floods"] += 1

    def ws_close_mid_frame(self):
        """Half a frame, then a close (FIN or RST at the end of the attack)."""
        c = self.ws_connection(self.rnd.random() < 0.5)
        frame = harness.ws_frame(rawmqtt.connect("crowd-mid"))
        c.send(frame[:self.rnd.randrange(1, len(frame))])
        self.counts["secure closes mid-frame"] += 1

    def tls_session(self):
        """A valid MQTT session over TLS: CONNECT, PINGREQ, DISCONNECT, each answered."""
        c = self.conn(self.crowd.tls_port, tls=True)
        c.send(rawmqtt.connect("crowd-tls-%d" % self.rnd.randrange(8)) + rawmqtt.pingreq())
        try:
            for expected in (rawmqtt.CONNACK, rawmqtt.PINGRESP):
                p = c.mqtt_packet()
                if p.type != expected:
                    raise AssertionError("%d expected, got %r" % (expected, p))
        except (AssertionError, socket.timeout) as e:
            self.crowd.anomaly("MQTT over TLS: %s" % e)
        c.send(rawmqtt.disconnect())
        self.counts["secure TLS sessions"] += 1


# ---------------------------------------------------------------------------------------------
# The well-behaved pair.

def published(info):
    """Whether paho saw the PUBACK of this message (see test_crash.published)."""
    with info._condition:
        return info._published


class GoodPublisher(threading.Thread):
    """paho QoS 1 publisher of "<seq>" on GOOD_TOPIC, at most 20 unacknowledged at a time."""

    def __init__(self, port):
        super().__init__(daemon=True, name="good-publisher")
        self.client = PahoClient(port, "hostile-good-pub", clean_session=True)
        self.sent = []  # (seq, MessageInfo)
        self.stop = threading.Event()

    def run(self):
        seq = 0
        while not self.stop.is_set():
            if sum(1 for _, i in self.sent[-40:] if not published(i)) >= 20:
                time.sleep(0.005)
                continue
            self.sent.append((seq, self.client.c.publish(GOOD_TOPIC, b"%d" % seq, 1)))
            seq += 1
            time.sleep(0.005)

    def acked(self):
        return [seq for seq, info in self.sent if published(info)]

    def all_acked(self):
        return all(published(info) for _, info in self.sent)


def read_rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True, name="rss")
        self.pid = pid
        self.max_kib = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.2):
            self.max_kib = max(self.max_kib, read_rss_kib(self.pid) or 0)


@unittest.skipUnless(harness.is_mop(), "the crowd plays against mop's MQTT and Pulsar ports")
class HostileCrowd(unittest.TestCase):
    maxDiff = None
    def test_crowd_cannot_crash_wedge_or_make_mop_lose_messages(self):
        seed = int(os.environ.get("MOP_HOSTILE_SEED") or random.SystemRandom().randrange(1 << 31))
        print("\nMOP_HOSTILE_SEED=%d MOP_HOSTILE_SECONDS=%g MOP_HOSTILE_THREADS=%d"
              % (seed, SECONDS, THREADS), file=sys.stderr, flush=True)
        asan = sanitized(os.environ.get("MOP_BIN", ""))
        rss_limit_mib = RSS_LIMIT_MIB or (1536 if asan else 512)

        # A self-signed certificate for the TLS listeners (the crowd does not check it).
        cert_dir = tempfile.mkdtemp(prefix="mop-hostile-")
        cert, key = certs.self_signed(cert_dir, "server", "mop-hostile")

        def mop_args(port, data_dir):
            # The harness binds every listener on port 0 (the Pulsar and web ones too) and reads
            # the ports from mop's start-up line; the plain MQTT listener is the first. Info-level
            # logging: the crowd would make a debug log of hundreds of MiB.
            return ["--mqttListeners=mqtt://127.0.0.1:%d,mqtt+ssl://127.0.0.1:0,ws://127.0.0.1:0,"
                    "ws+ssl://127.0.0.1:0" % port,
                    "--tlsCertificateFilePath=" + cert, "--tlsKeyFilePath=" + key,
                    "--dataDir=%s" % data_dir, "--logLevel=info"]

        try:
            with harness.Broker(mop_args=mop_args) as broker:
                self.assertIsNotNone(broker.pulsar_port, "mop started without its Pulsar listener")
                self.run_crowd(broker, broker.pulsar_port, seed, rss_limit_mib)
            # Stopped (exit 0 required); the log outlives the temp dir.
            log = broker.log_text()
            for mark in SANITIZER_MARKS:
                self.assertNotIn(mark, log, "sanitizer report in mop's log:\n%s" % broker.log_text(tail=200))
        finally:
            for f in (cert, key):
                os.unlink(f)
            os.rmdir(cert_dir)

    def run_crowd(self, broker, pulsar_port, seed, rss_limit_mib):
        pid = broker.proc.pid
        rss_start = read_rss_kib(pid)
        sampler = RssSampler(pid)
        sampler.start()

        sub = PahoClient(broker.port, "hostile-good-sub", clean_session=False)
        self.assertEqual(sub.connect()[0], 0)
        self.assertEqual(sub.subscribe([(GOOD_TOPIC, 1)]), [1])
        pub = GoodPublisher(broker.port)
        self.assertEqual(pub.client.connect()[0], 0)
        pub.start()

        started = time.monotonic()
        urls = {l["scheme"]: l["port"] for l in broker.ready["mqtt"]}
        crowd = Crowd(broker.port, pulsar_port, seed, started + SECONDS, web_port=broker.web_port,
                      tls_port=urls["mqtt+ssl"], ws_port=urls["ws"], wss_port=urls["ws+ssl"])
        # Of THREADS: a sixth on the web port, a sixth on the TLS / WebSocket listeners, the rest
        # half MQTT, half Pulsar.
        others = max(1, THREADS // 6)
        rest = THREADS - 2 * others
        attackers = ([MqttAttacker(crowd, i) for i in range((rest + 1) // 2)]
                     + [PulsarAttacker(crowd, i) for i in range(rest // 2)]
                     + [WebAttacker(crowd, i) for i in range(others)]
                     + [SecureAttacker(crowd, i) for i in range(others)] + [Splitter(crowd)])
        for a in attackers:
            a.start()
        for a in attackers:
            a.join(SECONDS + 600)
            self.assertFalse(a.is_alive(), "%s still running long after the deadline" % a.name)
        crowd_seconds = time.monotonic() - started
        pub.stop.set()
        pub.join(10)

        self.assertTrue(broker.alive(), "mop died under the crowd (exit code %s)" % broker.proc.poll())
        errors = ["%s: %r" % (a.name, a.error) for a in attackers if a.error is not None]
        self.assertEqual(errors, [], "crowd threads failed")

        # The well-behaved pair: everything acknowledged arrives, in order, and nothing else breaks.
        self.assertTrue(harness.wait_until(pub.all_acked, 60),
                        "%d of %d good messages never acknowledged" % (len(pub.sent) - len(pub.acked()), len(pub.sent)))
        acked = pub.acked()
        received = []  # (seq, dup)

        def drain():
            while True:
                try:
                    m = sub.messages.get_nowait()
                except queue.Empty:
                    return
                received.append((int(m.payload), m.dup))

        def all_arrived():
            drain()
            return {s for s, _ in received} >= set(acked)

        arrived = harness.wait_until(all_arrived, 60)
        missing = sorted(set(acked) - {s for s, _ in received})
        firsts, seen, bad_dups = [], set(), []
        for s, dup in received:
            if s in seen:
                if not dup:
                    bad_dups.append(s)
            else:
                seen.add(s)
                firsts.append(s)

        sampler.stop.set()
        sampler.join()
        rss_end = read_rss_kib(pid)
        counts = crowd.counts
        print("\nhostile crowd: %.1f s, %d threads, seed %d" % (crowd_seconds, len(attackers), seed), file=sys.stderr)
        for k in sorted(counts):
            print("  %-48s %d" % (k, counts[k]), file=sys.stderr)
        print("  good pair: %d published, %d acknowledged, %d received (%d duplicates)"
              % (len(pub.sent), len(acked), len(received), len(received) - len(seen)), file=sys.stderr)
        print("  mop VmRSS: %s KiB at start, %d KiB max, %s KiB after; limit %d MiB"
              % (rss_start, sampler.max_kib, rss_end, rss_limit_mib), file=sys.stderr, flush=True)

        self.assertTrue(arrived and not missing, "acknowledged messages lost: %d, first %s" % (len(missing), missing[:20]))
        self.assertEqual(firsts, sorted(firsts), "good messages out of order")
        self.assertEqual(bad_dups, [], "a message delivered twice without DUP")
        self.assertFalse(sub.disconnected.is_set(), "the good subscriber was disconnected")
        self.assertFalse(pub.client.disconnected.is_set(), "the good publisher was disconnected")
        self.assertEqual(crowd.anomalies, [], "answers the broker owed the crowd")
        self.assertGreater(len(acked), 0)

        # Still serving: a new MQTT client round trip and a new Pulsar CONNECT.
        fresh = PahoClient(broker.port, "hostile-after", clean_session=True)
        self.assertEqual(fresh.connect()[0], 0)
        self.assertEqual(fresh.subscribe([("hostile/after", 1)]), [1])
        fresh.publish("hostile/after", b"still here", qos=1)
        self.assertEqual(fresh.get().payload, b"still here")
        fresh.disconnect()
        c = Conn(pulsar_port)
        c.send(p_connect())
        self.assertEqual(c.pulsar_command(), P_CONNECTED)
        c.close()
        # And the web service: Pulsar's health check publishes and consumes through the broker.
        c = Conn(broker.web_port)
        c.send(http_get(b"/admin/v2/brokers/health", close=True))
        self.assertEqual(read_http_response(c, timeout=30), (200, b"ok"))
        c.close()

        # A peer that sends requests and never reads the answers is held back: mop stops reading
        # it (pulsarChannelWriteBufferHighWaterMark, 4 MiB of unwritten answers), so its sends
        # block for good once that and the sockets' buffers (a few MiB each way on loopback) are
        # full. Without the bound mop reads on, queueing every answer, and the sends never block.
        for port, first, request in ((broker.port, rawmqtt.connect("hostile-flood", keepalive=60), rawmqtt.pingreq()),
                                     (pulsar_port, p_connect(), p_ping())):
            c = Conn(port)
            c.send(first)
            blocked = c.flood_until_blocked(request * (65536 // len(request)), 256 << 20)
            print("  a peer that never reads: %d bytes taken on port %d before its sends blocked (%s)"
                  % (c.sent, port, "blocked" if blocked else "never blocked"), file=sys.stderr, flush=True)
            c.close(rst=True)
            self.assertTrue(blocked, "mop kept reading a peer that never reads its answers (%d bytes)" % c.sent)
            self.assertLess(c.sent, 64 << 20)
        sub.disconnect()
        pub.client.disconnect()

        self.assertLess(sampler.max_kib, rss_limit_mib * 1024,
                        "mop's RSS reached %d KiB (limit %d MiB)" % (sampler.max_kib, rss_limit_mib))


# ---------------------------------------------------------------------------------------------
# A flood behind a SUBSCRIBE that waits for the store.

class StalledThread:
    """One thread of a process stopped on its own (ptrace: PTRACE_SEIZE, then PTRACE_INTERRUPT;
    the process's other threads run on) until the `with` block ends (PTRACE_DETACH). Here it is
    mop's storage thread, named mop-store: a disk whose syncs hang, and every write that waits
    for one waits with it."""

    PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207
    WALL = 0x40000000  # __WALL: wait for a thread that is not the process's main one

    def __init__(self, pid, name):
        import ctypes
        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        self.libc.ptrace.restype = ctypes.c_long
        self.libc.waitpid.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        self.tid = None
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if f.read().strip() == name:
                    self.tid = int(tid)
        if self.tid is None:
            raise AssertionError("no thread named %s in process %d" % (name, pid))

    def _ptrace(self, request):
        if self.libc.ptrace(request, self.tid, None, None) != 0:
            raise OSError(self.ctypes.get_errno(), "ptrace(%#x, %d) failed" % (request, self.tid))

    def __enter__(self):
        try:
            self._ptrace(self.PTRACE_SEIZE)
        except OSError as e:
            if e.errno in (errno.EPERM, errno.ENOSYS):  # Yama scope 2 without CAP_SYS_PTRACE, scope 3, seccomp
                raise unittest.SkipTest("ptrace is not allowed here (%s): cannot stall mop's storage "
                                        "thread" % os.strerror(e.errno))
            raise
        self._ptrace(self.PTRACE_INTERRUPT)
        status = self.ctypes.c_int()
        if self.libc.waitpid(self.tid, self.ctypes.byref(status), self.WALL) != self.tid:
            raise OSError(self.ctypes.get_errno(), "waitpid(%d) failed" % self.tid)
        return self

    def __exit__(self, *exc):
        self._ptrace(self.PTRACE_DETACH)


class HeldSubscribe(unittest.TestCase):
    def test_a_flood_behind_a_held_subscribe_is_held_back_by_tcp(self):
        """A persistent session's SUBACK waits until its session record is durable, and the
        packets behind the SUBSCRIBE wait for the SUBACK. While they wait mop must stop reading
        the socket, so that TCP holds the client back: a client that floods PUBLISHes behind a
        SUBSCRIBE while the store is stalled (its thread stopped) sees its sends block after a
        few MiB (mop's one read and the sockets' buffers). Without the bound mop reads on and
        keeps everything, and the sends never block. The broker's loop stays free meanwhile
        (another client's PINGREQ is answered), the SUBACK comes once the store runs again, and
        the flood is then taken in."""
        with harness.Broker() as broker:
            c = Conn(broker.port)
            self.assertEqual(c.connect("held-flood", clean=False).body[1], 0)
            # The client's record is written; the storage thread now waits for work.
            other = Conn(broker.port)
            self.assertEqual(other.connect("held-other").body[1], 0)
            flood = rawmqtt.publish("hostile/held/flood", b"x" * 1000) * 64
            with StalledThread(broker.proc.pid, "mop-store"):
                c.send(rawmqtt.subscribe(1, [("hostile/held/sub", 1)]))
                blocked = c.flood_until_blocked(flood, 128 << 20)
                print("\n  a flood behind a held SUBSCRIBE: %d bytes taken before its sends blocked (%s)"
                      % (c.sent, "blocked" if blocked else "never blocked"), file=sys.stderr, flush=True)
                self.assertTrue(blocked, "mop kept reading behind a held SUBSCRIBE (%d bytes)" % c.sent)
                self.assertLess(c.sent, 32 << 20)
                # Only that connection is held: the broker still serves the others.
                other.send(rawmqtt.pingreq())
                other.expect(rawmqtt.PINGRESP, timeout=ANSWER_TIMEOUT)
            # The store runs again: the SUBACK comes first, then the flood is read and taken in.
            suback = c.expect(rawmqtt.SUBACK, timeout=ANSWER_TIMEOUT)
            self.assertEqual((suback.packet_id, suback.return_codes), (1, [1]))
            c.close(rst=True)
            other.send(rawmqtt.pingreq())
            other.expect(rawmqtt.PINGRESP, timeout=ANSWER_TIMEOUT)
            other.close()


class HeldPulsarRequests(unittest.TestCase):
    def test_a_flood_of_requests_waiting_for_the_store_is_held_back_by_tcp(self):
        """Pulsar requests are pipelined: each frame is handled at once and its answer waits for
        the store (a schema, a partition count, a SEND). While the store is stalled (its thread
        stopped) nothing answers them, so neither the write-buffer water marks nor anything else
        bounds what a client can queue: a flood of GET_OR_CREATE_SCHEMA keeps adding waiting
        requests. mop stops reading a connection once 1000 of its requests wait (as Pulsar's
        maxPendingPublishRequestsPerConnection), so TCP holds the client back after a few MiB.
        The broker's loop stays free (another connection's PING is answered), and the answers
        come once the store runs again."""
        with harness.Broker() as broker:
            self.assertIsNotNone(broker.pulsar_port, "mop started without its Pulsar listener")
            c = Conn(broker.pulsar_port)
            c.send(p_connect())
            self.assertEqual(c.pulsar_command(), P_CONNECTED)
            other = Conn(broker.pulsar_port)
            other.send(p_connect())
            self.assertEqual(other.pulsar_command(), P_CONNECTED)
            flood = b"".join(p_get_or_create_schema("persistent://public/default/hostile-held-%d" % i, i + 1,
                                                    b'{"type":"string"}') for i in range(64))
            with StalledThread(broker.proc.pid, "mop-store"):
                blocked = c.flood_until_blocked(flood, 128 << 20)
                print("\n  a flood of Pulsar requests waiting for the store: %d bytes taken before its sends "
                      "blocked (%s)" % (c.sent, "blocked" if blocked else "never blocked"), file=sys.stderr, flush=True)
                self.assertTrue(blocked, "mop kept reading requests that wait for the store (%d bytes)" % c.sent)
                self.assertLess(c.sent, 32 << 20)
                other.send(p_ping())
                self.assertEqual(other.pulsar_command(), P_PONG)
            # The store runs again: the schema is stored and the waiting requests are answered.
            self.assertEqual(c.pulsar_command(), P_GET_OR_CREATE_SCHEMA_RESPONSE)
            c.close(rst=True)
            other.send(p_ping())
            self.assertEqual(other.pulsar_command(), P_PONG)
            other.close()


if __name__ == "__main__":
    unittest.main()
