//! The real `sipd` on 127.0.0.1: command-line flags, OPTIONS, and digest
//! registration over UDP and TCP stored in the database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod daemon_common;

use std::process::Command;

use daemon_common::{headers, status, unique, Daemon, Site, Ua, DOMAIN};

#[test]
fn version_help_and_check_config_behave_like_the_other_daemons() {
    let sipd = env!("CARGO_BIN_EXE_sipd");
    let v = Command::new(sipd).arg("--version").output().unwrap();
    assert!(v.status.success());
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("sipd "));
    let h = Command::new(sipd).arg("--help").output().unwrap();
    assert!(h.status.success());
    let help = String::from_utf8_lossy(&h.stdout);
    assert!(help.contains("--config") && help.contains("--check-config"), "{help}");

    let site = Site::new("");
    let ok = Command::new(sipd).args(["--check-config", "--config"]).arg(site.config()).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("configuration OK: "));

    let bad = Site::new("registrar: { min_expirs: 10 }\n");
    let e = Command::new(sipd).args(["--check-config", "--config"]).arg(bad.config()).output().unwrap();
    assert_eq!(e.status.code(), Some(2));
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(err.contains("sipd.yaml:") && err.contains("registrar.min_expirs: unknown field"), "{err}");

    let missing_cert = Site::new(&format!(
        "listeners:\n  - {{ proto: tls, addr: \"127.0.0.1:0\", tls: {{ certificates: [ {{ cert: {d}/none.pem, key: {d}/none.key }} ] }} }}\n",
        d = site.dir.path().display()
    ));
    let e = Command::new(sipd).args(["--check-config", "--config"]).arg(missing_cert.config()).output().unwrap();
    assert_eq!(e.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&e.stderr).contains("listeners[0].tls.certificates"));
}

#[test]
fn options_to_the_server_is_answered_over_udp_and_tcp() {
    let site = Site::new("");
    let d = Daemon::start(&site);
    for mut ua in [Ua::udp("alice", d.addr("udp"), "127.0.0.1"), Ua::tcp("alice", d.addr("tcp"))] {
        let ruri = format!("sip:{}", ua.server);
        let req = ua.request("OPTIONS", &ruri, &format!("<{ruri}>"), &unique("opt"), "Accept: application/sdp\r\n", "");
        ua.send(req.as_bytes());
        let resp = ua.recv();
        assert_eq!(status(&resp), 200, "{resp}");
        // The response goes back on the same flow with our own Via on top.
        assert!(headers(&resp, "Via")[0].contains(&ua.local.to_string()), "{resp}");
    }
}

#[test]
fn digest_registration_over_udp_and_tcp_is_stored_before_the_200() {
    let site = Site::new("");
    site.add_user("alice", "wonderland");
    site.add_user("bob", "builder");
    let d = Daemon::start(&site);

    let mut alice = Ua::udp("alice", d.addr("udp"), "127.0.0.1");
    let ok = alice.register("wonderland", 600);
    assert_eq!(status(&ok), 200, "{ok}");
    let contacts = headers(&ok, "Contact").join(",");
    assert!(contacts.contains(&alice.local.to_string()), "{ok}");

    let mut bob = Ua::tcp("bob", d.addr("tcp"));
    let ok = bob.register("builder", 600);
    assert_eq!(status(&ok), 200, "{ok}");

    // The 200 was only sent after the write committed: sipctl sees both now.
    let out = site.sipctl(&["ul", "show"]);
    assert!(out.status.success());
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains(&format!("alice@{DOMAIN}\t<sip:alice@{}", alice.local)) || shown.contains(&format!("alice@{DOMAIN}\tsip:alice@{}", alice.local)), "{shown}");
    assert!(shown.contains(&format!("bob@{DOMAIN}")), "{shown}");
    let online = site.sipctl(&["online"]);
    assert_eq!(String::from_utf8_lossy(&online.stdout), format!("alice@{DOMAIN}\nbob@{DOMAIN}\n"));

    // A wrong password is refused again with a fresh challenge.
    let mut mallory = Ua::udp("alice", d.addr("udp"), "127.0.0.5");
    let resp = mallory.register("guess", 600);
    assert_ne!(status(&resp), 200, "{resp}");

    // Unregistering removes the binding.
    let gone = alice.register("wonderland", 0);
    assert_eq!(status(&gone), 200, "{gone}");
    let out = site.sipctl(&["ul", "show", &format!("alice@{DOMAIN}")]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn metrics_endpoint_counts_requests_without_labels_for_users() {
    let site = Site::new("metrics: { listen: \"127.0.0.1:0\" }\n");
    let d = Daemon::start(&site);
    let mut ua = Ua::udp("alice", d.addr("udp"), "127.0.0.1");
    let ruri = format!("sip:{}", ua.server);
    let req = ua.request("OPTIONS", &ruri, &format!("<{ruri}>"), &unique("m"), "", "");
    ua.send(req.as_bytes());
    assert_eq!(status(&ua.recv()), 200);
    // Cores publish their counters once a second.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let mut s = std::net::TcpStream::connect(d.addr("http")).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    let line = body.lines().find(|l| l.starts_with("sipd_requests_received_total ")).unwrap_or_else(|| panic!("{body}"));
    assert!(line.trim_end().ends_with(" 1"), "{line}");
    assert!(body.contains("sipd_connections_open "), "{body}");
    assert!(!body.contains("alice"), "{body}");
}
