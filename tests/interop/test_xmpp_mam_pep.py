"""slixmpp (Debian's python3-slixmpp 1.8) against the real xmppd: the message
archive (XEP-0313 with XEP-0059 paging and XEP-0359 stanza-ids) and its
retention; push notifications (XEP-0357) to an app server, whose
registration survives a restart; PEP bookmarks (XEP-0163/0223/0402 with
XEP-0115 +notify) across resources and a restart; the vCard-to-avatar
conversion (XEP-0398/0084). slixmpp 1.8 has no XEP-0357 plugin, so the
push IQs are built by hand; the app server is a second slixmpp client."""

from __future__ import annotations

import asyncio
import time

import pytest

from slixmpp import JID
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from xmpp_helpers import ALICE, BOB, CAROL, HOST, online, run

A, B, C = f"alice@{HOST}", f"bob@{HOST}", f"carol@{HOST}"
MAM_PLUGINS = ("xep_0059", "xep_0297", "xep_0313", "xep_0359")


async def archive_page(client, owner: str, with_jid: str | None = None, **rsm):
    """One MAM page: (bodies, fin) where fin has first/last/count/complete."""
    rsm = {k: v for k, v in rsm.items() if v is not None}
    iq = await client["xep_0313"].retrieve(
        jid=JID(owner), with_jid=JID(with_jid) if with_jid else None, rsm=rsm, timeout=10)
    bodies = [m["mam_result"]["forwarded"]["stanza"]["body"] for m in iq["mam"]["results"]]
    fin = iq["mam_fin"]
    return bodies, {
        "first": fin["rsm"]["first"],
        "last": fin["rsm"]["last"],
        "count": fin["rsm"]["count"],
        "complete": fin.xml.get("complete") in ("true", "1"),
    }


def test_archive_query_pages_through_a_conversation_with_rsm(xmppd_factory):
    d = xmppd_factory()

    async def scenario():
        alice = await online(d, ALICE, "laptop", plugins=MAM_PLUGINS)
        bob = await online(d, BOB, "phone", plugins=MAM_PLUGINS)
        info = await bob["xep_0030"].get_info(jid=B, timeout=10)
        assert "urn:xmpp:mam:2" in info["disco_info"]["features"]
        for i in range(5):
            alice.send_message(mto=B, mbody=f"b{i}", mtype="chat")
        live = [await bob.next_message() for _ in range(5)]
        assert [m["body"] for m in live] == [f"b{i}" for i in range(5)]
        stanza_ids = [m["stanza_id"]["id"] for m in live]
        assert all(m["stanza_id"]["by"] == B for m in live)

        bodies, fin = await archive_page(bob, B, A, max=2)
        assert bodies == ["b0", "b1"]
        assert fin["count"] == "5" and not fin["complete"]
        assert fin["first"] == stanza_ids[0], "the archive id is the delivered stanza-id"
        bodies, fin = await archive_page(bob, B, A, max=2, after=fin["last"])
        assert bodies == ["b2", "b3"]
        bodies, fin = await archive_page(bob, B, A, max=2, after=fin["last"])
        assert bodies == ["b4"] and fin["complete"]
        # Backwards from the last page (an empty RSM <before/>), as slixmpp's
        # reverse iterator pages.
        pages = bob["xep_0313"].retrieve(jid=JID(B), with_jid=JID(A), iterator=True, reverse=True, rsm={"max": 2})
        backwards = []
        async for page in pages:
            backwards.append([m["mam_result"]["forwarded"]["stanza"]["body"] for m in page["mam"]["results"]])
        assert backwards == [["b3", "b4"], ["b1", "b2"], ["b0"]]
        # The sender has the conversation in her own archive.
        bodies, fin = await archive_page(alice, A, B, max=10)
        assert bodies == [f"b{i}" for i in range(5)] and fin["complete"]
        bodies, fin = await archive_page(alice, A, C, max=10)
        assert bodies == [] and fin["count"] == "0"
        await alice.close()
        await bob.close()

    run(scenario())


