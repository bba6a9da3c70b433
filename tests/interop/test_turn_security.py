"""Secure-by-default behaviour of turnd, driven by our own STUN/TURN client
(stunclient.py) and, for the crash test, by coturn's tools.

- Under the DEFAULT peer policy (no `peers:` section), relaying to loopback,
  unspecified, private, link-local, shared-address and multicast peers is
  refused with 403, for IPv4, IPv6 and IPv4-mapped forms. The allocation is
  dual-stack (ADDITIONAL-ADDRESS-FAMILY, relay on 127.0.0.1 and ::1) so that
  an IPv6 peer is a real policy decision (403), not a family mismatch (443).
- Requests without credentials get 401 with REALM and NONCE, and nothing else.
- Wrong passwords are throttled per source IP (turnd/src/core/auth.rs).
- Expired TURN REST credentials are refused.
- Users, administrators and REST secrets added with turnadmin while turnd
  runs survive `kill -9` of turnd.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import stunclient as stun
from helpers import ALICE, LOOPBACK_PEERS, REALM, assert_no_loss, run_uclient
from stunclient import TurnClient

# turnd's default auth.failure_limit is { burst: 10, per_second: 0.1 }
# (turnd/src/core/config.rs): ten wrong credentials from one IP, then requests
# carrying credentials from that IP are dropped unanswered (auth.rs, step 2).
DEFAULT_FAILURE_BURST = 10

DUAL_STACK_RELAY = {"relay": {"addresses": ["127.0.0.1", "::1"]}}

# Peers a relay must refuse by default, and why.
REFUSED_PEERS = {
    "127.0.0.1": "IPv4 loopback",
    "::1": "IPv6 loopback",
    "::ffff:127.0.0.1": "IPv4-mapped loopback",
    "0.0.0.0": "IPv4 unspecified (reaches this host on Linux)",
    "::": "IPv6 unspecified (reaches this host on Linux)",
    "10.0.0.1": "RFC 1918 private",
    "169.254.1.1": "IPv4 link-local",
    "100.64.0.1": "RFC 6598 shared address space",
    "224.0.0.1": "multicast",
}

# Public addresses a relay may reach: CreatePermission sends nothing, so
# these prove the 403s above are a policy, not a blanket refusal.
PUBLIC_PEERS = [("1.1.1.1", 3478), ("2606:4700:4700::1111", 3478)]


def allocate(server, user=ALICE, **kwargs) -> TurnClient:
    client = TurnClient(server, user[0], user[1], **kwargs)
    reply = client.allocate()
    assert reply is not None, "no answer to Allocate"
    assert reply.cls == stun.SUCCESS, f"Allocate failed: {reply.describe()}"
    return client


def dual_stack_allocation(turnd) -> TurnClient:
    client = TurnClient(turnd.udp, *ALICE)
    reply = client.allocate(additional=stun.FAMILY_IPV6)
    assert reply is not None and reply.cls == stun.SUCCESS, reply and reply.describe()
    relayed = {ip for ip, _ in reply.xor_addresses(stun.XOR_RELAYED_ADDRESS)}
    assert relayed == {"127.0.0.1", "::1"}, f"expected an IPv4 and an IPv6 relayed address, got {relayed}"
    return client


def wildcard_listener() -> socket.socket:
    """A UDP socket on [::] (dual-stack): receives whatever reaches this host."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", 0))
    sock.settimeout(1.0)
    return sock


@pytest.mark.parametrize("peer", list(REFUSED_PEERS), ids=[f"{p} {why}" for p, why in REFUSED_PEERS.items()])
def test_default_policy_refuses_peer(turnd_factory, peer):
    turnd = turnd_factory(DUAL_STACK_RELAY)  # no `peers:` section: the shipped default
    client = dual_stack_allocation(turnd)
    listener = wildcard_listener()
    port = listener.getsockname()[1]
    try:
        reply = client.create_permission((peer, port))
        assert reply is not None, "no answer to CreatePermission"
        assert reply.error_code() == 403, f"CreatePermission {peer}: {reply.describe()}"

        reply = client.channel_bind(0x4000, (peer, port))
        assert reply is not None and reply.error_code() == 403, f"ChannelBind {peer}: {reply and reply.describe()}"

        # Nothing reaches this host through the relay either.
        client.send_indication((peer, port), b"must not be relayed")
        with pytest.raises(socket.timeout):
            data, source = listener.recvfrom(2000)
            pytest.fail(f"{peer}: relay delivered {data!r} from {source}")

        for public in PUBLIC_PEERS:
            reply = client.create_permission(public)
            assert reply is not None and reply.cls == stun.SUCCESS, f"{public}: {reply and reply.describe()}"
    finally:
        listener.close()
        client.close()


