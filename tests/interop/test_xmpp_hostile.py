"""Hostile clients (raw sockets, plain and TLS) against the real xmppd while a
well-behaved slixmpp session on the same server keeps working: messages are
exchanged before and after each attack and must be delivered."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re

from xmpp_helpers import ALICE, BOB, HOST, NS_STREAMS, STREAM_HEADER, RawStream, online, run

HEADER_SECONDS = 2
CONFIG = {"transport": {"stream_header_seconds": HEADER_SECONDS}}
ATTACKER = "127.0.0.2"  # another source address on the loopback


def under_attack(d, attack):
    """Run the blocking `attack()` in a thread between two message exchanges
    of alice and bob; returns what `attack` returned."""
    async def exchange(alice, bob, text):
        alice.send_message(mto=f"bob@{HOST}", mbody=text, mtype="chat")
        got = await bob.next_message()
        assert (got["body"], got["from"].bare) == (text, f"alice@{HOST}")
        bob.send_message(mto=got["from"], mbody="re: " + text, mtype="chat")
        assert (await alice.next_message())["body"] == "re: " + text

    async def scenario():
        alice = await online(d, ALICE, "a")
        bob = await online(d, BOB, "b")
        await exchange(alice, bob, "before the attack")
        result = await asyncio.to_thread(attack)
        await exchange(alice, bob, "after the attack")
        await alice.close()
        await bob.close()
        return result

    return run(scenario())


def stream_error(text: str) -> str:
    assert "<stream:error>" in text and NS_STREAMS in text, text
    assert text.rstrip().endswith("</stream:stream>"), text
    return text


def test_bad_xml_gets_not_well_formed_stream_error(xmppd_factory):
    d = xmppd_factory(CONFIG)

    def attack():
        out = []
        for direct in (False, True):
            s = RawStream(d.c2s_tls if direct else d.c2s, d.cert, direct_tls=direct)
            s.send(STREAM_HEADER)
            s.read_until("</stream:features>")
            s.send("<message><body>unbalanced</message>")
            out.append(s.read_to_close(timeout=10)[0])
            s.close()
        return out

    for text in under_attack(d, attack):
        assert "<not-well-formed" in stream_error(text), text


def test_oversized_stanza_before_authentication_gets_policy_violation(xmppd_factory):
    d = xmppd_factory(CONFIG)

    def attack():
        s = RawStream(d.c2s, d.cert)
        s.send(STREAM_HEADER)
        s.read_until("</stream:features>")
        # 12,000 bytes: more than the 10,000 allowed before authentication.
        s.send("<message to='bob@localhost'><body>" + "A" * 12_000 + "</body></message>")
        text = s.read_to_close(timeout=10)[0]
        s.close()
        return text

    assert "<policy-violation" in stream_error(under_attack(d, attack))


def test_authentication_brute_force_is_throttled_per_source(xmppd_factory):
    d = xmppd_factory(CONFIG)

    def attack():
        replies = []
        for _ in range(3):
            s = RawStream(d.c2s, d.cert, source=ATTACKER)
            s.starttls()
            s.send(STREAM_HEADER)
            s.read_until("</stream:features>")
            for i in range(3):  # auth_attempts_per_connection
                replies.append(s.plain_auth("alice", f"guess-{len(replies)}"))
            # Then the stream is closed (the error may come with the last reply).
            assert "<policy-violation" in replies[-1] + s.read_to_close(timeout=10)[0]
            s.close()
        # The right password from the attacking address is refused too now.
        s = RawStream(d.c2s, d.cert, source=ATTACKER)
        s.starttls()
        s.send(STREAM_HEADER)
        s.read_until("</stream:features>")
        right = s.plain_auth(*ALICE)
        s.close()
        return replies, right

    replies, right = under_attack(d, attack)
    assert all("<not-authorized" in r for r in replies), replies
    throttled = [r for r in replies if "Too many failed authentication attempts" in r]
    # The default budget is a burst of 5 failures per source address.
    assert len(throttled) >= len(replies) - 5 > 0, replies
    assert "Too many failed authentication attempts" in right and "<success" not in right, right
    # One fail2ban line per attempt (throttled ones name no user: not parsed).
    failures = [l for l in d.log().splitlines() if re.search(rf"authentication failed for \S+ from {ATTACKER}\b", l)]
    assert len(failures) == len(replies) + 1, d.log()

    # Another address is not affected: a new login from 127.0.0.1 works.
    async def newcomer():
        alice = await online(d, ALICE, "again")
        await alice.ping()
        await alice.close()

    run(newcomer())


def test_slowloris_clients_are_dropped_by_the_stream_header_timeout(xmppd_factory):
    d = xmppd_factory(CONFIG)

    def stall(addr, direct, first_bytes):
        s = RawStream(addr, d.cert, direct_tls=direct)
        if first_bytes:
            s.send(first_bytes)
        try:
            return s.read_to_close(timeout=HEADER_SECONDS + 6)[1]
        finally:
            s.close()

    def attack():
        cases = [
            (d.c2s, False, b""),                                      # connects, says nothing
            (d.c2s, False, b"<?xml version='1.0'?><stream:str"),      # starts the header, stalls
            (d.c2s_tls, True, b"<stream:stream xmlns='jabber:client"),  # same inside TLS
        ]
        with concurrent.futures.ThreadPoolExecutor(len(cases)) as pool:
            return list(pool.map(lambda c: stall(*c), cases))

    for took in under_attack(d, attack):
        # Dropped after the 2 s header timer, long before the 60 s
        # negotiation timeout.
        assert HEADER_SECONDS - 0.5 <= took < HEADER_SECONDS + 3, took
