#!/usr/bin/env python3
"""Writes the seed corpora of the program-driven targets (fuzz/README.md): corpus/mqtt_server
(mqtt_server_fuzz), corpus/pulsar_connections (pulsar_connections_fuzz),
corpus/pulsar_client (pulsar_client_fuzz), corpus/http_server (http_server_fuzz) and
corpus/frame_reader (frame_reader_fuzz).

Each seed is a program in the target's input format: a configuration byte, then ops, each an op
byte and its operands (see the `step` functions of the targets). Run from anywhere; it rewrites
the files it owns and leaves others in those folders alone.
"""
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))


# --- MQTT ------------------------------------------------------------------------------------

def mqtt_str(s: bytes) -> bytes:
    return len(s).to_bytes(2, "big") + s


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_311(client_id: bytes, clean=True, will=None, keep_alive=60) -> bytes:
    """A valid MQTT 3.1.1 CONNECT, encoded by hand (independent of the project's encoder)."""
    flags = 0x02 if clean else 0
    payload = mqtt_str(client_id)
    if will:
        topic, message, qos = will
        flags |= 0x04 | (qos << 3)
        payload += mqtt_str(topic) + mqtt_str(message)
    body = mqtt_str(b"MQTT") + bytes([4, flags]) + keep_alive.to_bytes(2, "big") + payload
    return bytes([0x10]) + remaining_length(len(body)) + body


class MqttProgram:
    # op numbers of mqtt_server_fuzz (op % 16)
    RAW, PACKETS, OPEN, CLOSED, DROP, REAP, TIME, TICK, TASKS, FAIL, CONGEST, RESTART = 0, 2, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    # client ids, topics and filters are indexes into the target's alphabets
    def __init__(self, config=0):
        self.b = bytearray([config])

    def raw(self, conn, data: bytes):
        assert len(data) < 256
        self.b += bytes([self.RAW, len(data), conn]) + data
        return self

    def packets(self, conn, *encoded, split=None, run_after=False):
        f = (len(encoded) - 1) | (4 if split is not None else 0) | (16 if run_after else 0)
        self.b += bytes([self.PACKETS, conn, f])
        for p in encoded:
            self.b += p
        if split is not None:
            self.b.append(split)
        return self

    def op(self, *bs):
        self.b += bytes(bs)
        return self

    def run_all(self):
        return self.op(self.TASKS, 0x80)


# Encoded-packet operands (see encoded_packet in mqtt_server_fuzz.cpp).
def p_connect(flags, client_idx, *extra):  # flags: bits 0-1 version (0 3.1.1, 1 v5), 2 clean, 3-4 keep alive, 5 will
    return bytes([0, flags, client_idx, *extra])


def p_publish(qos, topic_idx, packet_id=0, payload_idx=1, retain=False):
    f = qos | (4 if retain else 0)
    return bytes([1, f, topic_idx] + ([packet_id] if qos else []) + [payload_idx])


def p_subscribe(packet_id, *entries):  # entries: (filter_idx, qos)
    out = bytes([3, packet_id, len(entries) - 1])
    for filt, qos in entries:
        out += bytes([filt, qos])
    return out


def p_simple(kind, packet_id):  # 5 PUBACK, 6 PUBREC, 7 PUBREL, 8 PUBCOMP
    return bytes([kind, packet_id])


P_PINGREQ = bytes([9])
P_DISCONNECT = bytes([10])


