"""Harness of the XMPP interop suites: the real xmppd as a managed process,
slixmpp clients (Debian's python3-slixmpp) and raw XML-over-TLS sockets for
hostile peers.

Each `Xmppd` gets its own directory with a JSON config (JSON is YAML), a
SQLite database and a self-signed certificate for `localhost` made with
python3-cryptography. Accounts are created with the real `xmppctl`.

Channel binding with slixmpp 1.8 (the one documented client-side shim here):
slixmpp only knows `tls-unique`, which TLS 1.3 does not have (RFC 9266), and
Python's ssl module has no exporter API, so neither Debian's slixmpp nor
PyPI's 1.17 can bind to a TLS 1.3 channel. `Client` therefore
- supplies the credentials through slixmpp's `sasl_callback` hook: for a
  plain SCRAM mechanism it reports no channel binding (gs2 flag `n`, which
  xmppd accepts; without this slixmpp sends `y`, which a server offering
  `-PLUS` must refuse as a downgrade, RFC 5802 §6), and for a `-PLUS`
  mechanism it reports the `tls-server-end-point` data (RFC 5929 §4.1: the
  hash of the server's DER certificate, SHA-256 for MD5/SHA-1 signatures);
- registers `ScramEndPoint`, a SCRAM subclass that names that binding
  `p=tls-server-end-point` in the gs2 header instead of `p=tls-unique`.
The SCRAM computation itself stays slixmpp's.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import ipaddress
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from helpers import REPO_ROOT, DaemonProcess, log_tail

HOST = "localhost"
ALICE = ("alice", "alice-secret")
BOB = ("bob", "bob-secret")
CAROL = ("carol", "carol-secret")
NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"


def xbinary(name: str) -> str:
    """xmppd / xmppctl: $XMPPD_BIN / $XMPPCTL_BIN, else target/debug/ of the repo."""
    env = name.upper() + "_BIN"
    path = Path(os.environ.get(env) or REPO_ROOT / "target" / "debug" / name)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{name} not found at {path}: run `cargo build -p xmppd --bins` (or set {env})", pytrace=False)
    return str(path)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed P-256 certificate for localhost and 127.0.0.1 (cert.pem, key.pem)."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        pytest.fail("python3-cryptography is missing: apt-get install python3-cryptography", pytrace=False)
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def deep_merge(base: dict, extra: dict) -> dict:
    for k, v in extra.items():
        base[k] = deep_merge(base.get(k, {}), v) if isinstance(v, dict) else v
    return base


class Xmppd(DaemonProcess):
    """One xmppd process: STARTTLS (c2s) and direct TLS (c2s-tls) listeners on
    free ports of 127.0.0.1, host `localhost`. `config` overrides YAML keys."""

    def __init__(self, workdir: Path, config: dict | None = None, name: str = "xmppd"):
        self.bin, self.ctl_bin = xbinary("xmppd"), xbinary("xmppctl")
        self.dir, self.name = workdir, name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = make_certificate(self.dir / "tls")
        self.config_path = self.dir / "xmppd.yaml"
        self.log_path = self.dir / "xmppd.log"
        self.config = deep_merge({
            "log": "info",
            "database": {"sqlite": {"path": str(self.dir / "xmppd.sqlite")}},
            "listeners": [{"kind": "c2s", "addr": "127.0.0.1:0"}, {"kind": "c2s_tls", "addr": "127.0.0.1:0"}],
            "hosts": [{"domain": HOST, "tls": {"cert": str(self.cert), "key": str(self.key)}}],
            "shutdown_grace_secs": 3,
        }, config or {})
        self.config_path.write_text(json.dumps(self.config, indent=2) + "\n")
        self.proc: subprocess.Popen | None = None
        self.stdout_lines: list[str] = []
        self.addrs: dict[str, tuple[str, int]] = {}
        self.history: list[str] = []

    def ctl(self, *args: str) -> subprocess.CompletedProcess:
        """Run the real xmppctl on this daemon's config; fails the test on a non-zero exit."""
        cmd = [self.ctl_bin, "--config", str(self.config_path), *args]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        self.history.append(f"$ {' '.join(cmd)}\n[rc={res.returncode}]\n{res.stdout}{res.stderr}")
        if res.returncode != 0:
            pytest.fail(f"xmppctl {' '.join(args)} exited {res.returncode}: {res.stdout}{res.stderr}", pytrace=False)
        return res

    def register(self, *accounts: tuple[str, str]) -> None:
        for user, password in accounts:
            self.ctl("register", user, HOST, password)

    def start(self, timeout: float = 30.0) -> "Xmppd":
        """Start xmppd and wait for its READY line (listeners learned from it)."""
        info = self._launch(timeout)
        self.addrs = {}
        for item in info["listeners"]:
            host, _, port = item["addr"].rpartition(":")
            self.addrs[item["service"]] = (host.strip("[]"), int(port))
        return self

    def mechanisms_used(self, user: str) -> list[str]:
        """The SASL mechanisms of `user`'s successful logins, from xmppd's log."""
        found = []
        for line in self.log().splitlines():
            if "authenticated" in line and re.search(rf"\buser={re.escape(user)}@{HOST}\b", line):
                m = re.search(r'mechanism="?([A-Z0-9-]+)', line)
                if m:
                    found.append(m.group(1))
        return found

    def report(self) -> str:
        return "\n".join([f"config {self.config_path}:\n{self.config_path.read_text()}",
                          "xmppctl runs:\n" + "\n".join(self.history),
                          "stdout:\n" + "\n".join(self.stdout_lines),
                          f"log {self.log_path}:\n{log_tail(self.log(), 200)}"])

    @property
    def c2s(self) -> tuple[str, int]:
        return self.addrs["c2s"]

    @property
    def c2s_tls(self) -> tuple[str, int]:
        return self.addrs["c2s-tls"]


