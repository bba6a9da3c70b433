"""Federation: the real xmppd and Debian's Prosody 0.12 on loopback, each
with a slixmpp user, exchanging messages and presence subscriptions in
both directions; authenticated by certificates from a test CA (SASL
EXTERNAL, XEP-0178) or by dialback (XEP-0220); and a peer with an
untrusted certificate refused when xmppd's policy requires valid ones."""

from __future__ import annotations

import asyncio
import re

import pytest

from helpers import free_port
from prosody_helpers import Prosody, CertAuthority
from xmpp_helpers import Client, run

XD, PD = "xmppd.test", "prosody.test"
ALICE = (f"alice@{XD}", "alice-secret")
BOB = (f"bob@{PD}", "bob-secret")


class Federation:
    """xmppd serving xmppd.test and Prosody serving prosody.test, routed to each other."""

    def __init__(self, tmp_path, xmppd_factory, *, xmppd_self_signed: bool, prosody_self_signed: bool,
                 policy: str = "allow_dialback", prosody_secure_auth: bool = False, bidi: bool = False,
                 direct_tls: bool = False):
        self.ca = CertAuthority(tmp_path / "ca")
        # xmppd's certificate carries clientAuth too: Prosody (OpenSSL) checks
        # the purpose of the certificate an outgoing server presents. Prosody's
        # is serverAuth-only, as Let's Encrypt issues them since 2026.
        self.xcert, xkey = self.ca.issue(XD, tmp_path / "xcert", client_auth=True, self_signed=xmppd_self_signed)
        self.pcert, pkey = self.ca.issue(PD, tmp_path / "pcert", client_auth=False, self_signed=prosody_self_signed)
        self.prosody = Prosody(tmp_path / "prosody", PD, self.pcert, pkey, self.ca.path, prosody_secure_auth, bidi)
        self.xmppd = xmppd_factory(config={
            "log": "info,xmppd=debug",
            "listeners": [{"kind": "c2s", "addr": "127.0.0.1:0"}, {"kind": "s2s", "addr": "127.0.0.1:0"},
                          {"kind": "s2s_tls", "addr": "127.0.0.1:0"}],
            "hosts": [{"domain": XD, "tls": {"cert": str(self.xcert), "key": str(xkey)}}],
            "s2s": {
                "hosts": {PD: f"tls://127.0.0.1:{self.prosody.s2s_tls_port}" if direct_tls
                          else f"127.0.0.1:{self.prosody.s2s_port}"},
                "ca_file": str(self.ca.path),
                "system_roots": False,
                "direct_tls": False,
                "default_policy": policy,
                "connect_timeout_seconds": 10,
            },
        }, accounts=(), start=False)
        self.xmppd.ctl("register", "alice", XD, ALICE[1])
        self.xmppd.start()
        route = self.xmppd.addrs["s2s"]
        if direct_tls:
            route = (*route, self.xmppd.addrs["s2s-tls"][1])
        self.prosody.configure({XD: route})
        self.prosody.register("bob", BOB[1])
        self.prosody.start()

    def trust(self, side: str):
        """The file a client of `side` trusts for its server's certificate."""
        if side == "xmppd":
            return self.xcert if self.xcert.read_text().count("BEGIN") and self._self_signed(self.xcert) else self.ca.path
        return self.pcert if self._self_signed(self.pcert) else self.ca.path

    @staticmethod
    def _self_signed(path) -> bool:
        from cryptography import x509
        c = x509.load_pem_x509_certificate(path.read_bytes())
        return c.issuer == c.subject

    async def alice(self) -> Client:
        return await login(ALICE, "alice-laptop", self.trust("xmppd"), ("127.0.0.1", self.xmppd.c2s[1]), "SCRAM-SHA-256")

    async def bob(self) -> Client:
        return await login(BOB, "bob-phone", self.trust("prosody"), ("127.0.0.1", self.prosody.c2s_port), "SCRAM-SHA-1")

    def report(self) -> str:
        return f"{self.xmppd.report()}\n==== prosody\n{self.prosody.report()}"

    def close(self) -> None:
        self.prosody.stop()


async def login(account, resource, trust, addr, mech) -> Client:
    jid, password = account
    c = Client(f"{jid}/{resource}", password, trust, mech)
    c.connect(addr, force_starttls=True)
    try:
        await asyncio.wait_for(c.ready, 15)
    except BaseException:
        c.abort()
        raise
    return c


async def presence_from(c: Client, ptype: str, bare: str, timeout: float = 15):
    """The next presence of type `ptype` ('available' for none) from `bare`."""
    async def find():
        while True:
            p = await c.presences.get()
            if p["type"] == ptype and p["from"].bare == bare:
                return p
    return await asyncio.wait_for(find(), timeout)


