"""turnd serves aioice's TURN client (python3-aioice, used by aiortc).

aioice is an independent implementation: MD5 long-term keys without
PASSWORD-ALGORITHM (the legacy path of RFC 8489 section 9.2.4), ChannelBind
on first send, Refresh with LIFETIME 0 on close, and a stream parser that
handles several messages per TCP segment or TLS record. Each test relays
datagrams to a local UDP echo peer and asserts the echoed bytes, and that the
peer saw them coming from the relayed address turnd announced.
"""

from __future__ import annotations

import asyncio
import os
import ssl

import pytest

from helpers import ALICE, LOOPBACK_PEERS

try:
    from aioice.turn import create_turn_endpoint
except ImportError:  # pragma: no cover - reported as a failure below
    create_turn_endpoint = None


def require_aioice():
    if create_turn_endpoint is None:
        pytest.fail("python3-aioice is not installed: `make test-deps` or `apt-get install python3-aioice`",
                    pytrace=False)


class EchoPeer(asyncio.DatagramProtocol):
    """A UDP echo server that remembers who sent what."""

    def __init__(self):
        self.sources: list[tuple[str, int]] = []

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.sources.append(addr[:2])
        self.transport.sendto(data, addr)


class Receiver(asyncio.DatagramProtocol):
    """The application side of the TURN endpoint: queues what the peer sent back."""

    def __init__(self):
        self.queue: asyncio.Queue = asyncio.Queue()
        self.closed = asyncio.get_event_loop().create_future()

    def datagram_received(self, data, addr):
        self.queue.put_nowait((data, addr[:2]))

    def connection_lost(self, exc):
        if not self.closed.done():
            self.closed.set_result(exc)


async def relay_echo(server: tuple[str, int], transport: str, tls: ssl.SSLContext | None = None) -> None:
    loop = asyncio.get_event_loop()
    peer_transport, peer = await loop.create_datagram_endpoint(EchoPeer, local_addr=("127.0.0.1", 0))
    peer_addr = peer_transport.get_extra_info("sockname")[:2]
    turn, app = await asyncio.wait_for(
        create_turn_endpoint(Receiver, server_addr=server, username=ALICE[0], password=ALICE[1],
                             transport=transport, ssl=tls if tls is not None else False),
        timeout=10,
    )
    try:
        relayed = turn.get_extra_info("sockname")
        assert relayed is not None and relayed[0] == "127.0.0.1", f"relayed address {relayed}"

        # One at a time: every payload comes back intact, from the peer's address.
        payloads = [b"hello through turnd", os.urandom(1200), bytes(range(256)) * 4, b"\x00"]
        for data in payloads:
            turn.sendto(data, peer_addr)
            echoed, source = await asyncio.wait_for(app.queue.get(), timeout=5)
            assert echoed == data
            assert source == peer_addr

        # A burst: several messages share TCP segments / TLS records on the way back.
        burst = [b"burst-%03d-" % i + os.urandom(100) for i in range(100)]
        for data in burst:
            turn.sendto(data, peer_addr)
        got = []
        for _ in burst:
            echoed, _ = await asyncio.wait_for(app.queue.get(), timeout=5)
            got.append(echoed)
        assert sorted(got) == sorted(burst)

        # The peer saw the relayed transport address, never the client's own.
        assert set(peer.sources) == {tuple(relayed)}, f"peer saw {set(peer.sources)}, relay is {relayed}"
    finally:
        turn.close()  # Refresh with LIFETIME 0, then the client socket closes.
        await asyncio.wait_for(app.closed, timeout=5)
        peer_transport.close()


def test_aioice_relays_over_udp(turnd_factory):
    require_aioice()
    turnd = turnd_factory(LOOPBACK_PEERS)
    asyncio.run(relay_echo(turnd.udp, "udp"))


def test_aioice_relays_over_tcp(turnd_factory):
    require_aioice()
    turnd = turnd_factory(LOOPBACK_PEERS)
    asyncio.run(relay_echo(turnd.tcp, "tcp"))


def test_aioice_relays_over_tls_with_certificate_verification(turnd_factory):
    require_aioice()
    turnd = turnd_factory(LOOPBACK_PEERS, tls=True)
    # Full verification: chain against turnd's self-signed certificate, and the
    # name 127.0.0.1 (the address aioice connects to) against its subjectAltName.
    context = ssl.create_default_context(cafile=str(turnd.certificate))
    asyncio.run(relay_echo(turnd.tls, "tcp", tls=context))