# -- slixmpp --------------------------------------------------------------

try:
    import slixmpp
    from slixmpp.util.sasl import client as sasl_client
    from slixmpp.util.sasl import mechanisms as sasl_mechanisms
except ImportError:  # reported by `Client` as a test failure, never a skip
    slixmpp = None


def server_end_point(ssl_object) -> bytes:
    """tls-server-end-point channel binding data (RFC 5929 §4.1)."""
    from cryptography import x509
    der = ssl_object.getpeercert(binary_form=True)
    algorithm = x509.load_der_x509_certificate(der).signature_hash_algorithm
    name = algorithm.name if algorithm and algorithm.name not in ("md5", "sha1") else "sha256"
    return hashlib.new(name, der).digest()


if slixmpp is not None:
    class ScramEndPoint(sasl_mechanisms.SCRAM):
        """slixmpp's SCRAM, but its -PLUS variants announce tls-server-end-point."""

        def process_1(self, challenge: bytes = b"") -> bytes:
            first = super().process_1(challenge)
            unique = b"p=tls-unique,"
            if self.use_channel_binding and self.gs2_header.startswith(unique):
                self.gs2_header = b"p=tls-server-end-point," + self.gs2_header[len(unique):]
                self.client_first_message = self.gs2_header + self.client_first_message_bare
                first = self.client_first_message
            return first

    for _name, _mech in list(sasl_client.MECHANISMS.items()):
        if _mech is sasl_mechanisms.SCRAM:
            sasl_client.MECHANISMS[_name] = ScramEndPoint

    class Client(slixmpp.ClientXMPP):
        """A slixmpp client trusting the test certificate, forced to one SASL
        mechanism, collecting messages and presences in queues."""

        def __init__(self, jid: str, password: str, cert: Path, mech: str = "SCRAM-SHA-256",
                     plugins: tuple[str, ...] = (), binding: bytes | None = None):
            super().__init__(jid, password, sasl_mech=mech)
            self.mech_name = mech
            self.binding_override = binding
            self.ssl_context = ssl.create_default_context(cafile=str(cert))
            self.ssl_context.set_alpn_protocols(["xmpp-client"])
            for p in ("xep_0030", "xep_0199", *plugins):
                self.register_plugin(p)
            feature = self["feature_mechanisms"]
            default = feature.sasl_callback
            feature.sasl_callback = lambda req, opt: self._credentials(default, req, opt)
            self.roster.auto_authorize = None  # subscriptions are answered by the tests
            self.roster.auto_subscribe = False
            self.messages: asyncio.Queue = asyncio.Queue()
            self.errors: asyncio.Queue = asyncio.Queue()
            self.presences: asyncio.Queue = asyncio.Queue()
            self.ready = asyncio.get_event_loop().create_future()
            self.add_event_handler("message", self._on_message)
            self.add_event_handler("message_error", self.errors.put_nowait)
            self.add_event_handler("presence", self.presences.put_nowait)
            self.add_event_handler("session_start", self._start)
            self.add_event_handler("failed_auth", lambda s: self._fail(f"auth failed: {s}"))
            self.add_event_handler("failed_all_auth", lambda *_: self._fail("no mechanism left"))
            self.add_event_handler("disconnected", lambda *_: self._fail("disconnected before session"))

        def _credentials(self, default, required, optional):
            creds = default(required, optional)
            if "channel_binding" in creds:
                creds.pop("channel_binding")
                if self.mech_name.endswith("-PLUS") and isinstance(self.socket, (ssl.SSLObject, ssl.SSLSocket)):
                    creds["channel_binding"] = self.binding_override or server_end_point(self.socket)
            return creds

        def _on_message(self, msg) -> None:
            if msg["type"] != "error":
                self.messages.put_nowait(msg)

        def _fail(self, why: str) -> None:
            if not self.ready.done():
                self.ready.set_exception(AssertionError(why))

        async def _start(self, _event) -> None:
            await self.get_roster()
            self.send_presence()
            if not self.ready.done():
                self.ready.set_result(True)

        def mechanism(self) -> str:
            """The SASL mechanism this client authenticated with."""
            return self["feature_mechanisms"].mech.name

        def tls_version(self) -> str:
            return self.socket.version()

        async def ping(self) -> None:
            """A round trip to the server: everything sent before has been processed."""
            await self["xep_0199"].ping(jid=HOST, timeout=10)

        async def next_message(self, timeout: float = 10):
            return await asyncio.wait_for(self.messages.get(), timeout)

        async def close(self) -> None:
            if self.transport is not None:
                await asyncio.wait_for(self.disconnect(), 10)


