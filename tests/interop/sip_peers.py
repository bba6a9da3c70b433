"""Real SIP peers for the interop suites, beside sipp: baresip driven over
its ctrl_tcp module, and `WsUa`, a minimal SIP user agent over secure
WebSocket (RFC 7118) on Debian's python3-websockets, for the calls JsSIP
cannot make in Node (it needs a browser's RTCPeerConnection).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from helpers import free_port, log_tail, tool
from sip_helpers import DOMAIN, digest_authorization, parse, pick_challenge, status_of


# -- baresip -----------------------------------------------------------------------


def netstring(data: bytes) -> bytes:
    return str(len(data)).encode() + b":" + data + b","


class Baresip:
    """baresip (Debian package) in a temporary config directory, headless
    (an 8 kHz WAV file as microphone, aubridge as speaker), driven over its
    ctrl_tcp module: JSON commands and events framed as netstrings."""

    def __init__(self, workdir: Path, account: str, sip_cafile: Path):
        self.bin = tool("baresip", "baresip")
        self.dir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.ctrl_port = free_port(udp=False, tcp=True)
        wav = workdir / "tone.wav"
        write_tone_wav(wav)
        modules = ["g711", "aufile", "aubridge", "ctrl_tcp", "account", "menu"]
        (workdir / "config").write_text("\n".join([
            "poll_method epoll",
            "sip_listen 127.0.0.1:0",
            f"sip_cafile {sip_cafile}",
            f"audio_source aufile,{wav}",
            "audio_player aubridge,speaker",
            "audio_alert aubridge,speaker",
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            "module_path /usr/lib/baresip/modules",
            *[f"module {m}.so" for m in modules],
        ]) + "\n")
        (workdir / "accounts").write_text(account + "\n")
        (workdir / "contacts").write_text("")
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.events: list[dict] = []
        self.buf = b""

    def start(self) -> "Baresip":
        self.log = open(self.dir / "baresip.log", "w")
        self.proc = subprocess.Popen([self.bin, "-f", str(self.dir), "-v"], cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "HOME": str(self.dir)})
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1)
                return self
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError(f"baresip's ctrl_tcp did not come up\n{self.output()}")
                time.sleep(0.1)

    def command(self, command: str, params: str = "") -> None:
        msg = {"command": command, "params": params, "token": command}
        self.sock.sendall(netstring(json.dumps(msg).encode()))

    def wait_event(self, kinds: set[str], timeout: float = 15) -> dict:
        """The next event whose type is in `kinds` (earlier events are kept in `events`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while True:
                head, sep, rest = self.buf.partition(b":")
                if not sep or len(rest) <= int(head or 0):
                    break
                n = int(head)
                item, self.buf = json.loads(rest[:n]), rest[n + 1:]
                if item.get("event"):
                    self.events.append(item)
                    if item.get("type") in kinds:
                        return item
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                break
            self.buf += data
        raise AssertionError(f"no baresip event in {kinds}; events: {[e.get('type') for e in self.events]}\n"
                             f"{self.output()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.command("quit")
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if self.sock:
            self.sock.close()

    def output(self) -> str:
        return log_tail((self.dir / "baresip.log").read_text(errors="replace"), 80)


def write_tone_wav(path: Path, seconds: int = 10) -> None:
    """A 400 Hz tone, 8 kHz mono 16-bit: what G.711 carries without resampling."""
    import math
    import struct
    import wave
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 400 * i / 8000)))
                               for i in range(8000 * seconds)))


# -- SIP over secure WebSocket (RFC 7118) -------------------------------------------

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


def split_uris(values: list[str]) -> list[str]:
    """Record-Route / Route values, one `<uri>;params` per entry, in order."""
    return [m.strip() for v in values for m in re.findall(r"<[^>]*>[^,]*", v)]


