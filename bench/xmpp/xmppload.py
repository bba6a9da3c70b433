#!/usr/bin/python3
"""Lean asyncio XMPP load client for the xmppd-vs-Prosody benchmark.

Each connection does what a real client does: stream header, STARTTLS,
SASL SCRAM-SHA-1 (server signature verified), stream restart, resource
binding and initial presence. It parses only what it needs (regular
expressions over the decrypted stream), so one Python process can drive
thousands of connections. Like real clients, it caches SCRAM's
SaltedPassword per (password, salt, iterations).

Modes (each prints one JSON object on stdout):
  idle   open N authenticated, bound, available connections; report the
         server's resident memory before and after (RSS delta / N)
  msg    P sender->receiver pairs, at most W messages in flight per pair;
         report delivered messages/s and server CPU per message
  login  C workers doing connect + STARTTLS + SCRAM to <success/> in a loop;
         report logins/s and server CPU per login

Client source addresses are spread over 127.0.0.2 .. 127.0.0.(1+--source-ips)
so that neither port exhaustion nor per-address limits get in the way.
Not a test: a benchmark tool.
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import ssl
import sys
import time

NS_STREAM = (
    "<?xml version='1.0'?><stream:stream to='{host}' xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)
RE_FEATURES = re.compile(rb"</(?:stream:)?features>|<(?:stream:)?features[^>]*/>")
RE_PROCEED = re.compile(rb"<proceed[^>]*/>|<proceed[^>]*>\s*</proceed>")
RE_CHALLENGE = re.compile(rb"<challenge[^>]*>([^<]*)</challenge>")
RE_SUCCESS = re.compile(rb"<success[^>]*/>|<success[^>]*>([^<]*)</success>")
RE_JID = re.compile(rb"<jid>([^<]+)</jid>")
RE_FATAL = re.compile(rb"<failure|<stream:error|</stream:stream>")
RE_PING = re.compile(rb"<iq([^>]*)>\s*<ping ")
RE_ATTR_ID = re.compile(rb"""\sid=['"]([^'"]*)['"]""")
RE_ATTR_FROM = re.compile(rb"""\sfrom=['"]([^'"]*)['"]""")

CLK_TCK = os.sysconf("SC_CLK_TCK")
_SALTED = {}


class XmppError(Exception):
    """The server refused or closed the stream."""


def proc_cpu(pid):
    """utime+stime of a process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def salted_password(password, salt, iterations):
    key = (password, salt, iterations)
    sp = _SALTED.get(key)
    if sp is None:
        sp = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, iterations)
        _SALTED[key] = sp
    return sp


class Conn:
    """One client connection."""

    def __init__(self, args, user, password, source_ip, resource):
        self.args = args
        self.user = user
        self.password = password
        self.source_ip = source_ip
        self.resource = resource
        self.buf = bytearray()
        self.reader = None
        self.writer = None
        self.jid = None
        self.messages = 0
        self.errors = 0
        self.on_message = None
        self._tail = b""

    async def expect(self, pattern):
        while True:
            # Match on an immutable copy: groups must survive the deletion.
            m = pattern.search(bytes(self.buf))
            if m:
                del self.buf[: m.end()]
                return m
            f = RE_FATAL.search(self.buf)
            if f:
                raise XmppError(bytes(self.buf[f.start(): f.start() + 300]).decode(errors="replace"))
            data = await self.reader.read(65536)
            if not data:
                raise XmppError("connection closed by the server")
            self.buf += data

    def send(self, data):
        self.writer.write(data if isinstance(data, bytes) else data.encode())

    async def login(self, ssl_ctx):
        """Connect, STARTTLS and SCRAM-SHA-1 up to <success/>."""
        a = self.args
        self.reader, self.writer = await asyncio.open_connection(
            a.host, a.port, local_addr=(self.source_ip, 0), limit=1 << 20
        )
        header = NS_STREAM.format(host=a.domain)
        self.send(header)
        await self.expect(RE_FEATURES)
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        await self.expect(RE_PROCEED)
        self.buf.clear()
        await self.writer.start_tls(ssl_ctx, server_hostname=a.domain)
        self.send(header)
        await self.expect(RE_FEATURES)
        cnonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = f"n={self.user},r={cnonce}"
        self.send(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>"
            + base64.b64encode(("n,," + first_bare).encode()).decode()
            + "</auth>"
        )
        m = await self.expect(RE_CHALLENGE)
        server_first = base64.b64decode(m.group(1)).decode()
        parts = dict(p.split("=", 1) for p in server_first.split(","))
        if not parts["r"].startswith(cnonce):
            raise XmppError("server nonce does not extend ours")
        sp = salted_password(self.password, base64.b64decode(parts["s"]), int(parts["i"]))
        client_key = hmac.new(sp, b"Client Key", hashlib.sha1).digest()
        stored_key = hashlib.sha1(client_key).digest()
        final_wo_proof = f"c=biws,r={parts['r']}"
        auth_message = f"{first_bare},{server_first},{final_wo_proof}".encode()
        signature = hmac.new(stored_key, auth_message, hashlib.sha1).digest()
        proof = bytes(x ^ y for x, y in zip(client_key, signature))
        final = f"{final_wo_proof},p={base64.b64encode(proof).decode()}"
        self.send(
            "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
            + base64.b64encode(final.encode()).decode()
            + "</response>"
        )
        m = await self.expect(RE_SUCCESS)
        server_key = hmac.new(sp, b"Server Key", hashlib.sha1).digest()
        expected = b"v=" + base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha1).digest())
        if m.group(1) is None or base64.b64decode(m.group(1)) != expected:
            raise XmppError("bad or missing server signature")

    async def session(self, ssl_ctx):
        """Login, then restart, bind and send initial presence."""
        await self.login(ssl_ctx)
        self.send(NS_STREAM.format(host=self.args.domain))
        await self.expect(RE_FEATURES)
        self.send(
            "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            f"<resource>{self.resource}</resource></bind></iq>"
        )
        m = await self.expect(RE_JID)
        self.jid = m.group(1).decode()
        self.send("<presence/>")
        await self.writer.drain()

    async def pump(self):
        """Read until the connection ends: count messages, answer pings."""
        data = bytes(self.buf)
        self.buf.clear()
        while True:
            if data:
                self._account(data)
            try:
                data = await self.reader.read(1 << 16)
            except (ConnectionError, OSError):
                return
            if not data:
                return

    def _account(self, data):
        joined = self._tail + data
        n = joined.count(b"<message")
        if n:
            errs = joined.count(b"type='error'") + joined.count(b'type="error"')
            self.errors += errs
            self.messages += n - errs
            if self.on_message is not None:
                self.on_message(n - errs)
        self._tail = data[-12:]
        if b"urn:xmpp:ping" in data:
            for m in RE_PING.finditer(joined):
                attrs = m.group(1)
                i = RE_ATTR_ID.search(attrs)
                fr = RE_ATTR_FROM.search(attrs)
                to = f" to='{fr.group(1).decode()}'" if fr else ""
                if i:
                    self.send(f"<iq type='result' id='{i.group(1).decode()}'{to}/>")

    def close(self):
        if self.writer is not None:
            try:
                self.writer.write(b"</stream:stream>")
                self.writer.close()
            except (ConnectionError, OSError, RuntimeError):
                pass


