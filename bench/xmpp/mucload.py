#!/usr/bin/python3
"""MUC fan-out load for the xmppd-vs-Prosody benchmark (bench/xmpp_muc.sh).

N clients log in like real clients (xmppload.py's STARTTLS + SCRAM-SHA-1 +
bind + presence), the first creates a room and accepts the default
configuration (an instant room, XEP-0045 §10.1.2), then all enter it
without history. S of them then send groupchat messages for --duration
seconds, keeping at most --window messages in flight (sent, not yet
reflected to a probe occupant). Every message is delivered to all N
occupants. Prints one JSON object: deliveries/s (messages received by all
occupants together) and the server's CPU per delivery. Not a test.
"""

import argparse
import asyncio
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from xmppload import XmppError, make_ssl, open_sessions, proc_cpu  # noqa: E402

RE_SELF = re.compile(rb"<status[^>]*code=['\"]110['\"]")
RE_RESULT = re.compile(rb"<iq[^>]*type=['\"]result['\"]")
RE_ERROR = re.compile(rb"<presence[^>]*type=['\"]error['\"]")


async def enter(conn, room, nick, first=False):
    """Join `room` as `nick` with no history; the creator also unlocks it."""
    conn.send(f"<presence to='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc'>"
              "<history maxstanzas='0'/></x></presence>")
    while True:
        if RE_ERROR.search(bytes(conn.buf)):
            raise XmppError(f"{nick} could not enter: {bytes(conn.buf)[-300:]!r}")
        m = RE_SELF.search(bytes(conn.buf))
        if m:
            del conn.buf[: m.end()]
            break
        data = await conn.reader.read(1 << 16)
        if not data:
            raise XmppError("closed while entering")
        conn.buf += data
    if first:
        conn.send(f"<iq type='set' id='instant' to='{room}'><query xmlns='http://jabber.org/protocol/muc#owner'>"
                  "<x xmlns='jabber:x:data' type='submit'/></query></iq>")
        await conn.expect(RE_RESULT)
    conn.buf.clear()


async def run(args):
    ctx = make_ssl(args)
    conns, failures = await open_sessions(args, ctx, args.occupants, resource="m")
    if len(conns) != args.occupants:
        raise SystemExit(f"could not log in {args.occupants} clients: {failures[:3]}")
    room = f"{args.room}@{args.muc}"
    t0 = time.monotonic()
    pumps = []
    await enter(conns[0], room, "n0", first=True)
    # Once in, each occupant keeps reading (presence of later arrivals).
    pumps.append(asyncio.ensure_future(conns[0].pump()))
    sem = asyncio.Semaphore(args.concurrency)

    async def one(i):
        async with sem:
            await enter(conns[i], room, f"n{i}")
        pumps.append(asyncio.ensure_future(conns[i].pump()))

    # Entering in order keeps each newcomer's occupant list bounded by N.
    await asyncio.gather(*(one(i) for i in range(1, len(conns))))
    join_seconds = time.monotonic() - t0
    await asyncio.sleep(2)  # let the last presence broadcasts drain
    counters = [0] * len(conns)
    probe = len(conns) - 1
    got = asyncio.Event()
    for i, c in enumerate(conns):
        def cb(n, i=i):
            counters[i] += n
            if i == probe:
                got.set()
        c.on_message = cb
    senders = conns[: args.senders]
    stanza = [f"<message to='{room}' type='groupchat'><body>{'x' * args.body_bytes}</body></message>".encode()
              for _ in senders]
    stop = False
    sent = [0]

    async def send_loop():
        k = 0
        while not stop:
            room_left = args.window - (sent[0] - counters[probe])
            if room_left > 0:
                for _ in range(room_left):
                    s = k % len(senders)
                    senders[s].writer.write(stanza[s])
                    k += 1
                sent[0] += room_left
                await asyncio.gather(*(s.writer.drain() for s in senders))
            else:
                got.clear()
                try:
                    await asyncio.wait_for(got.wait(), 1.0)
                except asyncio.TimeoutError:
                    pass

    loop = asyncio.ensure_future(send_loop())
    await asyncio.sleep(args.warmup_seconds)
    d0, c0, t0, u0 = sum(counters), proc_cpu(args.pid), time.monotonic(), os.times()
    await asyncio.sleep(args.duration)
    d1, c1, t1, u1 = sum(counters), proc_cpu(args.pid), time.monotonic(), os.times()
    stop = True
    got.set()
    await asyncio.gather(loop, return_exceptions=True)
    errors = sum(c.errors for c in conns)
    for c in conns:
        c.close()
    await asyncio.sleep(1)
    for p in pumps:
        p.cancel()
    n = d1 - d0
    secs = t1 - t0
    return {
        "mode": "muc",
        "occupants": len(conns),
        "senders": len(senders),
        "window": args.window,
        "join_seconds": round(join_seconds, 1),
        "seconds": round(secs, 2),
        "deliveries": n,
        "deliveries_per_second": round(n / secs, 1),
        "room_messages_per_second": round(n / secs / len(conns), 1),
        "server_cpu_seconds": round(c1 - c0, 2),
        "server_cpu_us_per_delivery": round((c1 - c0) * 1e6 / n, 2) if n else None,
        "client_cpu_seconds": round((u1.user + u1.system) - (u0.user + u0.system), 2),
        "error_messages": errors,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--domain", default="bench.test")
    p.add_argument("--muc", default="conference.bench.test")
    p.add_argument("--room", default="fanout")
    p.add_argument("--cafile", required=True)
    p.add_argument("--pid", type=int, required=True, help="server process to measure")
    p.add_argument("--accounts", type=int, default=500)
    p.add_argument("--source-ips", type=int, default=50)
    p.add_argument("--concurrency", type=int, default=32, help="logins and room entries in flight")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--occupants", type=int, default=500)
    p.add_argument("--senders", type=int, default=5)
    p.add_argument("--window", type=int, default=20, help="room messages in flight")
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
    result = asyncio.run(run(args))
    result["event_loop"] = loop_name
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