def test_retention_removes_expired_messages(xmppd_factory):
    d = xmppd_factory({"archive": {"expires_after_seconds": 2, "expiry_interval_seconds": 1}})

    async def scenario():
        alice = await online(d, ALICE, "laptop", plugins=MAM_PLUGINS)
        bob = await online(d, BOB, "phone", plugins=MAM_PLUGINS)
        alice.send_message(mto=B, mbody="soon gone", mtype="chat")
        await bob.next_message()
        bodies, _ = await archive_page(bob, B, max=10)
        assert bodies == ["soon gone"]
        deadline = time.monotonic() + 8
        while bodies and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            bodies, fin = await archive_page(bob, B, max=10)
        assert bodies == [] and fin["count"] == "0", "expired messages are deleted by the timer"
        await alice.close()
        await bob.close()

    run(scenario())


PUSH_ENABLE = (
    "<enable xmlns='urn:xmpp:push:0' jid='{jid}' node='{node}'>"
    "<x xmlns='jabber:x:data' type='submit'>"
    "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
    "<field var='secret'><value>s3cr3t</value></field></x></enable>"
)


async def app_server(d):
    """Carol acting as the app server: collects pubsub publishes sent to her."""
    carol = await online(d, CAROL, "push")
    carol.pushes = asyncio.Queue()

    def on_push(iq):
        carol.pushes.put_nowait(iq)
        iq.reply(clear=True).send()

    carol.register_handler(Callback(
        "push", MatchXPath("{jabber:client}iq/{http://jabber.org/protocol/pubsub}pubsub"), on_push))
    return carol


def summary(iq) -> dict:
    """The XEP-0357 summary form's fields of a notification."""
    ns = {"p": "http://jabber.org/protocol/pubsub", "n": "urn:xmpp:push:0", "x": "jabber:x:data"}
    publish = iq.xml.find("p:pubsub/p:publish", ns)
    fields = publish.findall("p:item/n:notification/x:x/x:field", ns)
    out = {f.get("var"): f.findtext("x:value", namespaces=ns) for f in fields}
    out["node"] = publish.get("node")
    opts = iq.xml.findall("p:pubsub/p:publish-options/x:x/x:field", ns)
    out["options"] = {f.get("var"): f.findtext("x:value", namespaces=ns) for f in opts}
    return out


def test_push_enable_offline_message_notifies_app_server_and_survives_restart(xmppd_factory):
    d = xmppd_factory(accounts=(ALICE, BOB, CAROL))
    app_jid = f"{C}/push"

    async def enable_and_leave():
        bob = await online(d, BOB, "phone")
        info = await bob["xep_0030"].get_info(jid=B, timeout=10)
        assert "urn:xmpp:push:0" in info["disco_info"]["features"]
        iq = bob.Iq()
        iq["type"] = "set"
        iq.append(ET.fromstring(PUSH_ENABLE.format(jid=app_jid, node="dev-1")))
        await iq.send(timeout=10)
        await bob.close()

    async def offline_message_is_pushed(body: str):
        carol = await app_server(d)
        alice = await online(d, ALICE, "laptop")
        alice.send_message(mto=B, mbody=body, mtype="chat")
        note = summary(await asyncio.wait_for(carol.pushes.get(), 10))
        assert note["FORM_TYPE"] == "urn:xmpp:push:summary"
        assert note["node"] == "dev-1"
        assert note["last-message-sender"] == f"{A}/laptop"
        assert int(note["message-count"]) >= 1
        assert "last-message-body" not in note, "bodies stay on the server by default"
        assert note["options"].get("secret") == "s3cr3t"
        await alice.close()
        await carol.close()

    run(enable_and_leave())
    run(offline_message_is_pushed("are you there?"))
    assert d.stop() == 0
    d.start()
    run(offline_message_is_pushed("still there after the restart?"))

    async def offline_messages_arrive():
        bob = await online(d, BOB, "phone")
        got = [(await bob.next_message())["body"] for _ in range(2)]
        assert got == ["are you there?", "still there after the restart?"]
        await bob.close()

    run(offline_messages_arrive())


BOOKMARK_PUBLISH = (
    "<pubsub xmlns='http://jabber.org/protocol/pubsub'>"
    "<publish node='urn:xmpp:bookmarks:1'><item id='verona@conference.localhost'>"
    "<conference xmlns='urn:xmpp:bookmarks:1' name='Verona' autojoin='true'><nick>al</nick></conference>"
    "</item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>"
    "<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
    "<field var='pubsub#persist_items'><value>true</value></field>"
    "<field var='pubsub#max_items'><value>max</value></field>"
    "<field var='pubsub#send_last_published_item'><value>never</value></field>"
    "<field var='pubsub#access_model'><value>whitelist</value></field>"
    "</x></publish-options></pubsub>"
)
PEP_PLUGINS = ("xep_0115", "xep_0163", "xep_0060")


