"""Fixtures of the interop suites: daemons under test and real peers.

Run with Debian's Python: `/usr/bin/python3 -m pytest -v tests/interop`.
Binaries come from $TURND_BIN / $TURNADMIN_BIN, else target/debug/ of this
repository. A missing binary or peer tool FAILS the test with the command to
fix it; nothing is skipped. When a test fails, the configuration, the
turnadmin runs and the log of every daemon it started are attached to the
report (and stay under pytest's basetemp directory).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import ALICE, Turnd, UdpPeer

DAEMONS_KEY = pytest.StashKey[list]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for daemon in item.stash.get(DAEMONS_KEY, []):
            report.sections.append((f"{daemon.name} ({daemon.dir})", daemon.report()))


@pytest.fixture
def turnd_factory(request, tmp_path: Path):
    """make(config=..., tls=..., users=[(user, password)], start=True) -> Turnd.

    Every daemon made is stopped with SIGTERM at teardown, and must exit with
    status 0 within a few seconds.
    """
    made: list[Turnd] = []
    request.node.stash[DAEMONS_KEY] = made

    def make(config: dict | None = None, tls: bool = False, users=(ALICE,), start: bool = True) -> Turnd:
        daemon = Turnd(tmp_path / f"turnd{len(made)}", config, tls=tls, name=f"turnd{len(made)}")
        made.append(daemon)
        for user, password in users:
            daemon.add_user(user, password)
        if start:
            daemon.start()
        return daemon

    yield make
    failures = []
    for daemon in made:
        if daemon.running():
            status = daemon.stop()
            if status != 0:
                failures.append(f"{daemon.name} exited with status {status} after SIGTERM")
    assert not failures, "\n".join(failures)


@pytest.fixture
def udp_peer(tmp_path: Path):
    """coturn's turnutils_peer UDP echo server on a free port of 127.0.0.1."""
    peer = UdpPeer(tmp_path)
    yield peer
    peer.stop()


@pytest.fixture
def xmppd_factory(request, tmp_path: Path):
    """make(config=..., accounts=[(user, password)], start=True) -> Xmppd.

    The accounts are registered with the real xmppctl before the start. Every
    daemon made is stopped with SIGTERM at teardown and must exit with 0.
    """
    from xmpp_helpers import ALICE, BOB, Xmppd

    made = request.node.stash.setdefault(DAEMONS_KEY, [])

    def make(config: dict | None = None, accounts=(ALICE, BOB), start: bool = True) -> Xmppd:
        daemon = Xmppd(tmp_path / f"xmppd{len(made)}", config, name=f"xmppd{len(made)}")
        made.append(daemon)
        daemon.register(*accounts)
        if start:
            daemon.start()
        return daemon

    yield make
    failures = []
    for daemon in made:
        if isinstance(daemon, Xmppd) and daemon.running():
            status = daemon.stop()
            if status != 0:
                failures.append(f"{daemon.name} exited with status {status} after SIGTERM")
    assert not failures, "\n".join(failures)


@pytest.fixture
def sipd_factory(request, tmp_path: Path):
    """make(config=..., users=[(user, password)], start=True) -> Sipd.

    Users are created with the real sipctl before the start. Every daemon
    made is stopped with SIGTERM at teardown and must exit with 0.
    """
    from sip_helpers import ALICE, BOB, Sipd

    made = request.node.stash.setdefault(DAEMONS_KEY, [])

    def make(config: dict | None = None, users=(ALICE, BOB), start: bool = True) -> Sipd:
        daemon = Sipd(tmp_path / f"sipd{len(made)}", config, name=f"sipd{len(made)}")
        made.append(daemon)
        daemon.add_users(list(users))
        if start:
            daemon.start()
        return daemon

    yield make
    failures = []
    for daemon in made:
        if isinstance(daemon, Sipd) and daemon.running():
            status = daemon.stop()
            if status != 0:
                failures.append(f"{daemon.name} exited with status {status} after SIGTERM")
    assert not failures, "\n".join(failures)
