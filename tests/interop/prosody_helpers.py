"""Debian's Prosody (0.12) as a federation peer of xmppd: an unprivileged
instance with its own generated config, data directory and free ports,
accounts registered with the real prosodyctl, and a test certificate
authority both servers can trust.

Prosody has no hosts override, so `prosody/mod_test_s2s_routes.lua` (a
ten-line test plugin) maps `xmppd.test` to xmppd's s2s port on 127.0.0.1;
xmppd uses its own `s2s.hosts` static routes. No DNS and no /etc/hosts
edits are involved.
"""

from __future__ import annotations

import datetime
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import free_port, log_tail

PLUGIN_DIR = Path(__file__).resolve().parent / "prosody"


def _crypto():
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        pytest.fail("python3-cryptography is missing: apt-get install python3-cryptography", pytrace=False)
    return x509, hashes, serialization, ec, ExtendedKeyUsageOID, NameOID


class CertAuthority:
    """A throw-away certificate authority (P-256)."""

    def __init__(self, directory: Path, name: str = "Federation Test CA"):
        x509, hashes, serialization, ec, _, NameOID = _crypto()
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.path = directory / "ca.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, domain: str, directory: Path, client_auth: bool, self_signed: bool = False) -> tuple[Path, Path]:
        """cert.pem/key.pem for `domain` (SAN dNSName). serverAuth EKU always,
        clientAuth only if asked; `self_signed` ignores the CA (an untrusted peer)."""
        x509, hashes, serialization, ec, EKU, NameOID = _crypto()
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
        now = datetime.datetime.now(datetime.timezone.utc)
        usages = [EKU.SERVER_AUTH] + ([EKU.CLIENT_AUTH] if client_auth else [])
        builder = (
            x509.CertificateBuilder().subject_name(subject)
            .issuer_name(subject if self_signed else self.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.BasicConstraints(ca=self_signed, path_length=None), critical=True)
        )
        cert = builder.sign(key if self_signed else self.key, hashes.SHA256())
        cert_path, key_path = directory / "cert.pem", directory / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        os.chmod(key_path, 0o644)
        return cert_path, key_path


def lua_str(s: str | Path) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Prosody:
    """One unprivileged Prosody serving `domain` on free ports of 127.0.0.1."""

    def __init__(self, workdir: Path, domain: str, cert: Path, key: Path, cafile: Path,
                 secure_auth: bool, bidi: bool = False, name: str = "prosody"):
        for tool in ("prosody", "prosodyctl"):
            if shutil.which(tool) is None:
                pytest.fail("prosody is missing: apt-get install prosody", pytrace=False)
        self.dir, self.domain, self.name = workdir, domain, name
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "data").mkdir(exist_ok=True)
        self.c2s_port = free_port(udp=False)
        self.s2s_port = free_port(udp=False, avoid={self.c2s_port})
        self.s2s_tls_port = free_port(udp=False, avoid={self.c2s_port, self.s2s_port})
        self.log_path = self.dir / "prosody.log"
        self.config_path = self.dir / "prosody.cfg.lua"
        self.cert, self.key, self.cafile, self.secure_auth = cert, key, cafile, secure_auth
        self.bidi = bidi
        self.proc: subprocess.Popen | None = None

    def configure(self, routes: dict[str, tuple]) -> None:
        """Write the config; `routes` maps remote domains to (host, port) or
        (host, port, direct_tls_port)."""
        cert, key, cafile, secure_auth = self.cert, self.key, self.cafile, self.secure_auth
        route_lua = ", ".join(f"[{lua_str(d)}] = {{ {lua_str(r[0])}, {', '.join(str(p) for p in r[1:])} }}"
                              for d, r in routes.items())
        self.config_path.write_text(f"""-- generated by tests/interop/prosody_helpers.py
run_as_root = true
daemonize = false
pidfile = {lua_str(self.dir / "prosody.pid")}
data_path = {lua_str(self.dir / "data")}
plugin_paths = {{ {lua_str(PLUGIN_DIR)} }}
log = {{ debug = {lua_str(self.log_path)} }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {self.c2s_port} }}
s2s_ports = {{ {self.s2s_port} }}
c2s_direct_tls_ports = {{ }}
s2s_direct_tls_ports = {{ {self.s2s_tls_port} }}
http_ports = {{ }}
https_ports = {{ }}
admin_socket = {lua_str(self.dir / "admin.sock")}
modules_enabled = {{ "roster", "saslauth", "tls", "dialback", "disco", "ping", "s2s_auth_certs", "test_s2s_routes"{', "s2s_bidi"' if self.bidi else ''} }}
modules_disabled = {{ {'' if self.bidi else '"s2s_bidi", '}"offline", "admin_shell", "posix" }}
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = {"true" if secure_auth else "false"}
ssl = {{ certificate = {lua_str(cert)}; key = {lua_str(key)}; cafile = {lua_str(cafile)} }}
test_s2s_routes = {{ {route_lua} }}
VirtualHost {lua_str(self.domain)}
""")

    def register(self, user: str, password: str) -> None:
        res = subprocess.run(["prosodyctl", "--config", str(self.config_path), "register", user, self.domain,
                              password], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        if res.returncode != 0:
            pytest.fail(f"prosodyctl register failed ({res.returncode}): {res.stdout}{res.stderr}", pytrace=False)

    def start(self, timeout: float = 20.0) -> "Prosody":
        with open(self.dir / "stdout.log", "a") as out:
            self.proc = subprocess.Popen(["prosody", "--config", str(self.config_path), "-F"], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        import socket
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"prosody exited with {self.proc.returncode}\n{self.report()}", pytrace=False)
            try:
                socket.create_connection(("127.0.0.1", self.s2s_port), timeout=0.2).close()
                socket.create_connection(("127.0.0.1", self.c2s_port), timeout=0.2).close()
                socket.create_connection(("127.0.0.1", self.s2s_tls_port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"prosody did not listen within {timeout:.0f}s\n{self.report()}", pytrace=False)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def report(self) -> str:
        out = ""
        try:
            out = (self.dir / "stdout.log").read_text(errors="replace")
        except FileNotFoundError:
            pass
        return f"--- config {self.config_path}\n{self.config_path.read_text()}\n--- stdout\n{out}\n--- log\n{log_tail(self.log(), 120)}"
