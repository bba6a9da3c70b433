"""turnd relays coturn's own load client, turnutils_uclient, without loss.

Each test starts a fresh turnd (UDP+TCP on a free port, relay on 127.0.0.1,
loopback peers allowed for the test) and a fresh turnutils_peer echo server,
runs one uclient mode and asserts: exit status 0, every message sent, as many
echoes received as sent, zero lost packets. The baseline is the reference
command `turnutils_uclient -u alice -w secret -e 127.0.0.1 -r PEER_PORT -m 10
-l 170 -n 1000 -z 5 -X -g -c 127.0.0.1`, with smaller counts for speed.
"""

from __future__ import annotations

import pytest

from helpers import ALICE, LOOPBACK_PEERS, assert_no_loss, run_uclient

CLIENTS = 5
MESSAGES = 200
REST_SECRET = "interop-rest-secret"

# uclient opens up to two allocations per client; allow more than the default 10.
RELAY_CONFIG = {**LOOPBACK_PEERS, "allocation": {"user_quota": 100}}


def uclient_args(port: int, peer_port: int | None, *flags: str, clients: int = CLIENTS,
                 messages: int = MESSAGES, interval_ms: int = 5,
                 user: tuple[str, str] | None = ALICE) -> list[str]:
    args = [*flags, "-p", str(port)]
    if user is not None:
        args += ["-u", user[0], "-w", user[1]]
    if peer_port is not None:
        args += ["-e", "127.0.0.1", "-r", str(peer_port)]
    return args + ["-m", str(clients), "-l", "170", "-n", str(messages), "-z", str(interval_ms), "-X", "-g", "-c"]


def test_uclient_udp_with_channels(turnd_factory, udp_peer):
    turnd = turnd_factory(RELAY_CONFIG)
    result = run_uclient(uclient_args(turnd.udp[1], udp_peer.port))
    assert_no_loss(result, CLIENTS * MESSAGES)


def test_uclient_udp_with_send_indications(turnd_factory, udp_peer):
    turnd = turnd_factory(RELAY_CONFIG)
    result = run_uclient(uclient_args(turnd.udp[1], udp_peer.port, "-s"))
    assert_no_loss(result, CLIENTS * MESSAGES)


def test_uclient_tcp_with_channels(turnd_factory, udp_peer):
    turnd = turnd_factory(RELAY_CONFIG)
    result = run_uclient(uclient_args(turnd.tcp[1], udp_peer.port, "-t"))
    assert_no_loss(result, CLIENTS * MESSAGES)


def test_uclient_tcp_with_send_indications(turnd_factory, udp_peer):
    turnd = turnd_factory(RELAY_CONFIG)
    result = run_uclient(uclient_args(turnd.tcp[1], udp_peer.port, "-t", "-s"))
    assert_no_loss(result, CLIENTS * MESSAGES)


@pytest.mark.parametrize("mode", ["channels", "send-indications"])
def test_uclient_tls_verifies_the_self_signed_certificate(turnd_factory, udp_peer, mode):
    turnd = turnd_factory(RELAY_CONFIG, tls=True)
    # -S alone would be DTLS; -t -S is TLS over TCP. -E makes uclient verify
    # the server's chain against the certificate turnd generated.
    flags = ["-t", "-S", "-E", str(turnd.certificate)] + (["-s"] if mode == "send-indications" else [])
    # uclient takes each SSL_read() (one TLS record) as exactly one STUN
    # message, so it loses every message after the first that a server packs
    # into one TLS record. A server that writes each frame as its own record
    # passes at any rate; one client at uclient's default 20 ms pace keeps the
    # test from depending on that alone. Stream framing under bursts is also
    # tested with aioice (test_turn_aioice.py), which parses the byte stream.
    result = run_uclient(uclient_args(turnd.tls[1], udp_peer.port, *flags, clients=1, interval_ms=20))
    assert_no_loss(result, MESSAGES)


def test_uclient_tcp_relay_rfc6062(turnd_factory):
    # -T implies -t -y -c: pairs of clients exchange data through TCP relays.
    turnd = turnd_factory(RELAY_CONFIG)
    result = run_uclient(uclient_args(turnd.tcp[1], None, "-T", clients=2, messages=100))
    assert_no_loss(result, 2 * 100)


def test_uclient_client_to_client_over_udp_relays(turnd_factory):
    turnd = turnd_factory(RELAY_CONFIG)
    result = run_uclient(uclient_args(turnd.udp[1], None, "-y", clients=2, messages=100))
    assert_no_loss(result, 2 * 100)


def test_uclient_rest_api_credentials(turnd_factory, udp_peer):
    config = {**RELAY_CONFIG, "auth": {"rest": {"static_secrets": [REST_SECRET]}}}
    # No long-term user named "restuser" exists: only the shared secret can let it in.
    turnd = turnd_factory(config)
    args = uclient_args(turnd.udp[1], udp_peer.port, user=None) + ["-u", "restuser", "-W", REST_SECRET]
    result = run_uclient(args)
    assert_no_loss(result, CLIENTS * MESSAGES)