class WsUa:
    """A minimal SIP user agent over secure WebSocket, on asyncio and
    Debian's python3-websockets: digest REGISTER, a call out (INVITE with
    407 challenge, ACK and BYE along the route set) and answering a call in.
    It plays only the dialog steps the tests need, not a general UA."""

    def __init__(self, url: str, cafile: Path, user: str, password: str):
        self.url, self.user, self.password = url, user, password
        self.ctx = ssl.create_default_context(cafile=str(cafile))
        self.host = f"{secrets.token_hex(6)}.invalid"
        self.contact = f"<sip:{user}@{self.host};transport=ws>"
        self.tag = secrets.token_hex(4)
        self.ws = None

    async def connect(self) -> None:
        try:
            import websockets
        except ImportError:
            pytest.fail("python3-websockets is missing: apt-get install python3-websockets", pytrace=False)
        self.ws = await websockets.connect(self.url, subprotocols=["sip"], ssl=self.ctx)
        assert self.ws.subprotocol == "sip", self.ws.subprotocol

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def via(self) -> str:
        return f"Via: SIP/2.0/WSS {self.host};branch=z9hG4bK{secrets.token_hex(8)}"

    async def send(self, msg: str) -> None:
        await self.ws.send(msg)

    async def recv(self, timeout: float = 10) -> str:
        msg = await asyncio.wait_for(self.ws.recv(), timeout)
        return msg if isinstance(msg, str) else msg.decode(errors="replace")

    async def final_response(self, timeout: float = 10) -> str:
        while True:
            msg = await self.recv(timeout)
            if status_of(msg) >= 200:
                return msg

    async def request(self, method: str, uri: str, headers: str, body: str = "",
                      via: str | None = None) -> tuple[str, str]:
        """Send a request, return (its Via line, the final response)."""
        via = via or self.via()
        await self.send(f"{method} {uri} SIP/2.0\r\n{via}\r\nMax-Forwards: 70\r\n{headers}"
                        f"Content-Length: {len(body.encode())}\r\n\r\n{body}")
        return via, (await self.final_response() if method != "ACK" else "")

    async def register(self) -> str:
        call_id, auth, resp = secrets.token_hex(8), "", ""
        for cseq in (1, 2):
            headers = (f"From: <sip:{self.user}@{DOMAIN}>;tag={self.tag}\r\nTo: <sip:{self.user}@{DOMAIN}>\r\n"
                       f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: {self.contact}\r\n"
                       f"Expires: 600\r\n{auth}")
            _, resp = await self.request("REGISTER", f"sip:{DOMAIN}", headers)
            if status_of(resp) != 401:
                break
            challenge = pick_challenge(parse(resp)[1]["www-authenticate"])
            auth = digest_authorization(challenge, "REGISTER", f"sip:{DOMAIN}", self.user, self.password) + "\r\n"
        return resp

    async def call(self, callee: str, hold: float = 0.3) -> list[int]:
        """INVITE callee@DOMAIN, answer the 407, ACK the 200 and BYE along the
        route set. Returns the final statuses: [407, 200, BYE's]."""
        uri, call_id = f"sip:{callee}@{DOMAIN}", secrets.token_hex(8)
        base = (f"From: <sip:{self.user}@{DOMAIN}>;tag={self.tag}\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\n"
                f"Contact: {self.contact}\r\nContent-Type: application/sdp\r\n")
        via, resp = await self.request("INVITE", uri, base + "CSeq: 1 INVITE\r\n", SDP)
        statuses = [status_of(resp)]
        assert statuses[0] == 407, resp
        to = parse(resp)[1]["to"][0]
        await self.request("ACK", uri, f"From: <sip:{self.user}@{DOMAIN}>;tag={self.tag}\r\nTo: {to}\r\n"
                                       f"Call-ID: {call_id}\r\nCSeq: 1 ACK\r\n", via=via)
        challenge = pick_challenge(parse(resp)[1]["proxy-authenticate"])
        auth = digest_authorization(challenge, "INVITE", uri, self.user, self.password, "Proxy-Authorization")
        _, resp = await self.request("INVITE", uri, base + f"CSeq: 2 INVITE\r\n{auth}\r\n", SDP)
        statuses.append(status_of(resp))
        assert statuses[1] == 200, resp
        _, headers, _ = parse(resp)
        routes = "".join(f"Route: {r}\r\n" for r in reversed(split_uris(headers.get("record-route", []))))
        target = re.search(r"<([^>]+)>", headers["contact"][0]).group(1)
        dialog = (f"From: <sip:{self.user}@{DOMAIN}>;tag={self.tag}\r\nTo: {headers['to'][0]}\r\n"
                  f"Call-ID: {call_id}\r\n{routes}")
        await self.request("ACK", target, dialog + "CSeq: 2 ACK\r\n")
        await asyncio.sleep(hold)
        _, resp = await self.request("BYE", target, dialog + "CSeq: 3 BYE\r\n")
        statuses.append(status_of(resp))
        return statuses

    def reply(self, request: str, code: int, reason: str, to_tag: str, extra: str = "", body: str = "") -> str:
        _, h, _ = parse(request)
        vias = "".join(f"Via: {v}\r\n" for v in h["via"])
        rr = "".join(f"Record-Route: {v}\r\n" for v in h.get("record-route", []))
        to = h["to"][0] if ";tag=" in h["to"][0] else f"{h['to'][0]};tag={to_tag}"
        return (f"SIP/2.0 {code} {reason}\r\n{vias}{rr}From: {h['from'][0]}\r\nTo: {to}\r\n"
                f"Call-ID: {h['call-id'][0]}\r\nCSeq: {h['cseq'][0]}\r\n{extra}"
                f"Content-Length: {len(body.encode())}\r\n\r\n{body}")

    async def answer(self, timeout: float = 15) -> list[str]:
        """Take one incoming call: 180 and 200 (with SDP) to the INVITE, wait
        for its ACK, then 200 to the BYE. Returns the methods received."""
        to_tag, seen = secrets.token_hex(4), []
        while "BYE" not in seen:
            msg = await self.recv(timeout)
            method = msg.split(" ", 1)[0]
            if msg.startswith("SIP/2.0"):
                continue
            seen.append(method)
            if method == "INVITE":
                if seen.count("INVITE") == 1:
                    await self.send(self.reply(msg, 180, "Ringing", to_tag))
                await self.send(self.reply(msg, 200, "OK", to_tag,
                                           f"Contact: {self.contact}\r\nContent-Type: application/sdp\r\n", SDP))
            elif method == "BYE":
                await self.send(self.reply(msg, 200, "OK", to_tag))
            elif method != "ACK":
                await self.send(self.reply(msg, 501, "Not Implemented", to_tag))
        return seen