def mqtt_seeds():
    seeds = {}
    rng = random.Random(11)
    # Issue 11: a valid 3.1.1 CONNECT and, in the same read, a packet that fails the connection.
    tails = {
        "reserved_type_0": b"\x00\x00",
        "second_connect_same_id": connect_311(b"one"),
        "second_connect_other_id": connect_311(b"two"),
        "random_bytes": bytes(rng.randrange(256) for _ in range(40)),
        "long_remaining_length": b"\xff\xff\xff\xff\xff",
    }
    for name, tail in tails.items():
        for clean in (True, False):
            will = None if clean else (b"w/one", b"gone", 1)
            prog = MqttProgram().op(MqttProgram.OPEN).raw(0, connect_311(b"one", clean, will) + tail).run_all()
            # the broker must still serve: a subscriber and a publisher on another connection
            prog.op(MqttProgram.OPEN).packets(1, p_connect(0x04, 1), p_subscribe(1, (2, 1)), run_after=True)
            prog.op(MqttProgram.OPEN).packets(2, p_connect(0x04, 2), p_publish(1, 1, 1), run_after=True)
            seeds[f"issue11_{name}_{'clean' if clean else 'persistent'}"] = prog.b
    # The same with the store completions still pending when the failing packet arrives.
    prog = MqttProgram().op(MqttProgram.OPEN).raw(0, connect_311(b"one", False, (b"w", b"x", 1)) + b"\x00\x00")
    prog.op(MqttProgram.TASKS, 1).op(MqttProgram.CLOSED, 0).run_all()
    seeds["issue11_reserved_type_0_pending_store"] = prog.b

    # Ordinary sessions.
    prog = MqttProgram()
    prog.op(MqttProgram.OPEN).packets(0, p_connect(0x04, 0), p_subscribe(1, (2, 2), (1, 1)), run_after=True)
    prog.op(MqttProgram.OPEN).packets(1, p_connect(0x04, 1), p_publish(1, 1, 1), p_publish(2, 1, 2), run_after=True)
    prog.packets(1, p_simple(7, 2), run_after=True)
    prog.op(MqttProgram.CONGEST, 0, 0)
    prog.packets(0, p_simple(5, 1), p_simple(6, 2), run_after=True)
    prog.packets(0, p_simple(8, 2), P_PINGREQ, P_DISCONNECT, run_after=True)
    prog.op(MqttProgram.REAP)
    seeds["session_qos012"] = prog.b

    prog = MqttProgram()  # a persistent session across a restart, a takeover, a will
    prog.op(MqttProgram.OPEN).packets(0, p_connect(0x00, 0), p_subscribe(1, (0, 1)), run_after=True)
    prog.op(MqttProgram.OPEN).packets(1, p_connect(0x20 | 0x04, 1, 0, 1, 1), run_after=True)
    prog.packets(1, p_publish(1, 0, 3), run_after=True)
    prog.op(MqttProgram.OPEN).packets(2, p_connect(0x00, 0), run_after=True)  # takes over "a"
    prog.op(MqttProgram.CLOSED, 1).run_all()  # the will goes
    prog.op(MqttProgram.RESTART, 0)
    prog.op(MqttProgram.OPEN).packets(0, p_connect(0x00, 0), run_after=True)
    prog.op(MqttProgram.CONGEST, 0, 0)
    seeds["persistent_session_restart"] = prog.b

    prog = MqttProgram(0x03)  # MQTT 5, session expiry, keep-alive, TTL and a small backlog quota
    prog.op(MqttProgram.OPEN).packets(0, p_connect(0x01 | 0x08, 0, 0x03), run_after=True)
    prog.packets(0, p_subscribe(1, (1, 1)), run_after=True)
    prog.op(MqttProgram.OPEN).packets(1, p_connect(0x01 | 0x04, 1, 0x00), run_after=True)
    for i in range(4):
        prog.packets(1, p_publish(1, 1, 1 + i, 3))
        prog.op(MqttProgram.TASKS, 2)
    prog.op(MqttProgram.FAIL, 0x0a).packets(1, p_publish(2, 1, 2, 1), run_after=True)
    prog.op(MqttProgram.TIME, 0x85).op(MqttProgram.TIME, 0xff).op(MqttProgram.TICK)
    prog.op(MqttProgram.DROP, 0).op(MqttProgram.TIME, 0x8c).run_all()
    seeds["v5_expiry_ttl_store_failure"] = prog.b
    return seeds


