"""slixmpp (Debian's python3-slixmpp) against the real xmppd: SASL over both
listeners, roster subscriptions, messages, offline storage across kill -9,
carbons, vCards and blocking."""

from __future__ import annotations

import asyncio

import pytest
from slixmpp.exceptions import IqError

from xmpp_helpers import ALICE, BOB, CAROL, HOST, online, run

A, B, C = f"alice@{HOST}", f"bob@{HOST}", f"carol@{HOST}"


def test_scram_sha256_login_over_starttls_and_message_exchange(xmppd_factory):
    d = xmppd_factory()

    async def scenario():
        alice = await online(d, ALICE, "laptop")
        bob = await online(d, BOB, "phone")
        for c in (alice, bob):
            assert c.mechanism() == "SCRAM-SHA-256"
            assert c.tls_version() == "TLSv1.3"
        alice.send_message(mto=B, mbody="hello bob", mtype="chat")
        msg = await bob.next_message()
        assert (msg["body"], str(msg["from"])) == ("hello bob", f"{A}/laptop")
        bob.send_message(mto=msg["from"], mbody="hi alice", mtype="chat")
        msg = await alice.next_message()
        assert (msg["body"], str(msg["from"]), str(msg["to"])) == ("hi alice", f"{B}/phone", f"{A}/laptop")
        await alice.close()
        await bob.close()

    run(scenario())
    assert d.mechanisms_used("alice") == ["SCRAM-SHA-256"], d.log()


def test_scram_sha256_plus_login_over_direct_tls(xmppd_factory):
    d = xmppd_factory()

    async def scenario():
        alice = await online(d, ALICE, "plus", direct=True, mech="SCRAM-SHA-256-PLUS")
        assert alice.mechanism() == "SCRAM-SHA-256-PLUS"
        assert alice.socket.selected_alpn_protocol() == "xmpp-client"
        bob = await online(d, BOB, "plain")
        alice.send_message(mto=B, mbody="bound to the channel", mtype="chat")
        assert (await bob.next_message())["body"] == "bound to the channel"
        await alice.close()
        await bob.close()

    run(scenario())
    assert d.mechanisms_used("alice") == ["SCRAM-SHA-256-PLUS"], d.log()


def test_scram_sha256_plus_with_wrong_channel_binding_is_refused(xmppd_factory):
    d = xmppd_factory()

    async def scenario():
        with pytest.raises(AssertionError, match="auth failed"):
            await online(d, ALICE, "mitm", direct=True, mech="SCRAM-SHA-256-PLUS", binding=b"\x00" * 32)

    run(scenario())
    assert d.mechanisms_used("alice") == []
    assert "authentication failed for alice" in d.log()


async def roster_item(client, jid: str) -> dict:
    """The roster item for `jid` as the server has it now: a roster get
    without a version, so the server sends the whole roster (RFC 6121 §2.1.3)."""
    iq = client.Iq()
    iq["type"] = "get"
    iq.enable("roster")
    iq = await iq.send(timeout=10)
    items = {str(k): dict(v) for k, v in iq["roster"]["items"].items()}
    assert jid in items, f"{jid} not in the roster: {iq}"
    return items[jid]


async def wait_for_presence(client, jid: str, ptype: str, timeout: float = 10):
    async def find():
        while True:
            p = await client.presences.get()
            if p["from"].bare == jid and p["type"] == ptype:
                return p
    return await asyncio.wait_for(find(), timeout)


