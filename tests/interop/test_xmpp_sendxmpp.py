"""go-sendxmpp (Debian package go-sendxmpp, a Go client) and slixmpp talk
through the real xmppd, over STARTTLS and direct TLS, with the test
certificate verified (SSL_CERT_FILE), not skipped with -n."""

from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import threading
import time

from helpers import tool
from xmpp_helpers import ALICE, BOB, HOST, online, run

A, B = f"alice@{HOST}", f"bob@{HOST}"


def sendxmpp(d, account, *args: str) -> list[str]:
    """The go-sendxmpp command line for `account` on `d`, trusting only the test certificate."""
    user, password = account
    return [tool("go-sendxmpp", "go-sendxmpp"), "-u", f"{user}@{HOST}", "-p", password, *args]


def env_for(d) -> dict:
    home = d.dir / "home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "HOME": str(home), "SSL_CERT_FILE": str(d.cert), "SSL_CERT_DIR": str(d.dir / "no-ca")}


def test_go_sendxmpp_sends_to_slixmpp_over_starttls_and_direct_tls(xmppd_factory):
    d = xmppd_factory()
    _, c2s = d.c2s
    _, c2s_tls = d.c2s_tls

    async def scenario():
        bob = await online(d, BOB, "slix")
        for text, extra in (("over starttls", ["-j", f"{HOST}:{c2s}"]),
                            ("over direct tls", ["-t", "-j", f"{HOST}:{c2s_tls}"])):
            res = await asyncio.to_thread(
                subprocess.run, sendxmpp(d, ALICE, *extra, "--timeout", "10", B), input=text,
                capture_output=True, text=True, timeout=30, env=env_for(d))
            assert res.returncode == 0, f"go-sendxmpp failed: {res.stdout}{res.stderr}"
            msg = await bob.next_message()
            assert (msg["body"].strip(), msg["from"].bare) == (text, A)
        # The certificate really is verified: without the test CA it fails.
        env = {k: v for k, v in env_for(d).items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
        res = await asyncio.to_thread(
            subprocess.run, sendxmpp(d, ALICE, "-t", "-j", f"{HOST}:{c2s_tls}", "--timeout", "10", B),
            input="unverified", capture_output=True, text=True, timeout=30, env=env)
        assert res.returncode != 0 and "certificate" in res.stderr, res.stderr
        await bob.ping()
        assert bob.messages.empty()
        await bob.close()

    run(scenario())
    # This go-sendxmpp (go-xmpp) logs in with PLAIN, which xmppd allows over TLS only.
    assert len(d.mechanisms_used("alice")) == 2, d.log()


def test_slixmpp_sends_to_go_sendxmpp_listening(xmppd_factory):
    d = xmppd_factory()
    _, c2s = d.c2s
    listener = subprocess.Popen(sendxmpp(d, BOB, "-l", "-j", f"{HOST}:{c2s}", "--timeout", "10"),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                text=True, env=env_for(d))
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in listener.stdout], daemon=True).start()
    try:
        async def scenario():
            # Whether go-sendxmpp is online yet or not: a message to a bare
            # JID without an available resource is stored and delivered on
            # its initial presence (XEP-0160).
            alice = await online(d, ALICE, "slix")
            alice.send_message(mto=B, mbody="hello go-sendxmpp", mtype="chat")
            await alice.ping()
            await alice.close()

        run(scenario())
        seen = []
        deadline = time.monotonic() + 15
        while not any("hello go-sendxmpp" in l for l in seen):
            assert time.monotonic() < deadline, f"go-sendxmpp printed {seen}\n{d.log()}"
            try:
                seen.append(lines.get(timeout=0.5))
            except queue.Empty:
                assert listener.poll() is None, f"go-sendxmpp exited {listener.returncode}: {seen}"
        line = next(l for l in seen if "hello go-sendxmpp" in l)
        assert A in line, line
        assert d.mechanisms_used("bob"), d.log()
    finally:
        listener.terminate()
        listener.wait(timeout=10)