async def online(d: Xmppd, account: tuple[str, str], resource: str = "r", direct: bool = False,
                 mech: str = "SCRAM-SHA-256", plugins: tuple[str, ...] = (), binding: bytes | None = None):
    """A slixmpp session of `account` on `d`: authenticated with `mech`,
    bound, roster fetched and available. `binding` replaces the real
    channel-binding data (to play a man in the middle)."""
    if slixmpp is None:
        pytest.fail("python3-slixmpp is missing: apt-get install python3-slixmpp", pytrace=False)
    user, password = account
    c = Client(f"{user}@{HOST}/{resource}", password, d.cert, mech, plugins, binding)
    host, port = d.c2s_tls if direct else d.c2s
    c.connect((host, port), use_ssl=direct, force_starttls=not direct, disable_starttls=direct)
    try:
        await asyncio.wait_for(c.ready, 15)
    except BaseException:
        c.abort()
        raise
    return c


def run(coro):
    """Run one scenario on a fresh event loop, close it cleanly, return its result."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(coro)
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)


# -- raw sockets for hostile peers ------------------------------------------

STREAM_HEADER = ("<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xml:lang='en' "
                 "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")


class RawStream:
    """A blocking XML-over-TCP client that speaks only what the test writes."""

    def __init__(self, addr: tuple[str, int], cert: Path, direct_tls: bool = False, source: str | None = None):
        self.cert = cert
        self.sock = socket.create_connection(addr, timeout=10, source_address=(source, 0) if source else None)
        self.buf = b""
        if direct_tls:
            self._wrap()

    def _wrap(self) -> None:
        ctx = ssl.create_default_context(cafile=str(self.cert))
        ctx.set_alpn_protocols(["xmpp-client"])
        self.sock = ctx.wrap_socket(self.sock, server_hostname=HOST)

    def send(self, data: str | bytes) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def read_until(self, pattern: str, timeout: float = 10) -> str:
        """Read until `pattern` (a regex) is in what was received; return all of it."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.buf.decode(errors="replace")):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timeout waiting for {pattern!r}; got {self.buf!r}")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"closed while waiting for {pattern!r}; got {self.buf!r}")
            self.buf += chunk
        text, self.buf = self.buf.decode(errors="replace"), b""
        return text

    def read_to_close(self, timeout: float) -> tuple[str, float]:
        """Everything until the server closes; (text, seconds it took). Fails on timeout."""
        start = time.monotonic()
        deadline = start + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"server kept the connection open for {timeout}s; got {self.buf!r}")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                chunk = b""
            if not chunk:
                return self.buf.decode(errors="replace"), time.monotonic() - start
            self.buf += chunk

    def starttls(self) -> None:
        """Stream header, <starttls/>, TLS handshake: ready for the post-TLS header."""
        self.send(STREAM_HEADER)
        self.read_until(r"</stream:features>")
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.read_until(r"<proceed")
        self.sock.settimeout(10)
        self._wrap()

    def plain_auth(self, user: str, password: str) -> str:
        """One SASL PLAIN attempt; returns the server's <success/> or <failure/>."""
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
        return self.read_until(r"<success|</failure>|<failure[^>]*/>")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