# --- Pulsar ----------------------------------------------------------------------------------

class PulsarProgram:
    # op numbers of pulsar_connections_fuzz (op % 14)
    RAW, COMMANDS, CUT, OPEN, CLOSED, DROP, TIME, TASKS, FAIL, DRAIN, RESTART = 0, 1, 5, 6, 7, 8, 9, 10, 11, 12, 13

    def __init__(self, config=0):
        self.b = bytearray([config])

    def commands(self, conn, *cmds, run_after=True, drain=True):
        self.b += bytes([self.COMMANDS, conn, (len(cmds) - 1) | (4 if run_after else 0) | (8 if drain else 0)])
        for c in cmds:
            self.b += c
        return self

    def op(self, *bs):
        self.b += bytes(bs)
        return self


# Command operands (see command() in pulsar_connections_fuzz.cpp).
def c_producer(topic_idx, producer_id, named=True, mode=0):
    return bytes([1, topic_idx, producer_id, (4 if named else 0) | 8 | mode])


def c_send(producer_id, seq, batch=False, name1=True):
    return bytes([2, producer_id | (8 if name1 else 0) | (64 if batch else 0), seq])


def c_subscribe(topic_idx, sub_idx, consumer_id, subtype=1, earliest=True):
    return bytes([5, topic_idx, sub_idx, subtype | (4 if earliest else 0), consumer_id])


def c_flow(consumer_id, permits):
    return bytes([7, consumer_id, permits])


def c_ack_seen(consumer_id, which, cumulative=False):
    return bytes([9, consumer_id, (1 if cumulative else 0) | 4, 1, which])


C_REDELIVER_ALL = bytes([11, 0, 0])


def pulsar_seeds():
    seeds = {}
    prog = PulsarProgram()  # producer and consumers of two connections on one topic
    prog.op(PulsarProgram.OPEN).op(PulsarProgram.OPEN)
    prog.commands(0, c_producer(0, 0), c_send(0, 1), c_send(0, 2, batch=True))
    prog.commands(1, c_subscribe(0, 0, 1), c_flow(1, 5))
    prog.commands(0, c_subscribe(0, 0, 2), c_flow(2, 5))  # a second consumer of the Shared sub
    prog.commands(0, c_send(0, 3), c_send(0, 4))
    prog.op(PulsarProgram.DRAIN)
    prog.commands(1, c_ack_seen(1, 0), c_ack_seen(1, 1, cumulative=True), C_REDELIVER_ALL)
    prog.op(PulsarProgram.CLOSED, 1).op(PulsarProgram.TASKS, 0x80).op(PulsarProgram.DRAIN)
    seeds["shared_topic_two_connections"] = prog.b

    prog = PulsarProgram()  # closes in the middle of a SEND and of a SUBSCRIBE
    prog.op(PulsarProgram.OPEN).op(PulsarProgram.OPEN)
    prog.commands(0, c_producer(0, 0))
    prog.op(PulsarProgram.CUT, 0).b += c_send(0, 1) + bytes([20 | 0x80])  # cut, then on_closed
    prog.op(PulsarProgram.CUT, 1).b += c_subscribe(0, 1, 0) + bytes([7 | 0x80 | 0x20])  # cut, then dropped
    prog.op(PulsarProgram.OPEN).commands(1, c_subscribe(0, 1, 0), c_flow(0, 3))
    prog.op(PulsarProgram.TASKS, 0x80).op(PulsarProgram.DRAIN)
    seeds["close_in_send_and_subscribe"] = prog.b

    prog = PulsarProgram(0x02)  # store completions late, a failed write, exclusive producers
    prog.op(PulsarProgram.OPEN).op(PulsarProgram.OPEN)
    prog.commands(0, c_producer(2, 0, mode=1), run_after=False)
    prog.commands(1, c_producer(2, 1, mode=2), run_after=False)
    prog.op(PulsarProgram.FAIL, 1).commands(0, c_send(0, 1), c_send(0, 2), run_after=False)
    prog.op(PulsarProgram.DROP, 0).op(PulsarProgram.TASKS, 3).op(PulsarProgram.TASKS, 0x80)
    prog.commands(0, c_subscribe(2, 0, 0, subtype=0), c_flow(0, 2))
    prog.op(PulsarProgram.TIME, 0xa0).op(PulsarProgram.RESTART, 0)
    prog.op(PulsarProgram.OPEN).commands(0, c_subscribe(2, 0, 0, subtype=0), c_flow(0, 2))
    seeds["exclusive_store_failure_restart"] = prog.b
    return seeds


