"""sipd against baresip (Debian's baresip 1.0): a softphone registers over
TLS (the test certificate trusted through `sip_cafile`) and calls a sipp
callee registered over UDP, through the proxy. baresip is driven over its
ctrl_tcp module; the call must be established and hung up cleanly on both
sides (sipp's exit status and statistics for the callee).

The site offers MD5 digests only: baresip 1.0's libre gives up on the first
challenge whose algorithm it does not know ("Register: Function not
implemented") instead of trying the next one, and sipd offers SHA-256
first by default (RFC 8760), so this baresip needs `auth.algorithms: [MD5]`.
"""

from __future__ import annotations

from sip_helpers import ALICE, BOB, DOMAIN, Sipp, assert_all_calls_ok, register_udp, wait_for
from sip_peers import Baresip


def test_baresip_registers_over_tls_and_calls_a_udp_sipp_callee(sipd_factory, tmp_path):
    sipd = sipd_factory({"auth": {"algorithms": ["MD5"]}}, users=(ALICE, BOB))
    host, tls_port = sipd.addr("tls")
    uas = Sipp(tmp_path / "sipp", "uas", "uas.xml", None, ["-m", "1", "-timeout", "30s", "-timeout_error"])
    register_udp(sipd.addr("udp"), *BOB, port=uas.port)
    uas.start()

    account = (f"<sip:{ALICE[0]}@{DOMAIN};transport=tls>;auth_pass={ALICE[1]};"
               f"outbound=\"sip:{host}:{tls_port};transport=tls\";regint=600")
    phone = Baresip(tmp_path / "baresip", account, sipd.cert)
    try:
        phone.start()
        # baresip registers at start, maybe before ctrl_tcp has a client to tell:
        # sipd's location service is the judge.
        bindings = wait_for(lambda: sipd.bindings(f"alice@{DOMAIN}"), 10, phone.output)
        assert len(bindings) == 1 and "socket=tls:" in bindings[0], bindings
        assert "transport=tls" in bindings[0], bindings

        phone.command("dial", f"sip:bob@{DOMAIN}")
        phone.wait_event({"CALL_ESTABLISHED"})
        phone.command("hangup")
        phone.wait_event({"CALL_CLOSED"})
        result = uas.wait(timeout=15)
    finally:
        phone.stop()
        uas.stop()
    assert_all_calls_ok(result, 1)
