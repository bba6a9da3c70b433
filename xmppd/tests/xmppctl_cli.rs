//! The real `xmppctl` against the daemon's config and database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod daemon_support;

use daemon_support::{Client, Daemon};

#[test]
fn adduser_reads_the_password_from_stdin_and_the_account_can_log_in() {
    let mut d = Daemon::new("");
    let (code, out, err) = d.ctl(&["adduser", "Joe@localhost"], Some("joe-secret\n"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("created joe@localhost"), "{out}");
    let (code, _, err) = d.ctl(&["adduser", "joe@localhost"], Some("again\n"));
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    d.start();
    let mut c = Client::starttls(d.c2s.unwrap(), &d.cert);
    c.login("joe", "joe-secret", "r", false);
    // passwd while the daemon runs: the new password works at once.
    let (code, _, err) = d.ctl(&["passwd", "joe@localhost"], Some("new-secret\n"));
    assert_eq!(code, 0, "{err}");
    let mut c = Client::starttls(d.c2s.unwrap(), &d.cert);
    c.login("joe", "new-secret", "r", false);
    // status probes the configured c2s port: name the one port 0 became.
    let text = std::fs::read_to_string(&d.config).unwrap();
    let c2s = d.c2s.unwrap().to_string();
    std::fs::write(&d.config, text.replacen("127.0.0.1:0", &c2s, 1)).unwrap();
    let (code, out, _) = d.ctl(&["status"], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("xmppd is running") && out.contains("localhost: 1 account(s)"), "{out}");
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn errors_are_helpful_and_exit_non_zero() {
    let d = Daemon::new("");
    let (code, _, err) = d.ctl(&["deluser", "nobody@localhost"], None);
    assert_eq!(code, 1);
    assert!(err.contains("no account nobody@localhost"), "{err}");
    let (code, _, err) = d.ctl(&["register", "joe", "falcot.com", "pw"], None);
    assert_eq!(code, 2);
    assert!(err.contains("falcot.com is not a virtual host") && err.contains("localhost"), "{err}");
    let (code, _, err) = d.ctl(&["adduser", "localhost"], Some("pw\n"));
    assert_eq!(code, 2);
    assert!(err.contains("user@host"), "{err}");
    let (code, _, err) = d.ctl(&["adduser", "joe@localhost"], Some("\n"));
    assert_eq!(code, 1);
    assert!(err.contains("empty password"), "{err}");
    let (code, out, _) = d.ctl(&["status"], None);
    assert_eq!(code, 3);
    assert!(out.contains("not running"), "{out}");
    let (code, _, _) = d.ctl(&["register", "joe", "localhost", "pw"], None);
    assert_eq!(code, 0);
    let (code, out, _) = d.ctl(&["deluser", "joe@localhost"], None);
    assert_eq!(code, 0);
    assert!(out.contains("deleted joe@localhost"));
}

#[test]
fn check_reports_certificate_expiry_and_names() {
    let d = Daemon::new("");
    let (code, out, err) = d.ctl(&["check", "--no-dns"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("host localhost:") && out.contains("covers localhost") && out.contains("valid for"), "{out}");
    // A host whose certificate does not name it is a problem.
    let text = std::fs::read_to_string(&d.config).unwrap();
    let cert = d.cert.display().to_string();
    let key = d.cert.with_file_name(rtc_tls::SELF_SIGNED_KEY).display().to_string();
    let text = text.replace(
        "shutdown_grace_secs",
        "include: conf.d/*.yaml\nshutdown_grace_secs",
    );
    std::fs::write(&d.config, text).unwrap();
    std::fs::create_dir(d.dir.path().join("conf.d")).unwrap();
    std::fs::write(
        d.dir.path().join("conf.d/falcot.yaml"),
        format!("domain: falcot.com\ntls: {{ cert: {cert}, key: {key} }}\n"),
    )
    .unwrap();
    let (code, out, _) = d.ctl(&["check", "--no-dns"], None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does NOT cover falcot.com"), "{out}");
}