# --- Pulsar client (pulsar_client_fuzz) ------------------------------------------------------
# Step bytes: 0 library op, 3 broker op, 7 clock, 9 run everything (see World::step).

class ClientProgram:
    """A pulsar_client_fuzz program; the operand bytes follow the reads of the target."""

    def __init__(self, conf=0):
        self.b = bytearray([conf])

    def run(self):
        self.b += bytes([9])
        return self

    def tick(self, units):
        self.b += bytes([7, units])  # 50 ms * (1 + units)
        return self.run()

    def connect(self, link=0):
        self.b += bytes([3, link, 0])
        return self.run()

    def frame(self, link, kind, *fields):
        self.b += bytes([3, link, 0, kind]) + bytes(fields) + bytes([1])  # 1: not cut in two
        return self.run()

    def producer(self, topic=0, batching=False):
        # topic, access mode, send window, max pending, batching?, (size), compression, partitions
        self.b += bytes([0, 0, topic, 0, 3, 7]) + (bytes([1, 2]) if batching else bytes([0])) + bytes([1, 0])
        return self.run()

    def consumer(self, topic=0, kind=2, sub_type=1):
        # which (2: one topic), topic, type, queue, receipts, partitions, then nothing more
        self.b += bytes([0, 1, kind, topic, sub_type, 4, 0, 0])
        return self.run()

    def send(self, payload=b"abc"):
        self.b += bytes([0, 5, 0, len(payload)]) + payload + bytes([0, 1])
        return self.run()

    def ack(self, how=0):
        self.b += bytes([0, 8, 0, 0, how])
        return self.run()


def client_seeds():
    seeds = {}
    # CONNECTED (kind 0), partitions (2), lookup Connect (1), PRODUCER_SUCCESS (3), a send and
    # its SEND_RECEIPT (6).
    prog = ClientProgram().producer(batching=True).connect()
    prog.frame(0, 0, 20, 0, 0)
    prog.frame(0, 2, 0, 0, 1)
    prog.frame(0, 1, 1, 1, 1, 0, 0, 0, 1)
    prog.frame(0, 3, 2, 0, 1, 1, 0)
    prog.send().tick(1).send(b"second").tick(1)
    prog.frame(0, 6, 0, 0, 1, 1, 0, 5)
    prog.frame(0, 8, 0)  # CLOSE_PRODUCER: it reconnects and resends
    prog.tick(10)
    seeds["producer_send_receipt_close"] = prog.b
    # A consumer: subscribed, a batch MESSAGE (kind 10, shape 1), acks, CLOSE_CONSUMER (9).
    prog = ClientProgram(16).consumer().connect()
    prog.frame(0, 0, 20, 0, 0)
    prog.frame(0, 2, 0, 0, 1)
    prog.frame(0, 1, 1, 1, 1, 0, 0, 0, 1)
    prog.frame(0, 4, 2)
    prog.frame(0, 10, 0, 1, 2, 1, 1, 0, 1, 1, 3, 1, 0, 1, 2, 1, 0, 1, 3, 1, 0, 2, 1, 5)
    prog.ack(0).ack(1).ack(2)
    prog.frame(0, 9, 0)
    prog.tick(10)
    seeds["consumer_batch_acks_close"] = prog.b
    # A lookup redirected (kind 1, response 0) to a second broker, then that link refused.
    prog = ClientProgram(1)
    prog.b += bytes([0, 3, 1, 0])  # lookup of "t"
    prog.run().connect()
    prog.frame(0, 0, 20, 0, 0)
    prog.frame(0, 1, 0, 0, 1, 1, 0, 1, 1)
    prog.b += bytes([3, 1, 7])  # the new link refused
    prog.run().tick(30)
    seeds["lookup_redirect_refused"] = prog.b
    return seeds


