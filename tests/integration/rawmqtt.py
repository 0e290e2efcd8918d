"""Byte-level MQTT 3.1 / 3.1.1 helpers for black-box broker tests.

Small encoders for the packets the tests send by hand, a packet reader, and a
RawClient wrapping a TCP socket. Written for the tests (no client library is
involved) so a test controls every byte and exactly when the connection drops.
"""

import socket
import struct
import time

# Packet types (upper nibble of the fixed header).
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
         7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
         12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT"}


def encode_varint(n):
    """MQTT 'remaining length' encoding (1..4 bytes)."""
    if n < 0 or n > 268435455:
        raise ValueError("remaining length out of range: %d" % n)
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def encode_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("!H", len(b)) + b


def packet(ptype, flags, body):
    return bytes([(ptype << 4) | (flags & 0x0F)]) + encode_varint(len(body)) + body


def connect(client_id, clean=True, keepalive=60, will=None, username=None, password=None,
            proto_name="MQTT", proto_level=4, reserved_flag=False):
    """will = (topic, payload, qos, retain) or None."""
    flags = 0
    if clean:
        flags |= 0x02
    if will is not None:
        wtopic, wpayload, wqos, wretain = will
        flags |= 0x04 | ((wqos & 3) << 3) | (0x20 if wretain else 0)
    if password is not None:
        flags |= 0x40
    if username is not None:
        flags |= 0x80
    if reserved_flag:
        flags |= 0x01
    body = encode_str(proto_name) + bytes([proto_level, flags]) + struct.pack("!H", keepalive)
    body += encode_str(client_id)
    if will is not None:
        body += encode_str(wtopic)
        wp = wpayload.encode() if isinstance(wpayload, str) else bytes(wpayload)
        body += struct.pack("!H", len(wp)) + wp
    if username is not None:
        body += encode_str(username)
    if password is not None:
        pw = password.encode() if isinstance(password, str) else bytes(password)
        body += struct.pack("!H", len(pw)) + pw
    return packet(CONNECT, 0, body)


def publish(topic, payload, qos=0, packet_id=None, retain=False, dup=False):
    flags = (0x08 if dup else 0) | ((qos & 3) << 1) | (0x01 if retain else 0)
    body = encode_str(topic)
    if qos > 0:
        body += struct.pack("!H", packet_id)
    body += payload.encode() if isinstance(payload, str) else bytes(payload)
    return packet(PUBLISH, flags, body)


def _ack(ptype, flags, packet_id):
    return packet(ptype, flags, struct.pack("!H", packet_id))


def puback(pid):
    return _ack(PUBACK, 0, pid)


def pubrec(pid):
    return _ack(PUBREC, 0, pid)


def pubrel(pid):
    return _ack(PUBREL, 2, pid)


def pubcomp(pid):
    return _ack(PUBCOMP, 0, pid)


def subscribe(packet_id, filters, flags=0x02):
    """filters: list of (topic_filter, qos)."""
    body = struct.pack("!H", packet_id)
    for f, q in filters:
        body += encode_str(f) + bytes([q])
    return packet(SUBSCRIBE, flags, body)


def unsubscribe(packet_id, filters):
    body = struct.pack("!H", packet_id)
    for f in filters:
        body += encode_str(f)
    return packet(UNSUBSCRIBE, 0x02, body)


def pingreq():
    return b"\xc0\x00"


def disconnect():
    return b"\xe0\x00"


class Packet:
    """A decoded packet: type, flags, body, plus parsed fields for the common types."""

    def __init__(self, ptype, flags, body):
        self.type = ptype
        self.flags = flags
        self.body = body
        self.packet_id = None
        if ptype == PUBLISH:
            self.dup = bool(flags & 0x08)
            self.qos = (flags >> 1) & 3
            self.retain = bool(flags & 1)
            (tlen,) = struct.unpack("!H", body[:2])
            self.topic = body[2:2 + tlen].decode("utf-8")
            pos = 2 + tlen
            if self.qos > 0:
                (self.packet_id,) = struct.unpack("!H", body[pos:pos + 2])
                pos += 2
            self.payload = body[pos:]
        elif ptype == CONNACK:
            self.session_present = bool(body[0] & 1)
            self.return_code = body[1]
        elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK):
            (self.packet_id,) = struct.unpack("!H", body[:2])
        elif ptype == SUBACK:
            (self.packet_id,) = struct.unpack("!H", body[:2])
            self.return_codes = list(body[2:])

    @property
    def name(self):
        return NAMES.get(self.type, "type%d" % self.type)

    def __repr__(self):
        extra = ""
        if self.type == PUBLISH:
            extra = " topic=%r qos=%d dup=%d retain=%d id=%s payload=%r" % (
                self.topic, self.qos, self.dup, self.retain, self.packet_id, self.payload[:40])
        elif self.type == CONNACK:
            extra = " sp=%d rc=%d" % (self.session_present, self.return_code)
        elif self.type == SUBACK:
            extra = " id=%d rcs=%s" % (self.packet_id, self.return_codes)
        elif self.packet_id is not None:
            extra = " id=%d" % self.packet_id
        return "<%s flags=%#x%s>" % (self.name, self.flags, extra)


class Closed(Exception):
    """The peer closed the connection (EOF or reset)."""


class RawClient:
    """A TCP connection speaking MQTT bytes. Reads block with a deadline."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("timed out waiting for data")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError) as e:
                raise Closed(str(e))
            if not chunk:
                raise Closed("EOF")
            self.buf += chunk

    def read_packet(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        self._fill(2, deadline)
        mult, length, i = 1, 0, 1
        while True:
            self._fill(i + 1, deadline)
            b = self.buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
            if i > 4:
                raise ValueError("malformed remaining length from broker")
        self._fill(i + length, deadline)
        first = self.buf[0]
        body = self.buf[i:i + length]
        self.buf = self.buf[i + length:]
        return Packet(first >> 4, first & 0x0F, body)

    def expect(self, ptype, timeout=5.0):
        p = self.read_packet(timeout)
        if p.type != ptype:
            raise AssertionError("expected %s, got %r" % (NAMES[ptype], p))
        return p

    def connect(self, client_id, **kw):
        """Send CONNECT and return the CONNACK packet."""
        self.send(connect(client_id, **kw))
        return self.expect(CONNACK)

    def subscribe(self, packet_id, filters):
        self.send(subscribe(packet_id, filters))
        p = self.expect(SUBACK)
        assert p.packet_id == packet_id, p
        return p.return_codes

    def wait_closed(self, timeout=5.0):
        """Return True when the broker closes the connection within timeout, discarding any
        packets it sends first; False on timeout."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self.read_packet(max(0.0, deadline - time.monotonic()))
        except Closed:
            return True
        except socket.timeout:
            return False
        except OSError:
            return True

    def is_open_for(self, seconds):
        """True if the broker keeps the connection open (sends nothing that closes it) for
        `seconds`."""
        return not self.wait_closed(seconds)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Drop the connection abruptly (RST, no DISCONNECT)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()
