//! Runs the real `sipctl` binary against temporary configurations and SQLite files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod daemon_common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use daemon_common::{md5_hex, Site};
use rtc_userdb::{DatabaseConfig, UserDb};

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert!(o.status.success(), "failed: {:?}\nstdout: {}\nstderr: {}", o.status, out(o), err(o));
    out(o)
}

#[track_caller]
fn fails(o: &Output, code: i32, message: &str) {
    assert_eq!(o.status.code(), Some(code), "stdout: {}\nstderr: {}", out(o), err(o));
    assert!(err(o).contains(message), "stderr lacks {message:?}: {}", err(o));
}

/// The stored MD5 HA1 of a subscriber, read with the library, not sipctl.
fn stored_ha1(site: &Site, domain: &str, user: &str) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let db = UserDb::open(&DatabaseConfig::sqlite(site.dir.path().join("sipd.sqlite"))).await.unwrap();
        db.sip().subscriber_digests(domain, user).await.unwrap().map(|d| d.ha1)
    })
}

#[test]
fn add_passwd_and_rm_like_kamctl_with_the_configured_domain() {
    let site = Site::new("");
    assert_eq!(ok(&site.sipctl(&["add", "roland", "secret_password"])), "added subscriber roland@sip.test\n");
    assert_eq!(stored_ha1(&site, "sip.test", "roland"), Some(md5_hex("roland:sip.test:secret_password")));
    fails(&site.sipctl(&["add", "roland", "other"]), 1, "subscriber roland@sip.test already exists");

    // user@domain and --domain pick another domain; a non-local one is warned about.
    let o = site.sipctl(&["add", "roland@Falcot.com", "pw2"]);
    assert_eq!(ok(&o), "added subscriber roland@falcot.com\n");
    assert!(err(&o).contains("falcot.com is not a local domain yet"), "{}", err(&o));
    ok(&site.sipctl(&["add", "--domain", "falcot.com", "rhertzog", "pw3"]));

    ok(&site.sipctl(&["passwd", "roland", "new_password"]));
    assert_eq!(stored_ha1(&site, "sip.test", "roland"), Some(md5_hex("roland:sip.test:new_password")));
    fails(&site.sipctl(&["passwd", "nobody", "x"]), 1, "subscriber nobody@sip.test not found");

    ok(&site.sipctl(&["rm", "roland"]));
    assert_eq!(stored_ha1(&site, "sip.test", "roland"), None);
    fails(&site.sipctl(&["rm", "roland"]), 1, "not found");
    assert!(stored_ha1(&site, "falcot.com", "roland").is_some());
}

#[test]
fn password_can_come_from_standard_input_instead_of_the_command_line() {
    let site = Site::new("");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sipctl"))
        .arg("-c")
        .arg(site.config())
        .args(["add", "roland"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"from_stdin\n").unwrap();
    let o = child.wait_with_output().unwrap();
    ok(&o);
    assert_eq!(stored_ha1(&site, "sip.test", "roland"), Some(md5_hex("roland:sip.test:from_stdin")));
}

#[test]
fn domains_and_routes_are_managed_and_listed() {
    let site = Site::new("");
    ok(&site.sipctl(&["domain", "add", "Falcot.com"]));
    fails(&site.sipctl(&["domain", "add", "falcot.com"]), 1, "domain falcot.com already exists");
    fails(&site.sipctl(&["domain", "add", "bad domain"]), 1, "not a valid domain name");
    assert_eq!(ok(&site.sipctl(&["domain", "list"])), "falcot.com\nsip.test\t(from sipd.yaml)\n");
    ok(&site.sipctl(&["domain", "rm", "falcot.com"]));
    fails(&site.sipctl(&["domain", "rm", "falcot.com"]), 1, "not found");

    assert_eq!(
        ok(&site.sipctl(&["route", "add", "--prefix", "0", "--strip", "1", "--add", "+33", "sip:trunk.example.net"])),
        "added route 1\n"
    );
    ok(&site.sipctl(&["route", "add", "--regex", "^1[0-9]{3}$", "--priority", "-1", "--description", "PBX", "sip:pbx.falcot.com;transport=tcp"]));
    let list = ok(&site.sipctl(&["route", "list"]));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    assert!(lines[1].starts_with("2\t-1\tregex:^1[0-9]{3}$\t0\t\tsip:pbx.falcot.com;transport=tcp\tPBX"), "{list}");
    assert!(lines[2].starts_with("1\t0\tprefix:0\t1\t+33\tsip:trunk.example.net"), "{list}");
    fails(&site.sipctl(&["route", "add", "--regex", "(", "sip:x"]), 1, "--regex does not compile");
    fails(&site.sipctl(&["route", "add", "sip:x"]), 2, "exactly one of --prefix and --regex");
    fails(&site.sipctl(&["route", "add", "--prefix", "1", "http://x"]), 1, "not a sip: or sips: URI");
    ok(&site.sipctl(&["route", "rm", "1"]));
    fails(&site.sipctl(&["route", "rm", "1"]), 1, "route 1 not found");
    assert!(ok(&site.sipctl(&["stats"])).contains("routes: 1\n"));
}

#[test]
fn errors_are_helpful_and_exit_non_zero() {
    let site = Site::new("");
    // Nothing written yet: listing needs the database to exist.
    fails(&site.sipctl(&["online"]), 1, "does not exist");
    fails(&site.sipctl(&["ul", "show", "x@sip.test"]), 1, "does not exist");
    ok(&site.sipctl(&["domain", "list"]));
    fails(&site.sipctl(&["ul", "show", "nobody@sip.test"]), 1, "no registration for nobody@sip.test");
    assert_eq!(ok(&site.sipctl(&["online"])), "");
    assert_eq!(ok(&site.sipctl(&["ul", "show"])), "");

    let o = Command::new(env!("CARGO_BIN_EXE_sipctl")).args(["-c", "/nonexistent/sipd.yaml", "online"]).output().unwrap();
    fails(&o, 2, "/nonexistent/sipd.yaml: cannot read");
    let no_domain = Site::new("domains: []\n");
    let text = std::fs::read_to_string(no_domain.config()).unwrap().replacen("domains: [sip.test]\n", "", 1);
    std::fs::write(no_domain.config(), text).unwrap();
    fails(&no_domain.sipctl(&["add", "roland", "pw"]), 2, "no domain for roland");
    let o = Command::new(env!("CARGO_BIN_EXE_sipctl")).arg("frobnicate").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let help = Command::new(env!("CARGO_BIN_EXE_sipctl")).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(out(&help).contains("ul") && out(&help).contains("route"), "{}", out(&help));
}
