"""Web clients against the real xmppd's `https` listener: @xmpp/client
(npm) over XMPP-over-WebSocket (RFC 7395) exchanging messages with slixmpp,
a BOSH client (XEP-0124/0206, written here over urllib: no packaged Python
client speaks BOSH) doing SASL PLAIN, bind and messages, host-meta
(XEP-0156), HTTP upload (XEP-0363) driven by slixmpp's xep_0363 plugin, and
XEP-0215 TURN credentials that the real turnd accepts."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from helpers import REPO_ROOT
from xmpp_helpers import ALICE, BOB, HOST, online, run

NODE_DIR = REPO_ROOT / "tests" / "interop" / "node"
B = f"bob@{HOST}"
TURN_SECRET = "shared-turn-secret"


def web_config(tmp: Path, extra: dict | None = None) -> dict:
    cfg = {
        "listeners": [{"kind": "c2s", "addr": "127.0.0.1:0"}, {"kind": "https", "addr": "127.0.0.1:0"}],
        "upload": {"enabled": True, "directory": str(tmp / "upload"), "max_file_bytes": 100_000},
    }
    cfg.update(extra or {})
    return cfg


def start_web(xmppd_factory, tmp_path: Path, extra: dict | None = None):
    """xmppd with an https listener; public URLs point at its real port."""
    d = xmppd_factory(config=web_config(tmp_path, extra), start=False)
    d.start()
    port = d.addrs["https"][1]
    d.stop()
    base = f"https://{HOST}:{port}"
    # Restart on the same port with the URLs clients must use.
    d.config["listeners"][1]["addr"] = f"127.0.0.1:{port}"
    d.config["upload"]["public_url"] = base
    d.config.setdefault("web", {}).update({"websocket_url": f"wss://{HOST}:{port}/xmpp-websocket",
                                           "bosh_url": f"https://{HOST}:{port}/http-bind"})
    d.config_path.write_text(json.dumps(d.config, indent=2) + "\n")
    d.start()
    return d, base


def https_context(d) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(d.cert))


def http(d, method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, context=https_context(d), timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def node_client(d, url: str, user: tuple[str, str], peer: str) -> subprocess.Popen:
    if not (NODE_DIR / "node_modules" / "@xmpp" / "client").is_dir():
        pytest.fail("@xmpp/client missing: run scripts/install-test-deps.sh (npm ci in tests/interop/node)",
                    pytrace=False)
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(d.cert)}
    return subprocess.Popen(["node", "xmpp_ws_client.js", url, HOST, user[0], user[1], peer], cwd=NODE_DIR,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_xmpp_client_npm_over_websocket_exchanges_messages_with_slixmpp(xmppd_factory, tmp_path):
    d, base = start_web(xmppd_factory, tmp_path)
    url = base.replace("https://", "wss://") + "/xmpp-websocket"

    async def scenario():
        bob = await online(d, BOB, "desk")
        web = node_client(d, url, ALICE, f"{B}/desk")
        try:
            msg = await bob.next_message(timeout=20)
            assert msg["body"] == "hello over websocket"
            assert str(msg["from"]) == f"alice@{HOST}/web"
            bob.send_message(mto=msg["from"], mbody="hello browser", mtype="chat")
            out, _ = await asyncio.get_running_loop().run_in_executor(None, lambda: web.communicate(timeout=20))
        finally:
            if web.poll() is None:
                web.kill()
        await bob.close()
        return web.returncode, out

    rc, out = run(scenario())
    assert rc == 0, f"{out}\n{d.report()}"
    assert f"online alice@{HOST}/web" in out
    assert "received hello browser" in out


class Chromium:
    """Headless Chromium (Debian's chromium + chromium-driver) driven over the
    W3C WebDriver protocol with plain HTTP calls to chromedriver."""

    def __init__(self):
        import shutil
        import time
        from helpers import free_port
        driver = shutil.which("chromedriver")
        if driver is None or shutil.which("chromium") is None:
            pytest.fail("chromium / chromium-driver missing: apt-get install chromium chromium-driver", pytrace=False)
        self.port = free_port(udp=False)
        self.proc = subprocess.Popen([driver, f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.call("GET", "/status")
                break
            except OSError:
                assert time.monotonic() < deadline, "chromedriver did not start"
                time.sleep(0.1)
        options = {"binary": shutil.which("chromium"),
                   "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]}
        caps = {"browserName": "chrome", "acceptInsecureCerts": True, "goog:chromeOptions": options}
        self.session = self.call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]

    def call(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())["value"]

    def open(self, url: str) -> None:
        self.call("POST", f"/session/{self.session}/url", {"url": url})

    def run(self, script: str):
        return self.call("POST", f"/session/{self.session}/execute/sync", {"script": script, "args": []})

    def close(self) -> None:
        try:
            self.call("DELETE", f"/session/{self.session}")
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def test_xmpp_client_in_headless_chromium_exchanges_messages_with_slixmpp(xmppd_factory, tmp_path):
    import time
    d, base = start_web(xmppd_factory, tmp_path)
    url = base.replace("https://", "wss://") + "/xmpp-websocket"
    page = REPO_ROOT / "tests" / "interop" / "web" / "xmpp_ws_browser.html"
    if not (NODE_DIR / "node_modules" / "@xmpp" / "client" / "dist" / "xmpp.min.js").is_file():
        pytest.fail("@xmpp/client missing: run scripts/install-test-deps.sh", pytrace=False)

    async def scenario():
        bob = await online(d, BOB, "desk")
        browser = await asyncio.get_running_loop().run_in_executor(None, Chromium)
        try:
            browser.open(f"file://{page}#{url}|{HOST}|{ALICE[0]}|{ALICE[1]}|{B}/desk")
            msg = await bob.next_message(timeout=20)
            assert (msg["body"], str(msg["from"])) == ("hello from chromium", f"alice@{HOST}/chromium")
            bob.send_message(mto=msg["from"], mbody="hello browser", mtype="chat")
            deadline = time.monotonic() + 15
            while True:
                log = browser.run("return document.getElementById('log').textContent")
                if "received" in log or "error" in log or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
        finally:
            browser.close()
            await bob.close()
        return log

    log = run(scenario())
    assert log.splitlines() == [f"online alice@{HOST}/chromium", "received hello browser"], log


def test_websocket_message_over_the_limit_closes_the_connection(xmppd_factory, tmp_path):
    import websockets
    d, base = start_web(xmppd_factory, tmp_path, {"web": {"websocket_max_message_bytes": 4096}})
    url = base.replace("https://", "wss://") + "/xmpp-websocket"

    async def scenario():
        async with websockets.connect(url, subprotocols=["xmpp"], ssl=https_context(d)) as ws:
            assert ws.subprotocol == "xmpp"
            await ws.send(f"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='{HOST}' version='1.0'/>")
            opened = await asyncio.wait_for(ws.recv(), 10)
            assert opened.startswith("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'") and f"from='{HOST}'" in opened
            features = await asyncio.wait_for(ws.recv(), 10)
            assert "<mechanism>SCRAM-SHA-256</mechanism>" in features
            await ws.send("<message xmlns='jabber:client'><body>" + "x" * 8000 + "</body></message>")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            return closed.value

    closed = run(scenario())
    assert closed.rcvd is not None and closed.rcvd.code == 1009, closed  # message too big


def test_websocket_upgrade_without_xmpp_subprotocol_is_refused(xmppd_factory, tmp_path):
    d, base = start_web(xmppd_factory, tmp_path)
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    status, body, _ = http(d, "GET", base + "/xmpp-websocket", headers=headers)
    assert status == 400 and b"RFC 7395" in body


NS_BOSH = "http://jabber.org/protocol/httpbind"


class Bosh:
    """A minimal BOSH client (XEP-0124/0206): one request at a time."""

    def __init__(self, d, url: str):
        self.d, self.url, self.rid, self.sid = d, url, 4711, None
        self.received: list[ET.Element] = []

    def post(self, attrs: str = "", content: str = "") -> ET.Element:
        self.rid += 1
        sid = f" sid='{self.sid}'" if self.sid else ""
        xml = (f"<body rid='{self.rid}'{sid} xmlns='{NS_BOSH}' xmlns:xmpp='urn:xmpp:xbosh'{attrs}>"
               f"{content}</body>")
        status, body, headers = http(self.d, "POST", self.url, xml.encode(),
                                     {"Content-Type": "text/xml; charset=utf-8"})
        assert status == 200 and headers["Content-Type"].startswith("text/xml"), (status, body)
        root = ET.fromstring(body)
        self.received.extend(list(root))
        return root

    def wait_for(self, match, timeout: float = 10.0) -> ET.Element:
        import time
        deadline = time.monotonic() + timeout
        while True:
            for e in self.received:
                if match(e):
                    self.received.remove(e)
                    return e
            assert time.monotonic() < deadline, [ET.tostring(e) for e in self.received]
            self.post()


def test_bosh_client_logs_in_with_plain_and_exchanges_messages_with_slixmpp(xmppd_factory, tmp_path):
    import base64
    d, base = start_web(xmppd_factory, tmp_path)
    c = Bosh(d, base + "/http-bind")
    root = c.post(f" to='{HOST}' wait='2' hold='1' ver='1.11' xml:lang='en' xmpp:version='1.0'")
    c.sid = root.get("sid")
    assert c.sid and root.get("wait") == "2" and root.get("{urn:xmpp:xbosh}version") == "1.0"
    sasl = "urn:ietf:params:xml:ns:xmpp-sasl"
    mechs = c.wait_for(lambda e: e.tag == "{http://etherx.jabber.org/streams}features")
    assert "PLAIN" in [m.text for m in mechs.iter(f"{{{sasl}}}mechanism")]
    creds = base64.b64encode(b"\0alice\0alice-secret").decode()
    c.post(content=f"<auth xmlns='{sasl}' mechanism='PLAIN'>{creds}</auth>")
    c.wait_for(lambda e: e.tag == f"{{{sasl}}}success")
    c.post(f" to='{HOST}' xmpp:restart='true'")
    features = c.wait_for(lambda e: e.tag == "{http://etherx.jabber.org/streams}features")
    assert features.find("{urn:ietf:params:xml:ns:xmpp-bind}bind") is not None
    c.post(content="<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                   "<resource>bosh</resource></bind></iq>")
    bound = c.wait_for(lambda e: e.tag == "{jabber:client}iq" and e.get("id") == "b1")
    assert bound.get("type") == "result"
    assert bound.findtext(".//{urn:ietf:params:xml:ns:xmpp-bind}jid") == f"alice@{HOST}/bosh"

    async def scenario():
        bob = await online(d, BOB, "desk")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: c.post(
            content=f"<message xmlns='jabber:client' to='{B}/desk' type='chat'><body>hello over bosh</body></message>"))
        msg = await bob.next_message()
        assert (msg["body"], str(msg["from"])) == ("hello over bosh", f"alice@{HOST}/bosh")
        bob.send_message(mto=msg["from"], mbody="hello bosh", mtype="chat")
        got = await loop.run_in_executor(None, lambda: c.wait_for(
            lambda e: e.tag == "{jabber:client}message" and e.get("type") == "chat"))
        await bob.close()
        return got

    got = run(scenario())
    assert got.findtext("{jabber:client}body") == "hello bosh" and got.get("from") == f"{B}/desk"
    # A rid far outside the window ends the session (XEP-0124 §14.1).
    c.rid += 10
    root = c.post()
    assert (root.get("type"), root.get("condition")) == ("terminate", "item-not-found")
    root = c.post()
    assert root.get("condition") == "item-not-found"


def test_host_meta_advertises_the_websocket_endpoint(xmppd_factory, tmp_path):
    d, base = start_web(xmppd_factory, tmp_path)
    wss = base.replace("https://", "wss://") + "/xmpp-websocket"
    status, body, headers = http(d, "GET", base + "/.well-known/host-meta")
    assert status == 200 and headers["Content-Type"] == "application/xrd+xml"
    assert headers["Access-Control-Allow-Origin"] == "*"
    links = ET.fromstring(body).findall("{http://docs.oasis-open.org/ns/xri/xrd-1.0}Link")
    bosh = base + "/http-bind"
    assert [(l.get("rel"), l.get("href")) for l in links] == [("urn:xmpp:alt-connections:websocket", wss),
                                                              ("urn:xmpp:alt-connections:xbosh", bosh)]
    status, body, headers = http(d, "GET", base + "/.well-known/host-meta.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"links": [{"rel": "urn:xmpp:alt-connections:websocket", "href": wss},
                                          {"rel": "urn:xmpp:alt-connections:xbosh", "href": bosh}]}
    # Unknown hosts get nothing.
    status, _, _ = http(d, "GET", base.replace(HOST, "127.0.0.1") + "/.well-known/host-meta")
    assert status == 404


def test_http_upload_slot_put_and_get_back_unchanged(xmppd_factory, tmp_path):
    d, base = start_web(xmppd_factory, tmp_path)
    data = os.urandom(50_000)

    async def scenario():
        alice = await online(d, ALICE, "up", plugins=("xep_0363",))
        try:
            slot = await alice["xep_0363"].request_slot(f"upload.{HOST}", "photo 1.jpg", len(data),
                                                        "image/jpeg", timeout=10)
            put = slot["http_upload_slot"]["put"]["url"]
            get = slot["http_upload_slot"]["get"]["url"]
            # Refused: a file over max_file_bytes (XEP-0363 §4.2).
            with pytest.raises(Exception) as refused:
                await alice["xep_0363"].request_slot(f"upload.{HOST}", "big.bin", 200_000, timeout=10)
        finally:
            await alice.close()
        return put, get, refused.value

    put, get, refused = run(scenario())
    assert put.startswith(base + "/upload/") and get.startswith(base + "/upload/"), (put, get)
    assert "photo%201.jpg" in get
    iq = refused.iq
    assert iq["error"]["condition"] == "not-acceptable"
    assert "<max-file-size>100000</max-file-size>" in str(iq), str(iq)
    # A wrong size or a tampered URL is refused before anything is stored.
    status, _, _ = http(d, "PUT", put, data[:-1], {"Content-Type": "image/jpeg"})
    assert status == 403
    status, _, _ = http(d, "PUT", put.replace("photo%201", "photo%202"), data)
    assert status == 403
    status, _, _ = http(d, "PUT", put, data, {"Content-Type": "image/jpeg"})
    assert status == 201, d.report()
    status, body, headers = http(d, "GET", get)
    assert status == 200 and body == data
    assert headers["X-Content-Type-Options"] == "nosniff"
    # A slot is used once.
    status, _, _ = http(d, "PUT", put, data)
    assert status == 409


def test_upload_beyond_the_user_quota_is_refused(xmppd_factory, tmp_path):
    d, _ = start_web(xmppd_factory, tmp_path, {"upload": {
        "enabled": True, "directory": str(tmp_path / "upload"), "max_file_bytes": 100_000, "quota_bytes": 80_000}})
    data = os.urandom(50_000)

    async def scenario():
        alice = await online(d, ALICE, "up", plugins=("xep_0363",))
        try:
            slots = [await alice["xep_0363"].request_slot(f"upload.{HOST}", f"f{i}.bin", len(data), timeout=10)
                     for i in range(2)]
        finally:
            await alice.close()
        return [s["http_upload_slot"]["put"]["url"] for s in slots]

    first, second = run(scenario())
    assert http(d, "PUT", first, data)[0] == 201
    status, body, _ = http(d, "PUT", second, data)
    assert status == 413 and b"quota" in body


def test_upload_service_is_discoverable(xmppd_factory, tmp_path):
    """What slixmpp's find_upload_service and Conversations do: the domain's
    disco#items lists upload.<domain>, whose disco#info is store/file with
    the XEP-0363 feature and max-file-size."""
    d, _ = start_web(xmppd_factory, tmp_path)

    async def scenario():
        alice = await online(d, ALICE, "disco")
        try:
            items = await alice["xep_0030"].get_items(jid=HOST, timeout=10)
            info = await alice["xep_0030"].get_info(jid=f"upload.{HOST}", timeout=10)
        finally:
            await alice.close()
        return items, info

    items, info = run(scenario())
    assert f"upload.{HOST}" in [i[0] for i in items["disco_items"]["items"]]
    assert ("store", "file", None, "HTTP File Upload") in info["disco_info"]["identities"]
    assert "urn:xmpp:http:upload:0" in info["disco_info"]["features"]
    assert "<value>100000</value>" in str(info)


NS_EXTDISCO = "urn:xmpp:extdisco:2"


def rest_credentials(secret: str, user: str, ttl: int = 3600) -> tuple[str, str]:
    """The TURN REST API scheme, computed independently of xmppd."""
    import base64, hashlib, hmac, time
    username = f"{int(time.time()) + ttl}:{user}"
    return username, base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


async def extdisco(client, payload: str):
    iq = client.Iq()
    iq["type"], iq["to"] = "get", HOST
    iq.append(ET.fromstring(payload))
    reply = await iq.send(timeout=10)
    return reply.xml


def test_turn_credentials_from_xep0215_are_accepted_by_turnd(xmppd_factory, turnd_factory, tmp_path):
    from stunclient import TurnClient
    secret_file = tmp_path / "turn-secret"
    secret_file.write_text(TURN_SECRET + "\n")
    t = turnd_factory(config={"auth": {"long_term": False, "rest": {"static_secrets": [TURN_SECRET]}}}, users=())
    host, port = "127.0.0.1", t.port
    d = xmppd_factory(config={"extdisco": {
        "secret_file": str(secret_file),
        "services": [{"type": "stun", "host": host, "port": port, "transport": "udp"},
                     {"type": "turn", "host": host, "port": port, "transport": "udp"}]}})

    async def scenario():
        alice = await online(d, ALICE, "call")
        try:
            info = await alice["xep_0030"].get_info(jid=HOST, timeout=10)
            services = await extdisco(alice, f"<services xmlns='{NS_EXTDISCO}'/>")
            creds = await extdisco(alice, f"<credentials xmlns='{NS_EXTDISCO}'>"
                                          f"<service host='{host}' type='turn'/></credentials>")
        finally:
            await alice.close()
        return info["disco_info"]["features"], services, creds

    features, services, creds = run(scenario())
    assert NS_EXTDISCO in features
    found = services.findall(f"{{{NS_EXTDISCO}}}services/{{{NS_EXTDISCO}}}service")
    assert [s.get("type") for s in found] == ["stun", "turn"]
    assert found[0].get("username") is None
    turn = found[1]
    user, password = turn.get("username"), turn.get("password")
    assert user.endswith(f":alice@{HOST}") and password, ET.tostring(services)
    again = creds.find(f"{{{NS_EXTDISCO}}}credentials/{{{NS_EXTDISCO}}}service")
    assert again is not None and again.get("username").endswith(f":alice@{HOST}")
    with TurnClient((host, port), user, password) as c:
        reply = c.allocate()
        assert reply is not None and reply.error_code() is None, reply.describe() if reply else "no answer"
    # The same scheme with another secret is refused.
    wrong_user, wrong_password = rest_credentials("not-the-secret", f"alice@{HOST}")
    with TurnClient((host, port), wrong_user, wrong_password) as c:
        reply = c.allocate()
        assert reply is not None and reply.error_code() == 401, reply.describe() if reply else "no answer"
