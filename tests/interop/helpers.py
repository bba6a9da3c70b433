"""Harness for the interop suites: locating binaries and peer tools, free
ports, and the `turnd` daemon and `turnutils_*` peers as managed processes.

Everything here fails the test with a readable message (never skips): a
missing binary, a missing Debian tool, a daemon that does not print READY.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REALM = "test.realm"
ALICE = ("alice", "alice-secret")

# Ports we pick ourselves come from below the kernel's ephemeral range
# (32768-60999 on Debian), so an OS-assigned port cannot race with them.
PICK_RANGE = (20000, 32000)

# Relay tests talk to peers on 127.0.0.1, which turnd's default policy refuses.
LOOPBACK_PEERS = {"peers": {"allow": ["127.0.0.1/32"]}}


def binary(name: str, env_var: str) -> str:
    """A workspace binary: $ENV_VAR if set, else target/debug/NAME of the repo."""
    path = Path(os.environ.get(env_var) or REPO_ROOT / "target" / "debug" / name)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{name} binary not found at {path}: run `cargo build --workspace --bins` first "
            f"(or point {env_var} at it)",
            pytrace=False,
        )
    return str(path)


def tool(name: str, package: str = "coturn") -> str:
    """A peer tool from Debian; fails (never skips) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"peer tool {name!r} is not installed: install the Debian package {package} "
            f"(`make test-deps` or `apt-get install {package}`)",
            pytrace=False,
        )
    return path