def test_roster_subscription_both_ways_ends_in_both(xmppd_factory):
    d = xmppd_factory()

    async def scenario():
        alice = await online(d, ALICE, "a")
        bob = await online(d, BOB, "b")
        await alice.update_roster(B, name="Bob")
        assert (await roster_item(alice, B))["subscription"] == "none"
        alice.send_presence_subscription(pto=B)
        await wait_for_presence(bob, A, "subscribe")
        bob.send_presence(pto=A, ptype="subscribed")
        bob.send_presence_subscription(pto=A)
        await wait_for_presence(alice, B, "subscribed")
        await wait_for_presence(alice, B, "subscribe")
        alice.send_presence(pto=B, ptype="subscribed")
        await wait_for_presence(bob, A, "subscribed")
        await alice.ping()
        a_item, b_item = await roster_item(alice, B), await roster_item(bob, A)
        assert (a_item["subscription"], a_item["name"]) == ("both", "Bob"), a_item
        assert b_item["subscription"] == "both", b_item
        assert not a_item.get("pending_out") and not b_item.get("pending_out")
        # Now each gets the other's availability: bob comes back online.
        await bob.close()
        await wait_for_presence(alice, B, "unavailable")
        bob = await online(d, BOB, "b2")
        p = await wait_for_presence(alice, B, "available")
        assert str(p["from"]) == f"{B}/b2"
        await alice.close()
        await bob.close()

    run(scenario())
    # The roster is stored: it is still 'both' after a restart.
    assert d.stop() == 0
    d.start()

    async def after_restart():
        alice = await online(d, ALICE, "a")
        assert (await roster_item(alice, B))["subscription"] == "both"
        await alice.close()

    run(after_restart())


async def acked(client, msg_id: str, timeout: float = 10) -> None:
    """Wait until the server acknowledged (XEP-0198) the stanza with `msg_id`."""
    done = asyncio.get_event_loop().create_future()

    def on_ack(stanza):
        if stanza["id"] == msg_id and not done.done():
            done.set_result(True)

    client.add_event_handler("stanza_acked", on_ack)
    try:
        deadline = asyncio.get_event_loop().time() + timeout
        while not done.done():
            assert asyncio.get_event_loop().time() < deadline, f"{msg_id} never acknowledged"
            # The server answers with what it has handled so far: ask again.
            client["xep_0198"].request_ack()
            await asyncio.wait([done], timeout=0.2)
    finally:
        client.del_event_handler("stanza_acked", on_ack)


def test_offline_message_delivered_on_next_login_also_after_kill_9(xmppd_factory):
    d = xmppd_factory()

    async def first():
        alice = await online(d, ALICE, "a")
        alice.send_message(mto=B, mbody="while you were out", mtype="chat")
        await alice.ping()
        bob = await online(d, BOB, "b", plugins=("xep_0203",))
        msg = await bob.next_message()
        assert msg["body"] == "while you were out"
        assert msg["delay"]["stamp"] is not None, str(msg)  # XEP-0203: when it was stored
        await bob.close()
        await alice.close()

    async def store():
        alice = await online(d, ALICE, "a", plugins=("xep_0198",))
        msg = alice.make_message(mto=B, mbody="survives a crash", mtype="chat")
        msg["id"] = "crash-1"
        msg.send()
        # Acknowledged only once the database confirmed the write.
        await acked(alice, "crash-1")
        alice.abort()

    async def after_crash():
        bob = await online(d, BOB, "b")
        msg = await bob.next_message()
        assert (msg["body"], msg["from"].bare) == ("survives a crash", A)
        await bob.ping()
        assert bob.messages.empty(), "the first offline message came back"
        await bob.close()

    run(first())
    run(store())
    d.kill9()
    d.start()
    run(after_crash())


def test_carbons_copy_messages_to_a_second_resource(xmppd_factory):
    d = xmppd_factory()

    async def scenario():
        phone = await online(d, ALICE, "phone", plugins=("xep_0280",))
        laptop = await online(d, ALICE, "laptop", plugins=("xep_0280",))
        bob = await online(d, BOB, "b")
        await phone["xep_0280"].enable()
        await laptop["xep_0280"].enable()
        sent, received = asyncio.Queue(), asyncio.Queue()
        laptop.add_event_handler("carbon_sent", sent.put_nowait)
        laptop.add_event_handler("carbon_received", received.put_nowait)

        phone.send_message(mto=B, mbody="from my phone", mtype="chat")
        assert (await bob.next_message())["body"] == "from my phone"
        copy = (await asyncio.wait_for(sent.get(), 10))["carbon_sent"]
        assert (copy["body"], str(copy["from"]), copy["to"].bare) == ("from my phone", f"{A}/phone", B)

        bob.send_message(mto=f"{A}/phone", mbody="to your phone", mtype="chat")
        assert (await phone.next_message())["body"] == "to your phone"
        copy = (await asyncio.wait_for(received.get(), 10))["carbon_received"]
        assert (copy["body"], str(copy["to"])) == ("to your phone", f"{A}/phone")
        await laptop.ping()
        # The laptop got the carbon wrappers only (no body of their own).
        direct = []
        while not laptop.messages.empty():
            direct += [laptop.messages.get_nowait()["body"]]
        assert not any(direct), direct
        for c in (phone, laptop, bob):
            await c.close()

    run(scenario())


