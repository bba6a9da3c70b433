#!/usr/bin/python3
"""coturn vs turnd under the same load, one after the other, on loopback.

Driven by bench/turn.sh (`make bench-turn`); see docs/benchmarks.md for the
method. For each server it measures:

1. Relay throughput: turnutils_uclient (-m clients, one message every -z 1 ms
   each, 170-byte payloads) against turnutils_peer (UDP echo). The offered
   rate steps up through --levels until a level loses packets in --tries runs
   in a row; the result is the highest load relayed with zero loss, as the
   busiest 3-second rate that uclient reported. "Relayed packets" counts both directions (client->peer
   and peer->client), i.e. tot_send_msgs + tot_recv_msgs.
2. CPU: the server's utime+stime (/proc/PID/stat) over each uclient run,
   divided by the packets relayed in it, per million packets.
3. Memory: the server's VmRSS with no allocation, then with 10,000
   allocations held open by this script (UDP, one socket each, spread over
   source addresses 127.0.0.2-127.0.0.41), divided by 10,000.

Not a test: it prints a Markdown report and writes it to --out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "interop"))

import stunclient as stun  # noqa: E402

USER, PASSWORD, REALM = "alice", "alice-secret", "bench.realm"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAYLOAD = 170
INTERVAL_MS = 1


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def free_port(udp: bool = True, tcp: bool = True) -> int:
    for port in range(21000, 32000, 7):
        socks = []
        try:
            for kind in ([socket.SOCK_DGRAM] if udp else []) + ([socket.SOCK_STREAM] if tcp else []):
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port")


def cpu_split(pid: int) -> tuple[float, float]:
    """utime and stime of the whole process (all threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    return sum(cpu_split(pid))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_binding(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with stun.StunClient(("127.0.0.1", port)) as c:
            if c.binding(timeout=0.5):
                return
    raise RuntimeError(f"no STUN answer on 127.0.0.1:{port}")


# ---------------------------------------------------------------- servers


class Server:
    name = "?"
    proc: subprocess.Popen

    def __init__(self, workdir: Path, relay_ports: tuple[int, int]):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.relay_ports = relay_ports

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Coturn(Server):
    name = "coturn"

    def version(self) -> str:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "coturn"], capture_output=True, text=True)
        return f"coturn {out.stdout.strip()} (Debian)"

    def start(self) -> None:
        db = self.dir / "coturn.sqlite"
        subprocess.run(["/usr/bin/turnadmin", "-a", "-b", str(db), "-u", USER, "-r", REALM, "-p", PASSWORD],
                       check=True, capture_output=True)
        cmd = [
            "turnserver", "-n", "--no-cli", "--allow-loopback-peers",
            "--listening-ip", "127.0.0.1", "--listening-port", str(self.port),
            "--relay-ip", "127.0.0.1",
            "--min-port", str(self.relay_ports[0]), "--max-port", str(self.relay_ports[1]),
            "--lt-cred-mech", "--realm", REALM, "--userdb", str(db),
            "--no-tls", "--no-dtls", "--no-stdout-log", "--simple-log",
            "--log-file", str(self.dir / "coturn.log"), "--pidfile", str(self.dir / "coturn.pid"),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        wait_binding(self.port)


class Turnd(Server):
    name = "turnd"

    def __init__(self, workdir: Path, relay_ports: tuple[int, int], binary: str, admin: str):
        super().__init__(workdir, relay_ports)
        self.bin, self.admin = binary, admin

    def version(self) -> str:
        return subprocess.run([self.bin, "--version"], capture_output=True, text=True).stdout.strip()

    def start(self) -> None:
        config = {
            "log": "warn",
            "database": {"sqlite": {"path": str(self.dir / "turnd.sqlite")}},
            "listeners": [{"proto": "udp", "addr": f"127.0.0.1:{self.port}"},
                          {"proto": "tcp", "addr": f"127.0.0.1:{self.port}"}],
            "relay": {"addresses": ["127.0.0.1"], "port_min": self.relay_ports[0],
                      "port_max": self.relay_ports[1]},
            "realm": REALM,
            "peers": {"allow": ["127.0.0.1/32"]},
            # coturn's defaults have no per-user/total quota and no per-IP rate
            # limit; match them so that 10,000 allocations from one host work.
            "allocation": {"user_quota": 0, "total_quota": 0},
            "limits": {"unauthenticated": {"burst": 1000000, "per_second": 1000000.0}},
            "shutdown_grace_secs": 1,
        }
        path = self.dir / "turnd.yaml"
        path.write_text(json.dumps(config, indent=2))
        subprocess.run([self.admin, "-c", str(path), "-a", "-u", USER, "-p", PASSWORD, "-r", REALM],
                       check=True, capture_output=True)
        self.proc = subprocess.Popen([self.bin, "-c", str(path)], stdout=subprocess.PIPE,
                                     stderr=open(self.dir / "turnd.log", "w"), stdin=subprocess.DEVNULL,
                                     text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"turnd did not start: {line!r}, see {self.dir / 'turnd.log'}")


# ---------------------------------------------------------------- throughput


@dataclass
class Run:
    clients: int
    offered: int  # messages per second per direction
    sent: int = 0
    received: int = 0
    lost: int | None = None
    dropped: int | None = None
    cpu: float = 0.0
    sys: float = 0.0  # of which in the kernel (stime)
    plateau: float = 0.0  # relayed packets per second, best 3-second average
    ok: bool = False
    note: str = ""

    @property
    def relayed(self) -> int:
        return self.sent + self.received

    @property
    def cpu_per_million(self) -> float:
        return self.cpu / self.relayed * 1e6 if self.relayed else float("nan")

    @property
    def sys_per_million(self) -> float:
        return self.sys / self.relayed * 1e6 if self.relayed else float("nan")


PER_SECOND = re.compile(r"^(\d+): : start_mclient: msz=\d+, tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", re.M)
TOTALS = re.compile(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$", re.M)
LOST = re.compile(r"Total lost packets (\d+) \([^)]*\), total send dropped (\d+)")


def plateau_rate(output: str) -> float:
    """Relayed packets per second while every client was sending: the best
    3-second average of uclient's once-a-second totals.

    uclient starts each client 1 to 6 s after connecting, so the first and last
    seconds of a run carry fewer clients; the busiest 3 s carry all of them.
    """
    samples = [(int(t), int(s), int(r)) for t, s, r in PER_SECOND.findall(output)]
    deltas = []
    for (t0, s0, r0), (t1, s1, r1) in zip(samples, samples[1:]):
        if t1 > t0:
            deltas.append(((s1 - s0) + (r1 - r0)) / (t1 - t0))
    if len(deltas) < 3:
        return max(deltas, default=0.0)
    return max(statistics.mean(deltas[i:i + 3]) for i in range(len(deltas) - 2))


def uclient(server: Server, peer_port: int, clients: int, messages: int, mode: str) -> Run:
    cmd = ["turnutils_uclient", "-p", str(server.port), "-u", USER, "-w", PASSWORD,
           "-e", "127.0.0.1", "-r", str(peer_port), "-m", str(clients), "-l", str(PAYLOAD),
           "-n", str(messages), "-z", str(INTERVAL_MS), "-X", "-g", "-c", "127.0.0.1"]
    if mode == "send":
        cmd.insert(1, "-s")
    run = Run(clients, clients * 1000 // INTERVAL_MS)
    before_user, before_sys = cpu_split(server.pid)
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
        output, status = res.stdout + res.stderr, res.returncode
    except subprocess.TimeoutExpired as e:
        output, status = str(e.stdout or ""), -1
    if server.proc.poll() is not None:
        raise RuntimeError(f"{server.name} exited with status {server.proc.returncode} during the run "
                           f"(`make test-deps` stops any running turnserver: do not run both at once)")
    after_user, after_sys = cpu_split(server.pid)
    run.cpu = after_user + after_sys - before_user - before_sys
    run.sys = after_sys - before_sys
    totals, lost = TOTALS.findall(output), LOST.findall(output)
    if totals:
        run.sent, run.received = int(totals[-1][0]), int(totals[-1][1])
    if lost:
        run.lost, run.dropped = int(lost[-1][0]), int(lost[-1][1])
    run.plateau = plateau_rate(output)
    run.ok = status == 0 and run.sent == clients * messages and run.lost == 0 and run.dropped == 0
    if status != 0:
        tail = " | ".join(output.strip().splitlines()[-2:])
        run.note = f"uclient exit {status}: {tail[:160]}"
    (server.dir / f"uclient-{mode}-{clients}.log").write_text(" ".join(cmd) + "\n" + output)
    return run


def throughput(server: Server, mode: str, levels: list[int], messages: int, tries: int) -> list[Run]:
    peer_port = free_port(udp=True, tcp=False)
    peer = subprocess.Popen(["turnutils_peer", "-L", "127.0.0.1", "-p", str(peer_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = []
    try:
        time.sleep(0.5)
        for clients in levels:
            # A loss can be a hiccup of the shared machine rather than the
            # server: a level fails only when `tries` runs in a row lose.
            for attempt in range(1, tries + 1):
                run = uclient(server, peer_port, clients, messages, mode)
                if attempt > 1:
                    run.note = (run.note + f" try {attempt}").strip()
                runs.append(run)
                log(f"  {server.name} {mode:8} {clients:4} clients offered {run.offered:7}/s/dir: sent {run.sent} "
                    f"recv {run.received} lost {run.lost} dropped {run.dropped} plateau {run.plateau:.0f} pkt/s "
                    f"cpu {run.cpu:.2f}s {run.note}")
                if run.ok:
                    break
            if not run.ok:
                break
    finally:
        peer.terminate()
        peer.wait()
    return runs


# ---------------------------------------------------------------- memory


class Collector(asyncio.DatagramProtocol):
    def __init__(self):
        self.waiters: dict[bytes, asyncio.Future] = {}

    def datagram_received(self, data, addr):
        try:
            msg = stun.Message.decode(data)
        except stun.StunError:
            return
        fut = self.waiters.pop(msg.txid, None)
        if fut is not None and not fut.done():
            fut.set_result(msg)


async def transact(transport, proto: Collector, msg: stun.Message, key: bytes | None) -> stun.Message | None:
    fut = asyncio.get_running_loop().create_future()
    proto.waiters[msg.txid] = fut
    raw = msg.encode(key)
    for wait in (0.5, 1.0, 2.0, 4.0):
        transport.sendto(raw)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), wait)
        except asyncio.TimeoutError:
            continue
    proto.waiters.pop(msg.txid, None)
    return None


def allocate_request() -> stun.Message:
    msg = stun.Message(stun.ALLOCATE, stun.REQUEST)
    msg.add(stun.REQUESTED_TRANSPORT, bytes([stun.UDP, 0, 0, 0]))
    return msg


async def one_allocation(server: tuple[str, int], local_ip: str, sem: asyncio.Semaphore):
    async with sem:
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(
            Collector, local_addr=(local_ip, 0), remote_addr=server)
        reply = await transact(transport, proto, allocate_request(), None)
        if reply is None or reply.error_code() != 401:
            transport.close()
            return None
        realm, nonce = reply.text(stun.REALM), reply.get(stun.NONCE)
        key = stun.long_term_key(USER, realm, PASSWORD)
        msg = allocate_request()
        msg.add(stun.USERNAME, USER.encode()).add(stun.REALM, realm.encode()).add(stun.NONCE, nonce)
        reply = await transact(transport, proto, msg, key)
        if reply is None or reply.cls != stun.SUCCESS:
            transport.close()
            return None
        return transport


async def open_allocations(port: int, count: int, sources: int = 40, concurrency: int = 256):
    sem = asyncio.Semaphore(concurrency)
    tasks = [one_allocation(("127.0.0.1", port), f"127.0.0.{2 + i % sources}", sem) for i in range(count)]
    results = await asyncio.gather(*tasks)
    return [t for t in results if t is not None]


def memory(server: Server, count: int) -> dict:
    time.sleep(1)
    idle = rss_kib(server.pid)
    cpu0 = cpu_seconds(server.pid)
    started = time.monotonic()

    async def hold():
        transports = await open_allocations(server.port, count)
        took = time.monotonic() - started
        await asyncio.sleep(2)  # let the server settle
        loaded = rss_kib(server.pid)
        for t in transports:
            t.close()
        return len(transports), loaded, took

    made, loaded, took = asyncio.run(hold())
    result = {
        "idle_kib": idle, "loaded_kib": loaded, "allocations": made, "seconds": took,
        "cpu_s": cpu_seconds(server.pid) - cpu0,
        "bytes_per_allocation": (loaded - idle) * 1024 / made if made else float("nan"),
    }
    log(f"  {server.name} memory: idle {idle} KiB, {made} allocations {loaded} KiB in {took:.1f}s "
        f"-> {result['bytes_per_allocation']:.0f} B/allocation")
    return result


# ---------------------------------------------------------------- report


def best(runs: list[Run]) -> Run | None:
    ok = [r for r in runs if r.ok]
    return max(ok, key=lambda r: r.offered) if ok else None


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if a and b and a == a and b == b else "n/a"


def report(results: dict, meta: dict, modes: list[str]) -> str:
    names = list(results)
    lines = [
        f"### Run of {meta['date']}",
        "",
        f"- Command: `make bench-turn` (`bench/turn.sh`)",
        f"- Machine: {meta['cpu']}, {meta['cores']} cores, kernel {meta['kernel']}, {meta['os']}",
        f"- Versions: {', '.join(meta['versions'][n] for n in names)}",
        f"- Load: turnutils_uclient, {PAYLOAD}-byte messages, one per {INTERVAL_MS} ms per client, "
        f"{meta['messages']} per client; peer turnutils_peer; all on 127.0.0.1; "
        f"a level fails after {meta['tries']} losing runs in a row",
        "",
    ]
    for mode in modes:
        label = "ChannelData" if mode == "channels" else "Send/Data indications"
        lines += [f"#### Relaying ({label}, uclient {'-s' if mode == 'send' else 'default'})", "",
                  "| server | clients | offered msg/s per direction | relayed packets | lost | "
                  "peak 3-s relayed pkt/s | server CPU s | CPU s per 1M relayed |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for n in names:
            for r in results[n]["throughput"][mode]:
                lost = "-" if r.lost is None else str(r.lost)
                note = f" ({r.note})" if r.note else ""
                lines.append(f"| {n} | {r.clients} | {r.offered} | {r.relayed} | {lost}{note} | "
                             f"{r.plateau:.0f} | {r.cpu:.2f} | {r.cpu_per_million:.2f} |")
        lines.append("")
    lines += ["#### Summary", "",
              "| metric | " + " | ".join(names) + " | ratio " + "/".join(names[::-1]) + " |",
              "| --- | " + " | ".join("---:" for _ in names) + " | ---: |"]
    for mode in modes:
        bests = {n: best(results[n]["throughput"][mode]) for n in names}
        rate = {n: (b.plateau if b else 0.0) for n, b in bests.items()}
        cpu = {n: (b.cpu_per_million if b else float("nan")) for n, b in bests.items()}
        lines.append(f"| relayed pkt/s at zero loss ({mode}) | "
                     + " | ".join(f"{rate[n]:.0f} ({bests[n].clients} clients)" if bests[n] else "none"
                                  for n in names)
                     + f" | {ratio(rate.get(names[-1], 0), rate.get(names[0], 0))} |")
        common = [r.offered for r in results[names[0]]["throughput"][mode] if r.ok]
        common = [o for o in common if any(r.ok and r.offered == o for r in results[names[-1]]["throughput"][mode])]
        if common:
            level = max(common)
            at = {n: next(r for r in results[n]["throughput"][mode] if r.ok and r.offered == level) for n in names}
            lines.append(f"| CPU s per 1M relayed, both at {level} msg/s/dir ({mode}) | "
                         + " | ".join(f"{at[n].cpu_per_million:.2f}" for n in names)
                         + f" | {ratio(at[names[-1]].cpu_per_million, at[names[0]].cpu_per_million)} |")
            lines.append(f"| of which kernel (stime), same runs ({mode}) | "
                         + " | ".join(f"{at[n].sys_per_million:.2f}" for n in names)
                         + f" | {ratio(at[names[-1]].sys_per_million, at[names[0]].sys_per_million)} |")
        else:
            lines.append(f"| CPU s per 1M relayed ({mode}) | "
                         + " | ".join(f"{cpu[n]:.2f}" for n in names) + " | n/a (no common zero-loss level) |")
    mem = {n: results[n]["memory"] for n in names}
    lines.append("| RSS per allocation at 10k, bytes | "
                 + " | ".join(f"{mem[n]['bytes_per_allocation']:.0f}" for n in names)
                 + f" | {ratio(mem[names[-1]]['bytes_per_allocation'], mem[names[0]]['bytes_per_allocation'])} |")
    lines.append("| RSS idle / with 10k allocations, MiB | "
                 + " | ".join(f"{mem[n]['idle_kib'] / 1024:.1f} / {mem[n]['loaded_kib'] / 1024:.1f}"
                              f" ({mem[n]['allocations']} made)" for n in names) + " | |")
    lines.append("| time / server CPU to open 10k allocations, s | "
                 + " | ".join(f"{mem[n]['seconds']:.1f} / {mem[n]['cpu_s']:.2f}" for n in names) + " | |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turnd", default=str(REPO / "target" / "release" / "turnd"))
    ap.add_argument("--turnadmin", default=str(REPO / "target" / "release" / "turnadmin"))
    ap.add_argument("--servers", default="coturn,turnd", help="comma-separated, run in this order")
    ap.add_argument("--modes", default="channels,send", help="channels and/or send")
    ap.add_argument("--levels", default="5,10,15,20,25,30,40,50,60,80,100",
                    help="client counts, increasing (each client sends 1000 msg/s)")
    ap.add_argument("--messages", type=int, default=10000, help="messages per client")
    ap.add_argument("--tries", type=int, default=2, help="runs per level before a loss counts")
    ap.add_argument("--allocations", type=int, default=10000)
    ap.add_argument("--out", default=str(REPO / "target" / "bench" / "turn.md"))
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.allocations + 1000
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
        if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < need:
            log(f"warning: open files limited to {hard}; fewer than {args.allocations} allocations may open")
    for tool in ("turnserver", "turnutils_uclient", "turnutils_peer"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt-get install coturn")

    levels = [int(x) for x in args.levels.split(",")]
    modes = [m for m in args.modes.split(",") if m]
    names = [n for n in args.servers.split(",") if n]
    work = Path(tempfile.mkdtemp(prefix="bench-turn-"))
    log(f"working directory: {work}")
    relay_ranges = {"coturn": (30000, 44999), "turnd": (45000, 59999)}  # disjoint
    results, versions = {}, {}
    for name in names:
        if name == "coturn":
            server: Server = Coturn(work / name, relay_ranges[name])
        elif name == "turnd":
            for path in (args.turnd, args.turnadmin):
                if not os.access(path, os.X_OK):
                    sys.exit(f"{path} is missing: run `cargo build --release -p turnd --bins` (or make release)")
            server = Turnd(work / name, relay_ranges[name], args.turnd, args.turnadmin)
        else:
            sys.exit(f"unknown server {name}")
        versions[name] = server.version()
        log(f"== {versions[name]}")
        server.start()
        try:
            results[name] = {"throughput": {m: throughput(server, m, levels, args.messages, args.tries)
                                             for m in modes}}
            results[name]["memory"] = memory(server, args.allocations)
        finally:
            server.stop()
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                     if l.startswith("model name")), platform.processor()),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "os": next((l.split("=", 1)[1].strip('"') for l in Path("/etc/os-release").read_text().splitlines()
                    if l.startswith("PRETTY_NAME=")), "Linux"),
        "versions": versions,
        "messages": args.messages,
        "tries": args.tries,
    }
    text = report(results, meta, modes)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    log(f"report written to {out}; logs in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