def make_ssl(args):
    ctx = ssl.create_default_context(cafile=args.cafile)
    ctx.check_hostname = True
    return ctx


def source_ip(args, i):
    return f"127.0.0.{2 + i % args.source_ips}"


def account(args, i):
    k = i % args.accounts
    return f"u{k}", f"pw{k}"


async def open_sessions(args, ctx, count, start=0, resource="r"):
    """Open `count` sessions with at most --concurrency handshakes in flight."""
    sem = asyncio.Semaphore(args.concurrency)
    conns, failures = [], []

    async def one(i):
        user, pw = account(args, i)
        c = Conn(args, user, pw, source_ip(args, i), f"{resource}{i}")
        async with sem:
            try:
                await asyncio.wait_for(c.session(ctx), args.timeout)
            except (XmppError, OSError, asyncio.TimeoutError, ssl.SSLError) as e:
                failures.append(f"{type(e).__name__}: {e}")
                c.close()
                return
        conns.append(c)

    await asyncio.gather(*(one(start + i) for i in range(count)))
    return conns, failures


async def mode_idle(args):
    ctx = make_ssl(args)
    # Warm-up: TLS contexts, storage and code paths get touched once.
    warm, _ = await open_sessions(args, ctx, args.warmup, start=args.accounts * 10, resource="w")
    for c in warm:
        c.close()
    await asyncio.sleep(args.settle)
    rss0 = proc_rss_kib(args.pid)
    t0 = time.monotonic()
    conns, failures = await open_sessions(args, ctx, args.n)
    ramp = time.monotonic() - t0
    pumps = [asyncio.ensure_future(c.pump()) for c in conns]
    await asyncio.sleep(args.settle)
    rss1 = proc_rss_kib(args.pid)
    alive = sum(1 for p in pumps if not p.done())
    for c in conns:
        c.close()
    await asyncio.sleep(1)
    for p in pumps:
        p.cancel()
    n = len(conns)
    return {
        "mode": "idle",
        "requested": args.n,
        "connected": n,
        "alive_at_measure": alive,
        "failures": len(failures),
        "failure_sample": failures[:3],
        "ramp_seconds": round(ramp, 1),
        "rss_before_kib": rss0,
        "rss_after_kib": rss1,
        "kib_per_connection": round((rss1 - rss0) / n, 2) if n else None,
    }


