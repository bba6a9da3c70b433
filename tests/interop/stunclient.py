"""A small STUN/TURN client for the interop tests and the benchmark.

Encodes and decodes RFC 8489 messages (MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256,
FINGERPRINT, XOR address attributes), runs transactions over UDP (with
retransmission) or TCP (with stream framing), and performs the long-term
credential dance of RFC 8489 section 9.2 (MD5 or SHA-256 keys) for TURN
requests (RFC 8656). It is written independently of the servers under test, so
that an encoding mistake in one is not mirrored in the other.

Deliberately not here: ICE, DTLS, USERHASH, retransmission of indications.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import select
import socket
import struct
import time
import zlib
from dataclasses import dataclass, field

MAGIC_COOKIE = 0x2112A442
FINGERPRINT_XOR = 0x5354554E

# Methods (RFC 8489 section 18.2, RFC 8656 section 17, RFC 6062 section 6.1).
BINDING = 0x001
ALLOCATE = 0x003
REFRESH = 0x004
SEND = 0x006
DATA = 0x007
CREATE_PERMISSION = 0x008
CHANNEL_BIND = 0x009
CONNECT = 0x00A
CONNECTION_BIND = 0x00B
CONNECTION_ATTEMPT = 0x00C

# Classes (RFC 8489 section 5).
REQUEST = 0
INDICATION = 1
SUCCESS = 2
ERROR = 3

# Attributes (RFC 8489 section 18.3, RFC 8656 section 18, RFC 6062, RFC 5780).
MAPPED_ADDRESS = 0x0001
CHANGE_REQUEST = 0x0003
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
UNKNOWN_ATTRIBUTES = 0x000A
CHANNEL_NUMBER = 0x000C
LIFETIME = 0x000D
XOR_PEER_ADDRESS = 0x0012
DATA_ATTR = 0x0013
REALM = 0x0014
NONCE = 0x0015
XOR_RELAYED_ADDRESS = 0x0016
REQUESTED_ADDRESS_FAMILY = 0x0017
EVEN_PORT = 0x0018
REQUESTED_TRANSPORT = 0x0019
DONT_FRAGMENT = 0x001A
MESSAGE_INTEGRITY_SHA256 = 0x001C
PASSWORD_ALGORITHM = 0x001D
XOR_MAPPED_ADDRESS = 0x0020
RESERVATION_TOKEN = 0x0022
CONNECTION_ID = 0x002A
ADDITIONAL_ADDRESS_FAMILY = 0x8000
PASSWORD_ALGORITHMS = 0x8002
SOFTWARE = 0x8022
FINGERPRINT = 0x8028
OTHER_ADDRESS = 0x802C

# REQUESTED-TRANSPORT protocol numbers (RFC 8656 section 18.7).
UDP = 17
TCP = 6

# Address families in address attributes (RFC 8489 section 14.1).
FAMILY_IPV4 = 0x01
FAMILY_IPV6 = 0x02

# PASSWORD-ALGORITHM values (RFC 8489 section 18.5).
ALG_MD5 = 0x0001
ALG_SHA256 = 0x0002


class StunError(Exception):
    """A malformed message or a failed transaction."""


def message_type(method: int, cls: int) -> int:
    """The 14-bit message type of a method and class (RFC 8489 section 5)."""
    return (
        ((method & 0x0F80) << 2)
        | ((method & 0x0070) << 1)
        | (method & 0x000F)
        | ((cls & 0b10) << 7)
        | ((cls & 0b01) << 4)
    )


def split_type(mtype: int) -> tuple[int, int]:
    """(method, class) of a message type."""
    method = (mtype & 0x000F) | ((mtype & 0x00E0) >> 1) | ((mtype & 0x3E00) >> 2)
    cls = ((mtype >> 7) & 0b10) | ((mtype >> 4) & 0b01)
    return method, cls


def pad4(n: int) -> int:
    """Bytes of padding after a value of length n."""
    return (4 - n % 4) % 4


def long_term_key(username: str, realm: str, password: str, algorithm: int = ALG_MD5) -> bytes:
    """The long-term credential key (RFC 8489 section 9.2.2)."""
    text = f"{username}:{realm}:{password}".encode()
    if algorithm == ALG_SHA256:
        return hashlib.sha256(text).digest()
    return hashlib.md5(text).digest()


def encode_xor_address(ip: str, port: int, txid: bytes) -> bytes:
    """The value of an XOR-*-ADDRESS attribute (RFC 8489 section 14.2)."""
    addr = ipaddress.ip_address(ip)
    xport = port ^ (MAGIC_COOKIE >> 16)
    if addr.version == 4:
        raw = int(addr) ^ MAGIC_COOKIE
        return struct.pack("!BBHI", 0, FAMILY_IPV4, xport, raw)
    mask = struct.pack("!I", MAGIC_COOKIE) + txid
    raw = bytes(a ^ b for a, b in zip(addr.packed, mask))
    return struct.pack("!BBH", 0, FAMILY_IPV6, xport) + raw


def decode_xor_address(value: bytes, txid: bytes) -> tuple[str, int]:
    """(ip, port) from an XOR-*-ADDRESS value."""
    if len(value) < 8:
        raise StunError("address attribute too short")
    _, family, xport = struct.unpack("!BBH", value[:4])
    port = xport ^ (MAGIC_COOKIE >> 16)
    if family == FAMILY_IPV4 and len(value) == 8:
        (raw,) = struct.unpack("!I", value[4:8])
        return str(ipaddress.IPv4Address(raw ^ MAGIC_COOKIE)), port
    if family == FAMILY_IPV6 and len(value) == 20:
        mask = struct.pack("!I", MAGIC_COOKIE) + txid
        raw = bytes(a ^ b for a, b in zip(value[4:20], mask))
        return str(ipaddress.IPv6Address(raw)), port
    raise StunError(f"bad address family {family} / length {len(value)}")


def decode_plain_address(value: bytes) -> tuple[str, int]:
    """(ip, port) from a MAPPED-ADDRESS-style value (RFC 8489 section 14.1)."""
    _, family, port = struct.unpack("!BBH", value[:4])
    if family == FAMILY_IPV4 and len(value) == 8:
        return str(ipaddress.IPv4Address(value[4:8])), port
    if family == FAMILY_IPV6 and len(value) == 20:
        return str(ipaddress.IPv6Address(value[4:20])), port
    raise StunError(f"bad address family {family} / length {len(value)}")


@dataclass
class Message:
    """A STUN message: method, class, transaction id and attributes in order."""

    method: int
    cls: int
    txid: bytes = field(default_factory=lambda: os.urandom(12))
    attrs: list[tuple[int, bytes]] = field(default_factory=list)

    def add(self, atype: int, value: bytes) -> "Message":
        self.attrs.append((atype, value))
        return self

    def add_xor_address(self, atype: int, ip: str, port: int) -> "Message":
        return self.add(atype, encode_xor_address(ip, port, self.txid))

    def get(self, atype: int) -> bytes | None:
        """The first value of an attribute, or None."""
        for t, v in self.attrs:
            if t == atype:
                return v
        return None

    def has(self, atype: int) -> bool:
        return self.get(atype) is not None

    def xor_address(self, atype: int) -> tuple[str, int] | None:
        value = self.get(atype)
        return None if value is None else decode_xor_address(value, self.txid)

    def xor_addresses(self, atype: int) -> list[tuple[str, int]]:
        return [decode_xor_address(v, self.txid) for t, v in self.attrs if t == atype]

    def error_code(self) -> int | None:
        """The ERROR-CODE number (RFC 8489 section 14.8), or None."""
        value = self.get(ERROR_CODE)
        if value is None or len(value) < 4:
            return None
        return (value[2] & 0x07) * 100 + value[3]

    def text(self, atype: int) -> str | None:
        value = self.get(atype)
        return None if value is None else value.decode("utf-8", "replace")

    def lifetime(self) -> int | None:
        value = self.get(LIFETIME)
        return None if value is None else struct.unpack("!I", value)[0]

    def describe(self) -> str:
        """A one-line summary for assertion messages."""
        names = {SUCCESS: "success", ERROR: "error", REQUEST: "request", INDICATION: "indication"}
        err = self.error_code()
        reason = ""
        if err is not None:
            reason = f" {err} {self.get(ERROR_CODE)[4:].decode('utf-8', 'replace')!r}"
        attrs = ",".join(f"0x{t:04x}" for t, _ in self.attrs)
        return f"method 0x{self.method:03x} {names.get(self.cls)}{reason} attrs[{attrs}]"

    def encode(self, key: bytes | None = None, sha256: bool = False, fingerprint: bool = True) -> bytes:
        """Serialise, appending MESSAGE-INTEGRITY(-SHA256) when a key is given,
        then FINGERPRINT (RFC 8489 sections 14.5, 14.6, 14.7)."""
        body = b"".join(
            struct.pack("!HH", t, len(v)) + v + bytes(pad4(len(v))) for t, v in self.attrs
        )
        mtype = message_type(self.method, self.cls)

        def header(length: int) -> bytes:
            return struct.pack("!HHI", mtype, length, MAGIC_COOKIE) + self.txid

        if key is not None:
            if sha256:
                mac_len, mac_type, digest = 32, MESSAGE_INTEGRITY_SHA256, hashlib.sha256
            else:
                mac_len, mac_type, digest = 20, MESSAGE_INTEGRITY, hashlib.sha1
            covered = header(len(body) + 4 + mac_len) + body
            mac = hmac.new(key, covered, digest).digest()
            body += struct.pack("!HH", mac_type, mac_len) + mac
        if fingerprint:
            crc = zlib.crc32(header(len(body) + 8) + body) ^ FINGERPRINT_XOR
            body += struct.pack("!HHI", FINGERPRINT, 4, crc & 0xFFFFFFFF)
        return header(len(body)) + body

    @classmethod
    def decode(cls, data: bytes) -> "Message":
        """Parse one whole message; raises StunError on anything malformed."""
        if len(data) < 20:
            raise StunError("shorter than a STUN header")
        mtype, length, cookie = struct.unpack("!HHI", data[:8])
        if mtype & 0xC000 or cookie != MAGIC_COOKIE:
            raise StunError("not a STUN message")
        if length % 4 or 20 + length != len(data):
            raise StunError(f"length {length} does not match {len(data)} bytes")
        method, klass = split_type(mtype)
        msg = cls(method, klass, data[8:20], [])
        pos = 20
        while pos < len(data):
            if pos + 4 > len(data):
                raise StunError("truncated attribute header")
            atype, alen = struct.unpack("!HH", data[pos : pos + 4])
            if pos + 4 + alen > len(data):
                raise StunError(f"attribute 0x{atype:04x} overruns the message")
            msg.attrs.append((atype, data[pos + 4 : pos + 4 + alen]))
            pos += 4 + alen + pad4(alen)
        return msg


def integrity_ok(raw: bytes, key: bytes) -> bool:
    """Check MESSAGE-INTEGRITY-SHA256 or MESSAGE-INTEGRITY of an encoded message."""
    pos = 20
    while pos + 4 <= len(raw):
        atype, alen = struct.unpack("!HH", raw[pos : pos + 4])
        if atype in (MESSAGE_INTEGRITY, MESSAGE_INTEGRITY_SHA256):
            digest = hashlib.sha256 if atype == MESSAGE_INTEGRITY_SHA256 else hashlib.sha1
            length = pos - 20 + 4 + alen
            covered = raw[:2] + struct.pack("!H", length) + raw[4:pos]
            mac = hmac.new(key, covered, digest).digest()
            return hmac.compare_digest(mac, raw[pos + 4 : pos + 4 + alen])
        pos += 4 + alen + pad4(alen)
    return False


def fingerprint_ok(raw: bytes) -> bool:
    """Whether the message ends with a correct FINGERPRINT."""
    if len(raw) < 28:
        return False
    atype, alen, value = struct.unpack("!HHI", raw[-8:])
    if atype != FINGERPRINT or alen != 4:
        return False
    return (zlib.crc32(raw[:-8]) ^ FINGERPRINT_XOR) & 0xFFFFFFFF == value


def channel_data(number: int, payload: bytes, stream: bool = False) -> bytes:
    """A ChannelData message (RFC 8656 section 12.4); padded on streams."""
    out = struct.pack("!HH", number, len(payload)) + payload
    return out + bytes(pad4(len(payload))) if stream else out


class Transport:
    """A client socket to a STUN server, UDP, TCP or TLS, yielding whole frames.

    For TLS pass an `ssl.SSLContext` as `tls` (and `server_hostname`)."""

    def __init__(self, server: tuple[str, int], proto: str = "udp", local: tuple[str, int] | None = None,
                 tls=None, server_hostname: str | None = None):
        family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
        self.server = server
        self.proto = proto
        kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(family, kind)
        if local is not None:
            self.sock.bind(local)
        if proto == "udp":
            self.sock.connect(server)
        else:
            self.sock.settimeout(5)
            self.sock.connect(server)
            if proto == "tls":
                self.sock = tls.wrap_socket(self.sock, server_hostname=server_hostname)
            self.sock.setblocking(True)
        self.buffer = b""

    @property
    def local(self) -> tuple[str, int]:
        return self.sock.getsockname()[:2]

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        if self.proto == "udp":
            self.sock.send(data)
        else:
            self.sock.sendall(data)

    def _frame_length(self) -> int | None:
        if len(self.buffer) < 4:
            return None
        first, length = struct.unpack("!HH", self.buffer[:4])
        if first & 0xC000 == 0x4000:
            return 4 + length + pad4(length)
        return 20 + length

    def recv(self, timeout: float) -> bytes | None:
        """One datagram or one framed message, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proto != "udp":
                need = self._frame_length()
                if need is not None and len(self.buffer) >= need:
                    frame, self.buffer = self.buffer[:need], self.buffer[need:]
                    return frame
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            buffered = self.proto == "tls" and self.sock.pending() > 0
            if not buffered and not select.select([self.sock], [], [], left)[0]:
                return None
            try:
                chunk = self.sock.recv(65535)
            except ConnectionRefusedError:
                # ICMP port unreachable from an earlier datagram: nobody listens.
                return None
            if self.proto == "udp":
                return chunk
            if not chunk:
                raise StunError("server closed the connection")
            self.buffer += chunk