# --- HTTP ------------------------------------------------------------------------------------
# http_server_fuzz has no configuration byte: ops start at once (see its `step`).

class HttpProgram:
    OPEN, RAW, REQUESTS, BIG_HEADER, CLOSE, RUN_ONE, RUN_ALL, TIME, FAIL, SHUTDOWN = 0, 1, 2, 5, 6, 7, 8, 9, 10, 11

    def __init__(self):
        self.b = bytearray()

    def op(self, *bs):
        self.b += bytes(bs)
        return self

    def raw(self, conn, data: bytes):
        """Real request bytes, written by hand, in chunks of at most 255 bytes."""
        for i in range(0, len(data), 255):
            part = data[i:i + 255]
            self.op(self.RAW, conn, len(part))
            self.b += part
        return self


def http_req(method, target, body=b"", headers=(), chunked=False, close=False):
    out = b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % (method, target)
    for h in headers:
        out += h + b"\r\n"
    if close:
        out += b"Connection: close\r\n"
    if chunked:
        out += b"Transfer-Encoding: chunked\r\n\r\n"
        for i in range(0, len(body), 7):
            part = body[i:i + 7]
            out += b"%x\r\n%s\r\n" % (len(part), part)
        return out + b"0\r\n\r\n"
    if body or method in (b"PUT", b"POST"):
        out += b"Content-Length: %d\r\nContent-Type: application/json\r\n" % len(body)
    return out + b"\r\n" + body


