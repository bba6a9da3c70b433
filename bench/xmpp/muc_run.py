#!/usr/bin/python3
"""MUC fan-out, xmppd vs Prosody: the same mucload.py load (one room, 500
occupants, a few senders) against each server, one after the other, on
loopback. Prints a Markdown report (also written to target/bench/xmpp_muc.md)
and the raw JSON (target/bench/xmpp_muc.json). Not a test.

Both servers are set up as in bench/xmpp/run.py (same certificate, accounts
and c2s settings) plus a MUC component at conference.bench.test: Prosody's
`Component "conference.bench.test" "muc"` (history in memory, no MUC
archive module) and xmppd's `components: [{kind: muc}]` (the room is
temporary, so nothing is archived either). Run by bench/xmpp_muc.sh.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as base  # noqa: E402

MUC = f"conference.{base.DOMAIN}"
PROSODY_MUC = f"""
Component "{MUC}" "muc"
    restrict_room_creation = false
    max_history_messages = 20
"""
XMPPD_MUC = f"""components:
  - domain: {MUC}
    kind: muc
    muc:
      max_occupants: 10000
"""


class Prosody(base.Prosody):
    def setup(self):
        super().setup()
        with open(self.cfg, "a") as f:
            f.write(PROSODY_MUC)


class Xmppd(base.Xmppd):
    def setup(self):
        super().setup()
        with open(self.cfg, "a") as f:
            f.write(XMPPD_MUC)


def bench_server(args, cls):
    d = tempfile.mkdtemp(prefix=f"bench-xmpp-muc-{cls.name.lower()}-")
    os.chmod(d, 0o755)
    server = cls(args, d)
    base.make_cert(d)
    base.log(f"{server.name}: creating {args.accounts} accounts")
    server.setup()
    result = {"version": server.version()}
    pid = server.start()
    try:
        waited = base.wait_idle(server, pid)
        base.log(f"{server.name}: idle after {waited}s; muc fan-out ...")
        cmd = [sys.executable, f"{base.HERE}/mucload.py", "--port", str(server.port),
               "--cafile", f"{d}/cert.pem", "--pid", str(pid), "--muc", MUC,
               "--accounts", str(args.accounts), "--occupants", str(args.occupants),
               "--senders", str(args.senders), "--window", str(args.window),
               "--duration", str(args.duration)]
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        if out.returncode != 0:
            raise SystemExit(f"{server.name}: load tool failed")
        result["muc"] = json.loads(out.stdout.strip().splitlines()[-1])
        base.log(f"{server.name}: {json.dumps(result['muc'])}")
    finally:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)
    return result


def report(args, results, load_before, load_after):
    p, x = results.get("Prosody"), results.get("xmppd")
    lines = base.report_head("bench/xmpp_muc.sh", args, results, load_before, load_after,
                             f"bench/xmpp/mucload.py (one room, {args.occupants} occupants, {args.senders} senders, "
                             f"{args.window} room messages in flight, client on the same cores)")

    def row(label, sub, better):
        pv = p["muc"][sub] if p else None
        xv = x["muc"][sub] if x else None
        lines.append(f"| {label} | {pv if pv is not None else '-'} | {xv if xv is not None else '-'} | "
                     f"{base.ratio(xv, pv) if p and x else '-'}{f' ({better})' if better else ''} |")

    row("seconds for all occupants to enter", "join_seconds", "lower is better")
    row("deliveries/s (messages received by all occupants)", "deliveries_per_second", "higher is better")
    row("room messages/s", "room_messages_per_second", "higher is better")
    row("server CPU per delivery, µs", "server_cpu_us_per_delivery", "lower is better")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default="prosody,xmppd", help="comma-separated, run in this order")
    ap.add_argument("--xmppd", default=os.environ.get("XMPPD_BIN", f"{base.ROOT}/target/release/xmppd"))
    ap.add_argument("--xmppctl", default=os.environ.get("XMPPCTL_BIN", f"{base.ROOT}/target/release/xmppctl"))
    ap.add_argument("--occupants", type=int, default=500)
    ap.add_argument("--senders", type=int, default=5)
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--prosody-port", type=int, default=25223)
    ap.add_argument("--xmppd-port", type=int, default=25323)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories")
    args = ap.parse_args()
    args.argv = sys.argv[1:]
    args.accounts = args.occupants
    classes = {"prosody": Prosody, "xmppd": Xmppd}
    load_before = base.loadavg()
    results = {}
    for name in args.servers.split(","):
        cls = classes[name.strip()]
        results[cls.name] = bench_server(args, cls)
    md = report(args, results, load_before, base.loadavg())
    out_dir = f"{base.ROOT}/target/bench"
    os.makedirs(out_dir, exist_ok=True)
    with open(f"{out_dir}/xmpp_muc.md", "w") as f:
        f.write(md)
    with open(f"{out_dir}/xmpp_muc.json", "w") as f:
        json.dump(results, f, indent=1)
    print(md)


if __name__ == "__main__":
    main()
