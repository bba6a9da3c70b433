//! Credentials against the real `turnd`: throttling of wrong passwords, TURN
//! REST credentials from database secrets, and durability across `kill -9`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod daemon_support;

use std::time::{SystemTime, UNIX_EPOCH};

use daemon_support::{add_secret, add_user, Client, Daemon, Wire, PASSWORD, USER};
use rtc_stun::Class;

fn rest_credentials(secret: &str, user: &str) -> (String, String) {
    let expiry = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 3600;
    let username = format!("{expiry}:{user}");
    let password = turnd::core::credentials::rest_password(secret.as_bytes(), &username).unwrap();
    (username, password)
}

#[test]
fn wrong_passwords_are_throttled_after_the_burst() {
    let d = Daemon::start("auth: { failure_limit: { burst: 3, per_second: 0.01 } }");
    add_user(d.dir.path(), USER, PASSWORD);
    let mut c = Client::new(Wire::udp(d.addr("udp")), USER, "not-her-password");
    let mut refused = 0;
    let mut silent = false;
    for _ in 0..8 {
        match c.allocate(false) {
            Some(p) => {
                assert_eq!(p.error(), Some(401));
                refused += 1;
            }
            None => {
                silent = true;
                break;
            }
        }
    }
    assert!(silent, "the server kept answering wrong passwords");
    assert!((1..=4).contains(&refused), "{refused} answers before throttling");
    // The right password from the throttled source gets no answer either.
    let mut c = Client::new(c.wire, USER, PASSWORD);
    assert!(c.allocate(false).is_none());
    // Another source is not affected.
    let mut other = Client::new(Wire::udp_from("127.0.0.2", d.addr("udp")), USER, PASSWORD);
    other.allocate_ok();
}

#[test]
fn rest_credentials_signed_with_a_database_secret_are_accepted() {
    let d = Daemon::start("auth: { rest: { database_secrets: true }, key_cache_ttl_secs: 1 }");
    add_secret(d.dir.path(), "s3cret");
    let (name, password) = rest_credentials("s3cret", "bob");
    let mut c = Client::new(Wire::udp(d.addr("udp")), &name, &password);
    c.allocate_ok();
    let (name, password) = rest_credentials("wrong", "bob");
    let mut c = Client::new(Wire::udp(d.addr("udp")), &name, &password);
    assert_eq!(c.allocate(false).and_then(|p| p.error()), Some(401));
}

#[test]
fn users_and_secrets_survive_kill_9_and_restart() {
    let extra = "auth: { rest: { database_secrets: true }, key_cache_ttl_secs: 1 }";
    let d = Daemon::start(extra);
    add_user(d.dir.path(), USER, PASSWORD);
    add_secret(d.dir.path(), "s3cret");
    Client::new(Wire::udp(d.addr("udp")), USER, PASSWORD).allocate_ok();
    let dir = d.kill9();

    let d = Daemon::start_in(dir, extra);
    let mut c = Client::new(Wire::udp(d.addr("udp")), USER, PASSWORD);
    assert_eq!(c.allocate(false).map(|p| p.class()), Some(Class::Success), "user lost; log:\n{}", d.log());
    let (name, password) = rest_credentials("s3cret", "carol");
    let mut c = Client::new(Wire::udp(d.addr("udp")), &name, &password);
    assert_eq!(c.allocate(false).map(|p| p.class()), Some(Class::Success), "secret lost; log:\n{}", d.log());
    let mut c = Client::new(Wire::udp(d.addr("udp")), USER, "guess");
    assert_eq!(c.allocate(false).and_then(|p| p.error()), Some(401));
}