async def mode_msg(args):
    ctx = make_ssl(args)
    pairs = args.pairs
    senders, f1 = await open_sessions(args, ctx, pairs, start=0, resource="s")
    receivers, f2 = await open_sessions(args, ctx, pairs, start=pairs, resource="d")
    if len(senders) != pairs or len(receivers) != pairs:
        raise SystemExit(f"msg: could not open all pairs: {(f1 + f2)[:3]}")
    stop = False
    counters = [0] * pairs
    events = [asyncio.Event() for _ in range(pairs)]
    for i, r in enumerate(receivers):
        def cb(n, i=i):
            counters[i] += n
            events[i].set()
        r.on_message = cb
    pumps = [asyncio.ensure_future(c.pump()) for c in senders + receivers]
    body = "x" * args.body_bytes

    async def send_loop(i):
        s, r = senders[i], receivers[i]
        stanza = f"<message to='{r.jid}' type='chat'><body>{body}</body></message>".encode()
        sent = 0
        while not stop:
            room = args.window - (sent - counters[i])
            if room > 0:
                s.writer.write(stanza * room)
                sent += room
                await s.writer.drain()
            else:
                events[i].clear()
                try:
                    await asyncio.wait_for(events[i].wait(), 1.0)
                except asyncio.TimeoutError:
                    pass

    loops = [asyncio.ensure_future(send_loop(i)) for i in range(pairs)]
    await asyncio.sleep(args.warmup_seconds)
    m0, c0, t0, u0 = sum(counters), proc_cpu(args.pid), time.monotonic(), os.times()
    await asyncio.sleep(args.duration)
    m1, c1, t1, u1 = sum(counters), proc_cpu(args.pid), time.monotonic(), os.times()
    stop = True
    for e in events:
        e.set()
    await asyncio.gather(*loops, return_exceptions=True)
    errors = sum(s.errors for s in senders)
    for c in senders + receivers:
        c.close()
    await asyncio.sleep(1)
    for p in pumps:
        p.cancel()
    n = m1 - m0
    secs = t1 - t0
    return {
        "mode": "msg",
        "pairs": pairs,
        "window": args.window,
        "seconds": round(secs, 2),
        "messages": n,
        "messages_per_second": round(n / secs, 1),
        "server_cpu_seconds": round(c1 - c0, 2),
        "server_cpu_us_per_message": round((c1 - c0) * 1e6 / n, 2) if n else None,
        "client_cpu_seconds": round((u1.user + u1.system) - (u0.user + u0.system), 2),
        "error_messages": errors,
    }


async def mode_login(args):
    ctx = make_ssl(args)
    stop = False
    count = [0]
    failures = []
    seq = [0]

    async def worker():
        while not stop:
            i = seq[0]
            seq[0] += 1
            user, pw = account(args, i)
            c = Conn(args, user, pw, source_ip(args, i), "l")
            try:
                await asyncio.wait_for(c.login(ctx), args.timeout)
                count[0] += 1
            except (XmppError, OSError, asyncio.TimeoutError, ssl.SSLError) as e:
                failures.append(f"{type(e).__name__}: {e}")
            finally:
                c.close()

    # Every account's SaltedPassword is cached first (clients keep it too).
    loops = [asyncio.ensure_future(worker()) for _ in range(args.concurrency)]
    await asyncio.sleep(args.warmup_seconds)
    n0, c0, t0, u0 = count[0], proc_cpu(args.pid), time.monotonic(), os.times()
    await asyncio.sleep(args.duration)
    n1, c1, t1, u1 = count[0], proc_cpu(args.pid), time.monotonic(), os.times()
    stop = True
    await asyncio.gather(*loops, return_exceptions=True)
    n = n1 - n0
    secs = t1 - t0
    return {
        "mode": "login",
        "concurrency": args.concurrency,
        "seconds": round(secs, 2),
        "logins": n,
        "logins_per_second": round(n / secs, 1),
        "server_cpu_seconds": round(c1 - c0, 2),
        "server_cpu_ms_per_login": round((c1 - c0) * 1e3 / n, 3) if n else None,
        "client_cpu_seconds": round((u1.user + u1.system) - (u0.user + u0.system), 2),
        "failures": len(failures),
        "failure_sample": failures[:3],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["idle", "msg", "login"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--domain", default="bench.test")
    p.add_argument("--cafile", required=True, help="the server's self-signed certificate")
    p.add_argument("--pid", type=int, required=True, help="server process to measure")
    p.add_argument("--accounts", type=int, default=1000, help="accounts u0..uN-1 with password pwK")
    p.add_argument("--source-ips", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("-n", type=int, default=10000, help="idle: connections")
    p.add_argument("--warmup", type=int, default=50, help="idle: warm-up connections")
    p.add_argument("--settle", type=float, default=5.0, help="idle: seconds before each RSS reading")
    p.add_argument("--pairs", type=int, default=50)
    p.add_argument("--window", type=int, default=50, help="msg: messages in flight per pair")
    p.add_argument("--body-bytes", type=int, default=100)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--warmup-seconds", type=float, default=3.0)
    args = p.parse_args()
    try:
        import uvloop  # Debian: python3-uvloop
        uvloop.install()
        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    fn = {"idle": mode_idle, "msg": mode_msg, "login": mode_login}[args.mode]
    result = asyncio.run(fn(args))
    result["event_loop"] = loop_name
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
