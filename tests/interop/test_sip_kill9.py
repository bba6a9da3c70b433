"""kill -9 of sipd in the middle of a sipp REGISTER load loses no
acknowledged registration.

sipd batches the registrations that arrive while a commit is running into
one transaction (group commit) and sends each 200 OK only after the commit
that holds it. So whatever sipp saw a 200 OK for must still be there after
SIGKILL and a restart on the same SQLite file: listed by `sipctl`, and
routable, i.e. an OPTIONS to the address of record reaches the contact.

sipp (Debian's sip-tester) registers CSV users at a steady rate and logs each
user whose authenticated REGISTER got its 200 OK (`register_logged.xml`,
`-trace_logs`). sipd is killed once a few hundred registrations are in the
database; the REGISTERs sipp sends afterwards time out.
"""

from __future__ import annotations

import re
import secrets
import socket
import sqlite3
import time

from sip_helpers import DOMAIN, Sipp, parse, wait_for, write_users_csv

USERS = [(f"k{i:04d}", f"pw{i:04d}") for i in range(1, 3001)]
MD5_ONLY = {"auth": {"algorithms": ["MD5"]}}


def stored_registrations(db_path) -> int:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM sip_location").fetchone()[0]
    except sqlite3.Error:
        return 0


def options_reach_contacts(server: tuple[str, int], contact_port: int, users: list[str]) -> set[str]:
    """Send an OPTIONS for each user@DOMAIN to sipd from a foreign domain (no
    authentication needed) and return the users whose request sipd forwarded
    to 127.0.0.1:contact_port, answering each with 200."""
    contact = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    contact.bind(("127.0.0.1", contact_port))
    contact.settimeout(0.2)
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    probe.setblocking(False)
    reached: set[str] = set()

    def drain(until: float) -> None:
        while time.monotonic() < until:
            try:
                data = contact.recv(65535).decode(errors="replace")
            except socket.timeout:
                return
            start, headers, _ = parse(data)
            m = re.match(r"OPTIONS sip:([^@]+)@", start)
            if not m:
                continue
            reached.add(m.group(1))
            vias = "".join(f"Via: {v}\r\n" for v in headers.get("via", []))
            answer = (f"SIP/2.0 200 OK\r\n{vias}From: {headers['from'][0]}\r\nTo: {headers['to'][0]};tag=ua\r\n"
                      f"Call-ID: {headers['call-id'][0]}\r\nCSeq: {headers['cseq'][0]}\r\nContent-Length: 0\r\n\r\n")
            contact.sendto(answer.encode(), server)
            try:
                while True:
                    probe.recv(65535)
            except BlockingIOError:
                pass

    try:
        for i, user in enumerate(users):
            req = (f"OPTIONS sip:{user}@{DOMAIN} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP 127.0.0.1:{probe.getsockname()[1]};rport;branch=z9hG4bK{secrets.token_hex(8)}\r\n"
                   f"Max-Forwards: 70\r\nFrom: <sip:probe@example.org>;tag={secrets.token_hex(4)}\r\n"
                   f"To: <sip:{user}@{DOMAIN}>\r\nCall-ID: {secrets.token_hex(8)}\r\nCSeq: 1 OPTIONS\r\n"
                   f"Content-Length: 0\r\n\r\n")
            probe.sendto(req.encode(), server)
            if i % 50 == 49:
                drain(time.monotonic() + 0.05)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not reached.issuperset(users):
            drain(deadline)
    finally:
        contact.close()
        probe.close()
    return reached


def test_kill9_during_sipp_register_load_loses_no_acknowledged_registration(sipd_factory, tmp_path):
    sipd = sipd_factory(MD5_ONLY, users=USERS)
    users_csv = write_users_csv(tmp_path / "users.csv", USERS)
    log_file = tmp_path / "sipp" / "registered.log"
    sipp = Sipp(tmp_path / "sipp", "register", "register_logged.xml", sipd.addr("udp"),
                ["-inf", str(users_csv), "-auth_uri", DOMAIN, "-r", "400", "-m", str(len(USERS)),
                 "-trace_logs", "-log_file", str(log_file), "-recv_timeout", "2000", "-timeout", "40s"])
    sipp.start()
    try:
        wait_for(lambda: stored_registrations(sipd.db_path) >= 300, 30,
                 lambda: f"no registrations stored\n{sipd.report()}")
        sipd.proc.kill()  # SIGKILL, mid-load
        sipd.proc.wait()
        result = sipp.wait(timeout=60)
    finally:
        sipp.stop()

    acked = sorted(set(re.findall(r"REGISTERED (k\d{4})", log_file.read_text() if log_file.exists() else "")))
    failed = result.count("FailedCall(C)")
    assert len(acked) >= 100, f"only {len(acked)} acknowledged registrations\n{result.summary()}"
    assert failed > 0, f"sipd was killed after the load ended, not during it\n{result.summary()}"

    sipd.start()
    online = {line.split("@")[0] for line in sipd.online()}
    missing = [u for u in acked if u not in online]
    assert not missing, f"{len(missing)} acknowledged registrations lost after kill -9, e.g. {missing[:10]}"
    reached = options_reach_contacts(sipd.addr("udp"), sipp.port, acked)
    unreached = [u for u in acked if u not in reached]
    assert not unreached, (f"{len(unreached)} of {len(acked)} acknowledged users not routable after the restart, "
                           f"e.g. {unreached[:10]}\n{sipd.report()}")