def test_ipv6_peer_on_an_ipv4_only_allocation_is_a_family_mismatch(turnd_factory):
    turnd = turnd_factory(DUAL_STACK_RELAY)
    client = allocate(turnd.udp)
    reply = client.create_permission(("2606:4700:4700::1111", 3478))
    assert reply is not None and reply.error_code() == 443, reply and reply.describe()


def test_peers_allow_opens_only_the_listed_range(turnd_factory):
    turnd = turnd_factory({**DUAL_STACK_RELAY, **LOOPBACK_PEERS})
    client = dual_stack_allocation(turnd)
    assert client.create_permission(("127.0.0.1", 9)).cls == stun.SUCCESS
    for peer in ("127.0.0.2", "::1", "10.0.0.1"):
        reply = client.create_permission((peer, 9))
        assert reply.error_code() == 403, f"{peer}: {reply.describe()}"


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_unauthenticated_allocate_gets_401_with_realm_and_nonce(turnd_factory, proto):
    turnd = turnd_factory()
    client = TurnClient(turnd.listeners[proto], proto=proto)
    reply = client.request(stun.ALLOCATE, [(stun.REQUESTED_TRANSPORT, struct.pack("!B3x", stun.UDP))],
                           authenticate=False)
    assert reply is not None, "no answer to an unauthenticated Allocate"
    assert reply.cls == stun.ERROR and reply.error_code() == 401, reply.describe()
    assert reply.text(stun.REALM) == REALM, reply.describe()
    nonce = reply.get(stun.NONCE)
    assert nonce, "401 without NONCE"
    assert not reply.has(stun.XOR_RELAYED_ADDRESS), "a relayed address was handed out without credentials"
    assert not reply.has(stun.MESSAGE_INTEGRITY) and not reply.has(stun.MESSAGE_INTEGRITY_SHA256)
    assert stun.fingerprint_ok(client.last_raw), "FINGERPRINT missing or wrong on the 401"
    client.close()


@pytest.mark.parametrize("algorithm", [stun.ALG_MD5, stun.ALG_SHA256], ids=["md5", "sha256"])
def test_allocate_with_long_term_credentials_is_signed(turnd_factory, algorithm):
    turnd = turnd_factory()
    client = TurnClient(turnd.udp, *ALICE, algorithm=algorithm)
    reply = client.allocate()
    assert reply is not None and reply.cls == stun.SUCCESS, reply and reply.describe()
    assert stun.integrity_ok(client.last_raw, client.key), "response integrity does not verify"
    assert client.refresh(0).cls == stun.SUCCESS
    client.close()


def exhaust_failure_budget(turnd) -> TurnClient:
    """Ten wrong passwords from one socket of 127.0.0.1, each answered 401."""
    attacker = TurnClient(turnd.udp, ALICE[0], "guess", local=("127.0.0.1", 0))
    for attempt in range(DEFAULT_FAILURE_BURST):
        attacker.password = f"guess-{attempt}"
        attacker.key = stun.long_term_key(ALICE[0], REALM, attacker.password) if attacker.realm else None
        reply = attacker.allocate(timeout=3)
        assert reply is not None, f"wrong password {attempt + 1} got no answer (expected 401)"
        assert reply.error_code() == 401, f"wrong password {attempt + 1}: {reply.describe()}"
    attacker.password = ALICE[1]
    attacker.key = stun.long_term_key(ALICE[0], REALM, ALICE[1])
    return attacker