class StunClient:
    """STUN transactions over one Transport; keeps unrelated frames in `inbox`."""

    def __init__(self, server: tuple[str, int], proto: str = "udp", local: tuple[str, int] | None = None,
                 **tls):
        self.transport = Transport(server, proto, local, **tls)
        self.inbox: list[bytes] = []
        self.last_raw: bytes | None = None

    def close(self) -> None:
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def transact(self, msg: Message, key: bytes | None = None, sha256: bool = False,
                 timeout: float = 3.0) -> Message | None:
        """Send a request and wait for its response (retransmitting on UDP,
        RFC 8489 section 6.2.1); None when nothing answered in `timeout`."""
        raw = msg.encode(key, sha256)
        deadline = time.monotonic() + timeout
        rto = 0.25
        while True:
            self.transport.send(raw)
            wait_until = min(deadline, time.monotonic() + rto) if self.transport.proto == "udp" else deadline
            while True:
                left = wait_until - time.monotonic()
                frame = self.transport.recv(max(left, 0))
                if frame is None:
                    break
                try:
                    reply = Message.decode(frame)
                except StunError:
                    self.inbox.append(frame)
                    continue
                if reply.txid == msg.txid and reply.cls in (SUCCESS, ERROR):
                    self.last_raw = frame
                    return reply
                self.inbox.append(frame)
            if time.monotonic() >= deadline:
                return None
            rto *= 2

    def binding(self, timeout: float = 3.0) -> tuple[str, int] | None:
        """The XOR-MAPPED-ADDRESS of a Binding request (RFC 8489 section 3)."""
        reply = self.transact(Message(BINDING, REQUEST), timeout=timeout)
        if reply is None or reply.cls != SUCCESS:
            return None
        return reply.xor_address(XOR_MAPPED_ADDRESS)


