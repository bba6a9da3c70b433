"""sipd's secure WebSocket listener (RFC 7118) with WebSocket clients:

- JsSIP (npm `jssip`, with npm `ws` as Node 20's missing WebSocket) registers
  with digest authentication and unregisters; sipctl shows the binding on
  the WSS listener in between.
- JsSIP cannot place or take calls in Node (it needs a browser's
  RTCPeerConnection), so the calls use `WsUa`, a minimal SIP UA over Debian's
  python3-websockets: a call from the WSS user to a sipp callee on UDP, and
  a call from a sipp caller on UDP to the WSS user, each INVITE/ACK/BYE
  through the record-routing proxy (sipd reaches the WSS user over its
  connection, with a flow token in the Record-Route).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess

import pytest

from sip_helpers import (ALICE, BOB, CAROL, DOMAIN, NODE_DIR, Sipp, assert_all_calls_ok, register_udp, status_of,
                         wait_for)
from sip_peers import WsUa


def node_client() -> tuple[str, str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: apt-get install nodejs", pytrace=False)
    if not (NODE_DIR / "node_modules" / "jssip").is_dir() or not (NODE_DIR / "node_modules" / "ws").is_dir():
        pytest.fail(f"JsSIP is missing: npm install --prefix {NODE_DIR} jssip ws", pytrace=False)
    return node, str(NODE_DIR / "jssip_register.js")


def wss_url(sipd) -> str:
    return f"wss://localhost:{sipd.addr('wss')[1]}/"


def test_jssip_registers_over_wss_and_unregisters(sipd_factory):
    sipd = sipd_factory(users=(CAROL,))
    node, script = node_client()
    proc = subprocess.Popen([node, script, wss_url(sipd), f"sip:{CAROL[0]}@{DOMAIN}", CAROL[1]], cwd=NODE_DIR,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "NODE_EXTRA_CA_CERTS": str(sipd.cert)})
    try:
        first = proc.stdout.readline().strip()
        assert first == "registered 200", f"{first}\n{proc.stdout.read() if proc.poll() is not None else ''}"
        bindings = sipd.bindings(f"carol@{DOMAIN}")
        assert len(bindings) == 1 and "socket=wss:" in bindings[0] and "transport=ws" in bindings[0], bindings
        proc.stdin.close()
        proc.wait(timeout=15)
        rest = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "unregistered 200" in rest, rest
    assert sipd.bindings(f"carol@{DOMAIN}") == []


def test_calls_to_and_from_a_wss_user_connect_with_udp_users(sipd_factory, tmp_path):
    sipd = sipd_factory({"auth": {"algorithms": ["MD5"]}}, users=(ALICE, BOB, CAROL))
    bob = Sipp(tmp_path / "sipp", "bob-uas", "uas.xml", None, ["-m", "1", "-timeout", "30s", "-timeout_error"])
    alice = Sipp(tmp_path / "sipp", "alice-uac", "uac_auth.xml", sipd.addr("udp"),
                 ["-s", "carol", "-au", ALICE[0], "-ap", ALICE[1], "-auth_uri", f"carol@{DOMAIN}",
                  "-m", "1", "-timeout", "30s", "-timeout_error"])
    register_udp(sipd.addr("udp"), *BOB, port=bob.port)
    register_udp(sipd.addr("udp"), *ALICE, port=alice.port)

    async def scenario():
        ua = WsUa(wss_url(sipd), sipd.cert, *CAROL)
        await ua.connect()
        try:
            assert status_of(await ua.register()) == 200
            wait_for(lambda: "socket=wss:" in "".join(sipd.bindings(f"carol@{DOMAIN}")), 5)
            # WSS -> UDP: carol calls bob.
            bob.start()
            out = await ua.call("bob")
            bob_result = await asyncio.to_thread(bob.wait, 15)
            # UDP -> WSS: alice calls carol.
            alice.start()
            seen = await ua.answer()
            alice_result = await asyncio.to_thread(alice.wait, 15)
            return out, bob_result, seen, alice_result
        finally:
            await ua.close()
            bob.stop()
            alice.stop()

    out, bob_result, seen, alice_result = asyncio.run(scenario())
    assert out == [407, 200, 200], f"carol's call to bob: final statuses {out}"
    assert_all_calls_ok(bob_result, 1)
    assert seen == ["INVITE", "ACK", "BYE"], f"carol received {seen}"
    assert_all_calls_ok(alice_result, 1)