def test_wrong_passwords_are_throttled_per_source_ip(turnd_factory):
    turnd = turnd_factory()
    attacker = exhaust_failure_budget(turnd)
    # The budget is spent: even the right password gets no answer...
    reply = attacker.allocate(timeout=2)
    assert reply is None, f"right password after {DEFAULT_FAILURE_BURST} failures was answered: {reply.describe()}"
    # ...while unauthenticated STUN from that IP is still served,
    assert attacker.binding() is not None, "Binding from the throttled IP is not answered"
    # and another source IP is not affected.
    allocate(turnd.udp, local=("127.0.0.2", 0)).close()
    attacker.close()


def test_throttling_covers_every_port_of_the_source_ip(turnd_factory):
    # Several workers, so that new source ports are spread over them by SO_REUSEPORT:
    # the documented policy is per source IP, whichever worker a 5-tuple lands on.
    turnd = turnd_factory({"workers": 4})
    attacker = exhaust_failure_budget(turnd)

    def try_new_port(_) -> tuple[str, int] | None:
        with TurnClient(turnd.udp, *ALICE, local=("127.0.0.1", 0)) as other:
            reply = other.allocate(timeout=2)
            return other.transport.local if reply is not None and reply.cls == stun.SUCCESS else None

    # Eight new sockets at once (each waits up to 2 s for an answer that should not come).
    with ThreadPoolExecutor(max_workers=8) as pool:
        allocated = [a for a in pool.map(try_new_port, range(8)) if a is not None]
    assert not allocated, (
        f"after {DEFAULT_FAILURE_BURST} wrong passwords from 127.0.0.1, new source ports of the same IP "
        f"still authenticated: {allocated}")
    attacker.close()


def rest_credentials(secret: str, user: str, expires: int) -> tuple[str, str]:
    """TURN REST API: username `expiry:user`, password base64(HMAC-SHA1(secret, username))."""
    username = f"{expires}:{user}"
    password = base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
    return username, password


def test_rest_credentials_expire(turnd_factory):
    secret = "rest-secret-for-expiry"
    turnd = turnd_factory({"auth": {"rest": {"static_secrets": [secret]}}}, users=())
    now = int(time.time())

    expired = TurnClient(turnd.udp, *rest_credentials(secret, "carol", now - 60))
    reply = expired.allocate()
    assert reply is not None and reply.error_code() == 401, f"expired REST name: {reply and reply.describe()}"

    forged = TurnClient(turnd.udp, *rest_credentials("some-other-secret", "carol", now + 600))
    reply = forged.allocate()
    assert reply is not None and reply.error_code() == 401, f"wrong REST secret: {reply and reply.describe()}"

    valid = TurnClient(turnd.udp, *rest_credentials(secret, "carol", now + 600), local=("127.0.0.2", 0))
    reply = valid.allocate()
    assert reply is not None and reply.cls == stun.SUCCESS, f"valid REST name: {reply and reply.describe()}"
    for c in (expired, forged, valid):
        c.close()


def test_users_admins_and_secrets_survive_kill_9(turnd_factory, udp_peer):
    db_secret = "secret-in-the-database"
    config = {**LOOPBACK_PEERS, "allocation": {"user_quota": 100},
              "auth": {"rest": {"database_secrets": True}}}
    turnd = turnd_factory(config)

    # Added with the real turnadmin while turnd is serving.
    turnd.add_user("bob", "bob-secret")
    turnd.turnadmin("-A", "-u", "admin1", "-p", "admin-secret")
    turnd.turnadmin("-s", db_secret, "-r", REALM)
    allocate(turnd.udp, ("bob", "bob-secret")).close()
    allocate(turnd.udp, rest_credentials(db_secret, "dave", int(time.time()) + 600)).close()

    turnd.kill9()
    turnd.start()

    # Both kinds of credentials still work through coturn's client.
    common = ["-p", str(turnd.udp[1]), "-e", "127.0.0.1", "-r", str(udp_peer.port),
              "-m", "2", "-l", "170", "-n", "50", "-z", "5", "-X", "-g", "-c"]
    assert_no_loss(run_uclient(common + ["-u", "bob", "-w", "bob-secret"]), 100)
    assert_no_loss(run_uclient(common + ["-u", "dave", "-W", db_secret]), 100)

    users = turnd.turnadmin("-l").stdout
    assert f"{REALM}\tbob" in users and f"{REALM}\talice" in users, users
    assert "admin1" in turnd.turnadmin("-L").stdout
    assert db_secret in turnd.turnadmin("-S").stdout