def test_vcard_round_trip(xmppd_factory):
    d = xmppd_factory()

    async def scenario():
        alice = await online(d, ALICE, "a", plugins=("xep_0054",))
        bob = await online(d, BOB, "b", plugins=("xep_0054",))
        vcard = alice["xep_0054"].make_vcard()
        vcard["FN"] = "Alice Liddell"
        vcard["NICKNAME"] = "alice"
        vcard["BDAY"] = "1852-05-04"
        await alice["xep_0054"].publish_vcard(vcard)
        for client in (alice, bob):
            iq = await client["xep_0054"].get_vcard(jid=A, cached=False, local=False)
            got = iq["vcard_temp"]
            assert (got["FN"], got["NICKNAME"], str(got["BDAY"])) == (
                "Alice Liddell", ["alice"], "1852-05-04"), str(iq)
        # No such account: the server answers for it (RFC 6121 §8.5.1).
        with pytest.raises(IqError) as err:
            await bob["xep_0054"].get_vcard(jid=C, cached=False, local=False)
        assert err.value.condition == "service-unavailable"
        await alice.close()
        await bob.close()

    run(scenario())


def test_blocked_contact_message_is_not_delivered(xmppd_factory):
    d = xmppd_factory(accounts=(ALICE, BOB, CAROL))

    async def scenario():
        alice = await online(d, ALICE, "a")
        bob = await online(d, BOB, "b", plugins=("xep_0191",))
        carol = await online(d, CAROL, "c")
        await bob["xep_0191"].block(A)
        blocked = await bob["xep_0191"].get_blocked()
        assert [j.bare for j in blocked["blocklist"]["items"]] == [A]
        alice.send_message(mto=B, mbody="you blocked me", mtype="chat")
        error = await asyncio.wait_for(alice.errors.get(), 10)
        assert error["error"]["condition"] == "service-unavailable"
        carol.send_message(mto=B, mbody="carol is not blocked", mtype="chat")
        assert (await bob.next_message())["body"] == "carol is not blocked"
        await bob["xep_0191"].unblock(A)
        alice.send_message(mto=B, mbody="unblocked now", mtype="chat")
        assert (await bob.next_message())["body"] == "unblocked now"
        await bob.ping()
        assert bob.messages.empty()
        for c in (alice, bob, carol):
            await c.close()

    run(scenario())


def test_legacy_bookmarks_in_private_storage_reach_another_resource(xmppd_factory):
    """XEP-0048 bookmarks kept in XEP-0049 private XML storage, as older
    clients do: stored from one resource, read back from another, and
    private to their owner."""
    d = xmppd_factory()

    async def scenario():
        plugins = ("xep_0048", "xep_0049")
        laptop = await online(d, ALICE, "laptop", plugins=plugins)
        phone = await online(d, ALICE, "phone", plugins=plugins)
        bob = await online(d, BOB, "b", plugins=plugins)
        from slixmpp.plugins.xep_0048.stanza import Bookmarks

        marks = Bookmarks()
        marks.add_conference("lobby@conference.localhost", "alice", name="Lobby", autojoin=True)
        marks.add_url("https://falcot.com/", name="Falcot")
        await laptop["xep_0048"].set_bookmarks(marks, method="xep_0049")
        iq = await phone["xep_0048"].get_bookmarks(method="xep_0049")
        got = iq["private"]["bookmarks"]
        confs = [(str(c["jid"]), c["nick"], c["autojoin"]) for c in got["conferences"]]
        assert confs == [("lobby@conference.localhost", "alice", True)], str(iq)
        assert [u["url"] for u in got["urls"]] == ["https://falcot.com/"], str(iq)
        # Another account sees its own (empty) storage, never alice's.
        iq = await bob["xep_0048"].get_bookmarks(method="xep_0049")
        assert list(iq["private"]["bookmarks"]["conferences"]) == [], str(iq)
        for c in (laptop, phone, bob):
            await c.close()

    run(scenario())
