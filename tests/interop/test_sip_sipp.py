"""sipd against sipp (Debian's sip-tester 3.6.1): digest REGISTER of 1,000
users from an injection file, and INVITE/ACK/BYE calls between two
registered users through the record-routing proxy.

sipp 3.6.1 computes only MD5 digests and takes the first challenge it
sees, so these sites offer MD5 only (`auth.algorithms: [MD5]`, as a site
with old phones would); by default sipd offers SHA-256 first. sipp also puts
`sip:REMOTE_IP:PORT` in the digest uri unless told the Request-URI with
`-auth_uri`, which sipd rightly refuses (403 "digest uri mismatch").
Each run asserts sipp's exit status (0: every call succeeded) and its
statistics file: the expected number of successful calls, no failed one.
"""

from __future__ import annotations

import re

from sip_helpers import ALICE, BOB, DOMAIN, Sipp, assert_all_calls_ok, register_udp, write_users_csv

MD5_ONLY = {"auth": {"algorithms": ["MD5"]}}
USERS = [(f"u{i:04d}", f"pw{i:04d}") for i in range(1, 1001)]


def test_sipp_registers_1000_csv_users_with_digest_auth(sipd_factory, tmp_path):
    sipd = sipd_factory(MD5_ONLY, users=USERS)
    users_csv = write_users_csv(tmp_path / "users.csv", USERS)
    sipp = Sipp(tmp_path / "sipp", "register", "register.xml", sipd.addr("udp"),
                ["-inf", str(users_csv), "-auth_uri", DOMAIN, "-r", "200", "-m", str(len(USERS)),
                 "-timeout", "60s", "-timeout_error"])
    result = sipp.run(timeout=90)
    assert_all_calls_ok(result, len(USERS))

    online = sipd.online()
    assert sorted(online) == sorted(f"{u}@{DOMAIN}" for u, _ in USERS), f"{len(online)} AoRs online"
    stats = sipd.ctl("stats").stdout
    assert re.search(r"registered addresses of record: 1000\b", stats), stats
    binding = sipd.bindings(f"u0500@{DOMAIN}")
    assert len(binding) == 1 and f"sip:u0500@127.0.0.1:{sipp.port}" in binding[0], binding


def test_sipp_calls_between_registered_users_through_the_record_routing_proxy(sipd_factory, tmp_path):
    calls = 200
    sipd = sipd_factory(MD5_ONLY, users=(ALICE, BOB))
    trace = tmp_path / "uas-messages.log"
    uas = Sipp(tmp_path / "sipp", "uas", "uas.xml", None,
               ["-m", str(calls), "-timeout", "60s", "-timeout_error", "-trace_msg", "-message_file", str(trace)])
    uac = Sipp(tmp_path / "sipp", "uac", "uac_auth.xml", sipd.addr("udp"),
               ["-s", "bob", "-au", ALICE[0], "-ap", ALICE[1], "-auth_uri", f"bob@{DOMAIN}",
                "-r", "20", "-m", str(calls), "-timeout", "60s", "-timeout_error"])
    # Both register from the very ports sipp binds next, so their contacts are reachable as they are.
    register_udp(sipd.addr("udp"), *BOB, port=uas.port)
    register_udp(sipd.addr("udp"), *ALICE, port=uac.port)
    assert sorted(sipd.online()) == [f"alice@{DOMAIN}", f"bob@{DOMAIN}"]

    uas.start()
    try:
        uac_result = uac.run(timeout=90)
        uas_result = uas.wait(timeout=15)
    finally:
        uas.stop()
    assert_all_calls_ok(uac_result, calls)
    assert_all_calls_ok(uas_result, calls)
    # Each INVITE came record-routed by sipd, and each ACK and BYE came back
    # through sipd (its Via on top of the caller's), not straight from the caller.
    received = [m for m in trace.read_text(errors="replace").split("----------------") if "message received" in m]
    sipd_via = f"Via: SIP/2.0/UDP {sipd.addr('udp')[0]}:{sipd.addr('udp')[1]}"
    for method in ("INVITE", "ACK", "BYE"):
        msgs = [m for m in received if re.search(rf"^{method} sip:", m, re.M)]
        assert len(msgs) == calls, f"the callee received {len(msgs)} {method}s"
        assert all(sipd_via in m for m in msgs), f"a {method} did not come through sipd"
    assert all("Record-Route:" in m for m in received if re.search(r"^INVITE sip:", m, re.M))