async def exchange_and_subscribe(f: Federation) -> None:
    alice = await f.alice()
    bob = await f.bob()
    # Messages both ways.
    alice.send_message(mto=BOB[0], mbody="hello from xmppd", mtype="chat")
    msg = await bob.next_message(20)
    assert (msg["body"], str(msg["from"])) == ("hello from xmppd", f"{ALICE[0]}/alice-laptop")
    bob.send_message(mto=msg["from"], mbody="hello from prosody", mtype="chat")
    msg = await alice.next_message(20)
    assert (msg["body"], str(msg["from"])) == ("hello from prosody", f"{BOB[0]}/bob-phone")
    # alice subscribes to bob: request, approval, then bob's presence reaches her.
    alice.send_presence(pto=BOB[0], ptype="subscribe")
    await presence_from(bob, "subscribe", ALICE[0])
    bob.send_presence(pto=ALICE[0], ptype="subscribed")
    await presence_from(alice, "subscribed", BOB[0])
    await presence_from(alice, "available", BOB[0])
    # bob subscribes to alice.
    bob.send_presence(pto=ALICE[0], ptype="subscribe")
    await presence_from(alice, "subscribe", BOB[0])
    alice.send_presence(pto=BOB[0], ptype="subscribed")
    await presence_from(bob, "subscribed", ALICE[0])
    await presence_from(bob, "available", ALICE[0])
    # Both rosters now say "both"; a status change is broadcast across.
    bob.send_presence(pstatus="busy", pshow="dnd")
    p = await presence_from(alice, "dnd", BOB[0])
    assert p["status"] == "busy"
    await alice.close()
    await bob.close()


def auth_methods(log: str) -> list[str]:
    return re.findall(r's2s authenticated.*?method="?([A-Za-z+]+)', log)


def test_federation_with_prosody_authenticated_by_certificates_sasl_external(tmp_path, xmppd_factory):
    f = Federation(tmp_path, xmppd_factory, xmppd_self_signed=False, prosody_self_signed=False,
                   policy="require_valid_certificates", prosody_secure_auth=True)
    try:
        run(exchange_and_subscribe(f))
        methods = auth_methods(f.xmppd.log())
        # Our stream to Prosody and Prosody's stream to us both used SASL EXTERNAL.
        assert methods.count("EXTERNAL") >= 2 and "dialback" not in methods, f.report()
        assert re.search(r"s2s_external|EXTERNAL", f.prosody.log()), f.report()
    except BaseException:
        print(f.report())
        raise
    finally:
        f.close()


def test_bidirectional_stream_with_prosody_carries_both_directions_on_one_connection(tmp_path, xmppd_factory):
    f = Federation(tmp_path, xmppd_factory, xmppd_self_signed=False, prosody_self_signed=False,
                   policy="require_valid_certificates", prosody_secure_auth=True, bidi=True)
    try:
        run(exchange_and_subscribe(f))
        log = f.xmppd.log()
        # XEP-0288: xmppd connected once, Prosody answered on that stream and
        # never opened its own connection to xmppd.
        assert log.count("s2s connecting") == 1, f.report()
        assert auth_methods(log) == ["EXTERNAL"], f.report()
        assert "Requested bidirectional stream" in f.prosody.log(), f.report()
    except BaseException:
        print(f.report())
        raise
    finally:
        f.close()


def test_direct_tls_federation_with_prosody_both_ways(tmp_path, xmppd_factory):
    f = Federation(tmp_path, xmppd_factory, xmppd_self_signed=False, prosody_self_signed=False,
                   policy="require_valid_certificates", prosody_secure_auth=True, direct_tls=True)
    try:
        run(exchange_and_subscribe(f))
        log = f.xmppd.log()
        # XEP-0368 both ways: xmppd dialled Prosody's direct-TLS port, and
        # Prosody dialled xmppd's s2s_tls listener (ALPN xmpp-server).
        assert re.search(r"s2s connected .*direct_tls=true", log), f.report()
        assert "static direct-TLS s2s route" in f.prosody.log(), f.report()
        assert auth_methods(log).count("EXTERNAL") >= 2, f.report()
    except BaseException:
        print(f.report())
        raise
    finally:
        f.close()


def test_federation_with_prosody_authenticated_by_dialback(tmp_path, xmppd_factory):
    f = Federation(tmp_path, xmppd_factory, xmppd_self_signed=True, prosody_self_signed=True)

    async def probe_after_login():
        # alice logs in again: xmppd probes her contact bob across the
        # federation (RFC 6121 §4.3) and Prosody answers with bob's presence.
        bob = await f.bob()
        alice = await f.alice()
        p = await presence_from(alice, "available", BOB[0])
        assert str(p["from"]) == f"{BOB[0]}/bob-phone"
        await bob.close()
        await presence_from(alice, "unavailable", BOB[0])
        await alice.close()

    try:
        run(exchange_and_subscribe(f))
        run(probe_after_login())
        methods = auth_methods(f.xmppd.log())
        # Both directions: our key verified by Prosody, and Prosody's by us.
        assert methods.count("dialback") >= 2 and "EXTERNAL" not in methods, f.report()
    except BaseException:
        print(f.report())
        raise
    finally:
        f.close()


def test_peer_with_untrusted_certificate_is_refused_when_policy_requires_valid_certificates(tmp_path, xmppd_factory):
    f = Federation(tmp_path, xmppd_factory, xmppd_self_signed=False, prosody_self_signed=True,
                   policy="require_valid_certificates")

    async def scenario():
        alice = await f.alice()
        bob = await f.bob()
        alice.send_message(mto=BOB[0], mbody="must not arrive", mtype="chat")
        err = await asyncio.wait_for(alice.errors.get(), 20)
        assert err["error"]["condition"] == "remote-server-not-found"
        bob.send_message(mto=ALICE[0], mbody="must not arrive either", mtype="chat")
        err = await asyncio.wait_for(bob.errors.get(), 30)
        assert err["type"] == "error"
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(alice.messages.get(), 1)
        assert bob.messages.empty()
        await alice.close()
        await bob.close()

    try:
        run(scenario())
        assert "s2s authentication refused" in f.xmppd.log(), f.report()
        assert "s2s authenticated" not in f.xmppd.log(), f.report()
    except BaseException:
        print(f.report())
        raise
    finally:
        f.close()
