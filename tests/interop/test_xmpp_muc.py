"""Multi-user chat (XEP-0045 with XEP-0249, XEP-0313 on rooms, XEP-0410) and
XEP-0114 external components, driven by Debian's python3-slixmpp against the
real xmppd: slixmpp's xep_0045/xep_0249/xep_0313 plugins as clients and
slixmpp.ComponentXMPP as an external component."""

from __future__ import annotations

import asyncio
import time

import pytest
import slixmpp
from slixmpp.exceptions import IqError, PresenceError

from xmpp_helpers import ALICE, BOB, CAROL, HOST, online, run

A, B = f"alice@{HOST}", f"bob@{HOST}"
MUC = f"conference.{HOST}"
BOT = f"bot.{HOST}"
SECRET = "component-secret"
PLUGINS = ("xep_0045", "xep_0249", "xep_0313", "xep_0059")

CONFIG = {
    "listeners": [{"kind": "c2s", "addr": "127.0.0.1:0"}, {"kind": "c2s_tls", "addr": "127.0.0.1:0"},
                  {"kind": "component", "addr": "127.0.0.1:0"}],
    "components": [{"domain": MUC, "kind": "muc"},
                   {"domain": BOT, "kind": "external", "secret": SECRET}],
}


async def wait_for(queue: asyncio.Queue, match, timeout: float = 10):
    """The first item of `queue` for which `match` is true (others are dropped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("nothing matching arrived")
        item = await asyncio.wait_for(queue.get(), left)
        if match(item):
            return item


def status_codes(pres) -> set[str]:
    return {s.get("code") for s in pres.xml.iter("{http://jabber.org/protocol/muc#user}status")}


async def create_room(owner, room: str, nick: str, **fields) -> None:
    """Enter (creating a locked room), then submit the configuration form."""
    await owner["xep_0045"].join_muc_wait(room, nick, timeout=10)
    form = await owner["xep_0045"].get_room_config(room)
    for var, value in fields.items():
        form.field[var]["value"] = value
    await owner["xep_0045"].set_room_config(room, form)


def test_muc_room_chat_subject_invitation_kick_and_ban(xmppd_factory):
    d = xmppd_factory(CONFIG, accounts=(ALICE, BOB, CAROL))
    room = f"plans@{MUC}"

    async def scenario():
        alice = await online(d, ALICE, plugins=PLUGINS)
        bob = await online(d, BOB, plugins=PLUGINS)
        # The service is discoverable from the host and announces MUC.
        items = await alice["xep_0030"].get_items(jid=HOST)
        assert MUC in [i[0] for i in items["disco_items"]["items"]]
        info = await alice["xep_0030"].get_info(jid=MUC)
        assert "http://jabber.org/protocol/muc" in info["disco_info"]["features"]

        await create_room(alice, room, "alice", **{"muc#roomconfig_roomname": "Release plans"})
        info = await bob["xep_0030"].get_info(jid=room)
        assert "muc_temporary" in info["disco_info"]["features"]

        # XEP-0249 direct invitation, then bob enters.
        invited = asyncio.get_event_loop().create_future()
        bob.add_event_handler("groupchat_direct_invite", lambda m: invited.done() or invited.set_result(m))
        alice["xep_0249"].send_invitation(B, room, reason="release meeting")
        inv = await asyncio.wait_for(invited, 10)
        assert inv["groupchat_invite"]["jid"] == room
        _own, _subject, occupants, _history = await bob["xep_0045"].join_muc_wait(room, "bob", timeout=10)
        assert "alice" in [str(p["from"].resource) for p in occupants]

        # Groupchat to everyone, with a room-assigned stanza id.
        alice.send_message(mto=room, mbody="hello room", mtype="groupchat")
        for c in (alice, bob):
            m = await wait_for(c.messages, lambda m: m["type"] == "groupchat" and m["body"] == "hello room")
            assert str(m["from"]) == f"{room}/alice"
        # The owner sets the subject (slixmpp reports bodiless messages as
        # `groupchat_subject`, not `message`).
        subjects: asyncio.Queue = asyncio.Queue()
        bob.add_event_handler("groupchat_subject", subjects.put_nowait)
        alice["xep_0045"].set_subject(room, "Ship it")
        m = await wait_for(subjects, lambda m: m["subject"] == "Ship it")
        assert str(m["from"]) == f"{room}/alice"

        # XEP-0410 self-ping answered by the room.
        await bob["xep_0199"].ping(jid=f"{room}/bob", timeout=10)

        # Kick: bob leaves with status 307 (MUC presence is `groupchat_presence`).
        presences: asyncio.Queue = asyncio.Queue()
        bob.add_event_handler("groupchat_presence", presences.put_nowait)
        await alice["xep_0045"].set_role(room, "bob", "none", reason="behave")
        p = await wait_for(presences, lambda p: p["type"] == "unavailable" and str(p["from"]) == f"{room}/bob")
        assert {"307", "110"} <= status_codes(p)
        # Back in, then banned: status 301 and no way back.
        await bob["xep_0045"].join_muc_wait(room, "bob", timeout=10)
        await alice["xep_0045"].set_affiliation(room, "outcast", jid=B, reason="banned")
        p = await wait_for(presences, lambda p: p["type"] == "unavailable" and str(p["from"]) == f"{room}/bob")
        assert "301" in status_codes(p)
        with pytest.raises(PresenceError) as refused:
            await bob["xep_0045"].join_muc_wait(room, "bob", timeout=10)
        assert refused.value.condition == "forbidden"
        outcasts = await alice["xep_0045"].get_affiliation_list(room, "outcast")
        assert B in [str(j) for j in outcasts]
        # A participant may not kick.
        carol = await online(d, CAROL, plugins=PLUGINS)
        await carol["xep_0045"].join_muc_wait(room, "carol", timeout=10)
        with pytest.raises(IqError) as denied:
            await carol["xep_0045"].set_role(room, "alice", "none")
        assert denied.value.condition == "not-allowed"
        for c in (alice, bob, carol):
            await c.close()

    run(scenario())


def test_persistent_room_history_and_archive_survive_kill9(xmppd_factory):
    d = xmppd_factory(CONFIG)
    room = f"keep@{MUC}"

    async def before_crash():
        alice = await online(d, ALICE, plugins=PLUGINS)
        await create_room(alice, room, "alice", **{"muc#roomconfig_persistentroom": True})
        for i in range(1, 6):
            alice.send_message(mto=room, mbody=f"message {i}", mtype="groupchat")
            await wait_for(alice.messages, lambda m, i=i: m["body"] == f"message {i}")
        subjects: asyncio.Queue = asyncio.Queue()
        alice.add_event_handler("groupchat_subject", subjects.put_nowait)
        alice["xep_0045"].set_subject(room, "Kept topic")
        await wait_for(subjects, lambda m: m["subject"] == "Kept topic")
        # The archive write of the last message is confirmed by the database
        # shortly after the broadcast; give it a moment before the crash.
        await asyncio.sleep(0.5)
        await alice.close()

    run(before_crash())
    d.kill9()
    d.start()

    async def after_restart():
        bob = await online(d, BOB, plugins=PLUGINS)
        _own, subject, _occupants, history = await bob["xep_0045"].join_muc_wait(
            room, "bob", maxstanzas=2, timeout=10)
        assert [m["body"] for m in history] == ["message 4", "message 5"]
        assert subject["subject"] == "Kept topic"
        # XEP-0313 on the room: the whole archive, then RSM pages of two.
        result = await bob["xep_0313"].retrieve(jid=room, rsm={"max": 10})
        bodies = [r["mam_result"]["forwarded"]["stanza"]["body"] for r in result["mam"]["results"]]
        assert bodies == [f"message {i}" for i in range(1, 6)]
        assert result.xml.find("{urn:xmpp:mam:2}fin").get("complete") == "true"
        pages = []
        async for page in bob["xep_0313"].retrieve(jid=room, rsm={"max": 2}, iterator=True):
            pages.append([r["mam_result"]["forwarded"]["stanza"]["body"] for r in page["mam"]["results"]])
            if len(pages) > 5:
                break
        assert pages[:3] == [["message 1", "message 2"], ["message 3", "message 4"], ["message 5"]]
        by_alice = await bob["xep_0313"].retrieve(jid=room, with_jid=slixmpp.JID(f"{room}/alice"))
        assert len(by_alice["mam"]["results"]) == 5
        await bob.close()

    run(after_restart())


def test_external_component_exchanges_messages_with_a_user(xmppd_factory):
    d = xmppd_factory(CONFIG)
    host, port = d.addrs["component"]

    async def scenario():
        comp = slixmpp.ComponentXMPP(BOT, SECRET, host, port)
        started = asyncio.get_event_loop().create_future()
        comp.add_event_handler("session_start", lambda _: started.done() or started.set_result(True))

        def echo(msg):
            if msg["type"] in ("chat", "normal") and msg["body"]:
                msg.reply(f"echo: {msg['body']}").send()

        comp.add_event_handler("message", echo)
        comp.connect()
        await asyncio.wait_for(started, 10)
        alice = await online(d, ALICE)
        alice.send_message(mto=f"echo@{BOT}", mbody="ping", mtype="chat")
        m = await wait_for(alice.messages, lambda m: m["body"] == "echo: ping")
        assert str(m["from"]) == f"echo@{BOT}"
        await alice.close()
        comp.disconnect()

    run(scenario())
    assert "component" in d.addrs


def test_external_component_with_a_wrong_secret_is_refused(xmppd_factory):
    d = xmppd_factory(CONFIG)
    host, port = d.addrs["component"]

    async def scenario():
        comp = slixmpp.ComponentXMPP(BOT, "wrong-secret", host, port)
        started = asyncio.get_event_loop().create_future()
        closed = asyncio.get_event_loop().create_future()
        comp.add_event_handler("session_start", lambda _: started.done() or started.set_result(True))
        comp.add_event_handler("disconnected", lambda *_: closed.done() or closed.set_result(True))
        comp.connect()
        await asyncio.wait_for(closed, 10)
        assert not started.done()
        # The domain stays unattached: messages to it bounce.
        alice = await online(d, ALICE)
        alice.send_message(mto=f"echo@{BOT}", mbody="anyone?", mtype="chat")
        err = await asyncio.wait_for(alice.errors.get(), 10)
        assert err["error"]["condition"] == "service-unavailable"
        await alice.close()

    run(scenario())