def http_seeds():
    seeds = {}
    ns = b"/admin/v2/namespaces/t1/n1"
    topic = b"/admin/v2/persistent/t1/n1/orders"
    routes = [
        (b"GET", b"/"), (b"GET", b"/dashboard/dashboard.js"), (b"GET", b"/dashboard/nope"), (b"GET", b"/metrics"),
        (b"GET", b"/status.html"), (b"GET", b"/admin/v2/brokers/ready"), (b"GET", b"/admin/v2/tenants"),
        (b"GET", b"/admin/v2/tenants/t1"), (b"GET", b"/admin/v2/namespaces/public"),
        (b"GET", b"/admin/v2/persistent/public/default"), (b"GET", b"/admin/v2/non-persistent/public/default"),
        (b"GET", b"/admin/v2/persistent/public/default/partitioned"), (b"GET", b"/mop/stats"),
        (b"GET", b"/mop/clients"), (b"DELETE", b"/mop/clients/c1"), (b"GET", ns + b"/retention"),
        (b"GET", ns + b"/messageTTL"), (b"GET", ns + b"/backlogQuotaMap"), (b"GET", ns + b"/deduplication"),
        (b"GET", ns + b"/permissions"), (b"GET", topic + b"/stats"), (b"GET", topic + b"/partitions"),
        (b"GET", topic + b"/partitioned-stats?perPartition=false"), (b"GET", topic + b"/internalStats"),
        (b"GET", topic + b"/subscriptions"), (b"GET", topic + b"/permissions"),
        (b"GET", b"/admin/v2/persistent/a%252Fb/n1/t%2Fx/stats"), (b"PATCH", b"/metrics"),
    ]
    # Every read route, one connection, keep-alive, one request after another.
    prog = HttpProgram().op(HttpProgram.OPEN)
    for method, target in routes:
        prog.raw(0, http_req(method, target))
    seeds["reads_keep_alive"] = prog.b
    # The writes, in an order that makes each succeed, with the store's completions run between.
    writes = [
        (b"PUT", b"/admin/v2/tenants/t1", b'{"adminRoles":[],"allowedClusters":["standalone"]}'),
        (b"PUT", ns, b""), (b"POST", ns + b"/retention", b'{"retentionTimeInMinutes":10,"retentionSizeInMB":5}'),
        (b"POST", ns + b"/messageTTL", b"60"), (b"POST", ns + b"/deduplication", b"true"),
        (b"POST", ns + b"/backlogQuota", b'{"limitSize":1000,"limitTime":-1,"policy":"producer_exception"}'),
        (b"POST", ns + b"/permissions/r1", b'["produce","consume"]'), (b"PUT", topic, b""),
        (b"PUT", b"/admin/v2/persistent/t1/n1/parts/partitions", b"2"),
        (b"POST", b"/admin/v2/persistent/t1/n1/parts/partitions", b"3"),
        (b"PUT", topic + b"/subscription/s1", b'{"ledgerId":0,"entryId":0}'),
        (b"POST", topic + b"/subscription/s1/skip/1", b""), (b"POST", topic + b"/subscription/s1/skip_all", b""),
        (b"POST", topic + b"/subscription/s1/expireMessages/10", b""),
        (b"POST", topic + b"/subscription/s1/resetcursor/0", b""),
        (b"POST", topic + b"/subscription/s1/resetcursor", b'{"ledgerId":0,"entryId":0}'),
        (b"PUT", topic + b"/unload", b""), (b"DELETE", topic + b"/subscription/s1", b""),
        (b"POST", topic + b"/permissions/r2", b'["consume"]'), (b"DELETE", topic + b"/permissions/r2", b""),
        (b"DELETE", ns + b"/permissions/r1", b""), (b"DELETE", ns + b"/retention", b""),
        (b"DELETE", ns + b"/messageTTL", b""), (b"DELETE", ns + b"/backlogQuota", b""),
        (b"DELETE", ns + b"/deduplication", b""), (b"DELETE", ns, b""), (b"DELETE", b"/admin/v2/tenants/t1", b""),
    ]
    prog = HttpProgram().op(HttpProgram.OPEN)
    for method, target, body in writes:
        prog.raw(0, http_req(method, target, body)).op(HttpProgram.RUN_ALL)
    seeds["writes_in_order"] = prog.b
    # The same writes with chunked bodies, the store failing some of them.
    prog = HttpProgram().op(HttpProgram.OPEN).op(HttpProgram.FAIL, 2, 0)
    for method, target, body in writes[:9]:
        prog.raw(0, http_req(method, target, body, chunked=True)).op(HttpProgram.RUN_ONE).op(HttpProgram.RUN_ALL)
    seeds["writes_chunked_store_failing"] = prog.b
    # Pipelined: three requests in one write, the last with Connection: close.
    prog = HttpProgram().op(HttpProgram.OPEN)
    prog.raw(0, http_req(b"GET", b"/status.html") + http_req(b"PUT", b"/admin/v2/tenants/t2", b"{}") +
             http_req(b"GET", b"/admin/v2/tenants", close=True)).op(HttpProgram.RUN_ALL)
    seeds["pipelined_then_close"] = prog.b
    # The health check: publish, run the deliveries, answer; two connections at once.
    prog = HttpProgram().op(HttpProgram.OPEN).op(HttpProgram.OPEN)
    prog.raw(0, http_req(b"GET", b"/admin/v2/brokers/health")).raw(1, http_req(b"GET", b"/admin/v2/brokers/health"))
    prog.op(HttpProgram.RUN_ONE).op(HttpProgram.RUN_ALL).op(HttpProgram.TIME, 5)
    seeds["health_two_connections"] = prog.b
    # Bad requests: a bad version, a bad header, a body over the limit, a header over the limit,
    # a half-closed connection mid-request, an unfinished chunked body.
    prog = HttpProgram().op(HttpProgram.OPEN).op(HttpProgram.OPEN).op(HttpProgram.OPEN).op(HttpProgram.OPEN)
    prog.raw(0, b"GET / HTTP/9.9\r\n\r\n").raw(1, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
    prog.raw(2, b"PUT /admin/v2/tenants/t3 HTTP/1.1\r\nContent-Length: 100000\r\n\r\n{")
    prog.op(HttpProgram.BIG_HEADER, 3)
    prog.op(HttpProgram.OPEN).raw(4, b"POST /admin/v2/namespaces/t1/n1/messageTTL HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12")
    prog.op(HttpProgram.CLOSE, 4, 1)
    seeds["bad_requests"] = prog.b
    # %-encoding in every position, HTTP/1.0, absolute and odd targets.
    prog = HttpProgram().op(HttpProgram.OPEN)
    for target in [b"/admin/v2/tenants/%74%31", b"/admin/v2/namespaces/%2e%2e", b"/admin/v2/persistent/t/n/%ZZ/stats",
                   b"/admin/v2/persistent/t/n/a%00b/stats", b"http://h/metrics", b"*", b"//admin//v2//tenants"]:
        prog.raw(0, http_req(b"GET", target))
    prog.raw(0, b"GET /status.html HTTP/1.0\r\n\r\n")
    seeds["percent_encoding_and_odd_targets"] = prog.b
    # The well-formed request op: one to three requests built from the alphabets, cut in two.
    prog = HttpProgram().op(HttpProgram.OPEN)
    prog.op(HttpProgram.REQUESTS, 0, 2 | 4, 1, 4, 1, 0, 2, 1, 0, 0, 1, 0, 0, 0, 8 | 64, 3, 4, 1, 0, 1, 1, 1, 8, 0, 30)
    prog.op(HttpProgram.RUN_ALL).op(HttpProgram.SHUTDOWN, 0xFF)
    seeds["generated_requests_then_shutdown"] = prog.b
    return seeds


def frame_reader_seeds():
    """frame_reader_fuzz: frames (first byte, two bytes of size, size class, fill seed), whether a
    malformed length follows, then reads (kind, size bytes) each followed by how many frames are
    taken (0 none: paused, 1 one, 2 all, 3 all and the buffer released)."""
    def frame(first, size, cls, seed):
        return [first, size & 0xFF, size >> 8, cls, seed]
    small_large_small = [2] + frame(0x30, 10, 0, 1) + frame(0x32, 10000, 2, 2) + frame(0x40, 2, 0, 3)
    return {
        "large_in_reads": small_large_small + [1] + [1, 99, 0, 2] + [2, 0xFF, 0x0F, 2] + [0, 7, 1] + [3, 3],
        "paused_between_reads": small_large_small + [1] + [1, 0xFF, 0x0F, 0] + [2, 0x10, 0x27, 0] + [3, 2],
        "at_own_buffer_bound": [1] + frame(0x30, 60, 1, 4) + frame(0x34, 70, 1, 5) + [1] + [0, 15, 1] * 4 + [3, 2],
        "over_the_limit": [0] + frame(0x30, 20, 3, 6) + [3, 2],
        "malformed_length": [0] + frame(0x30, 5, 0, 7) + [0] + [3, 2],
    }


def write(folder, seeds):
    path = os.path.join(HERE, "corpus", folder)
    os.makedirs(path, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(path, name), "wb") as f:
            f.write(bytes(data))


if __name__ == "__main__":
    write("mqtt_server", mqtt_seeds())
    write("pulsar_connections", pulsar_seeds())
    write("pulsar_client", client_seeds())
    write("http_server", http_seeds())
    write("frame_reader", frame_reader_seeds())
