//! Registrations are written through to the database before the 200 OK:
//! after `kill -9` and a restart, a registered user is still reachable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod daemon_common;

use daemon_common::{authorization, reply, status, unique, Daemon, Site, Ua, DOMAIN};

#[test]
fn kill_9_and_restart_keeps_registrations_routable() {
    let site = Site::new("");
    site.add_user("alice", "wonderland");
    site.add_user("bob", "builder");
    let first = Daemon::start(&site);
    let mut alice = Ua::udp("alice", first.addr("udp"), "127.0.0.1");
    assert_eq!(status(&alice.register("wonderland", 3600)), 200);
    // No grace period: the crash comes right after the 200.
    first.kill9();

    let shown = site.sipctl(&["ul", "show", &format!("alice@{DOMAIN}")]);
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
    assert!(String::from_utf8_lossy(&shown.stdout).contains(&alice.local.to_string()));

    let second = Daemon::start(&site);
    let mut bob = Ua::udp("bob", second.addr("udp"), "127.0.0.1");
    let target = format!("sip:alice@{DOMAIN}");
    let call_id = unique("after-crash");
    let ct = "Content-Type: text/plain\r\n";
    let m = bob.request("MESSAGE", &target, &format!("<{target}>"), &call_id, ct, "still there?");
    bob.send(m.as_bytes());
    let challenge = bob.recv_within(daemon_common::WAIT).unwrap_or_else(|| panic!("no challenge; log:\n{}", second.log()));
    assert_eq!(status(&challenge), 407, "{challenge}");
    let auth = authorization(&challenge, "Proxy-Authenticate", "bob", "builder", "MESSAGE", &target);
    let m = bob.request("MESSAGE", &target, &format!("<{target}>"), &call_id, &format!("{ct}Proxy-Authorization: {auth}\r\n"), "still there?");
    bob.send(m.as_bytes());

    let incoming = alice.recv();
    assert!(incoming.starts_with("MESSAGE "), "{incoming}");
    assert!(incoming.ends_with("still there?"), "{incoming}");
    // Responses go back to where the request came from: the new sipd.
    alice.server = second.addr("udp");
    alice.send(reply(&incoming, 200, "OK", "a1", "").as_bytes());
    let answer = bob.recv_within(daemon_common::WAIT).unwrap_or_else(|| panic!("no answer; log:\n{}", second.log()));
    assert_eq!(status(&answer), 200, "{answer}");
}