async def pep_items(client, owner: str, node: str) -> list:
    iq = client.Iq()
    iq["type"] = "get"
    iq["to"] = owner
    iq.append(ET.fromstring(f"<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='{node}'/></pubsub>"))
    result = await iq.send(timeout=10)
    ns = {"p": "http://jabber.org/protocol/pubsub"}
    return result.xml.findall("p:pubsub/p:items/p:item", ns)


def test_bookmark_from_one_resource_notifies_the_other_and_survives_restart(xmppd_factory):
    d = xmppd_factory()

    async def publish_and_notify():
        laptop = await online(d, ALICE, "laptop", plugins=PEP_PLUGINS)
        phone = await online(d, ALICE, "phone", plugins=PEP_PLUGINS)
        info = await phone["xep_0030"].get_info(jid=A, timeout=10)
        features = info["disco_info"]["features"]
        assert "http://jabber.org/protocol/pubsub#publish-options" in features
        assert "urn:xmpp:pep-vcard-conversion:0" in features
        events = asyncio.Queue()
        phone.register_handler(Callback(
            "pep-event", MatchXPath("{jabber:client}message/{http://jabber.org/protocol/pubsub#event}event"),
            events.put_nowait))
        # The phone wants bookmark notifications (XEP-0115 caps with +notify);
        # the server asks it for its disco#info when it sees the new ver.
        maybe = phone["xep_0163"].add_interest("urn:xmpp:bookmarks:1")
        if asyncio.iscoroutine(maybe) or isinstance(maybe, asyncio.Future):
            await maybe
        phone.send_presence()
        for _ in range(3):
            await phone.ping()
        iq = laptop.Iq()
        iq["type"] = "set"
        iq.append(ET.fromstring(BOOKMARK_PUBLISH))
        await iq.send(timeout=10)
        event = await asyncio.wait_for(events.get(), 10)
        ns = {"e": "http://jabber.org/protocol/pubsub#event", "b": "urn:xmpp:bookmarks:1"}
        item = event.xml.find("e:event/e:items/e:item", ns)
        assert item is not None and item.get("id") == "verona@conference.localhost", str(event)
        assert item.find("b:conference", ns).get("name") == "Verona"
        assert event["from"] == JID(A)
        # Bob may not read Alice's bookmarks (whitelist).
        bob = await online(d, BOB, "spy", plugins=PEP_PLUGINS)
        with pytest.raises(IqError):
            await pep_items(bob, A, "urn:xmpp:bookmarks:1")
        for c in (laptop, phone, bob):
            await c.close()

    run(publish_and_notify())
    assert d.stop() == 0
    d.start()

    async def after_restart():
        tablet = await online(d, ALICE, "tablet", plugins=PEP_PLUGINS)
        items = await pep_items(tablet, A, "urn:xmpp:bookmarks:1")
        assert [i.get("id") for i in items] == ["verona@conference.localhost"]
        await tablet.close()

    run(after_restart())


def test_vcard_photo_becomes_the_pep_avatar(xmppd_factory):
    d = xmppd_factory()

    async def scenario():
        alice = await online(d, ALICE, "laptop", plugins=PEP_PLUGINS)
        iq = alice.Iq()
        iq["type"] = "set"
        iq.append(ET.fromstring("<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE>"
                                "<BINVAL>iVBORw0KGgo=</BINVAL></PHOTO></vCard>"))
        await iq.send(timeout=10)
        meta = await pep_items(alice, A, "urn:xmpp:avatar:metadata")
        ns = {"m": "urn:xmpp:avatar:metadata"}
        info = meta[0].find("m:metadata/m:info", ns)
        assert info.get("type") == "image/png" and info.get("id") == meta[0].get("id")
        data = await pep_items(alice, A, "urn:xmpp:avatar:data")
        assert data[0].findtext("{urn:xmpp:avatar:data}data") == "iVBORw0KGgo="
        await alice.close()

    run(scenario())