class TurnClient(StunClient):
    """A TURN client with long-term credentials (RFC 8656, RFC 8489 section 9.2).

    `algorithm` picks the key derivation when the server offers
    PASSWORD-ALGORITHMS: ALG_MD5 (the legacy default, no algorithm attributes
    sent) or ALG_SHA256 (PASSWORD-ALGORITHM(S) and MESSAGE-INTEGRITY-SHA256).
    """

    def __init__(self, server: tuple[str, int], username: str | None = None, password: str | None = None,
                 proto: str = "udp", local: tuple[str, int] | None = None, algorithm: int = ALG_MD5, **tls):
        super().__init__(server, proto, local, **tls)
        self.username = username
        self.password = password
        self.algorithm = algorithm
        self.realm: str | None = None
        self.nonce: bytes | None = None
        self.offered_algorithms: bytes | None = None
        self.key: bytes | None = None
        self.challenges = 0

    def _learn(self, reply: Message) -> None:
        realm = reply.text(REALM)
        if realm is not None:
            self.realm = realm
        nonce = reply.get(NONCE)
        if nonce is not None:
            self.nonce = nonce
        offered = reply.get(PASSWORD_ALGORITHMS)
        if offered is not None:
            self.offered_algorithms = offered
        if self.username is not None and self.password is not None and self.realm is not None:
            self.key = long_term_key(self.username, self.realm, self.password, self.algorithm)

    def _sign(self, msg: Message) -> Message:
        if self.username is None or self.nonce is None or self.realm is None:
            return msg
        msg.add(USERNAME, self.username.encode())
        msg.add(REALM, self.realm.encode())
        msg.add(NONCE, self.nonce)
        if self.algorithm == ALG_SHA256:
            if self.offered_algorithms is not None:
                msg.add(PASSWORD_ALGORITHMS, self.offered_algorithms)
            msg.add(PASSWORD_ALGORITHM, struct.pack("!HH", ALG_SHA256, 0))
        return msg

    def request(self, method: int, attrs: list[tuple[int, bytes]] | None = None,
                xor: list[tuple[int, str, int]] | None = None, timeout: float = 3.0,
                authenticate: bool = True) -> Message | None:
        """Send a request; answer a 401/438 challenge once with credentials.

        `xor` lists (attribute, ip, port) encoded against the transaction id.
        Returns the final response, or None when nothing answered.
        """
        for attempt in range(3):
            msg = Message(method, REQUEST)
            for t, v in attrs or []:
                msg.add(t, v)
            for t, ip, port in xor or []:
                msg.add_xor_address(t, ip, port)
            signed = authenticate and self.key is not None and self.nonce is not None
            if signed:
                self._sign(msg)
            reply = self.transact(msg, self.key if signed else None, self.algorithm == ALG_SHA256, timeout)
            if reply is None:
                return None
            code = reply.error_code()
            if reply.cls == ERROR and code in (401, 438) and authenticate and attempt < 2:
                # Retry after the first challenge, and after a stale nonce.
                if code == 401 and signed:
                    return reply
                self.challenges += 1
                self._learn(reply)
                if self.key is None:
                    return reply
                continue
            return reply
        return reply

    def allocate(self, transport: int = UDP, family: int | None = None, additional: int | None = None,
                 lifetime: int | None = None, dont_fragment: bool = False, timeout: float = 3.0) -> Message | None:
        """Allocate (RFC 8656 section 7.1)."""
        attrs = [(REQUESTED_TRANSPORT, struct.pack("!B3x", transport))]
        if family is not None:
            attrs.append((REQUESTED_ADDRESS_FAMILY, struct.pack("!B3x", family)))
        if additional is not None:
            attrs.append((ADDITIONAL_ADDRESS_FAMILY, struct.pack("!B3x", additional)))
        if lifetime is not None:
            attrs.append((LIFETIME, struct.pack("!I", lifetime)))
        if dont_fragment:
            attrs.append((DONT_FRAGMENT, b""))
        return self.request(ALLOCATE, attrs, timeout=timeout)

    def refresh(self, lifetime: int, timeout: float = 3.0) -> Message | None:
        """Refresh (RFC 8656 section 8); lifetime 0 deletes the allocation."""
        return self.request(REFRESH, [(LIFETIME, struct.pack("!I", lifetime))], timeout=timeout)

    def create_permission(self, *peers: tuple[str, int], timeout: float = 3.0) -> Message | None:
        """CreatePermission (RFC 8656 section 9.1) for every peer given."""
        return self.request(CREATE_PERMISSION, xor=[(XOR_PEER_ADDRESS, ip, port) for ip, port in peers],
                            timeout=timeout)

    def channel_bind(self, number: int, peer: tuple[str, int], timeout: float = 3.0) -> Message | None:
        """ChannelBind (RFC 8656 section 11.1)."""
        return self.request(CHANNEL_BIND, [(CHANNEL_NUMBER, struct.pack("!HH", number, 0))],
                            xor=[(XOR_PEER_ADDRESS, peer[0], peer[1])], timeout=timeout)

    def send_indication(self, peer: tuple[str, int], payload: bytes) -> None:
        """A Send indication (RFC 8656 section 10.1); unauthenticated by design."""
        msg = Message(SEND, INDICATION)
        msg.add_xor_address(XOR_PEER_ADDRESS, peer[0], peer[1])
        msg.add(DATA_ATTR, payload)
        self.transport.send(msg.encode(fingerprint=False))

    def send_channel(self, number: int, payload: bytes) -> None:
        """ChannelData to a bound channel (RFC 8656 section 12.4)."""
        self.transport.send(channel_data(number, payload, self.transport.proto != "udp"))

    def receive_data(self, timeout: float = 3.0) -> tuple[tuple[str, int] | int, bytes] | None:
        """The next Data indication ((peer), payload) or ChannelData (channel, payload)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.inbox:
                frame = self.inbox.pop(0)
            else:
                frame = self.transport.recv(max(deadline - time.monotonic(), 0))
                if frame is None:
                    return None
            first, length = struct.unpack("!HH", frame[:4])
            if first & 0xC000 == 0x4000:
                return first, frame[4 : 4 + length]
            try:
                msg = Message.decode(frame)
            except StunError:
                continue
            if msg.method == DATA and msg.cls == INDICATION:
                peer = msg.xor_address(XOR_PEER_ADDRESS)
                data = msg.get(DATA_ATTR)
                if peer is not None and data is not None:
                    return peer, data