def port_is_free(port: int, host: str = "127.0.0.1", udp: bool = True, tcp: bool = True) -> bool:
    """Whether `port` can be bound on `host` for the given transports right now.

    No SO_REUSEADDR/SO_REUSEPORT here, so a socket someone else bound with
    SO_REUSEPORT (as turnd and turnutils_peer do) also counts as taken.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kinds = ([socket.SOCK_DGRAM] if udp else []) + ([socket.SOCK_STREAM] if tcp else [])
    socks = []
    try:
        for kind in kinds:
            s = socket.socket(family, kind)
            socks.append(s)
            s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def free_port(host: str = "127.0.0.1", udp: bool = True, tcp: bool = True, avoid: set[int] | None = None) -> int:
    """A port free for UDP and/or TCP on `host`, picked at random in PICK_RANGE."""
    for _ in range(500):
        port = random.randrange(*PICK_RANGE)
        if avoid and port in avoid:
            continue
        if port_is_free(port, host, udp, tcp):
            return port
    raise RuntimeError(f"no free port found in {PICK_RANGE} on {host}")


def log_tail(text: str, lines: int = 60) -> str:
    rows = text.splitlines()
    return "\n".join(rows[-lines:])


class DaemonProcess:
    """The process side shared by the sipd and xmppd wrappers: start the
    binary with `--config`, collect stdout, wait for the `READY {json}` line,
    stop with SIGTERM or SIGKILL. Subclasses set `name`, `bin`,
    `config_path` and `log_path`, and provide `report()`."""

    name: str
    bin: str
    config_path: Path
    log_path: Path
    proc: subprocess.Popen | None = None
    stdout_lines: list[str]

    def report(self) -> str:
        raise NotImplementedError

    def _read_stdout(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.stdout_lines.append(line.rstrip("\n"))

    def _launch(self, timeout: float) -> dict:
        """Start the daemon and return its READY information."""
        assert not self.running(), "already running"
        self.stdout_lines = []
        with open(self.log_path, "a") as log:
            log.write(f"==== starting {self.bin} --config {self.config_path}\n")
            log.flush()
            self.proc = subprocess.Popen([self.bin, "--config", str(self.config_path)], stdout=subprocess.PIPE,
                                         stderr=log, stdin=subprocess.DEVNULL, text=True,
                                         env={**os.environ, "RUST_LOG": ""})
        threading.Thread(target=self._read_stdout, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.stdout_lines):
                if line.startswith("READY "):
                    return json.loads(line[len("READY "):])
            if self.proc.poll() is not None:
                time.sleep(0.1)
                pytest.fail(f"{self.name} exited with {self.proc.returncode} before READY\n{self.report()}",
                            pytrace=False)
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        pytest.fail(f"{self.name} printed no READY line within {timeout:.0f}s\n{self.report()}", pytrace=False)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM; returns the exit status (fails if the daemon does not exit in time)."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"{self.name} did not exit within {timeout:.0f}s of SIGTERM\n{self.report()}",
                            pytrace=False)
        return self.proc.returncode if self.proc else 0

    def kill9(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        assert self.proc.returncode == -signal.SIGKILL

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class Turnd:
    """One turnd process with its own config, SQLite database and log.

    `config` holds the YAML keys to override (the file is written as JSON,
    which is YAML). Defaults: UDP+TCP on one free port of 127.0.0.1, a TLS
    listener with a self-signed certificate when `tls=True`, relay on
    127.0.0.1, realm test.realm, a 2 s shutdown grace.
    """

    def __init__(self, workdir: Path, config: dict | None = None, tls: bool = False, name: str = "turnd"):
        self.bin = binary("turnd", "TURND_BIN")
        self.admin_bin = binary("turnadmin", "TURNADMIN_BIN")
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.config_path = self.dir / "turnd.yaml"
        self.log_path = self.dir / "turnd.log"
        self.db_path = self.dir / "turnd.sqlite"
        self.tls_dir = self.dir / "tls"
        self.proc: subprocess.Popen | None = None
        self.stdout_lines: list[str] = []
        self.listeners: dict[str, tuple[str, int]] = {}
        self.history: list[str] = []
        self.port = free_port()
        self.tls_port = free_port(avoid={self.port}) if tls else None
        listeners = [
            {"proto": "udp", "addr": f"127.0.0.1:{self.port}"},
            {"proto": "tcp", "addr": f"127.0.0.1:{self.port}"},
        ]
        base = {
            "log": "info,turnd=debug",
            "database": {"sqlite": {"path": str(self.db_path)}},
            "listeners": listeners,
            "relay": {"addresses": ["127.0.0.1"]},
            "realm": REALM,
            "shutdown_grace_secs": 2,
        }
        if tls:
            listeners.append({"proto": "tls", "addr": f"127.0.0.1:{self.tls_port}"})
            base["tls"] = {"self_signed": {"dir": str(self.tls_dir), "names": ["localhost", "127.0.0.1"]}}
        base.update(config or {})
        self.config = base
        self.config_path.write_text(json.dumps(self.config, indent=2) + "\n")

    # -- turnadmin -------------------------------------------------------

    def turnadmin(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run the real turnadmin against this daemon's configuration file."""
        cmd = [self.admin_bin, "-c", str(self.config_path), *args]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        self.history.append(f"$ {' '.join(cmd)}\n[rc={res.returncode}]\n{res.stdout}{res.stderr}")
        if check and res.returncode != 0:
            pytest.fail(
                f"turnadmin {' '.join(args)} exited {res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}",
                pytrace=False,
            )
        return res

    def add_user(self, user: str, password: str, realm: str = REALM) -> None:
        self.turnadmin("-a", "-u", user, "-p", password, "-r", realm)

    # -- lifecycle --------------------------------------------------------

    def _read_stdout(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.stdout_lines.append(line.rstrip("\n"))

    def start(self, timeout: float = 30.0) -> "Turnd":
        """Start turnd and wait for its READY line (listeners learned from it)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.stdout_lines = []
        log = open(self.log_path, "a")
        log.write(f"==== starting {self.bin} -c {self.config_path}\n")
        log.flush()
        self.proc = subprocess.Popen(
            [self.bin, "-c", str(self.config_path)],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "RUST_LOG": ""},
        )
        log.close()
        threading.Thread(target=self._read_stdout, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.stdout_lines):
                if line.startswith("READY "):
                    self._parse_ready(line)
                    return self
            if self.proc.poll() is not None:
                time.sleep(0.1)
                pytest.fail(
                    f"turnd exited with status {self.proc.returncode} before READY\n"
                    f"config {self.config_path}:\n{self.config_path.read_text()}\n"
                    f"stdout: {self.stdout_lines}\nlog {self.log_path}:\n{log_tail(self.log())}",
                    pytrace=False,
                )
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        pytest.fail(
            f"turnd printed no READY line within {timeout:.0f}s\nstdout: {self.stdout_lines}\n"
            f"log {self.log_path}:\n{log_tail(self.log())}",
            pytrace=False,
        )

    def _parse_ready(self, line: str) -> None:
        info = json.loads(line[len("READY ") :])
        assert info.get("daemon") == "turnd", line
        assert info.get("pid") == self.proc.pid, f"READY pid {info.get('pid')} != {self.proc.pid}"
        self.listeners = {}
        for item in info["listeners"]:
            host, _, port = item["addr"].rpartition(":")
            self.listeners.setdefault(item["proto"], (host.strip("[]"), int(port)))

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 8.0) -> int:
        """SIGTERM; returns the exit status (fails if it does not exit in time)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"turnd did not exit within {timeout:.0f}s of SIGTERM\n{log_tail(self.log())}",
                            pytrace=False)
        return self.proc.returncode

    def kill9(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        assert self.proc.returncode == -signal.SIGKILL

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def report(self) -> str:
        """Everything useful after a failure: config, turnadmin runs, stdout, log."""
        parts = [f"config {self.config_path}:\n{self.config_path.read_text()}"]
        if self.history:
            parts.append("turnadmin runs:\n" + "\n".join(self.history))
        parts.append("stdout:\n" + "\n".join(self.stdout_lines))
        parts.append(f"log {self.log_path}:\n{log_tail(self.log(), 200)}")
        return "\n".join(parts)

    @property
    def udp(self) -> tuple[str, int]:
        return self.listeners["udp"]

    @property
    def tcp(self) -> tuple[str, int]:
        return self.listeners["tcp"]

    @property
    def tls(self) -> tuple[str, int]:
        return self.listeners["tls"]

    @property
    def certificate(self) -> Path:
        """The self-signed certificate turnd generated (the only *cert*.pem in the TLS dir)."""
        found = sorted(p for p in self.tls_dir.glob("*.pem") if "cert" in p.name)
        assert found, f"no certificate written to {self.tls_dir}: {list(self.tls_dir.iterdir())}"
        return found[0]


class UdpPeer:
    """turnutils_peer: coturn's UDP echo peer, on its own free port."""

    def __init__(self, workdir: Path):
        self.bin = tool("turnutils_peer")
        self.port = free_port(udp=True, tcp=False)
        self.log_path = workdir / f"peer-{self.port}.log"
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [self.bin, "-L", "127.0.0.1", "-p", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()
        self._wait_echo()

    def _wait_echo(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            for _ in range(50):
                if self.proc.poll() is not None:
                    break
                try:
                    s.sendto(b"ping", ("127.0.0.1", self.port))
                    if s.recvfrom(100)[0] == b"ping":
                        return
                except OSError:
                    pass
        pytest.fail(f"turnutils_peer did not echo on 127.0.0.1:{self.port}\n{self.log_path.read_text()}",
                    pytrace=False)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class UclientResult:
    """What turnutils_uclient reported."""

    cmd: list[str]
    returncode: int
    output: str
    sent: int | None
    received: int | None
    lost: int | None
    send_dropped: int | None

    def summary(self) -> str:
        return (
            f"$ {' '.join(self.cmd)}\nexit status {self.returncode}; tot_send_msgs={self.sent} "
            f"tot_recv_msgs={self.received} lost={self.lost} send_dropped={self.send_dropped}\n"
            f"--- uclient output (tail) ---\n{log_tail(self.output, 40)}"
        )


_TOTALS = re.compile(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$", re.M)
_LOST = re.compile(r"Total lost packets (\d+) \([^)]*\), total send dropped (\d+)")


def parse_uclient(cmd: list[str], returncode: int, output: str) -> UclientResult:
    totals = _TOTALS.findall(output)
    lost = _LOST.findall(output)
    sent, received = (int(totals[-1][0]), int(totals[-1][1])) if totals else (None, None)
    lost_n, dropped = (int(lost[-1][0]), int(lost[-1][1])) if lost else (None, None)
    return UclientResult(cmd, returncode, output, sent, received, lost_n, dropped)


def run_uclient(args: list[str], server: str = "127.0.0.1", timeout: float = 45.0) -> UclientResult:
    """Run turnutils_uclient with `args` against `server`; never raises on failure."""
    cmd = [tool("turnutils_uclient"), *args, server]
    # Unbuffered, so that the output of a run killed on timeout is not lost.
    stdbuf = shutil.which("stdbuf")
    unbuffered = [stdbuf, "-o0", "-e0"] if stdbuf else []
    try:
        res = subprocess.run(unbuffered + cmd, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
        return parse_uclient(cmd, res.returncode, res.stdout + res.stderr)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return parse_uclient(cmd, -1, out + f"\n[killed after {timeout:.0f}s]")


def assert_no_loss(result: UclientResult, expected_messages: int) -> None:
    """uclient succeeded, sent everything, got everything back, lost nothing."""
    assert result.returncode == 0, f"uclient failed\n{result.summary()}"
    assert result.sent == expected_messages, f"uclient did not send every message\n{result.summary()}"
    assert result.received == result.sent, f"sent != received\n{result.summary()}"
    assert result.lost == 0, f"uclient lost packets\n{result.summary()}"
    assert result.send_dropped == 0, f"uclient dropped sends\n{result.summary()}"
