"""turnd answers STUN Binding requests from coturn's turnutils_stunclient,
including RFC 5780 NAT behaviour discovery.

The client binds to 127.0.0.2 while turnd listens on 127.0.0.1, so the
reflexive address can only be right if turnd reports the real source of the
request (a server echoing its own address, or a constant, would fail). For
RFC 5780, 127.0.0.1 and 127.0.0.2 serve as the two IP addresses.
"""

from __future__ import annotations

import re
import socket
import struct
import subprocess

from helpers import free_port, port_is_free, tool
from stunclient import (BINDING, CHANGE_REQUEST, OTHER_ADDRESS, REQUEST, SUCCESS, XOR_MAPPED_ADDRESS, Message,
                        StunClient, decode_plain_address)

# CHANGE-REQUEST flags (RFC 5780 section 7.2) and RESPONSE-ORIGIN (section 7.3).
CHANGE_IP = 0x04
CHANGE_PORT = 0x02
RESPONSE_ORIGIN = 0x802B

REFLEXIVE = re.compile(r"UDP reflexive addr: ([0-9.]+):(\d+)")


def test_turnutils_stunclient_learns_its_reflexive_address(turnd_factory):
    turnd = turnd_factory(users=())
    host, port = turnd.udp
    cmd = [tool("turnutils_stunclient"), "-p", str(port), "-L", "127.0.0.2", host]
    # turnutils_stunclient waits forever for an answer that never comes: bound it.
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"no Binding answer within 10 s: $ {' '.join(cmd)}") from None
    output = res.stdout + res.stderr
    assert res.returncode == 0, f"$ {' '.join(cmd)}\nexit {res.returncode}\n{output}"
    found = REFLEXIVE.findall(output)
    assert found, f"no reflexive address in the output of $ {' '.join(cmd)}\n{output}"
    ip, mapped_port = found[0][0], int(found[0][1])
    assert ip == "127.0.0.2", output
    assert 1024 <= mapped_port <= 65535, output


def test_binding_reports_the_exact_source_address_over_udp_and_tcp(turnd_factory):
    turnd = turnd_factory(users=())
    for proto, server in (("udp", turnd.udp), ("tcp", turnd.tcp)):
        with StunClient(server, proto, local=("127.0.0.3", 0)) as client:
            mapped = client.binding()
            assert mapped == client.transport.local, f"{proto}: mapped {mapped}, source {client.transport.local}"


def rfc5780_turnd(turnd_factory):
    """turnd with RFC 5780 on: primary 127.0.0.1:P, alternate 127.0.0.2:Q,
    and a UDP listener on each of the four IP/port combinations."""
    p = free_port(udp=True, tcp=False)
    q = free_port(udp=True, tcp=False, avoid={p})
    for port in (p, q):
        assert port_is_free(port, "127.0.0.2", udp=True, tcp=False), f"port {port} is taken on 127.0.0.2"
    listeners = [{"proto": "udp", "addr": f"{ip}:{port}"} for ip in ("127.0.0.1", "127.0.0.2") for port in (p, q)]
    config = {"listeners": listeners, "rfc5780": {"primary": f"127.0.0.1:{p}", "alternate": f"127.0.0.2:{q}"}}
    return turnd_factory(config, users=()), p, q


def test_rfc5780_change_request_answers_from_the_other_address_and_port(turnd_factory):
    turnd, p, q = rfc5780_turnd(turnd_factory)
    other_ip = {"127.0.0.1": "127.0.0.2", "127.0.0.2": "127.0.0.1"}
    other_port = {p: q, q: p}
    # An unconnected socket: answers from the changed address must get through.
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.3", 0))
    sock.settimeout(3)
    try:
        for ip, port in [("127.0.0.1", p), ("127.0.0.2", q)]:
            for flags in (0, CHANGE_PORT, CHANGE_IP, CHANGE_IP | CHANGE_PORT):
                request = Message(BINDING, REQUEST)
                if flags:
                    request.add(CHANGE_REQUEST, struct.pack("!I", flags))
                sock.sendto(request.encode(), (ip, port))
                data, source = sock.recvfrom(2000)
                reply = Message.decode(data)
                assert reply.cls == SUCCESS, reply.describe()
                expected = (other_ip[ip] if flags & CHANGE_IP else ip, other_port[port] if flags & CHANGE_PORT else port)
                assert source == expected, f"to {ip}:{port} with CHANGE-REQUEST {flags:#x}: answered from {source}"
                assert reply.xor_address(XOR_MAPPED_ADDRESS) == sock.getsockname()
                assert decode_plain_address(reply.get(RESPONSE_ORIGIN)) == expected, reply.describe()
                assert decode_plain_address(reply.get(OTHER_ADDRESS)) == (other_ip[ip], other_port[port])
    finally:
        sock.close()


def test_turnutils_stunclient_rfc5780_discovery(turnd_factory):
    turnd, p, q = rfc5780_turnd(turnd_factory)
    cmd = [tool("turnutils_stunclient"), "-f", "-p", str(p), "-L", "127.0.0.2", "127.0.0.1"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL)
    output = res.stdout + res.stderr
    assert res.returncode == 0, f"$ {' '.join(cmd)}\nexit {res.returncode}\n{output}"
    assert f"Other addr: : 127.0.0.2:{q}" in output, output
    # Response 2 asked for another IP and port: it must come from the alternate address.
    assert f"Response origin: : 127.0.0.2:{q}" in output, output
    assert REFLEXIVE.findall(output) and all(ip == "127.0.0.2" for ip, _ in REFLEXIVE.findall(output)), output
