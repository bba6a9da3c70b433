"""Harness of the SIP interop suites: the real sipd as a managed process,
sipp (Debian's sip-tester) runs judged by their statistics file and exit
code, and digest REGISTER over UDP from a chosen port (baresip and the
WebSocket UA are in sip_peers.py).

Each `Sipd` gets its own directory with a JSON config (JSON is YAML), a
SQLite database, a key file and a self-signed certificate for `localhost`
and 127.0.0.1 (made with python3-cryptography). Listeners are UDP, TLS and
WSS on port 0 of 127.0.0.1, learned from sipd's `READY` line. The flood ban
exempts 127.0.0.0/8: sipp offers hundreds of requests per second from one
address, which the default ban (16 per 2 s) would rightly stop.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import REPO_ROOT, DaemonProcess, free_port, log_tail, tool
from xmpp_helpers import deep_merge, make_certificate

DOMAIN = "localhost"
ALICE = ("alice", "alice-secret")
BOB = ("bob", "bob-secret")
CAROL = ("carol", "carol-secret")
SIPP_DIR = Path(__file__).resolve().parent / "sipp"
NODE_DIR = Path(__file__).resolve().parent / "node"


def sbinary(name: str) -> str:
    """sipd / sipctl: $SIPD_BIN / $SIPCTL_BIN, else target/debug/ of the repo."""
    env = name.upper() + "_BIN"
    path = Path(os.environ.get(env) or REPO_ROOT / "target" / "debug" / name)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{name} not found at {path}: run `cargo build -p sipd --bins` (or set {env})", pytrace=False)
    return str(path)


class Sipd(DaemonProcess):
    """One sipd process with UDP, TLS and WSS listeners on 127.0.0.1."""

    def __init__(self, workdir: Path, config: dict | None = None, name: str = "sipd"):
        self.bin, self.ctl_bin = sbinary("sipd"), sbinary("sipctl")
        self.dir, self.name = workdir, name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = make_certificate(self.dir / "tls")
        tls = {"certificates": [{"cert": str(self.cert), "key": str(self.key)}]}
        self.db_path = self.dir / "sipd.sqlite"
        self.config_path = self.dir / "sipd.yaml"
        self.log_path = self.dir / "sipd.log"
        self.config = deep_merge({
            "log": "info",
            "workers": 2,
            "domains": [DOMAIN],
            "database": {"sqlite": {"path": str(self.db_path)}},
            "secret_file": str(self.dir / "secret"),
            "shutdown_grace_secs": 1,
            "flood": {"exempt": ["127.0.0.0/8"]},
            "listeners": [
                {"proto": "udp", "addr": "127.0.0.1:0"},
                {"proto": "tls", "addr": "127.0.0.1:0", "tls": tls},
                {"proto": "wss", "addr": "127.0.0.1:0", "tls": tls},
            ],
        }, config or {})
        self.config_path.write_text(json.dumps(self.config, indent=2) + "\n")
        self.proc: subprocess.Popen | None = None
        self.stdout_lines: list[str] = []
        self.listeners: dict[str, tuple[str, int]] = {}
        self.history: list[str] = []

    # -- sipctl ------------------------------------------------------------

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run the real sipctl on this daemon's config; fails the test on a non-zero exit."""
        cmd = [self.ctl_bin, "-c", str(self.config_path), *args]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        self.history.append(f"$ {' '.join(cmd)}\n[rc={res.returncode}]\n{res.stdout[-2000:]}{res.stderr}")
        if check and res.returncode != 0:
            pytest.fail(f"sipctl {' '.join(args)} exited {res.returncode}: {res.stdout}{res.stderr}", pytrace=False)
        return res

    def add_users(self, users: list[tuple[str, str]], with_sipctl: int = 10) -> None:
        """Create `users` in DOMAIN: the first `with_sipctl` with `sipctl add`,
        the rest written in one SQLite transaction in exactly the form sipctl
        writes (checked here against the rows sipctl made).

        sipctl has no batch mode and each run commits (fsyncs) on its own:
        about 30 ms each here, 30 s for 1,000 users, against 0.1 s for one
        transaction.
        """
        for user, password in users[:with_sipctl]:
            self.ctl("add", user, password, "--domain", DOMAIN)
        rest = [subscriber_row(u, p) for u, p in users[with_sipctl:]]
        with sqlite3.connect(self.db_path, timeout=10) as db:
            for user, password in users[:with_sipctl]:
                got = db.execute("SELECT domain, username, ha1, ha1b, ha1_sha256 FROM sip_subscriber "
                                 "WHERE domain = ? AND username = ?", (DOMAIN, user)).fetchone()
                assert got == subscriber_row(user, password)[:5], f"sipctl wrote {got}, the bulk path assumes another form"
            db.executemany("INSERT INTO sip_subscriber (domain, username, ha1, ha1b, ha1_sha256, created_at, "
                           "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rest)
        self.history.append(f"(bulk) inserted {len(rest)} subscribers into {self.db_path}")

    def online(self) -> list[str]:
        """`sipctl online`: the addresses of record with a live registration."""
        return [line for line in self.ctl("online").stdout.splitlines() if line.strip()]

    def bindings(self, aor: str) -> list[str]:
        """`sipctl ul show AOR`: one line per contact ([] when sipctl says there is none)."""
        res = self.ctl("ul", "show", aor, check=False)
        if res.returncode == 1 and "no registration" in res.stderr:
            return []
        if res.returncode != 0:
            pytest.fail(f"sipctl ul show {aor} exited {res.returncode}: {res.stdout}{res.stderr}", pytrace=False)
        return [line for line in res.stdout.splitlines() if line.strip()]

    # -- lifecycle ---------------------------------------------------------

    def start(self, timeout: float = 30.0) -> "Sipd":
        """Start sipd and wait for its READY line (listeners learned from it)."""
        self.listeners = {}
        info = self._launch(timeout)
        assert info.get("daemon") == "sipd", info
        for item in info["listeners"]:
            host, _, port = item["addr"].rpartition(":")
            self.listeners.setdefault(item["proto"], (host.strip("[]"), int(port)))
        return self

    def report(self) -> str:
        return "\n".join([f"config {self.config_path}:\n{self.config_path.read_text()}",
                          "sipctl runs:\n" + "\n".join(self.history[-20:]),
                          "stdout:\n" + "\n".join(self.stdout_lines),
                          f"log {self.log_path}:\n{log_tail(self.log(), 200)}"])

    def addr(self, proto: str) -> tuple[str, int]:
        return self.listeners[proto]


def wait_for(probe, timeout: float, explain=lambda: ""):
    """The first truthy value of probe() within `timeout` seconds, else fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not reached within {timeout}s\n{explain()}")


def subscriber_row(user: str, password: str) -> tuple:
    """The sip_subscriber row sipctl writes: the RFC 2617 HA1, the
    user@domain HA1 (kamailio's ha1b) and the RFC 8760 SHA-256 HA1."""
    now = int(time.time())
    ha1 = hashlib.md5(f"{user}:{DOMAIN}:{password}".encode()).hexdigest()
    ha1b = hashlib.md5(f"{user}@{DOMAIN}:{DOMAIN}:{password}".encode()).hexdigest()
    sha = hashlib.sha256(f"{user}:{DOMAIN}:{password}".encode()).hexdigest()
    return (DOMAIN, user, ha1, ha1b, sha, now, now)


# -- sipp --------------------------------------------------------------------


@dataclass
class SippResult:
    cmd: list[str]
    returncode: int
    stats: dict[str, str]
    screen: str
    errors: str

    def count(self, column: str) -> int:
        return int(self.stats.get(column, "-1") or -1)

    def summary(self) -> str:
        keys = ["TotalCallCreated", "SuccessfulCall(C)", "FailedCall(C)", "FailedMaxUDPRetrans(C)",
                "FailedUnexpectedMessage(C)", "FailedCallRejected(C)", "FailedCmdNotSent(C)", "Retransmissions(C)"]
        stats = ", ".join(f"{k}={self.stats.get(k)}" for k in keys)
        return (f"$ {' '.join(self.cmd)}\nexit status {self.returncode}; {stats}\n"
                f"screen:\n{log_tail(self.screen, 80)}\nerrors:\n{log_tail(self.errors, 40)}")


class Sipp:
    """One sipp run (foreground with `run`, background with `start`/`wait`).

    Statistics go to a CSV file (`-trace_stat -stf`), whose last line holds
    the cumulative counters; the final screen goes to `-screen_file`. sipp's
    exit status is 0 only when every call succeeded.
    """

    def __init__(self, workdir: Path, name: str, scenario: str, remote: tuple[str, int] | None,
                 args: list[str], port: int | None = None):
        self.bin = tool("sipp", "sip-tester")
        workdir.mkdir(parents=True, exist_ok=True)
        self.dir, self.name = workdir, name
        self.port = port or free_port(udp=True, tcp=False)
        self.stat_file = workdir / f"{name}-stats.csv"
        self.screen_file = workdir / f"{name}-screen.log"
        self.error_file = workdir / f"{name}-errors.log"
        self.cmd = [self.bin, *([f"{remote[0]}:{remote[1]}"] if remote else []),
                    "-sf", str(SIPP_DIR / scenario), "-i", "127.0.0.1", "-p", str(self.port), "-t", "u1",
                    "-nostdin", "-trace_stat", "-stf", str(self.stat_file), "-fd", "1",
                    "-trace_screen", "-screen_file", str(self.screen_file),
                    "-trace_err", "-error_file", str(self.error_file), *args]
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Sipp":
        self.proc = subprocess.Popen(self.cmd, cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=open(self.dir / f"{self.name}-stderr.log", "w"))
        return self

    def wait(self, timeout: float) -> SippResult:
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = -9
        return self.result(rc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def run(self, timeout: float) -> SippResult:
        return self.start().wait(timeout)

    def result(self, rc: int) -> SippResult:
        stats: dict[str, str] = {}
        if self.stat_file.exists():
            rows = list(csv.reader(self.stat_file.read_text(errors="replace").splitlines(), delimiter=";"))
            if len(rows) >= 2:
                stats = dict(zip(rows[0], rows[-1]))
        read = lambda p: p.read_text(errors="replace") if p.exists() else ""  # noqa: E731
        stderr = read(self.dir / f"{self.name}-stderr.log")
        return SippResult(self.cmd, rc, stats, read(self.screen_file) + stderr, read(self.error_file))


def assert_all_calls_ok(result: SippResult, expected: int) -> None:
    """sipp exited 0 (all calls successful), and its statistics count
    `expected` successful calls and no failed one."""
    assert result.stats, f"sipp wrote no statistics\n{result.summary()}"
    assert result.returncode == 0, f"sipp reports failed calls\n{result.summary()}"
    assert result.count("FailedCall(C)") == 0, result.summary()
    assert result.count("SuccessfulCall(C)") == expected, result.summary()


def write_users_csv(path: Path, users: list[tuple[str, str]]) -> Path:
    """sipp's injection file: `user;domain;[authentication ...]` per line."""
    lines = ["SEQUENTIAL"] + [f"{u};{DOMAIN};[authentication username={u} password={p}]" for u, p in users]
    path.write_text("\n".join(lines) + "\n")
    return path


# -- a small SIP user agent ------------------------------------------------------


def parse(msg: str) -> tuple[str, dict[str, list[str]], str]:
    """(start line, headers by lower-case name, body) of one SIP message."""
    head, _, body = msg.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers: dict[str, list[str]] = {}
    compact = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
               "c": "content-type"}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers.setdefault(compact.get(key, key), []).append(value.strip())
    return lines[0], headers, body


def status_of(msg: str) -> int:
    start = msg.split("\r\n", 1)[0]
    return int(start.split()[1]) if start.startswith("SIP/2.0 ") else 0


def digest_authorization(challenge: str, method: str, uri: str, user: str, password: str,
                         header: str = "Authorization") -> str:
    """An RFC 7616/8760 digest answer (qop=auth) to one challenge header value."""
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge.split(" ", 1)[1]))
    algorithm = params.get("algorithm", "MD5")
    h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[algorithm]
    hx = lambda s: h(s.encode()).hexdigest()  # noqa: E731
    realm, nonce = params["realm"], params["nonce"]
    ha1, ha2 = hx(f"{user}:{realm}:{password}"), hx(f"{method}:{uri}")
    cnonce, nc = secrets.token_hex(8), "00000001"
    if "qop" in params:
        response = hx(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        extra = f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        response, extra = hx(f"{ha1}:{nonce}:{ha2}"), ""
    opaque = f', opaque="{params["opaque"]}"' if "opaque" in params else ""
    return (f'{header}: Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", algorithm={algorithm}{extra}{opaque}')


def pick_challenge(values: list[str]) -> str:
    """The first challenge whose algorithm we implement (sipd offers SHA-256 then MD5)."""
    for v in values:
        alg = re.search(r"algorithm=\"?([\w-]+)", v)
        if (alg.group(1) if alg else "MD5") in ("MD5", "SHA-256"):
            return v
    raise AssertionError(f"no usable challenge in {values}")


def register_udp(server: tuple[str, int], user: str, password: str, port: int, expires: int = 3600) -> None:
    """REGISTER user@DOMAIN with Contact 127.0.0.1:port, sent from that very
    port (so sipd sees no NAT), answering the 401 challenge; the port is free
    again on return, for sipp to bind."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.settimeout(5)
    try:
        call_id, tag = secrets.token_hex(8), secrets.token_hex(4)
        auth = ""
        for cseq in (1, 2):
            req = (f"REGISTER sip:{DOMAIN} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP 127.0.0.1:{port};rport;branch=z9hG4bK{secrets.token_hex(8)}\r\n"
                   f"Max-Forwards: 70\r\nFrom: <sip:{user}@{DOMAIN}>;tag={tag}\r\nTo: <sip:{user}@{DOMAIN}>\r\n"
                   f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
                   f"Contact: <sip:{user}@127.0.0.1:{port}>\r\nExpires: {expires}\r\n{auth}"
                   f"Content-Length: 0\r\n\r\n")
            s.sendto(req.encode(), server)
            while True:
                resp = s.recv(65535).decode(errors="replace")
                code = status_of(resp)
                if code >= 200:
                    break
            if code == 200:
                return
            assert code == 401 and cseq == 1, f"REGISTER {user}: got {resp!r}"
            challenge = pick_challenge(parse(resp)[1]["www-authenticate"])
            auth = digest_authorization(challenge, "REGISTER", f"sip:{DOMAIN}", user, password) + "\r\n"
        raise AssertionError(f"REGISTER {user} not accepted: {resp!r}")
    finally:
        s.close()
