//! The core's counters as the shell exports them.

use rtc_stun::attr::Lifetime;
use rtc_stun::Method;

use super::harness::{addr, Client, Harness};
use crate::core::metrics::MethodCount;

#[test]
fn requests_are_counted_by_method_and_result() {
    let mut h = Harness::new();
    let mut anon = Client::udp("203.0.113.9:40000", "", "");
    assert!(h.call_once(&mut anon, Method::BINDING, &|_| Ok(())).is_success());
    // The 401 challenge, then the success.
    let mut alice = Client::udp("203.0.113.7:40000", "alice", "wonderland");
    h.allocate(&mut alice);
    assert!(h.call(&mut alice, Method::REFRESH, &|e| e.add(&Lifetime(600)).map(|_| ())).is_success());
    // CreatePermission for a loopback peer: 403.
    assert_eq!(h.create_permission(&mut alice, addr("127.0.0.1:9")).code(), Some(403));
    let m = h.server.metrics().methods;
    assert_eq!(m.count(Method::BINDING), MethodCount { received: 1, success: 1, error: 0 });
    assert_eq!(m.count(Method::ALLOCATE), MethodCount { received: 2, success: 1, error: 1 });
    assert_eq!(m.count(Method::REFRESH), MethodCount { received: 1, success: 1, error: 0 });
    assert_eq!(m.count(Method::CREATE_PERMISSION), MethodCount { received: 1, success: 0, error: 1 });
    assert_eq!(m.count(Method::CHANNEL_BIND), MethodCount::default());
}
