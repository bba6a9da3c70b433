//! Changes made with `sipctl` while `sipd` runs (domains, static routes)
//! apply within `db_poll_secs`; SIGHUP re-reads the configuration; SIGTERM
//! stops cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod daemon_common;

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use daemon_common::{authorization, headers, reply, status, unique, Daemon, Site, Ua, DOMAIN};

fn signal(d: &Daemon, sig: &str) {
    let ok = Command::new("kill").args([sig, &d.pid().to_string()]).status().unwrap();
    assert!(ok.success());
}

/// REGISTER of `user@domain` from a fresh agent; the first response.
fn first_register_response(server: std::net::SocketAddr, user: &str, domain: &str) -> String {
    let mut ua = Ua::udp(user, server, "127.0.0.1");
    let aor = format!("<sip:{user}@{domain}>");
    let req = ua.request("REGISTER", &format!("sip:{domain}"), &aor, &unique("r"), "", "");
    let req = req.replace(&format!("From: <sip:{user}@{DOMAIN}>"), &format!("From: <sip:{user}@{domain}>"));
    ua.send(req.as_bytes());
    ua.recv()
}

#[test]
fn domain_added_with_sipctl_becomes_local_without_a_restart() {
    let site = Site::new("");
    let d = Daemon::start(&site);
    let before = first_register_response(d.addr("udp"), "eve", "other.test");
    assert_ne!(status(&before), 401, "other.test is not ours yet:\n{before}");
    assert!(site.sipctl(&["domain", "add", "other.test"]).status.success());
    std::thread::sleep(Duration::from_millis(2500));
    let after = first_register_response(d.addr("udp"), "eve", "other.test");
    assert_eq!(status(&after), 401, "other.test is now local:\n{after}");
}

#[test]
fn static_route_added_with_sipctl_sends_matching_calls_to_the_trunk() {
    let site = Site::new("");
    site.add_user("alice", "wonderland");
    let d = Daemon::start(&site);
    let trunk = UdpSocket::bind("127.0.0.1:0").unwrap();
    trunk.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let dest = format!("sip:{}", trunk.local_addr().unwrap());
    let o = site.sipctl(&["route", "add", "--prefix", "9", "--strip", "1", "--add", "+33", &dest]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::thread::sleep(Duration::from_millis(2500));

    let mut alice = Ua::udp("alice", d.addr("udp"), "127.0.0.1");
    let target = format!("sip:9142@{DOMAIN}");
    let call_id = unique("route");
    let m = alice.request("MESSAGE", &target, &format!("<{target}>"), &call_id, "", "");
    alice.send(m.as_bytes());
    let challenge = alice.recv();
    assert_eq!(status(&challenge), 407, "{challenge}");
    let auth = authorization(&challenge, "Proxy-Authenticate", "alice", "wonderland", "MESSAGE", &target);
    let m = alice.request("MESSAGE", &target, &format!("<{target}>"), &call_id, &format!("Proxy-Authorization: {auth}\r\n"), "");
    alice.send(m.as_bytes());

    let mut buf = vec![0u8; 65536];
    let (n, from) = trunk.recv_from(&mut buf).expect("the trunk got nothing");
    let got = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(got.starts_with("MESSAGE sip:+33142@"), "{got}");
    trunk.send_to(reply(&got, 200, "OK", "trunk", "").as_bytes(), from).unwrap();
    assert_eq!(status(&alice.recv()), 200);
}

#[test]
fn sighup_reloads_the_configuration_and_sigterm_stops_cleanly() {
    let site = Site::new("");
    let d = Daemon::start(&site);
    let options = |ua: &mut Ua| {
        let ruri = format!("sip:{}", ua.server);
        let req = ua.request("OPTIONS", &ruri, &format!("<{ruri}>"), &unique("o"), "", "");
        ua.send(req.as_bytes());
        ua.recv()
    };
    let mut ua = Ua::udp("carol", d.addr("udp"), "127.0.0.1");
    let before = options(&mut ua);
    assert_eq!(headers(&before, "Server"), vec!["sipd".to_owned()], "{before}");

    let text = std::fs::read_to_string(site.config()).unwrap();
    std::fs::write(site.config(), format!("{text}server_header: \"Falcot SIP\"\n")).unwrap();
    signal(&d, "-HUP");
    let mut reloaded = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        if d.log().contains("configuration reloaded") {
            reloaded = true;
            break;
        }
    }
    assert!(reloaded, "{}", d.log());
    std::thread::sleep(Duration::from_millis(200));
    let after = options(&mut ua);
    assert_eq!(headers(&after, "Server"), vec!["Falcot SIP".to_owned()], "{after}");

    // A broken file is refused and the running configuration kept.
    std::fs::write(site.config(), format!("{text}bogus_key: 1\n")).unwrap();
    signal(&d, "-HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert!(d.log().contains("configuration not reloaded"), "{}", d.log());
    assert_eq!(status(&options(&mut ua)), 200);

    signal(&d, "-TERM");
    let mut d = d;
    let code = d.wait_exit(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{}", d.log());
}
